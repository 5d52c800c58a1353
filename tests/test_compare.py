"""Comparisons: members trained as one batch equal the same runs trained alone; stop/resume; a failing
member; one-line CLI errors; the pages' helpers."""
import subprocess
import sys

import pandas as pd
import pytest
import torch

from gan_core.config import TrainConfig
from gan_core.engine import compare as cmp
from gan_core.engine import stacked
from gan_core.engine.training import train
from gan_core.errors import ConfigError
from gan_core.runs import comparisons, store

SMALL = dict(dataset="ring8", hidden=16, depth=2, snapshot_every=100, export_onnx=False, device="cpu")
COUNTS = {"modes_covered": 0, "high_quality_fraction": 1 / 2500,  # counts: within one sample of 2,500
          # kernel estimates on the snapshot's 2,500 samples magnify float rounding (stacked bmm vs one
          # run's kernels) by ~10x: the training metrics themselves stay within 1e-4
          "jsd": 1e-3, "value_at_optimum": 2e-3}


def _metrics(d):
    return pd.read_csv(d / "metrics.csv").drop(columns=["elapsed_s"])


def _close(a, b, tol=1e-4):
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for c in a.columns:
        d = (a[c] - b[c]).abs().max()
        assert d <= max(tol, COUNTS.get(c, 0) + 1e-9), (c, d)


@pytest.mark.slow
def _members_equal_runs_alone(tmp_path, key: str, values: list, **settings) -> None:
    """A comparison varying `key` over `values` (SMALL and `settings` shared, 60 iterations): every member
    completes and equals its run trained alone, and the members' Ṽ differ (the setting changed something)."""
    base = TrainConfig(iterations=60, **settings, **SMALL)
    final = cmp.compare(base, tmp_path / "c", {key: values}, threads=1)
    assert {st["state"] for st in final.values()} == {"completed"}, final
    for v in values:
        name = f"{key}-{v}"
        assert (tmp_path / "c" / name).is_dir(), sorted(p.name for p in (tmp_path / "c").iterdir())
        train(TrainConfig(iterations=60, **{key: v}, **settings, run_dir=str(tmp_path / name), **SMALL),
              progress=False)
        _close(_metrics(tmp_path / name), _metrics(tmp_path / "c" / name))
    a, b = (_metrics(tmp_path / "c" / f"{key}-{v}")["value_estimate"] for v in values[:2])
    assert (a - b).abs().max() > 1e-3


def test_members_equal_the_same_runs_trained_alone(tmp_path):
    base = TrainConfig(iterations=200, **SMALL)
    final = cmp.compare(base, tmp_path / "c", {"g_loss": ["minimax", "nonsaturating"], "k": [1, 2], "seed": [0, 1]})
    assert len(final) == 8 and all(st["state"] == "completed" for st in final.values())
    for name, kw in [("g_loss-minimax_k-2_seed-1", dict(g_loss="minimax", k=2, seed=1)),
                     ("g_loss-nonsaturating_k-1_seed-0", dict(g_loss="nonsaturating", k=1, seed=0))]:
        alone = TrainConfig(iterations=200, run_dir=str(tmp_path / name), **SMALL, **kw)
        train(alone, progress=False)
        a, b = _metrics(tmp_path / name), _metrics(tmp_path / "c" / name)
        assert len(a) == 20
        _close(a, b)
    # a member's checkpoint holds its own numbers only, not its lane's whole stack (views are saved cloned)
    ck = torch.load(tmp_path / "c" / "g_loss-minimax_k-2_seed-1" / "checkpoints" / "last.pt", weights_only=True)
    for key in ("G", "D"):
        for name, t in ck[key].items():
            assert t.untyped_storage().nbytes() == t.numel() * t.element_size(), (key, name)
    alone_ck = torch.load(tmp_path / "g_loss-minimax_k-2_seed-1" / "checkpoints" / "last.pt", weights_only=True)
    for key in ("G", "D"):
        assert ck[key].keys() == alone_ck[key].keys()
    # members really differ (the test could not pass by training one run eight times)
    x = _metrics(tmp_path / "c" / "g_loss-minimax_k-2_seed-1")["value_estimate"]
    y = _metrics(tmp_path / "c" / "g_loss-minimax_k-2_seed-0")["value_estimate"]
    assert (x - y).abs().max() > 1e-3


