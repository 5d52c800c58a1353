"""Which figures the Runs page draws for one snapshot, with their titles and captions: for 1-D and 2-D points
one figure with the chosen layers (gan_core.views.snapshot_layers); otherwise Figure 1 or D beside D*
(gan_core.views.density_figures), an image grid or a cloud of samples (gan_core.views.samples)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from gan_core.views.captions import CAPTIONS
from gan_core.views.density_figures import d_pair_figure, figure1
from gan_core.views.image_grid import image_figure
from gan_core.views.samples import samples_figure
from gan_core.views.snapshot_layers import snapshot_figure

OBJECTIVE = {"minimax": "here minimax, ℓ = log(1 − D(x))", "nonsaturating": "here non-saturating, ℓ = −log D(x)"}
LAYERS = {"real": "real points", "generated": "generated points", "d": "D heat map", "d_star": "D*",
          "arrows": "arrows (G's push)", "manifold": "manifold"}
LAYERS_ON = ["real", "generated", "d", "arrows", "manifold"]


def snapshot_kind(snap: dict) -> str:
    """'figure1' (1-D known density), 'heatmap' (2-D known density), 'images' or 'points'."""
    samples = np.asarray(snap.get("samples", np.empty((0, 1))))
    if "d_star" in snap and "grid_axes" in snap:
        return "figure1" if len(snap["grid_axes"]) == 1 else "heatmap"
    return "images" if samples.ndim == 4 else "points"


def snapshot_figures(snap: dict, it: int, real_points: Callable, layers=LAYERS_ON) -> list:
    """[(key, figure, caption)] for one snapshot: for 1-D and 2-D points one combined figure with the chosen
    layers (Figure 1 with the arrows beneath it in 1-D, the plane in 2-D); an image grid or samples otherwise.
    real_points() gives the run's real points (called only for the views that draw them)."""
    kind = snapshot_kind(snap)
    if kind != "images" and np.asarray(snap["samples"]).ndim == 2 and np.asarray(snap["samples"]).shape[1] in (1, 2):
        return [("snap_fig", combined_figure(snap, it, real_points, layers), snapshot_caption(snap, layers))]
    real = None if kind in ("figure1", "images") else real_points()  # only the point views draw real data
    jsd = snap.get("metric_jsd")
    where = f"iteration {it}" + (f" · JSD {float(jsd):.4f}" if jsd is not None else "")
    if kind == "figure1":
        return [("fig1", figure1(snap, title=f"p_data, p_g, D and D* — {where}"),
                 " ".join([CAPTIONS["figure1"], *d_captions(snap)]))]
    if kind == "heatmap":
        return [("d_pair", d_pair_figure(snap, real, title=f"D beside D* — {where}"),
                 " ".join([CAPTIONS["d_map"], CAPTIONS["d_star"], *d_captions(snap)]))]
    if kind == "images":
        return [("img_grid", image_figure(snap["samples"].astype("float32"), title=f"samples — {where}"),
                 CAPTIONS["samples"])]
    return [("pts", samples_figure(snap["samples"], real, title=f"samples — {where}", n_points=1000),
             CAPTIONS["samples"])]


def combined_figure(snap: dict, it: int, real_points: Callable, layers):
    on = set(layers)
    two_d = np.asarray(snap["samples"]).shape[1] == 2
    real = real_points() if two_d and "real" in on else None
    jsd = snap.get("metric_jsd")
    where = f"iteration {it}" + (f" · JSD {float(jsd):.4f}" if jsd is not None else "")
    title = (f"p_data, p_g, D and D*; G's push beneath — {where}" if not two_d else f"snapshot — {where}")
    return snapshot_figure(snap, real, show_real="real" in on, show_generated="generated" in on, show_d="d" in on,
                           show_d_star="d_star" in on, show_arrows="arrows" in on, show_manifold="manifold" in on,
                           n_points=500, title=title)


def snapshot_caption(snap: dict, layers) -> str:
    on, two_d = set(layers), np.asarray(snap["samples"]).shape[1] == 2
    parts = [CAPTIONS["d_map"] if two_d else CAPTIONS["figure1"]]
    if two_d and "d_star" in on and "d_star" in snap:
        parts.append(CAPTIONS["d_star"])
    if "arrows" in on and "grad_g" in snap:
        obj = str(np.asarray(snap.get("g_loss", "")))
        parts.append(CAPTIONS["arrows"].format(objective=OBJECTIVE.get(obj, "the run's objective")))
    if "manifold" in on and "manifold" in snap:
        parts.append(CAPTIONS["manifold"])
    return " ".join(parts + d_captions(snap))


def d_captions(snap: dict) -> list:
    """What made the snapshot's D differ from eq. (2)'s: the instance noise's caption while D learned under
    noise, the gradient penalty's while D paid one; [] for the paper's game."""
    sigma = float(np.asarray(snap.get("instance_noise", 0.0)))
    gamma = float(np.asarray(snap.get("gradient_penalty", 0.0)))
    return ([CAPTIONS["instance_noise"].format(sigma=sigma)] if sigma > 0 else []) + \
        ([CAPTIONS["gradient_penalty"].format(gamma=gamma)] if gamma > 0 else [])
