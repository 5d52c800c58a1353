"""A warm worker: one waiting process per runs root that has already imported torch and the training
code, and forks a training process for each job the dashboard hands it.

Importing torch takes seconds, more beside a training run; a fork of a process that has done it takes
milliseconds, so Start → first point stays short (bench.steer_latency measures it).
The fork happens before torch has run any operation (no thread pools yet), which is what makes it safe.

Protocol (all files under ROOT/_spool/): the dashboard writes JOB.job ({"argv": [...], "log": path});
the worker forks, the child runs `python -m gan_core ARGV` in a new session with its output appended to
the log, and the worker writes JOB.pid ({"pid": ...}) at once and JOB.exit ({"rc": ...}) when the
child ends. worker.lock (flock) makes the worker unique per root; it ends when the process that
started it (the dashboard server) is gone, leaving any training it forked running.
No torch at import time here: the dashboard imports this module to talk to the worker.
"""
from __future__ import annotations

import fcntl
import gc
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Optional

from gan_core.files import process_alive, read_json, write_json_atomic
from gan_core.runs import paths

SPOOL = "_spool"
POLL = 0.02
NICE = 10  # training yields the CPU to the dashboard on a shared machine (the page stays responsive)


def spool(root) -> Path:
    return Path(root) / SPOOL


def alive(root, ready: bool = True) -> bool:
    """Is a worker serving this root? (its lock is held, and with ready: it has finished importing)"""
    lock = spool(root) / "worker.lock"
    if not lock.exists() or ready and not (spool(root) / "worker.ready").exists():
        return False
    try:
        with open(lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
        return False  # we could take it: nobody holds it
    except BlockingIOError:
        return True
    except OSError:
        return False


def ensure(root, project_root: Path, parent: Optional[int] = None) -> bool:
    """Start a worker for root unless one runs; True if one is (or is now being) started. It serves until
    the process `parent` (default: this one, the dashboard server) is gone."""
    if alive(root, ready=False):
        return True
    d = spool(root)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "worker.log", "ab") as log:
        subprocess.Popen([sys.executable, "-m", "gan_core.jobs.worker", str(root), str(parent or os.getpid())],
                         cwd=project_root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE"},
                         start_new_session=True)
    return True


class Job:
    """A training process started by the worker: the part of subprocess.Popen the dashboard uses."""

    def __init__(self, root, jid: str, pid: int):
        self.root, self.id, self.pid = Path(root), jid, pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            ans = read_json(spool(self.root) / f"{self.id}.exit")
            if ans is not None:
                self.returncode = int(ans.get("rc", 1))
            elif not process_alive(self.pid):
                # The worker writes .exit right after reaping it, durably (an fsync can stall on a busy
                # machine); without a worker, or an answer within 3 s, it counts as failed.
                deadline = time.monotonic() + 3.0
                while (ans := read_json(spool(self.root) / f"{self.id}.exit")) is None \
                        and alive(self.root, ready=False) and time.monotonic() < deadline:
                    time.sleep(0.02)
                self.returncode = int((ans or {"rc": 1}).get("rc", 1))
        return self.returncode


def wait_ready(root, timeout: float) -> bool:
    """A worker that is still importing torch will be ready sooner than a new interpreter that starts
    importing it now (and the two would share the cores): wait for it, up to timeout seconds."""
    deadline = time.monotonic() + timeout
    while not alive(root):
        if not alive(root, ready=False) or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def submit(root, argv: list[str], log: Path, timeout: float = 1.0, wait: float = 5.0) -> Optional[Job]:
    """Hand a job to the worker (waiting up to `wait` s for one that is still starting); the Job, or None
    if no worker took it in time (the caller then starts the process itself; the job file is withdrawn)."""
    if not wait_ready(root, wait):
        return None
    d = spool(root)
    jid = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    write_json_atomic(d / f"{jid}.job", {"argv": argv, "log": str(log)})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ans = read_json(d / f"{jid}.pid")
        if ans is not None:
            return Job(root, jid, int(ans["pid"]))
        time.sleep(0.005)
    try:
        (d / f"{jid}.job").unlink()  # withdrawn: not taken in time
        return None
    except FileNotFoundError:  # taken just now: wait for its pid
        for _ in range(100):
            ans = read_json(d / f"{jid}.pid")
            if ans is not None:
                return Job(root, jid, int(ans["pid"]))
            time.sleep(0.01)
        return None


# --- the worker process ---------------------------------------------------------------------------------

def _child(argv: list[str], log: str) -> None:
    """In the forked child: become a training process of its own."""
    os.setsid()  # its own session: signals to the worker or the server don't reach it
    try:
        os.nice(NICE)
    except OSError:
        pass
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o644)  # no link
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    rc = 1
    try:
        from gan_core.cli import main
        rc = main(argv)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 — the log gets the traceback, the page the last line
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc or 0)


def serve(root, parent: int) -> None:
    d = spool(root)
    d.mkdir(parents=True, exist_ok=True)
    lock = open(d / "worker.lock", "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another worker serves this root
    # What a training process needs, imported once here (the forks inherit it).
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (the optimisers import it on construction, slowly)

    from gan_core import cli  # noqa: F401  (each fork runs its main)
    from gan_core.engine import training  # noqa: F401
    from gan_core.share.export import export_run  # noqa: F401
    # torch's ~140,000 objects out of the cyclic collector's sight: a full collection in a training process
    # would walk them all, holding up its steps and its answers to
    # Pause or Step; and the forks share these pages with the worker instead of copying them when scanned.
    gc.collect()
    gc.freeze()
    for p in d.glob("*.job"):  # jobs nobody took: their senders have started processes themselves
        p.unlink(missing_ok=True)
    children: dict[int, str] = {}
    write_json_atomic(d / "worker.ready", {"pid": os.getpid()})
    print(f"worker {os.getpid()} serving {root}", flush=True)
    while True:
        if not process_alive(parent):
            break
        for p in sorted(d.glob("*.job")):
            jid = p.stem
            job = read_json(p)
            try:
                p.unlink()
            except FileNotFoundError:
                continue  # withdrawn by its sender
            if not isinstance(job, dict) or not isinstance(job.get("argv"), list):
                continue
            pid = os.fork()
            if pid == 0:
                lock.close()
                _child([str(a) for a in job["argv"]], str(job.get("log") or os.devnull))
            children[pid] = jid
            write_json_atomic(d / f"{jid}.pid", {"pid": pid})
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            jid = children.pop(pid, None)
            if jid:
                write_json_atomic(d / f"{jid}.exit", {"rc": os.waitstatus_to_exitcode(status)})
        time.sleep(POLL)
    (d / "worker.ready").unlink(missing_ok=True)
    lock.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--for-server"]:  # scripts/app.sh: a worker for the dashboard's runs root, at once
        ensure(paths.runs_root(), paths.PROJECT_ROOT, parent=int(sys.argv[2]))
    else:
        serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else os.getppid())
