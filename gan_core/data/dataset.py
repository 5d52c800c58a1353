"""The Dataset: what training, snapshots and the theory see of any data, built in (gan_core.data.datasets)
or a user's file (gan_core.data.uploads).

Everything here is numpy: images are float32 in [0, 1], NCHW; points are float32 [n, d] in data units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from gan_core.errors import DataError


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
