"""One figure for a points snapshot, with toggles: real and generated points, D and D* heat maps, the
push G's objective gives each generated point (arrows, `grad_g`) and G's manifold (`manifold`).

One figure rather than many keeps a page under the browsers' WebGL-context limit: heat maps are images,
and point, arrow and mesh traces are SVG (go.Scatter) unless a trace has more than SVG_MAX_POINTS points.
Arrows share one absolute scale, so a minimax and a non-saturating run, or two iterations of one run, can
be compared by eye: an arrow is |push| / arrow_scale arrow units long (an arrow unit is the plotted extent
/ ARROW_CELLS; arrow_scale defaults to ARROW_SCALE), proportional for ordinary pushes and squashed
smoothly to at most ARROW_MAX_UNITS for the very large ones a sharp D gives. A vanishing push (minimax
where D(x) ≈ 0) draws nothing but its head; hovering a head gives |push|.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gan_core.views.plotting import FAKE_COLOR, REAL_COLOR, apply_layout, finite_rows

ARROW_COLOR, MESH_COLOR = "#e7298a", "rgba(40, 40, 40, 0.45)"  # GAN Lab's pink arrows; a grey mesh
SVG_MAX_POINTS = 2000   # beyond this a point trace becomes WebGL (Scattergl)
ARROW_CELLS = 24        # the arrow unit is the plotted extent / ARROW_CELLS
ARROW_SCALE = 0.25      # |push| (loss units per data unit) drawn one arrow unit long
ARROW_MAX_UNITS = 4.0   # the longest arrow, in arrow units
N_ARROWS = 250          # arrows drawn on the first shown samples (more only clutter the plane)
ARROWS_1D = 40          # arrows under Figure 1 (at evenly spaced quantiles of the samples)


def _scatter(n: int, **kw):
    return go.Scatter(**kw) if n <= SVG_MAX_POINTS else go.Scattergl(**kw)


def arrow_lengths(push: np.ndarray, unit: float, scale: float = ARROW_SCALE) -> np.ndarray:
    """Display length (data units) of each push [n, d]: unit·|push|/scale for ordinary pushes (tanh-squashed,
    so proportional within a few percent up to about one unit), below ARROW_MAX_UNITS·unit always."""
    size = np.linalg.norm(push, axis=1)
    return unit * ARROW_MAX_UNITS * np.tanh(size / scale / ARROW_MAX_UNITS)


def arrow_segments(start: np.ndarray, push: np.ndarray, unit: float,
                   scale: float = ARROW_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """x and y of None-separated segments start → start + length·direction, for one line trace.
    start, push: [n, 2]. Returns two object arrays of 3n entries (start, end, None per arrow)."""
    size = np.linalg.norm(push, axis=1, keepdims=True)
    direction = np.divide(push, size, out=np.zeros_like(push), where=size > 0)
    end = start + direction * arrow_lengths(push, unit, scale)[:, None]
    xs, ys = np.full((len(start), 3), None, object), np.full((len(start), 3), None, object)
    xs[:, 0], xs[:, 1], ys[:, 0], ys[:, 1] = start[:, 0], end[:, 0], start[:, 1], end[:, 1]
    return xs.ravel(), ys.ravel()


def _head_text(push: np.ndarray) -> list:
    size = np.linalg.norm(push, axis=1)
    return [t for s in size for t in ("", f"|push| = {s:.3g}", "")]


def mesh_lines(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of the manifold mesh [gx, gy, ≥2] as None-separated polylines: every row and column."""
    m = np.asarray(m, float)[..., :2]
    lines = [m[i] for i in range(m.shape[0])] if m.shape[1] > 1 else []
    lines += [m[:, j] for j in range(m.shape[1])]
    pts = np.concatenate([np.vstack([ln, np.full((1, 2), np.nan)]) for ln in lines])
    xs, ys = pts[:, 0].astype(object), pts[:, 1].astype(object)
    xs[np.isnan(pts[:, 0])] = None
    ys[np.isnan(pts[:, 1])] = None
    return xs, ys


