"""Samples as files and pictures: an image grid, PNG and CSV bytes, atomic writes, and `generate` to a file
(.csv, .png or .npy). onnxruntime, numpy and Pillow only, like gan_core.share.generation.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gan_core.errors import GanError
from gan_core.files import write_output
from gan_core.share.generation import load_model

MAX_GRID_IMAGES = 10_000   # beyond this one PNG grid is no longer viewable; .npy is the better format


def image_grid(images: np.ndarray, ncol: int | None = None, gap: int = 2, min_tile: int = 64,
               min_scale: int = 3) -> Image.Image:
    """Tile images [n, C, H, W] in [0, 1] (C = 1 or 3) into one picture, each image repeated a whole number of
    times (at least min_scale, more for tiny ones up to about min_tile pixels): a person sees every pixel."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[0] < 1 or x.shape[1] not in (1, 3):
        raise GanError(f"images must have shape [n, C, H, W] with C = 1 or 3, got {list(x.shape)}")
    n, c, h, w = x.shape
    scale = max(min_scale, math.ceil(min_tile / min(h, w)))   # nearest-neighbour keeps pixels crisp
    x = np.nan_to_num(np.clip(x, 0.0, 1.0)).repeat(scale, axis=2).repeat(scale, axis=3)
    h, w = h * scale, w * scale
    ncol = max(1, min(n, int(ncol) if ncol else math.ceil(math.sqrt(n))))
    nrow = math.ceil(n / ncol)
    canvas = np.full((c, nrow * h + (nrow + 1) * gap, ncol * w + (ncol + 1) * gap), 0.8, np.float32)
    for i in range(n):
        r, q = divmod(i, ncol)
        top, left = gap + r * (h + gap), gap + q * (w + gap)
        canvas[:, top:top + h, left:left + w] = x[i]
    pixels = (canvas * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(pixels[0], "L") if c == 1 else Image.fromarray(pixels.transpose(1, 2, 0), "RGB")


def atomic_write(path, data: bytes) -> Path:
    """A sample file or page a user named, written whole or not at all (gan_core.files.write_output: a link's
    target, /dev/stdout or a pipe as they are); no fsync: it is re-made on request."""
    return write_output(path, data, durable=False)


def points_csv_bytes(points: np.ndarray) -> bytes:
    """Points [n, d] as CSV with a header x0,x1,... (what the CLI writes and the page downloads)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2:
        raise GanError(f"points must have shape [n, d], got {list(p.shape)}")
    buf = io.StringIO()
    buf.write(",".join(f"x{i}" for i in range(p.shape[1])) + "\n")
    np.savetxt(buf, p, fmt="%.7g", delimiter=",")
    return buf.getvalue().encode()


def png_bytes(image) -> bytes:
    """A PIL image, or an image batch [n, C, H, W] as a grid, encoded as PNG."""
    img = image if isinstance(image, Image.Image) else image_grid(image)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_points_csv(points: np.ndarray, path) -> Path:
    return atomic_write(path, points_csv_bytes(points))


def save_png(image, path) -> Path:
    """Save a PIL image, or an image batch [n, C, H, W] as a grid."""
    return atomic_write(path, png_bytes(image))


@dataclass
class GeneratedFile:
    path: Path
    format: str      # 'csv' | 'png' | 'npy'
    n: int
    sample_shape: tuple

    def __str__(self) -> str:   # what the CLI prints after "wrote"
        what = "points" if len(self.sample_shape) == 1 else "images"
        return f"{self.path} ({self.n} {what}, each of shape {list(self.sample_shape)})"


def generate_to_file(model_path, n: int, seed: int, out_path, rejection: bool | None = None) -> GeneratedFile:
    """The CLI's `generate`: CSV for points, a PNG grid for images (.npy for either, on request)."""
    model = load_model(model_path)
    out = Path(out_path)
    suffix = out.suffix.lower()
    if model.output_kind == "points" and suffix == ".png":
        raise GanError("this model makes points, not images: write them to a .csv (or .npy) file")
    if model.output_kind == "image" and suffix == ".csv":
        raise GanError("this model makes images, not points: write them to a .png (or .npy) file")
    if model.output_kind == "image" and suffix != ".npy" and int(n) > MAX_GRID_IMAGES:
        raise GanError(f"{n} images are too many for one PNG grid (at most {MAX_GRID_IMAGES}); "
                       "write a .npy file instead")
    if out.is_dir():
        raise GanError(f"{out} is a folder; give a file name such as samples.csv or samples.png")
    samples = model.generate(n, seed=seed, rejection=rejection)
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, samples)
        atomic_write(out, buf.getvalue())
        fmt = "npy"
    elif model.output_kind == "points":
        save_points_csv(samples, out)
        fmt = "csv"
    else:
        save_png(samples, out)
        fmt = "png"
    return GeneratedFile(out, fmt, len(samples), model.output_shape)
