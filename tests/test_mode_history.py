"""Dropped modes read from snapshots (gan_core.theory.mode_history) and the verdict that names them."""
import numpy as np
import pandas as pd

from gan_core.theory import mode_history as mh
from gan_core.theory.divergence import make_grid
from gan_core.theory.verdict import judge

CENTRES = np.array([[x, y] for x in (-2.0, 0.0, 2.0) for y in (-2.0, 0.0, 2.0)])   # a 3×3 grid
STD = 0.05
GRID = make_grid([(-3, 3), (-3, 3)], 60)


def _snap(it, per_mode, rng, d_fn=lambda p: np.full(len(p), 0.5)):
    """A snapshot dict as the trainer writes it: per_mode[k] samples near centre k, the rest far away."""
    xs = [c + rng.normal(0, STD, (n, 2)) for c, n in zip(CENTRES, per_mode)]
    x = np.concatenate(xs + [np.full((2500 - sum(per_mode), 2), 2.9)])
    return {"iteration": np.int64(it), "samples": x.astype(np.float32), "grid_axes": np.array(GRID.axes),
            "d": d_fn(GRID.points).astype(np.float16)}


def _history(counts_per_snapshot, d_fn=lambda p: np.full(len(p), 0.5)):
    rng = np.random.default_rng(0)
    return [mh.snapshot_modes(_snap(200 * i, c, rng, d_fn), CENTRES, STD) for i, c in enumerate(counts_per_snapshot)]


def test_d_at_reads_the_grid_with_x_first():
    # D = 0.9 right of x = 1 only: a transposed read would find it above y = 1 instead
    d = np.where(GRID.points[:, 0] > 1, 0.9, 0.1)
    got = mh.d_at(np.array([[2.0, -2.0], [-2.0, 2.0]]), GRID.axes, d)
    assert got.tolist() == [0.9, 0.1]


def test_a_mode_without_samples_over_the_window_is_dropped_and_since_when():
    full = [250] * 9
    lost = full[:4] + [0] + full[5:]          # mode 4 = (0, 0) loses every sample
    hist = _history([full] * 6 + [lost] * 5,
                    d_fn=lambda p: np.where(np.hypot(p[:, 0], p[:, 1]) < 0.3, 0.97, 0.5))
    dropped = mh.dropped_modes(hist, CENTRES)
    assert [m.centre for m in dropped] == [(0.0, 0.0)]
    assert dropped[0].last_covered == 1000          # the 6th snapshot (iteration 5 × 200) still covered it
    assert abs(dropped[0].d_at_centre - 0.97) < 1e-3
    text = mh.describe(dropped, 9, 2000)
    assert "(0, 0)" in text and "last at iteration 1,000" in text and "D still sees the hole" in text


def test_a_thin_mode_is_not_dropped_nor_judged_on_too_few_snapshots():
    thin = [277] * 8 + [1]                     # one sample of 2,500 a snapshot: rejection can restore it
    assert mh.dropped_modes(_history([thin] * 5), CENTRES) == []
    gone = [280] * 8 + [0]
    assert mh.dropped_modes(_history([gone] * 4), CENTRES) == []      # fewer than WINDOW snapshots
    never = mh.dropped_modes(_history([gone, [280] * 8 + [3]] + [gone] * 5), CENTRES)
    assert [m.centre for m in never] == [(2.0, 2.0)] and never[0].last_covered is None
    assert "never covered it (at most 3 of 2,500" in mh.describe(never, 9, 1000)


def _metrics(modes_covered: float) -> pd.DataFrame:
    n = 20
    return pd.DataFrame({"iteration": np.arange(1, n + 1) * 500, "value_estimate": -0.9, "d_real": 0.7,
                         "d_fake": 0.3, "g_loss": 1.7, "modes_covered": modes_covered,
                         "high_quality_fraction": 0.78})


def test_the_verdict_names_dropped_modes_and_no_longer_calls_thin_ones_a_collapse():
    df = _metrics(12)   # the plain G covers 12 of 25 by SPEC's rule: thin modes, not dropped ones
    assert judge(df, "grid25", iterations=10000).kind == "collapsed"          # metrics alone: the old rule
    assert judge(df, "grid25", iterations=10000, dropped=[]).kind != "collapsed"
    gone = [mh.DroppedMode((-2.0, 2.0), None, 0.99, (18, 3600, 2500)), mh.DroppedMode((0.0, 2.0), None, 0.97)]
    v = judge(df, "grid25", iterations=10000, dropped=gone)
    assert v.kind == "collapsed" and v.title == "G dropped 2 of 25 modes"
    assert "(-2, 2), (0, 2)" in v.reason and "never covered them" in v.reason
    assert "Rejection by D cannot" in v.suggestion
    assert judge(df, "grid25", iterations=100000, dropped=gone).kind != "collapsed"   # too early to say


def test_the_untrained_g_at_iteration_0_does_not_count_as_covering_a_mode():
    # at iteration 0 G sends everything near the origin: (0, 0) looks covered then, never after
    start = [0, 0, 0, 0, 2500, 0, 0, 0, 0]
    later = [300, 300, 300, 300, 0, 300, 300, 300, 300]
    dropped = mh.dropped_modes(_history([start] + [later] * 6), CENTRES)
    assert [m.centre for m in dropped] == [(0.0, 0.0)] and dropped[0].last_covered is None
    assert "never covered it (at most 0 of 2,500" in mh.describe(dropped, 9, 1200)
