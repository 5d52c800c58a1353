"""Builders of hostile files (zip and image bombs, crafted ONNX models) and the child-process measure of peak
memory and time, for the hostile-input tests (tests/test_hostile_uploads.py, test_hostile_models.py,
test_hostile_runs.py).

`python tests/support/hostile.py [FOLDER]` prints the bomb table (peak memory and time per case).
"""
import io
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]   # the children of measure() run here, with it on their path
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


if __name__ == "__main__":   # the table for the report: python tests/support/hostile.py [FOLDER]
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{'case':<52} {'peak MB':>8} {'time s':>7}  outcome")
    for case, (code, _) in bomb_cases(folder).items():
        r = measure(code, cap_bytes=3 * GB)
        print(f"{case:<52} {r['peak_mb']:>8.0f} {r['wall_s']:>7.1f}  {r['last'][:90]}", flush=True)
