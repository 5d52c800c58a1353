"""Datasets: the toy mixtures whose density is known, sklearn's digits and the picture sets fashion and mnist
(their files: gan_core.data.pictures; user files: gan_core.data.uploads;
the Dataset type they all return: gan_core.data.dataset).

Everything here is numpy: images are float32 in [0, 1], NCHW; points are float32 [n, d] in data units.
The training loop moves data to the device and samples minibatches there.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from gan_core.data.dataset import Dataset
from gan_core.data.pictures import load_split, picture_set, source
from gan_core.data.uploads import load_file
from gan_core.errors import DataError

DEFAULT_PARAMS = {
    "gaussian1d": {"mean": 4.0, "std": 0.5},
    "ring8": {"modes": 8, "radius": 2.0, "std": 0.02},
    "grid25": {"side": 5, "spacing": 2.0, "std": 0.05},
    "digits": {},
    "fashion": {},
    "mnist": {},
}


# --- built-in datasets -----------------------------------------------------------------------

def _mixture(name: str, centers: np.ndarray, std: float, params: dict, description: str) -> Dataset:
    return Dataset(name, "points", (centers.shape[1],), description, params,
                   centers=centers.astype(np.float64), std=float(std))


def builtin(name: str, params: Optional[dict] = None) -> Dataset:
    p = {**DEFAULT_PARAMS[name], **(params or {})}
    if name == "gaussian1d":
        return _mixture(name, np.array([[p["mean"]]]), p["std"], p,
                        f"1-D Gaussian N({p['mean']}, {p['std']}²), the paper's Figure 1 setting")
    if name == "ring8":
        a = 2 * np.pi * np.arange(p["modes"]) / p["modes"]
        c = p["radius"] * np.stack([np.cos(a), np.sin(a)], 1)
        return _mixture(name, c, p["std"], p,
                        f"{p['modes']} Gaussians on a circle of radius {p['radius']}, std {p['std']}")
    if name == "grid25":
        s = p["side"]
        v = (np.arange(s) - (s - 1) / 2) * p["spacing"]
        c = np.stack(np.meshgrid(v, v, indexing="ij"), -1).reshape(-1, 2)
        return _mixture(name, c, p["std"], p,
                        f"{s * s} Gaussians on a {s}×{s} grid, spacing {p['spacing']}, std {p['std']}")
    if name == "digits":
        from sklearn.datasets import load_digits  # ships with scikit-learn: no download
        x = load_digits().images.astype(np.float32) / 16.0
        return Dataset(name, "image", (1, 8, 8), "1,797 handwritten digits, 8×8 grey (scikit-learn)", p,
                       data=x[:, None, :, :])
    if name in ("fashion", "mnist"):   # native 28×28: the scores' classifier sees what G learns to draw
        x, y = load_split(name, "train")
        return Dataset(name, "image", (1, 28, 28), f"{len(x):,} {picture_set(name).title} training images, "
                       f"28×28 grey ({source(name)})", p, data=x, labels=y)
    raise DataError(f"unknown dataset {name!r}")


def load_dataset(cfg) -> Dataset:
    """The dataset a (resolved) TrainConfig asks for."""
    from gan_core.config import BUILTIN_DATASETS
    if cfg.dataset in BUILTIN_DATASETS:
        return builtin(cfg.dataset, cfg.dataset_params)
    if not Path(cfg.dataset).exists():
        raise DataError(f"{cfg.dataset}: no such file or folder")
    return load_file(cfg.dataset, cfg.dataset, cfg.image_size or 32)
