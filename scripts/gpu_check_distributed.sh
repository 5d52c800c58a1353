#!/bin/bash
# The GPU checks of issue 14 (run on a CUDA machine from the repository root; writes under /tmp/r):
# 1 GPU in one process and under torchrun, the one-line refusal of more processes than GPUs, SyncBatchNorm
# equivalence (2 ranks on one GPU over gloo), CPU scaling over gloo, and the distributed/TensorBoard tests.
export PYTHONUNBUFFERED=1; TIMEFORMAT="%R s wall"
set -x; PY=${PY:-python3}
$PY -c "import torch, tensorboard; print(torch.__version__, torch.cuda.get_device_name(0), torch.cuda.device_count(), tensorboard.__version__)"
git log -1 --oneline 2>/dev/null; ls gan_core/engine/distributed.py || exit 3
R=/tmp/r; mkdir -p $R
time $PY -m gan_core train --dataset digits --iterations 300 --run-dir $R/g1 --device cuda --quiet --tensorboard
time $PY -m torch.distributed.run --standalone --nproc-per-node 1 -m gan_core train --dataset digits --iterations 300 --run-dir $R/t1 --device cuda --quiet
$PY -c "import json; [print(d, json.load(open(f'$R/{d}/status.json'))['state'], json.load(open(f'$R/{d}/status.json')).get('world_size'), json.load(open(f'$R/{d}/status.json'))['device_name']) for d in ('g1','t1')]"
$PY -m torch.distributed.run --standalone --nproc-per-node 2 -m gan_core train --dataset ring8 --iterations 50 --run-dir $R/t2 --device cuda --quiet 2>&1 | grep -E "^error|^\[rank" | head -3
$PY scripts/gpu_syncbn_check.py $R
for n in 1 2 4; do echo nproc $n; time $PY -m torch.distributed.run --standalone --nproc-per-node $n -m gan_core train --dataset ring8 --iterations 1000 --run-dir $R/c$n --device cpu --quiet --no-export --batch-size 256 2>&1 | grep -E "wall|completed|error"; done
$PY -m pytest -q -p no:cacheprovider tests/test_distributed.py tests/test_tensorboard.py 2>&1 | tail -4
[ -n "$OUT" ] && cp $R/g1/metrics.csv $OUT/g1_metrics.csv
