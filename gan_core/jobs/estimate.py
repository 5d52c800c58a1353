"""How long a run will take on this machine: from earlier runs' measured speed, or a short real run.

No streamlit and no torch here (a measurement trains in its own process).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from gan_core.config import TrainConfig
from gan_core.errors import RunError
from gan_core.files import read_json
from gan_core.jobs.launch import TRAIN_NICE, config_flags
from gan_core.runs import store
from gan_core.runs.paths import PROJECT_ROOT, runs_root


def _work(c: dict) -> float:
    """Relative arithmetic per iteration: k + 1 steps of m examples through MLPs of width h and depth d."""
    h, d = float(c.get("hidden") or 128), float(c.get("depth") or 3)
    return (int(c.get("k") or 1) + 1) * float(c.get("batch_size") or 64) * (h * h * d + 64 * h)


# Seconds of one refit step of D (gan_core.engine.refit: m = 512, D of 4 hidden layers of 128) on a 2-core CPU,
# a prior for the estimate until a run has been timed here; other widths scale by h²·d.
REFIT_STEP_S = 6.6e-3


def refit_seconds(cfg: TrainConfig) -> float:
    """About how long the refit of D before export takes (0 when the run does none)."""
    c = cfg.resolved()
    if not c.export_onnx or not c.refit_d or (c.pack or 1) > 1 or c.dataset == "digits":
        return 0.0
    return c.refit_d * REFIT_STEP_S * (c.hidden or 128) ** 2 * (c.depth or 3) / (128 ** 2 * 4)


def estimate_rate(cfg: TrainConfig, root=None) -> Optional[tuple[float, str]]:
    """(iterations per second, where the figure comes from) for cfg on this machine, from the measured
    rates of earlier runs on the same data (scaled by the work per iteration when their settings differ);
    None when there is no such run."""
    want = dataclasses.asdict(cfg.resolved())
    root = Path(root or runs_root())
    same, scaled = [], []
    for info in store.list_runs(root):
        if not info.rate or info.rate <= 0:
            continue
        c = read_json(info.path / "config.json") or {}
        if Path(str(c.get("dataset"))).name != Path(str(want["dataset"])).name or \
                c.get("image_size", want["image_size"]) != want["image_size"]:
            continue
        keys = ("k", "batch_size", "hidden", "depth", "latent_dim", "snapshot_every", "device")
        if all(c.get(key) == want[key] for key in keys):
            same.append(info.rate)
        else:
            scaled.append(info.rate * _work(c) / _work(want))
    if same:
        return statistics.median(same), f"the measured speed of {len(same)} earlier run(s) with these settings"
    if scaled:
        return statistics.median(scaled), (f"{len(scaled)} earlier run(s) on this data, scaled by the work per "
                                           "iteration (rough)")
    return None


def measure_rate(cfg: TrainConfig, iterations: int = 200, timeout: float = 90.0) -> float:
    """Iterations per second of cfg on this machine, from a short real training run in a temporary folder
    (same settings, no export, at the training processes' lower priority). Raises RunError if it fails."""
    tmp = Path(tempfile.mkdtemp(prefix="gan-speed-"))
    try:
        full = cfg.resolved()  # the real run's snapshot interval: snapshots are part of its speed
        c = dataclasses.replace(cfg, run_dir=str(tmp / "run"), iterations=iterations, export_onnx=False,
                                checkpoint_every=10 * iterations, snapshot_every=full.snapshot_every,
                                lr_decay_iterations=full.lr_decay_iterations, dataset_params=dict(cfg.dataset_params))
        if c.dataset and not c.is_builtin:
            c.dataset = str(Path(c.dataset).resolve())
        out = subprocess.run([sys.executable, "-m", "gan_core", "train", *config_flags(c), "--quiet"],
                             cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, preexec_fn=lambda: os.nice(TRAIN_NICE))
        st = read_json(store.status_path(c.run_dir)) or {}
        if out.returncode != 0 or not st.get("rate"):
            line = (out.stderr.strip().splitlines() or [""])[-1]
            reason = line[len('error: '):] if line.startswith('error: ') else line
            raise RunError(f"could not measure the speed: {reason}")
        return float(st["rate"])
    except subprocess.TimeoutExpired:
        raise RunError(f"could not measure the speed: {iterations} iterations took over {timeout:.0f} s") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
