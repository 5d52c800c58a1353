"""The networks for 28×28 pictures: the paper's MNIST pair (Goodfellow et al. 2014: rectifier G with a sigmoid
output, maxout D with dropout, as goodfeli/adversarial's mnist.yaml), the DCGAN pair at 28, and a tiny
fashion-like run (tests/test_pictures.py's small IDX set) trained, exported and sampled end to end."""
import numpy as np
import pytest
import torch

from gan_core.config import TrainConfig
from gan_core.data.dataset import Dataset
from gan_core.engine import fused
from gan_core.engine.models import (
    DataSpace,
    DCDiscriminator,
    DCGenerator,
    Maxout,
    PaperDiscriminator,
    PaperGenerator,
    build_models,
)
from gan_core.errors import ConfigError
from tests.test_pictures import small_set

SHAPE = (1, 28, 28)


def picture_set(n=40, seed=0) -> Dataset:
    x = np.random.default_rng(seed).random((n, *SHAPE), dtype=np.float32)
    return Dataset("fashion", "image", SHAPE, "random pictures", data=x)


def test_paper_generator_shapes_range_and_sigmoid_bias():
    marginals = np.full(SHAPE, 0.25, np.float32)
    marginals[0, 0, 0] = 0.0   # clipped: the logit stays finite
    torch.manual_seed(0)
    G = PaperGenerator(100, SHAPE, marginals)
    hidden = [m for m in G.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in hidden] == [(100, 1200), (1200, 1200), (1200, 784)]
    assert all(m.weight.abs().max() <= 0.05 for m in hidden)
    bias = hidden[-1].bias.detach()
    assert bias[1].item() == pytest.approx(np.log(0.25 / 0.75), abs=1e-5)
    assert torch.isfinite(bias).all() and bias[0] < -6
    with torch.no_grad():
        x = DataSpace(G, "image")(torch.randn(50, 100))
    assert x.shape == (50, *SHAPE) and x.min() >= 0 and x.max() <= 1
    # with small weights the pictures start near the pixel means (the point of the bias)
    assert abs(x.flatten(1)[:, 1:].mean().item() - 0.25) < 0.02 and x[:, 0, 0, 0].max() < 0.01


def test_maxout_is_the_largest_of_its_pieces():
    m = Maxout(2, units=2, pieces=3)
    with torch.no_grad():
        m.linear.weight.copy_(torch.tensor([[1., 0], [0, 1], [-1, -1], [2, 0], [0, 0], [0, -3]]))
        m.linear.bias.zero_()
    x = torch.tensor([[1., 2.], [-3., 0.5]])
    expected = torch.tensor([[max(1, 2, -3), max(2, 0, -6)], [max(-3, 0.5, 2.5), max(-6, 0, -1.5)]])
    assert torch.equal(m(x), expected)


def test_paper_discriminator_maxout_sizes_and_dropout_only_in_training():
    torch.manual_seed(0)
    D = PaperDiscriminator(SHAPE)
    maxouts = [m for m in D.modules() if isinstance(m, Maxout)]
    assert [(m.linear.in_features, m.units, m.pieces) for m in maxouts] == [(784, 240, 5), (240, 240, 5)]
    assert [m.p for m in D.modules() if isinstance(m, torch.nn.Dropout)] == [0.2, 0.5, 0.5]
    x = torch.rand(8, *SHAPE) * 2 - 1
    D.train()
    assert not torch.equal(D(x), D(x))      # a different dropout mask each pass
    D.eval()
    a, b = D(x), D(x)
    assert a.shape == (8,) and torch.equal(a, b)