def shown(snap: dict, n_points: int) -> tuple[np.ndarray, Optional[tuple[np.ndarray, np.ndarray]]]:
    """The first n_points generated samples that are finite, and (starts, pushes) for those of them whose
    push is stored (grad_g row i belongs to samples row i), or None without grad_g."""
    x = np.asarray(snap["samples"], float).reshape(len(snap["samples"]), -1)[:n_points]
    ok = np.isfinite(x).all(1)
    arrows = None
    if "grad_g" in snap:
        p = np.asarray(snap["grad_g"], float).reshape(len(snap["grad_g"]), -1)[:n_points]
        k = min(len(p), len(x))
        pair = ok[:k] & np.isfinite(p[:k]).all(1)
        arrows = (x[:k][pair], p[:k][pair])
    return x[ok], arrows


def _arrow_trace(xs, ys, push: np.ndarray, showlegend: bool = True):
    # arrowheads: a marker on each segment's end, turned along the segment (angleref "previous")
    size = np.tile([0, 7, 0], len(push))
    return _scatter(len(xs), x=xs, y=ys, mode="lines+markers", name="G's push −∇ₓ loss", showlegend=showlegend,
                    line=dict(color=ARROW_COLOR, width=1.3), text=_head_text(push), hoverinfo="text",
                    marker=dict(symbol="arrow", angleref="previous", size=size, color=ARROW_COLOR))


def snapshot_figure(snap: dict, real: Optional[np.ndarray] = None, *, show_real: bool = True,
                    show_generated: bool = True, show_d: bool = True, show_d_star: bool = False,
                    show_arrows: bool = True, show_manifold: bool = True, n_points: int = 500,
                    n_arrows: int = N_ARROWS, arrow_scale: float = ARROW_SCALE, title: str = "") -> go.Figure:
    """The combined snapshot view. 1-D snapshots get the paper's Figure 1 with the arrows (and G's map
    z → x) beneath it; 2-D ones a plane with the chosen layers; with both D and D* on, two panels side by
    side (the arrows and the mesh on D's). A toggle whose data the snapshot lacks is ignored.
    Give several figures the same arrow_scale to compare them (the default is fixed, not fitted)."""
    samples = np.asarray(snap["samples"])
    if samples.ndim != 2:
        raise ValueError("snapshot_figure draws points snapshots; images have their own figure")
    kw = dict(show_real=show_real, show_generated=show_generated, show_d=show_d, show_d_star=show_d_star,
              show_arrows=show_arrows, show_manifold=show_manifold, n_points=n_points, n_arrows=n_arrows,
              arrow_scale=arrow_scale, title=title)
    return _figure_1d(snap, **kw) if samples.shape[1] == 1 else _figure_2d(snap, real, **kw)


# --- 2-D ----------------------------------------------------------------------------------------------

