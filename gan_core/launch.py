"""Starting, resuming and stopping training processes for the dashboard.

Training always runs as `python -m gan_core train ...` in its own process and session, never inside the
web server: closing the page, a Streamlit rerun or a server restart must not kill it, and the page must
never wait on it. The run directory is the only channel between the two (see gan_core.runs).
No streamlit and no torch here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Optional

from . import runs, worker
from .config import TrainConfig
from .errors import ConfigError, RunError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_NAME = "train.log"
UPLOADS = "_uploads"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def runs_root() -> Path:
    """Where the dashboard keeps runs: $GAN_RUNS_DIR, else runs/ under the project."""
    env = os.environ.get("GAN_RUNS_DIR")
    return Path(env) if env else PROJECT_ROOT / runs.DEFAULT_ROOT


def run_dir_for(name: str, root=None) -> Path:
    """The directory of a new run called `name`; refuses names that would escape the root or clash."""
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise ConfigError(f"run name {name!r} must start with a letter or digit and use only letters, digits, "
                          "'.', '_' and '-' (at most 100 characters)")
    path = Path(root or runs_root()) / name
    if path.exists():
        raise RunError(f"a run called {name!r} already exists; choose another name")
    return path


# --- command lines ----------------------------------------------------------------------------

def _cli_value(v) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def config_flags(cfg: TrainConfig) -> list[str]:
    """The `train` flags for cfg: dataset, run dir and iterations, plus every field that differs from
    TrainConfig's default (so config.json's resolved values stay the dataset defaults where untouched)."""
    args = ["--dataset", cfg.dataset, "--run-dir", str(cfg.run_dir)]
    if cfg.iterations is not None:
        args += ["--iterations", str(cfg.iterations)]
    default = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("dataset", "run_dir", "iterations", "dataset_params", "export_onnx", "world_size"):
            continue
        v = getattr(cfg, f.name)
        if v is not None and v != getattr(default, f.name):
            args += ["--" + f.name.replace("_", "-")] + ([] if isinstance(v, bool) else [_cli_value(v)])
    for k, v in cfg.dataset_params.items():
        args += ["--dataset-param", f"{k}={v}"]
    if not cfg.export_onnx:
        args.append("--no-export")
    return args


def torchrun_command(args: list[str], processes: int) -> list[str]:
    """`torchrun --standalone --nproc-per-node N -m gan_core ARGS` from this interpreter's environment (torchrun is
    `python -m torch.distributed.run`); --standalone: a rendezvous on a free local port, so runs never clash."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(int(processes)),
            "-m", "gan_core", *args]


