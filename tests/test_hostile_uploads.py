"""Hostile and careless uploads (issue 15): zip and image bombs, CSV and arrays, each refused or handled in one
line within bounded memory and time, nothing lost; the bombs (slow) measured in a child process: peak memory
(ru_maxrss, the child and its trial process) and wall time (tests/support/hostile.py builds every file).
"""
import io
import struct
import time
import zipfile

import numpy as np
import pytest
from support.hostile import (
    Upload,
    bomb_cases,
    measure,
    one_line,
    png,
    png_bomb,
    zeros_zip,
    zip_of,
)

from gan_core.data import uploads as gdata
from gan_core.data.uploads import load_file
from gan_core.errors import DataError, GanError

# --- zip and image bombs ---------------------------------------------------------------------------

def test_zip_entry_larger_than_the_limit_is_refused_from_its_header(monkeypatch):
    monkeypatch.setattr(gdata, "MAX_ENTRY_BYTES", 1 << 20)
    with pytest.raises(DataError) as e:
        load_file(Upload(zeros_zip("a.png", 3 << 20), "a.zip"), "a.zip")
    assert "a.png unpacks to 3 MB; at most 1 MB per image" in one_line(e)


def test_total_uncompressed_size_is_bounded(monkeypatch):
    monkeypatch.setattr(gdata, "MAX_TOTAL_BYTES", 2000)
    z = zip_of({f"{i}.png": png((30, 30), value=i) + bytes(600) for i in range(5)})
    with pytest.raises(DataError, match="unpack to more than"):
        load_file(Upload(z, "a.zip"), "a.zip")


def test_png_bomb_is_refused_before_decoding():
    bomb = png_bomb(8000, 6000)   # 48 million pixels in a few KB
    t0 = time.monotonic()
    with pytest.raises(DataError) as e:
        load_file(Upload(zip_of({"ok.png": png(), "bomb.png": bomb}), "b.zip"), "b.zip")
    assert "bomb.png is 8000×6000 pixels; at most 40 million per image" in one_line(e)
    assert time.monotonic() - t0 < 2.0   # decoding 48 MB of pixels would take longer than reading a header


def test_pixels_of_all_images_together_are_bounded(monkeypatch):
    monkeypatch.setattr(gdata, "MAX_TOTAL_PIXELS", 5000)
    with pytest.raises(DataError, match="more than 0 million pixels in all"):
        load_file(Upload(zip_of({f"{i}.png": png((50, 50)) for i in range(3)}), "c.zip"), "c.zip")


def test_entry_and_image_counts_are_bounded(monkeypatch):
    monkeypatch.setattr(gdata, "MAX_ZIP_ENTRIES", 10)
    with pytest.raises(DataError, match="the zip holds 11 entries; at most 10"):
        load_file(Upload(zip_of({f"{i}.txt": b"x" for i in range(11)}), "d.zip"), "d.zip")
    monkeypatch.setattr(gdata, "MAX_ZIP_ENTRIES", 100)
    monkeypatch.setattr(gdata, "MAX_IMAGES", 3)
    with pytest.raises(DataError, match="4 images; at most 3"):
        load_file(Upload(zip_of({f"{i}.png": png() for i in range(4)}), "d.zip"), "d.zip")


def test_dataset_size_in_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(gdata, "MAX_DATA_BYTES", 3 * 3 * 16 * 16 * 4)
    z = zip_of({f"{i}.png": png((8, 8), "RGB", (i, 0, 0)) for i in range(5)})
    with pytest.raises(DataError, match="more than 3 images of 3×16×16"):
        load_file(Upload(z, "e.zip"), "e.zip", image_size=16)


def test_images_are_resized_as_they_are_read():
    ds = load_file(Upload(zip_of({"big.png": png((3000, 2000), value=200), "rgb.png": png((5, 7), "RGB", (255, 0, 0))}),
                          "f.zip"), "f.zip", image_size=8)
    assert ds.data.shape == (2, 3, 8, 8) and ds.data.dtype == np.float32
    assert np.allclose(ds.data[0], 200 / 255, atol=1e-6)          # grey repeats into RGB, as PIL's L → RGB
    assert np.allclose(ds.data[1, 0], 1.0) and np.allclose(ds.data[1, 1:], 0.0)


def _patch_method(z: bytes, method: int) -> bytes:
    b = bytearray(z)
    b[8:10] = struct.pack("<H", method)                          # local header
    cd = b.rfind(b"PK\x01\x02")
    b[cd + 10:cd + 12] = struct.pack("<H", method)               # central directory
    return bytes(b)


def _encrypted_zip() -> bytes:
    """The 'encrypted' flag set in both headers (zipfile cannot write encrypted entries)."""
    b = bytearray(zip_of({"secret.png": png()}, zipfile.ZIP_STORED))
    b[6] |= 0x1                                                  # local header flags
    b[b.rfind(b"PK\x01\x02") + 8] |= 0x1                        # central directory flags
    return bytes(b)


@pytest.mark.parametrize("make, words", [
    (_encrypted_zip, "secret.png is encrypted"),
    (lambda: zip_of({"a.png": png()}, zipfile.ZIP_BZIP2), "a.png uses compression method 12"),
    (lambda: _patch_method(zip_of({"a.png": png()}, zipfile.ZIP_STORED), 99), "a.png uses compression method 99"),
])
def test_encrypted_and_unsupported_entries_get_one_line(make, words):
    with pytest.raises(DataError) as e:
        load_file(Upload(make(), "g.zip"), "g.zip")
    assert words in one_line(e)


