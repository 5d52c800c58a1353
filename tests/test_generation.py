"""gan_core.share.generation: onnxruntime-only sampling. Models here are built with onnx.helper, so no torch."""
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from gan_core.errors import GanError, ModelFileError
from gan_core.share.generation import interpolate, interpolation_latents, load_model, sample_latents
from gan_core.share.model_card import model_card, share_package
from gan_core.share.outputs import generate_to_file, image_grid, save_points_csv

ROOT = Path(__file__).resolve().parents[1]
D = 3
RNG = np.random.default_rng(123)
W = RNG.standard_normal((D, 2)).astype(np.float32)
B = np.array([4.0, -1.0], np.float32)
W_IMG = RNG.standard_normal((D, 64)).astype(np.float32)


def _model(nodes, inputs, output, inits=(), metadata=None):
    graph = helper.make_graph(nodes, "g", inputs, [output], [numpy_helper.from_array(a, n) for n, a in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    for k, v in (metadata or {}).items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _z(batch="batch", d=D, dtype=TensorProto.FLOAT, name="z"):
    return helper.make_tensor_value_info(name, dtype, [batch, d])


def points_model(metadata=None, w=W, batch="batch"):
    """x = z W + b: a linear 'generator' whose output numpy can reproduce exactly."""
    return _model([helper.make_node("MatMul", ["z", "W"], ["h"]), helper.make_node("Add", ["h", "B"], ["x"])],
                  [_z(batch)], helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2]),
                  [("W", w), ("B", B)], metadata)


def image_model(metadata=None):
    return _model([helper.make_node("MatMul", ["z", "W"], ["h"]), helper.make_node("Sigmoid", ["h"], ["s"]),
                   helper.make_node("Reshape", ["s", "shape"], ["x"])],
                  [_z()], helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 8, 8]),
                  [("W", W_IMG), ("shape", np.array([-1, 1, 8, 8], np.int64))], metadata)


META = {"latent_dim": str(D), "prior": "normal", "output_kind": "points", "output_shape": "[2]",
        "dataset": "ring8", "iterations": "1200", "g_loss": "minimax", "k": "2",
        "final_value_estimate": "-1.3712", "created": "2024-01-02T03:04:05+00:00"}


@pytest.fixture
def points_file(tmp_path):
    path = tmp_path / "generator.onnx"
    path.write_bytes(points_model(META))
    return path


def test_sample_latents_seeded_and_priors():
    a, b = sample_latents(500, 4, "normal", 7), sample_latents(500, 4, "normal", 7)
    assert a.dtype == np.float32 and a.shape == (500, 4)
    assert np.array_equal(a, b)
    assert not np.allclose(a, sample_latents(500, 4, "normal", 8))
    assert np.array_equal(sample_latents(10, 4, "normal", 7), a[:10])   # more samples keep the first ones
    assert abs(a.mean()) < 0.1 and 0.9 < a.std() < 1.1
    u = sample_latents(2000, 2, "uniform", 7)
    assert u.min() >= -1 and u.max() <= 1 and u.min() < -0.99 and u.max() > 0.99
    with pytest.raises(GanError, match="unknown prior"):
        sample_latents(2, 2, "laplace", 0)


def test_generate_matches_reference_and_is_deterministic(points_file):
    model = load_model(points_file)
    assert (model.latent_dim, model.prior, model.output_kind, model.output_shape) == (D, "normal", "points", (2,))
    assert model.metadata["dataset"] == "ring8" and model.metadata["iterations"] == "1200"
    x = model.generate(1000, seed=5)
    expected = sample_latents(1000, D, "normal", 5) @ W + B
    np.testing.assert_allclose(x, expected, atol=1e-5)
    assert np.array_equal(model.generate(1000, seed=5), x)
    assert not np.allclose(model.generate(1000, seed=6), x)
    np.testing.assert_allclose(model.generate(1000, seed=5, batch_size=7), x, atol=1e-6)


def test_uniform_prior_from_metadata(tmp_path):
    model = load_model(points_model({**META, "prior": "uniform"}))
    assert model.prior == "uniform"
    np.testing.assert_allclose(model.generate(50, seed=1), sample_latents(50, D, "uniform", 1) @ W + B, atol=1e-5)


