"""The run directory: the only meeting point of a training process and everything that watches it.

Files (SPEC.md): config.json, metrics.csv, status.json, checkpoints/, snapshots/, generator.onnx, STOP.
Every JSON and checkpoint write goes to a temporary file first and is renamed into place (gan_core.files),
so a reader or a killed writer never sees half a file. Every read goes through gan_core.files.open_regular:
a FIFO, a device or a folder where a file belongs makes the run 'broken', it never blocks a reader.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from gan_core.errors import RunError, is_disk_full
from gan_core.files import (
    NotRegularFile,
    current_process_start,  # trainers record it in status.json (pid_start)
    open_append,
    open_regular,
    process_alive,
    read_json,
    read_regular,
    write_bytes_atomic,
    write_json_atomic,
)
from gan_core.runs.paths import DEFAULT_ROOT, snapshot_dir, snapshot_iteration, snapshot_path
from gan_core.runs.runlock import ensure_free, is_locked

STATES = ("running", "paused", "completed", "stopped", "failed", "interrupted")
LIVE_STATES = ("running", "paused")  # a process is (or should be) behind these
BROKEN = "broken"  # what list_runs shows for a folder whose files cannot be read or make no sense
BASE_COLUMNS = ["iteration", "value_estimate", "d_loss", "g_loss", "d_real", "d_fake", "elapsed_s"]
CHECKPOINT = "checkpoints/last.pt"  # written by gan_core.engine.checkpoint; named here so torch-free readers can see it


# --- status -----------------------------------------------------------------------------------

def status_path(run_dir) -> Path:
    return Path(run_dir) / "status.json"


def read_status(run_dir) -> dict:
    st = read_json(status_path(run_dir))
    if st is None:
        exists = status_path(run_dir).exists()
        return {"state": "unknown", "iteration": 0,
                "message": "status.json is unreadable or not a JSON object" if exists else "no status.json"}
    return st


def write_status(run_dir, durable: bool = True, **fields) -> dict:
    """Merge fields into status.json (atomically) and return the new status (durable: see write_bytes_atomic).
    On a full disk, where no temporary file can be made, the status is rewritten in its own blocks."""
    st = read_json(status_path(run_dir)) or {}
    st.update(fields)
    st["updated_at"] = time.time()
    try:
        write_json_atomic(status_path(run_dir), st, durable)
    except OSError as e:
        if not is_disk_full(e):
            raise
        _overwrite(status_path(run_dir), json.dumps(st).encode())  # compact: it fits where the old one was
    return st


def _overwrite(path: Path, data: bytes) -> None:
    """Rewrite a small regular file in place (never through a link, never into a FIFO); OSError if it cannot."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(path, "something else")
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def refresh_state(run_dir, status: Optional[dict] = None) -> dict:
    """Status (read here, or `status` as just read), with a dead 'running' process recorded as interrupted
    (the SPEC's contract)."""
    st = read_status(run_dir) if status is None else status
    if is_locked(run_dir):  # a live writer holds the run, whatever status.json says (or lacks)
        return st if st.get("state") in LIVE_STATES else {**st, "state": "running"}
    if st.get("state") in LIVE_STATES and not _trainer_alive(st):
        st = dict(st, state="interrupted", message=_interrupted_message(run_dir, st))
        try:
            st = write_status(run_dir, state="interrupted", message=st["message"])
        except OSError:
            pass  # a read-only folder: report it, record nothing
    return st


def _trainer_alive(st: dict) -> bool:
    """Whether the process status.json names is still the run's trainer: its pid alive with the start time the
    trainer recorded (pid_start). Where start times can be read (Linux) a status without one is not believed: a
    bare pid may name any process by now (pid 1 always lives). A live trainer holds the run's lock anyway."""
    start = _number(st.get("pid_start"))
    if start is None and current_process_start() is not None:
        return False
    return process_alive(st.get("pid"), start)


def _interrupted_message(run_dir, st: dict) -> str:
    it = st.get("iteration", 0)
    head = f"the training process stopped unexpectedly near iteration {it}"
    if not (Path(run_dir) / CHECKPOINT).exists():
        return head + "; no checkpoint was written, so it cannot be resumed (start a new run)"
    if st.get("message") == "saving the generator":
        return (f"the training process stopped while saving the generator after all {it} iterations; "
                f"`python -m gan_core export {Path(run_dir)}` writes generator.onnx")
    return head + "; resume continues from the last checkpoint"


# --- listing ----------------------------------------------------------------------------------

