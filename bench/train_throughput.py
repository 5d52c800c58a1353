"""Training throughput of gan_core's loop against a minimal plain-PyTorch loop on the same models.

    python -m bench.train_throughput [--quick] [--profile] [--iterations N] [--repeats R]
                                     [--datasets ring8,digits] [--threads T] [--batch-size M]
                                     [--no-compile]

For each of ring8 (the MLP pair) and digits (the DCGAN pair), and fashion on request (``--datasets fashion``:
its default pair on 28×28 pictures), on the CPU:

* gan_core, "as a user runs it": ``gan_core.engine.training.train`` with the dataset's defaults: logging every
  10 iterations, snapshots every ``default iterations // 50`` (what a run with no flags gets, fixed here
  so that a shorter benchmark run does not take more of them), checkpoints every 1,000;
* gan_core, "logging only": the same with snapshot and checkpoint intervals of 10^9 (the untrained
  snapshot at iteration 0 and the final one fall outside the measured window);
* the reference: the same models from ``gan_core.engine.models.build_models`` (same seed), batch size, k,
  Adam with the same learning rates and betas (torch's default implementation, as gan_core), same device
  and the same torch thread count (gan_core uses 1 thread on a CPU unless --threads is given; the
  reference is set to match, or both to --threads), Algorithm 1 written as the naive loop:
  no diagnostics, no logging, no checkpoints, no ``.item()``.

What is timed is the steady-state loop from iteration 10 to the last (ONNX export is off; the final
snapshot and checkpoint come after the window), in wall-clock and process CPU time; the figure is
iterations per second, and the ratio project/reference of the medians over interleaved repetitions
(ABBA order). Full: 400 iterations per run, 7 repetitions. --quick: one snapshot interval + 10
iterations per run (ring8 130, digits 70), 3 repetitions.

``--profile`` adds: torch.profiler op counts per iteration against the reference, cProfile of the Python
side, the cost of one snapshot, the speed ideas as variants of the reference loop (the gan_core
diagnostics verbatim, deferred diagnostics, foreach / fused Adam, channels-last), the proposed
optimiser change swapped into gan_core's own loop, torch threads and OpenMP's wait policy (fresh
processes), and torch.compile.
"""
from __future__ import annotations

import argparse
import csv
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from bench import common
from bench.common import column, fmt_time, median, paired_ratios, ratio, say, spread, table

DEFAULT_THREADS = torch.get_num_threads()  # what a fresh process gets: captured before anything changes it
THREADS_OVERRIDE = 0   # --threads: 0 leaves gan_core's choice (TrainConfig.threads = 0) and matches it
BATCH_OVERRIDE = 0     # --batch-size: 0 keeps each dataset's default m (both sides alike)
DATASETS = ("ring8", "digits")
# also measurable on request: fashion's 28×28 pictures (bench.images prints its ratio)
MORE_DATASETS = ("fashion",)
WARMUP_ITERS = 10   # the reference's untimed iterations; gan_core's window starts at its first row (10)


# --- gan_core's own loop ------------------------------------------------------------------------------

def _defaults(name: str):
    from gan_core.config import TrainConfig
    return TrainConfig(dataset=name, device="cpu", batch_size=BATCH_OVERRIDE or None).resolved()


def gan_core_config(name: str, iterations: int, mode: str, run_dir: str):
    from gan_core.config import TrainConfig
    d = _defaults(name)
    if mode == "user":
        kw = dict(snapshot_every=d.snapshot_every, checkpoint_every=d.checkpoint_every)
    elif mode == "logging":
        kw = dict(snapshot_every=10 ** 9, checkpoint_every=10 ** 9)
    else:
        raise ValueError(mode)
    return TrainConfig(dataset=name, run_dir=run_dir, iterations=iterations, device="cpu", export_onnx=False,
                       log_every=10, threads=THREADS_OVERRIDE, batch_size=d.batch_size, **kw)