def test_model_without_metadata_reads_latent_dim_from_graph():
    model = load_model(points_model())
    assert model.metadata == {} and model.latent_dim == D and model.output_kind == "points"
    assert model.prior == "normal" and model.output_shape == (2,)
    np.testing.assert_allclose(model.generate(4, seed=0), sample_latents(4, D, "normal", 0) @ W + B, atol=1e-5)
    img = load_model(image_model())
    assert img.output_kind == "image" and img.output_shape == (1, 8, 8)


def test_fixed_batch_graph_is_padded_and_trimmed():
    model = load_model(points_model(batch=1))
    assert model.fixed_batch == 1
    np.testing.assert_allclose(model.generate(5, seed=2), sample_latents(5, D, "normal", 2) @ W + B, atol=1e-5)


@pytest.mark.parametrize("prior", ["normal", "uniform"])
def test_interpolation_endpoints_and_path(prior):
    d = 16
    path = interpolation_latents(d, prior, 1, 2, 9)
    a, b = sample_latents(1, d, prior, 1)[0], sample_latents(1, d, prior, 2)[0]
    assert path.shape == (9, d)
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if prior == "normal":   # slerp midpoint: (a + b) / (2 cos(omega / 2))
        omega = np.arccos(a64 @ b64 / np.linalg.norm(a64) / np.linalg.norm(b64))
        np.testing.assert_allclose(path[4], (a64 + b64) / (2 * np.cos(omega / 2)), atol=1e-5)
        assert np.linalg.norm(path[4]) > np.linalg.norm((a64 + b64) / 2) + 0.1
    else:
        np.testing.assert_allclose(path[4], (a64 + b64) / 2, atol=1e-6)


def test_interpolate_through_model_and_one_dimensional_latent(points_file):
    model = load_model(points_file)
    out = interpolate(model, 3, 4, 5)
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out[0], model.generate(1, seed=3)[0], atol=1e-6)
    np.testing.assert_allclose(out[-1], model.generate(1, seed=4)[0], atol=1e-6)
    line = interpolation_latents(1, "normal", 0, 1, 5)   # slerp is undefined in 1-D: falls back to a line
    assert np.isfinite(line).all() and np.allclose(np.diff(line[:, 0], 2), 0, atol=1e-6)


def test_image_grid_layout_and_upscaling():
    imgs = np.zeros((4, 1, 8, 8), np.float32)
    imgs[1] = 1.0
    grid = image_grid(imgs)
    assert grid.mode == "L" and grid.size == (2 * 64 + 3 * 2, 2 * 64 + 3 * 2)   # 8 px tiles shown at 64 px
    px = np.asarray(grid)
    assert px[2, 2] == 0 and px[2, 2 + 64 + 2] == 255 and px[2 + 63, 2 + 64 + 2 + 63] == 255
    assert px[0, 0] == px[1, 72] == round(0.8 * 255)   # the gap
    rgb = image_grid(np.full((3, 3, 16, 16), 0.5, np.float32), ncol=3)
    assert rgb.mode == "RGB" and rgb.size == (3 * 64 + 4 * 2, 64 + 2 * 2)
    fashion = image_grid(np.zeros((1, 1, 28, 28), np.float32))   # 28×28 pictures at 3×: whole pixels
    assert fashion.size == (28 * 3 + 4, 28 * 3 + 4)
    with pytest.raises(GanError, match="C = 1 or 3"):
        image_grid(np.zeros((2, 2, 8, 8)))


def test_save_points_csv_round_trip(tmp_path):
    pts = np.array([[1.5, -2.25, 3e-4], [0.0, 1e6, -7.0]])
    path = save_points_csv(pts, tmp_path / "p.csv")
    assert path.read_text().splitlines()[0] == "x0,x1,x2"
    np.testing.assert_allclose(np.loadtxt(path, delimiter=",", skiprows=1), pts, rtol=1e-6)


