"""D's zero-centred gradient penalty (--gradient-penalty γ): D ascends Ṽ − γ·(1/m) Σ ‖∇ logit(x̂_i)‖², x̂_i on the
segment between x_i and G(z_i). Its mathematics against hand-derived and finite-difference values, its schedule,
its refusals, a run that resumes exactly, and a comparison member equal to its run alone."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from test_training import _cfg, _resumes_exactly_and_differs, _rows

from gan_core.config import ConfigError, TrainConfig
from gan_core.engine.algorithm import discriminator_step
from gan_core.engine.models import MLPDiscriminator, MLPGenerator
from gan_core.engine.training import Trainer, train


def _step(G, D, x, z, penalty, lr=1.0):
    """D's parameters after one plain-SGD step of eq. (2), with or without the penalty."""
    state = {k: v.clone() for k, v in D.state_dict().items()}
    opt = torch.optim.SGD(D.parameters(), lr=lr)
    discriminator_step(G, D, opt, x, z, None, penalty)
    after = {k: v.clone() for k, v in D.state_dict().items()}
    D.load_state_dict(state)
    return after


def test_a_linear_d_pays_gamma_times_its_squared_weights():
    """logit = w·x + b has ∇_x logit = w at every x̂: the penalty is γ‖w‖², whose gradient 2γw is the only
    difference the penalty makes to an SGD step, whatever α is; b's step is unchanged."""
    torch.manual_seed(0)
    G, D = MLPGenerator(2, 2, hidden=8, depth=1), MLPDiscriminator(2, depth=0)
    x, z = torch.randn(16, 2), torch.randn(16, 2)
    w = D.net[0].weight.detach().clone()
    plain = _step(G, D, x, z, None, lr=0.1)
    for alpha in (torch.zeros(16), torch.rand(16)):
        pen = _step(G, D, x, z, (3.0, alpha), lr=0.1)
        torch.testing.assert_close(pen["net.0.weight"] - plain["net.0.weight"], -0.1 * 2 * 3.0 * w)
        torch.testing.assert_close(pen["net.0.bias"], plain["net.0.bias"])


def test_the_step_descends_the_penalised_loss_by_finite_differences():
    """For a nonlinear D (float64), the step's change of each weight is −lr·∂L/∂θ with
    L = −Ṽ + γ (1/m) Σ ‖∇ logit(x̂_i)‖², ∇ logit and ∂/∂θ both taken by central differences."""
    torch.manual_seed(1)
    G = MLPGenerator(2, 2, hidden=8, depth=1).double()
    D = MLPDiscriminator(2, hidden=6, depth=2).double()
    m, gamma = 5, 0.7
    x, z, alpha = torch.randn(m, 2).double(), torch.randn(m, 2).double(), torch.rand(m).double()
    with torch.no_grad():
        fake = G(z)
    xh = alpha[:, None] * x + (1 - alpha[:, None]) * fake

    def loss():
        with torch.no_grad():
            v = (torch.nn.functional.logsigmoid(D(x)) + torch.nn.functional.logsigmoid(-D(fake))).mean()
            h, grad = 1e-5, torch.zeros(m, 2, dtype=torch.float64)
            for j in range(2):
                e = torch.zeros(2, dtype=torch.float64)
                e[j] = h
                grad[:, j] = (D(xh + e) - D(xh - e)) / (2 * h)
            return float(-v + gamma * grad.pow(2).sum(1).mean())

    after = _step(G, D, x, z, (gamma, alpha), lr=1.0)
    checked = 0
    for name, p in D.named_parameters():
        for idx in [(0,) * p.dim(), tuple(s - 1 for s in p.shape)]:
            old = float(p.data[idx])
            d = 1e-4
            p.data[idx] = old + d
            up = loss()
            p.data[idx] = old - d
            down = loss()
            p.data[idx] = old
            numeric = (up - down) / (2 * d)
            assert float(after[name][idx]) - old == pytest.approx(-numeric, rel=1e-3, abs=1e-6), (name, idx)
            checked += 1
    assert checked == 2 * len(list(D.parameters()))


def test_the_penalty_lasts_its_iterations_and_draws_nothing_when_off(tmp_path):
    t = Trainer(_cfg(tmp_path, iterations=100, gradient_penalty=2.0, gradient_penalty_iterations=40))
    t.it = 39
    gamma, alpha = t.penalty(32)
    assert gamma == 2.0 and alpha.shape == (32,) and 0 <= float(alpha.min()) and float(alpha.max()) <= 1
    state = t.rng.get_state()
    t.it = 40
    assert t.penalty(32) is None and torch.equal(t.rng.get_state(), state)
    assert TrainConfig(dataset="grid25", iterations=300, gradient_penalty=1.0).resolved() \
        .gradient_penalty_iterations == 300
    # γ 0 (every dataset but grid25 by default): the run is the plain game, row for row
    train(_cfg(tmp_path, "zero", iterations=60, gradient_penalty=0.0))
    train(_cfg(tmp_path, "default", iterations=60))
    pd.testing.assert_frame_equal(_rows(tmp_path / "zero"), _rows(tmp_path / "default"))


@pytest.mark.parametrize("kw,words", [(dict(gradient_penalty=-1.0), "gradient_penalty"),
                                      (dict(gradient_penalty=float("inf")), "gradient_penalty"),
                                      (dict(gradient_penalty=1.0, gradient_penalty_iterations=0),
                                       "gradient_penalty_iterations"),
                                      (dict(dataset="fashion", gradient_penalty=1.0), "point data")])
def test_bad_penalty_settings_are_refused(kw, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**{"dataset": "ring8", **kw}).resolved().validate()


def test_a_penalised_run_resumes_exactly_and_differs_from_a_plain_one(tmp_path):
    _resumes_exactly_and_differs(tmp_path, gradient_penalty=1.0, gradient_penalty_iterations=150)


def test_a_comparison_member_with_a_penalty_equals_the_run_alone(tmp_path):
    """A comparison varying γ trains its members one after another (no stack has the second derivative), each
    drawing its α from its own stream as Trainer does: each member equals its run trained alone."""
    from test_compare import _members_equal_runs_alone
    _members_equal_runs_alone(tmp_path, "gradient_penalty", [0.0, 2.0], gradient_penalty_iterations=40)


def test_snapshots_record_gamma_while_it_lasts_and_the_page_caption_says_so(tmp_path):
    import numpy as np

    from gan_core.runs import store
    from gan_core.views.snapshot_choice import snapshot_figures
    train(_cfg(tmp_path, iterations=100, snapshot_every=50, gradient_penalty=1.5, gradient_penalty_iterations=80))
    d = tmp_path / "run"
    early, late = store.load_snapshot(d, 50), store.load_snapshot(d, 100)
    assert float(early["gradient_penalty"]) == 1.5
    assert "gradient_penalty" not in late  # the penalty ended at iteration 80: the paper's game again
    real = lambda: np.zeros((4, 2))  # noqa: E731
    (_, _, caption_early), = snapshot_figures(early, 50, real)
    (_, _, caption_late), = snapshot_figures(late, 100, real)
    assert "Gradient penalty γ = 1.5" in caption_early and "smoother than D*" in caption_early
    assert "Gradient penalty" not in caption_late