@pytest.mark.slow
def test_stop_and_resume_of_a_comparison_gives_the_same_rows(tmp_path, monkeypatch):
    base = TrainConfig(iterations=60, checkpoint_every=1000, **SMALL)
    vary = {"g_loss": ["minimax", "nonsaturating"]}
    cmp.compare(base, tmp_path / "straight", vary)
    real_poll = cmp.Comparison._poll

    def poll(self):
        if self.t[0].it >= 33:
            comparisons.request_stop(self.root)
            self.last_poll = 0.0
        real_poll(self)

    monkeypatch.setattr(cmp.Comparison, "_poll", poll)
    final = cmp.compare(base, tmp_path / "resumed", vary)
    monkeypatch.setattr(cmp.Comparison, "_poll", real_poll)
    assert {st["state"] for st in final.values()} == {"stopped"}
    # lanes are processes of their own: each stops at its own iteration once one has asked (a lane still
    # setting up when the first asks stops before its first iteration: 0)
    assert (all(0 <= st["iteration"] < 60 for st in final.values())
            and max(st["iteration"] for st in final.values()) >= 33)
    final = cmp.compare(TrainConfig(), tmp_path / "resumed", {}, resume=True)
    assert {st["state"] for st in final.values()} == {"completed"}
    for name in ("g_loss-minimax", "g_loss-nonsaturating"):
        pd.testing.assert_frame_equal(_metrics(tmp_path / "straight" / name), _metrics(tmp_path / "resumed" / name))


def test_a_signal_to_the_first_lane_stops_every_lane(tmp_path, monkeypatch):
    """Lanes are processes: SIGTERM/SIGINT reach the process the user started; its lane stops, and so do the
    others (through ROOT/STOP), each with a checkpoint, none running on to the end."""
    import os
    parent, real_poll = os.getpid(), cmp.Comparison._poll

    def poll(self):
        if os.getpid() == parent and self.t[0].it >= 20:
            self.stop.set = True  # what StopFlag's handler does on SIGTERM
        real_poll(self)

    monkeypatch.setattr(cmp.Comparison, "_poll", poll)
    final = cmp.compare(TrainConfig(iterations=400, checkpoint_every=1000, **SMALL), tmp_path / "c",
                        {"seed": [0, 1, 2, 3]}, threads=2)
    assert len(final) == 4 and {st["state"] for st in final.values()} == {"stopped"}
    assert all(st["iteration"] < 400 for st in final.values())
    assert not (tmp_path / "c" / "STOP").exists()  # consumed once every lane had stopped


def test_a_diverging_member_fails_while_the_others_go_on(tmp_path, monkeypatch):
    real = stacked.StackedSteps.generator_step
    calls = {"n": 0}

    def poisoned(self, z, minimax, members, noise=None):
        calls["n"] += 1
        loss = real(self, z, minimax, members, noise)
        if calls["n"] == 27:
            loss = loss.clone()
            loss[1] = float("nan")
        return loss

    monkeypatch.setattr(stacked.StackedSteps, "generator_step", poisoned)
    base = TrainConfig(iterations=50, **SMALL)
    final = cmp.compare(base, tmp_path / "c", {}, seeds=3, threads=1)  # one lane: loss[1] is seed-1's
    states = {n: st["state"] for n, st in final.items()}
    assert states == {"seed-0": "completed", "seed-1": "failed", "seed-2": "completed"}, states
    assert "iteration 27" in final["seed-1"]["message"]
    assert store.read_status(tmp_path / "c" / "seed-1")["state"] == "failed"
    assert len(_metrics(tmp_path / "c" / "seed-2")) == 5
    # resuming the comparison leaves the failed member alone and has nothing else to do
    with pytest.raises(Exception, match="finished or failed"):
        cmp.compare(TrainConfig(), tmp_path / "c", {}, resume=True)


def test_vary_parsing_errors_are_one_line():
    assert comparisons.parse_vary(["g_loss=minimax,nonsaturating", "k=1,5"]) == {"g_loss": ["minimax", "nonsaturating"],
                                                                          "k": [1, 5]}
    for bad, msg in [(["hidden=8,16"], "cannot vary"), (["k=1,x"], "not a whole number"),
                     (["g_loss=minimax,foo"], "choose from"), (["k=1,1"], "repeated"), (["k"], "KEY=V1"),
                     (["lr_d=1e-3,"], "empty value")]:
        with pytest.raises(ConfigError, match=msg):
            comparisons.parse_vary(bad)
    with pytest.raises(ConfigError, match="at least two members"):
        comparisons.plan_members(TrainConfig(dataset="ring8"), {"k": [1]}, 1)
    with pytest.raises(ConfigError, match="k must be at least 1"):
        comparisons.plan_members(TrainConfig(dataset="ring8"), {"k": [0, 1]}, 1)


