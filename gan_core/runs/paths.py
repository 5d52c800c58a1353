"""Where things are: the dashboard's runs root, and a run's snapshot files (snapshots/it_XXXXXXXX.npz).

Nothing else here, so that a page that only needs a folder imports no process launching (gan_core.jobs).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = "runs"
SNAPSHOTS = "snapshots"
_SNAPSHOT_RE = re.compile(r"^it_([0-9]+)\.npz$")


def runs_root() -> Path:
    """Where the dashboard keeps runs: $GAN_RUNS_DIR, else runs/ under the project."""
    env = os.environ.get("GAN_RUNS_DIR")
    return Path(env) if env else PROJECT_ROOT / DEFAULT_ROOT


def snapshot_dir(run_dir) -> Path:
    return Path(run_dir) / SNAPSHOTS


def snapshot_path(run_dir, iteration: int) -> Path:
    """RUN/snapshots/it_XXXXXXXX.npz: the iteration zero-padded, so the names sort in training order."""
    return snapshot_dir(run_dir) / f"it_{int(iteration):08d}.npz"


def snapshot_iteration(path) -> Optional[int]:
    """The iteration in a snapshot file's name; None for any other file."""
    m = _SNAPSHOT_RE.match(Path(path).name)
    return int(m.group(1)) if m else None
