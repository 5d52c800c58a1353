"""The figures of a machine with a CUDA GPU, in one command: training speed on the GPU against the same
machine's CPU, the fused iteration and its CUDA graph (bench.gpu_fused), and CPU scaling under torchrun.

    python -m bench.gpu [--quick] [--repeats R] [--parts speed,fused,scaling]

speed:   gan_core's train() as a user runs it (the dataset's defaults, snapshots at their interval; ONNX export
         off) on ring8 (the MLP pair) and digits (the DCGAN pair), on CUDA and on the CPU (gan_core's choice:
         one torch thread), interleaved (ABBA). Iterations per second over the run's own window, from its first
         metrics row to its last: set-up, the untrained snapshot and the final checkpoint fall outside.
fused:   bench.gpu_fused: ring8's iteration eager / fused / as a CUDA graph, and a comparison of 8 in one
         process against 8 processes on the GPU.
scaling: `torchrun --nproc-per-node N -m gan_core train --device cpu` on ring8, batch 256, for N = 1, 2, 4, ...
         up to the usable cores (at most 8), one thread a process; iterations per second over rank 0's window.
Full: speed ring8 1,500 / digits 600 iterations, scaling 1,000, 3 rounds. --quick: 300 / 150, 300, 1 round.

The checks that assert (control channel, replay, resume, export, fused = autograd, SyncBatchNorm, torchrun
with one GPU and the refusal of more processes than GPUs) are tests: `bash scripts/test.sh -m gpu`.
Without CUDA only `--parts scaling` runs. The last line: `training speed, CUDA / CPU of the same machine,
geometric mean over ring8 and digits: N.NNx` (with --parts scaling alone: scaling's own figure).
"""
from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from bench import common, gpu_fused
from bench.common import median, paired_ratios, ratio, say, spread, table

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("speed", "fused", "scaling")
SPEED_ITERATIONS = {"ring8": (1500, 300), "digits": (600, 150)}   # (full, --quick)


def window_seconds_per_iteration(run_dir: Path) -> float:
    """Seconds per iteration between a run's first and last metrics rows (its elapsed_s column)."""
    with open(Path(run_dir) / "metrics.csv", newline="") as fh:
        rows = [(int(r["iteration"]), float(r["elapsed_s"])) for r in csv.DictReader(fh)]
    if len(rows) < 2 or rows[-1][0] == rows[0][0]:
        raise RuntimeError(f"{run_dir}: fewer than two metrics rows; give more iterations")
    (i0, e0), (i1, e1) = rows[0], rows[-1]
    return (e1 - e0) / (i1 - i0)


def _train_case(dataset: str, device: str, iterations: int, tmp: Path):
    """A case of common.interleaved: one fresh run; seconds per iteration over its window."""
    from gan_core.config import TrainConfig
    from gan_core.engine.training import train

    def case():
        run_dir = Path(tempfile.mkdtemp(dir=tmp))
        st = train(TrainConfig(dataset=dataset, run_dir=str(run_dir), device=device, iterations=iterations,
                               export_onnx=False), progress=False)
        if st["state"] != "completed":
            raise RuntimeError(f"{dataset} on {device}: {st['state']}: {st.get('message')}")
        s = window_seconds_per_iteration(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        return s
    return case


def speed(quick: bool, repeats: int) -> float:
    """Prints it/s on CUDA and on the CPU per dataset; returns the geometric mean of CUDA / CPU."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    threads = torch.get_num_threads()
    ratios = {}
    try:
        for name, (full, short) in SPEED_ITERATIONS.items():
            n = short if quick else full
            res = common.interleaved({d: _train_case(name, d, n, tmp) for d in ("cuda", "cpu")}, repeats, warmup=0)
            ratios[name] = median(paired_ratios(res["cpu"], res["cuda"]))
            say(f"## {name} at its defaults, {n} iterations a run, {repeats} interleaved runs a device")
            say(table([[d, f"{1 / median(v):.1f}", spread(v)] for d, v in res.items()],
                      ["device", "it/s (median, the run's window)", "spread"]))
            say(f"{name}: CUDA / CPU {ratio(ratios[name])}")
            say()
    finally:
        torch.set_num_threads(threads)  # train() on the CPU sets its own count
        shutil.rmtree(tmp, ignore_errors=True)
    return math.exp(sum(map(math.log, ratios.values())) / len(ratios))


def _torchrun_case(n: int, iterations: int, tmp: Path):
    """A case: ring8 under torchrun with n CPU processes; seconds per iteration over rank 0's window."""
    def case():
        run_dir = Path(tempfile.mkdtemp(dir=tmp)) / "run"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
               "-m", "gan_core", "train", "--dataset", "ring8", "--batch-size", "256", "--iterations", str(iterations),
               "--run-dir", str(run_dir), "--device", "cpu", "--no-export", "--quiet"]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if r.returncode:
            raise RuntimeError(f"torchrun with {n} process(es) failed: {(r.stderr or r.stdout).strip()[-300:]}")
        s = window_seconds_per_iteration(run_dir)
        shutil.rmtree(run_dir.parent, ignore_errors=True)
        return s
    return case


def process_counts(cores: int) -> list[int]:
    """1, 2, 4, ... up to the usable cores, at most 8."""
    ns = [1]
    while ns[-1] * 2 <= min(cores, 8):
        ns.append(ns[-1] * 2)
    return ns


def scaling(quick: bool, repeats: int) -> tuple[int, float]:
    """Prints it/s under torchrun on the CPU for 1, 2, 4, ... processes; returns (most, its speed over 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ns = process_counts(cores)
    iterations = 300 if quick else 1000
    tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_torchrun_"))
    try:
        res = common.interleaved({n: _torchrun_case(n, iterations, tmp) for n in ns}, repeats, warmup=0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"## ring8, batch 256, {iterations} iterations, under torchrun on the CPU ({cores} usable cores), "
        f"{repeats} interleaved runs each")
    say(table([[n, f"{1 / median(v):.1f}", spread(v), ratio(median(paired_ratios(res[1], v)))] for n, v in res.items()],
              ["processes", "it/s (median)", "spread", "speed vs 1 process (paired)"]))
    say()
    return ns[-1], median(paired_ratios(res[1], res[ns[-1]]))


def main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    args = p.parse_args(argv)
    parts = [x for x in args.parts.split(",") if x]
    unknown = [x for x in parts if x not in PARTS]
    if unknown or not parts:
        p.error(f"unknown part {unknown[0] if unknown else '(none)'}; choose from {', '.join(PARTS)}")
    if not torch.cuda.is_available() and set(parts) - {"scaling"}:
        p.error("no CUDA GPU here: only --parts scaling runs without one")
    repeats = args.repeats or (1 if args.quick else 3)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    common.print_header("The figures of a machine with a GPU", args, "cuda" if gpu != "none" else "cpu",
                        {"gpu": gpu, "parts": ", ".join(parts)})
    headline = None
    if "fused" in parts:
        graph = gpu_fused.main((["--quick"] if args.quick else []) + (["--repeats", str(args.repeats)] if args.repeats
                                                                     else []))
        say()
    if "scaling" in parts:
        n, s = scaling(args.quick, repeats)
        headline = (f"CPU scaling under torchrun, ring8 batch 256: {n} processes / 1, iterations per second", s)
    if "speed" in parts:
        headline = ("training speed, CUDA / CPU of the same machine, geometric mean over ring8 and digits",
                    speed(args.quick, repeats))
    if headline is None:  # fused alone: its own last line stands
        return graph
    common.final_line(*headline)
    return headline[1]


if __name__ == "__main__":
    main(sys.argv[1:])