def test_corrupt_deflate_entry_is_skipped_like_a_broken_image():
    z = bytearray(zip_of({"a.png": png((40, 40), value=7), "b.png": png(value=9)}))
    start = z.find(b"a.png") + len("a.png")                    # a.png's compressed bytes follow its name
    z[start + 5:start + 25] = bytes(range(200, 220))
    ds = load_file(Upload(bytes(z), "h.zip"), "h.zip", image_size=8)
    assert len(ds.data) == 1 and "1 unreadable skipped" in ds.description
    only = bytearray(zip_of({"a.png": png((40, 40), value=7)}))
    start = only.find(b"a.png") + len("a.png")
    only[start + 5:start + 25] = bytes(range(200, 220))
    with pytest.raises(DataError, match=r"no readable image found \(1 image-named files, 1 unreadable\)"):
        load_file(Upload(bytes(only), "h.zip"), "h.zip")


def test_long_upload_name_is_refused_in_one_line(tmp_path):
    from gan_core.runs.transfer import load_upload
    with pytest.raises(GanError) as e:
        load_upload(Upload(b"x,y\n1,2\n", "a" * 250 + ".csv"), root=tmp_path)
    assert "the file name is too long (254 characters" in one_line(e)
    assert not (tmp_path / "_uploads").exists()   # nothing saved


def test_bigger_files_than_the_limit_are_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(gdata, "MAX_FILE_BYTES", 100)
    p = tmp_path / "big.csv"
    p.write_text("1,2\n" * 100)
    with pytest.raises(DataError, match="the file is 400 bytes; at most 100 bytes can be loaded"):
        load_file(p, str(p))


# --- CSV and arrays: nothing lost, nothing silently wrong -----------------------------------------------

@pytest.mark.parametrize("text", [
    "\ufeffx,y\n1,2\n3,4\n",                 # byte-order mark
    "\ufeff1,2\n3,4\n",
    '"1","2"\n"3","4"\n',                     # quoted numbers
    "\n\n1,2\n3,4\n",                         # leading blank lines
    "# made by a script\n1,2\n3,4\n",         # a comment line
    "# comment\nx,y\n1,2\n# more\n3,4\n",
])
def test_csv_keeps_every_row(text):
    ds = load_file(Upload(text.encode(), "p.csv"), "p.csv")
    assert ds.data.tolist() == [[1, 2], [3, 4]]


def test_csv_header_narrower_than_rows_is_refused():
    with pytest.raises(DataError) as e:
        load_file(Upload(b"x\n1,2\n3,4\n", "n.csv"), "n.csv")
    assert "the header names 1 columns but rows hold more values" in one_line(e)


@pytest.mark.parametrize("make, name, words", [
    (lambda: b"x,y\n1,2\n1e300,4\n", "o.csv", "row 3, column 1 holds 1e+300, beyond the range of 32-bit floats"),
    (lambda: _npy(np.array([[1.0, 1e300]])), "o.npy", "index (0, 1) holds 1e+300"),
    (lambda: _npy(np.array([[1 + 2j, 3]])), "c.npy", "complex numbers"),
    (lambda: _npy(np.array(5.0)), "s.npy", "a single number (0-d)"),
    (lambda: _npz(), "z.npy", ".npz archive (or another zip) named .npy"),
    (lambda: _npy(np.array([[True, False]])), "b.npy", "holds bool, not numbers"),
])
def test_arrays_that_would_be_silently_wrong_are_refused(make, name, words):
    with pytest.raises(DataError) as e:
        load_file(Upload(make(), name), name)
    assert words in one_line(e)


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _npz() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.zeros((1000, 1000)))
    return buf.getvalue()


def test_sixteen_bit_images_and_arrays_keep_their_values():
    from PIL import Image
    half = np.full((8, 8), 32768, np.uint16)
    buf = io.BytesIO()
    Image.fromarray(half).save(buf, format="PNG")
    assert Image.open(io.BytesIO(buf.getvalue())).mode.startswith("I")
    ds = load_file(Upload(zip_of({"a.png": buf.getvalue()}), "i.zip"), "i.zip", image_size=8)
    assert np.allclose(ds.data, 32768 / 65535, atol=1e-4)            # not 1.0 (white)
    arr = load_file(Upload(_npy(np.stack([half, half // 2])), "u.npy"), "u.npy", image_size=8)
    assert np.allclose(arr.data[0], 32768 / 65535, atol=1e-4) and np.allclose(arr.data[1], 16384 / 65535, atol=1e-4)


# --- the bombs, measured: peak memory and time of a child process --------------------------------------

@pytest.fixture(scope="module")
def bomb_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("bombs")


@pytest.mark.slow
@pytest.mark.parametrize("case", [
    "zip: one 2.2 GB entry (2.1 MB zip)", "zip: 3 PNGs of 12000×12000 RGB (3 KB zip)",
    "zip: 100,000 PNGs of 1×1 (16 MB zip)", "zip: 60,000 PNGs of 1×1 (MNIST-sized, 10 MB zip)",
    "share zip: 1.5 GB generator.onnx (1.5 MB)", "onnx: ConvTranspose to 40000×40000 (allowed ops)"])
def test_bombs_stay_within_1_gb_and_20_s(bomb_folder, case):
    code, words = bomb_cases(bomb_folder, case)[case]
    r = measure(code)
    assert r["rc"] == 0 and words in r["last"], r
    assert r["peak_mb"] < 1024 and r["wall_s"] < 20, r
