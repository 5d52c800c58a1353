"""Untrusted ONNX models (issue 15): checked before they run, their trial run bounded in memory and time,
generation bounded before allocating; the project's own exports pass the checks.
"""
import time

import pytest
from support.hostile import (
    batch_ignoring_model,
    constant_of_shape_model,
    conv_transpose_bomb,
    identity_model,
    loop_model,
    one_line,
    onnx_model,
    points_model,
    slow_model,
    value_shaped_model,
    vi,
    zeros_zip,
)

from gan_core.config import TrainConfig
from gan_core.errors import ConfigError, ModelFileError
from gan_core.share import generation, onnx_check

# --- untrusted models ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make, words", [
    (constant_of_shape_model, "uses the operator ConstantOfShape"),
    (loop_model, "uses the operator Loop"),
    (value_shaped_model, "shape input of a Reshape node depends on the latent values"),
    (lambda: identity_model(500_000), "latent_dim=500,000 in its metadata; expected 1 … 65,536"),
    (lambda: identity_model(10 ** 8), "latent_dim=100,000,000"),
    (lambda: points_model(output_shape="[100000, 100000]"), "makes samples of 10,000,000,000 values"),
])
def test_models_are_checked_before_running(make, words):
    t0 = time.monotonic()
    with pytest.raises(ModelFileError) as e:
        generation.load_model(make())
    assert words in one_line(e) and time.monotonic() - t0 < 2.0   # static: refused without a trial run


def test_custom_domains_and_local_functions_are_refused():
    from onnx import helper
    custom = onnx_model([helper.make_node("Evil", ["z"], ["x"], domain="com.example")],
                        [vi("z", ["batch", 2])], [vi("x", ["batch", 2])])
    with pytest.raises(ModelFileError, match="domain 'com.example'"):
        generation.load_model(custom)
    fn = helper.make_function("local", "F", ["a"], ["b"], [helper.make_node("Identity", ["a"], ["b"])],
                              [helper.make_opsetid("", 17)])
    with pytest.raises(ModelFileError, match="local functions"):
        generation.load_model(onnx_model([helper.make_node("F", ["z"], ["x"], domain="local")],
                                         [vi("z", ["batch", 2])], [vi("x", ["batch", 2])], functions=[fn]))


def test_model_whose_output_ignores_the_batch_is_refused():
    with pytest.raises(ModelFileError) as e:
        generation.load_model(batch_ignoring_model())
    assert "a batch of 1024 latents gave shape [1, 2]" in one_line(e)


def test_trial_run_bounds_memory():
    t0 = time.monotonic()
    with pytest.raises(ModelFileError) as e:
        generation.load_model(conv_transpose_bomb())       # 6.4 GB at batch 1 if it ran here
    assert "memory" in one_line(e) and time.monotonic() - t0 < 20


def test_trial_run_bounds_time(monkeypatch):
    monkeypatch.setattr(generation, "PROBE_TIMEOUT_S", 2.0)
    t0 = time.monotonic()
    with pytest.raises(ModelFileError) as e:
        generation.load_model(slow_model())
    assert "did not finish a trial run in 2 s" in one_line(e) and time.monotonic() - t0 < 10


def test_generation_size_is_bounded_before_allocating():
    m = generation.load_model(points_model(latent_dim=2))
    with pytest.raises(ConfigError) as e:
        m.generate(10 ** 9)
    assert "too many at once; at most 16,777,216 for this model" in one_line(e)
    assert m.generate(3000).shape == (3000, 2) and m.max_batch == 1024   # chunked, never above the trial batch


def test_share_zip_with_a_huge_model_is_refused_from_its_header(monkeypatch):
    monkeypatch.setattr(generation, "MAX_MODEL_BYTES", 1 << 20)
    with pytest.raises(ModelFileError) as e:
        generation.load_model(zeros_zip("generator.onnx", 3 << 20))
    assert "generator.onnx unpacks to 3 MB; a generator file may be at most 1 MB" in one_line(e)
    big = points_model(latent_dim=2) + bytes(2 << 20)
    with pytest.raises(ModelFileError, match="is 2 MB; a generator file may be at most 1 MB"):
        generation.load_model(big)


def test_exported_ring8_and_digits_models_pass_the_checks(tmp_path):
    import onnx

    from gan_core.data.datasets import builtin
    from gan_core.engine.models import DataSpace, build_models
    from gan_core.share.export import export_generator
    for name in ("ring8", "digits"):
        cfg = TrainConfig(dataset=name).resolved()
        ds = builtin(name)
        G, _ = build_models(cfg, ds)
        path = tmp_path / f"{name}.onnx"
        export_generator(DataSpace(G, ds.kind), path, latent_dim=cfg.latent_dim, metadata={"prior": cfg.prior},
                         n_check=8)
        ops = {n.op_type for n in onnx.load(path).graph.node}
        assert ops <= onnx_check.ALLOWED_OPS, ops - onnx_check.ALLOWED_OPS
        m = generation.load_model(path)
        assert m.generate(5, seed=1).shape == (5, *ds.sample_shape)
