"""One writer per run: an exclusive lock on RUN/.lock, held by the training process while it runs.

flock locks belong to the open file, so the kernel drops the lock the moment its process ends, however it
ends (SIGKILL, out of memory, power cut on reboot): a stale lock cannot exist, unlike a pid in status.json.
Readers (the pages, `runs`) ask `is_locked`; writers call `acquire` before writing anything, which first
refuses a run folder whose entries a trainer writes are links or not of their kind (check_entries): a trainer
writes in place, and a link would have it write wherever the link points.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import time
from pathlib import Path
from typing import Optional

from gan_core.errors import RunError
from gan_core.files import O_NOFOLLOW, NotRegularFile, file_kind, read_regular, remove_orphan_tmp

try:
    import fcntl
except ImportError:  # Windows: no flock; one writer per run is then the user's care
    fcntl = None

LOCK_NAME = ".lock"
# What a trainer (or the launcher before it) writes in a run folder: files, then folders it writes into.
WRITTEN_FILES = ("config.json", "status.json", "metrics.csv", "changes.jsonl", "STOP", "generator.onnx", LOCK_NAME,
                 "train.log", "comparison.json", "compare.log")
WRITTEN_FOLDERS = ("checkpoints", "snapshots", "control", "tb")
_OPEN = os.O_NONBLOCK | O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_HELD: set[str] = set()  # run folders whose lock this process holds (is_locked says False for them)


def _key(run_dir) -> str:
    return os.path.realpath(run_dir)


def lock_path(run_dir) -> Path:
    return Path(run_dir) / LOCK_NAME


def holder(run_dir) -> Optional[int]:
    """The pid written into the lock file by its last holder (None if unknown)."""
    try:
        return int(read_regular(lock_path(run_dir), 64).strip() or 0) or None
    except (OSError, ValueError):
        return None


class RunLock:
    """A held lock; release() (or process exit) frees it."""

    def __init__(self, run_dir: Path, fd: int, created_dir: bool):
        self.run_dir, self.fd, self.created_dir = run_dir, fd, created_dir

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        _HELD.discard(_key(self.run_dir))
        if self.created_dir and _only_lock_left(self.run_dir):
            # The run never started (bad settings, bad data): leave no empty folder behind.
            with contextlib.suppress(OSError):
                lock_path(self.run_dir).unlink()
                self.run_dir.rmdir()
        os.close(fd)

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _only_lock_left(run_dir: Path) -> bool:
    try:
        return [p.name for p in run_dir.iterdir()] == [LOCK_NAME]
    except OSError:
        return False


def _entry_problem(path: Path, folder: bool) -> Optional[str]:
    """Why a trainer must not write `path` (a link, or not the kind of entry it writes); None if it may."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return f"is a link (to {os.readlink(path)}); a run is written in place, never through a link: " \
               "put the file or folder itself there, or remove the link"
    if folder and not stat.S_ISDIR(mode):
        return f"is not a folder ({file_kind(mode)}); remove it or move it away"
    if not folder and not stat.S_ISREG(mode):
        return f"is not a regular file ({file_kind(mode)}); remove it or move it away"
    return None


def check_entries(run_dir, extra: tuple = ()) -> None:
    """RunError in one line if an entry a trainer writes in run_dir (WRITTEN_FILES, WRITTEN_FOLDERS and what is
    in those, extra: more folders, a comparison's members) is a link or not of its kind. run_dir itself may be
    a link: the user named it."""
    run_dir = Path(run_dir)
    named = [(n, False) for n in WRITTEN_FILES] + [(n, True) for n in (*WRITTEN_FOLDERS, *extra)]
    for name, folder in named:
        why = _entry_problem(run_dir / name, folder)
        if why:
            raise RunError(f"{run_dir.name}/{name} {why}")
    for sub in WRITTEN_FOLDERS:
        try:
            with os.scandir(run_dir / sub) as entries:
                links = sorted(e.name for e in entries if e.is_symlink())
        except OSError:
            continue  # missing (made when needed), or unreadable (its writer will say so)
        if links:
            raise RunError(f"{run_dir.name}/{sub}/{links[0]} is a link; a run is written in place, never "
                           "through a link: remove it")


def _open_lock(run_dir: Path) -> int:
    """RUN/.lock opened for writing (created if missing): never through a link, never a FIFO or a device."""
    try:
        fd = os.open(lock_path(run_dir), os.O_RDWR | os.O_CREAT | _OPEN, 0o644)
    except OSError as e:
        raise RunError(f"cannot write to {run_dir} ({e.strerror or e}); is the folder read-only?") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise RunError(f"{run_dir.name}/{LOCK_NAME} is not a regular file ({file_kind(mode)}); remove it")
    return fd


def acquire(run_dir, wait_s: float = 1.0, extra: tuple = ()) -> RunLock:
    """Take the run's lock or raise RunError naming the process that holds it (or the entry of the folder
    that must not be written: check_entries, with `extra` folders).

    Retries for wait_s: a reader's `is_locked` holds the lock for a few microseconds."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a run folder")
    created = not run_dir.exists()
    check_entries(run_dir, extra)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot write to {run_dir} ({e.strerror or e}); is the folder read-only?") from None
    fd = _open_lock(run_dir)
    if fcntl is None:
        return RunLock(run_dir, fd, created)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK) or time.monotonic() >= deadline:
                os.close(fd)
                pid = holder(run_dir)
                raise RunError(f"{run_dir.name} is being trained by process {pid or '(unknown)'}; "
                               "stop it first, or wait for it to finish") from None
            time.sleep(0.05)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass  # the pid is for messages only
    _HELD.add(_key(run_dir))
    remove_orphan_tmp(run_dir)  # we are the only writer now: any temporary file left is a dead writer's
    return RunLock(run_dir, fd, created)


def is_locked(run_dir) -> bool:
    """Is a live process training this run? (Never blocks; False where locks are unavailable.) NotRegularFile
    (an OSError) when RUN/.lock is a link, a FIFO, a folder...: no trainer could hold such a lock."""
    if fcntl is None or _HELD and _key(run_dir) in _HELD:
        return False
    try:
        fd = os.open(lock_path(run_dir), os.O_RDONLY | _OPEN)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotRegularFile(lock_path(run_dir), "a link") from None
        return False
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(lock_path(run_dir), file_kind(mode))
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except OSError:
            return True
    finally:
        os.close(fd)  # closing drops the shared lock, if we got it


def ensure_free(run_dir) -> None:
    """RunError if a process is training the run (for resume and delete)."""
    try:
        locked = is_locked(run_dir)
    except NotRegularFile:
        return  # a .lock no trainer could hold: the run is free (resuming it is refused by acquire, with why)
    if locked:
        raise RunError(f"{Path(run_dir).name} is being trained by process {holder(run_dir) or '(unknown)'}; "
                       "stop it first, or wait for it to finish")


def locked_run(train):
    """Decorator for train(cfg, ...): hold cfg.run_dir's lock from before anything is written until it returns."""
    @functools.wraps(train)
    def wrapper(cfg, *args, **kwargs):
        if not getattr(cfg, "run_dir", "") or int(os.environ.get("RANK", "0") or 0) != 0:
            # no folder: train refuses it with its own message; under torchrun only rank 0 touches the run
            return train(cfg, *args, **kwargs)
        with acquire(cfg.run_dir):
            return train(cfg, *args, **kwargs)
    return wrapper
