"""What the dashboard shows, without streamlit and without torch (the Generate page uses it too).

The series come from gan_core.views.series (read incrementally, thinned); the figures (plotly) show Ṽ
against −2 log 2 and V(G, D*), D(x) and D(G(z)), losses, quality, and from a snapshot the paper's
Figure 1 (1-D), the learned D beside D* (2-D) and sample grids.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from gan_core.views.series import downsample

LOG2 = math.log(2.0)
V_OPTIMUM = -2.0 * LOG2  # V(G, D*) at p_g = p_data, eqs. (8)–(21)
PALETTE = px.colors.qualitative.Plotly  # one colour per run when runs overlay
REAL_COLOR, FAKE_COLOR = "#1b7837", "#762a83"  # GAN Lab's green (real) and purple (generated)

# --- metric figures ----------------------------------------------------------------------------------

GL_POINTS = 5000  # WebGL (one context per figure, browsers keep 8–16) only for clouds larger than this


def _scatter_name(n_points: int) -> str:
    """SVG "scatter" for lines and clouds up to GL_POINTS points; "scattergl" only for bigger clouds."""
    return "scattergl" if n_points > GL_POINTS else "scatter"


def scatter_type(n_points: int):
    return go.Scattergl if _scatter_name(n_points) == "scattergl" else go.Scatter


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


def _layout(fig: go.Figure, title: str, ytitle: str, height: int = 340, xtitle: str = "iteration") -> go.Figure:
    """_frame on a go.Figure, with plotly_white whole (the snapshot figures' heat maps use its trace defaults)."""
    fig.update_layout(**_frame([t.name for t in fig.data if t.name and t.showlegend is not False], title, height),
                      template="plotly_white")
    fig.update_xaxes(title_text=xtitle, title_standoff=6)
    fig.update_yaxes(title_text=ytitle)
    return fig


# The line charts (Ṽ, D and the losses, quality) and the sample clouds are built as plotly's figure JSON and
# made a go.Figure once: go.Figure's incremental methods (add_trace, update_layout, add_hline, make_subplots)
# validate and deep-copy at every step: 23–45 ms a chart on this project's VM, ~0.1 s for a refresh of the
# three, against 7–11 ms each built once (bench/RESULTS.md) — server time every live refresh, a new tab
# and a new seed on the Generate page wait for.
# Their template is plotly_white's layout half: its other half, per-trace defaults for some 40 trace types,
# changes nothing in these charts but was a third of each one's JSON and a deep copy per figure.
LEAN_TEMPLATE = go.layout.Template(layout=pio.templates["plotly_white"].layout).to_plotly_json()


def _series_traces(frames: dict, specs: list[tuple[str, str, str]], x: str = "iteration", max_points: int = 800,
                   first_color: int = 0, axis: str | None = None) -> list[dict]:
    """One trace per (run, series). One run: a colour per series (from first_color on). Several: a colour
    per run, dash per series. axis: a subplot's axes ("" the first, then "2", "3", …), None: not named."""
    multi = len(frames) > 1
    out: list[dict] = []
    for i, (run, df) in enumerate(frames.items()):
        if df is None or df.empty or x not in df.columns:
            continue
        present = [s for s in specs if s[0] in df.columns and df[s[0]].notna().any()]
        if not present:
            continue
        d = downsample(df, x, max_points, columns=[s[0] for s in present])
        for j, (col, label, dash) in enumerate(present):
            sub = d[[x, col]].dropna()
            sparse = len(sub) < 0.5 * len(d)  # e.g. JSD, measured only at snapshots: show its points
            out.append(dict(  # SVG scatter: a few hundred points per line need no WebGL context
                type="scatter", x=sub[x].to_numpy(np.float32), y=sub[col].to_numpy(np.float32),
                mode="lines+markers" if sparse or len(sub) < 3 else "lines",  # a first point alone is seen
                name=f"{label} · {run}" if multi else label, legendgroup=str(run),
                line=dict(color=PALETTE[(i if multi else first_color + j) % len(PALETTE)],
                          dash=dash if multi or sparse else "solid", width=1.6),
                marker=dict(size=4), hovertemplate="%{x:.0f}: %{y:.4g}",
                **({"xaxis": f"x{axis}", "yaxis": f"y{axis}"} if axis is not None else {})))
    return out


def _layout_json(traces: list[dict], title: str, height: int = 340) -> dict:
    """_frame as a layout dict, for figures built as JSON."""
    names = [t["name"] for t in traces if t.get("name") and t.get("showlegend") is not False]
    return dict(_frame(names, title, height), template=LEAN_TEMPLATE, shapes=[], annotations=[])


def _hline(layout: dict, y: float, text: str, axis: str = "", color: str = "#444", width: float = 1.2) -> None:
    """add_hline's dotted line across a subplot, labelled at its bottom left, as layout JSON."""
    layout["shapes"].append(dict(type="line", x0=0, x1=1, xref=f"x{axis} domain", y0=y, y1=y, yref=f"y{axis}",
                                 line=dict(color=color, dash="dot", width=width)))
    layout["annotations"].append(dict(text=text, showarrow=False, x=0, xanchor="left", xref=f"x{axis} domain",
                                      y=y, yanchor="top", yref=f"y{axis}"))


def _series_figure(frames: dict, specs: list[tuple[str, str, str]], title: str, ytitle: str,
                   x: str = "iteration", max_points: int = 800, hline: tuple | None = None,
                   yrange: list | None = None) -> go.Figure:
    traces = _series_traces(frames, specs, x, max_points)
    layout = _layout_json(traces, title)
    layout.update(xaxis=dict(title=dict(text="iteration", standoff=6)),
                  yaxis=dict(title=dict(text=ytitle), **({"range": yrange} if yrange else {})))
    if hline:
        _hline(layout, *hline)
    return go.Figure(dict(data=traces, layout=layout))


def _panels(frames: dict, panels: list[dict], title: str, max_points: int = 800, height: int = 340) -> go.Figure:
    """Several metric charts side by side in ONE figure (subplots, laid out as make_subplots lays out one row):
    the browser draws one plot instead of several, which is most of the cost of a live refresh. A panel:
    specs, title, ytitle, and optionally yrange and hline=(y, text)."""
    n = len(panels)
    gap = 0.09 if n > 1 else 0.0
    w = (1 - gap * (n - 1)) / n
    traces, axes, titles = [], {}, []
    color = 0
    for c, p in enumerate(panels):
        a = "" if c == 0 else str(c + 1)
        added = _series_traces(frames, p["specs"], max_points=max_points, first_color=color, axis=a)
        traces += added
        color += len(added) if len(frames) == 1 else 0  # one run: a colour per series across the panels
        lo = c * (w + gap)
        axes[f"xaxis{a}"] = dict(anchor=f"y{a}", domain=[lo, min(1.0, lo + w)],
                                 title=dict(text="iteration", standoff=6))
        axes[f"yaxis{a}"] = dict(anchor=f"x{a}", domain=[0.0, 1.0], title=dict(text=p["ytitle"]),
                                 **({"range": p["yrange"]} if p.get("yrange") else {}))
        titles.append(dict(text=p["title"], font=dict(size=13), showarrow=False, x=lo + w / 2, xanchor="center",
                           xref="paper", y=1.0, yanchor="bottom", yref="paper"))
    layout = _layout_json(traces, title, height=height)
    layout.update(axes)
    layout["annotations"] += titles  # the subplot titles first, as make_subplots puts them
    for c, p in enumerate(panels):
        if p.get("hline"):
            _hline(layout, *p["hline"], axis="" if c == 0 else str(c + 1))
    return go.Figure(dict(data=traces, layout=layout))


def dynamics_figure(frames: dict, max_points: int = 800) -> go.Figure:
    """What the discriminator says (mean D(x), D(G(z))) beside the losses, as one figure."""
    return _panels(frames, [
        dict(specs=[("d_real", "mean D(x), real", "solid"), ("d_fake", "mean D(G(z)), generated", "dash")],
             title="What the discriminator says", ytitle="D", yrange=[0, 1], hline=(0.5, "1/2: D* at p_g = p_data")),
        dict(specs=[("d_loss", "D loss (−Ṽ)", "solid"), ("g_loss", "G loss", "dash")], title="Losses",
             ytitle="loss")], "", max_points=max_points)


def quality_panel(frames: dict, metrics: list[str], max_points: int = 800) -> go.Figure:
    """The quality metrics over time, side by side in one figure."""
    return _panels(frames, [dict(specs=[(m, m.replace("_", " "), "solid")], title=QUALITY.get(m, (m, m))[0],
                                 ytitle=QUALITY.get(m, (m, m))[1],
                                 hline=(LOG2, "log 2: disjoint supports") if m == "jsd" else None)
                            for m in metrics], "", max_points=max_points)


def chart_frames(frames: dict, max_points: int = 8000) -> dict:
    """One downsampling pass over every series, shared by all the charts of a refresh (each chart then
    thins a few thousand rows, not a million). Per-bucket minima and maxima survive both passes."""
    return {k: (downsample(v, "iteration", max_points) if v is not None and not v.empty else v)
            for k, v in frames.items()}


def value_figure(frames: dict, max_points: int = 800) -> go.Figure:
    return _series_figure(frames, [("value_estimate", "Ṽ (minibatch value)", "solid"),
                                   ("value_at_optimum", "V(G, D*) = −2 log 2 + 2·JSD", "dash")],
                          "Value of the game V(D, G)", "value", max_points=max_points,
                          hline=(V_OPTIMUM, "−2 log 2 ≈ −1.386 (optimum: p_g = p_data)"))


def describe_change(ev: dict) -> str:
    """A recorded change (gan_core.runs.control) in a few words: 'g_loss → minimax', 'D step', ..."""
    if "set" in ev:
        return ", ".join(f"{k} → {v:g}" if isinstance(v, float) else f"{k} → {v}" for k, v in ev["set"].items())
    return {"d": "D step", "g": "G step"}.get(ev.get("step"), "change")


def add_change_markers(fig: go.Figure, changes: dict) -> go.Figure:
    """Vertical dotted lines where a run's settings were changed or steps were taken by hand, labelled
    with what changed (changes: run name → control.read_changes(run)). Steps at the same iteration merge."""
    shapes, notes = [], []  # add_vline's line and label, as JSON: one layout update for all (a steered run
    for i, (name, events) in enumerate(changes.items()):  # has hundreds, each add_vline a validated copy)
        by_it: dict = {}
        for ev in events:
            by_it.setdefault(int(ev["iteration"]), []).append(describe_change(ev))
        for it, what in by_it.items():
            text = "; ".join(dict.fromkeys(what))  # in order, without repeats
            shapes.append(dict(type="line", x0=it, x1=it, xref="x", y0=0, y1=1, yref="y domain",
                               line=dict(color=PALETTE[i % len(PALETTE)], dash="dot", width=1)))
            notes.append(dict(text=text if len(text) < 40 else text[:38] + "…", textangle=-90, font=dict(size=10),
                              showarrow=False, x=it, xanchor="right", xref="x", y=1, yanchor="top", yref="y domain"))
    if shapes:
        fig.update_layout(shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *notes])
    return fig