@pytest.mark.parametrize("args,msg", [
    (["--vary", "depth=2,3"], "cannot vary"),
    (["--vary", "lr_d=fast,slow"], "not a number"),
    (["--seeds", "0"], "at least 1"),
])
def test_cli_errors(tmp_path, args, msg):
    r = subprocess.run([sys.executable, "-m", "gan_core", "compare", "--dataset", "ring8", "--root",
                        str(tmp_path / "c"), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_groups_and_seed_band(tmp_path):
    base = TrainConfig(iterations=20, **SMALL)
    cmp.compare(base, tmp_path / "runs" / "cmp", {"g_loss": ["minimax", "nonsaturating"]}, seeds=2)
    groups = comparisons.list_groups(tmp_path / "runs")
    assert len(groups) == 1 and groups[0]["state"] == "completed" and len(groups[0]["members"]) == 4
    by_setting = comparisons.seed_groups(groups[0])
    assert set(by_setting) == {"g_loss-minimax", "g_loss-nonsaturating"}
    band = comparisons.seed_band(by_setting["g_loss-minimax"], "value_estimate")
    a, b = (_metrics(d)["value_estimate"] for d in by_setting["g_loss-minimax"])
    assert list(band["n"]) == [2, 2]
    assert band["mean"].tolist() == pytest.approx(((a + b) / 2).tolist())
    assert (band["high"] - band["low"]).tolist() == pytest.approx((a - b).abs().tolist())


def test_extra_d_steps_compute_only_the_members_that_take_them(tmp_path, monkeypatch):
    """Stacked with larger k first, the second D step of k = 1, 2 runs on the two k = 2 members, not on all
    four with two masked; in two lanes (processes), each lane takes half of each."""
    real = stacked.StackedSteps.discriminator_step
    sizes = []

    def record(self, x, z, members, noise=None):
        sizes.append((x.shape[0], sorted(members)))
        return real(self, x, z, members, noise)

    monkeypatch.setattr(stacked.StackedSteps, "discriminator_step", record)
    final = cmp.compare(TrainConfig(iterations=3, **SMALL), tmp_path / "one", {"k": [1, 2]}, seeds=2, threads=1)
    assert all(st["state"] == "completed" for st in final.values())
    assert sizes == [(4, [0, 1, 2, 3]), (2, [0, 1])] * 3  # per iteration: every member, then the k = 2 ones
    sizes.clear()
    cmp.compare(TrainConfig(iterations=3, **SMALL), tmp_path / "two", {"k": [1, 2]}, seeds=2, threads=2)
    # this process's lane (the other is a process of its own): its two members, then its k = 2 one
    assert sizes == [(2, [0, 1]), (1, [0])] * 3


def test_wide_members_train_one_after_another_and_equal_the_runs_alone(tmp_path):
    """Beyond STACK_MAX_ROWS_X_WIDTH a CPU comparison steps its members one after another, each with its own
    fused step: then a member is the run trained alone to the bit, metrics and weights."""
    import torch
    kw = dict(SMALL, batch_size=2048, snapshot_every=1000)
    base = TrainConfig(iterations=20, **kw)
    assert not cmp.stacks(base.resolved()) and cmp.stacks(TrainConfig(**SMALL).resolved())
    final = cmp.compare(base, tmp_path / "c", {"g_loss": ["minimax", "nonsaturating"]}, threads=1)
    assert all(st["state"] == "completed" for st in final.values())
    alone = TrainConfig(iterations=20, run_dir=str(tmp_path / "alone"), g_loss="minimax", **kw)
    train(alone, progress=False)
    a, b = _metrics(tmp_path / "alone"), _metrics(tmp_path / "c" / "g_loss-minimax")
    assert a.equals(b)
    from gan_core.engine.checkpoint import load_checkpoint
    ca, cb = load_checkpoint(tmp_path / "alone"), load_checkpoint(tmp_path / "c" / "g_loss-minimax")
    for part in ("G", "D"):
        assert all(torch.equal(ca[part][k], cb[part][k]) for k in ca[part])