def test_build_models_by_arch():
    ds = picture_set()
    cfg = TrainConfig(dataset="fashion", arch="paper", latent_dim=100)
    G, D = build_models(cfg, ds)
    assert isinstance(G, PaperGenerator) and isinstance(D, PaperDiscriminator)
    assert not fused.supports(G, D)          # the paper's nets train on the plain autograd path
    ref = ds.data.mean(0).reshape(-1).clip(1e-3, 1 - 1e-3)
    np.testing.assert_allclose(G.net[-1].bias.detach().numpy(), np.log(ref / (1 - ref)), rtol=1e-5, atol=1e-5)
    G, D = build_models(TrainConfig(dataset="fashion", arch="auto", latent_dim=16), ds)
    assert isinstance(G, DCGenerator) and isinstance(D, DCDiscriminator)
    with torch.no_grad():
        x = G.eval()(torch.randn(3, 16))
        assert x.shape == (3, *SHAPE) and D.eval()(x).shape == (3,)
    points = Dataset("ring", "points", (2,), "points", data=np.zeros((10, 2), np.float32))
    with pytest.raises(ConfigError, match="for images"):
        build_models(TrainConfig(dataset="ring8", arch="paper", latent_dim=2, hidden=8, depth=1), points)


@pytest.mark.parametrize("size, first", [(28, 7), (32, 4), (8, 4)])
def test_dcgan_first_feature_map(size, first):
    G, D = DCGenerator(8, 1, size, base=4), DCDiscriminator(1, size, base=4)
    assert G.s0 == first and D.head.in_features == G.c0 * first * first
    with torch.no_grad():
        assert G.eval()(torch.randn(2, 8)).shape == (2, 1, size, size)


def test_dcgan_refuses_other_sizes():
    with pytest.raises(ValueError, match="28"):
        DCGenerator(8, 1, 24)


# --- a tiny fashion-like run, end to end ----------------------------------------------------------------

@pytest.fixture
def tiny_fashion(tmp_path, monkeypatch):
    """$GAN_DATA_DIR/fashion/ with 120 training and 40 test pictures (tests/test_pictures.py's small set); an
    empty cache (no classifier) and no downloads."""
    small_set(tmp_path / "data" / "fashion", n_train=120, n_test=40)
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_NO_DOWNLOAD", "1")
    return tmp_path


@pytest.mark.parametrize("arch", ["paper", "auto"])
def test_tiny_fashion_run_exports_pictures(tiny_fashion, arch):
    from gan_core.engine.training import train
    from gan_core.share.export import export_run
    from gan_core.share.generation import load_model

    run = tiny_fashion / f"run-{arch}"
    cfg = TrainConfig(dataset="fashion", run_dir=str(run), arch=arch, iterations=6, batch_size=8, latent_dim=12,
                      log_every=2, snapshot_every=3, checkpoint_every=100, export_onnx=False)
    assert train(cfg, progress=False)["state"] == "completed"
    saved = TrainConfig.load(run / "config.json")
    assert saved.arch == arch and saved.image_size == 28
    rep = export_run(run)
    assert rep.max_abs_diff <= 1e-4
    model = load_model(rep.path)
    assert model.output_kind == "image" and list(model.output_shape) == [1, 28, 28]
    x = model.generate(5, seed=3)
    assert x.shape == (5, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    assert not (run / "generator.onnx.data").exists()


def test_snapshots_score_pictures_when_the_classifier_is_cached(tiny_fashion):
    import csv

    from gan_core.engine.training import train
    from gan_core.scores.classifier import train_classifier

    def run(name):
        cfg = TrainConfig(dataset="fashion", run_dir=str(tiny_fashion / name), iterations=6, batch_size=8,
                          latent_dim=8, base_channels=4, log_every=3, snapshot_every=3, checkpoint_every=100,
                          export_onnx=False)
        assert train(cfg, progress=False)["state"] == "completed"
        with open(tiny_fashion / name / "metrics.csv", newline="") as f:
            return list(csv.DictReader(f))

    assert "fid" not in run("no-classifier")[0]   # none cached: no scores, and none trained behind the user's back
    train_classifier("fashion", epochs=1)
    rows = run("with-classifier")
    assert TrainConfig(dataset="fashion", iterations=6, snapshot_every=3).resolved().theory_every == 15
    assert [r["iteration"] for r in rows] == ["3", "6"]
    assert rows[0]["fid"] == ""   # between theory_every's measurements: the snapshot only
    r = rows[1]                   # the last iteration is always measured
    assert float(r["fid"]) > 0 and 0 <= float(r["precision"]) <= 1 and 0 <= float(r["recall"]) <= 1
    assert 0 <= int(float(r["classes_covered"])) <= 10
