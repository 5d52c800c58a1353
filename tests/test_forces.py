"""The forces of the game (gan_core/theory/forces.py) and their place in the snapshots."""
import numpy as np
import pytest
import torch
from torch import nn

from gan_core.config import TrainConfig
from gan_core.data.datasets import load_dataset
from gan_core.engine.models import MLPDiscriminator, MLPGenerator, build_models
from gan_core.engine.objective import generator_loss
from gan_core.engine.snapshots import MANIFOLD_LINES, SHOWN_SAMPLES, Snapshotter
from gan_core.runs.paths import snapshot_path
from gan_core.theory import forces

OBJECTIVES = ("minimax", "nonsaturating")


def small_d(dim=2, seed=0):
    torch.manual_seed(seed)
    return MLPDiscriminator(dim, hidden=8, depth=2, shift=torch.full((dim,), 0.3), scale=torch.full((dim,), 1.5))


class LinearLogit(nn.Module):
    """logit(x) = w·x + b: ∇ₓ logit = w everywhere, so the pushes are known in closed form."""

    def __init__(self, w, b=0.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float64))

    def forward(self, x):
        return x @ self.w + self.b


@pytest.mark.parametrize("g_loss", OBJECTIVES)
@pytest.mark.parametrize("dim", [1, 2])
def test_push_matches_a_per_sample_autograd_loop(g_loss, dim):
    D = small_d(dim)
    x = torch.randn(40, dim, generator=torch.Generator().manual_seed(1)) * 2
    push = forces.generator_push(D, x, g_loss)
    assert push.shape == (40, dim)
    assert all(p.grad is None for p in D.parameters())  # D's parameters untouched
    expected = []
    for i in range(len(x)):  # each sample alone, the loss written out from its definition
        xi = x[i:i + 1].clone().requires_grad_(True)
        d = torch.sigmoid(D(xi))
        loss = torch.log(1 - d) if g_loss == "minimax" else -torch.log(d)
        (g,) = torch.autograd.grad(loss.sum(), xi)
        expected.append(-g[0])
    torch.testing.assert_close(push, torch.stack(expected), atol=1e-5, rtol=1e-5)


def test_per_sample_loss_averages_to_the_training_loss():
    logits = torch.linspace(-30, 30, 61)
    for g_loss in OBJECTIVES:
        torch.testing.assert_close(forces.per_sample_generator_loss(logits, g_loss).mean(),
                                   generator_loss(logits, g_loss))
    with pytest.raises(ValueError):
        forces.per_sample_generator_loss(logits, "wasserstein")


def test_nonsaturating_push_is_minimax_push_scaled_by_one_minus_d_over_d():
    D = small_d(2, seed=3)
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(2)) * 3
    mm, ns = (forces.generator_push(D, x, g) for g in OBJECTIVES)
    with torch.no_grad():
        d = torch.sigmoid(D(x))
    torch.testing.assert_close(ns, mm * ((1 - d) / d)[:, None], atol=1e-5, rtol=1e-4)
    # same direction (up D's logit), so a small step along either push raises D(x)
    with torch.no_grad():
        for push in (mm, ns):
            step = 1e-3 * push / push.norm(dim=1, keepdim=True)
            assert (D(x + step) > D(x)).all()


def test_minimax_vanishes_where_d_rejects_and_nonsaturating_is_strongest_there():
    w = [3.0, -1.0]
    D = LinearLogit(w)  # D ≈ 0 far left, ≈ 1 far right
    x = torch.tensor([[-5.0, 0.0], [0.0, 0.0], [5.0, 0.0]], dtype=torch.float64)
    d = torch.sigmoid(D(x)).detach()
    mm, ns = (forces.generator_push(D, x, g) for g in OBJECTIVES)
    w_t = torch.tensor(w, dtype=torch.float64)
    torch.testing.assert_close(mm, d[:, None] * w_t)          # minimax: D(x) · ∇logit
    torch.testing.assert_close(ns, (1 - d)[:, None] * w_t)    # non-saturating: (1 − D(x)) · ∇logit
    size_mm, size_ns = mm.norm(dim=1), ns.norm(dim=1)
    assert d[0] < 1e-6 and size_mm[0] < 1e-5 and size_ns[0] > 3.16 - 1e-4  # rejected sample: |w| = √10
    assert size_ns[0] > 1e5 * size_mm[0]
    assert size_ns.argmax() == 0 and size_mm.argmax() == 2          # strongest where D ≈ 0 vs where D ≈ 1
    assert size_mm[1] == pytest.approx(size_ns[1])                  # D = 1/2: the two agree


