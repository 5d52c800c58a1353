"""Starting, resuming and stopping training processes (and comparisons) for the dashboard.

Training always runs as `python -m gan_core train ...` in its own process and session, never inside the
web server: closing the page, a Streamlit rerun or a server restart must not kill it, and the page must
never wait on it. The run directory is the only channel between the two (see gan_core.runs.store).
Where runs are kept is gan_core.runs.paths: a page that only needs a folder does not import this module.
No streamlit and no torch here.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from gan_core.config import TrainConfig
from gan_core.errors import ConfigError, RunError
from gan_core.files import open_append, open_regular, process_alive, read_json, write_json_atomic
from gan_core.jobs import worker
from gan_core.runs import comparisons, control, disk, store
from gan_core.runs.paths import PROJECT_ROOT, runs_root
from gan_core.runs.runlock import check_entries, is_locked

LOG_NAME = "train.log"
STARTING = ".starting"  # {"pid": ...} of the process started for a new run folder, until it writes its run
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Training runs at a lower CPU priority than the web server: on a 2-core machine the page then wins the
# core it needs for a click or a refresh (at equal priority a click can wait for seconds).
TRAIN_NICE = worker.NICE  # training yields the CPU to the page on a shared machine


def run_dir_for(name: str, root=None) -> Path:
    """The directory of a new run called `name`; refuses names that would escape the root or clash."""
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise ConfigError(f"run name {name!r} must start with a letter or digit and use only letters, digits, "
                          "'.', '_' and '-' (at most 100 characters)")
    path = Path(root or runs_root()) / name
    if path.exists() and not discard_failed_start(path):
        raise RunError(f"a run called {name!r} already exists; choose another name")
    return path


def discard_failed_start(run_dir) -> bool:
    """Remove what a refused or failed start left behind: a folder that holds no run (no config.json) and
    nothing but the start's train.log. True if the folder is gone (or never was)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return True
    if store.is_run_dir(run_dir) or not run_dir.is_dir():
        return False
    if any(p.name not in (LOG_NAME, STARTING, ".lock") for p in run_dir.iterdir()):
        return False
    try:
        if is_locked(run_dir):
            return False
    except OSError:  # a .lock that is not a regular file: not a leftover of ours
        return False
    started = read_json(run_dir / STARTING) or {}
    if process_alive(started.get("pid")):
        return False  # still starting (importing torch, loading data): its folder is not a leftover
    shutil.rmtree(run_dir, ignore_errors=True)
    return not run_dir.exists()


def lower_priority(pid: int, nice: int = TRAIN_NICE) -> None:
    """Lower a training process's CPU priority (every thread of it: Linux nice values are per thread).
    A warm worker that starts runs should call os.nice(TRAIN_NICE) itself."""
    tasks = Path(f"/proc/{pid}/task")
    tids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [pid]
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
        except (OSError, AttributeError):  # gone already, or no setpriority on this platform
            pass


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
    check_entries(run_dir)  # nothing written through a link (train refuses it too, after seconds of imports)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_append(run_dir / LOG_NAME) as log:
        proc = subprocess.Popen(
            torchrun_command(args, processes), cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
            preexec_fn=_lower_priority)
    write_json_atomic(run_dir / STARTING, {"pid": proc.pid})
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def _spawn(args: list[str], run_dir: Path, root=None):
    """Start `python -m gan_core ARGS` for run_dir: forked by the warm worker when one serves the runs
    root (milliseconds), else as a new interpreter (seconds: it imports torch). Either way in its own
    session, at a lower CPU priority, with its output appended to RUN/train.log."""
    check_entries(run_dir)  # nothing written through a link (train refuses it too, after seconds of imports)
    run_dir.mkdir(parents=True, exist_ok=True)
    job = worker.submit(root or run_dir.parent, args, run_dir / LOG_NAME)
    if job is not None:
        write_json_atomic(run_dir / STARTING, {"pid": job.pid})
        return job
    with open_append(run_dir / LOG_NAME) as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "gan_core", *args], cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # its own session: signals to the server (Ctrl-C, reload) don't reach it
            preexec_fn=_lower_priority)
    write_json_atomic(run_dir / STARTING, {"pid": proc.pid})
    # Reap the child when it ends, so a finished run leaves no zombie behind in a long-lived server.
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def _lower_priority() -> None:
    try:
        os.nice(TRAIN_NICE)  # the page wins the CPU on a shared machine; training takes what is left
    except OSError:
        pass


