"""Mode coverage on ring8 and the classifier-based digit scores."""

import numpy as np
import pytest

from gan_core.theory.quality import DigitsScorer, mode_quality

STD = 0.02


def ring8():
    angles = 2 * np.pi * np.arange(8) / 8
    return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_all_modes_covered():
    rng = np.random.default_rng(0)
    x = ring8()[rng.integers(0, 8, 2500)] + STD * rng.standard_normal((2500, 2))
    q = mode_quality(x, ring8(), STD)
    assert q.modes_covered == 8 and q.n_modes == 8
    # within 3 std in 2-D: P(chi2_2 <= 9) = 1 - exp(-4.5) = 0.9889
    assert abs(q.high_quality_fraction - (1 - np.exp(-4.5))) < 0.01
    assert sum(q.per_mode) == round(q.high_quality_fraction * 2500)


def test_collapsed_onto_one_mode():
    rng = np.random.default_rng(1)
    x = ring8()[3] + STD * rng.standard_normal((2500, 2))
    q = mode_quality(x, ring8(), STD)
    assert q.modes_covered == 1
    assert q.per_mode[3] > 2400 and sum(q.per_mode) == q.per_mode[3]


def test_points_off_every_mode():
    q = mode_quality(np.zeros((2500, 2)), ring8(), STD)
    assert q.modes_covered == 0 and q.high_quality_fraction == 0.0
    # just outside 3 std of a centre is not high quality; just inside is
    c = ring8()[0]
    assert mode_quality(c + [[3.01 * STD, 0.0]], ring8(), STD).high_quality_fraction == 0.0
    assert mode_quality(c + [[2.99 * STD, 0.0]], ring8(), STD).high_quality_fraction == 1.0


def test_known_mixture_and_coverage_threshold():
    c = ring8()
    # 20 of 2,500 on mode 0 (exactly 0.8 %: covered), 19 on mode 1 (not), 961 on mode 2,
    # the rest (1,500) at the origin, plus NaN rows that must count as low quality
    x = np.concatenate([np.repeat(c[[0]], 20, 0), np.repeat(c[[1]], 19, 0),
                        np.repeat(c[[2]], 961, 0), np.zeros((1490, 2)), np.full((10, 2), np.nan)])
    q = mode_quality(x, c, STD)
    assert q.modes_covered == 2
    assert q.per_mode[:3] == [20, 19, 961]
    assert q.high_quality_fraction == pytest.approx(1000 / 2500)
    assert q.as_dict()["modes_covered"] == 2


def test_one_dimensional_mixture():
    x = np.random.default_rng(2).normal(4.0, 0.5, 1000)
    q = mode_quality(x, [4.0], 0.5)
    assert q.modes_covered == 1 and abs(q.high_quality_fraction - 0.9973) < 0.01


# ---------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("scorer_cache")


@pytest.fixture(scope="module")
def scorer(cache_dir):
    return DigitsScorer(cache_dir)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).reshape(-1, 1, 8, 8), d.target


def test_scorer_trains_and_caches(scorer, cache_dir, digits):
    assert scorer.trained_now and scorer.test_accuracy > 0.95
    assert scorer.cache_path.exists() and scorer.cache_path.parent == cache_dir
    assert not list(cache_dir.glob("*.tmp"))  # atomic write left no temp file behind
    again = DigitsScorer(cache_dir)
    assert not again.trained_now and again.test_accuracy == scorer.test_accuracy
    x = digits[0][:50]
    assert np.array_equal(again.predict_proba(x), scorer.predict_proba(x))


def test_corrupt_cache_is_retrained(tmp_path, scorer, monkeypatch):
    path = tmp_path / scorer.cache_path.name
    path.write_bytes(b"not a pickle")
    calls = []
    real_state = DigitsScorer(scorer.cache_dir)._read_cache()  # a valid state, no training

    def fake_train():  # training itself is covered above; here only the cache logic
        calls.append(1)
        return real_state

    monkeypatch.setattr(DigitsScorer, "_train", staticmethod(fake_train))
    fresh = DigitsScorer(tmp_path)
    assert fresh.trained_now and calls == [1]
    assert fresh.test_accuracy == scorer.test_accuracy
    again = DigitsScorer(tmp_path)
    assert not again.trained_now and calls == [1]  # the bad file was replaced by a good one


def test_real_digits_score_high(scorer, digits):
    images = digits[0]
    assert scorer.classes_covered(images) == 10
    assert scorer.inception_score(images) > 8.0
    assert scorer.inception_score(images) <= 10.0 + 1e-9  # bounded by the number of classes


def test_one_repeated_image_scores_one(scorer, digits):
    images, labels = digits
    p = scorer.predict_proba(images)
    i = int(np.argmax(p.max(axis=1)))  # a confidently classified image
    batch = np.repeat(images[[i]], 200, axis=0)
    assert scorer.classes_covered(batch) == 1
    assert scorer.inception_score(batch) == pytest.approx(1.0, abs=1e-9)
    # only some classes: coverage counts them
    some = images[np.isin(labels, [0, 1, 2])]
    assert scorer.classes_covered(some) == 3
    # blends of a 0 and a 1 are ambiguous: the confidence filter drops most of them
    blend = 0.5 * (images[labels == 0][:100] + images[labels == 1][:100])
    assert scorer.classes_covered(blend, confidence=0.9) < scorer.classes_covered(blend, confidence=0.0)


def test_frechet_distance(scorer, digits):
    images = digits[0]
    perm = np.random.default_rng(0).permutation(len(images))
    a, b = images[perm[:900]], images[perm[900:]]
    real_vs_real = scorer.frechet_distance(a, b)
    noise = np.random.default_rng(1).uniform(size=(1000, 1, 8, 8))
    real_vs_noise = scorer.frechet_distance(images, noise)
    assert real_vs_real < 0.2  # measured 0.064
    assert real_vs_noise > 5.0  # measured 9.9
    assert scorer.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-4)
    # a digit class alone is far from the full set, yet closer than noise
    assert real_vs_real < scorer.frechet_distance(images, images[digits[1] == 3]) < real_vs_noise


def test_cached_classifier_is_plain_arrays_and_matches_sklearn(scorer, cache_dir, digits):
    """The cache is an .npz of weights (loading it runs no code) and its numpy forward pass equals a
    scikit-learn model trained by the same recipe."""
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    from gan_core.theory.quality import _load_digits

    with np.load(scorer.cache_path, allow_pickle=False) as z:  # would raise on pickled objects
        assert int(z["layers"]) == 2
    x, y = _load_digits()
    x_tr, _, y_tr, _ = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-3, max_iter=500, random_state=0).fit(x_tr, y_tr)
    np.testing.assert_allclose(scorer.predict_proba(x[:300]), m.predict_proba(x[:300]), atol=1e-9)
