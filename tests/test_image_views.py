"""Pictures a person can read, and the same samples for the same seed on the Generate page.

Image grids upscale each picture by a whole factor (≥ 3, nearest-neighbour) and keep it so in plotly (an image
trace of the upscaled pixels, no smoothing) and in PNGs; fashion/mnist samples get per-class counts from the set's
cached classifier, and a caption saying how to train it when it is missing. The Generate page draws what
`python -m gan_core generate` writes, rejection by D included.
"""
import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, run_cli
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from streamlit.testing.v1 import AppTest

from gan_core.share.generation import load_model
from gan_core.views import class_counts, image_grid

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def _images(n, side, channels=1, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, channels, side, side)).astype(np.float32)


def _blocks_equal(px: np.ndarray, img: np.ndarray, top: int, left: int, s: int) -> bool:
    """Whether px holds img (C, H, W) at (top, left), each of its pixels an s × s block of one value."""
    c, h, w = img.shape
    tile = px[top:top + h * s, left:left + w * s]
    want = (img * 255 + 0.5).astype(np.uint8).repeat(s, 1).repeat(s, 2)
    return np.array_equal(tile, want[0] if c == 1 else want.transpose(1, 2, 0))


# --- grids --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("side, scale", [(8, 8), (28, 3), (16, 4), (64, 3)])
def test_grid_draws_every_image_at_least_3x_in_whole_pixels(side, scale):
    x = _images(10, side)
    assert image_grid.scale_for(side, side) == scale >= image_grid.MIN_SCALE
    px = image_grid.grid_pixels(x, ncol=4)
    g, t = image_grid.GAP_PX, side * scale
    assert px.shape == (3 * (t + g) + g, 4 * (t + g) + g)
    for i in (0, 5, 9):
        r, q = divmod(i, 4)
        assert _blocks_equal(px, x[i], g + r * (t + g), g + q * (t + g), scale)
    assert (px[:g] == image_grid.BACKGROUND).all()   # the gaps stay background


def test_colour_grid_and_row_with_a_framed_step():
    x = _images(9, 8, channels=3)
    row = np.asarray(image_grid.row_image(x, mark=4))
    s, g = image_grid.scale_for(8, 8), image_grid.ROW_GAP_PX
    assert row.shape == (8 * s + 2 * g, 9 * (8 * s + g) + g, 3)   # one row: a walk of 9 steps
    assert _blocks_equal(row, x[4], g, g + 4 * (8 * s + g), s)
    left = g + 4 * (8 * s + g)
    assert (row[0, left - g:left + 8 * s + g] == image_grid.MARK).all()   # the framed step
    assert (row[0, g:g + 8 * s] == image_grid.BACKGROUND).all()            # the others are not
    grey = _images(9, 28)
    framed = np.asarray(image_grid.row_image(grey, mark=0))   # grey pictures: an RGB row, for the colour frame
    assert framed.ndim == 3 and (framed[0, :g] == image_grid.MARK).all()
    assert (framed[g:g + 84, g:g + 84]
            == (grey[0, 0] * 255 + 0.5).astype(np.uint8).repeat(3, 0).repeat(3, 1)[..., None]).all()
    assert np.asarray(image_grid.row_image(grey)).shape[0] == 28 * 3 + 2 * g   # 9 steps of 28×28: one row
    wide = np.asarray(image_grid.row_image(_images(40, 28)))   # past the width it wraps
    assert wide.shape[1] <= image_grid.ROW_WIDTH_PX and wide.shape[0] > 28 * 3 * 2


def test_image_figure_is_an_unsmoothed_trace_of_the_upscaled_grid():
    x = _images(100, 28)
    fig = image_grid.image_figure(x, title="samples")
    tr = fig.data[0]
    assert tr.type == "image" and tr.zsmooth is False
    png = Image.open(io.BytesIO(base64.b64decode(tr.source.split(",", 1)[1])))
    px = np.asarray(png)
    assert px.shape == image_grid.grid_pixels(x[:64]).shape           # the first 64 only
    assert _blocks_equal(px, x[0], image_grid.GAP_PX, image_grid.GAP_PX, 3)
    assert fig.layout.height >= px.shape[0]                             # tall enough to show it at 3x
    assert fig.layout.yaxis.scaleanchor == "x"                          # square pixels
    assert json.loads(fig.to_json())["data"][0]["zsmooth"] is False     # what the browser gets


