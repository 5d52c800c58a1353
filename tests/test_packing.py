"""Packing (PacGAN): the same minimax game on p_data^P and p_g^P, so the seed's identities hold for it.

1-D known Gaussians, P = 2: the packed optimum D*_2 = p_data²/(p_data² + p_g²) (eq. (7) on products) reaches
V(G, D*_2) = −2 log 2 + 2·JSD(p_data² ‖ p_g²) (eqs. (8)–(21)), by quadrature on a 2-D grid; the packed
discriminator wrapper and the minibatch Ṽ reproduce it by sampling; and bad settings are refused in one line.
"""
import csv
import math

import numpy as np
import pytest
import torch
from conftest import run_cli
from torch import nn

from gan_core.config import TrainConfig
from gan_core.engine.models import MLPDiscriminator, PackedDiscriminator, build_models, pointwise_logit
from gan_core.engine.objective import value_estimate
from gan_core.errors import ConfigError
from gan_core.runs.paths import snapshot_path
from gan_core.theory import divergence

MU_D, SD_D, MU_G, SD_G = 0.0, 1.0, 1.0, 1.5   # p_data, p_g
LOG2 = math.log(2.0)


def normal_pdf(x, mu, sd):
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def log_normal_pdf(x, mu, sd):
    return -0.5 * ((x - mu) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi))


@pytest.fixture(scope="module")
def packed_grid():
    g1 = divergence.make_grid([(-9.0, 10.0)], 500)
    p1, q1 = normal_pdf(g1.axes[0], MU_D, SD_D), normal_pdf(g1.axes[0], MU_G, SD_G)
    g2 = divergence.make_grid([(-9.0, 10.0), (-9.0, 10.0)], 500)
    p2, q2 = np.outer(p1, p1).ravel(), np.outer(q1, q1).ravel()   # product densities, 'ij' order like g2.points
    return dict(g1=g1, p1=p1, q1=q1, g2=g2, p2=p2, q2=q2)


def test_packed_optimum_reaches_minus_2log2_plus_2jsd_of_products(packed_grid):
    g = packed_grid
    d_star = divergence.optimal_discriminator(g["p2"], g["q2"])
    x1, x2 = g["g2"].points[:, 0], g["g2"].points[:, 1]
    pd2 = normal_pdf(x1, MU_D, SD_D) * normal_pdf(x2, MU_D, SD_D)   # p_data²(x1, x2) = p_data(x1) p_data(x2)
    pg2 = normal_pdf(x1, MU_G, SD_G) * normal_pdf(x2, MU_G, SD_G)
    expected = pd2 / (pd2 + pg2)
    np.testing.assert_allclose(d_star, expected, rtol=1e-9, atol=1e-12)
    jsd2 = divergence.jsd(g["p2"], g["q2"], g["g2"].cell)
    v = divergence.value_of(d_star, g["p2"], g["q2"], g["g2"].cell)
    assert v == pytest.approx(-2 * LOG2 + 2 * jsd2, abs=1e-6)
    jsd1 = divergence.jsd(g["p1"], g["q1"], g["g1"].cell)
    assert jsd1 + 0.02 < jsd2 < LOG2   # packing makes the same pair of distributions easier to tell apart
    # any other D does worse for D (eq. (7) is the maximiser): the single-point D* used on packs, for one
    d1 = divergence.optimal_discriminator(g["p1"], g["q1"])
    d_naive = np.sqrt(np.outer(d1, d1).ravel())
    assert divergence.value_of(d_naive, g["p2"], g["q2"], g["g2"].cell) < v - 1e-3


def test_jsd_product_monte_carlo_matches_quadrature(packed_grid):
    g = packed_grid
    exact = divergence.jsd(g["p2"], g["q2"], g["g2"].cell)
    mc = divergence.jsd_product(g["p1"], g["q1"], g["g1"].cell, pack=2, n=200_000, seed=1)
    assert mc == pytest.approx(exact, abs=3e-3)
    assert (divergence.jsd_product(g["p1"], g["q1"], g["g1"].cell, pack=1)
            == divergence.jsd(g["p1"], g["q1"], g["g1"].cell))
    assert divergence.jsd_product(g["p1"], g["p1"], g["g1"].cell, pack=3, n=20_000) == pytest.approx(0.0, abs=1e-12)
    # disjoint supports stay at log 2 for any P
    p = np.r_[np.ones(10), np.zeros(10)]
    assert divergence.jsd_product(p, p[::-1], 1.0, pack=4, n=1000) == pytest.approx(LOG2)


