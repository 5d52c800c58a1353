import math

import torch

from gan_core.engine.objective import discriminator_loss, generator_loss, value_estimate


def test_value_estimate_matches_direct_formula():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(64, generator=g, dtype=torch.float64) * 3
    fake = torch.randn(64, generator=g, dtype=torch.float64) * 3
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    direct = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()  # Ṽ as the paper writes it
    assert abs(value_estimate(real, fake).item() - direct.item()) < 1e-12
    assert abs(discriminator_loss(real, fake).item() + direct.item()) < 1e-12


def test_value_estimate_at_chance_is_minus_two_log_two():
    zeros = torch.zeros(10)
    assert abs(value_estimate(zeros, zeros).item() + 2 * math.log(2)) < 1e-6


def test_value_estimate_is_stable_for_extreme_logits():
    real, fake = torch.tensor([-200.0]), torch.tensor([200.0])
    naive = torch.log(torch.sigmoid(real)).item()
    assert naive == -math.inf  # the unstable form breaks ...
    v = value_estimate(real, fake).item()
    assert math.isfinite(v) and abs(v - (-400.0)) < 1e-3  # ... log-sigmoid gives log D ≈ logit


def test_generator_losses_match_their_equations():
    fake = torch.tensor([-2.0, 0.5, 3.0], dtype=torch.float64)
    d = torch.sigmoid(fake)
    assert abs(generator_loss(fake, "minimax").item() - torch.log(1 - d).mean().item()) < 1e-12
    assert abs(generator_loss(fake, "nonsaturating").item() + torch.log(d).mean().item()) < 1e-12


def test_minimax_saturates_where_nonsaturating_does_not():
    # When D confidently rejects G(z) (D(G(z)) ≈ 0), the minimax gradient vanishes: why eq. (3) exists.
    grads = {}
    for kind in ("minimax", "nonsaturating"):
        logit = torch.tensor([-8.0], requires_grad=True)
        generator_loss(logit, kind).backward()
        grads[kind] = abs(logit.grad.item())
    assert grads["minimax"] < 1e-3
    assert grads["nonsaturating"] > 0.99