# --- per-class counts ---------------------------------------------------------------------------------

@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _classifier():
    """A classifier with random weights in the cache (its predictions are what the counts must count)."""
    from gan_core.scores import classifier as c
    rng = np.random.default_rng(3)
    weights = {k: (rng.standard_normal(s) * 0.3).astype(np.float32) for k, s in c.SHAPES.items()}
    clf = c.Classifier("fashion", weights, {"test_accuracy": 0.1})
    c.save_classifier(clf)
    return clf


def test_counts_need_the_cached_classifier_and_say_how_to_get_it(cache_dir):
    x = _images(50, 28)
    assert class_counts.class_counts(x, "fashion") is None
    why = class_counts.missing_caption("fashion")
    assert "`python -m gan_core classifier --dataset fashion`" in why and "\n" not in why
    assert class_counts.missing_caption("digits") is None and class_counts.class_counts(x, "digits") is None
    clf = _classifier()
    names, counts = class_counts.class_counts(x, "fashion")
    assert names == FASHION
    np.testing.assert_array_equal(counts, np.bincount(clf.predict(x), minlength=10))
    assert counts.sum() == 50 and class_counts.missing_caption("fashion") is None
    assert class_counts.class_counts(_images(5, 8), "fashion") is None   # images it cannot read: no counts
    fig = class_counts.counts_figure(names, counts)
    assert list(fig.data[0].x) == list(FASHION) and list(fig.data[0].y) == counts.tolist()


# --- the Generate page --------------------------------------------------------------------------------

