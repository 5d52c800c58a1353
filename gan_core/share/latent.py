"""The project's latent sampler: the same z for (n, latent_dim, prior, seed) in Python and in a web page.

numpy's generators cannot be reproduced in JavaScript, so the latents come from a small documented
algorithm implemented twice (here, vectorised, and in ``sampler.js`` for the share page):

1. **Philox4x32-10** (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the
   generator behind numpy's ``Philox``, cuRAND and JAX) maps a 128-bit counter and a 64-bit key to
   four 32-bit words. Element (row i, column j) of z uses its own counter
   ``(i mod 2^32, i div 2^32, j, 0)`` and the key ``(seed mod 2^32, seed div 2^32)``, so every entry
   depends only on (seed, i, j): a smaller n gives a prefix of a larger one, and nothing depends on
   batching.
2. From the words w0..w3 of that block:
   - ``normal``: two 53-bit uniforms ``u1 = (hi27(w0)·2^26 + hi26(w1) + 1) / 2^53`` in (0, 1] and
     ``u2 = (hi27(w2)·2^26 + hi26(w3)) / 2^53`` in [0, 1); Box–Muller ``sqrt(−2 ln u1) · cos(2π u2)``
     in float64, rounded to float32.
   - ``uniform``: ``2 · hi24(w0) / 2^24 − 1``, exact in float32, in [−1, 1).
3. **Acceptance uniforms** (``uniforms``), for rejection sampling by D (gan_core.theory.rejection): row i
   of the stream gets ``u_i = (hi27(w0)·2^26 + hi26(w1)) / 2^53`` in [0, 1), float64, from the same key with
   the counter ``(i mod 2^32, i div 2^32, 0, 1)``. The latents always have 0 as the fourth counter word, so
   u is independent of every latent.

Its name and version go into every exported model's metadata (``latent_sampler``,
``latent_sampler_version``); change the version whenever a single output value would change (of a latent
or of a uniform: the page draws both).
"""
from __future__ import annotations

import numpy as np

from gan_core.errors import ConfigError

NAME = "philox4x32-10"
VERSION = "1"
PRIORS = ("normal", "uniform")
MAX_SEED = 2**53 - 1   # JavaScript numbers hold integers exactly up to here

# Philox4x32 constants (Salmon et al. 2011, Random123).
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)
_ROUNDS = 10
_LO = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


def philox4x32(c0, c1, c2, c3, k0: int, k1: int):
    """Philox4x32-10 on uint32 counter arrays; returns the four uint32 output words."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint32) for c in (c0, c1, c2, c3))
    k0, k1 = np.uint32(k0), np.uint32(k1)
    with np.errstate(over="ignore"):   # the key schedule wraps around 2^32 by design
        for r in range(_ROUNDS):
            if r:
                k0, k1 = k0 + _W0, k1 + _W1
            p0 = c0.astype(np.uint64) * _M0
            p1 = c2.astype(np.uint64) * _M1
            hi0, lo0 = (p0 >> _S32).astype(np.uint32), (p0 & _LO).astype(np.uint32)
            hi1, lo1 = (p1 >> _S32).astype(np.uint32), (p1 & _LO).astype(np.uint32)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def check_seed(seed) -> int:
    try:
        s = int(seed)
    except (TypeError, ValueError):
        raise ConfigError(f"the seed must be a whole number, got {seed!r}") from None
    if s != seed or not 0 <= s <= MAX_SEED:
        raise ConfigError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return s


def _rows(start: int, n: int) -> np.ndarray:
    if int(start) < 0 or int(n) < 0 or int(start) + int(n) > MAX_SEED:
        raise ConfigError(f"stream rows must lie in 0 … {MAX_SEED}, got {n} from row {start}")
    return np.arange(int(start), int(start) + int(n), dtype=np.uint64)


def uniforms(start: int, n: int, seed: int) -> np.ndarray:
    """u_i in [0, 1), float64, for stream rows start … start + n − 1 (item 3 of the module doc)."""
    seed = check_seed(seed)
    rows = _rows(start, n)
    zero = np.zeros(len(rows), np.uint32)
    w0, w1, _, _ = philox4x32((rows & _LO).astype(np.uint32), (rows >> _S32).astype(np.uint32), zero, zero + 1,
                              seed & 0xFFFFFFFF, seed >> 32)
    return ((w0 >> np.uint32(5)).astype(np.float64) * 2**26 + (w1 >> np.uint32(6))) / 2**53


def sample(n: int, latent_dim: int, prior: str = "normal", seed: int = 0, start: int = 0) -> np.ndarray:
    """z of shape [n, latent_dim], float32, from the project's latent sampler (see the module doc):
    rows start … start + n − 1 of the seed's stream (a block of a longer draw, e.g. for rejection sampling)."""
    if int(n) < 0 or int(latent_dim) < 1:
        raise ConfigError(f"need n >= 0 and latent_dim >= 1, got n={n}, latent_dim={latent_dim}")
    if prior not in PRIORS:
        raise ConfigError(f"unknown prior {prior!r} (expected normal or uniform)")
    seed = check_seed(seed)
    n, d = int(n), int(latent_dim)
    rows = np.repeat(_rows(start, n), d)
    cols = np.tile(np.arange(d, dtype=np.uint32), n)
    w0, w1, w2, w3 = philox4x32((rows & _LO).astype(np.uint32), (rows >> _S32).astype(np.uint32), cols,
                                np.zeros_like(cols), seed & 0xFFFFFFFF, seed >> 32)
    if prior == "uniform":
        z = (w0 >> np.uint32(8)).astype(np.float64) * (2.0 / 2**24) - 1.0
    else:
        u1 = ((w0 >> np.uint32(5)).astype(np.float64) * 2**26 + (w1 >> np.uint32(6)) + 1.0) / 2**53
        u2 = ((w2 >> np.uint32(5)).astype(np.float64) * 2**26 + (w3 >> np.uint32(6))) / 2**53
        z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return z.astype(np.float32).reshape(n, d)