class _Marks:
    """Clock readings at the start and end of gan_core's measured window, taken from inside train().

    training.py asks ``Snapshotter.due(done)`` exactly once per iteration (after the iteration's metrics
    row, before any snapshot); a subclass records both clocks there at iteration FIRST and at the last one.
    If that ever stops being true, run_gan_core falls back to the rows' elapsed_s (wall clock only)."""
    FIRST = 10

    def __init__(self):
        self.at: dict = {}

    def patch(self, training_module):
        marks, base = self, training_module.Snapshotter

        class TimedSnapshotter(base):
            def due(self, iteration: int) -> bool:
                if iteration in (marks.FIRST, self.cfg.iterations) and iteration not in marks.at:
                    marks.at[iteration] = common.Clock()
                return super().due(iteration)

        return TimedSnapshotter


def proposed_make_optimizer(cfg, params, lr, device=None):
    """The optimiser change proposed for gan_core/engine/training.py (see RESULTS.md): Adam with the fused kernel
    (CPU, CUDA), SGD with foreach. Takes training._make_optimizer's arguments (with or without the device
    the proposed diff adds), so --profile can swap it in."""
    params = list(params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, foreach=True)
    kind = device.type if device is not None else (params[0].device.type if params else "cpu")
    fused = True if kind in ("cpu", "cuda") else None
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), fused=fused)


def run_gan_core(name: str, iterations: int, mode: str, walls: Optional[list] = None, make_optimizer=None,
                 threads: Optional[int] = None) -> dict:
    """Seconds per iteration (wall and CPU) of gan_core's loop from its first metrics row (iteration 10)
    to its last; the final snapshot and checkpoint come after that (export is off). make_optimizer and
    threads (TrainConfig.threads) let --profile measure a proposed change on gan_core's own loop."""
    import dataclasses

    import gan_core.engine.training as training
    tmp = tempfile.mkdtemp(prefix="bench_train_")
    marks = _Marks()
    original, original_opt = training.Snapshotter, training._make_optimizer
    try:
        cfg = gan_core_config(name, iterations, mode, str(Path(tmp) / "run"))
        if threads is not None:
            cfg = dataclasses.replace(cfg, threads=threads)
        torch.set_num_threads(DEFAULT_THREADS)  # as a fresh `python -m gan_core train` process starts
        training.Snapshotter = marks.patch(training)
        if make_optimizer is not None:
            training._make_optimizer = make_optimizer
        t0 = time.perf_counter()
        st = training.train(cfg, progress=False)
        if walls is not None:
            walls.append(time.perf_counter() - t0)
        if st.get("state") != "completed":
            raise RuntimeError(f"gan_core run ended {st.get('state')}: {st.get('message')}")
        if set(marks.at) == {marks.FIRST, iterations}:
            a, b = marks.at[marks.FIRST], marks.at[iterations]
            n = iterations - marks.FIRST
            return {"wall": (b.wall - a.wall) / n, "cpu": (b.cpu - a.cpu) / n}
        with open(Path(cfg.run_dir) / "metrics.csv", newline="") as fh:
            rows = [(int(r["iteration"]), float(r["elapsed_s"])) for r in csv.DictReader(fh)]
        (i0, e0), (i1, e1) = rows[0], rows[-1]
        return {"wall": (e1 - e0) / (i1 - i0), "cpu": float("nan")}
    finally:
        training.Snapshotter, training._make_optimizer = original, original_opt
        shutil.rmtree(tmp, ignore_errors=True)


def gan_core_threads(name: str) -> int:
    """The thread count gan_core's train() uses on a CPU for this dataset (see training.py)."""
    cfg = _defaults(name)
    return THREADS_OVERRIDE or cfg.threads or 1  # training.py: one thread unless --threads says otherwise


# --- the reference loop and its variants ----------------------------------------------------------------