def _model(kind: str, meta: dict) -> bytes:
    """points: x = z W, with D's logit = x · v (an output `logit` of shape [batch]); image: 28×28 grey."""
    rng = np.random.default_rng(0)
    out = 2 if kind == "points" else 784
    inits = [numpy_helper.from_array(rng.standard_normal((2, out)).astype(np.float32), "w")]
    outputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2] if kind == "points" else
                                             ["batch", 1, 28, 28])]
    if kind == "points":
        inits.append(numpy_helper.from_array(np.array([1.5, -1.0], np.float32), "v"))
        nodes = [helper.make_node("MatMul", ["z", "w"], ["x"]), helper.make_node("MatMul", ["x", "v"], ["logit"])]
        outputs.append(helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["batch"]))
    else:
        inits.append(numpy_helper.from_array(np.array([-1, 1, 28, 28], np.int64), "shape"))
        nodes = [helper.make_node("MatMul", ["z", "w"], ["h"]), helper.make_node("Sigmoid", ["h"], ["s"]),
                 helper.make_node("Reshape", ["s", "shape"], ["x"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    base = {"latent_dim": "2", "prior": "normal", "output_kind": kind, "iterations": "7",
            "output_shape": "[2]" if kind == "points" else "[1, 28, 28]"}
    for k, v in {**base, **meta}.items():
        model.metadata_props.add(key=k, value=v)
    return model.SerializeToString()


def _generate_page(data: bytes, name: str = "m.onnx") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/generate.py").run()
    at.radio[0].set_value("Upload a model file").run()
    at.file_uploader(key="model_upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def _xy(trace: dict) -> np.ndarray:
    def axis(v):
        if isinstance(v, dict):   # plotly's typed-array JSON
            return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return np.asarray(v, float)
    return np.stack([axis(trace["x"]), axis(trace["y"])], 1)


def test_generate_page_draws_what_the_cli_writes_rejection_included(runs_dir, tmp_path):
    data = _model("points", {"dataset": "ring8", "rejection": "dr-sampling v2", "rejection_default": "true"})
    (tmp_path / "m.onnx").write_bytes(data)
    model = load_model(data)
    assert model.rejection_default
    at = _generate_page(data)
    at.number_input(key="n@points").set_value(300).run()
    at.number_input(key="seed").set_value(5).run()
    assert at.checkbox(key="drs").value   # on, as the model's metadata says
    spec = [json.loads(json.loads(c.proto.json)["spec"]) for c in at.get("bidi_component")]
    fig = next(f for f in spec if f["layout"]["title"]["text"] == "300 samples, seed 5")
    shown = _xy(fig["data"][0])
    out = tmp_path / "cli.csv"
    r = run_cli("generate", tmp_path / "m.onnx", "--n", 300, "--seed", 5, "--out", out)
    assert r.returncode == 0, r.stderr
    cli = pd.read_csv(out).to_numpy()
    np.testing.assert_allclose(shown, cli, atol=1e-5, rtol=1e-6)
    assert np.abs(shown - model.generate(300, 5, rejection=False)).max() > 0.1   # rejection changed them


def test_generate_page_shows_pictures_and_class_counts(runs_dir, cache_dir):
    data = _model("image", {"dataset": "fashion"})
    at = _generate_page(data)
    assert len(at.get("image")) == 3   # the grid, the walk's current step and the whole walk
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert captions[0] == "64 samples, seed 0 — each drawn 3× its size"
    assert any("python -m gan_core classifier --dataset fashion" in c.value for c in at.caption)
    assert not at.get("plotly_chart")
    clf = _classifier()
    at.number_input(key="seed").set_value(4).run()
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 1 and charts[0]["data"][0]["x"] == list(FASHION)
    samples = load_model(data).generate(64, 4)
    assert charts[0]["data"][0]["y"] == np.bincount(clf.predict(samples), minlength=10).tolist()
    assert not any("classifier --dataset" in c.value for c in at.caption)


# --- the Runs page ------------------------------------------------------------------------------------

def _fashion_run(runs_dir, samples):
    from gan_core.config import TrainConfig
    from gan_core.runs import store
    run = runs_dir / "pictures"
    (run / "snapshots").mkdir(parents=True)
    TrainConfig(dataset="fashion", iterations=100, run_dir=str(run)).save(run / "config.json")
    store.write_status(run, state="completed", iteration=100, iterations=100, message="")
    store.append_rows(run, store.BASE_COLUMNS, [{"iteration": i, "value_estimate": -1.3, "d_loss": 1.3,
                                                 "g_loss": 0.7, "d_real": 0.5, "d_fake": 0.5, "elapsed_s": i / 10}
                                                for i in range(10, 101, 10)])
    np.savez(run / "snapshots" / "it_00000100.npz", iteration=100, samples=samples)
    return run


def _runs_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py").run()
    at.multiselect(key="sel").set_value(["pictures"]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_runs_page_draws_snapshot_pictures_at_3x_with_class_counts(runs_dir, cache_dir):
    samples = _images(120, 28, seed=2)
    _fashion_run(runs_dir, samples)
    at = _runs_page()
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    grid = [f for f in figs if f["data"][0]["type"] == "image"]
    assert len(grid) == 1 and grid[0]["data"][0]["zsmooth"] is False
    assert grid[0]["layout"]["height"] >= 8 * 28 * 3   # 64 pictures, 8 a row, each 3x
    assert not [f for f in figs if f["data"][0]["type"] == "bar"]
    assert any("python -m gan_core classifier --dataset fashion" in c.value for c in at.caption)
    clf = _classifier()
    at = _runs_page()
    bars = [json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")]
    bars = [b for b in bars if b["type"] == "bar"]
    assert len(bars) == 1 and bars[0]["x"] == list(FASHION)
    assert bars[0]["y"] == np.bincount(clf.predict(samples), minlength=10).tolist()   # all 120 snapshot samples


def test_picture_scores_are_charted_and_told_in_the_model_facts(tmp_path):
    """A fashion run's metrics.csv carries fid, precision, recall and classes_covered at its scored rows: the
    Runs page charts each beside Ṽ, and the model card / share page facts state the last measured values."""
    import pandas as pd

    from gan_core.share.facts import latest_quality, quality_facts
    from gan_core.views import curves
    (tmp_path / "metrics.csv").write_text(
        "iteration,value_estimate,fid,precision,recall,classes_covered\n"
        "10,-1.2,40.5,0.41,0.12,7\n20,-1.3,,,,\n30,-1.35,12.25,0.72,0.33,10\n")
    frames = {"run": pd.read_csv(tmp_path / "metrics.csv")}
    assert {"fid", "precision", "recall", "classes_covered"} <= set(curves.quality_metrics(frames))
    assert "FID" in curves.QUALITY["fid"][0]
    q = latest_quality(tmp_path)
    assert q["fid"] == "12.25" and q["quality_iteration"] == "30"
    facts = dict(quality_facts({**q, "dataset": "fashion"}))
    assert facts["FID to the test pictures"].startswith("12.2") and facts["Classes covered"] == "10 of 10"
    assert facts["Precision / recall"].startswith("0.72 / 0.33")
