"""--tensorboard: RUN/tb/ read back with TensorBoard's own EventAccumulator equals metrics.csv."""
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from gan_core.config import TrainConfig
from gan_core.engine.training import train
from gan_core.runs import store

EventAccumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator").EventAccumulator


def _cfg(tmp_path, **kw):
    base = dict(dataset="ring8", run_dir=str(tmp_path / "run"), hidden=16, depth=2, batch_size=32, log_every=10,
                checkpoint_every=30, snapshot_every=30, snapshot_samples=300, export_onnx=False, seed=1,
                tensorboard=True, lr_decay_iterations=1000)
    base.update(kw)
    return TrainConfig(**base)


def _board(run_dir):
    ea = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    ea.Reload()
    return ea


def _assert_board_equals_metrics(run_dir):
    m = pd.read_csv(run_dir / "metrics.csv")
    ea = _board(run_dir)
    assert set(ea.Tags()["scalars"]) == set(m.columns) - {"iteration"}
    for col in m.columns.drop("iteration"):
        want = m[["iteration", col]].dropna()
        got = ea.Scalars(col)
        assert [e.step for e in got] == list(want["iteration"]), col
        assert np.allclose([e.value for e in got], want[col], rtol=1e-5, atol=1e-6), col
    return ea


def test_scalars_equal_metrics_csv_and_snapshots_are_images(tmp_path):
    cfg = _cfg(tmp_path, iterations=60)
    train(cfg)
    d = tmp_path / "run"
    ea = _assert_board_equals_metrics(d)
    assert [e.step for e in ea.Images("samples")] == store.list_snapshots(d) == [0, 30, 60]
    img = ea.Images("samples")[-1]
    assert img.width > 100 and img.height > 100 and img.encoded_image_string[:4] == b"\x89PNG"
    hp = ea.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in hp and b"batch_size" in hp["_hparams_/session_start_info"]


def test_image_data_logs_the_generated_images(tmp_path):
    train(_cfg(tmp_path, dataset="digits", iterations=20, batch_size=16, base_channels=8, snapshot_every=20,
               latent_dim=8))
    ea = _board(tmp_path / "run")
    assert [e.step for e in ea.Images("samples")] == [0, 20]
    assert "value_estimate" in ea.Tags()["scalars"]


def test_a_resume_purges_what_was_logged_after_the_checkpoint(tmp_path):
    d = tmp_path / "run"
    train(_cfg(tmp_path, iterations=30))
    early = d / "at30.pt"
    shutil.copy(d / store.CHECKPOINT, early)
    cfg = TrainConfig.load(d / "config.json")
    cfg.iterations = 60
    train(cfg, resume=True)
    # as if the process had died at 60 with its last checkpoint at 30: the rows 40..60 are logged again
    shutil.copy(early, d / store.CHECKPOINT)
    store.write_status(d, state="stopped")
    train(cfg, resume=True)
    ea = _assert_board_equals_metrics(d)  # no step twice: TensorBoard dropped the first 40..60
    assert [e.step for e in ea.Scalars("value_estimate")] == [10, 20, 30, 40, 50, 60]
    assert not any(math.isnan(e.value) for e in ea.Scalars("value_estimate"))


def test_off_by_default(tmp_path):
    train(_cfg(tmp_path, iterations=10, tensorboard=False))
    assert not (tmp_path / "run" / "tb").exists()
