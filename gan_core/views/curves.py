"""The Runs page's charts over iterations: Ṽ against −2 log 2 and V(G, D*), what D says (mean D(x),
D(G(z))) beside the losses, the quality metrics; marks where settings were changed by hand and the mean
over seeds with a band. Built as plotly figure JSON from the series of gan_core.views.series (read
incrementally, thinned). No streamlit, no torch.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gan_core.views.plotting import LOG2, PALETTE, V_OPTIMUM, layout_json
from gan_core.views.series import downsample

QUALITY = {  # column: (title, y-axis label)
    "jsd": ("Jensen–Shannon divergence JSD(p_data ‖ p_g)", "nats (0 … log 2)"),
    "modes_covered": ("Modes covered", "modes"),
    "high_quality_fraction": ("High-quality samples (within 3 std of a centre)", "fraction"),
    "fid": ("FID to the test pictures (the project's classifier's features)", "FID (lower is better)"),
    "precision": ("Precision: samples that look real (k-NN manifold, k = 3)", "fraction"),
    "recall": ("Recall: real pictures the samples reach (k-NN manifold, k = 3)", "fraction"),
    "classes_covered": ("Classes covered", "classes"),
    "inception_score": ("Inception score (small digits classifier)", "score (1 … 10)"),
    "frechet_distance": ("Fréchet distance to the real digits", "distance (lower is better)"),
}


def chart_frames(frames: dict, max_points: int = 8000) -> dict:
    """One downsampling pass over every series, shared by all the charts of a refresh (each chart then
    thins a few thousand rows, not a million). Per-bucket minima and maxima survive both passes."""
    return {k: (downsample(v, "iteration", max_points) if v is not None and not v.empty else v)
            for k, v in frames.items()}


# --- traces and layouts as figure JSON ---------------------------------------------------------------

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
    layout = layout_json(traces, title)
    layout.update(xaxis=dict(title=dict(text="iteration", standoff=6)),
                  yaxis=dict(title=dict(text=ytitle), **({"range": yrange} if yrange else {})))
    if hline:
        _hline(layout, *hline)
    return go.Figure(dict(data=traces, layout=layout))


def _panel_axes(c: int, n: int, panel: dict) -> tuple[dict, dict]:
    """The axes of panel c of n laid out in one row as make_subplots lays them out, and its title."""
    gap = 0.09 if n > 1 else 0.0
    w = (1 - gap * (n - 1)) / n
    a = "" if c == 0 else str(c + 1)
    lo = c * (w + gap)
    axes = {f"xaxis{a}": dict(anchor=f"y{a}", domain=[lo, min(1.0, lo + w)], title=dict(text="iteration", standoff=6)),
            f"yaxis{a}": dict(anchor=f"x{a}", domain=[0.0, 1.0], title=dict(text=panel["ytitle"]),
                              **({"range": panel["yrange"]} if panel.get("yrange") else {}))}
    title = dict(text=panel["title"], font=dict(size=13), showarrow=False, x=lo + w / 2, xanchor="center",
                 xref="paper", y=1.0, yanchor="bottom", yref="paper")
    return axes, title


def _panels(frames: dict, panels: list[dict], title: str, max_points: int = 800, height: int = 340) -> go.Figure:
    """Several metric charts side by side in ONE figure (subplots, laid out as make_subplots lays out one row):
    the browser draws one plot instead of several, which is most of the cost of a live refresh. A panel:
    specs, title, ytitle, and optionally yrange and hline=(y, text)."""
    traces, axes, titles = [], {}, []
    color = 0
    for c, p in enumerate(panels):
        added = _series_traces(frames, p["specs"], max_points=max_points, first_color=color,
                               axis="" if c == 0 else str(c + 1))
        traces += added
        color += len(added) if len(frames) == 1 else 0  # one run: a colour per series across the panels
        panel_axes, panel_title = _panel_axes(c, len(panels), p)
        axes.update(panel_axes)
        titles.append(panel_title)
    layout = layout_json(traces, title, height=height)
    layout.update(axes)
    layout["annotations"] += titles  # the subplot titles first, as make_subplots puts them
    for c, p in enumerate(panels):
        if p.get("hline"):
            _hline(layout, *p["hline"], axis="" if c == 0 else str(c + 1))
    return go.Figure(dict(data=traces, layout=layout))


# --- the charts ----------------------------------------------------------------------------------------

def value_figure(frames: dict, max_points: int = 800) -> go.Figure:
    return _series_figure(frames, [("value_estimate", "Ṽ (minibatch value)", "solid"),
                                   ("value_at_optimum", "V(G, D*) = −2 log 2 + 2·JSD", "dash")],
                          "Value of the game V(D, G)", "value", max_points=max_points,
                          hline=(V_OPTIMUM, "−2 log 2 ≈ −1.386 (optimum: p_g = p_data)"))


def dynamics_figure(frames: dict, max_points: int = 800) -> go.Figure:
    """What the discriminator says (mean D(x), D(G(z))) beside the losses, as one figure."""
    return _panels(frames, [
        dict(specs=[("d_real", "mean D(x), real", "solid"), ("d_fake", "mean D(G(z)), generated", "dash")],
             title="What the discriminator says", ytitle="D", yrange=[0, 1], hline=(0.5, "1/2: D* at p_g = p_data")),
        dict(specs=[("d_loss", "D loss (−Ṽ)", "solid"), ("g_loss", "G loss", "dash")], title="Losses",
             ytitle="loss")], "", max_points=max_points)


def discriminator_figure(frames: dict, max_points: int = 800) -> go.Figure:
    return _series_figure(frames, [("d_real", "mean D(x), real", "solid"),
                                   ("d_fake", "mean D(G(z)), generated", "dash")],
                          "What the discriminator says", "D", max_points=max_points,
                          hline=(0.5, "1/2: D* at p_g = p_data"), yrange=[0, 1])


def loss_figure(frames: dict, max_points: int = 800) -> go.Figure:
    return _series_figure(frames, [("d_loss", "D loss (−Ṽ)", "solid"), ("g_loss", "G loss", "dash")],
                          "Losses", "loss", max_points=max_points)


def quality_metrics(frames: dict) -> list[str]:
    """The quality columns that hold at least one value in any of the frames, in display order."""
    return [m for m in QUALITY if any(df is not None and m in df.columns and df[m].notna().any()
                                      for df in frames.values())]


def quality_figure(frames: dict, metric: str, max_points: int = 800) -> go.Figure:
    title, ytitle = QUALITY.get(metric, (metric, metric))
    return _series_figure(frames, [(metric, metric.replace("_", " "), "solid")], title, ytitle, max_points=max_points,
                          hline=(LOG2, "log 2: disjoint supports") if metric == "jsd" else None)


def quality_panel(frames: dict, metrics: list[str], max_points: int = 800) -> go.Figure:
    """The quality metrics over time, side by side in one figure."""
    return _panels(frames, [dict(specs=[(m, m.replace("_", " "), "solid")], title=QUALITY.get(m, (m, m))[0],
                                 ytitle=QUALITY.get(m, (m, m))[1],
                                 hline=(LOG2, "log 2: disjoint supports") if m == "jsd" else None)
                            for m in metrics], "", max_points=max_points)


# --- drawn onto a chart ----------------------------------------------------------------------------------

def describe_change(ev: dict) -> str:
    """A recorded change (gan_core.runs.control) in a few words: 'g_loss → minimax', 'D step', ..."""
    if "set" in ev:
        return ", ".join(f"{k} → {v:g}" if isinstance(v, float) else f"{k} → {v}" for k, v in ev["set"].items())
    return {"d": "D step", "g": "G step"}.get(ev.get("step"), "change")


def add_change_markers(fig: go.Figure, changes: dict) -> go.Figure:
    """Vertical dotted lines where a run's settings were changed or steps were taken by hand, labelled
    with what changed (changes: run name → control.read_changes(run)). Steps at the same iteration merge."""
    shapes, notes = [], []  # add_vline's line and label, as JSON: one layout update for all (a steered run
    for i, events in enumerate(changes.values()):  # has hundreds, each add_vline a validated copy)
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
