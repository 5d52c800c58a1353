"""gan_core.engine.refit: the exported G with its own BatchNorm statistics, and D refit to it (Proposition 1).

1-D: G fixed with p_g = N(0, 1) (the identity on a normal latent), p_data = N(0.5, 0.7²). After the refit
D's logit is close to log p_data/p_g (eq. (7)) and Ṽ close to V(G, D*) = −2 log 2 + 2·JSD (eq. (5)–(6)).
"""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from gan_core.config import TrainConfig
from gan_core.data.datasets import builtin
from gan_core.engine import refit
from gan_core.engine.models import MLPDiscriminator, MLPGenerator
from gan_core.errors import ConfigError
from gan_core.theory import divergence

MU, SD = 0.5, 0.7


class Identity(nn.Module):
    def forward(self, z):
        return z


def log_ratio(x):
    return (-0.5 * ((x - MU) / SD) ** 2 - math.log(SD)) + 0.5 * x ** 2


def test_refit_moves_d_to_the_optimal_discriminator_of_the_fixed_g():
    torch.manual_seed(0)
    ds = builtin("gaussian1d", {"mean": MU, "std": SD})
    d0 = MLPDiscriminator(1, 32, 2)
    game = {k: v.clone() for k, v in d0.state_dict().items()}
    x = torch.linspace(-1.5, 2.0, 200).unsqueeze(1)
    target = log_ratio(x[:, 0].numpy().astype(np.float64))
    with torch.no_grad():
        before = np.abs(d0(x).numpy() - target).mean()
    d1, v = refit.refit_discriminator(Identity(), d0, ds, steps=1500, batch_size=512, latent_dim=1, prior="normal")
    with torch.no_grad():
        after = np.abs(d1(x).numpy() - target).mean()
        assert not torch.equal(d0(x), d1(x))
    assert all(torch.equal(v, game[k]) for k, v in d0.state_dict().items())   # a copy: the game's D is untouched
    assert after < 0.12 < 0.5 < before
    # Ṽ of the last minibatch against V(G, D*) = −2 log 2 + 2·JSD(p_data ‖ p_g), the JSD on a fine grid
    grid = np.linspace(-8, 8, 16001)
    p_data = np.exp(-0.5 * ((grid - MU) / SD) ** 2) / (SD * math.sqrt(2 * math.pi))
    p_g = np.exp(-0.5 * grid ** 2) / math.sqrt(2 * math.pi)
    v_star = divergence.value_at_optimum(divergence.jsd(p_data, p_g, grid[1] - grid[0]))
    assert v == pytest.approx(v_star, abs=0.06)
    assert v_star > -2 * math.log(2) + 0.05   # p_g ≠ p_data: the optimum lies visibly above −2 log 2


def test_no_refit_steps_returns_the_game_d():
    d0 = MLPDiscriminator(1, 8, 1)
    d1, v = refit.refit_discriminator(Identity(), d0, builtin("gaussian1d"), 0, 64, 1, "normal")
    assert v is None and all(torch.equal(a, b) for a, b in zip(d0.state_dict().values(), d1.state_dict().values()))


def test_population_batchnorm_gives_g_its_own_statistics_and_keeps_its_weights():
    torch.manual_seed(1)
    g = MLPGenerator(2, 2, hidden=16, depth=2, norm="batch")
    g.train()
    with torch.no_grad():  # running averages from a few batches of another latent scale: stale ones
        for _ in range(3):
            g(3 * torch.randn(64, 2))
    g.eval()
    pop = refit.population_batchnorm(g, 2, "normal", batch_size=256, batches=100)
    bn = pop.net[1]
    with torch.no_grad():
        h = g.net[0](torch.randn(200_000, 2))   # the first layer's pre-BatchNorm activations, many latents
    np.testing.assert_allclose(bn.running_mean.numpy(), h.mean(0).numpy(), atol=0.02)
    np.testing.assert_allclose(bn.running_var.numpy(), h.var(0).numpy(), rtol=0.05)
    assert not np.allclose(g.net[1].running_mean.numpy(), h.mean(0).numpy(), atol=0.02)   # the original: stale
    for name, w in g.named_parameters():
        assert torch.equal(w, dict(pop.named_parameters())[name])
    assert not pop.training and not g.training
    z = torch.randn(4096, 2)
    with torch.no_grad():  # eval-mode output now matches what the minibatch-normalised G gives
        train_mode = refit.population_batchnorm(g, 2, "normal", 256, batches=1).train()(z)
        assert (pop(z) - train_mode).abs().mean() < 0.5 * (g(z) - train_mode).abs().mean()


def test_refit_setting_defaults_and_refusals():
    grid = TrainConfig(dataset="grid25").resolved()
    assert grid.refit_d == 12000 and TrainConfig(dataset="ring8").resolved().refit_d == 0
    assert TrainConfig(dataset="grid25", pack=2).resolved().refit_d == 0   # a packed run leaves the default aside
    with pytest.raises(ConfigError, match="refit_d is for an unpacked D"):
        TrainConfig(dataset="grid25", pack=2, refit_d=100).resolved().validate()
    with pytest.raises(ConfigError, match="must be 0 or more"):
        TrainConfig(dataset="grid25", refit_d=-1).resolved().validate()
    with pytest.raises(ConfigError, match="at most"):
        TrainConfig(dataset="grid25", refit_d=10 ** 9).resolved().validate()


def test_a_run_saved_before_the_refit_exports_as_it_did(tmp_path):
    cfg = TrainConfig(dataset="grid25").resolved()
    d = {k: v for k, v in cfg.__dict__.items() if k != "refit_d"}
    import json
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert TrainConfig.load(tmp_path / "config.json").refit_d == 0
