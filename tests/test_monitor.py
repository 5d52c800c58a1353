"""The Runs page's data path (gan_core.views): incremental metrics reading, downsampling, the charts, the run
table and the snapshot figures."""
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from gan_core.runs import store, transfer
from gan_core.views import curves, run_table, samples
from gan_core.views.density_figures import d_pair_figure, figure1
from gan_core.views.series import MetricsTail, downsample
from gan_core.views.snapshot_choice import snapshot_kind

HEADER = "iteration,value_estimate,d_loss,g_loss,d_real,d_fake,elapsed_s,jsd,value_at_optimum\n"


def row(it: int, v: float = -1.3, jsd: str = "") -> str:
    vo = "" if jsd == "" else f"{-2 * math.log(2) + 2 * float(jsd):.6g}"
    return f"{it},{v},{-v},0.7,0.55,0.45,{it / 100},{jsd},{vo}\n"


@pytest.fixture
def csv_path(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text(HEADER + row(10, -1.30, "0.5") + row(20, -1.31))
    return p


def test_tail_reads_only_the_new_rows(csv_path):
    tail = MetricsTail(csv_path)
    df = tail.read()
    assert list(df["iteration"]) == [10, 20]
    assert tail.offset == csv_path.stat().st_size
    assert df["jsd"].iloc[0] == 0.5 and np.isnan(df["jsd"].iloc[1])  # empty cell → NaN
    assert df["value_at_optimum"].iloc[0] == pytest.approx(-2 * math.log(2) + 1.0)

    # Rewrite an already-read byte in place (same inode, same size): a reader that re-parsed the
    # whole file would see it, an incremental one must not.
    data = csv_path.read_bytes().replace(b"20,-1.31", b"20,-9.99")
    with open(csv_path, "r+b") as f:
        f.write(data)
    before = tail.offset
    with open(csv_path, "a") as f:
        f.write(row(30, -1.35) + row(40, -1.36))
    df = tail.read()
    assert list(df["iteration"]) == [10, 20, 30, 40]
    assert df["value_estimate"].iloc[1] == -1.31  # old row not re-read
    assert tail.offset == csv_path.stat().st_size > before
    assert tail.read()["iteration"].tolist() == [10, 20, 30, 40]  # nothing new: same rows


def test_partial_last_line_waits_until_complete(csv_path):
    tail = MetricsTail(csv_path)
    tail.read()
    full = row(30, -1.375)
    with open(csv_path, "a") as f:
        f.write(full[:7])  # the writer is mid-line
    offset = tail.offset
    df = tail.read()
    assert len(df) == 2 and tail.offset == offset
    with open(csv_path, "a") as f:
        f.write(full[7:])
    df = tail.read()
    assert df["iteration"].tolist() == [10, 20, 30] and df["value_estimate"].iloc[-1] == -1.375


def test_truncation_and_replacement_are_reread(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    p = run / "metrics.csv"
    p.write_text(HEADER + "".join(row(i) for i in range(10, 60, 10)))
    tail = MetricsTail(p)
    assert len(tail.read()) == 5
    store.truncate_metrics(run, 20)  # what --resume does: atomic replace, a new inode
    assert tail.read()["iteration"].tolist() == [10, 20]
    with open(p, "a") as f:
        f.write(row(30, -1.2))
    assert tail.read()["iteration"].tolist() == [10, 20, 30]
    with open(p, "w") as f:  # truncated in place: same inode, smaller size
        f.write(HEADER + row(10, -1.0))
    df = tail.read()
    assert df["iteration"].tolist() == [10] and df["value_estimate"].iloc[0] == -1.0


def test_missing_file_then_created(tmp_path):
    p = tmp_path / "metrics.csv"
    tail = MetricsTail(p)
    assert tail.read().empty
    p.write_text(HEADER + row(10))
    assert tail.read()["iteration"].tolist() == [10]


def test_frame_is_read_only(csv_path):
    tail = MetricsTail(csv_path)
    df = tail.read()
    with pytest.raises(ValueError):
        df.iloc[0, 1] = 123.0
    assert tail.read()["value_estimate"].iloc[0] == -1.30


def test_downsample_bounds_points_and_keeps_extremes():
    rng = np.random.default_rng(0)
    n = 1_000_000
    df = pd.DataFrame({"iteration": np.arange(1, n + 1, dtype=float),
                       "value_estimate": rng.standard_normal(n),
                       "g_loss": np.cumsum(rng.standard_normal(n)),
                       "jsd": np.where(np.arange(n) % 50 == 0, rng.random(n), np.nan)})  # sparse, like snapshots
    df.loc[123_457, "value_estimate"] = 40.0   # single-row spikes must survive
    df.loc[876_543, "value_estimate"] = -40.0
    out = downsample(df, max_points=2000)
    assert len(out) <= 2000
    for c in ("value_estimate", "g_loss", "jsd"):
        assert out[c].max() == df[c].max() and out[c].min() == df[c].min(), c
    assert out["iteration"].iloc[0] == 1 and out["iteration"].iloc[-1] == n
    assert out["iteration"].is_monotonic_increasing
    few = downsample(df, max_points=600, columns=["value_estimate"])
    assert len(few) <= 600 and list(few.columns) == ["iteration", "value_estimate"]
    assert few["value_estimate"].max() == 40.0 and few["value_estimate"].min() == -40.0
    small = df.head(100)
    assert downsample(small, max_points=2000) is small


def _frame(n=50, with_optimum=True):
    it = np.arange(1, n + 1) * 10.0
    d = {"iteration": it, "value_estimate": -1.2 - 0.001 * it, "d_loss": 1.3 + 0 * it, "g_loss": 0.7 + 0 * it,
         "d_real": 0.6 + 0 * it, "d_fake": 0.4 + 0 * it}
    if with_optimum:
        d["jsd"] = np.where(np.arange(n) % 5 == 0, 0.2, np.nan)
        d["value_at_optimum"] = -2 * math.log(2) + 2 * d["jsd"]
    return pd.DataFrame(d)


def _hline_ys(fig: go.Figure) -> list:
    return [s.y0 for s in fig.layout.shapes if s.y0 == s.y1]


def test_value_figure_shows_optimum_line_and_theory_trace():
    fig = curves.value_figure({"a": _frame()})
    assert any(abs(y - (-2 * math.log(2))) < 1e-12 for y in _hline_ys(fig))
    assert any("2 log 2" in (a.text or "") for a in fig.layout.annotations)
    names = [t.name for t in fig.data]
    assert any(n.startswith("Ṽ") for n in names) and any("V(G, D*)" in n for n in names)
    assert all(isinstance(t, go.Scatter) for t in fig.data)  # SVG: a line needs no WebGL context
    opt = next(t for t in fig.data if "V(G, D*)" in t.name)
    assert len(opt.x) == 10 and np.allclose(opt.y, -2 * math.log(2) + 0.4)  # only the measured rows

    plain = curves.value_figure({"a": _frame(with_optimum=False)})
    assert [t.name for t in plain.data] == ["Ṽ (minibatch value)"]
    assert plain.data[0].mode == "lines"
    first = curves.value_figure({"a": _frame(n=1, with_optimum=False)})  # a run's first row: a line of one
    assert len(first.data[0].x) == 1 and "markers" in first.data[0].mode  # point draws nothing, a marker does
    assert any(abs(y + 2 * math.log(2)) < 1e-12 for y in _hline_ys(plain))


def test_overlaid_runs_get_one_colour_each():
    fig = curves.discriminator_figure({"run-a": _frame(), "run-b": _frame()})
    assert 0.5 in _hline_ys(fig)
    colours = {t.legendgroup: t.line.color for t in fig.data}
    assert set(colours) == {"run-a", "run-b"} and len(set(colours.values())) == 2
    assert len(fig.data) == 4
    loss = curves.loss_figure({"a": _frame()})
    assert {t.name for t in loss.data} == {"D loss (−Ṽ)", "G loss"}


def test_quality_figures_only_for_present_metrics():
    df = _frame()
    df["modes_covered"] = np.where(df["jsd"].notna(), 8.0, np.nan)
    assert curves.quality_metrics({"a": df}) == ["jsd", "modes_covered"]
    fig = curves.quality_figure({"a": df}, "modes_covered")
    assert len(fig.data) == 1 and np.all(np.asarray(fig.data[0].y) == 8.0)
    assert curves.quality_metrics({"a": _frame(with_optimum=False)}) == []


def test_snapshot_views():
    x = np.linspace(0, 8, 100)
    p = np.exp(-((x - 4) ** 2) / 0.5)
    snap1 = {"samples": np.ones((10, 1), np.float32), "grid_axes": x[None], "d": np.full(100, 0.6),
             "d_star": np.full(100, 0.5), "p_g": p, "p_data": p}
    assert snapshot_kind(snap1) == "figure1"
    fig = figure1(snap1)
    by = {t.name: t for t in fig.data}
    assert by["D(x), learned"].yaxis == "y2" and by["p_data"].yaxis == "y"
    assert by["1/2"].y == (0.5, 0.5)

    ax, ay = np.linspace(-1, 1, 3), np.linspace(-2, 2, 4)
    d = np.arange(12) / 12.0  # flat in 'ij' order: index i * ny + j is (ax[i], ay[j])
    snap2 = {"samples": np.zeros((5, 2), np.float32), "grid_axes": [ax, ay], "d": d, "d_star": 1 - d,
             "p_g": d, "p_data": d}
    assert snapshot_kind(snap2) == "heatmap"
    pair = d_pair_figure(snap2, real=np.ones((7, 2)))
    z = np.asarray(pair.data[0].z)
    assert z.shape == (4, 3) and z[3, 2] == np.float32(d[2 * 4 + 3])  # rows are y, columns x (sent as float32)
    assert [t.name for t in pair.data[1:3]] == ["real", "generated"]
    assert pair.data[3].name == "D*(x)" and np.asarray(pair.data[3].z)[3, 2] == np.float32(1 - d[2 * 4 + 3])

    imgs = {"samples": np.random.default_rng(0).random((6, 1, 8, 8)).astype(np.float16)}
    assert snapshot_kind(imgs) == "images"
    from gan_core.data.dataset import Dataset
    preview = samples.dataset_preview_figure(Dataset("x", "image", (1, 8, 8), "eight", data=imgs["samples"]))
    assert preview.data[0].source.startswith("data:image/png") and preview.data[0].zsmooth is False
    assert snapshot_kind({"samples": np.zeros((5, 5))}) == "points"
    assert len(samples.samples_figure(np.zeros((5, 5)), np.ones((5, 5))).data) == 2


def test_run_zip_leaves_out_checkpoints(tmp_path):
    import io
    import zipfile
    run = tmp_path / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"x" * 100)
    (run / "config.json").write_text("{}")
    (run / "generator.onnx").write_bytes(b"onnx")
    (run / ".status.json.tmp").write_text("half")
    names = zipfile.ZipFile(io.BytesIO(transfer.run_zip_bytes(run))).namelist()
    assert sorted(names) == ["r1/config.json", "r1/generator.onnx"]


def test_svg_for_lines_and_small_clouds_webgl_only_for_big_ones():
    frames = {"a": _frame(), "b": _frame()}
    for fig in (curves.value_figure(frames), curves.discriminator_figure(frames), curves.loss_figure(frames)):
        assert fig.data and not any(isinstance(t, go.Scattergl) for t in fig.data)
    assert all(isinstance(t, go.Scatter) for t in samples.samples_figure(np.zeros((1000, 2)), np.ones((1000, 2))).data)
    assert isinstance(samples.samples_figure(np.zeros((20000, 2)), n_points=20000).data[0], go.Scattergl)


def test_legend_sits_below_the_axis_title_in_its_own_band():
    one = curves.value_figure({"a": _frame()})
    many = curves.value_figure({f"a-long-run-name-{i}": _frame() for i in range(4)})
    for fig in (one, many):
        assert fig.layout.legend.yref == "container" and fig.layout.legend.yanchor == "bottom"
    assert many.layout.margin.b > one.layout.margin.b  # more legend rows, a taller band


def test_run_table_shows_the_settings_that_differ():
    from pathlib import Path

    from gan_core.runs.store import RunInfo
    infos = [RunInfo(Path(n), n, "ring8", "completed", 10, 10, 5.0, 0, "", 0) for n in ("a", "b", "c")]
    cfgs = {"a": {"dataset": "ring8", "k": 1, "lr_d": 5e-4, "seed": 0},
            "b": {"dataset": "ring8", "k": 2, "lr_d": 5e-4, "seed": 0},
            "c": {"dataset": "ring8", "k": 1, "lr_d": 1e-3, "seed": 0}}
    assert list(run_table.runs_table(infos, cfgs, ["a", "b"]).columns).count("k") == 1
    t = run_table.runs_table(infos, cfgs, ["a", "b", "c"])
    assert "k" in t.columns and "lr D" in t.columns and "seed" not in t.columns
    assert list(t["lr D"]) == ["0.0005", "0.0005", "0.001"]
    assert "k" not in run_table.runs_table(infos, cfgs, ["a"]).columns


def test_dynamics_and_quality_panels_are_one_figure_each():
    df = _frame()
    df["modes_covered"] = np.where(np.arange(len(df)) % 5 == 0, 8.0, np.nan)
    fig = curves.dynamics_figure({"a": df})
    assert {t.name for t in fig.data} == {"mean D(x), real", "mean D(G(z)), generated", "D loss (−Ṽ)", "G loss"}
    assert len({t.line.color for t in fig.data}) == 4  # one run: a colour per series across both panels
    assert list(fig.layout.yaxis.range) == [0, 1] and fig.layout.yaxis2.title.text == "loss"
    q = curves.quality_panel({"a": df}, curves.quality_metrics({"a": df}))
    assert [a.text for a in q.layout.annotations][:2] == ["Jensen–Shannon divergence JSD(p_data ‖ p_g)",
                                                          "Modes covered"]
    assert any(abs(y - math.log(2)) < 1e-12 for y in _hline_ys(q))
    assert all(isinstance(t, go.Scatter) for t in q.data)


def test_change_markers_label_what_changed_where():
    df = pd.DataFrame({"iteration": [10, 20, 30], "value_estimate": [-1.3, -1.2, -1.25]})
    fig = curves.add_change_markers(curves.value_figure({"a": df}), {"a": [
        {"iteration": 20, "d_done": 0, "step": "d"}, {"iteration": 20, "d_done": 1, "step": "d"},
        {"iteration": 25, "d_done": 0, "set": {"g_loss": "minimax", "lr_d": 2e-4}}]})
    lines = [s for s in fig.layout.shapes if s.type == "line" and s.x0 == s.x1]
    assert sorted(s.x0 for s in lines) == [20, 25]
    texts = {a.x: a.text for a in fig.layout.annotations if a.x in (20, 25)}
    assert texts == {20: "D step", 25: "g_loss → minimax, lr_d → 0.0002"}


def test_panels_are_laid_out_as_make_subplots_lays_out_one_row():
    # the line charts are built as figure JSON (fast); their subplots must sit where make_subplots puts them
    from plotly.subplots import make_subplots
    for n in (1, 2, 3):
        panels = [dict(specs=[("d_real", "D", "solid")], title=f"panel {c}", ytitle=f"y {c}",
                       hline=(0.5, "half") if c == n - 1 else None) for c in range(n)]
        ours = curves._panels({"a": _frame()}, panels, "")
        ref = make_subplots(rows=1, cols=n, subplot_titles=[p["title"] for p in panels],
                            horizontal_spacing=0.09 if n > 1 else 0.0).layout
        for c in range(n):
            a = "" if c == 0 else str(c + 1)
            for ax in (f"xaxis{a}", f"yaxis{a}"):
                assert ours.layout[ax].anchor == ref[ax].anchor
                assert ours.layout[ax].domain == pytest.approx(ref[ax].domain)
            assert (ours.data[c].xaxis, ours.data[c].yaxis) == (f"x{a}", f"y{a}")  # each trace on its panel
        assert [(t.text, round(t.x, 9), t.y) for t in ours.layout.annotations[:n]] == \
               [(t.text, round(t.x, 9), t.y) for t in ref.annotations]
        last = "" if n == 1 else str(n)
        assert [(s.yref, s.y0, s.xref) for s in ours.layout.shapes] == [(f"y{last}", 0.5, f"x{last} domain")]


def test_line_charts_look_like_plotly_white_without_its_trace_defaults():
    fig = curves.value_figure({"a": _frame()})
    white = pio.templates["plotly_white"]
    assert fig.layout.template.layout.plot_bgcolor == white.layout.plot_bgcolor
    assert fig.layout.template.layout.xaxis.gridcolor == white.layout.xaxis.gridcolor
    assert not fig.layout.template.data.scatter  # the per-trace half is left out: smaller JSON
    assert len(fig.to_json()) < len(go.Figure(fig).update_layout(template="plotly_white").to_json()) - 3000
