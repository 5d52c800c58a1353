"""The forces of the game: the push G's objective gives each generated point, and G's manifold.

Sign convention. G *descends* a per-sample loss ℓ(x) at x = G(z); the push is −∇ₓℓ(x), the direction
in which G's gradient step moves the point (chain rule: G's step moves x along −∇ₓℓ, filtered by G's
Jacobian). With a = logit(x), D(x) = sigmoid(a):

    minimax (eq. (4)):       ℓ = log(1 − D(x)) = logsigmoid(−a)   ⇒  push = D(x) · ∇ₓa
    non-saturating (eq. (3)): ℓ = −log D(x)    = −logsigmoid(a)   ⇒  push = (1 − D(x)) · ∇ₓa

Both push towards where D says "real" (up D's logit); they differ only in size, by the pointwise factor
push_ns / push_mm = (1 − D(x)) / D(x). Where D rejects a sample confidently (D(x) ≈ 0) the minimax push
vanishes and the non-saturating one is strongest: the seed's reason for preferring eq. (3) early on.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.engine.models import DataSpace

# Latent grid extent per prior: the central ±2 of a standard normal (≈95 % of each axis), all of [-1, 1].
LATENT_EXTENT = {"normal": 2.0, "uniform": 1.0}


def per_sample_generator_loss(logits: torch.Tensor, g_loss: str) -> torch.Tensor:
    """ℓ(x) for each sample (objective.generator_loss is its mean), from logits with log-sigmoid."""
    if g_loss == "minimax":
        return F.logsigmoid(-logits)
    if g_loss == "nonsaturating":
        return -F.logsigmoid(logits)
    raise ValueError(f"unknown generator objective {g_loss!r}")


def generator_push(D: nn.Module, x: torch.Tensor, g_loss: str) -> torch.Tensor:
    """−∇ₓ ℓ(x) for every row of x [n, dim] (1-D data: [n, 1]), in one batched pass.

    With no coupling between samples in D (an MLP, or any D in eval mode: no batch statistics), the
    gradient of Σᵢ ℓ(xᵢ) with respect to x is, row by row, each sample's own gradient. Only x gets a
    gradient: D's parameters' .grad are left untouched. D's mode (train/eval) is the caller's choice.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        # reshape(-1): a packed D (PacGAN) gives one logit per pack; each row then gets its pack's push
        loss = per_sample_generator_loss(D(x).reshape(-1), g_loss).sum()
        (grad,) = torch.autograd.grad(loss, [x])
    return -grad.detach()


def latent_grid(latent_dim: int, prior: str = "normal", n: int = 25) -> torch.Tensor:
    """A regular n×n grid on the first two latent axes (other coordinates 0), as [n, n, latent_dim];
    a latent of size 1 gives [n, 1, 1]. Spans the central part of the prior (LATENT_EXTENT)."""
    if prior not in LATENT_EXTENT:
        raise ValueError(f"unknown prior {prior!r}")
    e = LATENT_EXTENT[prior]
    u = (e * (2 * torch.arange(n, dtype=torch.float64) / max(n - 1, 1) - 1)).float()  # odd n: exactly 0 in the middle
    if latent_dim == 1:
        return u.reshape(n, 1, 1)
    z = torch.zeros(n, n, latent_dim)
    z[..., 0], z[..., 1] = torch.meshgrid(u, u, indexing="ij")
    return z


@torch.no_grad()
def manifold(G: nn.Module, latent_dim: int, prior: str = "normal", n: int = 25, kind: str = "points",
             device=None) -> torch.Tensor:
    """G's image of latent_grid: [n, n, dim] for a latent of size ≥ 2 (a 2-D slice through z = 0 when
    larger), [n, 1, dim] for a 1-D latent. Row i is the image of the latent line z₀ = uᵢ, so rows and
    columns drawn as polylines show how G warps (folds, stretches) the latent plane onto data space.
    G runs in eval mode (a BatchNorm generator would otherwise update its running statistics)."""
    z = latent_grid(latent_dim, prior, n)
    gx, gy = z.shape[:2]
    if device is not None:
        z = z.to(device)
    was = G.training
    G.eval()
    try:
        x = DataSpace(G, kind)(z.reshape(gx * gy, latent_dim))
    finally:
        G.train(was)
    return x.reshape(gx, gy, -1)
