"""What a run writes against the disk: the estimate made before a run starts (gan_core.runs.disk) follows the
files the trainer really writes, a run that cannot fit is refused with both figures, and status.json is still
written on a full disk."""
import errno
import os

import pytest

from gan_core.config import TrainConfig
from gan_core.engine.training import train
from gan_core.errors import RunError
from gan_core.runs import disk, store


@pytest.mark.parametrize("dataset", ["gaussian1d", "ring8", "digits"])
def test_the_estimate_follows_the_snapshots_and_checkpoint_written(tmp_path, dataset):
    cfg = TrainConfig(dataset=dataset, run_dir=str(tmp_path / "run"), iterations=20, snapshot_every=10,
                      export_onnx=False)
    train(cfg)
    kind, shape = disk.builtin_shape(cfg)
    c = cfg.resolved()
    snaps = sorted((tmp_path / "run" / "snapshots").iterdir())
    written, estimate = max(p.stat().st_size for p in snaps), disk.snapshot_bytes(c, kind, shape)
    assert 0.95 * written <= estimate <= 1.4 * written, (written, estimate)
    ck = (tmp_path / "run" / store.CHECKPOINT).stat().st_size
    assert 0.7 * ck <= 12 * disk.parameters(c, kind, shape) <= 1.3 * ck  # weights and Adam's two moments
    need = disk.run_bytes(c, kind, shape)
    assert need["snapshots"] == len(snaps)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "run").rglob("*") if p.is_file())
    assert on_disk <= need["total"]


def test_a_run_too_large_for_the_free_space_is_refused_with_both_figures(tmp_path, monkeypatch):
    cfg = TrainConfig(dataset="ring8", run_dir=str(tmp_path / "r"), iterations=1_000_000, snapshot_every=1)
    monkeypatch.setattr(disk, "free_bytes", lambda path: 5 * 10 ** 9)
    with pytest.raises(RunError, match=r"about 230 GB .*1,000,001 snapshots.* only 5.0 GB free"):
        disk.check_fits(cfg, *disk.builtin_shape(cfg))
    disk.check_fits(TrainConfig(dataset="ring8", run_dir=str(tmp_path / "r")), "points", (2,))  # the defaults fit


def test_status_is_written_in_place_on_a_full_disk(tmp_path, monkeypatch):
    store.write_status(tmp_path, state="running", iteration=5, message="training " + "x" * 300)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(store, "write_json_atomic", full)
    store.write_status(tmp_path, state="failed", message="no space left on the disk")
    st = store.read_status(tmp_path)
    assert (st["state"], st["iteration"], st["message"]) == ("failed", 5, "no space left on the disk")
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]
