"""The control channel: pause, step, slow motion, live changes, replay, and extending a run."""
import os
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run_cli, wait_for

from gan_core.config import TrainConfig
from gan_core.engine.training import train
from gan_core.errors import ConfigError, RunError
from gan_core.runs import control, store


def _cfg(tmp_path, name="run", **kw):
    base = dict(dataset="ring8", run_dir=str(tmp_path / name), hidden=16, depth=2, batch_size=32, log_every=10,
                checkpoint_every=100, snapshot_every=50, snapshot_samples=300, export_onnx=False, seed=5)
    base.update(kw)
    return TrainConfig(**base)


class Background:
    """train() in a thread of this process (no torch import per test); the test steers it like a user."""

    def __init__(self, cfg, **kw):
        self.result, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=(cfg,), kwargs=kw, daemon=True)
        self.dir = cfg.run_dir
        self.thread.start()
        assert wait_for(lambda: store.read_status(self.dir).get("state") == "running"), store.read_status(self.dir)

    def _run(self, cfg, **kw):
        try:
            self.result = train(cfg, **kw)
        except Exception as e:  # surfaced by join()
            self.error = e

    def join(self, timeout=120):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "training did not end"
        if self.error:
            raise self.error
        return self.result


def rows(run_dir):
    return pd.read_csv(f"{run_dir}/metrics.csv").drop(columns=["elapsed_s"]).set_index("iteration")


def test_pause_step_counts_are_exact_and_changes_are_recorded(tmp_path):
    bg = Background(_cfg(tmp_path, iterations=100_000))
    d = bg.dir
    ans = control.command(d, "pause")
    st = store.read_status(d)
    paused_at = st["iteration"]
    assert st["state"] == "paused" and ans["iteration"] == paused_at
    time.sleep(0.3)
    assert store.read_status(d)["iteration"] == paused_at  # nothing moves while paused
    control.command(d, "step", what="iteration", count=5, at=[paused_at, 0])  # from where it was seen
    assert store.read_status(d)["iteration"] == paused_at + 5
    assert store.read_status(d)["state"] == "paused"
    # the same step again (a click delivered twice): refused, nothing done
    with pytest.raises(RunError, match="nothing done"):
        control.command(d, "step", what="iteration", count=5, at=[paused_at, 0])
    assert store.read_status(d)["iteration"] == paused_at + 5
    with pytest.raises(ConfigError, match="--at"):
        control.check_command("step", {"at": [1]})
    control.command(d, "step", what="d", count=2)   # the iteration's one D step, then an extra one
    st = store.read_status(d)
    assert (st["iteration"], st["d_done"]) == (paused_at + 5, 2)
    control.command(d, "step", what="g")
    st = store.read_status(d)
    assert (st["iteration"], st["d_done"]) == (paused_at + 6, 0)
    # the on-demand snapshot shows the state after the step (it follows the answer within a moment)
    assert wait_for(lambda: paused_at + 6 in store.list_snapshots(d), timeout=10)
    assert str(store.load_snapshot(d, paused_at + 6)["g_loss"]) == "nonsaturating"
    ans = control.command(d, "set", changes={"g_loss": "minimax", "lr_d": 2e-4})
    assert "minimax" in ans["message"]
    control.command(d, "step", what="d")  # the on-demand snapshot's arrows follow the new objective
    assert wait_for(lambda: str(store.load_snapshot(d, paused_at + 6)["g_loss"]) == "minimax", timeout=10)
    assert store.read_status(d)["settings"]["g_loss"] == "minimax"
    with pytest.raises(RunError, match="larger than the dataset|at least|unknown"):
        control.command(d, "set", changes={"g_loss": "wasserstein"})
    control.command(d, "continue")
    assert wait_for(lambda: store.read_status(d)["iteration"] > paused_at + 30)
    control.command(d, "stop")
    st = bg.join()
    assert st["state"] == "stopped"
    events = control.read_changes(d)
    # a stepping of several D steps is one change with its count, from where it began
    assert events[0] == {"iteration": paused_at + 5, "d_done": 0, "step": "d", "count": 2}
    assert events[1] == {"iteration": paused_at + 5, "d_done": 2, "step": "g"}
    assert events[2] == {"iteration": paused_at + 6, "d_done": 0, "set": {"g_loss": "minimax", "lr_d": 2e-4}}
    assert events[3] == {"iteration": paused_at + 6, "d_done": 0, "step": "d"}
    assert not list((tmp_path / "run" / "control").glob("*.json"))  # every command consumed