def _figure_2d(snap, real, *, show_real, show_generated, show_d, show_d_star, show_arrows, show_manifold,
               n_points, n_arrows, arrow_scale, title) -> go.Figure:
    maps = [k for k, on in (("d", show_d), ("d_star", show_d_star)) if on and k in snap and "grid_axes" in snap]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.06,  # same ranges, each panel square
                        subplot_titles=(_d_name(snap, "learned D(x)"), "D*(x), eq. (7)")) \
        if len(maps) == 2 else go.Figure()
    cols = range(1, len(maps) + 1) if len(maps) == 2 else [None]
    at = lambda col: dict(row=1, col=col) if col else {}  # noqa: E731
    gen, arrows = shown(snap, n_points)
    r = finite_rows(real, n_points) if show_real and real is not None else None
    for i, col in enumerate(cols):
        if maps:
            which = maps[i]
            ax, ay = (np.asarray(a, float) for a in snap["grid_axes"][:2])
            # rows of z are y; float32: half the bytes of every redraw, far finer than the colour scale
            z = np.asarray(snap[which], np.float32).reshape(len(ax), len(ay)).T
            label = _d_name(snap, "D(x)") if which == "d" else "D*(x)"
            fig.add_trace(go.Heatmap(x=ax, y=ay, z=z, zmin=0, zmax=1, colorscale="PRGn", name=label,
                                     showscale=i == 0, colorbar=dict(title=dict(text="D"), len=0.8),
                                     hovertemplate="x=%{x:.2f}, y=%{y:.2f}<br>" + label + "=%{z:.3f}<extra></extra>"),
                          **at(col))
        first = i == 0
        if first and show_manifold and "manifold" in snap:
            mx, my = mesh_lines(snap["manifold"])
            fig.add_trace(_scatter(len(mx), x=mx, y=my, mode="lines", name="G's manifold (latent grid)",
                                   line=dict(color=MESH_COLOR, width=1), hoverinfo="skip"), **at(col))
        if r is not None and r.shape[1] >= 2:
            fig.add_trace(_scatter(len(r), x=r[:, 0], y=r[:, 1], mode="markers", name="real", legendgroup="real",
                                   showlegend=first,
                                   marker=dict(size=4, color=REAL_COLOR, line=dict(width=0.5, color="white"))),
                          **at(col))
        if show_generated and gen.shape[1] >= 2:
            fig.add_trace(_scatter(len(gen), x=gen[:, 0], y=gen[:, 1], mode="markers", name="generated",
                                   legendgroup="generated", showlegend=first,
                                   marker=dict(size=4, color=FAKE_COLOR, line=dict(width=0.5, color="white"))),
                          **at(col))
        if first and show_arrows and arrows is not None and len(arrows[0]) and arrows[0].shape[1] >= 2:
            start, push = arrows[0][:n_arrows, :2], arrows[1][:n_arrows, :2]
            xs, ys = arrow_segments(start, push, _unit_2d(snap, gen), arrow_scale)
            fig.add_trace(_arrow_trace(xs, ys, push), **at(col))
    apply_layout(fig, title or "snapshot", "x₂", height=540)
    fig.update_xaxes(title_text="x₁")
    lo, hi = _extent_2d(snap, gen)
    fig.update_xaxes(range=[lo[0], hi[0]])
    fig.update_yaxes(range=[lo[1], hi[1]])
    fig.update_xaxes(constrain="domain")
    for col in cols:  # equal units on both axes, in every panel
        fig.update_yaxes(scaleanchor="x" if col in (None, 1) else "x2", scaleratio=1, constrain="domain", **at(col))
    return fig


def _extent_2d(snap, gen) -> tuple[np.ndarray, np.ndarray]:
    if "grid_axes" in snap:
        ax = [np.asarray(a, float) for a in snap["grid_axes"][:2]]
        return np.array([a[0] for a in ax]), np.array([a[-1] for a in ax])
    pts = gen[:, :2] if len(gen) else np.zeros((1, 2))
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.1 * (hi - lo).max() + 0.5
    return lo - pad, hi + pad


def _unit_2d(snap, gen) -> float:
    lo, hi = _extent_2d(snap, gen)
    return float((hi - lo).max()) / ARROW_CELLS


def _d_name(snap, plain: str) -> str:
    """The learned D's label: a packed D (PacGAN) is shown on (x, …, x), and says so."""
    return str(snap["d_label"]) if "d_label" in snap else plain


# --- 1-D ----------------------------------------------------------------------------------------------

FIG1 = (("p_data", "p_data", dict(color="black", dash="dot", width=2), False, "real"),  # as density_figures.figure1
        ("p_g", "p_g (generator)", dict(color="#2ca02c", width=2), False, "generated"),
        ("d", "D(x), learned", dict(color="#1f77b4", dash="dash", width=2), True, "d"),
        ("d_star", "D*(x) = p_data/(p_data+p_g)", dict(color="#ff7f0e", width=1.5), True, "d_star"))


