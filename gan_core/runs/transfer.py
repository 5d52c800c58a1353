"""Files in and out of the dashboard: uploaded datasets kept beside the runs, a run as a zip download."""
from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

from gan_core.files import write_bytes_atomic
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
    if path.exists():
        if path.read_bytes() == data:
            return path
        path = folder / f"{path.stem}-{hashlib.sha256(data).hexdigest()[:10]}{path.suffix}"
        if path.exists():
            return path  # same content, saved before
    write_bytes_atomic(path, data)
    return path


def load_upload(uploaded, image_size: int = 32, root=None):
    """(Dataset, saved path) for an uploaded .csv / .npy / .zip; DataError with a clear message if the
    file cannot be used, in which case nothing is saved."""
    from gan_core.data.uploads import load_file
    name = str(getattr(uploaded, "name", "upload"))
    ds = load_file(uploaded, name=name, image_size=image_size)
    raw = uploaded.getvalue() if hasattr(uploaded, "getvalue") else Path(uploaded).read_bytes()
    return ds, save_upload(raw, name, root)


def run_zip_bytes(run_dir) -> bytes:
    """The run directory as a zip, without checkpoints (large, torch-only) or temporary files."""
    run_dir = Path(run_dir)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3) as zf:
        for p in sorted(run_dir.rglob("*")):
            rel = p.relative_to(run_dir)
            if not p.is_file() or rel.parts[0] == "checkpoints" or p.name.startswith(".") or p.name == "STOP":
                continue
            zf.write(p, f"{run_dir.name}/{rel.as_posix()}")
    return buf.getvalue()
