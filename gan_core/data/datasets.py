"""Datasets: the toy mixtures whose density is known and sklearn's digits (user files: gan_core.data.uploads).

Everything here is numpy: images are float32 in [0, 1], NCHW; points are float32 [n, d] in data units.
The training loop moves data to the device and samples minibatches there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from gan_core.data.pictures import load_split, picture_set
from gan_core.errors import DataError

DEFAULT_PARAMS = {
    "gaussian1d": {"mean": 4.0, "std": 0.5},
    "ring8": {"modes": 8, "radius": 2.0, "std": 0.02},
    "grid25": {"side": 5, "spacing": 2.0, "std": 0.05},
    "digits": {},
    "fashion": {},
    "mnist": {},
}


@dataclass
class Dataset:
    name: str
    kind: str                               # "points" or "image"
    sample_shape: tuple                     # (d,) or (C, H, W)
    description: str
    params: dict = field(default_factory=dict)
    data: Optional[np.ndarray] = None       # finite datasets
    centers: Optional[np.ndarray] = None    # isotropic Gaussian mixtures (known density)
    std: Optional[float] = None
    labels: Optional[np.ndarray] = None     # the class of each example of `data`, for scoring only

    @property
    def known_density(self) -> bool:
        return self.centers is not None

    @property
    def size(self) -> Optional[int]:
        """Number of examples of a finite dataset; None for a distribution we sample from."""
        return None if self.data is None else len(self.data)

    @property
    def dim(self) -> int:
        return int(np.prod(self.sample_shape))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n examples (with replacement for finite data) — for previews, statistics and tests."""
        rng = np.random.default_rng(seed)
        if self.data is not None:
            return self.data[rng.integers(0, len(self.data), size=n)]
        idx = rng.integers(0, len(self.centers), size=n)
        return (self.centers[idx] + self.std * rng.standard_normal((n, self.centers.shape[1]))).astype(np.float32)

    def density(self, points: np.ndarray) -> np.ndarray:
        """p_data at points [n, d] (equal-weight isotropic mixture)."""
        if not self.known_density:
            raise DataError(f"the density of {self.name} is not known")
        d = self.centers.shape[1]
        sq = ((points[:, None, :] - self.centers[None, :, :]) ** 2).sum(-1)
        norm = (2 * math.pi * self.std ** 2) ** (d / 2)
        return np.exp(-sq / (2 * self.std ** 2)).mean(1) / norm

    def bounds(self, margin: float = 0.15) -> list[tuple[float, float]]:
        """A box holding essentially all of p_data, for the theory grid and plots."""
        pts = self.centers if self.known_density else self.sample(4096, seed=0).reshape(4096, -1)
        lo, hi = pts.min(0), pts.max(0)
        pad = (hi - lo) * margin + 4 * (self.std or 0) + (1.0 if self.name == "gaussian1d" else 0.5)
        return [(float(a - p), float(b + p)) for a, b, p in zip(lo, hi, np.broadcast_to(pad, lo.shape))]

    def normalisation(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature shift and scale so that MLPs see roughly standardised inputs."""
        if self.kind == "image":
            return np.zeros(1, np.float32), np.ones(1, np.float32)
        x = self.sample(20000, seed=12345).reshape(20000, -1)
        return x.mean(0).astype(np.float32), np.maximum(x.std(0), 1e-3).astype(np.float32)


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
        return _mixture(name, c, p["std"], p, f"{p['modes']} Gaussians on a circle of radius {p['radius']}, std {p['std']}")
    if name == "grid25":
        s = p["side"]
        v = (np.arange(s) - (s - 1) / 2) * p["spacing"]
        c = np.stack(np.meshgrid(v, v, indexing="ij"), -1).reshape(-1, 2)
        return _mixture(name, c, p["std"], p, f"{s * s} Gaussians on a {s}×{s} grid, spacing {p['spacing']}, std {p['std']}")
    if name == "digits":
        from sklearn.datasets import load_digits  # ships with scikit-learn: no download
        x = load_digits().images.astype(np.float32) / 16.0
        return Dataset(name, "image", (1, 8, 8), "1,797 handwritten digits, 8×8 grey (scikit-learn)", p,
                       data=x[:, None, :, :])
    if name in ("fashion", "mnist"):   # native 28×28: the scores' classifier sees what G learns to draw
        x, y = load_split(name, "train")
        return Dataset(name, "image", (1, 28, 28), f"{len(x):,} {picture_set(name).title} training images, "
                       "28×28 grey", p, data=x, labels=y)
    raise DataError(f"unknown dataset {name!r}")


def load_dataset(cfg) -> Dataset:
    """The dataset a (resolved) TrainConfig asks for."""
    from gan_core.config import BUILTIN_DATASETS
    if cfg.dataset in BUILTIN_DATASETS:
        return builtin(cfg.dataset, cfg.dataset_params)
    if not Path(cfg.dataset).exists():
        raise DataError(f"{cfg.dataset}: no such file or folder")
    from gan_core.data.uploads import load_file  # uploads imports this module
    return load_file(cfg.dataset, cfg.dataset, cfg.image_size or 32)
