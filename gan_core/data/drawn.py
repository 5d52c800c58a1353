"""Data you draw yourself: clicks and strokes on a canvas become a 2-D dataset saved under the run.

A drawing is a set of anchors in data space: each click is one anchor, each stroke is resampled every
`spacing` along its length (a longer stroke holds more data, as more ink would). The dataset is the
equal-weight Gaussian mixture on the anchors with the chosen spread (std): `n` samples drawn with a fixed
seed are written to RUN/drawn_data.csv, which the run trains on (config.json names it), and the drawing
itself (anchors, spread, seed, canvas) to RUN/drawing.json, so the run stays reproducible and the drawing
can be shown again. Both writes are atomic.

Canvas input is pixel coordinates (y down) on a canvas of a given size, mapped linearly onto a data-space
box (y up). `shapes_from_canvas` reads the Fabric.js JSON that streamlit-drawable-canvas returns
(`CanvasResult.json_data`): Circle objects ("point" mode) are clicks, Path objects ("freedraw") strokes;
other shapes are ignored.
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from gan_core.errors import DataError
from gan_core.files import write_bytes_atomic

DRAWN_CSV = "drawn_data.csv"
DRAWING_JSON = "drawing.json"
DEFAULT_BOX = ((-4.0, 4.0), (-4.0, 4.0))
MAX_ANCHORS = 20000


# --- reading the canvas ----------------------------------------------------------------------------

def _origin_shift(origin, size: float, low: str, high: str) -> float:
    """How far the object's centre lies from (left or top), for a Fabric origin ('left'/'center'/... or 0..1)."""
    frac = {low: 0.0, "center": 0.5, high: 1.0}.get(origin, origin if isinstance(origin, (int, float)) else 0.0)
    return (0.5 - float(frac)) * size


def _center(obj: dict) -> np.ndarray:
    sw = float(obj.get("strokeWidth") or 0)
    w = (float(obj.get("width") or 0) + sw) * float(obj.get("scaleX") or 1)
    h = (float(obj.get("height") or 0) + sw) * float(obj.get("scaleY") or 1)
    return np.array([float(obj.get("left") or 0) + _origin_shift(obj.get("originX", "left"), w, "left", "right"),
                     float(obj.get("top") or 0) + _origin_shift(obj.get("originY", "top"), h, "top", "bottom")])


def _path_points(obj: dict) -> np.ndarray:
    """The on-curve points of a Fabric path ([cmd, ..., x, y] commands), placed where the object now is
    (a path moved, scaled or rotated on the canvas keeps its raw coordinates and changes left/top/...)."""
    cmds = [c for c in obj.get("path") or [] if isinstance(c, (list, tuple)) and len(c) >= 3]
    if not cmds:
        return np.empty((0, 2))
    on_curve = np.array([[float(c[-2]), float(c[-1])] for c in cmds])
    every = np.array([xy for c in cmds for xy in zip(c[1::2], c[2::2])], float)  # control points too
    mid = (every.min(0) + every.max(0)) / 2  # Fabric's pathOffset: the centre of the path's own box
    a = math.radians(float(obj.get("angle") or 0))
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    scale = np.array([float(obj.get("scaleX") or 1), float(obj.get("scaleY") or 1)])
    return _center(obj) + ((on_curve - mid) * scale) @ rot.T


