"""The launch helpers behind the Train page (gan_core.jobs.launch, gan_core.runs.transfer): the flags a
config becomes, refusals before anything is written, a failed start's log line, uploads never overwritten."""
import pytest
from test_pages import fake_run

from gan_core.cli import build_parser
from gan_core.config import TrainConfig
from gan_core.errors import ConfigError, RunError
from gan_core.jobs import launch
from gan_core.runs import transfer


def test_config_flags_round_trip_through_the_cli():
    cfg = TrainConfig(dataset="ring8", run_dir="/tmp/x", iterations=77, k=3, lr_d=2.5e-4, g_loss="minimax",
                      export_onnx=False, dataset_params={"std": 0.05})
    flags = launch.config_flags(cfg)
    assert "--seed" not in flags and "--batch-size" not in flags  # defaults are left to the dataset
    args = vars(build_parser().parse_args(["train", *flags]))
    assert args["k"] == 3 and args["lr_d"] == 2.5e-4 and args["g_loss"] == "minimax" and args["iterations"] == 77
    assert args["export_onnx"] is False and args["dataset_param"] == ["std=0.05"]


def test_start_refuses_bad_settings_without_writing(runs_dir):
    with pytest.raises(ConfigError, match="k must be at least 1"):
        launch.start_training(TrainConfig(dataset="gaussian1d", run_dir=str(runs_dir / "r"), k=0))
    with pytest.raises(ConfigError, match="run name"):
        launch.run_dir_for("../escape", runs_dir)
    assert list(runs_dir.iterdir()) == []
    fake_run(runs_dir, "done", "completed")
    with pytest.raises(RunError, match="already exists"):
        launch.run_dir_for("done", runs_dir)
    with pytest.raises(ConfigError, match="finished its 100 iterations"):
        launch.resume_training(runs_dir / "done")


def test_start_failure_reports_the_log_line(runs_dir, monkeypatch):
    run = runs_dir / "bad"
    proc = launch._spawn(["train", "--dataset", "gaussian1d", "--run-dir", str(run), "--batch-size", "0"], run)
    with pytest.raises(RunError, match="batch_size must be at least 1"):
        launch.wait_started(proc, run, timeout=30)


def test_uploads_never_overwrite_an_earlier_file(runs_dir):
    a = transfer.save_upload(b"x\n1\n", "my data.csv", runs_dir)
    assert a == runs_dir / "_uploads" / "my_data.csv"
    assert transfer.save_upload(b"x\n1\n", "my data.csv", runs_dir) == a
    b = transfer.save_upload(b"x\n2\n", "my data.csv", runs_dir)
    assert b != a and a.read_bytes() == b"x\n1\n" and b.read_bytes() == b"x\n2\n"