class Loop:
    """Algorithm 1 as the naive plain-PyTorch loop, with optional variants (the speed ideas).

    diag:   None (reference) | "gan_core" (training.py's per-step accumulation, verbatim) |
            "deferred" (keep detached per-step tensors; reduce them once per log interval)
    adam:   "default" (torch's choice: the per-tensor loop on CPU) | "foreach" | "fused"
    channels_last: DCGAN tensors and weights in NHWC memory format
    compile: torch.compile the generator and discriminator
    """

    def __init__(self, name: str, diag: Optional[str] = None, adam: str = "default", channels_last: bool = False,
                 compile: bool = False, threads: Optional[int] = None, log_every: int = 10):
        from gan_core.data.datasets import load_dataset
        from gan_core.engine.models import build_models
        self.cfg = cfg = _defaults(name)
        self.ds = ds = load_dataset(cfg)
        self.threads = threads or gan_core_threads(name)
        self.diag, self.log_every = diag, log_every
        torch.manual_seed(cfg.seed)
        self.G, self.D = build_models(cfg, ds)
        self.mf = torch.channels_last if channels_last and ds.kind == "image" else None
        if self.mf is not None:
            self.G, self.D = self.G.to(memory_format=self.mf), self.D.to(memory_format=self.mf)
        opt_kw = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[adam]
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), **opt_kw)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), **opt_kw)
        self.g_fwd, self.d_fwd = (torch.compile(self.G), torch.compile(self.D)) if compile else (self.G, self.D)
        self.rng = torch.Generator().manual_seed(cfg.seed)
        if ds.data is not None:
            x = torch.from_numpy(ds.data)
            self.data = x * 2 - 1 if ds.kind == "image" else x
            if self.mf is not None:
                self.data = self.data.contiguous(memory_format=self.mf)
        else:
            self.data = None
            self.centers = torch.as_tensor(ds.centers, dtype=torch.float32)
            self.std = float(ds.std)
        self.it = 0
        self.acc = torch.zeros(5)
        self.recent = torch.zeros(log_every)
        self.pending: list = []
        self.logged: list = []

    def sample_x(self, m: int) -> torch.Tensor:
        if self.data is not None:
            return self.data[torch.randint(len(self.data), (m,), generator=self.rng)]
        idx = torch.randint(len(self.centers), (m,), generator=self.rng)
        return self.centers[idx] + self.std * torch.randn(m, self.centers.shape[1], generator=self.rng)

    def sample_z(self, m: int) -> torch.Tensor:
        return torch.randn(m, self.cfg.latent_dim, generator=self.rng)

    def step(self) -> None:
        cfg, G, D, m = self.cfg, self.g_fwd, self.d_fwd, self.cfg.batch_size
        for _ in range(cfg.k):
            x, z = self.sample_x(m), self.sample_z(m)
            with torch.no_grad():
                fake = G(z)
            real_logits, fake_logits = D(x), D(fake)
            v = F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()
            self.opt_d.zero_grad(set_to_none=True)
            (-v).backward()
            self.opt_d.step()
            if self.diag == "gan_core":   # training.py, verbatim
                self.acc[0:2] += torch.stack([v.detach(), -v.detach()])
                self.acc[3:5] += torch.stack([torch.sigmoid(real_logits).mean(),
                                              torch.sigmoid(fake_logits).mean()]).detach()
            elif self.diag == "deferred":
                self.pending.append((v.detach(), real_logits.detach(), fake_logits.detach()))
        z = self.sample_z(m)
        self.D.requires_grad_(False)
        g_loss = -F.logsigmoid(D(G(z))).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self.it += 1
        if self.diag == "gan_core":
            self.acc[2] += g_loss.detach()
            self.recent[self.it % self.log_every] = v.detach() + g_loss.detach()
            if self.it % self.log_every == 0:
                vals = self.acc.tolist()   # the host synchronisation once per interval
                self.logged.append(vals)
                self.acc.zero_()
        elif self.diag == "deferred":
            self.pending.append((g_loss.detach(),))
            if self.it % self.log_every == 0:
                self.logged.append(self.reduce_pending())

    def reduce_pending(self) -> list:
        """The deferred diagnostics: a handful of ops per log interval instead of ~15 per step."""
        d = [p for p in self.pending if len(p) == 3]
        g = [p[0] for p in self.pending if len(p) == 1]
        self.pending = []
        with torch.no_grad():
            v = torch.stack([p[0] for p in d])
            dr = torch.sigmoid(torch.stack([p[1] for p in d])).mean(1)
            df = torch.sigmoid(torch.stack([p[2] for p in d])).mean(1)
            out = torch.stack([v.sum(), -v.sum(), torch.stack(g).sum(), dr.sum(), df.sum()])
        return out.tolist()

    def run(self, iterations: int) -> dict:
        """Seconds per iteration (wall and CPU) over `iterations - WARMUP_ITERS` iterations after
        WARMUP_ITERS untimed ones (gan_core's window also starts after iteration 10)."""
        torch.set_num_threads(self.threads)
        for _ in range(WARMUP_ITERS):
            self.step()
        clock = common.Clock()
        for _ in range(iterations - WARMUP_ITERS):
            self.step()
        return clock.since(iterations - WARMUP_ITERS)


