"""The layered snapshot figure (gan_core/views/snapshot_layers.py): layers per toggle, arrows, mesh."""
import numpy as np
import plotly.graph_objects as go
import pytest

from gan_core.runs.paths import snapshot_path
from gan_core.views import snapshot_layers as sf

NAMES = {"real": "real", "generated": "generated", "arrows": "G's push −∇ₓ loss",
         "manifold": "G's manifold (latent grid)"}


def snap2d(n=50, seed=0):
    rng = np.random.default_rng(seed)
    ax = np.linspace(-3, 3, 16)
    u = np.linspace(-2, 2, 5)
    return {"iteration": np.int64(10), "samples": rng.normal(size=(n, 2)).astype(np.float32),
            "grad_g": rng.normal(size=(n, 2)).astype(np.float32),
            "manifold": np.stack(np.meshgrid(u, u, indexing="ij"), -1).astype(np.float32),
            "grid_axes": np.array([ax, ax]), "d": rng.uniform(size=256), "d_star": rng.uniform(size=256)}


def snap1d(n=200):
    rng = np.random.default_rng(1)
    x = np.linspace(0, 8, 100)
    return {"samples": rng.normal(4, 1, size=(n, 1)).astype(np.float32), "grad_g": rng.normal(size=(n, 1)),
            "manifold": np.linspace(2, 6, 25).reshape(25, 1, 1), "grid_axes": x[None], "d": np.full(100, 0.4),
            "d_star": np.full(100, 0.5), "p_data": np.exp(-(x - 4) ** 2), "p_g": np.exp(-(x - 3) ** 2)}


def names(fig):
    return [t.name for t in fig.data]


def trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_all_layers_on_two_panels_and_svg_traces():
    s = snap2d()
    fig = sf.snapshot_figure(s, real=np.ones((30, 2)), show_d_star=True)
    heat = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert [h.name for h in heat] == ["D(x)", "D*(x)"] and heat[1].xaxis == "x2"
    for key in NAMES.values():
        assert key in names(fig)
    assert not any(isinstance(t, go.Scattergl) for t in fig.data)  # few points: SVG, no WebGL context
    assert trace(fig, NAMES["arrows"]).xaxis == "x" and trace(fig, NAMES["manifold"]).xaxis == "x"  # on D's panel
    assert names(fig).count("generated") == 2  # points on both panels, one legend entry
    assert sum(bool(t.showlegend) for t in fig.data if t.name == "generated") == 1


@pytest.mark.parametrize("off", ["real", "generated", "d", "d_star", "arrows", "manifold"])
def test_each_toggle_removes_its_layer(off):
    s = snap2d()
    on = dict(show_real=True, show_generated=True, show_d=True, show_d_star=True, show_arrows=True, show_manifold=True)
    on["show_" + off] = False
    fig = sf.snapshot_figure(s, real=np.ones((30, 2)), **on)
    heat = [t.name for t in fig.data if isinstance(t, go.Heatmap)]
    if off in ("d", "d_star"):
        assert heat == (["D*(x)"] if off == "d" else ["D(x)"])
        assert not any(getattr(t, "xaxis", None) == "x2" for t in fig.data)  # one panel
    else:
        assert heat == ["D(x)", "D*(x)"]
        assert NAMES[off] not in names(fig)


def test_missing_data_is_skipped_not_an_error():
    s = {"samples": np.zeros((10, 2), np.float32)}
    fig = sf.snapshot_figure(s, show_d_star=True)
    assert names(fig) == ["generated"]
    with pytest.raises(ValueError):
        sf.snapshot_figure({"samples": np.zeros((4, 1, 8, 8))})


def test_arrow_segments_count_direction_and_scale():
    s = snap2d(n=300)
    fig = sf.snapshot_figure(s, n_points=120, n_arrows=80)
    arrows = trace(fig, NAMES["arrows"])
    assert len(arrows.x) == 3 * 80 and sum(v is None for v in arrows.x) == 80
    start = np.array([arrows.x[0::3], arrows.y[0::3]], float).T
    end = np.array([arrows.x[1::3], arrows.y[1::3]], float).T
    np.testing.assert_allclose(start, s["samples"][:80], atol=1e-6)  # row i of grad_g belongs to sample i
    push = s["grad_g"][:80].astype(float)
    d = end - start
    cos = (d * push).sum(1) / np.linalg.norm(d, axis=1) / np.linalg.norm(push, axis=1)
    np.testing.assert_allclose(cos, 1, atol=1e-6)  # along the push
    unit = 6 / sf.ARROW_CELLS  # the grid spans 6 data units
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), sf.arrow_lengths(push, unit), rtol=1e-9)
    assert np.linalg.norm(d, axis=1).max() < sf.ARROW_MAX_UNITS * unit


