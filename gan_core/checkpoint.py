"""Checkpoints: model, optimiser and every random-number-generator state, written atomically."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import torch

from .errors import RunError
from .runs import CHECKPOINT, write_bytes_atomic


def checkpoint_path(run_dir) -> Path:
    return Path(run_dir) / CHECKPOINT


def save_checkpoint(run_dir, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes_atomic(checkpoint_path(run_dir), buf.getvalue())  # temp file, then rename


def load_checkpoint(run_dir, map_location="cpu", path: Optional[Path] = None) -> dict:
    p = Path(path) if path else checkpoint_path(run_dir)
    if not p.exists():
        raise RunError(f"{Path(run_dir).name}: no checkpoint to resume from yet (none written before it stopped)")
    try:
        return torch.load(p, map_location=map_location, weights_only=False)
    except Exception as e:
        raise RunError(f"{p}: checkpoint is unreadable ({type(e).__name__})") from None


def load_generator(run_dir, checkpoint: Optional[Path] = None):
    """(generator in data space, resolved config, dataset, iteration) from a run's last checkpoint."""
    from .config import TrainConfig
    from .data import load_dataset
    from .models import DataSpace, build_models

    cfg = TrainConfig.load(Path(run_dir) / "config.json")
    ds = load_dataset(cfg)
    torch.manual_seed(0)
    G, _ = build_models(cfg, ds)
    ck = load_checkpoint(run_dir, path=checkpoint)
    G.load_state_dict(ck["G"])
    return DataSpace(G, ds.kind).eval(), cfg, ds, int(ck["iteration"])
