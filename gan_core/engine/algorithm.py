"""The two updates of Algorithm 1 (the paper's, quoted by the seed), each under the equation it follows.

The training loop (gan_core.engine.training) decides when each runs; these functions only do the mathematics.
Both return detached tensors and never synchronise with the device.
With packing (PacGAN, --pack P) the loop draws m·P rows of x and z and D (models.PackedDiscriminator)
gives one logit per pack of P: the same equations, on p_data^P and p_g^P.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_core.engine.objective import generator_loss, value_estimate


def discriminator_step(G: nn.Module, D: nn.Module, opt_d: torch.optim.Optimizer,
                       x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of D on m real examples x and m noise vectors z. Returns (Ṽ, mean D(x), mean D(G(z))).

    D ascends  Ṽ = (1/m) Σ log D(x_i) + (1/m) Σ log(1 − D(G(z_i)))          (eq. 2)
    """
    with torch.no_grad():
        fake = G(z)  # G is held fixed during D's step
    real_logits, fake_logits = D(x), D(fake)
    v = value_estimate(real_logits, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    (-v).backward()  # ascending Ṽ = descending −Ṽ
    opt_d.step()
    return v.detach(), torch.sigmoid(real_logits).mean().detach(), torch.sigmoid(fake_logits).mean().detach()


def generator_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, z: torch.Tensor,
                   objective: str) -> torch.Tensor:
    """One step of G on a fresh noise minibatch z. Returns the loss G descended.

    minimax:        G descends (1/m) Σ log(1 − D(G(z_i)))                     (eq. 4)
    non-saturating: G ascends  (1/m) Σ log D(G(z_i)),  i.e. descends its negative   (eq. 3)
    """
    D.requires_grad_(False)  # D's weights are not updated, so their gradients are not needed
    try:
        loss = generator_loss(D(G(z)), objective)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
    finally:
        D.requires_grad_(True)
    return loss.detach()