def run_loop(name: str, iterations: int, **variant) -> dict:
    """A fresh loop (models rebuilt from the seed, as gan_core does for each run) timed over `iterations`."""
    return Loop(name, **variant).run(iterations)


# --- the comparison -------------------------------------------------------------------------------------

def speed_rows(res: dict, ref_name: str) -> list[list]:
    """Table rows: it/s (median, wall), spread, speed vs the reference by wall clock (ratio of medians and
    median of per-round ratios) and by CPU time (median of per-round ratios)."""
    rw, rc = column(res[ref_name], "wall"), column(res[ref_name], "cpu")
    rows = []
    for k, xs in res.items():
        w, c = column(xs, "wall"), column(xs, "cpu")
        rows.append([k, f"{1 / median(w):.1f}", spread(w), ratio(median(rw) / median(w)),
                     ratio(median(paired_ratios(rw, w))), ratio(median(paired_ratios(rc, c)))])
    return rows


SPEED_HEADERS = ["it/s (wall, median)", "spread", "speed vs ref (wall)", "(wall, paired)", "(CPU time, paired)"]


def compare(name: str, iterations: int, repeats: int) -> dict:
    walls: dict[str, list] = {"user": [], "logging": []}
    user, logging_, ref_name = "gan_core (as a user runs it)", "gan_core (logging only)", "reference (plain loop)"
    cases = {
        user: lambda: run_gan_core(name, iterations, "user", walls["user"]),
        logging_: lambda: run_gan_core(name, iterations, "logging", walls["logging"]),
        ref_name: lambda: run_loop(name, iterations),
    }
    res = common.interleaved(cases, repeats, warmup=0)
    d = _defaults(name)
    say(f"## {name}: batch {d.batch_size}, k {d.k}, Adam(lr {d.lr_d:g}/{d.lr_g:g}, betas ({d.beta1}, {d.beta2})), "
        f"{iterations} iterations per run, {repeats} interleaved runs per case, "
        f"{gan_core_threads(name)} torch thread(s) for all cases")
    say(table(speed_rows(res, ref_name), ["case", *SPEED_HEADERS]))
    say(f"  (as a user runs it: snapshot every {d.snapshot_every}, checkpoint every {d.checkpoint_every}; the whole "
        f"train() call incl. set-up, first and final snapshot and final checkpoint: median "
        f"{fmt_time(median(walls['user']))})")
    say()
    rw = median(column(res[ref_name], "wall"))
    return {"user": rw / median(column(res[user], "wall")),
            "logging": rw / median(column(res[logging_], "wall")),
            "ref_its": 1 / rw}



# --- main -------------------------------------------------------------------------------------------------

def main(argv=None) -> float:
    threads_before = torch.get_num_threads()
    try:
        return _main(argv)
    finally:   # in-process callers (tests) get their thread count and defaults back
        global THREADS_OVERRIDE, BATCH_OVERRIDE
        THREADS_OVERRIDE = BATCH_OVERRIDE = 0
        torch.set_num_threads(threads_before)


