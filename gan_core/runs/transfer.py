"""Files in and out of the dashboard: uploaded datasets kept beside the runs, a run as a zip download."""
from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import time
import zipfile
from pathlib import Path

from gan_core.files import open_regular, read_regular, write_bytes_atomic
from gan_core.runs.paths import runs_root

UPLOADS = "_uploads"


def save_upload(data: bytes, name: str, root=None) -> Path:
    """Keep an uploaded dataset at ROOT/_uploads/<name> (atomically), so a run's config can name it.

    The same bytes under the same name reuse the file; different bytes never overwrite a file an
    earlier run may depend on: they get a name with a content hash.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name or "upload").name).lstrip("._") or "upload"
    folder = Path(root or runs_root()) / UPLOADS
    path = folder / safe
    if os.path.lexists(path):
        if _holds(path, data):
            return path
        path = folder / f"{path.stem}-{hashlib.sha256(data).hexdigest()[:10]}{path.suffix}"
        if _holds(path, data):
            return path  # same content, saved before
    write_bytes_atomic(path, data)  # replaces whatever else is there (a link, a FIFO), never writes through it
    return path


def _holds(path: Path, data: bytes) -> bool:
    """Is path a regular file (not a link) holding exactly data? Never blocks on a FIFO."""
    try:
        return read_regular(path, max_bytes=len(data)) == data
    except OSError:  # missing, larger, or not a regular file
        return False


def load_upload(uploaded, image_size: int = 32, root=None):
    """(Dataset, saved path) for an uploaded .csv / .npy / .zip; DataError with a clear message if the
    file cannot be used, in which case nothing is saved."""
    from gan_core.data.uploads import load_file
    name = str(getattr(uploaded, "name", "upload"))
    ds = load_file(uploaded, name=name, image_size=image_size)
    raw = uploaded.getvalue() if hasattr(uploaded, "getvalue") else Path(uploaded).read_bytes()
    return ds, save_upload(raw, name, root)


def _zip_entries(run_dir: Path):
    """(path, name in the zip) of each regular file under run_dir, links never followed (a link to a file or a
    folder elsewhere would put that in the download), without checkpoints (large, torch-only), hidden and
    temporary files, or STOP."""
    for folder, dirs, files in os.walk(run_dir, followlinks=False):
        rel = Path(folder).relative_to(run_dir)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (rel == Path(".") and d == "checkpoints"))
        for name in sorted(files):
            p = Path(folder) / name
            if name.startswith(".") or name == "STOP" or not stat.S_ISREG(os.lstat(p).st_mode):
                continue
            yield p, f"{run_dir.name}/{(rel / name).as_posix()}"


def run_zip_bytes(run_dir) -> bytes:
    """The run directory as a zip: its regular files only (_zip_entries), each read without following a link."""
    run_dir = Path(run_dir)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3) as zf:
        for p, name in _zip_entries(run_dir):
            try:
                with open_regular(p) as f:  # swapped for a link or a FIFO since the walk: refused, never followed
                    st = os.fstat(f.fileno())
                    info = zipfile.ZipInfo(name, time.localtime(max(st.st_mtime, 315532800))[:6])  # zip: ≥ 1980
                    info.external_attr = (st.st_mode & 0xFFFF) << 16
                    zf.writestr(info, f.read(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=3)
            except OSError:
                continue  # gone or replaced meanwhile (a live run's snapshot): the zip holds the rest
    return buf.getvalue()
