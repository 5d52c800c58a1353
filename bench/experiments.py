"""Comparisons as one batch: a comparison of 8 (`python -m gan_core compare`) against the same 8 runs
started together as separate processes (`python -m gan_core train ...`).

    python -m bench.experiments [--quick] [--repeats R] [--iterations N] [--members 8] [--batch-size M]
                                [--fresh]

Both sides start the way the dashboard starts runs: each process forked by the runs root's warm worker
(gan_core.jobs.worker: torch already imported, milliseconds a start). --fresh starts each as a new
interpreter instead, as a terminal does (`python -m gan_core ...`: ~2 s of imports each, 8 times for the
separate runs, once for the comparison — which favours the comparison).

ring8 with its defaults (the MLP pair, BatchNorm in G; --batch-size M changes the minibatch of every member,
e.g. 256, the ring8 default when issue 13 set the goal: the smaller the batch, the more of a step is
per-operation overhead that stacking removes), members varying g_loss (minimax, non-saturating)
× k (1, 2) × 2 seeds, ONNX export off. The figure is total member-iterations per second over the whole
wall time of each side (process start, imports and set-up included, as a user waits for them), and the
ratio comparison / separate processes (median of interleaved rounds). --quick: 150 iterations, 3 rounds.

The limit beside it, measured in the same rounds: the same runs queued, one per core at a time (the next
starting as one ends), so that each runs at the speed of a run alone. A comparison whose members step one
after another (a CPU lane at large batches) can at best equal that queue; only a stack, which shares
per-operation work between members, can pass it. The bench prints both ratios against the queue.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

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
        if len(vals) > 1:
            out += ["--vary", f"{k}={','.join(map(str, vals))}"]
        else:
            out += [f"--{k.replace('_', '-')}", str(vals[0])]
    return out


def _common(iterations: int, batch_size: int = 0) -> list[str]:
    # snapshots at the interval a default-length ring8 run gets (6000 // 50), so a short run is not all snapshots
    return ["--dataset", "ring8", "--iterations", str(iterations), "--snapshot-every", "120", "--no-export", "--quiet",
            *(["--batch-size", str(batch_size)] if batch_size else [])]


class Starter:
    """Starts `python -m gan_core ARGV` processes: forked by a warm worker for tmp (the dashboard's way), or
    as new interpreters (fresh). cpu() is the CPU seconds of every such process that has ended so far."""

    def __init__(self, tmp: Path, fresh: bool):
        self.tmp, self.fresh, self.worker_pid = tmp, fresh, None
        if not fresh:
            from gan_core.jobs import worker
            worker.ensure(tmp, PROJECT, parent=os.getpid())
            deadline = time.monotonic() + 120
            while not worker.alive(tmp) and time.monotonic() < deadline:  # starting: importing torch
                time.sleep(0.05)
            if not worker.alive(tmp):
                raise RuntimeError("the warm worker did not start: "
                                   + (tmp / worker.SPOOL / "worker.log").read_text()[-2000:])
            self.worker_pid = int(json.loads((tmp / worker.SPOOL / "worker.ready").read_text())["pid"])

    def start(self, argv: list[str]):
        if self.fresh:
            return subprocess.Popen([sys.executable, "-m", "gan_core", *argv], cwd=PROJECT, stdout=subprocess.DEVNULL)
        from gan_core.jobs import worker
        job = worker.submit(self.tmp, argv, self.tmp / "jobs.log", timeout=10.0)
        if job is None:
            raise RuntimeError("the warm worker did not take the job")
        return job

    @staticmethod
    def wait(procs) -> list[int]:
        while any(p.poll() is None for p in procs):
            time.sleep(0.02)
        return [p.poll() for p in procs]

    def close(self) -> None:
        if self.worker_pid is not None:
            try:
                os.kill(self.worker_pid, 15)  # its forks have all ended (each side waits for them)
            except ProcessLookupError:
                pass

    def cpu(self) -> float:
        if self.fresh:
            c = resource.getrusage(resource.RUSAGE_CHILDREN)
            return c.ru_utime + c.ru_stime
        fields = Path(f"/proc/{self.worker_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime + cstime: reaped children


def run_comparison(starter: Starter, ms: list[dict], iterations: int, batch_size: int = 0) -> float:
    root = starter.tmp / f"cmp-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    codes = starter.wait([starter.start(["compare", *_common(iterations, batch_size), *_vary_args(ms),
                                         "--root", str(root)])])
    wall = time.perf_counter() - t0
    shutil.rmtree(root, ignore_errors=True)
    if any(codes):
        raise RuntimeError(f"the comparison failed: exit code {codes[0]}")
    return wall


def _training_seconds(run_dir: Path) -> float:
    """A run's own training time: elapsed_s of its last metrics row (the loop with its snapshots; not the
    process start, the set-up, nor the final checkpoint)."""
    import csv
    with open(run_dir / "metrics.csv", newline="") as f:
        return float(list(csv.DictReader(f))[-1]["elapsed_s"])


def run_separate(starter: Starter, ms: list[dict], iterations: int, batch_size: int = 0,
                 at_once: int = 0, work: Optional[list] = None) -> float:
    """The members as separate `train` runs: all started together (at_once 0, the dashboard's way), or at most
    at_once at a time, the next starting as one ends (a queue: one run per core). work: gets the sum of the
    runs' own training seconds (_training_seconds)."""
    base = starter.tmp / f"sep-{time.monotonic_ns()}"
    argvs = [["train", *_common(iterations, batch_size),
              *[a for k, v in m.items() for a in (f"--{k.replace('_', '-')}", str(v))],
              "--run-dir", str(base / f"m{i}")] for i, m in enumerate(ms)]
    t0 = time.perf_counter()
    if not at_once:
        codes = starter.wait([starter.start(a) for a in argvs])
    else:
        running, codes, todo = [], [], list(argvs)
        while todo or running:
            while todo and len(running) < at_once:
                running.append(starter.start(todo.pop(0)))
            ended = [p for p in running if p.poll() is not None]
            codes += [p.poll() for p in ended]
            running = [p for p in running if p not in ended]
            time.sleep(0.01)
    wall = time.perf_counter() - t0
    if work is not None and not any(codes):
        work.append(sum(_training_seconds(base / f"m{i}") for i in range(len(ms))))
    shutil.rmtree(base, ignore_errors=True)
    if any(codes):
        raise RuntimeError(f"a separate run failed: exit codes {codes}")
    return wall


def main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=0, help="iterations per member (0: 150 with --quick, else 1000)")
    p.add_argument("--members", type=int, default=8, help="members (2, 4 or 8)")
    p.add_argument("--batch-size", type=int, default=0, help="minibatch of every member (0: ring8's default)")
    p.add_argument("--fresh", action="store_true",
                   help="start every process as a new interpreter (as a terminal does), not forked by a warm worker")
    args = p.parse_args(argv)
    if args.members not in (2, 4, 8):
        p.error("--members must be 2, 4 or 8")
    iterations = args.iterations or (150 if args.quick else 1000)
    repeats = args.repeats or (3 if args.quick else 5)
    ms = members(args.members)
    common.print_header("Comparisons: one command (a process per lane; members stacked where that pays) "
                        "vs separate processes", args, "cpu",
                        {"members": f"{len(ms)} (ring8 defaults; g_loss × k × seed)",
                         "batch size": args.batch_size or "ring8's default", "iterations per member": iterations,
                         "rounds": repeats,
                         "processes started": "as new interpreters (--fresh)" if args.fresh
                         else "forked by a warm worker, as the dashboard starts runs"})
    tmp = Path(tempfile.mkdtemp(prefix="bench_exp_"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cmp_, sep, queue = "comparison (one command)", "separate processes", f"separate, {cores} at a time (queued)"
    work: list[float] = []  # the queued runs' own training seconds, each run alone on its core
    sides = {cmp_: run_comparison, sep: run_separate,
             queue: lambda *a: run_separate(*a, at_once=cores, work=work)}
    walls: dict[str, list] = {k: [] for k in sides}
    cpu: dict[str, list] = {k: [] for k in walls}
    starter = None
    try:
        starter = Starter(tmp, args.fresh)
        for r in range(repeats):
            order = list(walls)[r % 3:] + list(walls)[:r % 3]  # each side first in turn
            for name in order:
                c0 = starter.cpu()
                walls[name].append(sides[name](starter, ms, iterations, args.batch_size))
                cpu[name].append(starter.cpu() - c0)
    finally:
        if starter is not None:
            starter.close()
        shutil.rmtree(tmp, ignore_errors=True)
    total = len(ms) * iterations
    rows = [[k, f"{total / median(v):.0f}", " ".join(f"{w:.1f}" for w in v), f"{total / median(cpu[k]):.0f}"]
            for k, v in walls.items()]
    say(table(rows, ["case", "member-iterations/s (wall, median)", "wall seconds per round",
                     "member-iterations per CPU-second"]))
    cpu_ratio = median(paired_ratios(cpu['separate processes'], cpu['comparison (one command)']))
    say(f"  CPU time (all processes; on a shared machine, 8 processes also take 8 shares of the scheduler): "
        f"comparison / separate {ratio(cpu_ratio)}")
    try:
        say(f"  load average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except OSError:
        pass
    # The limit: the runs' own training work (each measured alone on its core, in the queue) spread evenly
    # over the cores, nothing else: no start, no set-up, no final checkpoint, no core ever idle. A comparison
    # whose members step one after another does that same work, so it cannot pass this; only a stack, which
    # shares per-operation work between members (small batches), can.
    floor = median(work) / cores
    say(f"  limit: the runs' own training work alone on a core ({median(work):.1f} CPU-s, the queued runs' "
        f"training time) over {cores} cores = {floor:.1f} s, {total / floor:.0f} member-iterations/s: the "
        f"comparison reaches {floor / median(walls[cmp_]):.0%} of it; at the limit a "
        f"comparison would be {ratio(median(walls[sep]) / floor)} the separate runs; queued / separate "
        f"{ratio(median(paired_ratios(walls[sep], walls[queue])))}")
    r = median(paired_ratios(walls[sep], walls[cmp_]))
    common.final_line(f"comparison of {len(ms)} / the same {len(ms)} runs as separate processes started together, "
                      "total member-iterations per second", r)
    return r


if __name__ == "__main__":
    main(sys.argv[1:])
