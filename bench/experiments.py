"""Comparisons as one batch: a comparison of 8 (`python -m gan_core compare`) against the same 8 runs
started together as separate processes (`python -m gan_core train ...`, as the dashboard starts runs).

    python -m bench.experiments [--quick] [--repeats R] [--iterations N] [--members 8] [--batch-size M]

ring8 with its defaults (the MLP pair, BatchNorm in G; --batch-size M changes the minibatch of every member,
e.g. 256, the ring8 default when issue 13 set the goal: the smaller the batch, the more of a step is
per-operation overhead that stacking removes), members varying g_loss (minimax, non-saturating)
× k (1, 2) × 2 seeds, ONNX export off. The figure is total member-iterations per second over the whole
wall time of each side (process start, imports and set-up included, as a user waits for them), and the
ratio comparison / separate processes (median of interleaved rounds). --quick: 150 iterations, 3 rounds.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import common
from bench.common import median, paired_ratios, ratio, say, table

PROJECT = Path(__file__).resolve().parent.parent
VARY = {"g_loss": ["minimax", "nonsaturating"], "k": [1, 2], "seed": [0, 1]}


def members(n: int) -> list[dict]:
    import itertools
    combos = [dict(zip(VARY, v)) for v in itertools.product(*VARY.values())]
    return combos[:n]


def _vary_args(ms: list[dict]) -> list[str]:
    """--vary flags whose product is exactly ms (the first n of the product keep its shape for n = 2, 4, 8)."""
    out = []
    for k in VARY:
        vals = sorted({m[k] for m in ms}, key=lambda v: VARY[k].index(v))
        out += ["--vary", f"{k}={','.join(map(str, vals))}"] if len(vals) > 1 else [f"--{k.replace('_', '-')}", str(vals[0])]
    return out


def _common(iterations: int, batch_size: int = 0) -> list[str]:
    # snapshots at the interval a default-length ring8 run gets (6000 // 50), so a short run is not all snapshots
    return ["--dataset", "ring8", "--iterations", str(iterations), "--snapshot-every", "120", "--no-export", "--quiet",
            *(["--batch-size", str(batch_size)] if batch_size else [])]


def run_comparison(tmp: Path, ms: list[dict], iterations: int, batch_size: int = 0) -> float:
    root = tmp / f"cmp-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gan_core", "compare", *_common(iterations, batch_size), *_vary_args(ms),
                    "--root", str(root)], cwd=PROJECT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    shutil.rmtree(root, ignore_errors=True)
    return wall


def run_separate(tmp: Path, ms: list[dict], iterations: int, batch_size: int = 0) -> float:
    base = tmp / f"sep-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "gan_core", "train", *_common(iterations, batch_size),
                               *[a for k, v in m.items() for a in (f"--{k.replace('_', '-')}", str(v))],
                               "--run-dir", str(base / f"m{i}")], cwd=PROJECT, stdout=subprocess.DEVNULL)
             for i, m in enumerate(ms)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    shutil.rmtree(base, ignore_errors=True)
    if any(codes):
        raise RuntimeError(f"a separate run failed: exit codes {codes}")
    return wall


def main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=0, help="iterations per member (0: 150 with --quick, else 1000)")
    p.add_argument("--members", type=int, default=8, help="members (2, 4 or 8)")
    p.add_argument("--batch-size", type=int, default=0, help="minibatch of every member (0: ring8's default)")
    args = p.parse_args(argv)
    if args.members not in (2, 4, 8):
        p.error("--members must be 2, 4 or 8")
    iterations = args.iterations or (150 if args.quick else 1000)
    repeats = args.repeats or (3 if args.quick else 5)
    ms = members(args.members)
    common.print_header("Comparisons: one command (stacked members, a process per lane) vs separate processes", args, "cpu",
                        {"members": f"{len(ms)} (ring8 defaults; g_loss × k × seed)",
                         "batch size": args.batch_size or "ring8's default", "iterations per member": iterations,
                         "rounds": repeats})
    tmp = Path(tempfile.mkdtemp(prefix="bench_exp_"))
    walls: dict[str, list] = {"comparison (one command)": [], "separate processes": []}
    cpu: dict[str, list] = {k: [] for k in walls}
    try:
        for r in range(repeats):
            order = list(walls) if r % 2 == 0 else list(walls)[::-1]
            for name in order:
                fn = run_comparison if name.startswith("comparison") else run_separate
                c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                walls[name].append(fn(tmp, ms, iterations, args.batch_size))
                c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = len(ms) * iterations
    rows = [[k, f"{total / median(v):.0f}", " ".join(f"{w:.1f}" for w in v), f"{total / median(cpu[k]):.0f}"]
            for k, v in walls.items()]
    say(table(rows, ["case", "member-iterations/s (wall, median)", "wall seconds per round",
                     "member-iterations per CPU-second"]))
    say(f"  CPU time (all processes; on a shared machine, 8 processes also take 8 shares of the scheduler): "
        f"comparison / separate {ratio(median(paired_ratios(cpu['separate processes'], cpu['comparison (one command)'])))}")
    try:
        say(f"  load average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except OSError:
        pass
    r = median(paired_ratios(walls["separate processes"], walls["comparison (one command)"]))
    common.final_line(f"comparison of {len(ms)} / the same {len(ms)} runs as separate processes started together, "
                      "total member-iterations per second", r)
    return r


if __name__ == "__main__":
    main(sys.argv[1:])