def add_seed_band(fig: go.Figure, band: pd.DataFrame, label: str, color: str = "#444",
                  max_points: int = 800) -> go.Figure:
    """Draw the mean over seeds and a shaded band mean ± one standard deviation (comparisons.seed_band's frame:
    iteration, mean, low, high, n) onto fig: two SVG traces (the band's outline closed over itself) and
    the mean line."""
    if band is None or band.empty:
        return fig
    b = downsample(band, "iteration", max_points, columns=["mean", "low", "high"])
    it = b["iteration"].to_numpy(np.float64)
    n = int(band["n"].max())
    fig.add_trace(go.Scatter(x=np.concatenate([it, it[::-1]]), y=np.concatenate([b["high"], b["low"][::-1]]),
                             fill="toself", fillcolor=_rgba(color, 0.18), line=dict(width=0), hoverinfo="skip",
                             name=f"± 1 sd · {label}", legendgroup=f"band {label}", showlegend=False))
    fig.add_trace(go.Scatter(x=it, y=b["mean"].to_numpy(np.float64), mode="lines", line=dict(color=color, width=2.6),
                             name=f"mean of {n} seeds ± 1 sd · {label}", legendgroup=f"band {label}",
                             hovertemplate="%{x:.0f}: %{y:.4g}"))
    return fig


