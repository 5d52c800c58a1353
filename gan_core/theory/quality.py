"""Sample-quality measures: mode coverage on the toy mixtures, and scores for ``digits``.

Mixtures (SPEC §3, as in the mode-collapse literature): a generated point is *high quality* when
it lies within 3 std of its nearest centre; a mode is *covered* when at least 0.8 % of all
generated points (20 of 2,500) are high-quality points of that mode.

Digits: a small scikit-learn classifier trained once on sklearn's 8x8 digits stands in for the
Inception network, giving classes covered, an inception score, and a Fréchet distance.
Pure numpy / scikit-learn / scipy; no torch.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

N_STD = 3.0
MIN_FRACTION = 0.008
_CACHE_VERSION = 2  # bump when the classifier recipe changes, so old caches are retrained


# ------------------------------------------------------------------ mixtures
@dataclass
class ModeQuality:
    modes_covered: int
    n_modes: int
    high_quality_fraction: float
    per_mode: list = field(default_factory=list)  # high-quality sample count of each mode

    def as_dict(self) -> dict:
        return asdict(self)


def mode_quality(samples, centers, std: float, n_std: float = N_STD,
                 min_fraction: float = MIN_FRACTION) -> ModeQuality:
    """Mode coverage and high-quality fraction of ``samples`` [N, dim] for mixture ``centers``.

    Non-finite samples count in N but are never high quality (a diverged generator scores 0).
    """
    x = np.asarray(samples, float)
    c = np.asarray(centers, float)
    x = x[:, None] if x.ndim == 1 else x
    c = c[:, None] if c.ndim == 1 else c
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1]:
        raise ValueError(f"samples {x.shape} and centers {c.shape} must be [n, dim] alike")
    n, k = len(x), len(c)
    if n == 0:
        return ModeQuality(0, k, 0.0, [0] * k)
    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)  # [N, K]
    d2 = np.where(np.isfinite(d2), d2, np.inf)
    nearest = d2.argmin(axis=1)
    hq = d2[np.arange(n), nearest] <= (n_std * std) ** 2
    per_mode = np.bincount(nearest[hq], minlength=k)
    # tiny tolerance so 20 of 2,500 counts although 0.008 * 2500 is not exact in binary
    covered = int((per_mode >= min_fraction * n - 1e-9).sum())
    return ModeQuality(covered, k, float(hq.mean()), per_mode.tolist())


# -------------------------------------------------------------------- digits
def _default_cache_dir() -> Path:
    return Path(os.path.expanduser("~/.cache/gan_dashboard"))


def _flatten(images) -> np.ndarray:
    """[n,1,8,8] / [n,8,8] / [n,64] images in [0,1] -> [n,64]; NaN -> 0, clipped to [0,1]."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim < 2 or x.size != len(x) * 64:
        raise ValueError(f"expected 8x8 digit images, got shape {x.shape}")
    return np.clip(np.nan_to_num(x.reshape(len(x), 64), nan=0.0), 0.0, 1.0)


def _load_digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data / 16.0, data.target  # our image scale: pixel / 16


class _NumpyMLP:
    """The trained classifier's forward pass (ReLU hidden layers, softmax output), from its weights."""

    def __init__(self, weights):
        self.weights = weights

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float64)
        for i, (w, b) in enumerate(self.weights):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        h = h - h.max(axis=1, keepdims=True)
        e = np.exp(h)
        return e / e.sum(axis=1, keepdims=True)


