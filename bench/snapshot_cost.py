"""Snapshot cost: a snapshot with the forces of the game (grad_g, manifold) against one without.

    python -m bench.snapshot_cost [--quick] [--repeats R] [--samples N]

On ring8 with its default models and settings (2,500 snapshot samples, the 128×128 D grid, D*, JSD and
mode quality), the same Snapshotter is built twice, ``forces=False`` ("before": what a snapshot cost
before issue 11) and ``forces=True`` ("after"), and ``take()`` is timed interleaved (ABBA), writing the
.npz as training does. The weights are those the seed builds (a snapshot's cost does not depend on
training). Also timed alone: ``forces.generator_push`` on the shown samples (the first 500) and
``forces.manifold``. One torch thread, as training uses on the CPU. Wall and CPU time are both shown
(on a shared machine CPU time is the steadier); the last line is wall time after / before (goal ≤ 1.10x).
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import torch

from bench import common
from bench.common import fmt_time, median, ratio, say, spread, table

GOAL = 1.10


def _clocked(fn):
    """A case that measures its own wall and CPU time (see common.timed)."""
    def case():
        c = common.Clock()
        fn()
        return c.since()
    return case


def _main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2500, help="snapshot samples (ring8 default: 2500)")
    args = p.parse_args(argv)
    if args.samples < 1:
        p.error("--samples must be at least 1")
    repeats = args.repeats or (7 if args.quick else 31)
    torch.set_num_threads(1)
    from gan_core.config import TrainConfig
    from gan_core.data.datasets import load_dataset
    from gan_core.engine.models import build_models
    from gan_core.engine.snapshots import MANIFOLD_LINES, SHOWN_SAMPLES, Snapshotter
    from gan_core.theory import forces

    cfg = TrainConfig(dataset="ring8", iterations=6000, device="cpu", snapshot_samples=args.samples).resolved()
    common.print_header("Snapshot cost: with grad_g and manifold / without", args, "cpu",
                        {"repeats": repeats, "dataset": "ring8", "snapshot samples": cfg.snapshot_samples,
                         "G/D": f"hidden {cfg.hidden}, depth {cfg.depth}, g_norm {cfg.g_norm}"})
    ds = load_dataset(cfg)
    torch.manual_seed(cfg.seed)
    G, D = build_models(cfg, ds)
    cpu = torch.device("cpu")
    tmp = Path(tempfile.mkdtemp(prefix="bench_snap_"))
    try:
        before = Snapshotter(cfg, ds, cpu, tmp / "before", forces=False)
        after = Snapshotter(cfg, ds, cpu, tmp / "after", forces=True)
        G.eval()
        D.eval()
        x = G(after.z[:SHOWN_SAMPLES]).detach()  # the samples whose push a snapshot stores
        it = iter(range(10 ** 9))
        times = common.interleaved({
            "before": _clocked(lambda: before.take(G, D, next(it))),
            "after": _clocked(lambda: after.take(G, D, next(it))),
            "generator_push": _clocked(lambda: forces.generator_push(D, x, cfg.g_loss)),
            "manifold": _clocked(lambda: forces.manifold(G, cfg.latent_dim, cfg.prior, MANIFOLD_LINES)),
        }, repeats=repeats, warmup=2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = {k: common.column(v, "wall") for k, v in times.items()}
    cpu = {k: common.column(v, "cpu") for k, v in times.items()}
    base, base_cpu = median(wall["before"]), median(cpu["before"])
    say(table([[k, fmt_time(median(wall[k])), spread(wall[k]), f"{100 * median(wall[k]) / base:.1f} %",
                fmt_time(median(cpu[k])), f"{100 * median(cpu[k]) / base_cpu:.1f} %"] for k in times],
              ["case", "wall", "spread", "of before", "CPU time", "of before"]))
    paired = median(common.paired_ratios(wall["after"], wall["before"]))
    headline = median(wall["after"]) / base
    say(f"after/before: wall {ratio(headline)} (paired per round {ratio(paired)}), "
        f"CPU time {ratio(median(cpu['after']) / base_cpu)}; goal <= {GOAL:.2f}x (wall) "
        f"{'met' if headline <= GOAL else 'NOT met'}")
    common.final_line(f"ring8 snapshot ({cfg.snapshot_samples} samples) with forces / without", headline)
    return headline


def main(argv=None) -> float:
    threads = torch.get_num_threads()
    try:
        return _main(argv)
    finally:  # in-process callers (tests) get their thread count back
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main(sys.argv[1:])
