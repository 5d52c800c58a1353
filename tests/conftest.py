import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# AppTests run app.py, which keeps a warm worker per runs root: one per test's tmp root would pile up.
# Tests of the worker (test_control.py) and the browser tests ask for one explicitly.
os.environ.setdefault("GAN_WARM_WORKER", "0")
# Tests never download: a picture set missing here is an error, not a fetch (CI runs on a closed network too).
os.environ["GAN_NO_DOWNLOAD"] = "1"


def run_cli(*args, timeout=300, cwd=None, env=None):
    """python -m gan_core ARGS as a user would run it; returns the CompletedProcess."""
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "gan_core", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or ROOT, env=e, stdin=subprocess.DEVNULL)


def wait_for(cond, timeout=60.0, every=0.02) -> bool:
    """Poll cond() until it is true (True) or timeout seconds pass (False)."""
    t = time.time()
    while time.time() - t < timeout:
        if cond():
            return True
        time.sleep(every)
    return False


@pytest.fixture
def tiny():
    """Settings for a small, fast model: the behaviour under test does not depend on size."""
    return dict(hidden=16, depth=2, batch_size=32, log_every=10, checkpoint_every=100, snapshot_every=50,
                snapshot_samples=500)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """An empty runs root that the dashboard's pages (and launch.runs_root) use."""
    d = tmp_path / "runs"
    d.mkdir()
    monkeypatch.setenv("GAN_RUNS_DIR", str(d))
    return d