def start_worker(root=None) -> bool:
    """Keep a warm worker ready for the runs root (the dashboard calls this once per server).
    GAN_WARM_WORKER=0 turns it off (runs then start as fresh interpreters)."""
    if os.environ.get("GAN_WARM_WORKER", "1") == "0":
        return False
    try:
        return worker.ensure(Path(root or runs_root()), PROJECT_ROOT)
    except OSError:
        return False


def start_training(cfg: TrainConfig, root=None, processes: int = 1, dataset_size: Optional[int] = None):
    """Start training cfg in a new process (N > 1 processes: under torchrun, one per GPU). cfg.run_dir defaults
    to a fresh name under the runs root.

    Refuses (ConfigError / RunError) before starting anything — no folder is made — if a setting is
    invalid, the batch is larger than the dataset (dataset_size, when the caller knows it), the run would not
    fit on the disk (built-in data; the trainer checks a user's data once loaded), or the run directory already
    holds a run.
    """
    cfg = dataclasses.replace(cfg, dataset_params=dict(cfg.dataset_params))
    if not cfg.run_dir:
        root = Path(root or runs_root())
        cfg.run_dir = str(root / store.new_run_name(cfg.dataset, root))
    cfg.run_dir = str(Path(cfg.run_dir).resolve())
    if not cfg.is_builtin and cfg.dataset:
        cfg.dataset = str(Path(cfg.dataset).resolve())  # the child runs in the project root, not our cwd
    resolved = cfg.resolved().validate()
    if dataset_size is not None and resolved.batch_size > dataset_size:
        raise ConfigError(f"batch size {resolved.batch_size} is larger than the dataset ({dataset_size} examples); "
                          f"choose at most {dataset_size}")
    if disk.builtin_shape(resolved):
        disk.check_fits(resolved, *disk.builtin_shape(resolved))
    run_dir = Path(cfg.run_dir)
    if store.is_run_dir(run_dir):
        raise RunError(f"{run_dir.name} already holds a run; resume it or choose another name")
    if processes > 1:
        m = cfg.resolved().batch_size
        if m % processes:
            raise ConfigError(f"batch size {m} does not split evenly across {processes} processes")
        proc = _spawn_torchrun(["train", *config_flags(cfg), "--quiet"], run_dir, processes)
    else:
        proc = _spawn(["train", *config_flags(cfg), "--quiet"], run_dir)
    lower_priority(proc.pid)  # (the warm worker's children have lowered their own already)
    return proc


def start_and_wait(cfg: TrainConfig, timeout: float = 6.0, dataset_size: Optional[int] = None,
                   processes: int = 1) -> tuple:
    """start_training, then wait_started: (process, status or None while still starting). A start the
    training process refuses (bad data, …) raises RunError and leaves no folder behind."""
    proc = start_training(cfg, dataset_size=dataset_size, processes=processes)
    try:
        return proc, wait_started(proc, cfg.run_dir, timeout=timeout)
    except RunError:
        for _ in range(20):  # the process has ended; give the kernel a moment to let its pid and lock go
            if discard_failed_start(cfg.run_dir):
                break
            time.sleep(0.05)
        raise


