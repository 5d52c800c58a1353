"""Hostile and careless inputs (issue 15): every case is refused or handled in one line, within bounded
memory and time, with nothing lost and no code run. Every file is built here; the bombs (slow) are
measured in a child process: peak memory (ru_maxrss, the child and its trial process) and wall time.

`python tests/test_hostile_inputs.py` prints the bomb table (peak memory and time per case).
"""
import errno
import io
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# imported after the sys.path set-up above: the file also runs as a script (`python tests/test_hostile_inputs.py`)
from gan_core import cli  # noqa: E402
from gan_core.config import TrainConfig  # noqa: E402
from gan_core.data import uploads as gdata  # noqa: E402
from gan_core.data.uploads import load_file  # noqa: E402
from gan_core.errors import ConfigError, DataError, GanError, ModelFileError, RunError  # noqa: E402
from gan_core.runs import runlock, store  # noqa: E402
from gan_core.share import generation, onnx_check, outputs  # noqa: E402

GB = 2 ** 30


# --- builders -------------------------------------------------------------------------------------

def zip_of(files: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def zeros_zip(name: str, size: int, chunk: int = 1 << 24) -> bytes:
    """A zip with one deflated entry of `size` zero bytes (zip64 sizes), in about a second for 2 GB:
    one compressed block (full flush: the same bytes for every chunk) repeated, never `size` bytes in memory."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = co.compress(bytes(chunk)) + co.flush(zlib.Z_FULL_FLUSH)
    n, rest = divmod(size, chunk)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = block * n + tail.compress(bytes(rest)) + tail.flush()
    crc, zero = 0, bytes(chunk)
    for _ in range(n):
        crc = zlib.crc32(zero, crc)
    crc = zlib.crc32(bytes(rest), crc) & 0xFFFFFFFF
    fname = name.encode()
    extra = struct.pack("<HHQQ", 1, 16, size, len(stream))
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                        len(fname), len(extra)) + fname + extra
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF,
                          0xFFFFFFFF, len(fname), len(extra), 0, 0, 0, 0, 0) + fname + extra
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(stream), 0)
    return local + stream + central + end


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(w: int, h: int, rgb: bool = False) -> bytes:
    """A valid all-black PNG of w×h pixels, a few KB, built row by row (never w×h bytes in memory)."""
    co, row = zlib.compressobj(9), bytes(w * (3 if rgb else 1) + 1)
    idat = b"".join(co.compress(row) for _ in range(h)) + co.flush()
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2 if rgb else 0, 0, 0, 0))
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def png(size=(8, 8), mode="L", value=128) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new(mode, size, value).save(buf, format="PNG")
    return buf.getvalue()


def tiny_pngs_zip(n: int) -> bytes:
    one, buf = png_bomb(1, 1), io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(n):
            zf.writestr(f"{i}.png", one)
    return buf.getvalue()


def onnx_model(nodes, inputs, outputs, inits=(), metadata=None, opset=17, functions=()):
    from onnx import helper, numpy_helper
    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("local", 1)],
                              ir_version=8, functions=list(functions))
    for k, v in (metadata or {}).items():
        model.metadata_props.add(key=k, value=str(v))
    return model.SerializeToString()


def vi(name, shape, elem=None):
    from onnx import TensorProto, helper
    return helper.make_tensor_value_info(name, elem or TensorProto.FLOAT, shape)


def points_model(**meta):
    from onnx import helper
    return onnx_model([helper.make_node("MatMul", ["z", "W"], ["x"])], [vi("z", ["batch", 2])], [vi("x", ["batch", 2])],
                      [("W", np.eye(2, dtype=np.float32))], meta)


def constant_of_shape_model(n=10 ** 9):
    from onnx import helper
    return onnx_model([helper.make_node("ConstantOfShape", ["shape"], ["big"]),
                       helper.make_node("ReduceMean", ["big"], ["m"], keepdims=1),
                       helper.make_node("Add", ["z", "m"], ["x"])],
                      [vi("z", ["batch", 2])], [vi("x", ["batch", 2])], [("shape", np.array([1, n], np.int64))])


def loop_model(trips=10 ** 12):
    from onnx import TensorProto, helper
    body = helper.make_graph([helper.make_node("Add", ["v_in", "one"], ["v_out"]),
                              helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
                             [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("v_in", [1])],
                             [vi("cond_out", [], TensorProto.BOOL), vi("v_out", [1])],
                             [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
    return onnx_model([helper.make_node("Loop", ["trips", "cond", "v0"], ["v"], body=body),
                       helper.make_node("Add", ["z", "v"], ["x"])],
                      [vi("z", ["batch", 2])], [vi("x", ["batch", 2])],
                      [("trips", np.array(trips, np.int64)), ("cond", np.array(True)), ("v0", np.zeros(1, np.float32))])


def identity_model(latent_dim_meta):
    from onnx import helper
    return onnx_model([helper.make_node("Identity", ["z"], ["x"])], [vi("z", ["batch", "d"])],
                      [vi("x", ["batch", "d"])], metadata={"latent_dim": latent_dim_meta})


def batch_ignoring_model():
    from onnx import helper
    return onnx_model([helper.make_node("ReduceMean", ["z"], ["x"], keepdims=1, axes=[0])],
                      [vi("z", ["batch", 2])], [vi("x", [1, 2])])


def value_shaped_model():
    """Reshape whose target shape is computed from z's values: its cost would not follow the batch."""
    from onnx import TensorProto, helper
    return onnx_model([helper.make_node("Cast", ["z"], ["zi"], to=TensorProto.INT64),
                       helper.make_node("Reshape", ["z", "zi"], ["x"])],
                      [vi("z", ["batch", 2])], [vi("x", ["batch", 2])])


def conv_transpose_bomb(side=40_000):
    """Allowed operators only, but a ConvTranspose told to make a side×side image: 6 GB at batch 1."""
    from onnx import helper
    return onnx_model([helper.make_node("Reshape", ["z", "s"], ["r"]),
                       helper.make_node("ConvTranspose", ["r", "W"], ["x"], output_shape=[side, side],
                                        strides=[side, side])],
                      [vi("z", ["batch", 2])], [vi("x", ["batch", 1, side, side])],
                      [("s", np.array([-1, 2, 1, 1], np.int64)), ("W", np.ones((2, 1, 1, 1), np.float32))])


def slow_model(layers=3000, width=1024):
    """Allowed operators only, but thousands of large MatMuls: seconds per batch."""
    from onnx import helper
    nodes = [helper.make_node("MatMul", ["z", "W0"], ["h0"])]
    nodes += [helper.make_node("MatMul", [f"h{i}", "W"], [f"h{i + 1}"]) for i in range(layers)]
    nodes.append(helper.make_node("MatMul", [f"h{layers}", "W1"], ["x"]))
    rng = np.random.default_rng(0)
    return onnx_model(nodes, [vi("z", ["batch", 2])], [vi("x", ["batch", 2])],
                      [("W0", rng.standard_normal((2, width)).astype(np.float32)),
                       ("W", (rng.standard_normal((width, width)) / width ** 0.5).astype(np.float32)),
                       ("W1", rng.standard_normal((width, 2)).astype(np.float32))])


class Upload(io.BytesIO):
    """What Streamlit's file_uploader hands the pages: bytes with a name."""

    def __init__(self, content: bytes, name: str):
        super().__init__(content)
        self.name = name


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and 0 < len(msg) < 400, msg
    return msg


# --- measured in a child: peak memory and time ------------------------------------------------------

def measure(code: str, cap_bytes: int = 2 * GB, timeout: float = 60.0) -> dict:
    """Run `code` in a fresh interpreter (address space capped so a regression cannot hurt the machine);
    its peak RSS (with its own children, e.g. the model trial) and wall time."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=out, stderr=err,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=limit)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        text = (err.read() + out.read()).decode(errors="replace").strip()
    return {"peak_mb": usage.ru_maxrss / 1024, "wall_s": wall, "rc": proc.returncode,
            "last": text.splitlines()[-1] if text else ""}


def load_upload_code(path: Path, name: str) -> str:
    return ("import io, tempfile\nfrom pathlib import Path\nfrom gan_core.runs.transfer import load_upload\n"
            "from gan_core.errors import GanError\n"
            f"class U(io.BytesIO):\n    name = {name!r}\n"
            f"try:\n    ds, _ = load_upload(U(Path({str(path)!r}).read_bytes()), 32, tempfile.mkdtemp())\n"
            "    print('loaded', ds.description)\n"
            "except GanError as e:\n    print('refused:', e)\n")


def load_model_code(path: Path, n: int = 1000) -> str:
    return ("from gan_core.share.generation import load_model\nfrom gan_core.errors import GanError\n"
            f"try:\n    print('made', load_model({str(path)!r}).generate({n}).shape)\n"
            "except GanError as e:\n    print('refused:', e)\n")


def bomb_cases(folder: Path, only=None) -> dict:
    """name → (code to run, words expected on its last line); the files are written into folder."""
    files = {
        "zip: one 2.2 GB entry (2.1 MB zip)": ("huge_entry.zip", lambda: zeros_zip("big.png", 2_200_000_000)),
        "zip: 3 PNGs of 12000×12000 RGB (3 KB zip)": ("pngs.zip", lambda: zip_of(
            {f"{c}.png": png_bomb(12000, 12000, rgb=True) for c in "abc"})),
        "zip: 100,000 PNGs of 1×1 (16 MB zip)": ("tiny100k.zip", lambda: tiny_pngs_zip(100_000)),
        "zip: 60,000 PNGs of 1×1 (MNIST-sized, 10 MB zip)": ("tiny60k.zip", lambda: tiny_pngs_zip(60_000)),
        "share zip: 1.5 GB generator.onnx (1.5 MB)": ("share.zip", lambda: zeros_zip("generator.onnx", 1_500_000_000)),
        "onnx: ConstantOfShape [1, 1e9] (183 B)": ("cos.onnx", constant_of_shape_model),
        "onnx: Loop of 1e12 iterations (348 B)": ("loop.onnx", loop_model),
        "onnx: latent_dim 500000, n = 1000": ("lat500k.onnx", lambda: identity_model(500_000)),
        "onnx: latent_dim 1e8, n = 1000": ("lat1e8.onnx", lambda: identity_model(10 ** 8)),
        "onnx: ConvTranspose to 40000×40000 (allowed ops)": ("convt.onnx", conv_transpose_bomb),
    }
    expect = {"huge_entry.zip": "refused: huge_entry.zip: big.png unpacks to", "pngs.zip": "million per image",
              "tiny100k.zip": "at most 60,000", "tiny60k.zip": "loaded 60000 images",
              "share.zip": "unpacks to 1,431 MB", "cos.onnx": "ConstantOfShape", "loop.onnx": "Loop",
              "lat500k.onnx": "latent_dim=500,000", "lat1e8.onnx": "latent_dim=100,000,000",
              "convt.onnx": "memory"}
    out = {}
    for case, (fname, build) in files.items():
        if only is not None and case != only:
            continue
        path = folder / fname
        if not path.exists():
            path.write_bytes(build())
        code = load_upload_code(path, fname) if fname.endswith(".zip") and fname != "share.zip" \
            else load_model_code(path)
        out[case] = (code, expect[fname])
    return out


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


# --- checkpoints carry data, never code --------------------------------------------------------------

class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {tempfile.gettempdir()}/gan_pwned_{os.getpid()}",))


def test_crafted_checkpoint_is_refused_and_runs_no_code(tmp_path):
    import torch

    from gan_core.engine.checkpoint import load_checkpoint
    marker = Path(tempfile.gettempdir()) / f"gan_pwned_{os.getpid()}"
    (tmp_path / "checkpoints").mkdir()
    torch.save({"G": _Evil(), "iteration": 1}, tmp_path / "checkpoints" / "last.pt")
    with pytest.raises(RunError) as e:
        load_checkpoint(tmp_path)
    assert "holds objects other than tensors and numbers" in one_line(e)
    assert not marker.exists()


def test_everything_training_saves_loads_with_weights_only(tmp_path):
    import torch

    from gan_core.engine.checkpoint import plain_state
    from gan_core.engine.training import train
    for opt in ("adam", "sgd"):
        cfg = TrainConfig(dataset="ring8", run_dir=str(tmp_path / opt), iterations=20, hidden=16, depth=2,
                          batch_size=32, log_every=10, checkpoint_every=10, snapshot_every=10, snapshot_samples=100,
                          optimizer=opt, export_onnx=False)
        train(cfg)
        ck = torch.load(tmp_path / opt / "checkpoints" / "last.pt", weights_only=True)
        assert ck["iteration"] == 20 and isinstance(ck["rng"], torch.Tensor) and ck["settings"]["lr_d"] > 0
    assert isinstance(plain_state({"a": np.arange(3)})["a"], torch.Tensor)
    assert plain_state([np.float32(2.5)]) == [2.5]
    with pytest.raises(TypeError, match="holds a _Evil"):
        plain_state({"x": _Evil()})


# --- one writer per run ---------------------------------------------------------------------------

def _hold_lock_in_child(run_dir: Path) -> subprocess.Popen:
    code = (f"from gan_core.runs import runlock; import sys, time\nlk = runlock.acquire({str(run_dir)!r})\n"
            "print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_names_its_holder_and_dies_with_it(tmp_path):
    run = tmp_path / "run"
    proc = _hold_lock_in_child(run)
    try:
        assert runlock.is_locked(run) and runlock.holder(run) == proc.pid
        with pytest.raises(RunError) as e:
            runlock.acquire(run, wait_s=0.2)
        assert f"is being trained by process {proc.pid}" in one_line(e)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not runlock.is_locked(run)            # no stale lock after a SIGKILL
    with runlock.acquire(run) as lk:
        assert lk.fd is not None and not runlock.is_locked(run)   # our own lock does not block us
    assert runlock.holder(run) == os.getpid()


def test_readers_see_a_locked_run_as_running_even_without_status(tmp_path):
    from gan_core.jobs import launch
    run = tmp_path / "run"
    run.mkdir()
    TrainConfig(dataset="ring8", run_dir=str(run)).resolved().save(run / "config.json")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    proc = _hold_lock_in_child(run)
    try:
        assert not (run / "status.json").exists()   # e.g. deleted mid-run
        assert store.refresh_state(run)["state"] == "running"
        with pytest.raises(RunError, match="already running"):
            launch.resume_training(run, 100)
        with pytest.raises(RunError, match="is being trained by process"):
            store.delete_run(run)
        code = cli.main(["train", "--resume", "--run-dir", str(run), "--iterations", "100"])
        assert code == 2 and run.exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_new_run_folder_is_not_left_behind_when_train_refuses(tmp_path):
    from gan_core.engine.training import train
    run = tmp_path / "new"
    with pytest.raises(GanError):
        train(TrainConfig(dataset="digits", run_dir=str(run), batch_size=5000, iterations=5))
    assert not run.exists()


@pytest.mark.slow
def test_two_trainers_on_one_run(tmp_path, tiny):
    from conftest import run_cli
    run = tmp_path / "run"
    args = ["--dataset", "ring8", "--run-dir", run, "--iterations", 200000, "--no-export", "--quiet"]
    args += [x for k, v in tiny.items() for x in ("--" + k.replace("_", "-"), v)]
    first = subprocess.Popen([sys.executable, "-m", "gan_core", "train", *map(str, args)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (store.read_status(run).get("state") == "running" and runlock.is_locked(run)):
            assert time.monotonic() < deadline and first.poll() is None, first.stderr.read()
            time.sleep(0.1)
        (run / "status.json").unlink()              # a careless user: status gone, the lock still holds
        second = run_cli("train", "--resume", "--run-dir", run, "--iterations", 300000)
        third = run_cli("train", *args[:4], "--iterations", 10)
        for r in (second, third):
            assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"is being trained by process {first.pid}" in second.stderr
        assert "already" in third.stderr or "being trained" in third.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(60)
    assert first.returncode == 0 and store.read_status(run)["state"] == "stopped"


# --- run folders: broken ones are listed as broken, the rest as usual ------------------------------

def _run(root: Path, name: str, status=None, config=None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config if config is not None else {"dataset": "ring8", "iterations": 10}))
    if status is not None:
        (d / "status.json").write_text(json.dumps(status))
    return d


def test_list_runs_shows_broken_folders_and_lists_the_rest(tmp_path, monkeypatch):
    _run(tmp_path, "good", {"state": "completed", "iteration": 10, "message": "finished", "updated_at": 5})
    _run(tmp_path, "status_list", [1])
    _run(tmp_path, "config_list", {"state": "completed", "iteration": 1}, config=[1, 2])
    _run(tmp_path, "bad_iteration", {"state": "completed", "iteration": "ten"})
    unreadable = _run(tmp_path, "unreadable", {"state": "completed", "iteration": 1})
    real_iterdir = Path.iterdir

    def iterdir(self):   # as a folder without read permission (the tests may run as root)
        if self == unreadable:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_iterdir(self)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    infos = {r.name: r for r in store.list_runs(tmp_path)}
    assert set(infos) == {"good", "status_list", "config_list", "bad_iteration", "unreadable"}
    assert infos["good"].state == "completed" and infos["good"].iteration == 10
    for name, words in [("status_list", "status.json is unreadable or not a JSON object"),
                        ("config_list", "config.json holds a list"), ("bad_iteration", "non-numeric iteration"),
                        ("unreadable", "the folder is unreadable")]:
        assert infos[name].state == store.BROKEN and words in infos[name].message, infos[name]
    assert cli.main(["runs", "--root", str(tmp_path)]) == 0


def test_dead_run_without_checkpoint_does_not_promise_a_resume(tmp_path):
    dead = {"state": "running", "iteration": 7, "pid": 2 ** 22 + 12345, "message": "training"}
    run = _run(tmp_path, "r", dead)
    st = store.refresh_state(run)
    assert st["state"] == "interrupted" and "no checkpoint was written" in st["message"]
    assert "resume continues" not in st["message"]
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    store.write_status(run, **{**dead, "message": "saving the generator"})
    assert "python -m gan_core export" in store.refresh_state(run)["message"]


def test_read_only_run_folder_is_reported_not_crashed(tmp_path, monkeypatch):
    run = _run(tmp_path, "r", {"state": "running", "iteration": 3, "pid": 2 ** 22 + 12345})

    def read_only(*a, **k):
        raise PermissionError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(store, "write_json_atomic", read_only)
    assert store.refresh_state(run)["state"] == "interrupted"
    assert [r.state for r in store.list_runs(tmp_path)] == ["interrupted"]


def test_orphaned_temporary_files_of_dead_writers_are_removed(tmp_path):
    run = tmp_path / "r"
    (run / "checkpoints").mkdir(parents=True)
    dead = run / "checkpoints" / f".last.pt.{2 ** 22 + 12345}.abc123.tmp"
    dead.write_bytes(b"half")
    mine = run / f".status.json.{os.getpid()}.xyz.tmp"
    mine.write_bytes(b"")
    keep = run / "notes.tmp"
    keep.write_bytes(b"user file")
    store.write_json_atomic(run / "status.json", {"state": "stopped"})   # its temporary file carries our pid
    with runlock.acquire(run):
        assert not dead.exists() and mine.exists() and keep.exists()


# --- configuration and command line -----------------------------------------------------------------

def _cli_error(capsys, argv) -> str:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and err.startswith("error:"), err
    return err


@pytest.mark.parametrize("extra, words", [
    (["--seed", 2 ** 64], "seed must lie in 0 … 2^64 − 1"),
    (["--seed", -1], "seed must lie in 0"),
    (["--dataset-param", "modes=0"], "dataset parameter modes must be a whole number in [1, 1000], got 0"),
    (["--dataset-param", "std=-1"], "dataset parameter std must be a number"),
    (["--dataset-param", "std=nan"], "dataset parameter std must be a number"),
    (["--dataset-param", "colour=1"],
     "unknown dataset parameter 'colour' for ring8; its parameters: modes, radius, std"),
    (["--batch-size", 10 ** 9], "batch_size must be at most 65,536"),
    (["--snapshot-samples", 10 ** 9], "snapshot_samples must be at most 100,000"),
    (["--hidden", 10 ** 6], "hidden must be at most 8,192"),
    (["--hidden", 8192, "--depth", 8], "million weights; at most 200 million"),
])
def test_cli_refuses_absurd_settings_in_one_line(tmp_path, capsys, extra, words):
    err = _cli_error(capsys, ["train", "--dataset", "ring8", "--run-dir", tmp_path / "r", "--iterations", 10, *extra])
    assert words in err
    assert not (tmp_path / "r").exists()


def test_cli_run_dir_must_be_a_new_or_empty_folder(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("mine")
    assert "is a file" in _cli_error(capsys, ["train", "--dataset", "ring8", "--run-dir", f, "--iterations", 5])
    assert "is a file" in _cli_error(capsys, ["train", "--resume", "--run-dir", f])
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    err = _cli_error(capsys, ["train", "--dataset", "ring8", "--run-dir", tmp_path / "photos", "--iterations", 5])
    assert "already holds other files (cat.jpg)" in err
    assert (tmp_path / "photos" / "cat.jpg").read_bytes() == b"x" and f.read_text() == "mine"


def test_config_json_with_wrong_types_is_refused(tmp_path):
    for bad in ({"seed": "zero"}, {"iterations": "many"}, {"beta1": "0.5"}, {"dataset_params": [1]}):
        (tmp_path / "config.json").write_text(json.dumps({"dataset": "ring8", **bad}))
        with pytest.raises(ConfigError) as e:
            TrainConfig.load(tmp_path / "config.json")
        assert list(bad)[0] in one_line(e)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="holds a list"):
        TrainConfig.load(tmp_path / "config.json")


def test_cli_generate_checks(tmp_path, capsys, monkeypatch):
    model = tmp_path / "m.onnx"
    model.write_bytes(points_model(latent_dim=2, output_kind="points"))
    with pytest.raises(SystemExit):     # argparse: "1e9" is not a whole number (one line, exit 2)
        cli.main(["generate", str(model), "--n", "1e9", "--out", str(tmp_path / "a.csv")])
    assert "invalid int value: '1e9'" in capsys.readouterr().err
    assert "too many at once" in _cli_error(capsys, ["generate", model, "--n", 10 ** 9, "--out", tmp_path / "a.csv"])
    assert "--seed must lie in 0" in _cli_error(capsys, ["generate", model, "--seed", -1, "--out", tmp_path / "a.csv"])
    assert "--seed must lie in 0" in _cli_error(capsys, ["generate", model, "--seed", 2 ** 64,
                                                         "--out", tmp_path / "a.csv"])
    assert "is a folder" in _cli_error(capsys, ["generate", model, "--out", tmp_path])
    (tmp_path / "f").write_text("")
    assert "f is a file, not a folder" in _cli_error(capsys, ["generate", model, "--out", tmp_path / "f" / "a.csv"])

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(outputs, "atomic_write", full)
    assert "No space left on device" in _cli_error(capsys, ["generate", model, "--out", tmp_path / "b.npy"])


def test_resume_after_a_kill_during_the_final_export_offers_export(tmp_path, capsys):
    from gan_core.engine.training import train
    run = tmp_path / "r"
    train(TrainConfig(dataset="ring8", run_dir=str(run), iterations=20, hidden=16, depth=2, batch_size=32,
                      log_every=10, checkpoint_every=10, snapshot_every=10, snapshot_samples=100, export_onnx=False))
    store.write_status(run, state="running", pid=2 ** 22 + 12345, message="saving the generator")
    assert "python -m gan_core export" in store.refresh_state(run)["message"]
    err = _cli_error(capsys, ["train", "--resume", "--run-dir", run])
    assert "has done all its 20 iterations" in err and "gan_core export" in err


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


if __name__ == "__main__":   # the table for the report: python tests/test_hostile_inputs.py [FOLDER]
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{'case':<52} {'peak MB':>8} {'time s':>7}  outcome")
    for case, (code, _) in bomb_cases(folder).items():
        r = measure(code, cap_bytes=3 * GB)
        print(f"{case:<52} {r['peak_mb']:>8.0f} {r['wall_s']:>7.1f}  {r['last'][:90]}", flush=True)
