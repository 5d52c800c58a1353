"""How much disk a run will write, against the free space where it goes.

A run that cannot fit is refused before it starts, in one line with both figures (the command line and the
Train page say the same). The estimate follows what the trainer writes: one snapshot per snapshot_every
iterations (its size by the data and snapshot_samples, as gan_core.engine.snapshots lays it out; tests check
the estimate against real snapshots), the checkpoint (weights and Adam's two moments of G and D, twice while
it is replaced), metrics.csv's rows and the exported model. No torch here.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from gan_core.config import TrainConfig
from gan_core.errors import RunError

# As gan_core.engine.snapshots writes them: grid cells of D's map (1-D, 2-D points), images kept, pushes shown,
# manifold lines per latent axis.
GRID_CELLS = {1: 600, 2: 128 * 128}
IMAGE_SNAPSHOT = 64
SHOWN_SAMPLES = 500
MANIFOLD_LINES = 21
ARRAY_BYTES = 300          # what np.savez adds per array (header, zip entry), about 16 arrays a snapshot
ROW_BYTES = 128            # a metrics.csv row, metric columns included (~90 bytes for the 2-D mixtures)
SLACK_BYTES = 256 << 10    # status.json, config.json, changes.jsonl

# The shape of each built-in dataset's examples (points: (dim,); pictures: channels, side, side).
BUILTIN_SHAPES = {"gaussian1d": ("points", (1,)), "ring8": ("points", (2,)), "grid25": ("points", (2,)),
                  "digits": ("image", (1, 8, 8)), "fashion": ("image", (1, 28, 28)), "mnist": ("image", (1, 28, 28))}


def builtin_shape(cfg: TrainConfig) -> Optional[tuple]:
    """(kind, example shape) of a built-in dataset; None for a user's file (known once it is loaded)."""
    return BUILTIN_SHAPES.get(str(cfg.dataset))


def snapshot_bytes(cfg: TrainConfig, kind: str, shape: tuple) -> int:
    """About the size of one snapshot file of a run of cfg (resolved) on data of this kind and shape."""
    if kind == "image":
        return IMAGE_SNAPSHOT * _prod(shape) * 2 + 16 * ARRAY_BYTES  # float16 pictures
    dim, n = _prod(shape), cfg.snapshot_samples
    cells = GRID_CELLS.get(dim, 0)
    grid = cells * (2 + 2 + 4 + 4) + 4 * dim * round(cells ** (1 / dim)) if cells else 0  # D, D*, p_g, p_data
    pushes = min(n, SHOWN_SAMPLES) * dim * 4 + MANIFOLD_LINES ** 2 * dim * 4
    return n * dim * 4 + grid + pushes + 16 * ARRAY_BYTES


def parameters(cfg: TrainConfig, kind: str, shape: tuple) -> int:
    """About how many weights G and D hold together."""
    dim, z = _prod(shape), cfg.latent_dim
    if kind == "image" and cfg.arch not in ("mlp", "paper"):  # DCGAN: 4×4 convolutions, channels doubling
        c = [cfg.base_channels * 2 ** i for i in range(max(1, (cfg.image_size // 4).bit_length() - 1))]
        convs = 16 * (shape[0] * c[0] + sum(a * b for a, b in zip(c, c[1:])))
        return 2 * convs + 16 * c[-1] * (z + 1)
    h, depth = (1200, 2) if cfg.arch == "paper" else (cfg.hidden, cfg.depth)
    mlp = (depth - 1) * h * h
    return (z * h + mlp + h * dim) + (dim * (cfg.pack or 1) * h + mlp + h)


def run_bytes(cfg: TrainConfig, kind: str, shape: tuple, start: int = 0) -> dict:
    """What a run of cfg writes from iteration `start` on: {'snapshots': how many, 'snapshot': bytes each,
    'total': bytes in all}."""
    c = cfg.resolved()
    every = max(1, c.snapshot_every)
    # the scheduled ones after start, the final one (if off the schedule) and a new run's iteration 0
    n_snap = c.iterations // every - start // every + (c.iterations % every != 0) + (start == 0)
    snap = snapshot_bytes(c, kind, shape)
    weights = 4 * parameters(c, kind, shape)
    total = (n_snap * snap + 2 * 3 * weights + weights  # the checkpoint (twice while replaced) and the model
             + (c.iterations - start) // max(1, c.log_every) * ROW_BYTES + SLACK_BYTES)
    return {"snapshots": n_snap, "snapshot": snap, "total": total}


def free_bytes(path) -> int:
    """Free space on the file system that holds path (or would: its nearest existing folder)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def check_fits(cfg: TrainConfig, kind: str, shape: tuple, start: int = 0) -> None:
    """RunError in one line, with both figures, when the run would write more than the free space there."""
    need = run_bytes(cfg, kind, shape, start)
    free = free_bytes(cfg.run_dir or ".")
    if need["total"] > free:
        raise RunError(f"this run would write about {human(need['total'])} ({need['snapshots']:,} snapshots of "
                       f"about {human(need['snapshot'])} each, checkpoints and metrics) but the disk has only "
                       f"{human(free)} free there; snapshot less often (--snapshot-every), with fewer "
                       f"--snapshot-samples, or train fewer --iterations")


def human(n: float) -> str:
    """A byte count as people read it: '229 GB', '3.1 MB'."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:,.{0 if n >= 100 * size else 1}f} {unit}"
    return f"{int(n)} bytes"


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out
