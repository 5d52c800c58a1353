"""What every figure of the dashboard shares: its colours, the frame (title top left, the legend in its own
band at the bottom), the lean plotly_white template, SVG or WebGL for a point trace, and the finite points
a figure draws. No streamlit, no torch.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio

LOG2 = math.log(2.0)
V_OPTIMUM = -2.0 * LOG2  # V(G, D*) at p_g = p_data, eqs. (8)–(21)
PALETTE = px.colors.qualitative.Plotly  # one colour per run when runs overlay
REAL_COLOR, FAKE_COLOR = "#1b7837", "#762a83"  # GAN Lab's green (real) and purple (generated)

GL_POINTS = 5000  # WebGL (one context per figure, browsers keep 8–16) only for clouds larger than this


def scatter_name(n_points: int) -> str:
    """SVG "scatter" for lines and clouds up to GL_POINTS points; "scattergl" only for bigger clouds."""
    return "scattergl" if n_points > GL_POINTS else "scatter"


def scatter_type(n_points: int):
    return go.Scattergl if scatter_name(n_points) == "scattergl" else go.Scatter


def _legend_rows(names: list, width_px: int = 560) -> int:
    """Rows the horizontal legend takes for these trace names (~7 px a character, 40 px a swatch)."""
    if not names:
        return 0
    return max(1, math.ceil(sum(40 + 7 * len(n) for n in names) / width_px))


def _frame(names: list, title: str, height: int = 340) -> dict:
    """Title top left; the legend in its own band at the bottom of the figure, below the x-axis title
    (container coordinates, with the bottom margin grown for its rows), so the two never overlap.
    names: the traces' legend entries."""
    rows = _legend_rows(names)
    return dict(title=dict(text=title, x=0.01, font=dict(size=15)),
                height=height + 22 * max(0, rows - 1), margin=dict(l=10, r=10, t=40, b=48 + 22 * rows),
                legend=dict(orientation="h", yref="container", y=0.0, yanchor="bottom", xanchor="left", x=0.0),
                uirevision="keep")  # a refresh with new rows keeps the user's zoom


def apply_layout(fig: go.Figure, title: str, ytitle: str, height: int = 340, xtitle: str = "iteration") -> go.Figure:
    """The frame on a go.Figure, with plotly_white whole (the snapshot figures' heat maps use its trace defaults)."""
    fig.update_layout(**_frame([t.name for t in fig.data if t.name and t.showlegend is not False], title, height),
                      template="plotly_white")
    fig.update_xaxes(title_text=xtitle, title_standoff=6)
    fig.update_yaxes(title_text=ytitle)
    return fig


# The line charts (Ṽ, D and the losses, quality) and the sample clouds are built as plotly's figure JSON and
# made a go.Figure once: go.Figure's incremental methods (add_trace, update_layout, add_hline, make_subplots)
# validate and deep-copy at every step, several times the cost of building the JSON once (bench.dashboard_refresh),
# server time that every live refresh, a new tab and a new seed on the Generate page wait for.
# Their template is plotly_white's layout half: its other half, per-trace defaults for some 40 trace types,
# changes nothing in these charts but was a third of each one's JSON and a deep copy per figure.
LEAN_TEMPLATE = go.layout.Template(layout=pio.templates["plotly_white"].layout).to_plotly_json()


def layout_json(traces: list[dict], title: str, height: int = 340) -> dict:
    """The frame as a layout dict, for figures built as JSON."""
    names = [t["name"] for t in traces if t.get("name") and t.get("showlegend") is not False]
    return dict(_frame(names, title, height), template=LEAN_TEMPLATE, shapes=[], annotations=[])


def finite_rows(a: Optional[np.ndarray], n: int) -> Optional[np.ndarray]:
    """a as [rows, features], its rows with a non-finite value left out, then the first n (None stays None)."""
    if a is None:
        return None
    a = np.asarray(a, float).reshape(len(a), -1)
    return a[np.isfinite(a).all(1)][:n]
