"""User data files (.csv points, .npy arrays, IDX files, .zip archives or folders of images) read as Datasets.

A user file is untrusted: a small zip can hold a huge entry, a small PNG a huge picture. Everything is
checked from headers before it is read or decoded, images are shrunk as they are read, and a file over
a limit is refused with one line (time and memory stay within about 20 s and 1 GB).
"""
from __future__ import annotations

import io
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from gan_core.data.dataset import Dataset
from gan_core.data.idx import read_idx
from gan_core.data.limits import (
    MAX_DATA_BYTES,
    MAX_ENTRY_BYTES,
    MAX_FILE_BYTES,
    MAX_IMAGES,
    MAX_NAME_CHARS,
    MAX_PIXELS,
    MAX_TOTAL_BYTES,
    MAX_TOTAL_PIXELS,
    MAX_ZIP_ENTRIES,
    read_bounded,
)
from gan_core.data.limits import mb as _mb
from gan_core.errors import DataError
from gan_core.files import open_regular

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

F32_MAX = float(np.finfo(np.float32).max)


def _check_name(name: str) -> str:
    base = Path(name).name
    if len(base.encode("utf-8", "replace")) > MAX_NAME_CHARS:
        raise DataError(f"{base[:40]}…: the file name is too long ({len(base)} characters; at most {MAX_NAME_CHARS})")
    return base


def _read_bytes(source, name: str, limit: Optional[int] = None) -> bytes:
    """The file's bytes (a path or an uploaded file object), refusing files over `limit` before reading."""
    return read_bounded(source, Path(name).name, MAX_FILE_BYTES if limit is None else limit)


def _points(x: np.ndarray, source: str, first_row: int = 0) -> Dataset:
    if x.ndim == 1:
        x = x[:, None]
    if x.size * 4 > MAX_DATA_BYTES:
        raise DataError(f"{Path(source).name}: {x.shape[0]:,} × {x.shape[1]:,} values are too many "
                        f"(at most {_mb(MAX_DATA_BYTES)} as 32-bit floats)")
    with np.errstate(over="ignore", invalid="ignore"):
        f32 = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(f32).all():
        row, col = (int(i) for i in np.argwhere(~np.isfinite(f32))[0])
        where = f"row {row + first_row}, column {col + 1}" if first_row else f"index {(row, col)}"
        raise DataError(f"{Path(source).name}: {where} holds {float(x[row, col]):g}, beyond the range of "
                        f"32-bit floats (±{F32_MAX:.3g})")
    return Dataset(Path(source).name, "points", (x.shape[1],),
                   f"{len(x)} points in {x.shape[1]}-D from {Path(source).name}",
                   {"path": str(source)}, data=f32)


def _first_data_line(raw: bytes) -> Optional[str]:
    """The first line that carries data (not blank, not a '#' comment), read lazily from the bytes."""
    for line in io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", errors="replace"):
        if line.strip() and not line.lstrip().startswith("#"):
            return line.rstrip("\r\n")
    return None


def load_csv(source, name: str = "data.csv") -> Dataset:
    import csv

    import pandas as pd
    raw = _read_bytes(source, name)
    name = Path(name).name
    first = _first_data_line(raw)   # utf-8-sig: a byte-order mark is not part of the first name
    if first is None:
        raise DataError(f"{name}: the file has no data (only blank or '#' comment lines)")
    header = next(csv.reader([first], skipinitialspace=True), [])  # csv: quoted numbers are numbers
    has_header = any(_not_number(c) for c in header)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # a header narrower than its rows
            df = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", encoding_errors="replace",
                             header=0 if has_header else None, skipinitialspace=True, comment="#",
                             skip_blank_lines=True, index_col=False)
    except pd.errors.ParserWarning:
        raise DataError(f"{name}: the header names {len(header)} columns but rows hold more values; "
                        "give every column a name (or remove the header)") from None
    except Exception as e:  # pandas' own message is precise (e.g. ragged rows)
        raise DataError(f"{name}: not a readable CSV ({_line(e)})") from None
    if len(df) == 0:
        raise DataError(f"{name}: the file has a header but no rows")
    for col in df.columns:
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            value = df[col].iloc[row]
            empty = pd.isna(value) or str(value).strip().lower() in ("nan", "")
            what = "is empty or NaN" if empty else f"is not a number ({value!r})"
            raise DataError(f"{name}: row {row + 1 + has_header}, column {col!r} {what}")
        df[col] = num
    return _points(df.to_numpy(dtype=np.float64), name, first_row=1 + has_header)


