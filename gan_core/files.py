"""Files written whole or not at all, read back safely, and the processes that write them.

Every writer puts its bytes in a temporary file in the target's folder (so the rename is atomic) named
.NAME.PID.RANDOM.tmp, fsyncs it and renames it over the target: a reader or a killed writer never sees
half a file. The pid in the name lets remove_orphan_tmp tell a dead writer's leftover from a live one's.
Nothing of gan_core is imported here: every layer may use it.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Optional


def write_bytes_atomic(path, data: bytes, durable: bool = True) -> Path:
    """Write path whole or not at all; returns it. durable=False skips the fsync: for files rewritten every
    fraction of a second, or re-made on request, whose loss in a crash costs nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # open() rather than mkstemp, so the umask decides the permissions (a shared file is readable by others)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path, obj, durable: bool = True) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode(), durable)


def read_json(path) -> Optional[dict]:
    """The JSON object in path; None if it is missing, unreadable or not an object."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def remove_orphan_tmp(folder, min_age_s: float = 3600.0) -> int:
    """Delete temporary files (.NAME.PID.X.tmp) left under folder by writers that died (SIGKILL, full disk).

    For the folder's only writer (a run's, once it holds the run lock); a file whose pid is alive is kept
    unless it is older than min_age_s (the pid was reused). Returns how many were removed."""
    removed = 0
    for p in Path(folder).rglob(".*.tmp"):
        parts = p.name.split(".")
        try:
            pid = int(parts[-3])
        except (IndexError, ValueError):
            pid = None
        try:
            old = time.time() - p.stat().st_mtime > min_age_s
            if pid == os.getpid() or (pid is not None and process_alive(pid) and not old):
                continue
            p.unlink()
            removed += 1
        except OSError:
            pass
    return removed


# --- processes ------------------------------------------------------------------------------------

def process_alive(pid: Optional[int], start_time: Optional[float] = None) -> bool:
    """Is the process that wrote a file (its pid, and its start time if known) still the one alive under that pid?"""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if start_time is not None and _proc_start(pid) is not None:
        return abs(_proc_start(pid) - start_time) < 2.0  # pid reused by another process otherwise
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # a zombie (killed, not yet reaped) is not alive
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    return True


def _proc_start(pid) -> Optional[float]:
    """Start time of a Linux process in seconds since the epoch (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            return -1.0
        ticks = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        boot = next(float(l.split()[1]) for l in Path("/proc/stat").read_text().splitlines() if l.startswith("btime"))
        return boot + ticks
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def current_process_start() -> Optional[float]:
    return _proc_start(os.getpid())
