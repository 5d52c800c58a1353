"""Datasets: the toy mixtures whose density is known, sklearn's digits, and user files.

Everything here is numpy: images are float32 in [0, 1], NCHW; points are float32 [n, d] in data units.
The training loop moves data to the device and samples minibatches there.
"""
from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import DataError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

DEFAULT_PARAMS = {
    "gaussian1d": {"mean": 4.0, "std": 0.5},
    "ring8": {"modes": 8, "radius": 2.0, "std": 0.02},
    "grid25": {"side": 5, "spacing": 2.0, "std": 0.05},
    "digits": {},
}


@dataclass
class Dataset:
    name: str
    kind: str                               # "points" or "image"
    sample_shape: tuple                     # (d,) or (C, H, W)
    description: str
    params: dict = field(default_factory=dict)
    data: Optional[np.ndarray] = None       # finite datasets
    centers: Optional[np.ndarray] = None    # isotropic Gaussian mixtures (known density)
    std: Optional[float] = None

    @property
    def known_density(self) -> bool:
        return self.centers is not None

    @property
    def size(self) -> Optional[int]:
        """Number of examples of a finite dataset; None for a distribution we sample from."""
        return None if self.data is None else len(self.data)

    @property
    def dim(self) -> int:
        return int(np.prod(self.sample_shape))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n examples (with replacement for finite data) — for previews, statistics and tests."""
        rng = np.random.default_rng(seed)
        if self.data is not None:
            return self.data[rng.integers(0, len(self.data), size=n)]
        idx = rng.integers(0, len(self.centers), size=n)
        return (self.centers[idx] + self.std * rng.standard_normal((n, self.centers.shape[1]))).astype(np.float32)

    def density(self, points: np.ndarray) -> np.ndarray:
        """p_data at points [n, d] (equal-weight isotropic mixture)."""
        if not self.known_density:
            raise DataError(f"the density of {self.name} is not known")
        d = self.centers.shape[1]
        sq = ((points[:, None, :] - self.centers[None, :, :]) ** 2).sum(-1)
        norm = (2 * math.pi * self.std ** 2) ** (d / 2)
        return np.exp(-sq / (2 * self.std ** 2)).mean(1) / norm

    def bounds(self, margin: float = 0.15) -> list[tuple[float, float]]:
        """A box holding essentially all of p_data, for the theory grid and plots."""
        pts = self.centers if self.known_density else self.sample(4096, seed=0).reshape(4096, -1)
        lo, hi = pts.min(0), pts.max(0)
        pad = (hi - lo) * margin + 4 * (self.std or 0) + (1.0 if self.name == "gaussian1d" else 0.5)
        return [(float(a - p), float(b + p)) for a, b, p in zip(lo, hi, np.broadcast_to(pad, lo.shape))]

    def normalisation(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature shift and scale so that MLPs see roughly standardised inputs."""
        if self.kind == "image":
            return np.zeros(1, np.float32), np.ones(1, np.float32)
        x = self.sample(20000, seed=12345).reshape(20000, -1)
        return x.mean(0).astype(np.float32), np.maximum(x.std(0), 1e-3).astype(np.float32)


# --- built-in datasets -----------------------------------------------------------------------

def _mixture(name: str, centers: np.ndarray, std: float, params: dict, description: str) -> Dataset:
    return Dataset(name, "points", (centers.shape[1],), description, params,
                   centers=centers.astype(np.float64), std=float(std))