def _rgba(color: str, alpha: float) -> str:
    c = color.lstrip("#")
    return f"rgba({int(c[0:2], 16)}, {int(c[2:4], 16)}, {int(c[4:6], 16)}, {alpha})"


def discriminator_figure(frames: dict, max_points: int = 800) -> go.Figure:
    return _series_figure(frames, [("d_real", "mean D(x), real", "solid"), ("d_fake", "mean D(G(z)), generated", "dash")],
                          "What the discriminator says", "D", max_points=max_points,
                          hline=(0.5, "1/2: D* at p_g = p_data"), yrange=[0, 1])


def loss_figure(frames: dict, max_points: int = 800) -> go.Figure:
    return _series_figure(frames, [("d_loss", "D loss (−Ṽ)", "solid"), ("g_loss", "G loss", "dash")],
                          "Losses", "loss", max_points=max_points)


QUALITY = {  # column: (title, y-axis label)
    "jsd": ("Jensen–Shannon divergence JSD(p_data ‖ p_g)", "nats (0 … log 2)"),
    "modes_covered": ("Modes covered", "modes"),
    "high_quality_fraction": ("High-quality samples (within 3 std of a centre)", "fraction"),
    "classes_covered": ("Digit classes covered", "classes"),
    "inception_score": ("Inception score (small digits classifier)", "score (1 … 10)"),
    "frechet_distance": ("Fréchet distance to the real digits", "distance (lower is better)"),
}


