"""The seed's theorem on grids: D*, V(G, D*) = -2 log 2 + 2 JSD, the JSD estimator, the KDE."""

import numpy as np
import pytest

from gan_core.theory.divergence import (
    LOG2,
    density_from_samples,
    gaussian_mixture_density,
    jsd,
    make_grid,
    optimal_discriminator,
    scott_bandwidth,
    smoothed_mixture_density,
    theory_snapshot,
    value_at_optimum,
    value_of,
)


def normal_pdf(x, mu, sd):
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (np.sqrt(2 * np.pi) * sd)


def reference_jsd(mu1, sd1, mu2, sd2):
    """Independent JSD by trapezoid quadrature of the definition on a very fine line."""
    x = np.linspace(-20, 20, 400_001)
    p, q = normal_pdf(x, mu1, sd1), normal_pdf(x, mu2, sd2)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        fp = np.where(p > 0, p * np.log(p / m), 0.0)
        fq = np.where(q > 0, q * np.log(q / m), 0.0)
    return 0.5 * np.trapezoid(fp, x) + 0.5 * np.trapezoid(fq, x)


@pytest.fixture
def line():
    return make_grid([(-12.0, 12.0)], 20_000)


def test_value_at_optimal_discriminator_is_minus_2log2_plus_2jsd(line):
    x = line.points[:, 0]
    p_data, p_g = normal_pdf(x, 0.0, 1.0), normal_pdf(x, 1.5, 0.7)
    d_star = optimal_discriminator(p_data, p_g)
    v_star = value_of(d_star, p_data, p_g, line.cell)
    j = jsd(p_data, p_g, line.cell)
    assert abs(v_star - value_at_optimum(j)) < 1e-6
    assert -2 * LOG2 < v_star < 0
    # D* is the maximiser of V over D (eq. 7): any other D gives less
    for other in (np.full_like(x, 0.5), np.clip(d_star + 0.05, 0, 1), d_star ** 2):
        assert value_of(other, p_data, p_g, line.cell) < v_star - 1e-4


def test_equal_densities_give_half_and_global_minimum(line):
    p = normal_pdf(line.points[:, 0], 4.0, 0.5)
    d_star = optimal_discriminator(p, p)
    assert np.all(d_star == 0.5)  # also where both underflow to 0: no NaN
    assert abs(value_of(d_star, p, p, line.cell) - (-2 * LOG2)) < 1e-9
    assert jsd(p, p, line.cell) == 0.0
    assert value_at_optimum(0.0) == -2 * LOG2


def test_optimal_discriminator_values():
    d = optimal_discriminator(np.array([3.0, 0.0, 0.0, 1.0]), np.array([1.0, 2.0, 0.0, 1.0]))
    assert np.allclose(d, [0.75, 0.0, 0.5, 0.5])


def test_jsd_matches_independent_quadrature():
    grid = make_grid([(-10.0, 10.0)], 2000)
    x = grid.points[:, 0]
    for (m1, s1, m2, s2) in [(0, 1, 0.5, 1), (0, 1, 2, 0.5), (-1, 0.3, 1, 2)]:
        ref = reference_jsd(m1, s1, m2, s2)
        got = jsd(normal_pdf(x, m1, s1), normal_pdf(x, m2, s2), grid.cell)
        assert abs(got - ref) < 1e-6, (m1, s1, m2, s2, got, ref)


def test_jsd_estimated_from_samples():
    """KDE of 10,000 N(0,1) samples vs the exact N(0.5, 1) density.

    Exact JSD = 0.0303 nats.  Over 30 seeds the estimator's error has mean -0.0004 and std
    0.0013 nats (sampling noise of the sample mean, 0.01, moves the JSD by ~0.0013), so
    0.01 nats is ~7 standard deviations: it fails only if the estimator is biased.
    """
    exact = reference_jsd(0.0, 1.0, 0.5, 1.0)
    grid = make_grid([(-6.0, 6.5)], 1000)
    samples = np.random.default_rng(0).standard_normal(10_000)
    q = gaussian_mixture_density(grid.points, [[0.5]], 1.0)
    est = jsd(density_from_samples(samples, grid), q, grid.cell)
    assert abs(est - exact) < 0.01
    # and with both smoothed by the same kernel (what theory_snapshot does for narrow mixtures)
    snap = theory_snapshot(samples, grid,
                           lambda h: smoothed_mixture_density(grid.points, [[0.5]], 1.0, h))
    assert abs(snap["jsd"] - exact) < 0.01
    assert abs(snap["value_at_optimum"] - value_at_optimum(exact)) < 0.02