def _main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=0, help="iterations per run (0: the mode's default)")
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset of ring8,digits "
                   "(default), or fashion")
    p.add_argument("--profile", action="store_true", help="also profile and measure the speed ideas")
    p.add_argument("--no-compile", action="store_true", help="with --profile: skip the torch.compile trial")
    p.add_argument("--child-loop", default="", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for every case, gan_core's included (0: gan_core's own choice, matched)")
    p.add_argument("--batch-size", type=int, default=0,
                   help="m for every case, the reference's included (0: each dataset's default)")
    args = p.parse_args(argv)
    if args.child_loop:
        from bench.train_profile import _child_loop
        _child_loop(args.child_loop, args.threads or 1, args.iterations or 100)
        return float("nan")
    if args.threads < 0:
        p.error("--threads must be 0 (gan_core's choice) or more")
    if args.batch_size < 0:
        p.error("--batch-size must be 0 (the dataset's default) or more")
    global THREADS_OVERRIDE, BATCH_OVERRIDE
    THREADS_OVERRIDE, BATCH_OVERRIDE = args.threads, args.batch_size
    iterations = args.iterations or 400
    if iterations < 2 * WARMUP_ITERS:
        p.error(f"--iterations must be at least {2 * WARMUP_ITERS}")
    repeats = args.repeats or (3 if args.quick else 7)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    for n in names:
        if n not in DATASETS + MORE_DATASETS:
            p.error(f"unknown dataset {n!r}; choose from {', '.join(DATASETS + MORE_DATASETS)}")
    # --quick: just long enough that one user-mode snapshot falls inside the measured window
    per_dataset = {n: args.iterations or (_defaults(n).snapshot_every + 10 if args.quick else iterations)
                   for n in names}
    import onnxruntime  # noqa: F401  (only for the version line of the header)
    common.print_header("Training throughput: gan_core.engine.training.train vs a plain PyTorch loop", args, "cpu",
                        {"iterations per run": ", ".join(f"{n} {k}" for n, k in per_dataset.items()),
                         "repeats": repeats,
                         "torch threads (gan_core and reference alike)": ", ".join(
                             f"{n} {gan_core_threads(n)}" for n in names)
                         + (" (--threads)" if THREADS_OVERRIDE else " (gan_core's choice: 1 on a CPU)")})
    results = {n: compare(n, per_dataset[n], repeats) for n in names}
    if args.profile:
        from bench.train_profile import (
            ideas,
            profile_ops,
            profile_python,
            proposed,
            snapshot_cost,
            threads_and_wait_policy,
            try_compile,
        )
        for n in names:
            iterations = per_dataset[n]
            profile_ops(n, min(iterations, 200))
            profile_python(n, iterations)
            snapshot_cost(n, repeats)
            ideas(n, iterations, repeats)
            proposed(n, iterations, repeats)
            threads_and_wait_policy(n, max(2 * WARMUP_ITERS, min(iterations, 100)), max(3, repeats // 2))
            if not args.no_compile:
                try_compile(n, iterations, repeats)
    for n, r in results.items():
        say(f"{n}: gan_core as a user runs it / reference {ratio(r['user'])}, logging only / reference "
            f"{ratio(r['logging'])} (reference {r['ref_its']:.1f} it/s, wall clock)")
    geo = lambda key: math.exp(sum(math.log(r[key]) for r in results.values()) / len(results))  # noqa: E731
    both = " and ".join(results)
    say(f"training throughput, gan_core loop (logging every 10 only) / reference, geometric mean over {both}: "
        f"{ratio(geo('logging'))}")
    # The measure (SPEC: "gan_core as a user runs it / the plain loop"): full logging, default snapshots.
    headline = geo("user")
    common.final_line(f"training throughput, gan_core loop (as a user runs it: logging, snapshots) / reference, "
                      f"geometric mean over {both}", headline)
    return headline


if __name__ == "__main__":
    main(sys.argv[1:])
