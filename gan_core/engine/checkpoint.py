"""Checkpoints: model, optimiser and every random-number-generator state, written atomically.

Loaded with torch.load(weights_only=True): a checkpoint is data (tensors, numbers, strings, lists, dicts),
never pickled objects, so a crafted last.pt in a run folder someone sent cannot run code.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Optional

import torch

from gan_core.errors import RunError
from gan_core.files import open_regular, write_bytes_atomic
from gan_core.runs.store import CHECKPOINT


def checkpoint_path(run_dir) -> Path:
    return Path(run_dir) / CHECKPOINT


def plain_state(obj):
    """obj in the forms weights_only loading accepts: numpy arrays become tensors, numpy scalars numbers.

    Anything else (a class instance, a function) is a bug in the caller: TypeError, at save time, not
    a checkpoint that cannot be resumed."""
    import numpy as np
    if isinstance(obj, torch.Tensor) and obj.untyped_storage().nbytes() > obj.numel() * obj.element_size():
        # a view into a larger storage (a comparison member's weights and buffers are rows of its lane's
        # stack): torch.save would write the whole storage, every member's numbers, into this run's file
        return obj.clone()
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor, torch.dtype, torch.device)):
        return obj
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: plain_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain_state(v) for v in obj)
    raise TypeError(f"checkpoint state holds a {type(obj).__name__}; store its state_dict or plain values")


def save_checkpoint(run_dir, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(plain_state(state), buf)
    write_bytes_atomic(checkpoint_path(run_dir), buf.getvalue())  # temp file, then rename


def load_checkpoint(run_dir, map_location="cpu", path: Optional[Path] = None) -> dict:
    p = Path(path) if path else checkpoint_path(run_dir)
    try:
        f = open_regular(p)  # never blocks on a FIFO, never follows a link
    except FileNotFoundError:
        raise RunError(f"{Path(run_dir).name}: no checkpoint to resume from yet "
                       "(none written before it stopped)") from None
    except OSError as e:
        raise RunError(f"{p}: the checkpoint cannot be read ({e.strerror or e})") from None
    try:
        with f:
            return torch.load(f, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise RunError(f"{p}: the checkpoint holds objects other than tensors and numbers; refused, "
                       "since loading it could run code") from None
    except Exception as e:
        raise RunError(f"{p}: checkpoint is unreadable ({type(e).__name__})") from None


def load_generator(run_dir, checkpoint: Optional[Path] = None):
    """(generator in data space, resolved config, dataset, iteration) from a run's last checkpoint."""
    from gan_core.config import TrainConfig
    from gan_core.data.datasets import load_dataset
    from gan_core.engine.models import DataSpace, build_models

    cfg = TrainConfig.load(Path(run_dir) / "config.json")
    ds = load_dataset(cfg)
    torch.manual_seed(0)
    G, _ = build_models(cfg, ds)
    ck = load_checkpoint(run_dir, path=checkpoint)
    _load_net(G, ck, "G", "generator", run_dir)
    return DataSpace(G, ds.kind).eval(), cfg, ds, int(ck["iteration"])


def load_discriminator(run_dir, checkpoint: Optional[Path] = None):
    """The run's D (eval mode, CPU) from its last checkpoint; a packed D for a run with pack > 1."""
    from gan_core.config import TrainConfig
    from gan_core.data.datasets import load_dataset
    from gan_core.engine.models import build_models

    cfg = TrainConfig.load(Path(run_dir) / "config.json")
    torch.manual_seed(0)
    _, D = build_models(cfg, load_dataset(cfg))
    _load_net(D, load_checkpoint(run_dir, path=checkpoint), "D", "discriminator", run_dir)
    return D.eval()


def _load_net(net, ck: dict, key: str, what: str, run_dir) -> None:
    """The checkpoint's weights into net, or a one-line RunError when they do not fit it."""
    try:
        net.load_state_dict(ck[key])
    except (KeyError, TypeError, RuntimeError) as e:
        raise RunError(f"{Path(run_dir).name}: the checkpoint does not fit the run's {what} "
                       f"({str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__})") from None
