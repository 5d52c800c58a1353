"""Discriminator rejection sampling (Azadi et al. 2019, "DRS"), numpy only (generation must not need torch).

Eq. (7) gives, for the optimal D of a fixed G,  p_data(x) / p_g(x) = D*(x) / (1 − D*(x)) = exp(logit(x)).
So accepting each of G's samples x with probability  exp(logit(x) − M),  M ≥ max logit,  leaves samples
distributed as p_g · p_data / p_g ∝ p_data (rejection sampling with the envelope e^M · p_g).

Kept simple, as documented here (version "dr-sampling v2"):
* M is the 99.9th percentile of the logits of a burn-in of BURN_IN samples of the seed's stream (about the
  tenth largest of 10,000). The paper takes the maximum; but an MLP D grows linearly far from the data, so
  one stray sample of G can carry a huge logit, and with M = max the acceptance of a trained grid25 model
  could fall to about one in a thousand. Samples with a logit above M (about 0.1 %) are kept with
  probability 1 (the min below): a small bias towards p_g there, the same kind the paper's γ shift accepts.
  v1 took the 99th percentile, which kept fewer of grid25's modes (bench.mode_coverage measures both):
  everything above M is kept alike, so with M at the 99th percentile a mode G rarely visits (high logits)
  gained no more than the top 1 % of the others.
* M is numpy's default ("linear") percentile written out step by step (envelope_logit), so that the share
  page's JavaScript twin of this module (gan_core/share/rejection.js) computes the same double.
* The stream: row i of the latents is row i of the project's latent sampler for the seed
  (gan_core.share.latent, drawn in blocks with ``start``); its acceptance uniform u_i comes from the same
  sampler (latent.uniforms: the same Philox4x32-10 key with the counter (i mod 2^32, i div 2^32, 0, 1), a
  stream independent of every latent). Row i is kept iff u_i < exp(logit_i − M); the first n kept rows, in
  stream order, are the result. Hence the same (model, n, seed) always gives the same samples, a smaller n
  gives a prefix of a larger one, and the page, drawing the same rows, keeps the same ones.
A packed D (PacGAN) judges P-tuples; its single-point logit is logit(x, …, x) / P (see
models.PackedDiscriminator.pointwise), which is what an exported model's `logit` output holds.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from gan_core.errors import ConfigError
from gan_core.share import latent

NAME = "dr-sampling v2"
BURN_IN = 10_000      # samples whose logits set M
QUANTILE = 99.9       # M: this percentile of the burn-in logits
BLOCK = 4096          # rows of the stream drawn at a time
MAX_DRAWS_PER_SAMPLE = 1000   # give up (one line) when fewer than 1 in 1000 samples would be kept


def acceptance(logits: np.ndarray, max_logit: float) -> np.ndarray:
    """P(accept x) = exp(min(logit(x) − M, 0)) = min(1, (p_data/p_g)(x) / e^M) under eq. (7)."""
    lg = np.asarray(logits, np.float64)
    return np.exp(np.minimum(lg - float(max_logit), 0.0))


def envelope_logit(logits) -> float:
    """M: the QUANTILE-th percentile of the logits, linear between neighbouring order statistics.

    numpy's ``np.percentile(logits, QUANTILE)`` operation by operation (its index (n − 1)·q and its
    two-sided lerp), so that rejection.js, doing the same double operations, gets the same M."""
    a = np.sort(np.asarray(logits, np.float64).reshape(-1))
    if a.size == 0:
        raise ConfigError("no logits to set the rejection envelope from")
    h = (a.size - 1) * (QUANTILE / 100)
    lo = min(int(math.floor(h)), a.size - 1)
    hi = min(lo + 1, a.size - 1)
    t = h - lo
    below, above = float(a[lo]), float(a[hi])
    diff = above - below
    return above - diff * (1 - t) if t >= 0.5 else below + diff * t


def params() -> dict:
    """What the share page's rejection.js needs to run this algorithm (its constants, with its name)."""
    return {"name": NAME, "burn_in": BURN_IN, "quantile": QUANTILE, "block": BLOCK,
            "max_draws_per_sample": MAX_DRAWS_PER_SAMPLE}


def rejection_sample(sample_and_logit: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], n: int,
                     latent_dim: int, prior: str, seed: int, block: int = BLOCK,
                     burn_in: int = BURN_IN) -> tuple[np.ndarray, dict]:
    """n samples of p_g reweighted by D: the first n kept rows of the seed's stream.

    ``sample_and_logit(z)`` returns (G(z), logit of D at G(z)) for latents z [k, latent_dim]. Returns the
    samples and a report: M (envelope_logit), rows drawn, acceptance rate."""
    n = int(n)
    if n < 1:
        raise ConfigError(f"the number of samples must be at least 1, got {n}")
    burn = latent.sample(int(burn_in), latent_dim, prior, seed)
    _, burn_logits = sample_and_logit(burn)
    burn_logits = np.asarray(burn_logits, np.float64).reshape(-1)
    if not np.isfinite(burn_logits).all():
        raise ConfigError("the model's discriminator gives non-finite logits; rejection sampling is impossible")
    m = envelope_logit(burn_logits)
    kept, count, start, limit = [], 0, 0, n * MAX_DRAWS_PER_SAMPLE + int(burn_in)
    while count < n:
        if start >= limit:
            raise ConfigError(f"rejection sampling kept only {count} of {start:,} samples (the discriminator "
                              f"rejects nearly everything); generate without rejection instead")
        k = min(int(block), limit - start)
        z = latent.sample(k, latent_dim, prior, seed, start=start)
        x, lg = sample_and_logit(z)
        keep = latent.uniforms(start, k, seed) < acceptance(np.asarray(lg).reshape(-1), m)
        kept.append(x[keep][: n - count])
        count += int(keep.sum())
        start += k
    out = np.concatenate(kept)[:n]
    return out, {"envelope_logit": m, "drawn": start, "acceptance": count / start}
