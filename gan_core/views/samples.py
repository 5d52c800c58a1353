"""Samples as figures: a cloud of points (histograms in 1-D, a scatter of the first two dimensions
otherwise), a dataset's preview, and the real examples a run's figures draw beside its
samples. No streamlit, no torch (the Generate page uses it too).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import plotly.graph_objects as go

from gan_core.views import image_grid
from gan_core.views.plotting import FAKE_COLOR, REAL_COLOR, finite_rows, layout_json, scatter_name


def _cloud_trace(arr: np.ndarray, name: str, color: str, dim: int) -> dict:
    if dim == 1:
        return dict(type="histogram", x=arr[:, 0], name=name, histnorm="probability density", nbinsx=80,
                    opacity=0.55, marker=dict(color=color))
    return dict(type=scatter_name(len(arr)), x=arr[:, 0].astype(np.float32), y=arr[:, 1].astype(np.float32),
                mode="markers", name=name, hoverinfo="skip", marker=dict(size=4, color=color, opacity=0.7))


def samples_figure(samples: Optional[np.ndarray] = None, real: Optional[np.ndarray] = None, title: str = "",
                   n_points: int = 2000) -> go.Figure:
    """Points: overlaid histograms in 1-D, a scatter of the first two dimensions otherwise (built as figure
    JSON, as the line charts: the Generate page redraws it for every new seed)."""
    g, r = finite_rows(samples, n_points), finite_rows(real, n_points)
    dim = (g if g is not None else r).shape[1] if (g is not None or r is not None) else 2
    traces = [_cloud_trace(arr, name, color, dim)
              for arr, name, color in ((r, "real", REAL_COLOR), (g, "generated", FAKE_COLOR))
              if arr is not None and len(arr)]
    layout = layout_json(traces, title or ("samples" if dim == 1 else "samples (first two dimensions)" if dim > 2
                                           else "samples"), height=400)
    layout.update(barmode="overlay", xaxis=dict(title=dict(text="x" if dim == 1 else "x₁", standoff=6)),
                  yaxis=dict(title=dict(text="density" if dim == 1 else "x₂"),
                             **({"scaleanchor": "x", "scaleratio": 1} if dim >= 2 else {})))
    return go.Figure(dict(data=traces, layout=layout))


def dataset_preview_figure(ds, n: int = 2000) -> go.Figure:
    """Histogram (1-D), scatter (2-D and more) or image grid (images) of a dataset."""
    if ds.kind == "image":
        return image_grid.image_figure(ds.sample(64, seed=0), title=ds.description, ncol=8)
    return samples_figure(None, ds.sample(n, seed=0), title=ds.description)


def _run_dataset(run_dir):
    """The dataset of a run (from its config.json), or None if it cannot be loaded."""
    from gan_core.config import TrainConfig
    from gan_core.data.datasets import load_dataset
    from gan_core.errors import GanError
    try:
        return load_dataset(TrainConfig.load(Path(run_dir) / "config.json").resolved())
    except (GanError, OSError):
        return None


def real_sample(run_dir, n: int = 1000) -> Optional[np.ndarray]:
    """n examples of a run's data, or None if the data cannot be loaded."""
    from gan_core.errors import GanError
    ds = _run_dataset(run_dir)
    try:
        return None if ds is None else ds.sample(n, seed=1)
    except (GanError, OSError):
        return None


def mixture_of(run_dir) -> Optional[tuple]:
    """(mode centres, std) of a run's data when it is a mixture with known modes (ring8, grid25), else None."""
    ds = _run_dataset(run_dir)
    centres = getattr(ds, "centers", None)
    return None if centres is None else (np.asarray(centres, float), float(ds.std))