def builtin(name: str, params: Optional[dict] = None) -> Dataset:
    p = {**DEFAULT_PARAMS[name], **(params or {})}
    if name == "gaussian1d":
        return _mixture(name, np.array([[p["mean"]]]), p["std"], p,
                        f"1-D Gaussian N({p['mean']}, {p['std']}²), the paper's Figure 1 setting")
    if name == "ring8":
        a = 2 * np.pi * np.arange(p["modes"]) / p["modes"]
        c = p["radius"] * np.stack([np.cos(a), np.sin(a)], 1)
        return _mixture(name, c, p["std"], p, f"{p['modes']} Gaussians on a circle of radius {p['radius']}, std {p['std']}")
    if name == "grid25":
        s = p["side"]
        v = (np.arange(s) - (s - 1) / 2) * p["spacing"]
        c = np.stack(np.meshgrid(v, v, indexing="ij"), -1).reshape(-1, 2)
        return _mixture(name, c, p["std"], p, f"{s * s} Gaussians on a {s}×{s} grid, spacing {p['spacing']}, std {p['std']}")
    if name == "digits":
        from sklearn.datasets import load_digits  # ships with scikit-learn: no download
        x = load_digits().images.astype(np.float32) / 16.0
        return Dataset(name, "image", (1, 8, 8), "1,797 handwritten digits, 8×8 grey (scikit-learn)", p,
                       data=x[:, None, :, :])
    raise DataError(f"unknown dataset {name!r}")


# --- user data ---------------------------------------------------------------------------------

def _points(x: np.ndarray, source: str) -> Dataset:
    if x.ndim == 1:
        x = x[:, None]
    return Dataset(Path(source).name, "points", (x.shape[1],), f"{len(x)} points in {x.shape[1]}-D from {Path(source).name}",
                   {"path": str(source)}, data=np.ascontiguousarray(x, dtype=np.float32))


def load_csv(source, name: str = "data.csv") -> Dataset:
    import pandas as pd
    raw = source.getvalue() if hasattr(source, "getvalue") else Path(source).read_bytes()
    if not raw.strip():
        raise DataError(f"{name}: the file is empty")
    text = raw.decode("utf-8", errors="replace")
    first = text.splitlines()[0].split(",")
    has_header = any(_not_number(c) for c in first)
    try:
        df = pd.read_csv(io.StringIO(text), header=0 if has_header else None, skipinitialspace=True)
    except Exception as e:  # pandas' own message is precise (e.g. ragged rows)
        raise DataError(f"{name}: not a readable CSV ({str(e).splitlines()[0]})") from None
    if len(df) == 0:
        raise DataError(f"{name}: the file has a header but no rows")
    for col in df.columns:
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            value = df[col].iloc[row]
            what = "is empty or NaN" if pd.isna(value) or str(value).strip().lower() in ("nan", "") else f"is not a number ({value!r})"
            raise DataError(f"{name}: row {row + 1 + has_header}, column {col!r} {what}")
        df[col] = num
    return _points(df.to_numpy(dtype=np.float32), name)


def _not_number(s: str) -> bool:
    try:
        float(s)
        return False
    except ValueError:
        return True


