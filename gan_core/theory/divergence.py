"""The seed's theorem (Goodfellow et al., 2014), made computable on a grid.

For toy data whose density is known we can evaluate, on a regular 1-D or 2-D grid:

* eq. (7)  ``optimal_discriminator``: D*(x) = p_data / (p_data + p_g)
* eq. (6)  ``value_of``: V(G, D) = ∫ p_data log D + p_g log(1 - D)
* JSD      ``jsd``: Jensen-Shannon divergence in nats, in [0, log 2]
* (8)-(21) ``value_at_optimum``: V(G, D*) = -2 log 2 + 2 JSD(p_data ‖ p_g)

p_g is only known through samples, so it is estimated by a Gaussian KDE
(``density_from_samples``).  A KDE blurs p_g by its bandwidth h; comparing that blur with the
*unblurred* p_data would report a large JSD even for a perfect generator, and for the very narrow
mixtures (ring8 std 0.02, grid25 std 0.05) the raw density is not even resolved by a coarse grid.
The fair comparison smooths both by the same kernel: a Gaussian mixture convolved with a Gaussian
of bandwidth h is the same mixture with std sqrt(std² + h²) (``smoothed_mixture_density``).
The JSD reported for such data is therefore an estimate of the JSD between the *smoothed*
densities, which is never above the true JSD (smoothing both by one kernel cannot increase an
f-divergence) and still reaches 0 at p_g = p_data.  ``theory_snapshot`` does this when given a callable for p_data.

All densities on a grid are flat arrays of length ``grid.n`` ordered like ``grid.points``
(``grid.reshape`` gives the [nx, ny] image, first index = x).  Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

import numpy as np

LOG2 = float(np.log(2.0))
_EPS_D = 1e-12  # D is clipped to [eps, 1-eps] so a float32 D of exactly 0 or 1 stays finite


# --------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class Grid:
    """A regular, cell-centred grid over a box in 1 or 2 dimensions."""

    axes: list  # one 1-D array of cell centres per dimension
    points: np.ndarray  # [n, dim] all cell centres, 'ij' order (first axis varies slowest)
    shape: tuple  # (nx,) or (nx, ny)
    cell: float  # cell volume: dx or dx*dy
    bounds: tuple  # ((lo, hi), ...)

    @property
    def dim(self) -> int:
        return len(self.axes)

    @property
    def n(self) -> int:
        return int(np.prod(self.shape))

    @property
    def spacing(self) -> np.ndarray:
        return np.array([(hi - lo) / m for (lo, hi), m in zip(self.bounds, self.shape)])

    def reshape(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values).reshape(self.shape)


def make_grid(bounds: Sequence[Sequence[float]], n: Union[int, Sequence[int]] = 200) -> Grid:
    """Grid over ``bounds`` = [(lo, hi)] (1-D) or [(lo, hi), (lo, hi)] (2-D), ``n`` cells per axis.

    Points are cell centres, so a Riemann sum times ``cell`` is the midpoint rule.
    """
    bounds = tuple((float(lo), float(hi)) for lo, hi in bounds)
    if len(bounds) not in (1, 2):
        raise ValueError("grid must be 1-D or 2-D")
    ns = (int(n),) * len(bounds) if np.isscalar(n) else tuple(int(m) for m in n)
    if len(ns) != len(bounds) or min(ns) < 2 or any(hi <= lo for lo, hi in bounds):
        raise ValueError(f"bad grid: bounds={bounds}, n={n}")
    axes = [lo + (np.arange(m) + 0.5) * (hi - lo) / m for (lo, hi), m in zip(bounds, ns)]
    mesh = np.meshgrid(*axes, indexing="ij")
    points = np.stack([g.ravel() for g in mesh], axis=1)
    cell = float(np.prod([(hi - lo) / m for (lo, hi), m in zip(bounds, ns)]))
    return Grid(axes=axes, points=points, shape=ns, cell=cell, bounds=bounds)


# ------------------------------------------------------------------ the theorem
def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """Eq. (7): D*(x) = p_data / (p_data + p_g); 1/2 where both densities are 0 (no NaN)."""
    p_data, p_g = np.asarray(p_data, float), np.asarray(p_g, float)
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full(total.shape, 0.5), where=total > 0)


def _xlogy_ratio(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """p * log(p / m) with 0 log 0 = 0 (m >= p/2 > 0 wherever p > 0)."""
    out = np.zeros_like(p)
    pos = p > 0
    out[pos] = p[pos] * np.log(p[pos] / m[pos])
    return out


def jsd(p: np.ndarray, q: np.ndarray, cell: float) -> float:
    """JSD(p ‖ q) in nats for densities sampled on a regular grid of cell volume ``cell``.

    Both are renormalised to integrate to 1 on the grid first, so mass outside the grid is
    ignored.  If either has no mass on the grid the supports cannot overlap: returns log 2.
    """
    p, q = np.asarray(p, float).ravel(), np.asarray(q, float).ravel()
    if p.shape != q.shape:
        raise ValueError(f"shape mismatch {p.shape} vs {q.shape}")
    p, q = np.clip(np.nan_to_num(p), 0, None), np.clip(np.nan_to_num(q), 0, None)
    zp, zq = p.sum() * cell, q.sum() * cell
    if zp <= 0 or zq <= 0:
        return LOG2
    p, q = p / zp, q / zq
    m = 0.5 * (p + q)
    value = 0.5 * cell * (_xlogy_ratio(p, m).sum() + _xlogy_ratio(q, m).sum())
    return float(np.clip(value, 0.0, LOG2))


def jsd_product(p: np.ndarray, q: np.ndarray, cell: float, pack: int, n: int = 20_000, seed: int = 0) -> float:
    """JSD(p^P ‖ q^P) in nats: the divergence of the packed game (PacGAN), for P-tuples of independent
    points, with p and q sampled on a grid as in ``jsd`` (P = 1 is ``jsd`` itself, computed exactly).

    With ℓ(x) = log p(x)/q(x) a tuple's log ratio is L = Σ_j ℓ(x_j), and
    JSD = ½ E_{p^P}[log 2 − softplus(−L)] + ½ E_{q^P}[log 2 − softplus(L)]: a Monte Carlo mean over ``n``
    tuples drawn cell by cell from each density (the same discrete densities that ``jsd`` integrates), with
    a fixed ``seed`` so the value is reproducible. Standard error ≲ 0.35/√n nats.
    """
    if int(pack) == 1:
        return jsd(p, q, cell)
    p, q = np.asarray(p, float).ravel(), np.asarray(q, float).ravel()
    p, q = np.clip(np.nan_to_num(p), 0, None), np.clip(np.nan_to_num(q), 0, None)
    if p.sum() <= 0 or q.sum() <= 0:
        return LOG2
    p, q = p / p.sum(), q / q.sum()
    with np.errstate(divide="ignore"):
        ell = np.log(p) - np.log(q)          # ±inf where one density is 0: never drawn from the other side
    rng = np.random.default_rng(seed)
    # a tuple drawn from p never contains a cell where p = 0, so L there is +inf at worst (softplus(−inf) = 0)
    lp = ell[rng.choice(len(p), size=(int(n), int(pack)), p=p)].sum(axis=1)
    lq = ell[rng.choice(len(q), size=(int(n), int(pack)), p=q)].sum(axis=1)
    value = LOG2 - 0.5 * np.logaddexp(0.0, -lp).mean() - 0.5 * np.logaddexp(0.0, lq).mean()
    return float(np.clip(value, 0.0, LOG2))


def value_at_optimum(jsd_value: float) -> float:
    """Eq. (21): V(G, D*_G) = -2 log 2 + 2 JSD(p_data ‖ p_g), in [-2 log 2, 0]."""
    return -2.0 * LOG2 + 2.0 * float(jsd_value)


def value_of(d: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, cell: float) -> float:
    """Eq. (6): V(G, D) = ∫ p_data log D + p_g log(1 - D), midpoint quadrature on the grid.

    No renormalisation: pass densities that integrate to ~1 on the grid.  Terms where the
    density is 0 contribute 0; D is clipped to [1e-12, 1 - 1e-12] so a saturated D is finite.
    """
    d = np.clip(np.asarray(d, float), _EPS_D, 1.0 - _EPS_D)
    p_data, p_g = np.asarray(p_data, float), np.asarray(p_g, float)
    real = np.where(p_data > 0, p_data * np.log(d), 0.0)
    fake = np.where(p_g > 0, p_g * np.log1p(-d), 0.0)
    return float((real.sum() + fake.sum()) * cell)


# ----------------------------------------------------------- known densities
def _as_2d(a, name: str) -> np.ndarray:
    a = np.asarray(a, float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be [n, dim] (or [n] in 1-D), got shape {a.shape}")
    return a


def _diag_mixture(points, centers, stds: np.ndarray, weights) -> np.ndarray:
    """Mixture of axis-aligned Gaussians sharing per-dimension std ``stds`` [dim]."""
    x, c = _as_2d(points, "points"), _as_2d(centers, "centers")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"points are {x.shape[1]}-D but centers are {c.shape[1]}-D")
    k = len(c)
    w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float) / np.sum(weights)
    stds = np.broadcast_to(np.asarray(stds, float), (x.shape[1],))
    norm = np.prod(1.0 / (np.sqrt(2 * np.pi) * stds))
    out = np.zeros(len(x))
    for wk, ck in zip(w, c):  # loop over components keeps memory at O(n)
        z2 = (((x - ck) / stds) ** 2).sum(axis=1)
        out += wk * np.exp(-0.5 * z2)
    return out * norm


def gaussian_mixture_density(points, centers, std: float, weights=None) -> np.ndarray:
    """Density of an isotropic Gaussian mixture at ``points`` [n, dim]; centers [K, dim]."""
    return _diag_mixture(points, centers, np.asarray(std, float), weights)


def smoothed_mixture_density(points, centers, std: float, bandwidth, weights=None) -> np.ndarray:
    """The mixture convolved with a Gaussian kernel of ``bandwidth`` (scalar or per dimension).

    Equals the same mixture with std sqrt(std² + h²): what a KDE with bandwidth h of infinitely
    many true samples would converge to, so comparable with ``density_from_samples``.
    """
    h = np.asarray(bandwidth, float)
    return _diag_mixture(points, centers, np.sqrt(float(std) ** 2 + h ** 2), weights)


# ------------------------------------------------------------------------- KDE
def scott_bandwidth(samples, grid: Grid) -> np.ndarray:
    """Scott's rule per dimension, h_j = sigma_j n^(-1/(dim+4)), floored at one grid cell.

    sigma_j = min(std, IQR / 1.349) (Silverman's robust scale) so a few far outliers of a
    diverging generator do not blur everything.  The floor keeps the kernel resolved on the
    grid (and non-zero for a collapsed generator).
    """
    x = _as_2d(samples, "samples")
    x = x[np.isfinite(x).all(axis=1)]
    sigma = np.zeros(x.shape[1])
    if len(x) > 1:
        sigma = x.std(axis=0)
        iqr = np.subtract(*np.percentile(x, [75, 25], axis=0)) / 1.349
        sigma = np.where(iqr > 0, np.minimum(sigma, iqr), sigma)
    h = sigma * max(len(x), 1) ** (-1.0 / (x.shape[1] + 4))
    return np.maximum(h, grid.spacing)


def _smooth_axis(a: np.ndarray, axis: int, h_cells: float) -> np.ndarray:
    """Convolve ``a`` along ``axis`` with a Gaussian of std ``h_cells`` (in cells), zero-padded.

    FFT with padding >= n + half-width, so nothing wraps around; mass that the kernel pushes
    past the grid edge is lost (as it would be for a grid that is too small).
    """
    n = a.shape[axis]
    half = int(min(np.ceil(5 * h_cells), n - 1))
    offs = np.arange(-half, half + 1)
    kern = np.exp(-0.5 * (offs / h_cells) ** 2)
    kern /= kern.sum()  # the discrete kernel keeps mass exactly
    nfft = 1 << int(np.ceil(np.log2(n + half + 1)))
    k = np.zeros(nfft)
    k[offs % nfft] = kern  # centre at 0, negative offsets wrapped to the end
    shape = [1] * a.ndim
    shape[axis] = nfft // 2 + 1
    spec = np.fft.rfft(a, n=nfft, axis=axis) * np.fft.rfft(k).reshape(shape)
    out = np.fft.irfft(spec, n=nfft, axis=axis)
    return np.take(out, np.arange(n), axis=axis)


def density_from_samples(samples, grid: Grid, bandwidth=None) -> np.ndarray:
    """Gaussian KDE of ``samples`` [N, dim] evaluated at the grid points (flat, length grid.n).

    Samples are linearly binned onto the grid, then smoothed by a separable FFT convolution
    (O(N + grid log grid), milliseconds for 10,000 samples on 200x200).  ``bandwidth`` is a
    scalar or per-dimension std in data units; None = ``scott_bandwidth``.  The result is
    normalised by the total number of samples, so it integrates to ~1 when the samples lie
    inside the grid; samples outside it (and non-finite ones) drop out and their mass is lost.
    """
    x = _as_2d(samples, "samples")
    if x.shape[1] != grid.dim:
        raise ValueError(f"samples are {x.shape[1]}-D but the grid is {grid.dim}-D")
    n_total = len(x)
    h = scott_bandwidth(x, grid) if bandwidth is None else np.broadcast_to(
        np.asarray(bandwidth, float), (grid.dim,))
    if n_total == 0:
        return np.zeros(grid.n)
    x = x[np.isfinite(x).all(axis=1)]
    spacing = grid.spacing
    # continuous index: cell centre i sits at lo + (i + 0.5) dx
    u = (x - np.array([lo for lo, _ in grid.bounds])) / spacing - 0.5
    base = np.floor(u).astype(np.int64)
    frac = u - base
    counts = np.zeros(grid.n)
    for corner in range(2 ** grid.dim):  # linear binning: share each sample among 2^dim cells
        idx, wgt, ok = np.zeros(len(x), np.int64), np.ones(len(x)), np.ones(len(x), bool)
        for j in range(grid.dim):
            bit = (corner >> j) & 1
            ij = base[:, j] + bit
            wgt = wgt * (frac[:, j] if bit else 1.0 - frac[:, j])
            ok &= (ij >= 0) & (ij < grid.shape[j])
            idx = idx * grid.shape[j] + ij
        counts += np.bincount(idx[ok], weights=wgt[ok], minlength=grid.n)
    dens = counts.reshape(grid.shape)
    for j in range(grid.dim):
        if h[j] > 0:
            dens = _smooth_axis(dens, j, h[j] / spacing[j])
    return np.clip(dens.ravel(), 0.0, None) / (n_total * grid.cell)


# ------------------------------------------------------------------ snapshot
DensityArg = Union[np.ndarray, Callable[[np.ndarray], np.ndarray]]


def theory_snapshot(samples, grid: Grid, p_data_on_grid: DensityArg, bandwidth=None) -> dict:
    """Everything the dashboard shows about the theorem, from generator samples.

    ``p_data_on_grid`` is either the data density on the grid (array, used as is) or a callable
    ``f(h) -> array`` giving it smoothed by the KDE bandwidth ``h`` (per-dimension array), e.g.
    ``lambda h: smoothed_mixture_density(grid.points, centers, std, h)`` — the fair choice for
    narrow mixtures (see the module docstring).  Scott's h follows the samples' spread, so for
    a JSD curve comparable across iterations pass one fixed ``bandwidth`` per dataset.  Returns ``p_g``,
    ``p_data`` (as used), ``d_star``, ``jsd``, ``value_at_optimum`` and ``bandwidth``.
    """
    h = scott_bandwidth(samples, grid) if bandwidth is None else np.broadcast_to(
        np.asarray(bandwidth, float), (grid.dim,))
    p_g = density_from_samples(samples, grid, h)
    p_data = np.asarray(p_data_on_grid(h) if callable(p_data_on_grid) else p_data_on_grid,
                        float).ravel()
    j = jsd(p_data, p_g, grid.cell)
    return {"p_g": p_g, "p_data": p_data, "d_star": optimal_discriminator(p_data, p_g),
            "jsd": j, "value_at_optimum": value_at_optimum(j), "bandwidth": np.array(h)}