def quality_metrics(frames: dict) -> list[str]:
    """The quality columns that hold at least one value in any of the frames, in display order."""
    return [m for m in QUALITY if any(df is not None and m in df.columns and df[m].notna().any()
                                      for df in frames.values())]


def quality_figure(frames: dict, metric: str, max_points: int = 800) -> go.Figure:
    title, ytitle = QUALITY.get(metric, (metric, metric))
    return _series_figure(frames, [(metric, metric.replace("_", " "), "solid")], title, ytitle, max_points=max_points,
                          hline=(LOG2, "log 2: disjoint supports") if metric == "jsd" else None)


# --- snapshot figures -------------------------------------------------------------------------------

def snapshot_kind(snap: dict) -> str:
    """'figure1' (1-D known density), 'heatmap' (2-D known density), 'images' or 'points'."""
    samples = np.asarray(snap.get("samples", np.empty((0, 1))))
    if "d_star" in snap and "grid_axes" in snap:
        return "figure1" if len(snap["grid_axes"]) == 1 else "heatmap"
    return "images" if samples.ndim == 4 else "points"


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
    _layout(fig, title or "p_data, p_g, D and D*", "density", height=380, xtitle="x")
    fig.update_yaxes(title_text="D(x)", range=[0, 1.02], secondary_y=True)
    return fig


def _subsample(a: Optional[np.ndarray], n: int) -> Optional[np.ndarray]:
    if a is None:
        return None
    a = np.asarray(a, float).reshape(len(a), -1)
    return a[np.isfinite(a).all(1)][:n]


def _heat_traces(snap: dict, which: str, real: Optional[np.ndarray], show_samples: bool, n_points: int,
                 legend: bool = True, colorbar: bool = True) -> list:
    ax, ay = (np.asarray(a, float) for a in snap["grid_axes"][:2])
    z = np.asarray(snap[which], float).reshape(len(ax), len(ay)).T  # grid's first index is x; rows of z are y
    label = "D(x)" if which == "d" else "D*(x)"
    out = [go.Heatmap(x=ax.astype(np.float32), y=ay.astype(np.float32), z=z.astype(np.float32), zmin=0, zmax=1,
                      colorscale="PRGn", name=label, showscale=colorbar,
                      colorbar=dict(title=dict(text="D"), len=0.8),
                      hovertemplate="x=%{x:.2f}, y=%{y:.2f}<br>" + label + "=%{z:.3f}<extra></extra>")]
    r = _subsample(real, n_points)
    if r is not None and r.shape[1] >= 2:
        out.append(scatter_type(len(r))(x=r[:, 0], y=r[:, 1], mode="markers", name="real", legendgroup="real",
                                        showlegend=legend, marker=dict(size=4, color=REAL_COLOR), hoverinfo="skip"))
    g = _subsample(snap.get("samples"), n_points) if show_samples else None
    if g is not None and g.shape[1] >= 2:
        out.append(scatter_type(len(g))(x=g[:, 0], y=g[:, 1], mode="markers", name="generated",
                                        legendgroup="generated", showlegend=legend,
                                        marker=dict(size=4, color=FAKE_COLOR), hoverinfo="skip"))
    return out