def _figure_1d(snap, *, show_real, show_generated, show_d, show_d_star, show_arrows, show_manifold, n_points,
               n_arrows, arrow_scale, title) -> go.Figure:
    """Top: Figure 1 (densities, D, D*). Bottom, as in the paper's figure: the z line (y = 0) mapped by G
    onto the x line (y = 1), the generated samples on the x line, and above them the push arrows."""
    on = dict(real=show_real, generated=show_generated, d=show_d, d_star=show_d_star)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.68, 0.32],
                        specs=[[{"secondary_y": True}], [{}]])
    gen, arrows = shown(snap, n_points)
    gen = gen[:, 0]
    if "grid_axes" in snap:
        x = np.asarray(snap["grid_axes"], float).reshape(-1)
        lo, hi = float(x[0]), float(x[-1])
        for key, name, style, right, toggle in FIG1:
            if on[toggle] and key in snap:
                fig.add_trace(go.Scatter(x=x, y=np.asarray(snap[key], float), mode="lines", line=style,
                                         name=_d_name(snap, name) if key == "d" else name),
                              row=1, col=1, secondary_y=right)
        if show_d or show_d_star:
            fig.add_trace(go.Scatter(x=[lo, hi], y=[0.5, 0.5], name="1/2", mode="lines", hoverinfo="skip",
                                     line=dict(color="#888", dash="dash", width=1)), row=1, col=1, secondary_y=True)
    else:
        pad = 0.1 * float(np.ptp(gen)) + 0.5 if len(gen) else 1.0
        lo, hi = (float(gen.min()) - pad, float(gen.max()) + pad) if len(gen) else (-1.0, 1.0)
    for y in (0.0, 1.0):  # the z line and the x line
        fig.add_trace(go.Scatter(x=[lo, hi], y=[y, y], mode="lines", line=dict(color="#bbb", width=1),
                                 showlegend=False, hoverinfo="skip"), row=2, col=1)
    if show_manifold and "manifold" in snap:
        m = np.asarray(snap["manifold"], float)
        gx_ = m[:, m.shape[1] // 2, 0]  # the latent line through z = 0 (all of it for a 1-D latent)
        zpos = lo + (np.arange(len(gx_)) + 0.5) / len(gx_) * (hi - lo)  # regular latent grid, placed across x
        xs = np.full((len(gx_), 3), None, object)
        ys = np.full((len(gx_), 3), None, object)
        xs[:, 0], xs[:, 1], ys[:, 0], ys[:, 1] = zpos, gx_, 0.0, 1.0
        fig.add_trace(go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="lines", name="x = G(z) (latent grid)",
                                 line=dict(color=MESH_COLOR, width=1), hoverinfo="skip"), row=2, col=1)
    if show_generated and len(gen):
        fig.add_trace(go.Scatter(x=gen, y=np.ones_like(gen), mode="markers", name="generated samples",
                                 marker=dict(size=5, color=FAKE_COLOR, opacity=0.4, symbol="line-ns-open"),
                                 hoverinfo="skip"), row=2, col=1)
    if show_arrows and arrows is not None and len(arrows[0]):
        ax_, push = arrows[0][:, 0], arrows[1][:, 0]
        n = len(ax_)
        pick = np.argsort(ax_)[np.unique(np.linspace(0, n - 1, min(ARROWS_1D, n_arrows, n)).round().astype(int))]
        start = np.stack([ax_[pick], 1.15 + 0.15 * (np.arange(len(pick)) % 3)], 1)  # three rows: less overlap
        vec = np.stack([push[pick], np.zeros(len(pick))], 1)
        xs, ys = arrow_segments(start, vec, (hi - lo) / ARROW_CELLS, arrow_scale)
        fig.add_trace(_arrow_trace(xs, ys, vec), row=2, col=1)
    apply_layout(fig, title or "p_data, p_g, D and D*; G's push beneath", "density", height=520)
    fig.update_xaxes(title_text="", row=1, col=1)
    fig.update_xaxes(title_text="x", range=[lo, hi], row=2, col=1)
    fig.update_yaxes(title_text="D(x)", range=[0, 1.02], tickmode="linear", tick0=0, dtick=0.25, showgrid=False,
                     row=1, col=1, secondary_y=True)
    fig.update_yaxes(title_text="", range=[-0.1, 1.6], tickvals=[0, 1], ticktext=["z", "x"], row=2, col=1)
    return fig
