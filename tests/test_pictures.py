"""IDX files and the built-in picture sets (fashion, mnist): strict reading, where files are found, the
checked download (with a fake opener: tests never download), and their place among the datasets."""
import gzip
import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest

from gan_core.config import TrainConfig
from gan_core.data import pictures
from gan_core.data.datasets import builtin, load_dataset
from gan_core.data.idx import read_idx, write_idx
from gan_core.data.uploads import load_file
from gan_core.errors import DataError

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def small_set(folder: Path, n_train=60, n_test=20, gz=True, seed=0) -> Path:
    """Four IDX files of a tiny picture set: class c is a bright 4×4 square at one of 10 places."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % 10
        x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        for i, c in enumerate(y):
            r, col = divmod(int(c), 5)
            x[i, 4 + 10 * r:8 + 10 * r, 2 + 5 * col:6 + 5 * col] = 250
        ext = ".gz" if gz else ""
        write_idx(folder / f"{split}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte{ext}", y.astype(np.uint8))
    return folder


@pytest.fixture
def no_system_copy(tmp_path, monkeypatch):
    """A machine with nothing: empty data and cache folders, no system copy, no download."""
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GAN_NO_DOWNLOAD", raising=False)
    for name, s in pictures.PICTURE_SETS.items():
        monkeypatch.setitem(pictures.PICTURE_SETS, name, pictures.PictureSet(
            s.name, s.title, s.urls, s.sha256, (), s.apt_package, s.class_names))
    return tmp_path


# --- IDX ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a-ubyte", "a-ubyte.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    a = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    b = read_idx(write_idx(tmp_path / name, a))
    assert b.dtype == np.dtype(dtype) and b.shape == (2, 3, 5) and (a == b).all()
    assert read_idx((tmp_path / name).read_bytes()).shape == (2, 3, 5)   # bytes as well as paths


def test_idx_is_big_endian_as_specified(tmp_path):
    raw = bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 2) + struct.pack(">2h", 258, -2)
    assert read_idx(raw).tolist() == [258, -2]


def _idx(code=0x08, dims=(2, 3), payload=None):
    body = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    return body + (bytes(int(np.prod(dims))) if payload is None else payload)


@pytest.mark.parametrize("raw,match", [
    (b"\x01\x00\x08\x01" + bytes(8), "not an IDX file"),
    (_idx(code=0x07), "unknown IDX type code 0x07"),
    (bytes([0, 0, 8, 0]), "0 dimensions"),
    (bytes([0, 0, 8, 9]) + bytes(36), "9 dimensions"),
    (bytes([0, 0, 8, 3, 0, 0]), "ends inside its IDX header"),
    (_idx(payload=bytes(5)), "holds only 5 bytes"),
    (_idx(payload=bytes(7)), "holds more bytes"),
    (b"", "empty"),
])
def test_idx_refuses_malformed_files(raw, match):
    with pytest.raises(DataError, match=match) as e:
        read_idx(raw, "x-ubyte")
    assert "\n" not in str(e.value)


def test_idx_refuses_a_declared_size_over_the_limit_before_reading():
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3I", 100_000, 1000, 1000)   # 100 GB declared, 16 bytes given
    with pytest.raises(DataError, match="at most 512 MB"):
        read_idx(raw, "x-ubyte")


def test_idx_gzip_bomb_is_read_no_further_than_the_limit(monkeypatch):
    # 1 MB of zeros declared as 1,000 values: the reader stops one byte past the declared payload
    bomb = gzip.compress(_idx(dims=(1000,), payload=bytes(1 << 20)))
    reads = []
    real = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, n=-1: reads.append(n) or real(self, n))
    with pytest.raises(DataError, match="holds more bytes"):
        read_idx(bomb, "bomb-ubyte.gz")
    assert -1 not in reads and max(reads) == 1001


def test_idx_refuses_a_file_over_the_size_limit(tmp_path):
    p = write_idx(tmp_path / "x-ubyte", np.zeros(100, np.uint8))
    with pytest.raises(DataError, match="at most 50 bytes"):
        read_idx(p, max_file=50)
    with pytest.raises(DataError, match="at most 64 bytes"):
        read_idx(p, max_payload=64)


def test_idx_refuses_a_broken_gzip():
    raw = gzip.compress(_idx())
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_idx(raw[:-12] + b"garbage-tail", "x-ubyte.gz")


# --- uploads -----------------------------------------------------------------------------------

def test_uploads_read_idx_images_and_points(tmp_path):
    small_set(tmp_path / "set")
    ds = load_file(tmp_path / "set" / "train-images-idx3-ubyte.gz", image_size=16)
    assert ds.kind == "image" and ds.data.shape == (60, 1, 16, 16) and 0 <= ds.data.min() and ds.data.max() <= 1
    pts = load_file(write_idx(tmp_path / "p-ubyte", np.arange(12, dtype=np.float32).reshape(6, 2)))
    assert pts.kind == "points" and pts.data.shape == (6, 2)


def test_uploads_refuse_an_idx_file_over_the_upload_limit(tmp_path, monkeypatch):
    from gan_core.data import uploads
    monkeypatch.setattr(uploads, "MAX_FILE_BYTES", 100)
    p = write_idx(tmp_path / "big-ubyte", np.zeros(200, np.uint8))
    with pytest.raises(DataError, match="at most 100 bytes"):
        load_file(p)


def test_uploaded_idx_file_object(tmp_path):
    raw = write_idx(tmp_path / "x-ubyte.gz", np.full((3, 8, 8), 255, np.uint8)).read_bytes()
    ds = load_file(io.BytesIO(raw), "x-ubyte.gz", image_size=8)
    assert ds.data.shape == (3, 1, 8, 8) and ds.data.min() == 1.0


# --- picture sets ------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_load_split_from_gan_data_dir(no_system_copy, gz):
    small_set(no_system_copy / "data" / "mnist", gz=gz)
    x, y = pictures.load_split("mnist", "train")
    assert x.shape == (60, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.max() == pytest.approx(250 / 255) and y.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert pictures.load_split("mnist", "test")[0].shape == (20, 1, 28, 28)


def test_search_order_data_dir_then_cache(no_system_copy):
    small_set(no_system_copy / "cache" / "data" / "mnist", n_train=30)
    assert len(pictures.load_split("mnist", "train")[0]) == 30
    small_set(no_system_copy / "data" / "mnist", n_train=40)
    assert len(pictures.load_split("mnist", "train")[0]) == 40


def test_load_split_refuses_bad_labels(no_system_copy):
    d = small_set(no_system_copy / "data" / "mnist")
    write_idx(d / "train-labels-idx1-ubyte.gz", np.full(60, 10, np.uint8))
    with pytest.raises(DataError, match="labels must lie in 0…9"):
        pictures.load_split("mnist", "train")
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(59, np.uint8))
    with pytest.raises(DataError, match="one per image"):
        pictures.load_split("mnist", "train")


def test_without_files_or_network_one_line_says_how_to_get_them(no_system_copy):
    def offline(url, timeout=None):
        raise OSError("Name or service not known")
    with pytest.raises(DataError) as e:
        pictures.load_split("fashion", "train", opener=offline)
    msg = str(e.value)
    assert "\n" not in msg and "apt install dataset-fashion-mnist" in msg and "GAN_DATA_DIR" in msg
    assert "Name or service not known" in msg
    assert not any((no_system_copy / "cache").rglob("*-ubyte*"))


def test_no_download_when_told_not_to(no_system_copy, monkeypatch):
    monkeypatch.setenv("GAN_NO_DOWNLOAD", "1")
    called = []
    with pytest.raises(DataError, match="MNIST is not on this machine"):
        pictures.load_split("mnist", "test", opener=lambda *a, **k: called.append(a))
    assert called == []


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def _serving(files: dict, log: list):
    def opener(url, timeout=None):
        log.append(url)
        return FakeResponse(files[url.rsplit("/", 1)[1]])
    return opener


def test_download_checks_the_pinned_sums_then_loads(no_system_copy, monkeypatch):
    d = small_set(no_system_copy / "served")
    files = {p.name: p.read_bytes() for p in d.iterdir()}
    s = pictures.PICTURE_SETS["mnist"]
    monkeypatch.setitem(pictures.PICTURE_SETS, "mnist", pictures.PictureSet(
        s.name, s.title, s.urls, {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}))
    log = []
    x, y = pictures.load_split("mnist", "train", opener=_serving(files, log))
    assert len(x) == 60 and len(log) == 4 and log[0].startswith(s.urls[0])
    cached = no_system_copy / "cache" / "data" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(files)
    assert [p.name for p in cached.parent.iterdir()] == ["mnist"]   # no temporary folder left


def test_download_refuses_a_wrong_checksum_and_leaves_nothing(no_system_copy):
    d = small_set(no_system_copy / "served")
    files = {p.name: p.read_bytes() for p in d.iterdir()}   # not the real MNIST: the pinned sums differ
    log = []
    with pytest.raises(DataError, match="is not the published") as e:
        pictures.load_split("mnist", "train", opener=_serving(files, log))
    assert "\n" not in str(e.value)
    assert len(log) == len(pictures.PICTURE_SETS["mnist"].urls)   # every location tried for the first file
    cache = no_system_copy / "cache"
    assert [p for p in cache.rglob("*") if p.is_file()] == []
    assert not (cache / "data" / "mnist").exists()


def test_download_refuses_an_oversized_answer(no_system_copy, monkeypatch):
    monkeypatch.setattr(pictures, "MAX_DOWNLOAD_BYTES", 1000)
    with pytest.raises(DataError, match="more than 0 MB"):
        pictures.download("mnist", opener=lambda url, timeout=None: FakeResponse(bytes(5000)))
    assert not any((no_system_copy / "cache").rglob("*-ubyte*"))


def test_pinned_sums_are_sha256_of_the_published_files():
    for s in pictures.PICTURE_SETS.values():
        assert sorted(s.sha256) == sorted(f"{f}.gz" for pair in pictures.FILES.values() for f in pair)
        assert all(len(v) == 64 and int(v, 16) >= 0 for v in s.sha256.values())


# --- datasets ----------------------------------------------------------------------------------

def test_mnist_is_a_builtin_image_dataset_at_28(no_system_copy):
    small_set(no_system_copy / "data" / "mnist")
    cfg = TrainConfig(dataset="mnist").resolved().validate()
    assert cfg.image_size == 28 and cfg.is_builtin
    ds = load_dataset(cfg)
    assert ds.kind == "image" and ds.sample_shape == (1, 28, 28) and ds.data.shape == (60, 1, 28, 28)
    assert ds.labels.tolist() == [i % 10 for i in range(60)]


def test_pack_is_refused_for_pictures():
    from gan_core.errors import ConfigError
    with pytest.raises(ConfigError, match="images train with pack 1"):
        TrainConfig(dataset="fashion", pack=2, batch_size=64).resolved().validate()


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_from_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    monkeypatch.setenv("GAN_NO_DOWNLOAD", "1")
    ds = builtin("fashion")
    assert ds.data.shape == (60000, 1, 28, 28) and np.bincount(ds.labels).tolist() == [6000] * 10
    x, y = pictures.load_split("fashion", "test")
    assert x.shape == (10000, 1, 28, 28) and 0 == x.min() and x.max() == 1


def test_an_idx_path_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    """IDX files are read by the same bounded reader as every user file: a FIFO never blocks it."""
    import os

    from gan_core.data.idx import read_idx
    from gan_core.errors import DataError
    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        read_idx(fifo, "train-images-idx3-ubyte")