@dataclass
class RunInfo:
    path: Path
    name: str
    dataset: str
    state: str
    iteration: int
    iterations: int
    rate: Optional[float]
    eta_s: Optional[float]
    message: str
    updated_at: Optional[float]
    config: dict = field(default_factory=dict, repr=False, compare=False)  # config.json, as parsed for the summary

    @property
    def progress(self) -> float:
        return min(1.0, self.iteration / self.iterations) if self.iterations else 0.0


def is_run_dir(path) -> bool:
    try:
        return (Path(path) / "config.json").exists()
    except OSError:  # an unreadable folder
        return False


def _number(v, kind=float):
    """v as a finite number of `kind`, or None (status.json may hold anything)."""
    try:
        x = kind(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if x == x and abs(x) != float("inf") else None


def _json_file(path: Path, unreadable: str):
    """The JSON value in a run's file, None if it is missing; RunError saying why it cannot be read
    (`unreadable`, formatted with the reason, for a file that is there but is not JSON)."""
    try:
        return json.loads(read_regular(path))
    except FileNotFoundError:
        return None
    except NotRegularFile as e:
        raise RunError(str(e)) from None
    except (OSError, ValueError) as e:
        raise RunError(unreadable.format(getattr(e, "strerror", None) or type(e).__name__)) from None


def run_info(run_dir) -> RunInfo:
    """A run's summary; raises RunError when its files cannot be read or make no sense."""
    run_dir = Path(run_dir)
    raw = _json_file(run_dir / "config.json", "config.json is unreadable ({})")
    if not isinstance(raw, dict):
        raise RunError("config.json is missing" if raw is None else
                       f"config.json holds a {type(raw).__name__}, not settings")
    status = _json_file(status_path(run_dir), "status.json is unreadable or not a JSON object")
    if status is not None and not isinstance(status, dict):
        raise RunError("status.json is unreadable or not a JSON object")
    try:
        st = refresh_state(run_dir, status if status is not None else read_status(run_dir))
    except NotRegularFile as e:  # RUN/.lock
        raise RunError(str(e)) from None
    it, total = _number(st.get("iteration", 0) or 0, int), _number(st.get("iterations") or raw.get("iterations") or 0, int)
    if it is None or total is None:
        raise RunError(f"status.json has a non-numeric iteration ({st.get('iteration')!r} of {st.get('iterations')!r})")
    return RunInfo(run_dir, run_dir.name, str(raw.get("dataset", "?")), str(st.get("state", "unknown")),
                   it, total, _number(st.get("rate")), _number(st.get("eta_s")), str(st.get("message", ""))[:500],
                   _number(st.get("updated_at")), raw)


def _broken(run_dir: Path, why: str) -> RunInfo:
    try:
        mtime = run_dir.stat().st_mtime
    except OSError:
        mtime = None
    return RunInfo(run_dir, run_dir.name, "?", BROKEN, 0, 0, None, None, why, mtime)


# What list_runs found under each root: {root: {name: (files_key, RunInfo)}}. A summary is parsed again only
# when its run's files change (files_key: a stat of each, no reading), or while its state is live (the
# process behind it may die without a file changing).
_LISTED: dict[str, dict[str, tuple]] = {}
_KEY_FILES = ("config.json", "status.json", ".lock")


def files_key(run_dir: Path) -> Optional[tuple]:
    """(mtime, ctime, size, inode, mode) of a run's config.json, status.json and .lock: what changes when one
    of them is written; None for a folder without config.json (not a run). OSError if it cannot be looked at."""
    key = []
    for name in _KEY_FILES:
        try:
            st = os.stat(run_dir / name)
        except FileNotFoundError:
            key.append(None)
            continue
        key.append((st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_mode))
    return tuple(key) if key[0] is not None else None


def _summary(p: Path) -> Optional[RunInfo]:
    """The RunInfo of folder p (state 'broken' with the reason when its files cannot be read); None if p
    holds no run."""
    try:
        if not p.is_dir():
            return None
        try:
            next(iter(p.iterdir()), None)  # can it be listed at all
        except OSError as e:
            return _broken(p, f"the folder is unreadable ({e.strerror or e})")
        if not os.path.lexists(p / "config.json"):
            return None
        return run_info(p)
    except RunError as e:
        return _broken(p, str(e))
    except (OSError, ValueError, TypeError, AttributeError) as e:
        return _broken(p, f"cannot read it ({type(e).__name__}: {str(e)[:120]})")


def _listed(p: Path, cached: Optional[tuple]) -> Optional[tuple]:
    """(files_key, RunInfo) of folder p, from `cached` when its files are unchanged and its state not live."""
    try:
        key = files_key(p)
        if key is None:
            return None  # no config.json: not a run
    except OSError:
        key = None  # not a folder, or one that cannot be looked into: _summary says which
    if cached is not None and key is not None and cached[0] == key and cached[1].state not in LIVE_STATES:
        return cached
    info = _summary(p)
    return None if info is None else (key, info)


def list_runs(root=DEFAULT_ROOT) -> list[RunInfo]:
    """Every run directory under root, newest first; a folder whose files are unreadable or malformed is
    listed with state 'broken' and the reason, and never hides the others. A run whose files are unchanged
    since the last listing of root is not read again (files_key)."""
    root = Path(root)
    try:
        entries = sorted(root.iterdir()) if root.is_dir() else []
    except OSError:
        return []
    before, now = _LISTED.get(str(root), {}), {}
    for p in entries:
        found = _listed(p, before.get(p.name))
        if found is not None:
            now[p.name] = found
    _LISTED[str(root)] = now  # runs gone from root are forgotten
    return sorted((info for _, info in now.values()), key=lambda r: r.updated_at or 0, reverse=True)


def request_stop(run_dir) -> None:
    """Ask a running process to stop after its current step (it polls for this file)."""
    write_bytes_atomic(Path(run_dir) / "STOP", b"stop requested\n", durable=False)  # replaces a link, never follows it


def delete_run(run_dir) -> None:
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise RunError(f"{run_dir} is not a run directory; refusing to delete it")
    ensure_free(run_dir)
    try:
        st = refresh_state(run_dir)
    except NotRegularFile:  # a .lock no trainer can hold: nothing runs it
        st = read_status(run_dir)
    if st.get("state") == "running":
        raise RunError(f"{run_dir.name} is still running; stop it before deleting it")
    shutil.rmtree(run_dir)


def new_run_name(dataset: str, root=DEFAULT_ROOT) -> str:
    stem = Path(dataset).stem.replace(" ", "_")
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, i = base, 1
    while (Path(root) / name).exists():
        i += 1
        name = f"{base}-{i}"
    return name


# --- metrics ----------------------------------------------------------------------------------

def append_rows(run_dir, columns: list[str], rows: list[dict]) -> None:
    """Append rows to metrics.csv, writing the header if the file is new. Missing values stay empty."""
    with open_append(Path(run_dir) / "metrics.csv") as f:  # never through a link, never into a FIFO
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        if os.fstat(f.fileno()).st_size == 0:
            w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else (f"{v:.7g}" if isinstance(v, float) else v)) for k, v in r.items()})
        f.write(buf.getvalue().encode())
        f.flush()