class PackedLogRatio(nn.Module):
    """The exact packed optimum as a logit: Σ_j log p_data(x_j) − log p_g(x_j) over a pack [m, P]."""

    def forward(self, packs):
        return (log_normal_pdf(packs, MU_D, SD_D) - log_normal_pdf(packs, MU_G, SD_G)).sum(dim=1)


def test_packed_discriminator_minibatch_value_estimates_the_packed_optimum(packed_grid):
    g = packed_grid
    d = PackedDiscriminator(PackedLogRatio(), 2)
    gen = torch.Generator().manual_seed(0)
    m = 200_000   # packs; m·P = 400,000 samples of each, drawn as the training loop draws them
    x = MU_D + SD_D * torch.randn(2 * m, 1, generator=gen, dtype=torch.float64)
    fake = MU_G + SD_G * torch.randn(2 * m, 1, generator=gen, dtype=torch.float64)
    assert d(x).shape == (m,)
    v = float(value_estimate(d(x), d(fake)))
    assert v == pytest.approx(-2 * LOG2 + 2 * divergence.jsd(g["p2"], g["q2"], g["g2"].cell), abs=6e-3)
    # on the diagonal (x, x) the packed optimum's logit is 2·log p_data(x)/p_g(x): pointwise divides by P
    pts = torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None]
    np.testing.assert_allclose(pointwise_logit(d, pts).numpy(),
                               (log_normal_pdf(pts, MU_D, SD_D) - log_normal_pdf(pts, MU_G, SD_G))[:, 0].numpy(),
                               atol=1e-12)


def _models(pack):
    from gan_core.data.datasets import load_dataset
    cfg = TrainConfig(dataset="ring8", hidden=16, depth=2, pack=pack).resolved()
    return build_models(cfg, load_dataset(cfg))


def test_build_models_packs_d_only_when_asked():
    _, d1 = _models(1)
    assert isinstance(d1, MLPDiscriminator) and "net.0.weight" in d1.state_dict()   # old runs load unchanged
    _, d3 = _models(3)
    assert isinstance(d3, PackedDiscriminator) and d3.inner.net[0].in_features == 6
    x = torch.randn(12, 2)
    assert d3(x).shape == (4,)
    # rows are packed in order: pack i is rows 3i, 3i+1, 3i+2
    np.testing.assert_allclose(d3(x)[1].item(), d3.inner(x[3:6].reshape(1, 6)).item(), rtol=1e-6)


@pytest.mark.parametrize("flags,message", [
    (["--pack", "0"], "pack must be at least 1, got 0"),
    (["--pack", "65"], "pack must be at most 64"),
    (["--pack", "8", "--batch-size", "4"], "pack 8 is larger than the batch size 4"),
    (["--pack", "32", "--batch-size", "4096"], "at most 65,536"),
    (["--pack", "2", "--dataset", "digits"], "packing (pack 2) is for point data"),
])
def test_bad_pack_values_are_refused_in_one_line(tmp_path, flags, message):
    args = ["train", "--run-dir", tmp_path / "r", "--iterations", "5", *flags]
    if "--dataset" not in flags:
        args += ["--dataset", "ring8"]
    r = run_cli(*args, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr, r.stderr
    assert not (tmp_path / "r" / "config.json").exists()


def test_validate_refuses_pack_for_images():
    with pytest.raises(ConfigError, match="point data"):
        TrainConfig(dataset="digits", pack=2).resolved().validate()


@pytest.mark.slow  # a 40-iteration training run in a child process
def test_packed_run_logs_the_packed_game_honestly(tmp_path, tiny):
    run = tmp_path / "p2"
    r = run_cli("train", "--dataset", "ring8", "--run-dir", run, "--iterations", "40", "--pack", "2", "--hidden", "16",
                "--depth", "2", "--batch-size", "32", "--snapshot-every", "20", "--snapshot-samples", "500",
                "--quiet", "--no-export", timeout=120)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    last = rows[-1]
    assert {"jsd", "jsd_packed", "value_at_optimum"} <= set(last)
    jsd, jsd_p, v = float(last["jsd"]), float(last["jsd_packed"]), float(last["value_at_optimum"])
    assert v == pytest.approx(-2 * LOG2 + 2 * jsd_p, abs=1e-6)   # the packed game's optimum, not the single-point one
    assert jsd_p >= jsd - 0.01                                   # JSD of products is never below the single JSD
    snap = np.load(snapshot_path(run, 40))
    assert "P = 2" in str(snap["d_label"]) and snap["d"].shape == snap["d_star"].shape
    assert snap["grad_g"].shape == (500, 2) and np.isfinite(snap["grad_g"]).all()
    assert TrainConfig.load(run / "config.json").pack == 2
