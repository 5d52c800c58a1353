"""Files written whole or not at all, read back safely, and the processes that write them.

Every writer puts its bytes in a temporary file in the target's folder (so the rename is atomic) named
.NAME.PID.RANDOM.tmp, fsyncs it and renames it over the target: a reader or a killed writer never sees
half a file. The pid in the name lets remove_orphan_tmp tell a dead writer's leftover from a live one's.

Every read of a run folder's file goes through open_regular: a run folder may hold anything (a FIFO, a
device, a folder or a link where a file belongs), and a plain open() of a FIFO blocks forever. Appends and
the lock open with O_NOFOLLOW, so nothing is ever written through a link.
A file a user names for output (--out) is written by write_output: through a link to its target, into a
device or a pipe as it is, never replacing either with a regular file.
Nothing of gan_core is imported here but its errors: every layer may use it.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import sys
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Optional

from gan_core.errors import GanError

MAX_READ_BYTES = 64 * 2 ** 20   # a JSON or text file of a run: anything larger is not one of ours
_O = os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class NotRegularFile(OSError):
    """A path that is not a regular file where one is expected (a FIFO, a device, a socket, a folder, a link);
    an OSError, so that every reader's handling of an unreadable file covers it."""

    def __init__(self, path, kind: str):
        super().__init__(errno.EINVAL, f"not a regular file ({kind})", str(path))
        self.kind = kind

    def __str__(self) -> str:
        return f"{Path(self.filename).name} is not a regular file ({self.kind})"


def file_kind(mode: int) -> str:
    """What a file's st_mode says it is, in words."""
    for test, kind in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a link"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "an unknown kind of file"


def open_regular(path, follow_links: bool = False) -> BinaryIO:
    """path opened for reading, without ever blocking: NotRegularFile unless it is a regular file (and, unless
    follow_links, not a link itself: a run's files are never links). FileNotFoundError as open() would."""
    try:
        fd = os.open(path, os.O_RDONLY | _O | (0 if follow_links else O_NOFOLLOW))
    except OSError as e:
        if e.errno == errno.ELOOP and not follow_links:
            raise NotRegularFile(path, "a link") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, file_kind(mode))
        os.set_blocking(fd, True)  # no effect on a regular file's reads; plain semantics for the caller
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, max_bytes: int = MAX_READ_BYTES, follow_links: bool = False) -> bytes:
    """The bytes of a regular file (open_regular), refused with an OSError (EFBIG) beyond max_bytes."""
    with open_regular(path, follow_links) as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(max_bytes + 1) if size <= max_bytes else b""
        if size > max_bytes or len(data) > max_bytes:
            raise OSError(errno.EFBIG, f"larger than {max_bytes / 2 ** 20:g} MiB", str(path))
        return data


def read_text(path, max_bytes: int = MAX_READ_BYTES, errors: str = "strict") -> str:
    """A regular file's text (UTF-8); a UnicodeDecodeError (a ValueError) for bad bytes unless errors says."""
    return read_regular(path, max_bytes).decode("utf-8", errors)


def open_append(path) -> BinaryIO:
    """path opened to append (created if missing), never through a link and never blocking on a FIFO:
    NotRegularFile for anything but a regular file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O | O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):  # ENXIO: a FIFO nobody reads
            raise NotRegularFile(path, "a link" if e.errno == errno.ELOOP else "a FIFO") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, file_kind(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise


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


def write_output(path, data: bytes, durable: bool = False) -> Path:
    """Write a file a user named (generate's, share's or export's --out); returns path.

    A new name or a regular file: replaced atomically (write_bytes_atomic). A link: its target is written (the
    same way when it is a regular file or missing) and the link kept. A character device or a FIFO
    (/dev/stdout, a pipe), and anything under /dev or /proc (/dev/stdout redirected to a file): written into
    directly, appended to. A folder, a block device, a socket: GanError, one line, nothing written."""
    path = Path(path)
    try:
        st = os.stat(path)  # through links
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise GanError(f"cannot write {path}: {e.strerror or e}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise GanError(f"{path} is a folder; give a file name")
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or _special(path)):
        _write_into(path, st, data)
        return path
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise GanError(f"{path} is {file_kind(st.st_mode)}; give a file name")
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    write_bytes_atomic(target, data, durable)
    return path


def _special(path: Path) -> bool:
    """A path in /dev or /proc (or a link into them): a stream to write into, never a file to replace."""
    return any(str(p).startswith(("/dev/", "/proc/")) for p in (path.absolute(), Path(os.path.realpath(path))))


def _write_into(path: Path, st: os.stat_result, data: bytes) -> None:
    """data written into a stream: through our own stdout or stderr when path is one of them (so that what the
    program prints there after it follows it, not overwrites it), else through a descriptor of its own."""
    for fd in (1, 2):
        try:
            if os.path.samestat(os.fstat(fd), st):
                sys.stdout.flush()
                sys.stderr.flush()
                return _write_all(fd, data)
        except OSError:
            continue
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # a pipe takes a part at a time
        view = view[os.write(fd, view):]


def write_json_atomic(path, obj, durable: bool = True) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode(), durable)


def read_json(path) -> Optional[dict]:
    """The JSON object in path; None if it is missing, unreadable or not an object."""
    try:
        obj = json.loads(read_regular(path))
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
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + ticks
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def current_process_start() -> Optional[float]:
    return _proc_start(os.getpid())
