"""Issue 10's walk in a real headless Chromium (Debian's), driven by Playwright — what a user clicks through:
start ring8 on the Train page, land on Runs, Pause, Step 5 whole iterations (the iteration moves by exactly
5, in the page's answer and in status.json), change the generator objective to minimax (recorded at the
iteration where it took effect), Continue, and the run finishes. The walk is bench/steer_latency.steer (the
benchmark times the same clicks); here only its outcome is asserted, with generous time bounds. Requests to
other hosts are refused and counted. Screenshots: test-artifacts/browser/steer_*.png.
"""
from pathlib import Path

import pytest
from conftest import ROOT

from bench.steer_latency import steer
from tests.support.browser import CHROMIUM, start_server, stop_process

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                "(scripts/setup.sh --dev installs it)")


def test_start_pause_step_change_objective_continue_finish(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_WARM_WORKER", "1")  # as scripts/app.sh serves the app: a warm worker forks each run
    runs = tmp_path / "runs"
    runs.mkdir()
    shots = ROOT / "test-artifacts" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    server, url = start_server(runs, tmp_path / "streamlit.log")
    try:
        out = steer(url, runs, iterations=600, shots=shots)
    finally:
        stop_process(server)
    at = out["paused_at"]
    assert out["status_after_pause"] == at  # the page's answer is the trainer's exact iteration
    assert out["step_shown"] == out["status_after_step"] == at + 5
    assert out["changes"] == [{"iteration": at + 5, "d_done": 0, "set": {"g_loss": "minimax"}}]
    assert out["final_state"] == "completed"
    assert out["outside_requests"] == 0
    for k in ("start_to_first_point_s", "pause_s", "step_s", "set_s", "continue_s"):
        assert out[k] < 30, (k, out[k])  # answered (the figures themselves: python -m bench.steer_latency)