def _spawn_torchrun(args: list[str], run_dir: Path, processes: int) -> subprocess.Popen:
    """As _spawn's new-interpreter path, for N processes under torchrun (its workers are forked by torchrun, so
    the warm worker cannot serve them)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOG_NAME, "ab") as log:
        proc = subprocess.Popen(
            torchrun_command(args, processes), cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
            preexec_fn=_lower_priority)
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def _spawn(args: list[str], run_dir: Path, root=None):
    """Start `python -m gan_core ARGS` for run_dir: forked by the warm worker when one serves the runs
    root (milliseconds), else as a new interpreter (seconds: it imports torch). Either way in its own
    session, at a lower CPU priority, with its output appended to RUN/train.log."""
    run_dir.mkdir(parents=True, exist_ok=True)
    job = worker.submit(root or run_dir.parent, args, run_dir / LOG_NAME)
    if job is not None:
        return job
    with open(run_dir / LOG_NAME, "ab") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "gan_core", *args], cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # its own session: signals to the server (Ctrl-C, reload) don't reach it
            preexec_fn=_lower_priority)
    # Reap the child when it ends, so a finished run leaves no zombie behind in a long-lived server.
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def _lower_priority() -> None:
    try:
        os.nice(worker.NICE)  # the page wins the CPU on a shared machine; training takes what is left
    except OSError:
        pass


def start_worker(root=None) -> bool:
    """Keep a warm worker ready for the runs root (the dashboard calls this once per server)."""
    try:
        return worker.ensure(Path(root or runs_root()), PROJECT_ROOT)
    except OSError:
        return False


def start_training(cfg: TrainConfig, root=None, processes: int = 1) -> subprocess.Popen:
    """Start training cfg in a new process (N > 1 processes: under torchrun, one per GPU). cfg.run_dir defaults
    to a fresh name under the runs root.

    Refuses (ConfigError / RunError) before starting anything if a setting is invalid or the run
    directory already holds a run.
    """
    cfg = dataclasses.replace(cfg, dataset_params=dict(cfg.dataset_params))
    if not cfg.run_dir:
        root = Path(root or runs_root())
        cfg.run_dir = str(root / runs.new_run_name(cfg.dataset, root))
    cfg.run_dir = str(Path(cfg.run_dir).resolve())
    if not cfg.is_builtin and cfg.dataset:
        cfg.dataset = str(Path(cfg.dataset).resolve())  # the child runs in the project root, not our cwd
    cfg.resolved().validate()
    run_dir = Path(cfg.run_dir)
    if runs.is_run_dir(run_dir):
        raise RunError(f"{run_dir.name} already holds a run; resume it or choose another name")
    if processes > 1:
        m = cfg.resolved().batch_size
        if m % processes:
            raise ConfigError(f"batch size {m} does not split evenly across {processes} processes")
        return _spawn_torchrun(["train", *config_flags(cfg), "--quiet"], run_dir, processes)
    return _spawn(["train", *config_flags(cfg), "--quiet"], run_dir)


def resume_training(run_dir, iterations: Optional[int] = None) -> subprocess.Popen:
    """Continue a stopped, interrupted, failed or completed run from its last checkpoint, optionally to a
    new total number of iterations."""
    run_dir = Path(run_dir).resolve()
    if not runs.is_run_dir(run_dir):
        raise RunError(f"{run_dir.name} is not a run directory")
    st = runs.refresh_state(run_dir)
    done = int(st.get("iteration") or 0)
    if st.get("state") == "running":
        raise RunError(f"{run_dir.name} is already running")
    if not (run_dir / runs.CHECKPOINT).exists():
        raise RunError(f"{run_dir.name} has no checkpoint to resume from (it stopped before writing one)")
    if iterations is not None:
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ConfigError(f"iterations must be a whole number of at least 1, got {iterations!r}")
        if iterations <= done:
            raise ConfigError(f"{run_dir.name} is already at iteration {done}; give a larger total to continue")
    elif st.get("state") == "completed":
        raise ConfigError(f"{run_dir.name} has finished its {done} iterations; give a larger total to continue")
    args = ["train", "--resume", "--run-dir", str(run_dir), "--quiet"]
    if iterations is not None:
        args += ["--iterations", str(iterations)]
    return _spawn(args, run_dir)


def stop_training(run_dir) -> bool:
    """Ask a run to stop after its current step: the STOP file, then SIGTERM if its process is alive
    (both end in a checkpoint and state 'stopped'). True if a live process was signalled."""
    run_dir = Path(run_dir)
    if not runs.is_run_dir(run_dir):
        raise RunError(f"{run_dir.name} is not a run directory")
    st = runs.read_status(run_dir)
    runs.request_stop(run_dir)
    pid = st.get("pid")
    if st.get("state") == "running" and runs.process_alive(pid, st.get("pid_start")):
        try:
            os.kill(int(pid), signal.SIGTERM)
            return True
        except ProcessLookupError:
            return False
    return False


def last_log_line(run_dir) -> str:
    """The last non-empty line of train.log: the CLI's one-line error when a start failed."""
    try:
        lines = [l.strip() for l in (Path(run_dir) / LOG_NAME).read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    line = lines[-1] if lines else ""
    return line[len("error: "):] if line.startswith("error: ") else line


def wait_started(proc: subprocess.Popen, run_dir, timeout: float = 10.0) -> Optional[dict]:
    """Wait up to `timeout` s for the process to write its status.json; the status, or None if it is
    still starting (importing torch, loading data). Raises RunError with the log's last line if the
    process ended without writing one (bad data, a run already there, ...)."""
    path = runs.status_path(run_dir)
    deadline = time.monotonic() + timeout
    while True:
        st = runs.read_json(path)
        if st and proc.pid in (st.get("pid"), st.get("launcher_pid")):  # not an earlier process's status
            return st
        rc = proc.poll()
        if rc is not None:
            st = runs.read_json(path)
            if st and proc.pid in (st.get("pid"), st.get("launcher_pid")):
                return st
            raise RunError(last_log_line(run_dir) or f"the training process ended at once (exit status {rc})")
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


# --- uploaded datasets ---------------------------------------------------------------------------

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
    runs.write_bytes_atomic(path, data)
    return path


def load_upload(uploaded, image_size: int = 32, root=None):
    """(Dataset, saved path) for an uploaded .csv / .npy / .zip; DataError with a clear message if the
    file cannot be used, in which case nothing is saved."""
    from .data import load_file
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
