"""Hostile and careless inputs around a run (issue 15): crafted checkpoints run no code, one writer per run,
broken run folders are listed as broken, absurd settings and configs get one line.
"""
import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from support.hostile import (
    one_line,
    points_model,
)

from gan_core import cli
from gan_core.config import TrainConfig
from gan_core.errors import ConfigError, GanError, RunError
from gan_core.runs import runlock, store
from gan_core.share import outputs

# --- checkpoints carry data, never code --------------------------------------------------------------

class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {tempfile.gettempdir()}/gan_pwned_{os.getpid()}",))


def test_crafted_checkpoint_is_refused_and_runs_no_code(tmp_path):
    import torch

    from gan_core.engine.checkpoint import load_checkpoint
    marker = Path(tempfile.gettempdir()) / f"gan_pwned_{os.getpid()}"
    (tmp_path / "checkpoints").mkdir()
    torch.save({"G": _Evil(), "iteration": 1}, tmp_path / "checkpoints" / "last.pt")
    with pytest.raises(RunError) as e:
        load_checkpoint(tmp_path)
    assert "holds objects other than tensors and numbers" in one_line(e)
    assert not marker.exists()


def test_everything_training_saves_loads_with_weights_only(tmp_path):
    import torch

    from gan_core.engine.checkpoint import plain_state
    from gan_core.engine.training import train
    for opt in ("adam", "sgd"):
        cfg = TrainConfig(dataset="ring8", run_dir=str(tmp_path / opt), iterations=20, hidden=16, depth=2,
                          batch_size=32, log_every=10, checkpoint_every=10, snapshot_every=10, snapshot_samples=100,
                          optimizer=opt, export_onnx=False)
        train(cfg)
        ck = torch.load(tmp_path / opt / "checkpoints" / "last.pt", weights_only=True)
        assert ck["iteration"] == 20 and isinstance(ck["rng"], torch.Tensor) and ck["settings"]["lr_d"] > 0
    assert isinstance(plain_state({"a": np.arange(3)})["a"], torch.Tensor)
    assert plain_state([np.float32(2.5)]) == [2.5]
    with pytest.raises(TypeError, match="holds a _Evil"):
        plain_state({"x": _Evil()})


# --- one writer per run ---------------------------------------------------------------------------