def test_manifold_shapes_and_the_latent_slice():
    torch.manual_seed(0)
    G2 = MLPGenerator(2, 2, hidden=8, depth=2, norm="batch")
    m = forces.manifold(G2, 2, "normal", n=9)
    assert m.shape == (9, 9, 2)
    G8 = MLPGenerator(8, 2, hidden=8, depth=2)
    m8 = forces.manifold(G8, 8, "uniform", n=7)
    assert m8.shape == (7, 7, 2)
    z = forces.latent_grid(8, "uniform", 7)
    assert z.shape == (7, 7, 8) and (z[..., 2:] == 0).all()
    assert z[0, 0, :2].tolist() == [-1, -1] and z[-1, 3, :2].tolist() == [1, 0]
    torch.testing.assert_close(m8, G8(z.reshape(-1, 8)).reshape(7, 7, 2).detach())
    assert forces.latent_grid(2, "normal", 5)[..., 0].max() == 2.0
    assert forces.manifold(MLPGenerator(1, 1, hidden=8, depth=2), 1, "normal", n=11).shape == (11, 1, 1)
    # a BatchNorm G in training mode keeps its running statistics and its mode
    bn = G2.net[1]
    before = bn.running_mean.clone()
    G2.train()
    forces.manifold(G2, 2, "normal", n=9)
    assert G2.training and torch.equal(bn.running_mean, before)


def _snapshot(tmp_path, dataset, g_loss=None, samples=300, **kw):
    cfg = TrainConfig(dataset=dataset, iterations=100, device="cpu", hidden=16, depth=2, snapshot_samples=samples,
                      **kw).resolved()
    ds = load_dataset(cfg)
    torch.manual_seed(0)
    G, D = build_models(cfg, ds)
    snap = Snapshotter(cfg, ds, torch.device("cpu"), tmp_path)
    snap.take(G, D, 10, g_loss=g_loss)
    with np.load(snapshot_path(tmp_path, 10)) as z:
        return dict(z), G, D, cfg


def test_snapshot_keys_ring8(tmp_path):
    s, G, D, cfg = _snapshot(tmp_path, "ring8", samples=SHOWN_SAMPLES + 200)
    assert s["samples"].shape == (SHOWN_SAMPLES + 200, 2)
    assert s["grad_g"].shape == (SHOWN_SAMPLES, 2) and s["grad_g"].dtype == np.float32  # the shown prefix
    assert s["manifold"].shape == (MANIFOLD_LINES, MANIFOLD_LINES, 2)
    assert G.training and D.training  # modes restored
    D.eval()
    x = torch.from_numpy(s["samples"][:SHOWN_SAMPLES])
    np.testing.assert_allclose(s["grad_g"], forces.generator_push(D, x, cfg.g_loss).numpy(), atol=1e-6)
    assert np.isfinite(s["manifold"]).all() and {"d", "d_star", "grid_axes"} <= set(s)


def test_snapshot_uses_the_objective_given_at_that_iteration(tmp_path):
    ns, *_ = _snapshot(tmp_path / "a", "ring8")  # the config's default: non-saturating
    mm, G, D, cfg = _snapshot(tmp_path / "b", "ring8", g_loss="minimax")
    assert cfg.g_loss == "nonsaturating"
    d = torch.sigmoid(D(torch.from_numpy(mm["samples"]))).detach().numpy()[:, None]
    np.testing.assert_allclose(ns["grad_g"], mm["grad_g"] * (1 - d) / d, rtol=1e-3, atol=1e-6)


def test_snapshot_keys_gaussian1d(tmp_path):
    s, *_ = _snapshot(tmp_path, "gaussian1d")
    assert s["grad_g"].shape == (300, 1)
    assert s["manifold"].shape == (MANIFOLD_LINES, 1, 1)  # the default latent of gaussian1d is 1-D


def test_snapshot_has_no_forces_for_images(tmp_path):
    s, *_ = _snapshot(tmp_path, "digits", base_channels=8)
    assert "grad_g" not in s and "manifold" not in s and "d" not in s


def test_snapshot_of_user_points_has_d_and_forces_but_no_d_star(tmp_path):
    rng = np.random.default_rng(0)
    csv = tmp_path / "pts.csv"
    np.savetxt(csv, rng.normal(size=(200, 2)), delimiter=",", header="x1,x2", comments="")
    s, *_ = _snapshot(tmp_path, str(csv), latent_dim=8)
    assert s["grad_g"].shape == (300, 2) and s["manifold"].shape == (MANIFOLD_LINES, MANIFOLD_LINES, 2)
    assert s["d"].shape == (128 * 128,) and s["grid_axes"].shape == (2, 128) and "d_star" not in s


def test_d_on_the_grid_in_blocks_is_d_on_the_whole_grid(tmp_path):
    from gan_core.engine import snapshots
    from gan_core.engine.models import pointwise_logit
    s, G, D, cfg = _snapshot(tmp_path, "ring8")
    D.eval()
    grid = torch.as_tensor(np.stack(np.meshgrid(*s["grid_axes"], indexing="ij"), -1).reshape(-1, 2),
                           dtype=torch.float32)
    assert len(grid) > snapshots.GRID_BLOCK  # the snapshot's grid was evaluated in several blocks
    seen = []
    blocked = snapshots.in_blocks(lambda g: seen.append(len(g)) or pointwise_logit(D, g), grid)
    assert max(seen) <= snapshots.GRID_BLOCK and sum(seen) == len(grid)
    with torch.no_grad():
        whole = torch.sigmoid(pointwise_logit(D, grid))
    np.testing.assert_allclose(torch.sigmoid(blocked).detach().numpy(), whole.numpy(), atol=1e-6)
    # the map the snapshot stored (float16) is that D, point for point in the grid's order
    np.testing.assert_allclose(s["d"].astype(np.float32).reshape(-1), whole.numpy(), atol=2e-3)
