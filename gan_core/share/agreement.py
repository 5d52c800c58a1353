"""How closely two runtimes agree on a model's outputs (torch and onnxruntime at export, onnxruntime and
onnxruntime-web on the share page): one measure, numpy only."""
from __future__ import annotations

import numpy as np


def relative_difference(got: np.ndarray, expected: np.ndarray, scale: float | None = None) -> float:
    """Largest |got − expected| divided by the outputs' size beyond 1 (`scale`, default max(1, max |expected|)):
    float32 rounds in proportion to a value's size (D's logits are large where it is confident; points come in
    the data's own units), so two runtimes agree within a fraction of it. inf for a non-finite difference.
    The export's check (gan_core.share.export) and the page's check (gan_core.share.page) both use it."""
    if scale is None:
        scale = max(1.0, float(np.abs(expected).max())) if expected.size and np.isfinite(expected).all() else 1.0
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64)) / scale
    return float(diff.max()) if np.isfinite(diff).all() else float("inf")
