"""How much untrusted data a file may hold: the limits every reader of user files shares.

Within them time and memory stay within about 20 s and 1 GB; a file over a limit is refused with one line.
"""
from __future__ import annotations

import os

from gan_core.errors import DataError
from gan_core.files import open_regular

MAX_FILE_BYTES = 256 << 20        # a .csv, .npy or IDX file (an IDX file's compressed size, if gzipped)
MAX_ZIP_ENTRIES = 100_000         # entries of any kind in one zip
MAX_IMAGES = 60_000               # image files (MNIST's size); each costs ~0.1 ms of decoding at least
MAX_ENTRY_BYTES = 64 << 20        # one image file, uncompressed
MAX_TOTAL_BYTES = 512 << 20       # all image files together, uncompressed (an IDX file's payload too)
MAX_PIXELS = 40_000_000           # one image (width × height, from its header)
MAX_TOTAL_PIXELS = 400_000_000    # all images together, as decoded
MAX_DATA_BYTES = 512 << 20        # the float32 dataset that training receives
MAX_NAME_CHARS = 200              # a file name (uploads are saved under it)


def mb(n: int) -> str:
    """A byte count as people read it: '256 MB' or '1,234 bytes'."""
    return f"{n / 2 ** 20:,.0f} MB" if n >= 2 ** 20 else f"{n:,} bytes"


def read_bounded(source, name: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """A user file's bytes (a path, bytes, or an uploaded file object), refusing one over `limit` from its size
    before reading it; a FIFO or a device never blocks the reader. `name` is the file as the message names it."""
    if hasattr(source, "getvalue"):
        source = source.getvalue()
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    else:
        try:
            with open_regular(source, follow_links=True) as f:
                size = os.fstat(f.fileno()).st_size
                if size > limit:
                    raise DataError(f"{name}: the file is {mb(size)}; at most {mb(limit)} can be loaded")
                raw = f.read(limit + 1)
        except OSError as e:
            raise DataError(f"{name}: cannot read the file ({e.strerror or e})") from None
    if len(raw) > limit:
        raise DataError(f"{name}: the file is {mb(len(raw))}; at most {mb(limit)} can be loaded")
    if not raw:
        raise DataError(f"{name}: the file is empty")
    return bytes(raw)