def _to_images(x: np.ndarray, name: str, size: int) -> Dataset:
    """[n,H,W], [n,H,W,C] or [n,C,H,W] numbers → [n,C,size,size] in [0,1]."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DataError(f"{name}: image arrays must be [n,H,W], [n,H,W,C] or [n,C,H,W] with 1 or 3 channels, got {list(x.shape)}")
    x = x.astype(np.float32)
    hi = float(x.max()) if x.size else 0.0
    x = x / 255.0 if hi > 1.0 else x
    if x.min() < 0:
        raise DataError(f"{name}: image values must be non-negative (0..1 or 0..255)")
    if x.shape[2:] != (size, size):
        x = _resize_batch(x, size)
    return Dataset(Path(name).name, "image", tuple(x.shape[1:]), f"{len(x)} images {x.shape[1]}×{size}×{size} from {Path(name).name}",
                   {"path": name, "image_size": size}, data=np.ascontiguousarray(x))


def _resize_batch(x: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image
    out = np.empty((len(x), x.shape[1], size, size), np.float32)
    for i, im in enumerate(x):
        for c in range(im.shape[0]):
            out[i, c] = np.asarray(Image.fromarray(im[c], mode="F").resize((size, size), Image.BILINEAR))
    return np.clip(out, 0, 1)


def load_npy(source, name: str = "data.npy", image_size: int = 32) -> Dataset:
    try:
        raw = source.getvalue() if hasattr(source, "getvalue") else Path(source).read_bytes()
        if not raw:
            raise DataError(f"{name}: the file is empty")
        x = np.load(io.BytesIO(raw), allow_pickle=False)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{name}: not a readable .npy array ({str(e).splitlines()[0]})") from None
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{name}: the array holds {x.dtype}, not numbers")
    if x.size == 0 or len(x) == 0:
        raise DataError(f"{name}: the array is empty")
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise DataError(f"{name}: the array has NaN or Inf (first at index {tuple(int(i) for i in bad)})")
    if x.ndim <= 2:
        return _points(x.astype(np.float32), name)
    return _to_images(x, name, image_size)


def load_images(source, name: str, image_size: int = 32) -> Dataset:
    """A folder or .zip of images; every image is resized to image_size² (mixed sizes are fine)."""
    from PIL import Image
    items: list[tuple[str, bytes]] = []
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        items = [(str(p), p.read_bytes()) for p in sorted(Path(source).rglob("*")) if p.suffix.lower() in IMAGE_EXTS]
    else:
        raw = source.getvalue() if hasattr(source, "getvalue") else Path(source).read_bytes()
        if not raw:
            raise DataError(f"{name}: the file is empty")
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                items = [(n, zf.read(n)) for n in sorted(zf.namelist())
                         if n.lower().endswith(IMAGE_EXTS) and not n.startswith("__MACOSX")]
        except zipfile.BadZipFile:
            raise DataError(f"{name}: not a valid .zip file") from None
    images, skipped = [], 0
    for _, b in items:
        try:
            im = Image.open(io.BytesIO(b))
            im.load()
            images.append(im)
        except Exception:
            skipped += 1  # a broken image among good ones is skipped, not fatal
    if not images:
        raise DataError(f"{name}: no readable image found ({len(items)} image-named files, {skipped} unreadable)")
    rgb = any(im.mode not in ("L", "1", "I", "I;16", "F", "LA") for im in images)
    mode = "RGB" if rgb else "L"
    arr = np.stack([np.asarray(im.convert(mode).resize((image_size, image_size), Image.BILINEAR), np.float32) / 255.0
                    for im in images])
    arr = arr.transpose(0, 3, 1, 2) if rgb else arr[:, None]
    ds = Dataset(Path(name).name, "image", tuple(arr.shape[1:]),
                 f"{len(arr)} images {arr.shape[1]}×{image_size}×{image_size} from {Path(name).name}"
                 + (f" ({skipped} unreadable skipped)" if skipped else ""),
                 {"path": str(name), "image_size": image_size}, data=np.ascontiguousarray(arr))
    return ds


def load_file(source, name: Optional[str] = None, image_size: int = 32) -> Dataset:
    """Dispatch on the file name: .csv, .npy, .zip or a folder."""
    name = name or str(source)
    low = name.lower()
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return load_images(source, name, image_size)
    if low.endswith(".csv"):
        return load_csv(source, name)
    if low.endswith(".npy"):
        return load_npy(source, name, image_size)
    if low.endswith(".zip"):
        return load_images(source, name, image_size)
    raise DataError(f"{Path(name).name}: unsupported file type; use a .csv of points, a .npy array, or a .zip/folder of images")


def load_dataset(cfg) -> Dataset:
    """The dataset a (resolved) TrainConfig asks for."""
    from .config import BUILTIN_DATASETS
    if cfg.dataset in BUILTIN_DATASETS:
        return builtin(cfg.dataset, cfg.dataset_params)
    if not Path(cfg.dataset).exists():
        raise DataError(f"{cfg.dataset}: no such file or folder")
    return load_file(cfg.dataset, cfg.dataset, cfg.image_size or 32)
