"""How many image samples fall in each class, by the picture set's classifier (gan_core.scores.classifier):
for fashion and mnist models only, and only when the classifier's cached weights exist — it is read here,
never trained (that takes CPU-minutes; HOW_TO says how). numpy and plotly only: no torch, no streamlit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import plotly.graph_objects as go

from gan_core.data.pictures import PICTURE_SETS
from gan_core.errors import GanError
from gan_core.scores.classifier import classifier_path, load_classifier
from gan_core.views.plotting import FAKE_COLOR

HOW_TO = ("Per-class counts of the samples need the {title} classifier, which is not trained yet: "
          "`python -m gan_core classifier --dataset {name}` trains it (a few CPU-minutes).")


def picture_set_of(dataset) -> Optional[str]:
    """'fashion' or 'mnist' for a model or run of that picture set (its dataset name), None otherwise."""
    name = Path(str(dataset or "")).name.strip().lower()
    return name if name in PICTURE_SETS else None


def missing_caption(dataset) -> Optional[str]:
    """The one line saying how to get counts, when the set has a classifier to train; None otherwise."""
    name = picture_set_of(dataset)
    if name is None or classifier_path(name).is_file():
        return None
    return HOW_TO.format(title=PICTURE_SETS[name].title, name=name)


def class_counts(images, dataset) -> Optional[tuple[tuple, np.ndarray]]:
    """(class names, samples per class) of images [n, 1, 28, 28] in [0, 1], or None where there are none to
    give: not a fashion/mnist model, no cached classifier, or images the classifier cannot read."""
    name = picture_set_of(dataset)
    if name is None or not classifier_path(name).is_file():
        return None
    try:
        labels = load_classifier(name).predict(images)
    except GanError:   # an unreadable cache file, or images of another shape: no counts, the page goes on
        return None
    names = PICTURE_SETS[name].class_names
    return names, np.bincount(np.asarray(labels, np.int64), minlength=len(names))[: len(names)]


def counts_figure(names, counts, title: str = "") -> go.Figure:
    """One bar per class, the count written on it; the classes no sample fell in stand out at zero."""
    counts = np.asarray(counts, np.int64)
    fig = go.Figure(go.Bar(x=list(names), y=counts.tolist(), text=[str(int(c)) for c in counts],
                           textposition="outside", marker=dict(color=FAKE_COLOR), cliponaxis=False,
                           hovertemplate="%{x}: %{y} samples<extra></extra>"))
    covered = int((counts > 0).sum())
    fig.update_layout(title=dict(text=title or f"classes of {int(counts.sum())} samples — {covered} of "
                                               f"{len(counts)} present", x=0.01, font=dict(size=15)),
                      height=320, margin=dict(l=10, r=10, t=50, b=10), template="plotly_white",
                      yaxis=dict(title="samples", rangemode="tozero"), xaxis=dict(tickangle=-30))
    return fig