def truncate_metrics(run_dir, last_iteration: int) -> int:
    """Drop rows logged after the checkpoint being resumed from (they will be recomputed). RunError, before
    anything is changed, for a file that is not the trainer's text (not UTF-8, not a regular file)."""
    path = Path(run_dir) / "metrics.csv"
    try:
        with open_regular(path) as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise RunError(f"{path.name} cannot be read ({e.strerror or e}); move it away to resume") from None
    try:
        lines = data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise RunError(f"{path.name} line {line} holds bytes that are not text (0x{data[e.start]:02x}); the trainer "
                       "wrote none there: remove that line (or the file) to resume") from None
    if not lines:
        return 0
    keep = [lines[0]]
    dropped = 0
    for line in lines[1:]:
        try:
            it = int(line.split(",", 1)[0])
        except ValueError:
            dropped += 1  # a half-written last line from a killed process
            continue
        if it <= last_iteration and line.endswith("\n"):
            keep.append(line)
        else:
            dropped += 1
    write_bytes_atomic(path, "".join(keep).encode())
    return dropped


# --- snapshots (read side; written by gan_core.engine.snapshots during training) ------------------------

def list_snapshots(run_dir) -> list[int]:
    """Iterations that have a snapshot, ascending."""
    d = snapshot_dir(run_dir)
    if not d.is_dir():
        return []
    return sorted(it for it in map(snapshot_iteration, d.glob("*.npz")) if it is not None)


def load_snapshot(run_dir, iteration: int) -> dict:
    import numpy as np
    p = snapshot_path(run_dir, iteration)
    try:
        with open_regular(p) as f, np.load(f, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise RunError(f"snapshot {p.name} is unreadable ({e})") from None
