"""IDX files (the format of MNIST and Fashion-MNIST), read strictly and within the upload limits.

An IDX file is: two zero bytes, a type code, the number of dimensions, each dimension as a big-endian
uint32, then the values big-endian in C order. Files may be gzipped (`*-ubyte.gz`). Nothing is trusted:
the header is read first and the payload it declares is checked against the limits before it is read, and
decompression stops one byte past that size, so a gzip bomb costs no more memory than an honest file.
"""
from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path
from typing import Union

import numpy as np

from gan_core.data.limits import MAX_FILE_BYTES, MAX_TOTAL_BYTES, mb, read_bounded
from gan_core.errors import DataError

# type code → big-endian numpy dtype (the IDX specification's six types)
DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
CODES = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}
MAX_DIMS = 8
GZIP_MAGIC = b"\x1f\x8b"

Source = Union[str, Path, bytes, bytearray, memoryview]


def _raw(source, name: str, max_file: int) -> bytes:
    """The file's bytes (path, bytes, or an uploaded file object), refusing more than max_file."""
    return read_bounded(source, name, max_file)


def _header(stream, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    head = stream.read(4)
    if len(head) < 4 or head[:2] != b"\0\0":
        raise DataError(f"{name}: not an IDX file (its first two bytes must be zero; got {head[:2].hex() or 'none'})")
    code, ndim = head[2], head[3]
    if code not in DTYPES:
        raise DataError(f"{name}: unknown IDX type code 0x{code:02x} (known: 08, 09, 0b, 0c, 0d, 0e)")
    if not 1 <= ndim <= MAX_DIMS:
        raise DataError(f"{name}: the IDX header declares {ndim} dimensions; 1 to {MAX_DIMS} are readable")
    raw = stream.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"{name}: the file ends inside its IDX header")
    return DTYPES[code], struct.unpack(f">{ndim}I", raw)


def read_idx(source: Source, name: str = "", max_file: int = MAX_FILE_BYTES,
             max_payload: int = MAX_TOTAL_BYTES) -> np.ndarray:
    """The array an IDX file holds (native byte order), from a path, bytes or an uploaded file object.

    Refused with one DataError line: a file over max_file bytes, a payload (decompressed) over max_payload
    bytes, a wrong magic number or type code, and a payload whose length differs from the product of the
    dimensions times the item size.
    """
    name = name or (Path(source).name if isinstance(source, (str, Path)) else "IDX data")
    raw = _raw(source, name, max_file)
    gz = raw[:2] == GZIP_MAGIC
    stream = gzip.GzipFile(fileobj=io.BytesIO(raw)) if gz else io.BytesIO(raw)
    try:
        dtype, dims = _header(stream, name)
        expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
        if expected > max_payload:
            raise DataError(f"{name}: the IDX header declares {' × '.join(map(str, dims))} values "
                            f"({mb(expected)}); at most {mb(max_payload)} can be loaded")
        payload = stream.read(expected + 1)   # one byte more: a longer file is refused, never read whole
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{name}: not a readable gzip file ({e})"[:300]) from None
    if len(payload) != expected:
        more = "more" if len(payload) > expected else f"only {len(payload):,}"
        raise DataError(f"{name}: the IDX header declares {' × '.join(map(str, dims))} values ({expected:,} bytes) "
                        f"but the file holds {more} bytes of data")
    return np.frombuffer(payload, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: Union[str, Path], array: np.ndarray, compress: bool = None) -> Path:
    """Write array as an IDX file (gzipped when compress, or when the name ends in .gz)."""
    path = Path(path)
    a = np.asarray(array)
    code = CODES.get(a.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"IDX cannot hold {a.dtype} values (only uint8, int8, int16, int32, float32, float64)")
    if not 1 <= a.ndim <= MAX_DIMS:
        raise DataError(f"IDX holds 1 to {MAX_DIMS} dimensions, not {a.ndim}")
    body = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(DTYPES[code]).tobytes()
    if compress or (compress is None and path.name.endswith(".gz")):
        body = gzip.compress(body, mtime=0)
    path.write_bytes(body)
    return path
