"""Snapshots taken beside the training loop (Snapshotter.take_later): the same numbers and files as taken
inline, from the weights of the iteration they belong to."""
import copy
import itertools
import shutil
import threading
from concurrent.futures import Future

import numpy as np
import pandas as pd
import pytest
import torch

import gan_core.engine.training as training
from gan_core.config import TrainConfig
from gan_core.data.datasets import load_dataset
from gan_core.engine.models import build_models
from gan_core.engine.snapshots import Snapshotter
from gan_core.engine.steering import RunGone
from gan_core.runs import store


def _cfg(tmp_path, name, **kw):
    base = dict(dataset="ring8", run_dir=str(tmp_path / name), hidden=16, depth=2, batch_size=32, log_every=20,
                checkpoint_every=1000, snapshot_every=30, snapshot_samples=300, export_onnx=False, seed=5)
    base.update(kw)
    return TrainConfig(**base)


def _same_snapshots(a, b, iterations):
    for it in iterations:
        x, y = store.load_snapshot(a, it), store.load_snapshot(b, it)
        assert sorted(x) == sorted(y)
        for key in x:
            np.testing.assert_array_equal(np.asarray(x[key]), np.asarray(y[key]), err_msg=f"{key} at {it}")


def test_snapshots_beside_the_loop_give_the_rows_and_files_of_inline_ones(tmp_path, monkeypatch):
    threads = []
    take = Snapshotter.take

    def recording(self, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return take(self, *args, **kwargs)

    monkeypatch.setattr(Snapshotter, "take", recording)
    seen = {}
    for later in (True, False):
        threads.clear()
        t = training.Trainer(_cfg(tmp_path, f"later_{later}", iterations=120))
        t.later = later
        try:
            assert t.run(progress=False)["state"] == "completed"
        finally:
            t.snap.close()
        seen[later] = list(threads)
    # iteration 0 is taken inline before the loop; 30, 60, 90 and 120 on the worker thread
    assert [n.startswith("snapshot") for n in seen[True]] == [False, True, True, True, True]
    assert not any(n.startswith("snapshot") for n in seen[False])
    a, b = tmp_path / "later_True", tmp_path / "later_False"
    rows = pd.read_csv(a / "metrics.csv").drop(columns=["elapsed_s"])
    pd.testing.assert_frame_equal(rows, pd.read_csv(b / "metrics.csv").drop(columns=["elapsed_s"]))
    # a snapshot's metrics join the row of its iteration, or the next row logged (30 → 40, 90 → 100)
    assert list(rows.dropna(subset=["jsd"])["iteration"]) == [40, 60, 100, 120]
    assert store.list_snapshots(a) == store.list_snapshots(b) == [0, 30, 60, 90, 120]
    _same_snapshots(a, b, [0, 30, 60, 90, 120])


def test_take_later_sees_the_weights_it_was_given_not_the_later_ones(tmp_path):
    cfg = _cfg(tmp_path, "run").resolved()
    ds = load_dataset(cfg)
    torch.manual_seed(0)
    G, D = build_models(cfg, ds)
    inline = Snapshotter(cfg, ds, torch.device("cpu"), tmp_path / "inline")
    want = inline.take(copy.deepcopy(G), copy.deepcopy(D), 10)
    s = Snapshotter(cfg, ds, torch.device("cpu"), tmp_path / "later")
    go = threading.Event()
    take = s.take

    def held(*args, **kwargs):  # the worker starts only after the loop has changed the weights
        assert go.wait(30)
        return take(*args, **kwargs)

    s.take = held
    try:
        future = s.take_later(G, D, 10)
        with torch.no_grad():  # the loop goes on training meanwhile
            for p in itertools.chain(G.parameters(), D.parameters()):
                p.add_(0.5)
        go.set()
        assert future.result(timeout=60) == want
    finally:
        s.close()
    _same_snapshots(tmp_path / "inline", tmp_path / "later", [10])
    changed = inline.take(G, D, 20)
    assert changed != want  # the weights did change: the equality above is the copy's doing


def test_a_run_deleted_under_a_snapshot_being_taken_ends_the_run(tmp_path):
    t = training.Trainer(_cfg(tmp_path, "run", iterations=40))
    failed: Future = Future()
    failed.set_exception(FileNotFoundError("snapshots/"))
    t.pending_snapshot = (failed, 0)
    shutil.rmtree(tmp_path / "run")
    with pytest.raises(RunGone):
        t.collect_snapshot()
    t.snap.close()


def test_p_data_on_the_grid_is_smoothed_once_a_run_and_is_the_same_each_time(tmp_path, monkeypatch):
    from gan_core.theory import divergence
    cfg = _cfg(tmp_path, "run").resolved()
    ds = load_dataset(cfg)
    G, D = build_models(cfg, ds)
    calls = []
    smooth = divergence.smoothed_mixture_density
    monkeypatch.setattr(divergence, "smoothed_mixture_density", lambda *a: calls.append(1) or smooth(*a))
    s = Snapshotter(cfg, ds, torch.device("cpu"), tmp_path / "run")
    first, second = s.take(G, D, 10), s.take(G, D, 20)
    assert len(calls) == 1 and first == second  # the same nets: the same JSD from the one p_data
    h = np.full(2, s.bandwidth)
    want = smooth(s.grid.points, ds.centers, ds.std, h)
    np.testing.assert_array_equal(store.load_snapshot(tmp_path / "run", 20)["p_data"], want.astype(np.float32))


def test_nets_too_large_to_copy_are_snapshot_inline(tmp_path, monkeypatch):
    import gan_core.engine.snapshots as snapshots
    cfg = _cfg(tmp_path, "run").resolved()
    ds = load_dataset(cfg)
    G, D = build_models(cfg, ds)
    monkeypatch.setattr(snapshots, "LATER_COPY_BYTES", snapshots._bytes(G) + snapshots._bytes(D) - 1)
    s = Snapshotter(cfg, ds, torch.device("cpu"), tmp_path / "run")
    future = s.take_later(G, D, 10)
    assert future.done() and s._later is None  # taken at once, no copies, no worker
    assert future.result() == Snapshotter(cfg, ds, torch.device("cpu"), tmp_path / "again").take(G, D, 10)
