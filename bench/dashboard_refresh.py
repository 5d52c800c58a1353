"""The monitoring page's data path: read new metrics, downsample, build the figure.

    python -m bench.dashboard_refresh [--quick] [--sizes 10000,100000,1000000] [--repeats R]

A metrics.csv is synthesised with the columns and number format gan_core writes (``runs.append_rows``:
``%.7g``, empty cells where a value is missing): iteration, value_estimate, d_loss, g_loss, d_real,
d_fake, elapsed_s, jsd, value_at_optimum, the last two on every 10th row (snapshots). For each size:

* cold: a new ``gan_core.views.series.MetricsTail`` reads the whole file, then ``value_figure`` (which
  downsamples to 2,000 points) is built — the page's first render of a run;
* refresh: 100 rows are appended to the file (not timed), then the same reader's ``read()`` and
  ``value_figure`` — what every refresh of a running run costs;
* refresh, all four metric charts (value, discriminator, losses, JSD), and the same plus
  ``fig.to_json()`` (what Streamlit sends to the browser), for context;
* the reference: a naive ``pd.read_csv`` of the whole file and a figure of every point
  (``value_figure`` with no downsampling: same decorations, so only the data path differs) — the naive
  page has no incremental path, so its refresh is this too; and, for context, a bare variant (read_csv
  and two plain Scattergl traces, no layout).

The last line is reference time / project refresh time at the largest size. Target: a refresh at
1,000,000 rows within 300 ms.
"""
from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from bench import common
from bench.common import fmt_time, median, ratio, say, table

COLUMNS = ["iteration", "value_estimate", "d_loss", "g_loss", "d_real", "d_fake", "elapsed_s", "jsd",
           "value_at_optimum"]
APPEND = 100
TARGET_S, TARGET_ROWS = 0.300, 1_000_000
LOG2 = math.log(2.0)


def synth_rows(start: int, n: int, seed: int = 0) -> str:
    """n metrics rows from row index `start` (iteration = 10 * (index + 1)) as gan_core writes them."""
    rng = np.random.default_rng(seed + start)
    i = np.arange(start, start + n)
    it = 10 * (i + 1)
    t = it / 10_000.0
    v = -2 * LOG2 + 0.6 * np.exp(-t) + 0.05 * rng.standard_normal(n)
    g = 0.7 + 0.3 * np.exp(-t) + 0.1 * rng.standard_normal(n)
    dr = np.clip(0.5 + 0.2 * np.exp(-t) + 0.03 * rng.standard_normal(n), 0.01, 0.99)
    df = np.clip(0.5 - 0.2 * np.exp(-t) + 0.03 * rng.standard_normal(n), 0.01, 0.99)
    el = it * 0.008
    jsd = np.clip(0.5 * np.exp(-t) + 0.01 * rng.standard_normal(n), 1e-4, LOG2)
    snap = (i + 1) % 10 == 0
    frame = pd.DataFrame({"iteration": it, "value_estimate": v, "d_loss": -v, "g_loss": g, "d_real": dr,
                          "d_fake": df, "elapsed_s": np.round(el, 3), "jsd": np.where(snap, jsd, np.nan),
                          "value_at_optimum": np.where(snap, -2 * LOG2 + 2 * jsd, np.nan)})
    return frame.to_csv(index=False, header=False, float_format="%.7g", na_rep="", lineterminator="\n")