def resume_training(run_dir, iterations: Optional[int] = None, changes: Optional[dict] = None,
                    restart_schedule: bool = False):
    """Continue a stopped, interrupted, failed or completed run from its last checkpoint, optionally to a
    new total number of iterations, with live settings changed from there on (recorded as a change) and
    the learning-rate decay restarted over the added iterations."""
    run_dir = Path(run_dir).resolve()
    if not store.is_run_dir(run_dir):
        raise RunError(f"{run_dir.name} is not a run directory")
    st = store.refresh_state(run_dir)
    done = int(st.get("iteration") or 0)
    if st.get("state") in store.LIVE_STATES:
        raise RunError(f"{run_dir.name} is already running")
    if not (run_dir / store.CHECKPOINT).exists():
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
    for key, value in (changes or {}).items():
        if key not in control.LIVE_SETTINGS:
            raise ConfigError(f"{key} cannot be changed when resuming")
        args += ["--" + key.replace("_", "-"), _cli_value(value)]
    if restart_schedule:
        args.append("--restart-schedule")
    proc = _spawn(args, run_dir)
    lower_priority(proc.pid)
    return proc


def stop_training(run_dir, wait: float = 5.0) -> bool:
    """Ask a run to stop after its current step, through the control channel (answered within a poll,
    ~50 ms) and the STOP file (for a trainer still starting up). The run ends `stopped` with a checkpoint,
    or `completed` if it was already saving its end. True if a live trainer took the request."""
    run_dir = Path(run_dir)
    if not store.is_run_dir(run_dir):
        raise RunError(f"{run_dir.name} is not a run directory")
    st = store.refresh_state(run_dir)
    store.request_stop(run_dir)
    if st.get("state") not in store.LIVE_STATES:
        return False
    try:
        control.command(run_dir, "stop", timeout=wait)
        return True
    except RunError:
        return False  # still starting, or busy with its final export: the STOP file is seen there


def comparison_command(base: TrainConfig, root, vary: dict, seeds: int) -> list[str]:
    """The `python -m gan_core compare ...` arguments for these settings."""
    flags = config_flags(dataclasses.replace(base, run_dir=""))  # compare takes --root, not --run-dir
    out = ["compare", *flags, "--root", str(root), "--seeds", str(seeds)]
    for k, vals in vary.items():
        out += ["--vary", f"{k}={','.join(str(v) for v in vals)}"]
    return out


def start_comparison(base: TrainConfig, root, vary: dict, seeds: int = 1) -> subprocess.Popen:
    """Start a comparison as one background process (output in ROOT/compare.log). Refuses bad settings
    (ConfigError) and a root that is in use (RunError) before starting anything."""
    root = Path(root).resolve()
    comparisons.plan_members(base, vary, seeds)
    if (root / comparisons.SPEC_NAME).exists():
        raise RunError(f"{root.name} already holds a comparison")
    root.mkdir(parents=True, exist_ok=True)
    with open_append(root / comparisons.LOG_NAME) as fh:  # never through a link
        proc = subprocess.Popen([sys.executable, "-m", "gan_core", *comparison_command(base, root, vary, seeds),
                                 "--quiet"], cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return proc


def last_log_line(run_dir) -> str:
    """The last non-empty line of train.log: the CLI's one-line error when a start failed."""
    try:
        with open_regular(Path(run_dir) / LOG_NAME) as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 65536))  # the end is enough
            lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    line = lines[-1] if lines else ""
    return line[len("error: "):] if line.startswith("error: ") else line


def wait_started(proc: subprocess.Popen, run_dir, timeout: float = 10.0) -> Optional[dict]:
    """Wait up to `timeout` s for the process to write its status.json; the status, or None if it is
    still starting (importing torch, loading data). Raises RunError with the log's last line if the
    process ended without writing one (bad data, a run already there, ...)."""
    path = store.status_path(run_dir)
    deadline = time.monotonic() + timeout
    while True:
        st = read_json(path)
        if st and proc.pid in (st.get("pid"), st.get("launcher_pid")):  # not an earlier process's status
            return st
        rc = proc.poll()
        if rc is not None:
            st = read_json(path)
            if st and proc.pid in (st.get("pid"), st.get("launcher_pid")):
                return st
            raise RunError(last_log_line(run_dir) or f"the training process ended at once (exit status {rc})")
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
