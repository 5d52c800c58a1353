"""The Gaussian Parzen-window log-likelihood of Goodfellow et al. 2014 (Table 1).

A Gaussian of width σ is put on each of N samples; a test point's log-likelihood is
log p(x) = logsumexp_i(−‖x − s_i‖² / 2σ²) − log N − (d/2) log(2πσ²). σ is the one of a grid that gives a
validation set (held out of the training images) the highest mean log-likelihood; the score is the mean
over the test images, with its standard error. Distances are computed in blocks, once for all σ of the grid.
"""
from __future__ import annotations

import math

import numpy as np

from gan_core.errors import DataError

SIGMAS = np.logspace(-1, 0, 10)   # the grid of the paper's code (0.1 … 1 for pixels in [0, 1])
BATCH = 256


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x.reshape(len(x), -1)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """log Σ exp over the last axis, shifted by the maximum (no overflow, no log 0 for far points)."""
    m = a.max(-1, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(-1, keepdims=True)))[..., 0]


def log_likelihoods(x: np.ndarray, samples: np.ndarray, sigmas) -> np.ndarray:
    """log p(x) under the Parzen window of samples, for each σ: [len(sigmas), n]."""
    x, s = _flat(x), _flat(samples)
    if x.shape[1] != s.shape[1] or len(s) == 0:
        raise DataError(f"Parzen window: points of {x.shape[1]} values against samples of shape {list(s.shape)}")
    sigmas = np.atleast_1d(np.asarray(sigmas, np.float64))
    n, d = len(s), s.shape[1]
    s_sq = (s * s).sum(1)
    out = np.empty((len(sigmas), len(x)))
    for i in range(0, len(x), BATCH):
        xb = x[i:i + BATCH]
        sq = np.maximum((xb * xb).sum(1)[:, None] - 2 * xb @ s.T + s_sq[None, :], 0)
        for j, sigma in enumerate(sigmas):
            out[j, i:i + len(xb)] = _logsumexp(-sq / (2 * sigma ** 2))
    return out - math.log(n) - d / 2 * np.log(2 * np.pi * sigmas ** 2)[:, None]


def choose_sigma(validation: np.ndarray, samples: np.ndarray, sigmas=SIGMAS) -> tuple[float, np.ndarray]:
    """The σ of the grid with the highest mean validation log-likelihood, and every σ's mean."""
    means = log_likelihoods(validation, samples, sigmas).mean(1)
    return float(np.atleast_1d(sigmas)[int(np.argmax(means))]), means


def parzen_score(test: np.ndarray, samples: np.ndarray, validation: np.ndarray, sigmas=SIGMAS) -> dict:
    """The paper's protocol: σ chosen on validation, then the mean ± standard error over test."""
    sigma, means = choose_sigma(validation, samples, sigmas)
    ll = log_likelihoods(test, samples, [sigma])[0]
    return {"mean": float(ll.mean()), "se": float(ll.std(ddof=1) / math.sqrt(len(ll))) if len(ll) > 1 else 0.0,
            "sigma": sigma, "validation_means": [float(m) for m in means], "sigmas": [float(s) for s in sigmas]}