def d_heatmap(snap: dict, which: str = "d", real: Optional[np.ndarray] = None, show_samples: bool = True,
              title: str = "", n_points: int = 500) -> go.Figure:
    """D (or D*) over the plane as a heat map, real and generated points on top (GAN Lab style). A few
    hundred points of each (SVG markers: every one is a DOM node the browser lays out)."""
    ax, ay = (np.asarray(a, float) for a in snap["grid_axes"][:2])
    fig = go.Figure(_heat_traces(snap, which, real, show_samples, n_points))
    fig.data[0].colorbar.title.text = "D(x)" if which == "d" else "D*(x)"
    _layout(fig, title or fig.data[0].name, "x₂", height=420, xtitle="x₁")
    fig.update_xaxes(range=[ax[0], ax[-1]])
    fig.update_yaxes(range=[ay[0], ay[-1]], scaleanchor="x", scaleratio=1)
    return fig


def d_pair_figure(snap: dict, real: Optional[np.ndarray] = None, title: str = "", n_points: int = 300) -> go.Figure:
    """The learned D(x) beside D*(x) = p_data/(p_data + p_g) (eq. 7), as one figure of two panels sharing
    one colour scale (one plot for the browser to draw, not two)."""
    ax, ay = (np.asarray(a, float) for a in snap["grid_axes"][:2])
    fig = make_subplots(rows=1, cols=2, subplot_titles=["learned D(x)", "D*(x) = p_data/(p_data + p_g), eq. (7)"],
                        horizontal_spacing=0.08)
    for c, which in ((1, "d"), (2, "d_star")):
        for t in _heat_traces(snap, which, real, True, n_points, legend=c == 1, colorbar=c == 2):
            fig.add_trace(t, row=1, col=c)
    _layout(fig, title, "x₂", height=440, xtitle="x₁")
    fig.update_xaxes(range=[ax[0], ax[-1]])
    fig.update_yaxes(range=[ay[0], ay[-1]])
    fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", scaleratio=1, row=1, col=2)
    for a in fig.layout.annotations[:2]:
        a.font = dict(size=13)
    return fig


def samples_figure(samples: Optional[np.ndarray] = None, real: Optional[np.ndarray] = None, title: str = "",
                   n_points: int = 2000) -> go.Figure:
    """Points: overlaid histograms in 1-D, a scatter of the first two dimensions otherwise (built as figure
    JSON, as the line charts: the Generate page redraws it for every new seed)."""
    g, r = _subsample(samples, n_points), _subsample(real, n_points)
    dim = (g if g is not None else r).shape[1] if (g is not None or r is not None) else 2
    traces = []
    for arr, name, color in ((r, "real", REAL_COLOR), (g, "generated", FAKE_COLOR)):
        if arr is None or len(arr) == 0:
            continue
        if dim == 1:
            traces.append(dict(type="histogram", x=arr[:, 0], name=name, histnorm="probability density", nbinsx=80,
                               opacity=0.55, marker=dict(color=color)))
        else:
            traces.append(dict(type=_scatter_name(len(arr)), x=arr[:, 0].astype(np.float32),
                               y=arr[:, 1].astype(np.float32), mode="markers", name=name, hoverinfo="skip",
                               marker=dict(size=4, color=color, opacity=0.7)))
    layout = _layout_json(traces, title or ("samples" if dim == 1 else "samples (first two dimensions)" if dim > 2
                                            else "samples"), height=400)
    layout.update(barmode="overlay", xaxis=dict(title=dict(text="x" if dim == 1 else "x₁", standoff=6)),
                  yaxis=dict(title=dict(text="density" if dim == 1 else "x₂"),
                             **({"scaleanchor": "x", "scaleratio": 1} if dim >= 2 else {})))
    return go.Figure(dict(data=traces, layout=layout))