def shapes_from_canvas(json_data: Optional[dict]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(clicks [n, 2], strokes [[k, 2], ...]) in canvas pixels from streamlit-drawable-canvas's json_data."""
    points, strokes = [], []
    for obj in (json_data or {}).get("objects") or []:
        kind = str(obj.get("type", "")).lower()
        if kind == "circle":
            points.append(_center(obj))
        elif kind == "path":
            p = _path_points(obj)
            if len(p) == 1:
                points.append(p[0])
            elif len(p) > 1:
                strokes.append(p)
    return np.array(points, float).reshape(-1, 2), strokes


# --- from pixels to data -----------------------------------------------------------------------------

def _check_canvas(canvas_size: Sequence[float], box) -> tuple[float, float, np.ndarray]:
    try:
        w, h = (float(v) for v in canvas_size)
        b = np.asarray(box, float).reshape(2, 2)
    except (TypeError, ValueError):
        raise DataError("the canvas needs a size (width, height) and a data box ((x0, x1), (y0, y1))") from None
    if not (w > 0 and h > 0 and np.isfinite([w, h]).all()):
        raise DataError(f"the canvas size must be positive, got {w:g}×{h:g}")
    if not (np.isfinite(b).all() and (b[:, 1] > b[:, 0]).all()):
        raise DataError(f"the data box must have x0 < x1 and y0 < y1, got {b.tolist()}")
    return w, h, b


def to_data_space(px: np.ndarray, canvas_size: Sequence[float], box=DEFAULT_BOX) -> np.ndarray:
    """Canvas pixels [n, 2] (origin top-left, y down) → data coordinates in box (y up). Points dragged
    past the edge are clipped to it."""
    w, h, b = _check_canvas(canvas_size, box)
    px = np.clip(np.asarray(px, float).reshape(-1, 2), 0, [w, h])
    x = b[0, 0] + px[:, 0] / w * (b[0, 1] - b[0, 0])
    y = b[1, 1] - px[:, 1] / h * (b[1, 1] - b[1, 0])
    return np.stack([x, y], 1)


def resample_stroke(stroke: np.ndarray, spacing: float) -> np.ndarray:
    """Points every `spacing` along a polyline [k, 2] (both ends included)."""
    stroke = np.asarray(stroke, float).reshape(-1, 2)
    seg = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return stroke[:1]
    t = np.linspace(0, s[-1], max(2, int(math.ceil(s[-1] / spacing)) + 1))
    return np.stack([np.interp(t, s, stroke[:, 0]), np.interp(t, s, stroke[:, 1])], 1)


def anchors(points: np.ndarray, strokes: Sequence[np.ndarray], canvas_size, box=DEFAULT_BOX,
            spacing: Optional[float] = None) -> np.ndarray:
    """The drawing's anchors in data space: every click, and every stroke resampled each `spacing`
    data units (default: 1/100 of the box's larger side)."""
    _, _, b = _check_canvas(canvas_size, box)
    spacing = float(spacing) if spacing else float((b[:, 1] - b[:, 0]).max()) / 100
    parts = [to_data_space(points, canvas_size, box)] if len(points) else []
    parts += [resample_stroke(to_data_space(s, canvas_size, box), spacing) for s in strokes if len(s)]
    out = np.concatenate(parts) if parts else np.empty((0, 2))
    if len(out) == 0:
        raise DataError("the drawing is empty: click or drag on the canvas to place some data")
    if len(out) > MAX_ANCHORS:
        raise DataError(f"the drawing has {len(out):,} anchor points (at most {MAX_ANCHORS:,}); draw less")
    return out


def sample_drawing(anchor_points: np.ndarray, std: float, n: int = 2000, seed: int = 0) -> np.ndarray:
    """n points from the equal-weight mixture of N(anchor, std² I), float32 [n, 2], reproducible by seed."""
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
        raise DataError(f"the spread (std) must be a positive number, got {std!r}")
    if not (isinstance(n, int) and n >= 1):
        raise DataError(f"the number of points must be a whole number ≥ 1, got {n!r}")
    rng = np.random.default_rng(seed)
    a = np.asarray(anchor_points, float)
    return (a[rng.integers(0, len(a), size=n)] + std * rng.standard_normal((n, 2))).astype(np.float32)


def save_drawn_dataset(run_dir, json_data: Optional[dict] = None, *, canvas_size, box=DEFAULT_BOX,
                       std: float = 0.1, n: int = 2000, seed: int = 0, points=None, strokes=None,
                       spacing: Optional[float] = None) -> Path:
    """Write RUN/drawn_data.csv (header x1,x2; n rows) and RUN/drawing.json; return the CSV's path, the
    dataset to train on. The drawing comes from the canvas's json_data or from points/strokes (pixels)."""
    if json_data is not None:
        points, strokes = shapes_from_canvas(json_data)
    points = np.asarray(points if points is not None else np.empty((0, 2)), float).reshape(-1, 2)
    strokes = [np.asarray(s, float).reshape(-1, 2) for s in (strokes or [])]
    a = anchors(points, strokes, canvas_size, box, spacing)
    x = sample_drawing(a, std, n, seed)
    run_dir = Path(run_dir)
    buf = io.StringIO()
    buf.write("x1,x2\n")
    np.savetxt(buf, x, delimiter=",", fmt="%.9g")  # 9 digits: the float32 values round-trip exactly
    csv = run_dir / DRAWN_CSV
    w, h, b = _check_canvas(canvas_size, box)
    # the anchors stored exactly: with seed and std they regenerate the CSV
    meta = {"std": float(std), "n": int(n), "seed": int(seed), "canvas_size": [w, h], "box": b.tolist(),
            "clicks": len(points), "strokes": len(strokes), "anchors": a.tolist()}
    write_bytes_atomic(run_dir / DRAWING_JSON, json.dumps(meta).encode())
    write_bytes_atomic(csv, buf.getvalue().encode())
    return csv
