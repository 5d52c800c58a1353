"""Draw-your-own-data (gan_core/data/drawn.py): canvas → anchors → a reproducible dataset under the run."""
import json
from pathlib import Path

import numpy as np
import pytest

from gan_core.config import TrainConfig
from gan_core.data import drawn
from gan_core.data.datasets import load_dataset
from gan_core.errors import DataError, GanError

# Captured from streamlit-drawable-canvas 0.13.0 (Fabric 7.4) under streamlit 1.67 in Chromium, 400×300
# canvas: clicks at (50, 60), (60, 70), (300, 200) in "point" mode, then a drag (100, 250) → (290, 155).
CANVAS = json.loads((Path(__file__).parent / "fixtures" / "canvas_fabric7.json").read_text())
SIZE = (400, 300)
BOX = ((-4, 4), (-3, 3))


def test_shapes_from_a_real_canvas_drawing():
    points, strokes = drawn.shapes_from_canvas(CANVAS)
    np.testing.assert_allclose(points, [[50, 60], [60, 70], [300, 200]], atol=0.01)
    assert len(strokes) == 1
    s = strokes[0]
    np.testing.assert_allclose(s[0], [100, 250], atol=0.01)
    np.testing.assert_allclose(s[-1], [290, 155], atol=0.01)
    # the drag was a straight line: every on-curve point lies on it
    d = s - s[0]
    np.testing.assert_allclose(d[:, 0] * -95 - d[:, 1] * 190, 0, atol=190 * 0.6)
    assert drawn.shapes_from_canvas(None)[0].shape == (0, 2) and drawn.shapes_from_canvas({"objects": []})[1] == []


def test_moved_objects_are_read_where_they_now_are():
    moved = json.loads(json.dumps(CANVAS))
    for o in moved["objects"]:
        o["left"] += 10
        o["top"] -= 20
    p0, s0 = drawn.shapes_from_canvas(CANVAS)
    p1, s1 = drawn.shapes_from_canvas(moved)
    np.testing.assert_allclose(p1 - p0, [[10, -20]] * 3)
    np.testing.assert_allclose(s1[0] - s0[0], [[10, -20]] * len(s0[0]))


def test_pixels_map_onto_the_box_with_y_up_and_clipping():
    out = drawn.to_data_space([[0, 0], [400, 300], [200, 150], [-50, 400]], SIZE, BOX)
    np.testing.assert_allclose(out, [[-4, 3], [4, -3], [0, 0], [-4, -3]])


def test_resampled_stroke_is_evenly_spaced():
    r = drawn.resample_stroke(np.array([[0, 0], [1, 0], [1, 2]]), 0.25)
    steps = np.linalg.norm(np.diff(r, axis=0), axis=1)
    assert len(r) == 13 and np.allclose(r[[0, -1]], [[0, 0], [1, 2]])
    assert steps.max() <= 0.25 + 1e-9 and steps.min() > 0.2  # the corner is cut, never stretched


def test_samples_follow_the_drawing_and_the_spread():
    a = drawn.anchors(np.array([[100.0, 75.0], [300.0, 225.0]]), [], SIZE, BOX)
    np.testing.assert_allclose(a, [[-2, 1.5], [2, -1.5]])
    x = drawn.sample_drawing(a, 0.1, n=4000, seed=3)
    near = np.argmin(((x[:, None] - a[None]) ** 2).sum(-1), 1)
    assert 0.45 < near.mean() < 0.55  # equal weight per anchor
    resid = x - a[near]
    assert resid.std() == pytest.approx(0.1, rel=0.05) and abs(resid.mean()) < 0.01
    np.testing.assert_array_equal(x, drawn.sample_drawing(a, 0.1, n=4000, seed=3))
    assert not np.array_equal(x, drawn.sample_drawing(a, 0.1, n=4000, seed=4))


def test_saved_dataset_is_the_run_dataset_and_reproducible(tmp_path):
    run = tmp_path / "run"
    csv = drawn.save_drawn_dataset(run, CANVAS, canvas_size=SIZE, box=BOX, std=0.05, n=1500, seed=7)
    assert csv == run / drawn.DRAWN_CSV and csv.read_text().startswith("x1,x2\n")
    meta = json.loads((run / drawn.DRAWING_JSON).read_text())
    assert meta["clicks"] == 3 and meta["strokes"] == 1 and meta["std"] == 0.05 and meta["seed"] == 7
    assert not list(run.glob(".*.tmp"))  # atomic writes leave no temporaries
    ds = load_dataset(TrainConfig(dataset=str(csv)).resolved())
    assert ds.kind == "points" and ds.data.shape == (1500, 2)
    # the CSV holds the samples exactly, and the same drawing and seed give the same file
    anchors = np.array(meta["anchors"])
    np.testing.assert_array_equal(ds.data, drawn.sample_drawing(anchors, 0.05, 1500, 7))
    again = drawn.save_drawn_dataset(tmp_path / "run2", CANVAS, canvas_size=SIZE, box=BOX, std=0.05, n=1500, seed=7)
    assert again.read_bytes() == csv.read_bytes()
    assert ds.data[:, 0].min() > -4.5 and ds.data[:, 1].max() < 3.5


@pytest.mark.parametrize("kw, msg", [
    (dict(json_data={"objects": []}), "empty"),
    (dict(std=0), "spread"),
    (dict(std=float("nan")), "spread"),
    (dict(n=0), "number of points"),
    (dict(canvas_size=(0, 300)), "canvas size"),
    (dict(box=((1, -1), (0, 1))), "x0 < x1"),
])
def test_bad_drawings_are_one_line_errors(tmp_path, kw, msg):
    args = dict(json_data=CANVAS, canvas_size=SIZE, box=BOX, std=0.1, n=100)
    args.update(kw)
    with pytest.raises(GanError, match=msg) as e:
        drawn.save_drawn_dataset(tmp_path / "r", **args)
    assert isinstance(e.value, DataError) and "\n" not in str(e.value)
    assert not (tmp_path / "r" / drawn.DRAWN_CSV).exists()


def test_points_and_strokes_without_a_canvas(tmp_path):
    csv = drawn.save_drawn_dataset(tmp_path, points=[[200, 150]], strokes=[[[0, 0], [400, 0]]],
                                   canvas_size=SIZE, box=BOX, std=0.2, n=50)
    meta = json.loads((tmp_path / drawn.DRAWING_JSON).read_text())
    assert meta["anchors"][0] == [0, 0] and len(meta["anchors"]) == 1 + 101  # the stroke: every 8/100 units
    assert len(csv.read_text().splitlines()) == 51