class DigitsScorer:
    """Classifier-based scores for 8x8 digit images (floats in [0, 1], e.g. [n, 1, 8, 8]).

    Trains an MLP (one hidden layer of 128, about 98 % held-out accuracy, seconds) on a fixed split
    (75/25, stratified, random_state=0) and caches its weights (an .npz, no pickle) in ``cache_dir``
    (default ``~/.cache/gan_dashboard/``).  An unreadable or outdated cache is retrained;
    ``trained_now`` says which happened.  ``test_accuracy`` is on the held-out quarter.
    """

    def __init__(self, cache_dir: Optional[Union[str, os.PathLike]] = None):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
        # Plain arrays (.npz, no pickle): a cache file is data, never code that loading would run.
        self.cache_path = self.cache_dir / f"digits_scorer_v{_CACHE_VERSION}.npz"
        self.trained_now = False
        state = self._read_cache()
        if state is None:
            state = self._train()
            self.trained_now = True
            self._write_cache(state)
        self.model = _NumpyMLP(state["weights"])
        self.test_accuracy = float(state["test_accuracy"])

    # --- cache ---------------------------------------------------------------
    def _read_cache(self) -> Optional[dict]:
        try:
            with np.load(self.cache_path, allow_pickle=False) as z:
                if int(z["version"]) != _CACHE_VERSION:
                    return None
                n = int(z["layers"])
                weights = [(z[f"w{i}"].astype(np.float64), z[f"b{i}"].astype(np.float64)) for i in range(n)]
                state = {"weights": weights, "test_accuracy": float(z["test_accuracy"])}
            if _NumpyMLP(weights).predict_proba(np.zeros((1, 64))).shape != (1, 10):  # smoke test
                return None
            return state
        except Exception:  # missing, truncated, foreign or corrupt: just retrain
            return None

    def _write_cache(self, state: dict) -> None:
        # temp file + os.replace: a reader never sees a half-written cache
        arrays = {"version": np.int64(_CACHE_VERSION), "layers": np.int64(len(state["weights"])),
                  "test_accuracy": np.float64(state["test_accuracy"])}
        for i, (w, b) in enumerate(state["weights"]):
            arrays[f"w{i}"], arrays[f"b{i}"] = w, b
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez(f, **arrays)
                os.replace(tmp, self.cache_path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass  # read-only home etc.: the scorer still works, it just retrains next time

    @staticmethod
    def _train() -> dict:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import train_test_split
        from sklearn.neural_network import MLPClassifier

        x, y = _load_digits()
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
        model = MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-3, max_iter=500, random_state=0)
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency

        # 64x128 matrices: BLAS threads only add contention (seconds lost on a busy 2-CPU box)
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_tr, y_tr)
        if list(model.classes_) != list(range(10)) or model.activation != "relu":
            raise RuntimeError("unexpected classifier layout")
        return {"weights": list(zip(model.coefs_, model.intercepts_)), "test_accuracy": float(model.score(x_te, y_te))}

    # --- scores --------------------------------------------------------------
    def predict_proba(self, images) -> np.ndarray:
        """p(y | x) for each image, [n, 10]. The last answer is kept: a snapshot asks twice for the same images
        (classes covered, inception score)."""
        last = getattr(self, "_last", None)
        if last is not None and last[0] is images:
            return last[1]
        p = self.model.predict_proba(_flatten(images))
        self._last = (images, p)
        return p

    def classes_covered(self, images, confidence: float = 0.9, min_fraction: float = 0.01) -> int:
        """Digit classes that make up >= ``min_fraction`` of the samples, counting only samples
        classified with probability >= ``confidence`` (blurry non-digits count for nothing)."""
        p = self.predict_proba(images)
        if len(p) == 0:
            return 0
        label, conf = p.argmax(axis=1), p.max(axis=1)
        counts = np.bincount(label[conf >= confidence], minlength=p.shape[1])
        return int((counts >= min_fraction * len(p) - 1e-9).sum())

    def inception_score(self, images) -> float:
        """IS = exp(E_x KL(p(y|x) ‖ p(y))): 1 for one repeated image, up to 10 for sharp,
        balanced digits."""
        p = np.clip(self.predict_proba(images), 1e-12, 1.0)
        if len(p) == 0:
            return float("nan")
        p_y = p.mean(axis=0, keepdims=True)
        kl = (p * (np.log(p) - np.log(p_y))).sum(axis=1)
        return float(np.exp(max(kl.mean(), 0.0)))

    @staticmethod
    def gaussian_fit(images) -> tuple[np.ndarray, np.ndarray]:
        """(mean, covariance) of the flattened pixels: the real data's is computed once per run."""
        a = _flatten(images)
        if len(a) < 2:
            raise ValueError("need at least 2 images on each side")
        return a.mean(axis=0), np.cov(a, rowvar=False)

    @staticmethod
    def frechet_distance(real_images, fake_images, eps: float = 1e-6, real_fit=None) -> float:
        """Fréchet distance between Gaussian fits of the flattened pixels (64-D):
        |mu_r - mu_f|² + tr(S_r + S_f - 2 (S_r S_f)^½).

        Digits have constant-zero border pixels, so the covariances are singular; ``eps`` on
        the diagonal keeps sqrtm stable and its round-off imaginary part is dropped.
        """
        from scipy import linalg

        (mu_a, s_a), (mu_b, s_b) = (real_fit or DigitsScorer.gaussian_fit(real_images),
                                    DigitsScorer.gaussian_fit(fake_images))
        eye = np.eye(len(mu_a)) * eps
        s_a, s_b = s_a + eye, s_b + eye
        covmean = linalg.sqrtm(s_a @ s_b)
        covmean = np.real(covmean)
        fd = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * np.trace(covmean)
        return float(max(fd, 0.0))