def _hold_lock_in_child(run_dir: Path) -> subprocess.Popen:
    code = (f"from gan_core.runs import runlock; import sys, time\nlk = runlock.acquire({str(run_dir)!r})\n"
            "print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_names_its_holder_and_dies_with_it(tmp_path):
    run = tmp_path / "run"
    proc = _hold_lock_in_child(run)
    try:
        assert runlock.is_locked(run) and runlock.holder(run) == proc.pid
        with pytest.raises(RunError) as e:
            runlock.acquire(run, wait_s=0.2)
        assert f"is being trained by process {proc.pid}" in one_line(e)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not runlock.is_locked(run)            # no stale lock after a SIGKILL
    with runlock.acquire(run) as lk:
        assert lk.fd is not None and not runlock.is_locked(run)   # our own lock does not block us
    assert runlock.holder(run) == os.getpid()


def test_readers_see_a_locked_run_as_running_even_without_status(tmp_path):
    from gan_core.jobs import launch
    run = tmp_path / "run"
    run.mkdir()
    TrainConfig(dataset="ring8", run_dir=str(run)).resolved().save(run / "config.json")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    proc = _hold_lock_in_child(run)
    try:
        assert not (run / "status.json").exists()   # e.g. deleted mid-run
        assert store.refresh_state(run)["state"] == "running"
        with pytest.raises(RunError, match="already running"):
            launch.resume_training(run, 100)
        with pytest.raises(RunError, match="is being trained by process"):
            store.delete_run(run)
        code = cli.main(["train", "--resume", "--run-dir", str(run), "--iterations", "100"])
        assert code == 2 and run.exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_new_run_folder_is_not_left_behind_when_train_refuses(tmp_path):
    from gan_core.engine.training import train
    run = tmp_path / "new"
    with pytest.raises(GanError):
        train(TrainConfig(dataset="digits", run_dir=str(run), batch_size=5000, iterations=5))
    assert not run.exists()


@pytest.mark.slow
def test_two_trainers_on_one_run(tmp_path, tiny):
    from conftest import run_cli
    run = tmp_path / "run"
    args = ["--dataset", "ring8", "--run-dir", run, "--iterations", 200000, "--no-export", "--quiet"]
    args += [x for k, v in tiny.items() for x in ("--" + k.replace("_", "-"), v)]
    first = subprocess.Popen([sys.executable, "-m", "gan_core", "train", *map(str, args)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (store.read_status(run).get("state") == "running" and runlock.is_locked(run)):
            assert time.monotonic() < deadline and first.poll() is None, first.stderr.read()
            time.sleep(0.1)
        (run / "status.json").unlink()              # a careless user: status gone, the lock still holds
        second = run_cli("train", "--resume", "--run-dir", run, "--iterations", 300000)
        third = run_cli("train", *args[:4], "--iterations", 10)
        for r in (second, third):
            assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"is being trained by process {first.pid}" in second.stderr
        assert "already" in third.stderr or "being trained" in third.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(60)
    assert first.returncode == 0 and store.read_status(run)["state"] == "stopped"


# --- run folders: broken ones are listed as broken, the rest as usual ------------------------------

def _run(root: Path, name: str, status=None, config=None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config if config is not None else {"dataset": "ring8", "iterations": 10}))
    if status is not None:
        (d / "status.json").write_text(json.dumps(status))
    return d


def test_list_runs_shows_broken_folders_and_lists_the_rest(tmp_path, monkeypatch):
    _run(tmp_path, "good", {"state": "completed", "iteration": 10, "message": "finished", "updated_at": 5})
    _run(tmp_path, "status_list", [1])
    _run(tmp_path, "config_list", {"state": "completed", "iteration": 1}, config=[1, 2])
    _run(tmp_path, "bad_iteration", {"state": "completed", "iteration": "ten"})
    unreadable = _run(tmp_path, "unreadable", {"state": "completed", "iteration": 1})
    real_iterdir = Path.iterdir

    def iterdir(self):   # as a folder without read permission (the tests may run as root)
        if self == unreadable:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_iterdir(self)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    infos = {r.name: r for r in store.list_runs(tmp_path)}
    assert set(infos) == {"good", "status_list", "config_list", "bad_iteration", "unreadable"}
    assert infos["good"].state == "completed" and infos["good"].iteration == 10
    for name, words in [("status_list", "status.json is unreadable or not a JSON object"),
                        ("config_list", "config.json holds a list"), ("bad_iteration", "non-numeric iteration"),
                        ("unreadable", "the folder is unreadable")]:
        assert infos[name].state == store.BROKEN and words in infos[name].message, infos[name]
    assert cli.main(["runs", "--root", str(tmp_path)]) == 0


def test_dead_run_without_checkpoint_does_not_promise_a_resume(tmp_path):
    dead = {"state": "running", "iteration": 7, "pid": 2 ** 22 + 12345, "message": "training"}
    run = _run(tmp_path, "r", dead)
    st = store.refresh_state(run)
    assert st["state"] == "interrupted" and "no checkpoint was written" in st["message"]
    assert "resume continues" not in st["message"]
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    store.write_status(run, **{**dead, "message": "saving the generator"})
    assert "python -m gan_core export" in store.refresh_state(run)["message"]


def test_read_only_run_folder_is_reported_not_crashed(tmp_path, monkeypatch):
    run = _run(tmp_path, "r", {"state": "running", "iteration": 3, "pid": 2 ** 22 + 12345})

    def read_only(*a, **k):
        raise PermissionError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(store, "write_json_atomic", read_only)
    assert store.refresh_state(run)["state"] == "interrupted"
    assert [r.state for r in store.list_runs(tmp_path)] == ["interrupted"]


def test_orphaned_temporary_files_of_dead_writers_are_removed(tmp_path):
    run = tmp_path / "r"
    (run / "checkpoints").mkdir(parents=True)
    dead = run / "checkpoints" / f".last.pt.{2 ** 22 + 12345}.abc123.tmp"
    dead.write_bytes(b"half")
    mine = run / f".status.json.{os.getpid()}.xyz.tmp"
    mine.write_bytes(b"")
    keep = run / "notes.tmp"
    keep.write_bytes(b"user file")
    store.write_json_atomic(run / "status.json", {"state": "stopped"})   # its temporary file carries our pid
    with runlock.acquire(run):
        assert not dead.exists() and mine.exists() and keep.exists()


# --- configuration and command line -----------------------------------------------------------------

def _cli_error(capsys, argv) -> str:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and err.startswith("error:"), err
    return err


@pytest.mark.parametrize("extra, words", [
    (["--seed", 2 ** 64], "seed must lie in 0 … 2^64 − 1"),
    (["--seed", -1], "seed must lie in 0"),
    (["--dataset-param", "modes=0"], "dataset parameter modes must be a whole number in [1, 1000], got 0"),
    (["--dataset-param", "std=-1"], "dataset parameter std must be a number"),
    (["--dataset-param", "std=nan"], "dataset parameter std must be a number"),
    (["--dataset-param", "colour=1"],
     "unknown dataset parameter 'colour' for ring8; its parameters: modes, radius, std"),
    (["--batch-size", 10 ** 9], "batch_size must be at most 65,536"),
    (["--snapshot-samples", 10 ** 9], "snapshot_samples must be at most 100,000"),
    (["--hidden", 10 ** 6], "hidden must be at most 8,192"),
    (["--hidden", 8192, "--depth", 8], "million weights; at most 200 million"),
])
def test_cli_refuses_absurd_settings_in_one_line(tmp_path, capsys, extra, words):
    err = _cli_error(capsys, ["train", "--dataset", "ring8", "--run-dir", tmp_path / "r", "--iterations", 10, *extra])
    assert words in err
    assert not (tmp_path / "r").exists()


def test_cli_run_dir_must_be_a_new_or_empty_folder(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("mine")
    assert "is a file" in _cli_error(capsys, ["train", "--dataset", "ring8", "--run-dir", f, "--iterations", 5])
    assert "is a file" in _cli_error(capsys, ["train", "--resume", "--run-dir", f])
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    err = _cli_error(capsys, ["train", "--dataset", "ring8", "--run-dir", tmp_path / "photos", "--iterations", 5])
    assert "already holds other files (cat.jpg)" in err
    assert (tmp_path / "photos" / "cat.jpg").read_bytes() == b"x" and f.read_text() == "mine"


def test_config_json_with_wrong_types_is_refused(tmp_path):
    for bad in ({"seed": "zero"}, {"iterations": "many"}, {"beta1": "0.5"}, {"dataset_params": [1]}):
        (tmp_path / "config.json").write_text(json.dumps({"dataset": "ring8", **bad}))
        with pytest.raises(ConfigError) as e:
            TrainConfig.load(tmp_path / "config.json")
        assert list(bad)[0] in one_line(e)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="holds a list"):
        TrainConfig.load(tmp_path / "config.json")


def test_cli_generate_checks(tmp_path, capsys, monkeypatch):
    model = tmp_path / "m.onnx"
    model.write_bytes(points_model(latent_dim=2, output_kind="points"))
    with pytest.raises(SystemExit):     # argparse: "1e9" is not a whole number (one line, exit 2)
        cli.main(["generate", str(model), "--n", "1e9", "--out", str(tmp_path / "a.csv")])
    assert "invalid int value: '1e9'" in capsys.readouterr().err
    assert "too many at once" in _cli_error(capsys, ["generate", model, "--n", 10 ** 9, "--out", tmp_path / "a.csv"])
    assert "--seed must lie in 0" in _cli_error(capsys, ["generate", model, "--seed", -1, "--out", tmp_path / "a.csv"])
    assert "--seed must lie in 0" in _cli_error(capsys, ["generate", model, "--seed", 2 ** 64,
                                                         "--out", tmp_path / "a.csv"])
    assert "is a folder" in _cli_error(capsys, ["generate", model, "--out", tmp_path])
    (tmp_path / "f").write_text("")
    assert "f is a file, not a folder" in _cli_error(capsys, ["generate", model, "--out", tmp_path / "f" / "a.csv"])

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(outputs, "atomic_write", full)
    assert "No space left on device" in _cli_error(capsys, ["generate", model, "--out", tmp_path / "b.npy"])


def test_resume_after_a_kill_during_the_final_export_offers_export(tmp_path, capsys):
    from gan_core.engine.training import train
    run = tmp_path / "r"
    train(TrainConfig(dataset="ring8", run_dir=str(run), iterations=20, hidden=16, depth=2, batch_size=32,
                      log_every=10, checkpoint_every=10, snapshot_every=10, snapshot_samples=100, export_onnx=False))
    store.write_status(run, state="running", pid=2 ** 22 + 12345, message="saving the generator")
    assert "python -m gan_core export" in store.refresh_state(run)["message"]
    err = _cli_error(capsys, ["train", "--resume", "--run-dir", run])
    assert "has done all its 20 iterations" in err and "gan_core export" in err
