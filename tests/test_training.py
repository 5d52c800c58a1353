"""Integration tests of the training loop and its run directory, all on CPU with tiny models."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import ROOT, run_cli

import gan_core.engine.algorithm as algorithm
import gan_core.engine.steering as steering
import gan_core.engine.training as training
from gan_core.config import DATASET_DEFAULTS, TrainConfig
from gan_core.engine.training import train
from gan_core.runs import store


def _cfg(tmp_path, name="run", **kw):
    base = dict(dataset="ring8", run_dir=str(tmp_path / name), hidden=16, depth=2, batch_size=32, log_every=10,
                checkpoint_every=100, snapshot_every=50, snapshot_samples=500, export_onnx=False, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_short_run_writes_the_run_directory(tmp_path):
    st = train(_cfg(tmp_path, iterations=60, export_onnx=True))
    d = tmp_path / "run"
    assert st["state"] == "completed" and st["iteration"] == 60
    m = pd.read_csv(d / "metrics.csv")
    assert list(m["iteration"]) == [10, 20, 30, 40, 50, 60]
    for col in ["value_estimate", "d_loss", "g_loss", "d_real", "d_fake", "elapsed_s", "jsd", "value_at_optimum",
                "modes_covered", "high_quality_fraction"]:
        assert col in m.columns
    assert ((m["d_real"] > 0) & (m["d_real"] < 1)).all()
    assert (m["d_loss"] == -m["value_estimate"]).all()
    # theory columns at snapshot iterations only; the identity value_at_optimum = -2 log 2 + 2 JSD holds
    t = m.dropna(subset=["jsd"])
    assert list(t["iteration"]) == [50, 60]
    assert ((t["value_at_optimum"] - (-2 * 0.6931472 + 2 * t["jsd"])).abs() < 1e-5).all()
    assert store.list_snapshots(d) == [0, 50, 60]
    snap = store.load_snapshot(d, 50)
    assert snap["samples"].shape == (500, 2) and snap["d"].shape == snap["d_star"].shape
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["iterations"] == 60 and cfg["latent_dim"] == DATASET_DEFAULTS["ring8"]["latent_dim"]  # resolved
    assert (d / "checkpoints" / "last.pt").exists()
    assert (d / "generator.onnx").exists(), st["message"]
    assert st["device"] == "cpu" and st["device_name"].startswith("CPU")


def _rows(run_dir):
    m = pd.read_csv(run_dir / "metrics.csv")
    return m.drop(columns=["elapsed_s"])


def _resumes_exactly_and_differs(tmp_path, **settings) -> None:
    """A 200-iteration run with `settings` stopped at 100 and resumed gives the rows of one straight run, and
    differs from the plain run (the defaults of `_cfg`): the settings' draws come from the run's stream and
    their state is in the checkpoint."""
    sched = dict(lr_decay=0.0, lr_decay_iterations=200)
    train(_cfg(tmp_path, "straight", iterations=200, **settings, **sched))
    train(_cfg(tmp_path, "resumed", iterations=100, **settings, **sched))
    st = train(_cfg(tmp_path, "resumed", iterations=200, **settings, **sched), resume=True)
    assert st["state"] == "completed"
    pd.testing.assert_frame_equal(_rows(tmp_path / "straight"), _rows(tmp_path / "resumed"))
    train(_cfg(tmp_path, "plain", iterations=200, **sched))
    a, b = _rows(tmp_path / "straight"), _rows(tmp_path / "plain")
    assert (a["value_estimate"] - b["value_estimate"]).abs().max() > 1e-3


def test_stop_and_resume_gives_the_same_rows_as_one_run(tmp_path):
    # the learning-rate schedule's horizon is part of the run's settings: the same 400 for both
    sched = dict(lr_decay=0.0, lr_decay_iterations=400)
    train(_cfg(tmp_path, "straight", iterations=400, **sched))
    train(_cfg(tmp_path, "resumed", iterations=200, **sched))
    st = train(_cfg(tmp_path, "resumed", iterations=400, **sched), resume=True)
    assert st["state"] == "completed" and st["iteration"] == 400
    a, b = _rows(tmp_path / "straight"), _rows(tmp_path / "resumed")
    assert len(a) == 40
    pd.testing.assert_frame_equal(a, b)


def test_resume_from_a_mid_interval_stop_matches(tmp_path, monkeypatch):
    """A STOP between log intervals: the partial accumulators travel in the checkpoint."""
    train(_cfg(tmp_path, "straight", iterations=120))
    calls = {"n": 0}
    real_loss = algorithm.generator_loss

    def stopping_loss(logits, kind):
        calls["n"] += 1
        if calls["n"] == 73:
            (tmp_path / "resumed" / "STOP").write_text("")
        return real_loss(logits, kind)

    monkeypatch.setattr(algorithm, "generator_loss", stopping_loss)
    monkeypatch.setattr(training.Path, "exists", training.Path.exists)
    monkeypatch.setattr(steering, "POLL_SECONDS", 0.0)  # the fused step is fast: poll at every iteration
    st = train(_cfg(tmp_path, "resumed", iterations=120))
    monkeypatch.setattr(algorithm, "generator_loss", real_loss)
    # STOP is noticed within a poll interval, between log rows: the partial sums go into the checkpoint
    assert st["state"] == "stopped" and 73 <= st["iteration"] < 120 and st["iteration"] % 10, st
    st = train(_cfg(tmp_path, "resumed", iterations=120), resume=True)
    pd.testing.assert_frame_equal(_rows(tmp_path / "straight"), _rows(tmp_path / "resumed"))


def test_nan_fails_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real_loss = algorithm.generator_loss
    calls = {"n": 0}

    def poisoned(logits, kind):
        calls["n"] += 1
        loss = real_loss(logits, kind)
        return loss * float("nan") if calls["n"] == 137 else loss

    monkeypatch.setattr(algorithm, "generator_loss", poisoned)
    st = train(_cfg(tmp_path, iterations=300))
    d = tmp_path / "run"
    assert st["state"] == "failed"
    assert "iteration 137" in st["message"] and "checkpoint" in st["message"]
    ck = torch.load(d / "checkpoints" / "last.pt", weights_only=True)
    assert ck["iteration"] == 100
    assert all(torch.isfinite(v).all() for v in ck["G"].values())
    m = pd.read_csv(d / "metrics.csv")
    assert m["iteration"].max() == 130 and m["value_estimate"].notna().all()
    # and it can be resumed from that checkpoint once the cause is gone
    monkeypatch.setattr(algorithm, "generator_loss", real_loss)
    st = train(_cfg(tmp_path, iterations=300), resume=True)
    assert st["state"] == "completed"


def _start(tmp_path, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "gan_core", "train", "--dataset", "ring8", "--run-dir",
                             str(tmp_path / "run"), "--iterations", "100000", "--hidden", "16", "--depth", "2",
                             "--batch-size", "32", "--checkpoint-every", "50", "--seed", "1", "--quiet", *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


def _wait_for(cond, timeout=90):
    t = time.time()
    while time.time() - t < timeout:
        if cond():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("how", ["stopfile", "sigterm"])
def test_stop_file_and_sigterm_stop_cleanly(tmp_path, how):
    d = tmp_path / "run"
    p = _start(tmp_path, "--no-export")
    assert _wait_for(lambda: (d / "checkpoints" / "last.pt").exists()), p.stderr.read() if p.poll() else ""
    if how == "stopfile":
        store.request_stop(d)
    else:
        p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    st = store.read_status(d)
    assert st["state"] == "stopped" and "resume" in st["message"]
    ck = torch.load(d / "checkpoints" / "last.pt", weights_only=True)
    assert ck["iteration"] == st["iteration"] > 0
    assert not (d / "STOP").exists() or how == "sigterm"


def test_sigkill_then_runs_then_resume(tmp_path):
    d = tmp_path / "run"
    p = _start(tmp_path)
    assert _wait_for(lambda: (d / "checkpoints" / "last.pt").exists())
    time.sleep(0.5)
    p.kill()
    p.wait()
    assert store.read_status(d)["state"] == "running"  # the dead process could not say otherwise
    r = run_cli("runs", "--root", tmp_path)
    assert r.returncode == 0 and "interrupted" in r.stdout, r.stdout
    assert store.read_status(d)["state"] == "interrupted"  # recorded, not just reported
    ck_it = torch.load(d / "checkpoints" / "last.pt", weights_only=True)["iteration"]
    pd.read_csv(d / "metrics.csv")  # still readable
    r = run_cli("train", "--run-dir", d, "--resume", "--iterations", ck_it + 40, "--no-export", "--quiet")
    assert r.returncode == 0, r.stderr
    st = store.read_status(d)
    assert st["state"] == "completed" and st["iteration"] == ck_it + 40
    m = pd.read_csv(d / "metrics.csv")
    assert m["iteration"].is_monotonic_increasing and m["iteration"].is_unique and m["iteration"].max() == ck_it + 40


def test_existing_run_dir_is_not_overwritten(tmp_path):
    train(_cfg(tmp_path, iterations=20))
    before = (tmp_path / "run" / "metrics.csv").read_text()
    r = run_cli("train", "--dataset", "ring8", "--run-dir", tmp_path / "run", "--iterations", 20)
    assert r.returncode != 0 and "already holds a run" in r.stderr
    assert (tmp_path / "run" / "metrics.csv").read_text() == before


def test_status_says_the_iteration_between_flushes_without_fsync(tmp_path, monkeypatch):
    """status.json follows the run every STATUS_SECONDS (the Runs page's table), and these progress writes
    skip the fsync that state changes keep."""
    synced, writes = [], []
    real_fsync, real_write = os.fsync, store.write_status
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])

    def write(run_dir, durable=True, **fields):
        writes.append((durable, fields.get("state"), fields.get("iteration")))
        return real_write(run_dir, durable, **fields)

    monkeypatch.setattr(store, "write_status", write)
    monkeypatch.setattr(training, "STATUS_SECONDS", 0.0)  # every iteration between flushes
    monkeypatch.setattr(training, "FLUSH_SECONDS", 1e9)   # rows only at the first and the last
    cfg = TrainConfig(dataset="gaussian1d", iterations=40, log_every=10, hidden=8, depth=1, snapshot_every=1000,
                      export_onnx=False, run_dir=str(tmp_path / "run"))
    assert train(cfg, progress=False)["state"] == "completed"
    progress = [w for w in writes if not w[0]]
    assert [w[2] for w in progress] == sorted(w[2] for w in progress) and len(progress) >= 30
    assert all(w[1] is None for w in progress)  # progress only; every state change stays durable
    assert [w for w in writes if w[1] == "completed"][0][0] is True
    synced.clear()
    store.write_status(tmp_path / "run", durable=False, iteration=41)
    assert not synced and store.read_status(tmp_path / "run")["iteration"] == 41
    store.write_status(tmp_path / "run", iteration=42)
    assert synced


def test_a_cpu_run_keeps_numpys_blas_to_its_thread_count(tmp_path):
    """The snapshots' numpy work (digits' quality scores) runs on as many BLAS threads as training has:
    a second BLAS thread spun on a shared core (bench/RESULTS.md)."""
    import threadpoolctl

    def blas_threads():
        return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}

    before = threadpoolctl.threadpool_info()
    try:
        threadpoolctl.threadpool_limits(2, user_api="blas")
        if blas_threads() != {2}:
            pytest.skip("this machine's BLAS gives fewer than 2 threads")
        training.Trainer(_cfg(tmp_path, iterations=10))
        assert blas_threads() == {1}
        training.Trainer(_cfg(tmp_path, "two", iterations=10, threads=2))  # --threads 2: both sides get 2
        assert blas_threads() == {2}
    finally:
        for lib in before:
            if lib["user_api"] == "blas":
                threadpoolctl.threadpool_limits(lib["num_threads"], user_api="blas")