def test_replay_reproduces_a_steered_run(tmp_path):
    bg = Background(_cfg(tmp_path, iterations=100_000))
    d = bg.dir
    control.command(d, "pause")
    control.command(d, "step", what="d")
    control.command(d, "step", what="d")  # an extra D step
    control.command(d, "set", changes={"k": 2, "g_loss": "minimax"})
    control.command(d, "continue")
    assert wait_for(lambda: store.read_status(d)["iteration"] > 150)
    control.command(d, "set", changes={"lr_g": 3e-4, "batch_size": 48})
    assert wait_for(lambda: store.read_status(d)["iteration"] > 260)
    control.command(d, "stop")
    assert bg.join()["state"] == "stopped"
    r = run_cli("replay", d, "--run-dir", tmp_path / "copy", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "4 recorded change(s)" in r.stdout
    a, b = rows(d), rows(tmp_path / "copy")
    # the replay ends where the run stopped, so its last row also holds that iteration's final snapshot
    common = a.index.intersection(b.index)
    common = common[common < b.index.max()]
    assert len(common) >= 25
    np.testing.assert_allclose(a.loc[common].to_numpy(float), b.loc[common].to_numpy(float), atol=1e-6, equal_nan=True)
    assert control.read_changes(tmp_path / "copy") == control.read_changes(d)


def test_a_long_stepping_is_one_change_split_at_a_checkpoint_and_replays_exactly(tmp_path):
    """`step --what g --count N` is one recorded change with its count; a checkpoint inside it splits the record
    there (so a resume from that checkpoint keeps exactly the steps it holds), and replay repeats it."""
    bg = Background(_cfg(tmp_path, iterations=100_000, checkpoint_every=40))
    d = bg.dir
    control.command(d, "pause")
    at = store.read_status(d)["iteration"]
    ans = control.command(d, "step", what="g", count=90, timeout=60)
    assert ans["iteration"] == at + 90
    control.command(d, "step", what="d", count=7)
    control.command(d, "continue")
    assert wait_for(lambda: store.read_status(d)["iteration"] > at + 150)
    control.command(d, "stop")
    assert bg.join()["state"] == "stopped"
    events = control.read_changes(d)
    g = [e for e in events if e.get("step") == "g"]
    assert sum(e.get("count", 1) for e in g) == 90 and 2 <= len(g) <= 4, g  # split at each multiple of 40
    assert all(e["iteration"] % 40 == 0 for e in g[1:]) and g[0]["iteration"] == at
    assert [e for e in events if e.get("step") == "d"] == [{"iteration": at + 90, "d_done": 0, "step": "d",
                                                           "count": 7}]
    r = run_cli("replay", d, "--run-dir", tmp_path / "copy", "--quiet")
    assert r.returncode == 0, r.stderr
    assert control.read_changes(tmp_path / "copy") == events
    a, b = rows(d), rows(tmp_path / "copy")
    common = a.index.intersection(b.index)
    common = common[common < b.index.max()]
    np.testing.assert_allclose(a.loc[common].to_numpy(float), b.loc[common].to_numpy(float), atol=1e-6, equal_nan=True)


def test_changes_survive_stop_and_resume_bit_exactly(tmp_path):
    """A run steered, stopped and resumed equals its replay: the checkpoint carries the live settings
    and the position inside an iteration (after a lone D step)."""
    bg = Background(_cfg(tmp_path, iterations=100_000, checkpoint_every=1000))
    d = bg.dir
    control.command(d, "pause")
    control.command(d, "set", changes={"g_loss": "minimax", "lr_d": 3e-4})
    control.command(d, "step", what="d")  # stop mid-iteration
    control.command(d, "stop")
    assert bg.join()["state"] == "stopped"
    stopped = store.read_status(d)
    assert stopped["d_done"] == 1
    cfg = TrainConfig.load(tmp_path / "run" / "config.json")
    assert cfg.g_loss == "nonsaturating"  # config.json keeps the initial settings; the change is recorded
    target = stopped["iteration"] + 60
    r = run_cli("train", "--run-dir", d, "--resume", "--iterations", target, "--quiet")
    assert r.returncode == 0, r.stderr
    st = store.read_status(d)
    assert st["state"] == "completed" and st["settings"]["g_loss"] == "minimax" and st["settings"]["lr_d"] == 3e-4
    r = run_cli("replay", d, "--run-dir", tmp_path / "copy", "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = rows(d), rows(tmp_path / "copy")
    pd.testing.assert_frame_equal(a, b)


def test_a_stop_between_two_d_steps_takes_effect_there_and_resumes_bit_exactly(tmp_path, monkeypatch):
    """SIGTERM can come between two of an iteration's k D-steps: the run stops there, its checkpoint holds
    that position inside the iteration, and the resumed run's rows are those of one uninterrupted run."""
    from gan_core.engine import training
    train(_cfg(tmp_path, "straight", iterations=40, k=3))
    real = training.Trainer.d_step

    def d_step(self):
        real(self)
        if (self.it, self.d_done) == (23, 2):
            self.stop.set = True  # what StopFlag's handler does on SIGTERM

    monkeypatch.setattr(training.Trainer, "d_step", d_step)
    st = train(_cfg(tmp_path, "resumed", iterations=40, k=3))
    monkeypatch.setattr(training.Trainer, "d_step", real)
    assert st["state"] == "stopped" and (st["iteration"], st["d_done"]) == (23, 2), st
    ck = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)
    assert (ck["iteration"], ck["d_done"]) == (23, 2)
    assert train(_cfg(tmp_path, "resumed", iterations=40, k=3), resume=True)["state"] == "completed"
    pd.testing.assert_frame_equal(rows(tmp_path / "straight"), rows(tmp_path / "resumed"))


def test_slow_motion_caps_the_rate_and_snapshots_often(tmp_path):
    bg = Background(_cfg(tmp_path, iterations=100_000))
    d = bg.dir
    control.command(d, "slow", ips=20)
    it0, t0 = store.read_status(d)["iteration"], time.monotonic()
    seen = set()
    while time.monotonic() - t0 < 2.0:
        snaps = store.list_snapshots(d)
        seen.add(snaps[-1])
        time.sleep(0.05)
    it1, t1 = store.read_status(d)["iteration"], time.monotonic()
    rate = (it1 - it0) / (t1 - t0)
    assert 8 <= rate <= 26, rate
    assert len(seen) >= 3  # ≥ 2 snapshots a second: the samples visibly move
    control.command(d, "slow", ips=0)
    assert wait_for(lambda: store.read_status(d)["iteration"] > it1 + 200, timeout=30)
    control.command(d, "stop")
    assert bg.join()["state"] == "stopped"
    # live snapshots do not pile up: only the scheduled ones and the latest live one remain
    off = [i for i in store.list_snapshots(d) if i % 50]
    assert len(off) <= 1, off


def test_commands_to_a_run_that_is_not_training_are_refused(tmp_path):
    train(_cfg(tmp_path, iterations=20))
    with pytest.raises(RunError, match="not training"):
        control.send(tmp_path / "run", "pause")
    r = run_cli("control", tmp_path / "run", "pause")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not training" in r.stderr
    for bad in (["step", "--count", "0"], ["set", "iterations=5"], ["set", "lr_d=abc"], ["slow"]):
        r = run_cli("control", tmp_path / "run", *bad)
        assert r.returncode != 0 and r.stderr.count("\n") == 1, (bad, r.stderr)
    with pytest.raises(ConfigError):
        control.check_command("step", {"what": "x"})
    # one bound for a stepping and one for the refit of D, the page's and the command line's alike
    assert control.check_command("step", {"count": 100_000})["count"] == control.MAX_STEP_COUNT == 100_000
    with pytest.raises(ConfigError, match="100,000"):
        control.check_command("step", {"count": 100_001})
    with pytest.raises(ConfigError, match="refit_d"):
        TrainConfig(dataset="ring8", refit_d=100_001).resolved().validate()


def test_extension_at_learning_rate_zero_is_refused_and_restart_works(tmp_path):
    train(_cfg(tmp_path, iterations=60, lr_decay=0.0))
    d = tmp_path / "run"
    before = torch.load(d / "checkpoints" / "last.pt", weights_only=True)["G"]
    with pytest.raises(ConfigError, match="learning rate 0"):
        train(_cfg(tmp_path, iterations=120, lr_decay=0.0), resume=True)
    r = run_cli("train", "--run-dir", d, "--resume", "--iterations", 120, "--quiet")
    assert r.returncode == 2 and "learning rate 0" in r.stderr and "--restart-schedule" in r.stderr
    assert store.read_status(d)["state"] == "completed" and store.read_status(d)["iteration"] == 60  # untouched
    r = run_cli("train", "--run-dir", d, "--resume", "--iterations", 120, "--restart-schedule", "--lr-g", "5e-4",
                "--quiet", "--no-export")
    assert r.returncode == 0, r.stderr
    assert "lr_g 0.0005 →" in r.stderr  # the extension states the rates it trains with
    after = torch.load(d / "checkpoints" / "last.pt", weights_only=True)["G"]
    assert any((before[k] != after[k]).any() for k in before if before[k].is_floating_point())
    ev = control.read_changes(d)
    assert ev == [{"iteration": 60, "d_done": 0,
                   "set": {"lr_g": 5e-4, "lr_decay_start": 60, "lr_decay_iterations": 60}}]


def test_warm_worker_forks_training_processes(tmp_path, monkeypatch):
    """The dashboard's warm worker: a job becomes a training process in its own session, at a lower
    priority, that writes its status long before a fresh interpreter could have imported torch."""
    from gan_core.jobs import launch, worker
    monkeypatch.setenv("GAN_WARM_WORKER", "1")  # conftest turns it off for the AppTests
    root = tmp_path / "runs"
    assert launch.start_worker(root)
    try:
        assert wait_for(lambda: worker.alive(root), timeout=30)
        time.sleep(0.5)
        cfg = _cfg(root, "w", iterations=400)
        job = launch.start_training(cfg, root=root)
        assert isinstance(job, worker.Job)
        st = launch.wait_started(job, cfg.run_dir, timeout=30)
        assert st["pid"] == job.pid and os.getsid(job.pid) == job.pid  # its own session
        assert os.getpriority(os.PRIO_PROCESS, job.pid) >= worker.NICE
        assert wait_for(lambda: job.poll() is not None, timeout=120)
        assert job.returncode == 0 and store.read_status(cfg.run_dir)["state"] == "completed"
        # a job that fails at once: its exit status and the CLI's one-line error reach the page
        job = launch._spawn(["train", "--dataset", "nonexistent.csv", "--run-dir", str(root / "bad")],
                            root / "bad", root)
        assert isinstance(job, worker.Job)
        with pytest.raises(RunError, match="nonexistent"):
            launch.wait_started(job, root / "bad", timeout=30)
        assert job.poll() == 2
    finally:
        for line in (root / "_spool" / "worker.log").read_text().splitlines()[:1]:
            os.kill(int(line.split()[1]), 15)


def test_worker_started_with_the_server_serves_even_the_first_start(tmp_path, monkeypatch):
    """scripts/app.sh starts the worker beside the server (`--for-server PID`); a Start that comes while it
    is still importing torch waits for it rather than starting a second, slower interpreter, and the worker
    ends with the process it serves."""
    import subprocess
    import sys

    from gan_core.jobs import launch, worker
    root = tmp_path / "runs"
    monkeypatch.setenv("GAN_WARM_WORKER", "1")
    monkeypatch.setenv("GAN_RUNS_DIR", str(root))
    server = subprocess.Popen(["sleep", "120"])  # stands in for the streamlit server
    try:
        subprocess.run([sys.executable, "-m", "gan_core.jobs.worker", "--for-server", str(server.pid)],
                       cwd=launch.PROJECT_ROOT, check=True, timeout=30, env={**os.environ})
        assert wait_for(lambda: worker.alive(root, ready=False), timeout=10)
        assert not worker.alive(root)  # still importing torch: the start below has to wait for it
        cfg = _cfg(root, "first", iterations=50)
        job = launch.start_training(cfg, root=root)
        assert isinstance(job, worker.Job)  # served by the worker, not a fresh interpreter (subprocess.Popen)
        assert launch.wait_started(job, cfg.run_dir, timeout=30)["pid"] == job.pid
        assert wait_for(lambda: job.poll() is not None, timeout=120) and job.returncode == 0
    finally:
        server.kill()
        server.wait()
    assert wait_for(lambda: not worker.alive(root, ready=False), timeout=10)  # gone with its server


def test_stop_at_the_very_end_completes_with_the_model(tmp_path, monkeypatch):
    """A Stop (STOP file and SIGTERM, as the page sends) arriving during the final export: the run still
    ends `completed` with generator.onnx, the process is not killed, and the request is consumed."""
    import signal

    from gan_core.engine import training
    real_export = training._export

    def export_under_fire(run_dir, log, *rest):
        store.request_stop(run_dir)
        os.kill(os.getpid(), signal.SIGTERM)  # the handler only sets a flag while the run is ending
        return real_export(run_dir, log, *rest)

    monkeypatch.setattr(training, "_export", export_under_fire)
    st = train(_cfg(tmp_path, iterations=30, export_onnx=True))
    d = tmp_path / "run"
    assert st["state"] == "completed" and st["iteration"] == 30
    assert (d / "generator.onnx").exists() and not (d / "STOP").exists()


def test_a_paused_trainer_whose_run_is_deleted_ends(tmp_path):
    import shutil
    bg = Background(_cfg(tmp_path, iterations=100_000))
    ans = control.command(bg.dir, "pause")
    # paused and idle: the Pause's snapshot (written just after the answer) is on disk, nothing is being written
    assert wait_for(lambda: ans["iteration"] in store.list_snapshots(bg.dir), timeout=10)
    shutil.rmtree(bg.dir)
    st = bg.join(timeout=30)  # it would otherwise wait for a Continue forever
    assert st["state"] == "stopped" and "deleted" in st["message"]
