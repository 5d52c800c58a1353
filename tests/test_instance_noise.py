"""Instance noise (--instance-noise σ): D judges x + σε and G(z) + σε', σ falling linearly to 0. The same
equations on smoothed densities: the fused steps equal autograd's with the noise, a zero noise is no noise,
the schedule ends where it says, and a resumed run draws the same noise as one run."""
import numpy as np
import pytest
import torch
from test_fused import _batches, _pair
from test_training import _cfg, _resumes_exactly_and_differs

from gan_core.config import ConfigError, TrainConfig
from gan_core.engine import fused
from gan_core.engine.algorithm import discriminator_step, generator_step
from gan_core.engine.training import Trainer, train


@pytest.mark.parametrize("dataset,kw,objective", [
    ("ring8", dict(hidden=16, depth=2), "nonsaturating"),
    ("digits", dict(image_size=16, base_channels=8), "minimax"),
])
def test_fused_steps_with_noise_equal_autograd(dataset, kw, objective):
    cfg, ds, (G, D, og, od), (G2, D2, og2, od2) = _pair(dataset, **kw)
    steps = fused.FusedSteps(G2, D2, og2, od2)
    xs, zs = _batches(cfg, ds, 3)
    g = torch.Generator().manual_seed(5)
    for i in range(3):
        noise = (0.7 * torch.randn(xs[i].shape, generator=g), 0.7 * torch.randn(xs[i].shape, generator=g))
        a = discriminator_step(G, D, od, xs[i], zs[2 * i], noise)
        b = steps.discriminator_step(xs[i], zs[2 * i], noise)
        for s, t in zip(a, b):
            assert abs(s.item() - t.item()) < 1e-5, (i, a, b)
        n_g = 0.7 * torch.randn(xs[i].shape, generator=g)
        la = generator_step(G, D, og, zs[2 * i + 1], objective, n_g)
        lb = steps.generator_step(zs[2 * i + 1], objective, n_g)
        assert abs(la.item() - lb.item()) < 1e-5
    for p, q in zip(D.parameters(), D2.parameters()):
        assert torch.allclose(p, q, atol=1e-5), (p - q).abs().max()
    assert torch.allclose(G(zs[0]), G2(zs[0]), atol=1e-4)


def test_noise_enters_both_inputs_of_d_and_a_zero_noise_is_none():
    def d_step(noise):
        cfg, ds, (G, D, og, od), _ = _pair("ring8", hidden=16, depth=2)
        xs, zs = _batches(cfg, ds, 1)
        make = noise(xs[0]) if noise else None
        return [r.item() for r in discriminator_step(G, D, od, xs[0], zs[0], make)]

    plain = d_step(None)
    assert d_step(lambda x: (torch.zeros_like(x), torch.zeros_like(x))) == pytest.approx(plain, abs=1e-6)
    real_moved = d_step(lambda x: (5 * torch.ones_like(x), torch.zeros_like(x)))
    fake_moved = d_step(lambda x: (torch.zeros_like(x), 5 * torch.ones_like(x)))
    # noise on x moves mean D(x) only; noise on G(z) moves mean D(G(z)) only
    assert abs(real_moved[1] - plain[1]) > 1e-4 and real_moved[2] == pytest.approx(plain[2], abs=1e-6)
    assert abs(fake_moved[2] - plain[2]) > 1e-4 and fake_moved[1] == pytest.approx(plain[1], abs=1e-6)


def test_the_schedule_falls_linearly_to_zero(tmp_path):
    t = Trainer(_cfg(tmp_path, iterations=100, instance_noise=0.8, instance_noise_iterations=40))
    seen = {}
    for it in (0, 10, 20, 39, 40, 99):
        t.it = it
        seen[it] = t.instance_sigma()
    assert seen[0] == pytest.approx(0.8) and seen[10] == pytest.approx(0.6) and seen[20] == pytest.approx(0.4)
    assert 0 < seen[39] < 0.03 and seen[40] == 0 and seen[99] == 0
    assert TrainConfig(dataset="ring8", iterations=100, instance_noise=0.5).resolved().instance_noise_iterations == 50


@pytest.mark.parametrize("kw,words", [(dict(instance_noise=-0.1), "instance_noise"),
                                      (dict(instance_noise=float("nan")), "instance_noise"),
                                      (dict(instance_noise=0.5, instance_noise_iterations=0),
                                       "instance_noise_iterations")])
def test_bad_noise_settings_are_refused(kw, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(dataset="ring8", **kw).resolved().validate()


def test_noisy_run_resumes_exactly_and_differs_from_a_plain_one(tmp_path):
    _resumes_exactly_and_differs(tmp_path, instance_noise=1.0, instance_noise_iterations=150)


def test_a_comparison_member_with_noise_equals_the_run_alone(tmp_path):
    """Members stacked, one with noise and one without: each equals its run trained alone (the stack draws
    each member's noise from its own stream, as Trainer does; the noiseless one's step sees zeros)."""
    from test_compare import _members_equal_runs_alone
    _members_equal_runs_alone(tmp_path, "instance_noise", [0.0, 0.8], instance_noise_iterations=40)


def test_snapshots_record_sigma_and_the_page_caption_says_d_learns_blurred_densities(tmp_path):
    from gan_core.runs import store
    from gan_core.views.snapshot_choice import snapshot_figures
    train(_cfg(tmp_path, iterations=100, snapshot_every=50, instance_noise=0.6, instance_noise_iterations=80))
    d = tmp_path / "run"
    early, late = store.load_snapshot(d, 50), store.load_snapshot(d, 100)
    assert float(early["instance_noise"]) == pytest.approx(0.6 * (1 - 50 / 80))
    assert "instance_noise" not in late  # the noise ended at iteration 80: the paper's game again
    real = lambda: np.zeros((4, 2))  # noqa: E731
    (_, _, caption_early), = snapshot_figures(early, 50, real)
    (_, _, caption_late), = snapshot_figures(late, 100, real)
    assert "Instance noise σ = 0.22" in caption_early and "blurred" in caption_early
    assert "Instance noise" not in caption_late
