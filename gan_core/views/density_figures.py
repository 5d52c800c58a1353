"""Figures of a snapshot of data whose density is known: the paper's Figure 1 (1-D: p_data, p_g, D and D*)
and the learned D beside D* = p_data/(p_data + p_g) over the plane (2-D). The Runs page draws points
snapshots with the layered figure (gan_core.views.snapshot_layers); these are for the other snapshots
with a density grid. No streamlit, no torch.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gan_core.views.plotting import FAKE_COLOR, REAL_COLOR, apply_layout, finite_rows, scatter_type


def figure1(snap: dict, title: str = "") -> go.Figure:
    """The paper's Figure 1: densities on the left axis, D and D* on the right one in [0, 1]."""
    x = np.asarray(snap["grid_axes"], float).reshape(-1)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for key, name, style, right in (("p_data", "p_data", dict(color="black", dash="dot", width=2), False),
                                    ("p_g", "p_g (generator)", dict(color="#2ca02c", width=2), False),
                                    ("d", "D(x), learned", dict(color="#1f77b4", dash="dash", width=2), True),
                                    ("d_star", "D*(x) = p_data/(p_data+p_g)", dict(color="#ff7f0e", width=1.5), True)):
        fig.add_trace(go.Scatter(x=x, y=np.asarray(snap[key], float), name=name, mode="lines", line=style),
                      secondary_y=right)
    fig.add_trace(go.Scatter(x=[x[0], x[-1]], y=[0.5, 0.5], name="1/2", mode="lines", hoverinfo="skip",
                             line=dict(color="#888", dash="dash", width=1)), secondary_y=True)
    apply_layout(fig, title or "p_data, p_g, D and D*", "density", height=380, xtitle="x")
    fig.update_yaxes(title_text="D(x)", range=[0, 1.02], secondary_y=True)
    return fig


def _heat_traces(snap: dict, which: str, real: Optional[np.ndarray], show_samples: bool, n_points: int,
                 legend: bool = True, colorbar: bool = True) -> list:
    """D (which "d") or D* ("d_star") over the plane as a heat map, real and generated points on top (GAN Lab
    style): a few hundred of each (SVG markers: every one is a DOM node the browser lays out)."""
    ax, ay = (np.asarray(a, float) for a in snap["grid_axes"][:2])
    z = np.asarray(snap[which], float).reshape(len(ax), len(ay)).T  # grid's first index is x; rows of z are y
    label = "D(x)" if which == "d" else "D*(x)"
    out = [go.Heatmap(x=ax.astype(np.float32), y=ay.astype(np.float32), z=z.astype(np.float32), zmin=0, zmax=1,
                      colorscale="PRGn", name=label, showscale=colorbar,
                      colorbar=dict(title=dict(text="D"), len=0.8),
                      hovertemplate="x=%{x:.2f}, y=%{y:.2f}<br>" + label + "=%{z:.3f}<extra></extra>")]
    r = finite_rows(real, n_points)
    if r is not None and r.shape[1] >= 2:
        out.append(scatter_type(len(r))(x=r[:, 0], y=r[:, 1], mode="markers", name="real", legendgroup="real",
                                        showlegend=legend, marker=dict(size=4, color=REAL_COLOR), hoverinfo="skip"))
    g = finite_rows(snap.get("samples"), n_points) if show_samples else None
    if g is not None and g.shape[1] >= 2:
        out.append(scatter_type(len(g))(x=g[:, 0], y=g[:, 1], mode="markers", name="generated",
                                        legendgroup="generated", showlegend=legend,
                                        marker=dict(size=4, color=FAKE_COLOR), hoverinfo="skip"))
    return out


def d_pair_figure(snap: dict, real: Optional[np.ndarray] = None, title: str = "", n_points: int = 300) -> go.Figure:
    """The learned D(x) beside D*(x) = p_data/(p_data + p_g) (eq. 7), as one figure of two panels sharing
    one colour scale (one plot for the browser to draw, not two)."""
    ax, ay = (np.asarray(a, float) for a in snap["grid_axes"][:2])
    fig = make_subplots(rows=1, cols=2, subplot_titles=["learned D(x)", "D*(x) = p_data/(p_data + p_g), eq. (7)"],
                        horizontal_spacing=0.08)
    for c, which in ((1, "d"), (2, "d_star")):
        for t in _heat_traces(snap, which, real, True, n_points, legend=c == 1, colorbar=c == 2):
            fig.add_trace(t, row=1, col=c)
    apply_layout(fig, title, "x₂", height=440, xtitle="x₁")
    fig.update_xaxes(range=[ax[0], ax[-1]])
    fig.update_yaxes(range=[ay[0], ay[-1]])
    fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", scaleratio=1, row=1, col=2)
    for a in fig.layout.annotations[:2]:
        a.font = dict(size=13)
    return fig