def test_generate_to_file_csv_and_png(tmp_path, points_file):
    res = generate_to_file(points_file, 25, 3, tmp_path / "out.csv")
    rows = np.loadtxt(res.path, delimiter=",", skiprows=1)
    assert res.format == "csv" and rows.shape == (25, 2)
    np.testing.assert_allclose(rows, load_model(points_file).generate(25, seed=3), rtol=1e-6, atol=1e-6)
    img_file = tmp_path / "img.onnx"
    img_file.write_bytes(image_model())
    res = generate_to_file(img_file, 9, 0, tmp_path / "grid.png")
    assert res.format == "png" and Image.open(res.path).size == (3 * 64 + 4 * 2,) * 2   # 8×8 tiles at 8×
    with pytest.raises(GanError, match="makes points"):
        generate_to_file(points_file, 5, 0, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_model_card_contents_and_snippet_runs(tmp_path, points_file, monkeypatch):
    card = model_card(load_model(points_file).metadata)
    for text in ("ring8", "1200", "-1.3712", "minimax", "standard normal", "| Latent size | 3 |",
                 "python -m gan_core generate generator.onnx"):
        assert text in card
    code = card.split("```python\n")[1].split("```")[0]
    assert len(code.strip().splitlines()) == 6
    (tmp_path / "generator.onnx").write_bytes(points_file.read_bytes())
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(code, scope)   # the card's own snippet reproduces gan_core's samples for seed 0
    np.testing.assert_allclose(scope["x"], load_model(points_file).generate(16, seed=0), atol=1e-6)
    assert "Final value estimate" not in model_card({"dataset": "digits"})


def test_share_package(points_file):
    data = share_package(points_file)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["MODEL_CARD.md", "generator.onnx"]
        assert zf.read("generator.onnx") == points_file.read_bytes()
        assert "ring8" in zf.read("MODEL_CARD.md").decode()
    assert load_model(data).latent_dim == D   # the package itself can be loaded back


def _bad_models():
    valid = points_model(META)
    two = _model([helper.make_node("Add", ["z", "y"], ["x"])], [_z(), _z(name="y")],
                 helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", D]))
    rank3 = _model([helper.make_node("Identity", ["z"], ["x"])],
                   [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2, D])],
                   helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, D]))
    ints = _model([helper.make_node("Cast", ["z"], ["x"], to=TensorProto.FLOAT)], [_z(dtype=TensorProto.INT64)],
                  helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", D]))
    out3 = _model([helper.make_node("Unsqueeze", ["z", "ax"], ["x"])], [_z()],
                  helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", D, 1]),
                  [("ax", np.array([2], np.int64))])
    return {
        "random bytes": (np.random.default_rng(0).bytes(5000), "not an ONNX model file"),
        "truncated": (valid[: len(valid) // 2], "truncated"),
        "empty": (b"", "empty"),
        "two inputs": (two, "has 2 inputs"),
        "input rank 3": (rank3, "rank 3"),
        "int input": (ints, "expected float32"),
        "output rank 3": (out3, "expected points"),
        "bad latent_dim": (points_model({"latent_dim": "five"}), "invalid latent_dim"),
        "latent_dim mismatch": (points_model({"latent_dim": "7"}), "latent_dim=7"),
        "zip without model": (_zip_of({"notes.txt": b"hi"}), "zip archive"),
    }


def _zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("case", list(_bad_models()))
def test_bad_model_files_are_refused_with_one_line(tmp_path, case):
    data, expected = _bad_models()[case]
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert expected in message and "\n" not in message and len(message) < 300


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "nope.onnx")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_output_is_refused(value):
    w = W.copy()
    w[0, 0] = value
    model = load_model(points_model(META, w=w))   # structurally fine, so it loads...
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        model.generate(10)                          # ...but its samples are refused


def _run_python(code, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_generation_works_with_torch_unavailable(tmp_path, points_file):
    code = ("import sys, json\nsys.modules['torch'] = None\n"   # `import torch` now raises ImportError
            "import gan_core.share.generation as g\nimport gan_core.share.outputs as o\n"
            f"res = o.generate_to_file({str(points_file)!r}, 8, 11, 'out.csv')\n"
            "print(json.dumps({'format': res.format, 'x': g.load_model(%r).generate(8, seed=11).tolist()}))"
            % str(points_file))
    out = json.loads(_run_python(code, tmp_path))
    assert out["format"] == "csv" and (tmp_path / "out.csv").exists()
    np.testing.assert_allclose(out["x"], sample_latents(8, D, "normal", 11) @ W + B, atol=1e-5)


def test_importing_generation_does_not_import_torch(tmp_path):
    out = _run_python("import sys, gan_core.share.generation, gan_core.share.outputs\n"
                      "print('torch' in sys.modules)", tmp_path)
    assert out.strip() == "False"