def _line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _not_number(s: str) -> bool:
    try:
        float(s.strip())
        return False
    except ValueError:
        return True


def _unit_scale(x: np.ndarray, name: str) -> float:
    """What divides image values into [0, 1]: 1, 255 (8-bit) or 65535 (16-bit)."""
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo < 0:
        raise DataError(f"{name}: image values must be non-negative (0..1, 0..255 or 0..65535)")
    if x.dtype == np.uint16:
        return 65535.0
    for scale in (1.0, 255.0, 65535.0):
        if hi <= scale:
            return scale
    raise DataError(f"{name}: image values reach {hi:.4g}; expected 0..1, 0..255 or 0..65535")


def _to_images(x: np.ndarray, name: str, size: int) -> Dataset:
    """[n,H,W], [n,H,W,C] or [n,C,H,W] numbers → [n,C,size,size] in [0,1]."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DataError(f"{name}: image arrays must be [n,H,W], [n,H,W,C] or [n,C,H,W] with 1 or 3 channels, "
                        f"got {list(x.shape)}")
    n, c = x.shape[:2]
    if n * c * size * size * 4 > MAX_DATA_BYTES:
        raise DataError(f"{name}: {n:,} images of {c}×{size}×{size} need more than {_mb(MAX_DATA_BYTES)}; "
                        "use fewer images or a smaller image size")
    scale = _unit_scale(x, name)
    if x.shape[2:] != (size, size):
        out = _resize_batch(x, size, scale)
    else:
        out = np.clip(x.astype(np.float32) / np.float32(scale), 0, 1)
    return Dataset(Path(name).name, "image", tuple(out.shape[1:]),
                   f"{n} images {c}×{size}×{size} from {Path(name).name}",
                   {"path": name, "image_size": size}, data=np.ascontiguousarray(out))


def _resize_batch(x: np.ndarray, size: int, scale: float = 1.0) -> np.ndarray:
    from PIL import Image
    out = np.empty((len(x), x.shape[1], size, size), np.float32)
    for i, im in enumerate(x):   # one image at a time: never a float copy of the whole array
        for c in range(im.shape[0]):
            plane = np.asarray(im[c], np.float32) / np.float32(scale)
            out[i, c] = np.asarray(Image.fromarray(plane, mode="F").resize((size, size), Image.BILINEAR))
    return np.clip(out, 0, 1)


def load_npy(source, name: str = "data.npy", image_size: int = 32) -> Dataset:
    raw = _read_bytes(source, name)
    name = Path(name).name
    if raw[:6] != b"\x93NUMPY":
        if raw[:2] == b"PK":
            raise DataError(f"{name}: this is a .npz archive (or another zip) named .npy; "
                            "save one array with numpy.save")
        raise DataError(f"{name}: not a readable .npy array (the file does not start with numpy's header)")
    try:
        x = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as e:
        raise DataError(f"{name}: not a readable .npy array ({_line(e)})") from None
    if not isinstance(x, np.ndarray):
        raise DataError(f"{name}: not a single .npy array")
    if np.iscomplexobj(x):
        raise DataError(f"{name}: the array holds complex numbers ({x.dtype}); give real numbers")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{name}: the array holds {x.dtype}, not numbers")
    if x.ndim == 0:
        raise DataError(f"{name}: the array is a single number (0-d); give [n, d] points or [n, H, W] images")
    if x.size == 0 or len(x) == 0:
        raise DataError(f"{name}: the array is empty")
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise DataError(f"{name}: the array has NaN or Inf (first at index {tuple(int(i) for i in bad)})")
    if x.ndim <= 2:
        return _points(x, name)
    return _to_images(x, name, image_size)


def load_idx(source, name: str = "data-ubyte", image_size: int = 32) -> Dataset:
    """An IDX file (MNIST's format, gzipped or not): 1-D or [n, d] values are points, [n, H, W] images."""
    name = Path(name).name
    x = read_idx(source, name, max_file=MAX_FILE_BYTES, max_payload=MAX_TOTAL_BYTES)
    if x.size == 0:
        raise DataError(f"{name}: the file holds no values")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise DataError(f"{name}: the array has NaN or Inf (first at index {tuple(int(i) for i in bad)})")
    return _points(x, name) if x.ndim <= 2 else _to_images(x, name, image_size)


class _Images:
    """Images shrunk to size² as they are read: uint8 (or float for 16-bit) planes, never the full picture."""

    GREY = ("L", "1", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "LA")

    def __init__(self, name: str, size: int):
        self.name, self.size = name, size
        self.planes: list[np.ndarray] = []
        self.colour = False
        self.skipped = 0
        self.pixels = 0

    def add(self, data: bytes, entry: str) -> None:
        from PIL import Image
        try:
            im = Image.open(io.BytesIO(data))   # reads the header only
            w, h = im.size
        except Image.DecompressionBombError:
            raise DataError(f"{self.name}: {entry} has too many pixels; at most {MAX_PIXELS / 1e6:.0f} million "
                            "per image (resize it first)") from None
        except Exception:
            self.skipped += 1   # a broken image among good ones is skipped, not fatal
            return
        if w * h > MAX_PIXELS:
            raise DataError(f"{self.name}: {entry} is {w}×{h} pixels; at most {MAX_PIXELS / 1e6:.0f} million "
                            "per image (resize it first)")
        try:
            colour = im.mode not in self.GREY
            if im.format == "JPEG":   # decode at 1/2..1/8 scale, no larger than needed
                im.draft("RGB" if colour else "L", (self.size, self.size))
            self.pixels += im.size[0] * im.size[1]
            if self.pixels > MAX_TOTAL_PIXELS:
                raise DataError(f"{self.name}: the images hold more than {MAX_TOTAL_PIXELS / 1e6:.0f} million pixels "
                                "in all; resize them first (training uses 64×64 at most)")
            plane = self._shrink(im, colour)
        except DataError:
            raise
        except Exception:
            self.skipped += 1
            return
        self.colour |= colour
        self.planes.append(plane)
        per = (3 if self.colour else 1) * self.size * self.size * 4
        if len(self.planes) * per > MAX_DATA_BYTES:
            raise DataError(f"{self.name}: more than {len(self.planes) - 1:,} images of {3 if self.colour else 1}×"
                            f"{self.size}×{self.size} would need over {_mb(MAX_DATA_BYTES)}; use fewer images "
                            "or a smaller image size")

    def _shrink(self, im, colour: bool) -> np.ndarray:
        from PIL import Image
        s = (self.size, self.size)
        if im.mode in ("I", "F") or im.mode.startswith("I;16"):   # 16-bit or float: scale, don't clip at 255
            a = np.asarray(im.convert("F") if im.mode != "F" else im, np.float32)
            scale = 65535.0 if im.mode.startswith("I;16") else _unit_scale(a, self.name)
            small = np.asarray(Image.fromarray(a / np.float32(scale), mode="F").resize(s, Image.BILINEAR))
            return np.clip(small, 0, 1)[None]
        small = np.asarray(im.convert("RGB" if colour else "L").resize(s, Image.BILINEAR), np.uint8)
        return small.transpose(2, 0, 1) if colour else small[None]

    def array(self) -> np.ndarray:
        c = 3 if self.colour else 1
        out = np.empty((len(self.planes), c, self.size, self.size), np.float32)
        for i, p in enumerate(self.planes):   # grey planes repeat into RGB, as PIL's L → RGB does
            out[i] = p / np.float32(255) if p.dtype == np.uint8 else p
        self.planes = []
        return out


def _zip_entry_count(f) -> Optional[int]:
    """Entries a zip declares in its end record: read before the central directory is parsed."""
    try:
        rec = zipfile._EndRecData(f)
    except Exception:
        return None
    return int(rec[zipfile._ECD_ENTRIES_TOTAL]) if rec else None


def _zip_images(f, name: str, reader: _Images) -> int:
    """Feed the zip's image entries to reader; returns how many image files it named."""
    count = _zip_entry_count(f)
    if count is not None and count > MAX_ZIP_ENTRIES:
        raise DataError(f"{name}: the zip holds {count:,} entries; at most {MAX_ZIP_ENTRIES:,}")
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise DataError(f"{name}: not a valid .zip file") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and i.filename.lower().endswith(IMAGE_EXTS)
                 and not i.filename.startswith("__MACOSX")]
        if len(zf.infolist()) > MAX_ZIP_ENTRIES:
            raise DataError(f"{name}: the zip holds {len(zf.infolist()):,} entries; at most {MAX_ZIP_ENTRIES:,}")
        if len(infos) > MAX_IMAGES:
            raise DataError(f"{name}: the zip holds {len(infos):,} images; at most {MAX_IMAGES:,}")
        total = 0
        for info in sorted(infos, key=lambda i: i.filename):
            entry = info.filename[-80:]
            if info.flag_bits & 0x1:
                raise DataError(f"{name}: {entry} is encrypted; zip the images without a password")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise DataError(f"{name}: {entry} uses compression method {info.compress_type}; re-zip the images "
                                "with the standard method (deflate)")
            if info.file_size > MAX_ENTRY_BYTES:
                raise DataError(f"{name}: {entry} unpacks to {_mb(info.file_size)}; "
                                f"at most {_mb(MAX_ENTRY_BYTES)} per image")
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise DataError(f"{name}: the images unpack to more than {_mb(MAX_TOTAL_BYTES)} in all")
            try:
                with zf.open(info) as fh:   # zipfile stops at the declared size and checks the CRC
                    data = fh.read(MAX_ENTRY_BYTES + 1)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError):
                reader.skipped += 1         # a corrupt entry is like an unreadable image
                continue
            reader.add(data, entry)
        return len(infos)