def write_metrics(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        step = 200_000
        for s in range(0, n, step):
            fh.write(synth_rows(s, min(step, n - s)))


def naive(path: Path) -> go.Figure:
    """The reference: read the whole file, plot every point (value_figure with no downsampling, so the
    figure's decorations are the same and the difference is the data path alone)."""
    from gan_core.views import curves as monitor
    df = pd.read_csv(path)
    return monitor.value_figure({"run": df}, max_points=len(df) + 1)


def bare_naive(path: Path) -> go.Figure:
    """pd.read_csv + a bare figure of every point (no layout, no optimum line): a lower bound of naive."""
    df = pd.read_csv(path)
    fig = go.Figure()
    for col in ("value_estimate", "value_at_optimum"):
        sub = df[["iteration", col]].dropna()
        fig.add_trace(go.Scattergl(x=sub["iteration"].to_numpy(), y=sub[col].to_numpy(), mode="lines", name=col))
    return fig


def _discard(_result) -> None:
    return None


def measure_size(n: int, repeats: int, tmp: Path) -> dict:
    from gan_core.views import curves as monitor
    from gan_core.views import series
    path = tmp / f"metrics_{n}.csv"
    t0 = time.perf_counter()
    write_metrics(path, n)
    synth_s = time.perf_counter() - t0
    appended = [n]   # rows in the file so far
    tails = {"value": series.MetricsTail(path), "all": series.MetricsTail(path), "json": series.MetricsTail(path)}
    for t in tails.values():
        t.read()

    def append() -> None:
        with open(path, "a") as fh:
            fh.write(synth_rows(appended[0], APPEND, seed=1))
        appended[0] += APPEND

    def all_charts(frames):
        frames = monitor.chart_frames(frames)  # as the Runs page does: one shared downsampling pass
        figs = [monitor.value_figure(frames), monitor.discriminator_figure(frames), monitor.loss_figure(frames)]
        if "jsd" in monitor.quality_metrics(frames):
            figs.append(monitor.quality_figure(frames, "jsd"))
        return figs

    def cold() -> None:
        df = series.MetricsTail(path).read()
        monitor.value_figure({"run": df})

    def refresh(which: str):
        def run() -> float:
            append()
            t = time.perf_counter()
            df = tails[which].read()
            frames = {"run": df}
            if which == "value":
                monitor.value_figure(frames)
            elif which == "all":
                all_charts(frames)
            else:
                for f in all_charts(frames):
                    f.to_json()
            return time.perf_counter() - t
        return run

    cases = {"cold: MetricsTail + value_figure": cold,
             "refresh (+100 rows): read + value_figure": refresh("value"),
             "refresh, all four metric charts": refresh("all"),
             "refresh, four charts + to_json": refresh("json"),
             "reference: pd.read_csv + value_figure of all points": lambda: _discard(naive(path)),
             "(bare: pd.read_csv + Scattergl of all points, no layout)": lambda: _discard(bare_naive(path))}
    res = {k: median(v) for k, v in common.interleaved(cases, repeats, warmup=1).items()}
    # the refresh must see every row: a reader that lost rows would be fast for the wrong reason
    rows_now = tails["value"].read().shape[0]
    if rows_now != appended[0]:
        raise RuntimeError(f"MetricsTail has {rows_now} rows, the file {appended[0]}")
    res["_synth_s"] = synth_s
    res["_bytes"] = path.stat().st_size
    path.unlink()
    return res


def main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="", help="comma-separated row counts (default: 10000,100000,1000000; "
                                                "--quick: 10000,100000)")
    args = p.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()] or \
        ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    if any(s < 1 for s in sizes):
        p.error("sizes must be positive")
    repeats = args.repeats or (3 if args.quick else 7)
    import plotly
    common.print_header("Dashboard refresh: MetricsTail + downsample + figure vs naive read_csv + all points",
                        args, "cpu", {"plotly": plotly.__version__, "repeats": repeats, "appended per refresh": APPEND})
    tmp = Path(tempfile.mkdtemp(prefix="bench_dash_"))
    try:
        results = {n: measure_size(n, repeats, tmp) for n in sizes}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    labels = [k for k in next(iter(results.values())) if not k.startswith("_")]
    rows = []
    for label in labels:
        rows.append([label, *(fmt_time(results[n][label]) for n in sizes)])
    say(table(rows, ["case \\ logged rows", *(f"{n:,}" for n in sizes)]))
    say("file sizes: " + ", ".join(f"{n:,} rows {results[n]['_bytes'] / 1e6:.1f} MB" for n in sizes))
    say()
    ref_key = "reference: pd.read_csv + value_figure of all points"
    ref_label = "refresh (+100 rows): read + value_figure"
    for n in sizes:
        r = results[n]
        say(f"{n:,} rows: reference/refresh {ratio(r[ref_key] / r[ref_label])}, reference/cold "
            f"{ratio(r[ref_key] / r['cold: MetricsTail + value_figure'])}")
    if TARGET_ROWS in results:
        t = results[TARGET_ROWS][ref_label]
        say(f"target: refresh at {TARGET_ROWS:,} rows within {TARGET_S * 1e3:.0f} ms: {fmt_time(t)}, "
            f"{'met' if t <= TARGET_S else 'NOT met'}")
    big = max(sizes)
    headline = results[big][ref_key] / results[big][ref_label]
    common.final_line(f"dashboard refresh at {big:,} rows, naive read_csv + all points / MetricsTail refresh", headline)
    return headline


if __name__ == "__main__":
    main(sys.argv[1:])
