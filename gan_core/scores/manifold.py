"""Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
around its points, each ball reaching the point's k-th nearest neighbour within its own set.

precision: the fraction of generated points inside the real manifold (are samples realistic?);
recall: the fraction of real points inside the generated manifold (is the data's variety covered?).
"""
from __future__ import annotations

import numpy as np

from gan_core.errors import DataError

K = 3
BATCH = 1024   # rows of a distance block: BATCH × n float64 at a time


def _sq_dists(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows of a [r, F] and b [n, F] (clipped at 0 against round-off)."""
    d = (a * a).sum(1)[:, None] - 2 * a @ b.T + b_sq[None, :]
    return np.maximum(d, 0)


def radii(points: np.ndarray, k: int = K) -> np.ndarray:
    """Squared distance of each point to its k-th nearest neighbour among the others (the point excluded)."""
    x = np.asarray(points, np.float64)
    if len(x) <= k:
        raise DataError(f"a k-NN manifold with k = {k} needs more than {k} points, got {len(x)}")
    sq = (x * x).sum(1)
    out = np.empty(len(x))
    for i in range(0, len(x), BATCH):
        d = _sq_dists(x[i:i + BATCH], x, sq)
        d[np.arange(len(d)), np.arange(i, i + len(d))] = np.inf   # a point is not its own neighbour
        out[i:i + BATCH] = np.partition(d, k - 1, axis=1)[:, k - 1]
    return out


def coverage_of(queries: np.ndarray, points: np.ndarray, point_radii: np.ndarray) -> np.ndarray:
    """For each query, whether it lies within some point's ball (distance ≤ that point's radius)."""
    q, x = np.asarray(queries, np.float64), np.asarray(points, np.float64)
    sq = (x * x).sum(1)
    inside = np.empty(len(q), bool)
    for i in range(0, len(q), BATCH):
        inside[i:i + BATCH] = (_sq_dists(q[i:i + BATCH], x, sq) <= point_radii[None, :]).any(1)
    return inside


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = K) -> tuple[float, float]:
    """(precision, recall) of fake features [m, F] against real features [n, F]."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise DataError(f"precision/recall need two [n, F] feature sets, got {list(real.shape)} and {list(fake.shape)}")
    precision = coverage_of(fake, real, radii(real, k)).mean()
    recall = coverage_of(real, fake, radii(fake, k)).mean()
    return float(precision), float(recall)
