"""The Streamlit pages, run headless with AppTest, plus the launch helpers behind the Train page.

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

from gan_core import launch, runs
from gan_core.cli import build_parser
from gan_core.config import TrainConfig
from gan_core.errors import ConfigError, RunError

ROOT = Path(__file__).resolve().parent.parent
TRAIN, MONITOR, GENERATE = "pages/1_Train.py", "pages/2_Monitor.py", "pages/3_Generate.py"


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    d = tmp_path / "runs"
    d.mkdir()
    monkeypatch.setenv("GAN_RUNS_DIR", str(d))
    return d


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
    runs.write_status(d, state=state, iteration=iteration, iterations=200, message=message)
    runs.append_rows(d, runs.BASE_COLUMNS, [{"iteration": i, "value_estimate": -1.3, "d_loss": 1.3, "g_loss": 0.7,
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
    assert any(r"\max_D V(D, G)" in l.value for l in at.latex)
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
    assert at.button(key="start").label == "Start training"


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


def test_start_on_train_page_then_completed_on_monitor(runs_dir):
    at = page(TRAIN)
    at.number_input(key="iterations@gaussian1d").set_value(40)
    at.number_input(key="log_every@gaussian1d").set_value(10)
    at.checkbox(key="export@gaussian1d").uncheck()
    at.text_input(key="run_name@gaussian1d").input("first")
    at.button(key="start").click().run(timeout=60)
    assert not at.exception and not at.error, texts(at.error)
    assert "Run **first** started" in texts(at.success)

    run = runs_dir / "first"
    deadline = time.monotonic() + 90
    while runs.read_status(run).get("state") in ("running", "unknown") and time.monotonic() < deadline:
        time.sleep(0.5)
    st = runs.read_status(run)
    assert st["state"] == "completed", (st, (run / "train.log").read_text())
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["iterations"] == 40 and cfg["log_every"] == 10 and cfg["export_onnx"] is False

    mon = page(MONITOR)
    table = mon.dataframe[0].value
    assert table.set_index("run").loc["first", "state"] == "completed"
    assert mon.multiselect(key="sel").value == ["first"]
    charts = mon.get("plotly_chart")
    assert len(charts) >= 4  # value, D, losses, Figure 1 (+ JSD)
    assert "eq. (7)" in texts(mon.caption) and "eqs. (8)–(21)" in texts(mon.caption)


def test_monitor_shows_messages_and_deletes_with_confirmation(runs_dir):
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


def test_monitor_refuses_to_resume_to_fewer_iterations(runs_dir):
    fake_run(runs_dir, "paused", "stopped", iteration=100)
    at = page(MONITOR)
    at.number_input(key="resume_to@paused").set_value(50)
    at.button(key="resume").click().run()
    assert "already at iteration 100" in texts(at.error)
    assert not at.exception


def test_generate_page_with_a_run_model_and_a_bad_upload(runs_dir):
    run = fake_run(runs_dir, "done", "completed", iteration=200)
    (run / "generator.onnx").write_bytes(onnx_model("points"))
    at = page(GENERATE)
    meta = at.dataframe[0].value
    assert dict(zip(meta["field"], meta["value"]))["dataset"] == "handmade"
    assert "latent size 2 · prior normal" in texts(at.caption)
    assert [d.label for d in at.get("download_button")] == ["Download CSV", "Download model + card (.zip)",
                                                           "Download web page"]
    assert len(at.get("plotly_chart")) == 2  # samples, the walk
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
            "assert not at.exception and len(at.get('plotly_chart')) == 2, at.exception\n"
            "print('torch' in sys.modules, 'gan_core.generation' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "GAN_RUNS_DIR": str(runs_dir)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["False", "True"]


# --- launch helpers behind the pages ---------------------------------------------------------------------

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
    a = launch.save_upload(b"x\n1\n", "my data.csv", runs_dir)
    assert a == runs_dir / "_uploads" / "my_data.csv"
    assert launch.save_upload(b"x\n1\n", "my data.csv", runs_dir) == a
    b = launch.save_upload(b"x\n2\n", "my data.csv", runs_dir)
    assert b != a and a.read_bytes() == b"x\n1\n" and b.read_bytes() == b"x\n2\n"
