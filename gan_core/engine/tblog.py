"""TensorBoard event files for a run (`--tensorboard`): RUN/tb/, so `tensorboard --logdir runs` shows every run.

Written with torch's SummaryWriter (the `tensorboard` package's protobufs underneath); nothing here knows
the event format. What goes in, by the run's one writer (rank 0 under torchrun):
- every metrics.csv column as a scalar under the same tag, step = iteration, when rows are flushed;
- at each scheduled snapshot, an image: the generated images themselves, or a scatter plot of the samples;
- the run's settings once, for TensorBoard's HPARAMS tab.
On --resume the writer purges what an earlier process logged after the checkpoint (as metrics.csv is cut).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from gan_core.errors import ConfigError
from gan_core.runs import store

TB_DIR = "tb"
PLOT = 320  # pixels of a scatter plot's side


class Board:
    def __init__(self, run_dir, cfg, start: int, due: Callable[[int], bool]):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--tensorboard needs the tensorboard package (pip install tensorboard)") from None
        self.run_dir, self.due = Path(run_dir), due
        # purge_step: events at or after it from an earlier process (iterations after the checkpoint) are dropped
        self.w = SummaryWriter(str(self.run_dir / TB_DIR), purge_step=start + 1 if start else None)
        self.done = {it for it in store.list_snapshots(self.run_dir) if it <= start}
        if start == 0:
            self.hparams(cfg)

    def hparams(self, cfg) -> None:
        from torch.utils.tensorboard.summary import hparams
        hp = {k: v for k, v in cfg.to_dict().items() if isinstance(v, (bool, int, float, str)) and k != "run_dir"}
        hp.update({f"dataset_params.{k}": v for k, v in cfg.dataset_params.items() if isinstance(v, (int, float))})
        exp, ssi, sei = hparams(hp, {"value_estimate": math.nan, "jsd": math.nan})  # metric tags, values from scalars
        for s in (exp, ssi, sei):
            self.w.file_writer.add_summary(s)

    def rows(self, rows: list[dict]) -> None:
        """The rows just appended to metrics.csv, then any snapshot taken up to the last of them."""
        for r in rows:
            step = int(r["iteration"])
            for k, v in r.items():
                if k != "iteration" and v is not None:
                    self.w.add_scalar(k, float(v), step)
        if rows:
            self.snapshots(int(rows[-1]["iteration"]))
        self.w.flush()

    def snapshots(self, upto: int) -> None:
        for it in store.list_snapshots(self.run_dir):
            if it in self.done or it > upto or not (it == 0 or self.due(it)):  # live (slow-motion) ones come and go
                continue
            self.done.add(it)
            try:
                snap = store.load_snapshot(self.run_dir, it)
            except Exception:  # a snapshot being replaced; TensorBoard is a view, never a reason to fail
                continue
            s = np.asarray(snap["samples"], dtype=np.float32)
            if s.ndim == 4:  # images [n, C, H, W] in [0, 1]: TensorBoard tiles them into one grid
                self.w.add_images("samples", np.clip(s, 0, 1), it, dataformats="NCHW")
            else:
                self.w.add_image("samples", scatter(s, snap.get("grid_axes")), it, dataformats="HWC")

    def close(self) -> None:
        self.w.close()


def scatter(points: np.ndarray, grid_axes=None) -> np.ndarray:
    """An RGB picture of samples: a scatter plot of the first two coordinates, a histogram for 1-D."""
    img = Image.new("RGB", (PLOT, PLOT), "white")
    draw = ImageDraw.Draw(img)
    pts = points.reshape(len(points), -1)
    finite = pts[np.isfinite(pts).all(axis=1)]

    def span(col: int):
        if grid_axes is not None and len(grid_axes) > col:
            a = np.asarray(grid_axes[col], dtype=float)
            return float(a.min()), float(a.max())
        lo, hi = (np.percentile(finite[:, col], [0.5, 99.5]) if len(finite) else (-1.0, 1.0))
        return float(lo), float(hi) if hi > lo else float(lo) + 1.0

    if pts.shape[1] == 1:
        lo, hi = span(0)
        counts, _ = np.histogram(finite[:, 0], bins=64, range=(lo, hi))
        top = max(int(counts.max()), 1)
        w = PLOT / len(counts)
        for i, c in enumerate(counts):
            draw.rectangle([i * w, PLOT - 1 - c / top * (PLOT - 10), (i + 1) * w - 1, PLOT - 1], fill=(31, 119, 180))
    else:
        (x0, x1), (y0, y1) = span(0), span(1)
        px = (finite[:, 0] - x0) / (x1 - x0) * (PLOT - 1)
        py = (1 - (finite[:, 1] - y0) / (y1 - y0)) * (PLOT - 1)
        for x, y in zip(px, py):
            draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(31, 119, 180))
    return np.asarray(img)
