"""The two updates of Algorithm 1 (the paper's, quoted by the seed), each under the equation it follows, and
the minibatches of real examples they take (DataSampler; the noise is gan_core.engine.models.sample_prior).

The training loop (gan_core.engine.training) decides when each runs; these functions only do the mathematics.
Both return detached tensors and never synchronise with the device.
With packing (PacGAN, --pack P) the loop draws m·P rows of x and z and D (models.PackedDiscriminator)
gives one logit per pack of P: the same equations, on p_data^P and p_g^P.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_core.data.dataset import Dataset
from gan_core.engine.objective import generator_loss, value_estimate


class DataSampler:
    """Minibatches of m examples on the device: fresh draws from a known mixture, or rows of the data."""

    def __init__(self, ds: Dataset, device: torch.device):
        self.device = device
        if ds.data is not None:
            x = torch.from_numpy(ds.data).to(device)
            self.data = x * 2 - 1 if ds.kind == "image" else x  # images live in [-1, 1] for tanh
            self.centers = None
        else:
            self.data = None
            self.centers = torch.as_tensor(ds.centers, dtype=torch.float32, device=device)
            self.std = float(ds.std)

    def __call__(self, m: int, rng: torch.Generator) -> torch.Tensor:
        if self.data is not None:
            return self.data[torch.randint(len(self.data), (m,), generator=rng, device=self.device)]
        idx = torch.randint(len(self.centers), (m,), generator=rng, device=self.device)
        noise = torch.randn(m, self.centers.shape[1], generator=rng, device=self.device)
        return self.centers[idx] + self.std * noise


def discriminator_step(G: nn.Module, D: nn.Module, opt_d: torch.optim.Optimizer,
                       x: torch.Tensor, z: torch.Tensor,
                       noise: tuple[torch.Tensor, torch.Tensor] | None = None,
                       penalty: tuple[float, torch.Tensor] | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of D on m real examples x and m noise vectors z. Returns (Ṽ, mean D(x), mean D(G(z))).

    D ascends  Ṽ = (1/m) Σ log D(x_i) + (1/m) Σ log(1 − D(G(z_i)))          (eq. 2)

    noise: instance noise (σε, σε') added to x and G(z): the same equation on both densities smoothed.
    penalty: (γ, α) with α [m] in [0, 1]: D ascends Ṽ − γ·(1/m) Σ ‖∇ logit(x̂_i)‖², x̂_i = α_i x_i + (1 − α_i) G(z_i)
    (the zero-centred penalty on the segments between data and samples, Thanh-Tung et al. 2019): D's slope is
    kept small between the two, so its pull on G reaches samples far from a mode they miss.
    """
    with torch.no_grad():
        fake = G(z)  # G is held fixed during D's step
    if noise is not None:
        x, fake = x + noise[0], fake + noise[1]
    real_logits, fake_logits = D(x), D(fake)
    v = value_estimate(real_logits, fake_logits)
    loss = -v  # ascending Ṽ = descending −Ṽ
    if penalty is not None:
        gamma, alpha = penalty
        a = alpha.view(-1, *([1] * (x.dim() - 1)))
        xh = (a * x + (1 - a) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(xh).sum(), xh, create_graph=True)
        loss = loss + gamma * grad.pow(2).flatten(1).sum(1).mean()
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    return v.detach(), torch.sigmoid(real_logits).mean().detach(), torch.sigmoid(fake_logits).mean().detach()


def generator_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, z: torch.Tensor,
                   objective: str, noise: torch.Tensor | None = None) -> torch.Tensor:
    """One step of G on a fresh noise minibatch z. Returns the loss G descended.

    minimax:        G descends (1/m) Σ log(1 − D(G(z_i)))                     (eq. 4)
    non-saturating: G ascends  (1/m) Σ log D(G(z_i)),  i.e. descends its negative   (eq. 3)

    noise: instance noise σε added to G(z), as D saw it in its step.
    """
    D.requires_grad_(False)  # D's weights are not updated, so their gradients are not needed
    try:
        fake = G(z)
        loss = generator_loss(D(fake if noise is None else fake + noise), objective)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
    finally:
        D.requires_grad_(True)
    return loss.detach()