def test_arrow_lengths_are_absolute_monotone_and_bounded():
    unit = 0.5
    push = np.array([[0.0, 0.0], [1e-4, 0], [0.1, 0], [0.2, 0], [1.0, 0], [4.0, 0]])
    L = sf.arrow_lengths(push, unit)
    assert L[0] == 0 and L[1] < 1e-3 * unit  # a vanishing push draws nothing
    assert np.all(np.diff(L) > 0) and L[-1] < sf.ARROW_MAX_UNITS * unit
    assert sf.arrow_lengths(np.array([[1e6, 0]]), unit)[0] <= sf.ARROW_MAX_UNITS * unit
    assert L[3] / L[2] == pytest.approx(2, rel=0.02)  # proportional for ordinary pushes
    np.testing.assert_allclose(sf.arrow_lengths(push, unit, scale=0.5), sf.arrow_lengths(push / 2, unit))


def test_mesh_is_rows_and_columns_as_polylines():
    m = np.random.default_rng(0).normal(size=(4, 6, 2))
    xs, ys = sf.mesh_lines(m)
    assert sum(v is None for v in xs) == 4 + 6 and len(xs) == 4 * (6 + 1) + 6 * (4 + 1)
    assert list(xs[:6]) == list(m[0, :, 0]) and list(xs[7:13]) == list(m[1, :, 0])  # rows first
    assert list(ys[28:32]) == list(m[:, 0, 1]) and xs[32] is None  # then columns
    xs1, _ = sf.mesh_lines(np.zeros((9, 1, 2)))  # a 1-D latent: one curve
    assert sum(v is None for v in xs1) == 1 and len(xs1) == 10


def test_many_points_switch_to_webgl():
    s = snap2d(n=sf.SVG_MAX_POINTS + 10)
    fig = sf.snapshot_figure(s, n_points=sf.SVG_MAX_POINTS + 10, show_arrows=False)
    assert isinstance(trace(fig, "generated"), go.Scattergl)


def test_one_dimensional_figure_has_arrows_under_figure1():
    s = snap1d()
    fig = sf.snapshot_figure(s, show_d_star=True)
    top = {t.name for t in fig.data if t.yaxis in ("y", "y2")}
    assert {"p_data", "p_g (generator)", "D(x), learned", "D*(x) = p_data/(p_data+p_g)"} <= top
    arrows = trace(fig, NAMES["arrows"])
    assert arrows.yaxis == "y3" and len(arrows.x) == 3 * sf.ARROWS_1D  # beneath, on the lower panel
    assert all(y is None or y > 1 for y in arrows.y)  # above the x line
    assert set(np.array(arrows.y[1::3]) - np.array(arrows.y[0::3])) == {0}  # horizontal
    mapping = trace(fig, "x = G(z) (latent grid)")
    assert list(mapping.y[:3]) == [0.0, 1.0, None] and mapping.x[1] == pytest.approx(2.0)  # z line → x = G(z)
    off = sf.snapshot_figure(s, show_d=False, show_arrows=False, show_manifold=False, show_real=False)
    assert {"D(x), learned", "p_data", NAMES["arrows"], "x = G(z) (latent grid)"}.isdisjoint(names(off))


def test_figure_from_a_real_snapshot(tmp_path):
    import torch

    from gan_core.config import TrainConfig
    from gan_core.data.datasets import load_dataset
    from gan_core.engine.models import build_models
    from gan_core.engine.snapshots import Snapshotter
    cfg = TrainConfig(dataset="ring8", iterations=10, device="cpu", hidden=16, depth=2, snapshot_samples=400).resolved()
    ds = load_dataset(cfg)
    G, D = build_models(cfg, ds)
    Snapshotter(cfg, ds, torch.device("cpu"), tmp_path).take(G, D, 0)
    with np.load(snapshot_path(tmp_path, 0)) as z:
        fig = sf.snapshot_figure(dict(z), ds.sample(300), show_d_star=True, n_points=300, n_arrows=100)
    assert len(trace(fig, NAMES["arrows"]).x) == 300
    fig.to_json()  # serialisable as the page will send it