def image_figure(images: np.ndarray, title: str = "", ncol: Optional[int] = None) -> go.Figure:
    from gan_core.share.outputs import image_grid  # the same tiling as the Generate page and the CLI's PNGs
    grid = np.asarray(image_grid(np.asarray(images, np.float32), ncol=ncol, min_tile=8))
    fig = px.imshow(grid, binary_string=True)  # one embedded PNG: cheap to send and to redraw
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), margin=dict(l=0, r=0, t=40, b=0),
                      height=420, template="plotly_white")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def dataset_preview_figure(ds, n: int = 2000) -> go.Figure:
    """Histogram (1-D), scatter (2-D and more) or image grid (images) of a dataset."""
    if ds.kind == "image":
        return image_figure(ds.sample(64, seed=0), title=ds.description, ncol=8)
    return samples_figure(None, ds.sample(n, seed=0), title=ds.description)


def real_sample(run_dir, n: int = 1000) -> Optional[np.ndarray]:
    """n examples of a run's data (from its config.json), or None if the data cannot be loaded."""
    from gan_core.config import TrainConfig
    from gan_core.data.datasets import load_dataset
    from gan_core.errors import GanError
    try:
        cfg = TrainConfig.load(Path(run_dir) / "config.json").resolved()
        return load_dataset(cfg).sample(n, seed=1)
    except (GanError, OSError):
        return None


# --- run table ----------------------------------------------------------------------------------------

def format_duration(s) -> str:
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s):
        return ""
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


SETTING_NAMES = {"dataset": "data", "iterations": "iterations", "k": "k", "batch_size": "batch",
                 "g_loss": "G objective", "prior": "prior", "latent_dim": "latent", "hidden": "hidden",
                 "depth": "depth", "lr_d": "lr D", "lr_g": "lr G", "seed": "seed", "optimizer": "optimizer",
                 "lr_decay": "lr decay", "g_norm": "G norm", "beta1": "β1", "image_size": "image size"}


def differing_settings(configs: dict) -> list[str]:
    """The config.json keys (of SETTING_NAMES) whose values differ between the given runs' configs."""
    cfgs = [c for c in configs.values() if c]
    if len(cfgs) < 2:
        return []
    return [k for k in SETTING_NAMES if k != "dataset" and len({repr(c.get(k)) for c in cfgs}) > 1] + \
        (["dataset"] if len({Path(str(c.get("dataset"))).name for c in cfgs}) > 1 else [])


def runs_table(infos, configs: Optional[dict] = None, compare: Optional[list] = None) -> pd.DataFrame:
    """One row per RunInfo: what the Runs page's table shows; with configs ({run: config.json dict}) and
    compare (the selected runs), a column for every setting that differs between the compared runs."""
    diff = differing_settings({n: (configs or {}).get(n) for n in (compare or [])}) if configs else []
    diff = [k for k in diff if k != "dataset"]
    rows = []
    for r in infos:
        row = {"run": r.name, "dataset": Path(r.dataset).name, "state": r.state, "progress": r.progress,
               "iteration": f"{r.iteration}/{r.iterations}", "it/s": round(r.rate, 1) if r.rate else None,
               "ETA": format_duration(r.eta_s) if r.state == "running" else ""}
        cfg = (configs or {}).get(r.name) or {}
        for k in diff:
            v = cfg.get(k)
            row[SETTING_NAMES[k]] = f"{v:.3g}" if isinstance(v, float) else ("" if v is None else str(v))
        row["message"] = r.message
        rows.append(row)
    cols = ["run", "dataset", "state", "progress", "iteration", "it/s", "ETA", *(SETTING_NAMES[k] for k in diff), "message"]
    return pd.DataFrame(rows, columns=cols)