def test_jsd_disjoint_is_log2_and_symmetric():
    grid = make_grid([(0.0, 4.0)], 400)
    x = grid.points[:, 0]
    p, q = ((x > 0) & (x < 1)).astype(float), ((x > 2) & (x < 3)).astype(float)
    assert abs(jsd(p, q, grid.cell) - LOG2) < 1e-12
    a, b = normal_pdf(x, 1.0, 0.3), normal_pdf(x, 2.5, 0.8)  # asymmetric pair
    assert jsd(a, b, grid.cell) == pytest.approx(jsd(b, a, grid.cell), abs=1e-12)
    assert 0.1 < jsd(a, b, grid.cell) < LOG2
    # no mass on the grid at all: nothing overlaps
    assert jsd(p, np.zeros_like(p), grid.cell) == LOG2


def test_kde_1d_integrates_to_one_and_keeps_the_mean():
    grid = make_grid([(-3.0, 11.0)], 1000)
    samples = np.random.default_rng(1).normal(4.0, 0.5, size=5000)
    dens = density_from_samples(samples, grid)
    assert abs(dens.sum() * grid.cell - 1.0) < 1e-6
    mean = (dens * grid.points[:, 0]).sum() * grid.cell
    assert abs(mean - samples.mean()) < 1e-6  # linear binning + symmetric kernel keep the mean
    # samples outside the grid drop out
    half_out = np.concatenate([samples, samples + 100.0])
    dens_half = density_from_samples(half_out, grid, bandwidth=0.1)
    assert abs(dens_half.sum() * grid.cell - 0.5) < 1e-6
    # a few far outliers do not inflate the bandwidth (robust scale)
    outliers = np.concatenate([samples, np.full(50, 1e4)])
    assert scott_bandwidth(outliers, grid)[0] < 1.2 * scott_bandwidth(samples, grid)[0]


def test_kde_2d_matches_true_density_and_axis_order():
    grid = make_grid([(-4.0, 5.0), (-5.0, 4.0)], 200)
    mu, sd = np.array([[1.0, -1.5]]), 0.8
    samples = mu + sd * np.random.default_rng(2).standard_normal((10_000, 2))
    h = scott_bandwidth(samples, grid)
    dens = density_from_samples(samples, grid, h)
    assert abs(dens.sum() * grid.cell - 1.0) < 1e-4
    peak = grid.points[np.argmax(dens)]
    assert np.allclose(peak, mu[0], atol=0.2)  # x and y not swapped
    assert grid.reshape(dens).shape == (200, 200)
    # vs the truth smoothed by the same kernel: pointwise noise at the peak is ~3 % of the peak
    # (sd = sqrt(f / (N 4 pi h_x h_y))), the max over the grid is ~2-3 times that
    truth = smoothed_mixture_density(grid.points, mu, sd, h)
    assert np.abs(dens - truth).max() < 0.12 * truth.max()
    # vs the unsmoothed truth it is still close (bias from h = 0.17 is ~4 % at the peak)
    raw = gaussian_mixture_density(grid.points, mu, sd)
    assert np.abs(dens - raw).max() < 0.15 * raw.max()
    assert raw.sum() * grid.cell == pytest.approx(1.0, abs=1e-4)  # tails past y=-5


def ring8():
    angles = 2 * np.pi * np.arange(8) / 8
    return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_snapshot_on_narrow_ring_needs_smoothing_of_both():
    grid = make_grid([(-3.0, 3.0), (-3.0, 3.0)], 200)
    centers, std = ring8(), 0.02
    rng = np.random.default_rng(3)
    good = centers[rng.integers(0, 8, 10_000)] + std * rng.standard_normal((10_000, 2))
    collapsed = centers[[0]] + std * rng.standard_normal((10_000, 2))
    smoothed = lambda h: smoothed_mixture_density(grid.points, centers, std, h)  # noqa: E731
    assert theory_snapshot(good, grid, smoothed, bandwidth=0.1)["jsd"] < 0.01
    # raw density on a 0.03 grid is unresolved and the KDE is blurred: a perfect G looks bad
    raw = gaussian_mixture_density(grid.points, centers, std)
    assert theory_snapshot(good, grid, raw, bandwidth=0.1)["jsd"] > 0.1
    # one mode of eight, disjoint after smoothing: JSD has a closed form
    expected = 0.5 * (np.log(2 / 9) / 8 + 7 / 8 * LOG2) + 0.5 * np.log(16 / 9)
    snap = theory_snapshot(collapsed, grid, smoothed, bandwidth=0.1)
    assert abs(snap["jsd"] - expected) < 0.02
    assert snap["d_star"].shape == (grid.n,) and np.all((snap["d_star"] >= 0) & (snap["d_star"] <= 1))
    assert snap["p_g"].sum() * grid.cell == pytest.approx(1.0, abs=1e-3)


def test_bad_grid_and_shapes_are_rejected():
    with pytest.raises(ValueError):
        make_grid([(1.0, 0.0)], 10)
    with pytest.raises(ValueError):
        density_from_samples(np.zeros((5, 2)), make_grid([(0.0, 1.0)], 10))