def _folder_images(folder: Path, name: str, reader: _Images) -> int:
    paths = []
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in IMAGE_EXTS and p.is_file():   # is_file: no pipes or devices named .png
            paths.append(p)
            if len(paths) > MAX_IMAGES:
                raise DataError(f"{name}: more than {MAX_IMAGES:,} image files; at most {MAX_IMAGES:,}")
    total = 0
    for p in paths:
        size = p.stat().st_size
        if size > MAX_ENTRY_BYTES:
            raise DataError(f"{name}: {p.name} is {_mb(size)}; at most {_mb(MAX_ENTRY_BYTES)} per image")
        total += size
        if total > MAX_TOTAL_BYTES:
            raise DataError(f"{name}: the images hold more than {_mb(MAX_TOTAL_BYTES)} in all")
        with open_regular(p, follow_links=True) as f:  # swapped for a FIFO since is_file: never blocks
            reader.add(f.read(MAX_ENTRY_BYTES + 1), p.name)
    return len(paths)


def _read_images(source, reader: _Images) -> int:
    """Feed a folder's or a zip's images to reader; how many image files there were."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return _folder_images(Path(source), reader.name, reader)
    if hasattr(source, "getvalue"):
        raw = source.getvalue()
        if not raw:
            raise DataError(f"{reader.name}: the file is empty")
        return _zip_images(io.BytesIO(raw), reader.name, reader)
    try:
        if Path(source).stat().st_size == 0:
            raise DataError(f"{reader.name}: the file is empty")
        with open_regular(source, follow_links=True) as f:   # the zip is read entry by entry, never whole
            return _zip_images(f, reader.name, reader)
    except OSError as e:
        raise DataError(f"{reader.name}: cannot read the file ({e.strerror or e})") from None


def load_images(source, name: str, image_size: int = 32) -> Dataset:
    """A folder or .zip of images; every image is resized to image_size² as it is read (mixed sizes are fine)."""
    from PIL import Image
    reader = _Images(Path(name).name, image_size)
    with warnings.catch_warnings():   # PIL warns of bombs above 89 Mpx; our own pixel limit is stricter
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        n_files = _read_images(source, reader)
    if not reader.planes:
        raise DataError(f"{reader.name}: no readable image found "
                        f"({n_files} image-named files, {reader.skipped} unreadable)")
    arr = reader.array()
    skipped = reader.skipped
    return Dataset(reader.name, "image", tuple(arr.shape[1:]),
                   f"{len(arr)} images {arr.shape[1]}×{image_size}×{image_size} from {reader.name}"
                   + (f" ({skipped} unreadable skipped)" if skipped else ""),
                   {"path": str(name), "image_size": image_size}, data=arr)


def load_file(source, name: Optional[str] = None, image_size: int = 32) -> Dataset:
    """Dispatch on the file name: .csv, .npy, .zip or a folder."""
    name = name or str(source)
    _check_name(name)
    low = name.lower()
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return load_images(source, name, image_size)
    if low.endswith(".csv"):
        return load_csv(source, name)
    if low.endswith(".npy"):
        return load_npy(source, name, image_size)
    if low.endswith(".zip"):
        return load_images(source, name, image_size)
    if low.endswith(("-ubyte", "-ubyte.gz")):
        return load_idx(source, name, image_size)
    raise DataError(f"{Path(name).name}: unsupported file type; use a .csv of points, a .npy array, an IDX file "
                    "(*-ubyte, *-ubyte.gz) or a .zip/folder of images")
