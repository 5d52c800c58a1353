#!/bin/sh
# The issue-12 sweep, sized for a 16-core machine (the GPU lease's CPUs: training runs on the CPU, --device cpu):
# 15 trainings at a time, 3 seeds, results streamed to ${OUT:-.}/sweep.jsonl. Quality carries over to the
# 2-core development machine; CPU seconds there are calibrated by the `base` rows (grid25 base: 85 s there).
# Usage: sh scripts/sweep_device.sh [seconds]
PY=${PYTHON:-python3}
OUTF=${OUT:-.}/sweep.jsonl
timeout ${1:-470} $PY scripts/mode_sweep.py --root /tmp/sweep --seeds 0,1,2 --parallel 15 --out "$OUTF" \
  --candidate "grid25/base:" \
  --candidate "grid25/lrd1:--lr-d 1e-3" \
  --candidate "grid25/p2:--pack 2 --batch-size 128" \
  --candidate "grid25/p2lrd1:--pack 2 --batch-size 128 --lr-d 1e-3" \
  --candidate "grid25/p2lrd2:--pack 2 --batch-size 128 --lr-d 2e-3" \
  --candidate "grid25/p2m256lrd1:--pack 2 --batch-size 256 --lr-d 1e-3" \
  --candidate "grid25/p4lrd1:--pack 4 --batch-size 64 --lr-d 1e-3" \
  --candidate "grid25/p4lrd2:--pack 4 --batch-size 64 --lr-d 2e-3" \
  --candidate "grid25/p2z8lrd1:--pack 2 --batch-size 128 --lr-d 1e-3 --latent-dim 8" \
  --candidate "grid25/p2h256:--pack 2 --batch-size 128 --lr-d 1e-3 --hidden 256 --depth 3 --iterations 8000" \
  --candidate "grid25/m512lrd1:--batch-size 512 --lr-d 1e-3 --iterations 8000" \
  --candidate "grid25/p2dec01:--pack 2 --batch-size 128 --lr-d 1e-3 --lr-decay 0.1" \
  --candidate "grid25/lr2both:--lr-d 2e-3 --lr-g 2e-3" \
  --candidate "grid25/p2lr2both:--pack 2 --batch-size 128 --lr-d 2e-3 --lr-g 2e-3" \
  --candidate "grid25/p2it14k:--pack 2 --batch-size 128 --lr-d 1e-3 --iterations 14000" \
  --candidate "ring8/base:" \
  --candidate "ring8/m512:--batch-size 512 --iterations 4500" \
  --candidate "ring8/p2:--pack 2 --batch-size 128" \
  --candidate "ring8/p2lrd1:--pack 2 --batch-size 128 --lr-d 1e-3" \
  --candidate "ring8/p4lrd1:--pack 4 --batch-size 64 --lr-d 1e-3" \
  --candidate "ring8/lrd1:--lr-d 1e-3" \
  --candidate "ring8/p2m256:--pack 2 --batch-size 256 --iterations 5000 --lr-d 1e-3"
$PY scripts/mode_sweep.py --summary "$OUTF"
