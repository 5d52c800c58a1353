"""The run verdict (gan_core.theory.verdict), each kind triggered by a crafted metrics.csv read as the page reads it."""
import math

import numpy as np
import pytest

from gan_core.runs import store
from gan_core.theory import verdict
from gan_core.views.series import MetricsTail

LOG2 = math.log(2)


def write_metrics(run_dir, n=40, v=None, d_real=0.5, d_fake=0.5, g_loss=0.7, extra=None, every=1):
    """metrics.csv with n rows as the trainer writes them (store.append_rows); `extra` columns only on
    every `every`-th row (as snapshot metrics are)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        r = {"iteration": 10 * (i + 1), "value_estimate": -2 * LOG2 if v is None else v(i),
             "d_loss": 2 * LOG2, "g_loss": g_loss(i) if callable(g_loss) else g_loss,
             "d_real": d_real(i) if callable(d_real) else d_real, "d_fake": d_fake(i) if callable(d_fake) else d_fake,
             "elapsed_s": i / 10}
        if extra and i % every == every - 1:
            r.update({k: (f(i) if callable(f) else f) for k, f in extra.items()})
        rows.append(r)
    cols = store.BASE_COLUMNS + list(extra or {})
    store.append_rows(run_dir, cols, rows)
    return MetricsTail(run_dir / "metrics.csv").read()


def test_converging_names_the_distance_to_minus_2_log_2_and_calls_a_small_jsd_good(tmp_path):
    df = write_metrics(tmp_path, v=lambda i: -1.37, d_real=0.52, d_fake=0.47, extra={"jsd": 0.0045}, every=5)
    out = verdict.judge(df, dataset="ring8")
    assert out.kind == "converging" and out.level == "success"
    assert "0.016 from −2 log 2" in out.reason  # |−1.37 − (−1.386)|
    assert "JSD = 0.0045 (good" in out.reason


def test_d_winning_on_an_image_run(tmp_path):
    # the case: D(x) → 1, G loss → 6
    df = write_metrics(tmp_path, v=lambda i: -0.05, d_real=lambda i: 0.5 + 0.49 * min(1, i / 10),
                       d_fake=lambda i: 0.5 - 0.49 * min(1, i / 10), g_loss=lambda i: 6.0)
    out = verdict.judge(df, dataset="/data/faces.zip", g_loss="nonsaturating")
    assert out.kind == "d_winning" and out.level == "warning"
    assert "D(x) = 0.99" in out.reason and "G loss 6.00" in out.reason
    assert "lower D's learning rate" in out.suggestion
    assert "non-saturating" in verdict.judge(df, g_loss="minimax").suggestion


def test_collapse_to_few_modes_of_ring8(tmp_path):
    df = write_metrics(tmp_path, v=lambda i: -1.2, d_real=0.6, d_fake=0.4,
                       extra={"modes_covered": lambda i: 3, "high_quality_fraction": 0.8}, every=4)
    out = verdict.judge(df, dataset="ring8")
    assert out.kind == "collapsed"
    assert "3 of 8 modes" in out.reason and "80%" in out.reason
    # all 8 covered and near the optimum: not collapsed
    ok = write_metrics(tmp_path / "ok", v=lambda i: -1.38, d_real=0.51, d_fake=0.49,
                       extra={"modes_covered": 8}, every=4)
    assert verdict.judge(ok, dataset="ring8").kind == "converging"
    # early in a run: few modes, but one more at every snapshot — still learning, not collapsed
    gaining = write_metrics(tmp_path / "gain", n=12, v=lambda i: -0.9, d_real=0.6, d_fake=0.4,
                            extra={"modes_covered": lambda i: 1 + i // 4}, every=4)  # 1, 2, 3
    assert verdict.judge(gaining, dataset="ring8").kind == "learning"
    stuck = write_metrics(tmp_path / "stuck", n=12, v=lambda i: -0.9, d_real=0.6, d_fake=0.4,
                          extra={"modes_covered": lambda i: 3 - i // 8}, every=4)  # 3, 3, 2
    assert verdict.judge(stuck, dataset="ring8").kind == "collapsed"
    # the same rows in a run planned for far longer (iteration 120 of 4,500): too young to call collapsed
    assert verdict.judge(stuck, dataset="ring8", iterations=4500).kind == "learning"
    assert verdict.judge(stuck, dataset="ring8", iterations=480).kind == "collapsed"  # a quarter of it is done


@pytest.mark.parametrize("bad", ["nan", "explode"])
def test_diverged(tmp_path, bad):
    if bad == "nan":
        df = write_metrics(tmp_path, g_loss=lambda i: float("nan") if i > 35 else 0.7)
        assert "NaN" in verdict.judge(df).reason
    else:
        df = write_metrics(tmp_path, v=lambda i: -1.4 - i, g_loss=lambda i: 0.7)
        assert "Ṽ = " in verdict.judge(df).reason
    assert verdict.judge(df).kind == "diverged" and verdict.judge(df).level == "error"
    failed = verdict.judge(None, state="failed", message="training diverged: a loss became NaN at iteration 30")
    assert failed.kind == "diverged" and "iteration 30" in failed.reason


def test_too_early_and_still_learning(tmp_path):
    assert verdict.judge(write_metrics(tmp_path, n=3)).kind == "early"
    df = write_metrics(tmp_path / "l", v=lambda i: -0.9, d_real=0.7, d_fake=0.3)
    out = verdict.judge(df)
    assert out.kind == "learning" and "+0.486 from −2 log 2" in out.reason


def test_the_verdict_reads_the_recent_rows_not_the_start(tmp_path):
    # D won early on, then G caught up: the verdict is about now
    df = write_metrics(tmp_path, n=80, v=lambda i: -0.1 if i < 40 else -1.38,
                       d_real=lambda i: 0.97 if i < 40 else 0.5, d_fake=lambda i: 0.03 if i < 40 else 0.5)
    assert verdict.judge(df).kind == "converging"
    assert np.isclose(verdict.V_OPTIMUM, -2 * LOG2)


def test_d_fooled_but_jsd_far_is_not_called_converging(tmp_path):
    # a weak D says ½ everywhere although p_g is still far from p_data (JSD 0.17, as a tiny net's run showed)
    df = write_metrics(tmp_path, v=lambda i: -1.371, d_real=0.50, d_fake=0.49, extra={"jsd": 0.17}, every=5)
    out = verdict.judge(df, dataset="ring8")
    assert out.kind == "learning" and "too weak" in out.title and "JSD = 0.1700" in out.reason


def test_a_picture_run_stuck_on_few_classes_is_called_collapsed():
    """fashion and mnist have 10 classes: a run whose samples stay on 3 of them is named a collapse."""
    rows = [dict(iteration=100 * i, value_estimate=-1.0, d_loss=1.0, g_loss=1.0, d_real=0.6, d_fake=0.4,
                 classes_covered=3.0 if i % 5 == 0 else None) for i in range(1, 41)]
    import pandas as pd
    v = verdict.judge(pd.DataFrame(rows), dataset="fashion", iterations=4000)
    assert v.kind == "collapsed" and "3 of 10 classes" in v.reason
