"""`python -m gan_core share`: one self-contained web page that samples a generator in any browser.

The page holds the ONNX model, onnxruntime-web's JavaScript and its WebAssembly binary (gzip, then
base64; the browser's DecompressionStream unpacks them), and the project's latent sampler and rejection
sampling by D in JavaScript (sampler.js, rejection.js: twins of latent.py and theory/rejection.py). It
makes no request to any host. Before a page is written, the same onnxruntime-web package runs the model
under Node on the page's own latents, and its output must equal Python onnxruntime's to 1e-4 — and, for a
model whose samples are rejection-sampled by default, so must the samples the page's rejection keeps:
the page gives what `python -m gan_core generate` gives, and one that would not is never handed to anyone.

Nothing here imports torch.
"""
from __future__ import annotations

import base64
import functools
import gzip
import html
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

import numpy as np

from gan_core.errors import GanError, ModelFileError, RunError
from gan_core.share import latent
from gan_core.share.agreement import relative_difference
from gan_core.share.facts import latest_quality, model_facts, quality_facts
from gan_core.theory import rejection

ROOT = Path(__file__).resolve().parents[2]   # the project folder: package.json and node_modules/ live here
ORT_PACKAGE = "onnxruntime-web"
CHECK_N, CHECK_SEED, TOLERANCE = 64, 7, 1e-4
NODE_TIMEOUT_S = 180


class ShareError(GanError):
    """The page cannot be made (missing tools, or a model the browser's runtime cannot run)."""


def _short(text, limit: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the JavaScript side: Node and the pinned onnxruntime-web ---------------------------------------

@dataclass
class Runtime:
    node: str
    ort_dir: Path
    version: str


def pinned_version() -> str | None:
    try:
        return json.loads((ROOT / "package.json").read_text())["dependencies"][ORT_PACKAGE]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_runtime() -> Runtime:
    """Node and node_modules/onnxruntime-web, or a one-line reason why `share` cannot work here."""
    setup = "run `bash scripts/setup.sh` (it installs Debian's nodejs and npm, then `npm ci`)"
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise ShareError(f"share needs Node.js to check the page with {ORT_PACKAGE}, and node is not installed: "
                         + setup)
    ort_dir = Path(os.environ.get("GAN_ORT_WEB_DIR") or ROOT / "node_modules" / ORT_PACKAGE)
    if not (ort_dir / "package.json").is_file():
        npm = "npm is not installed either" if shutil.which("npm") is None else "run `npm ci` in " + str(ROOT)
        raise ShareError(f"{ORT_PACKAGE} is not installed ({ort_dir} is missing): {npm}, or {setup}")
    try:
        version = json.loads((ort_dir / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ShareError(f"{ort_dir}/package.json is unreadable: run `npm ci` in {ROOT}") from None
    pinned = pinned_version()
    if pinned and version != pinned and "GAN_ORT_WEB_DIR" not in os.environ:
        raise ShareError(f"node_modules has {ORT_PACKAGE} {version} but package.json pins {pinned}: "
                         f"run `npm ci` in {ROOT}")
    for name in ("dist/ort.wasm.bundle.min.mjs", "dist/ort-wasm-simd-threaded.wasm"):
        if not (ort_dir / name).is_file():
            raise ShareError(f"{ort_dir} lacks {name}: run `npm ci` in {ROOT}")
    return Runtime(node, ort_dir, version)


def _node_run(data: bytes, model, rt: Runtime, n: int, seed: int, with_rejection: bool) -> tuple[np.ndarray, dict]:
    """check.js's output (z, G(z), and the kept samples with rejection) and its report line."""
    script = Path(str(resources.files(__package__).joinpath("check.js")))
    extra = [json.dumps(rejection.params())] if with_rejection else []
    with tempfile.TemporaryDirectory(prefix="gan-share-") as tmp:
        model_path, out_path = Path(tmp) / "model.onnx", Path(tmp) / "out.bin"
        model_path.write_bytes(data)
        try:
            r = subprocess.run([rt.node, str(script), str(rt.ort_dir), str(model_path), str(n), str(seed),
                                model.prior, str(model.latent_dim), str(out_path), *extra], capture_output=True,
                               text=True, timeout=NODE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ShareError(f"{ORT_PACKAGE} did not finish running the model within {NODE_TIMEOUT_S} s") from None
        except OSError as exc:
            raise ShareError(f"cannot start {rt.node}: {_short(exc)}") from None
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
        last = lines[-1] if lines else _short(r.stderr) or f"node exited with status {r.returncode}"
        if r.returncode != 0 or last.startswith("error:"):
            reason = last[len("error:"):].strip() if last.startswith("error:") else last
            raise ShareError(f"{model.name} does not run in a web browser ({ORT_PACKAGE} {rt.version}, WebAssembly): "
                             f"{_short(reason)}")
        try:
            report = json.loads(last)
        except ValueError:
            report = {}
        return np.fromfile(out_path, dtype=np.float32), report


def check_in_node(data: bytes, model, rt: Runtime, n: int = CHECK_N, seed: int = CHECK_SEED,
                  tol: float = TOLERANCE) -> float:
    """Run the model with onnxruntime-web under Node on the page's latents for (n, seed) — and the page's
    rejection sampling by D where the model's samples are rejection-sampled by default; return the largest
    |web − Python| over the outputs, or refuse in one line."""
    with_rejection = model.rejection_default
    raw, report = _node_run(data, model, rt, n, seed, with_rejection)
    z_py = latent.sample(n, model.latent_dim, model.prior, seed)
    size = int(np.prod(model.output_shape))
    if raw.size != z_py.size + n * size * (2 if with_rejection else 1):
        raise ShareError(f"{ORT_PACKAGE} gave {raw.size - z_py.size} output values for {n} samples; "
                         f"expected {n * size} (samples of shape {list(model.output_shape)})")
    z_js = raw[: z_py.size].reshape(z_py.shape)
    x_js = raw[z_py.size: z_py.size + n * size].reshape(n, *model.output_shape)
    if not np.allclose(z_js, z_py, rtol=0, atol=1e-6):
        raise ShareError("the page's latent sampler (JavaScript) disagrees with Python's by up to "
                         f"{float(np.abs(z_js - z_py).max()):.3g}; this is a bug in gan_core")
    worst = relative_difference(x_js, model.run(z_py))
    if not worst <= tol:
        raise ShareError(f"{ORT_PACKAGE} {rt.version} computes this model differently from onnxruntime: up to "
                         f"{worst:.3g} of their size apart on {n} fixed latents (tolerance {tol:g}); no page written")
    if with_rejection:
        kept = relative_difference(raw[z_py.size + n * size:].reshape(n, *model.output_shape), model.generate(n, seed))
        if not kept <= tol:
            raise ShareError(f"the page's rejection sampling by D keeps other samples than `generate` "
                             f"(up to {kept:.3g} apart on {n} samples of seed {seed}; "
                             f"envelope M {report.get('envelope_logit')} in the "
                             f"page, {model.last_rejection['envelope_logit']} in Python); no page written")
        worst = max(worst, kept)
    return worst


@functools.lru_cache(maxsize=2)
def _runtime_assets(ort_dir: str, stamp: float) -> tuple[str, str]:
    """onnxruntime-web's ES module (its WASM glue bundled in) and WASM binary, gzip + base64.
    Cached: compressing the 14 MB binary takes about a second."""
    dist = Path(ort_dir) / "dist"
    return (_pack((dist / "ort-wasm-simd-threaded.wasm").read_bytes()),
            _pack((dist / "ort.wasm.bundle.min.mjs").read_bytes()))


def _pack(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data, 9, mtime=0)).decode("ascii")


# --- the model and its facts ------------------------------------------------------------------------

def read_source(source) -> tuple[bytes, str, Path | None]:
    """Model bytes, a name for messages and the run directory (if any) from a run directory, a .onnx,
    a shared .zip, or bytes (an upload)."""
    from gan_core.share.generation import _read_source
    if isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read") or hasattr(source, "getvalue"):
        data, name = _read_source(source)
        return data, name, None
    path = Path(source)
    if path.is_dir():
        onnx_file = path / "generator.onnx"
        if onnx_file.is_file():
            return _read_source(onnx_file)[0], str(path), path
        if (path / "config.json").is_file():
            raise RunError(f"run {path} has no exported model (generator.onnx): export it with "
                           f"`python -m gan_core export {path}`")
        raise RunError(f"{path} is a folder but neither a run directory nor one with a generator.onnx")
    if not path.exists():
        raise ModelFileError(f"{path} not found (give a run directory, a .onnx model or a shared .zip)")
    data, name = _read_source(path)
    return data, name, None


def _model_bytes(data: bytes, name: str) -> bytes:
    if data[:2] != b"PK":
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".onnx")]
            if len(names) == 1:
                return zf.read(names[0])
    except (zipfile.BadZipFile, OSError, ValueError):
        pass
    raise ModelFileError(f"{name} is a zip archive without exactly one .onnx model inside")


def page_metadata(model, run_dir: Path | None) -> dict:
    """The model's metadata, completed from its run directory where the export predates a field."""
    meta = {str(k): str(v) for k, v in model.metadata.items()}
    if run_dir is not None:
        for key, value in latest_quality(run_dir).items():
            meta.setdefault(key, value)
        if not meta.get("final_value_estimate"):
            from gan_core.runs.store import read_status
            final_v = read_status(run_dir).get("final_value_estimate")
            if final_v is not None:
                meta["final_value_estimate"] = str(final_v)
    meta["latent_dim"], meta["prior"] = str(model.latent_dim), model.prior
    meta["output_kind"], meta["output_shape"] = model.output_kind, json.dumps(list(model.output_shape))
    return meta


def _check_sampler(meta: dict, name: str) -> None:
    got = (meta.get("latent_sampler"), meta.get("latent_sampler_version"))
    if got[0] is not None and got != (latent.NAME, latent.VERSION):
        raise ModelFileError(f"{name} was made for the latent sampler {got[0]} version {got[1]}; this gan_core "
                             f"has {latent.NAME} version {latent.VERSION}, so its seeds would not match")


def _date(text: str) -> str:
    try:
        return datetime.fromisoformat(text.strip()).date().isoformat()
    except (ValueError, AttributeError):
        return text or "unknown"


def rejection_facts(model) -> dict:
    """What the page's rejection sampling by D needs: whether the model can (a checked `logit` output), whether
    `generate` does it by default (its metadata says), and the algorithm's constants."""
    return {"available": model.logit_name is not None, "default": bool(model.rejection_default), **rejection.params()}


def page_facts(meta: dict, ort_version: str, rejection_info: dict | None = None) -> dict:
    dataset = meta.get("dataset") or "unknown"
    chips = [("dataset", dataset), ("iterations", meta.get("iterations") or "unknown"),
             ("date", _date(meta.get("created", "")))]
    if meta.get("final_value_estimate"):
        try:
            chips.append(("final Ṽ", f"{float(meta['final_value_estimate']):.4f}"))
        except ValueError:
            chips.append(("final Ṽ", meta["final_value_estimate"]))
    figures = [(k, v) for k, v in quality_facts(meta) if not k.startswith("Quality measured")]
    chips += [(label.split(" (")[0], value.split(" (")[0]) for label, value in figures[:2]]
    shape = json.loads(meta["output_shape"])
    return {"title": f"GAN generator — {dataset}", "description": meta.get("description", ""),
            "dataset": dataset, "chips": chips, "facts": model_facts(meta),
            "latent_dim": int(meta["latent_dim"]), "prior": meta["prior"], "output_kind": meta["output_kind"],
            "output_shape": shape, "ort_version": ort_version,
            "sampler": {"name": latent.NAME, "version": latent.VERSION},
            "rejection": rejection_info or {"available": False, "default": False, **rejection.params()}}


def _json_for_script(obj) -> str:
    # Inside <script>: no "</script>", no "<!--" can come from a dataset name or description.
    return (json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render(facts: dict, model_data: bytes, wasm_b64: str, ort_b64: str) -> str:
    pkg = resources.files(__package__)
    template = pkg.joinpath("page.html").read_text(encoding="utf-8")
    sampler_js = pkg.joinpath("sampler.js").read_text(encoding="utf-8")
    rejection_js = pkg.joinpath("rejection.js").read_text(encoding="utf-8")
    parts = {"__GAN_TITLE__": html.escape(facts["title"]), "__GAN_FACTS_JSON__": _json_for_script(facts),
             "__GAN_MODEL_B64__": _pack(model_data), "__GAN_ORT_B64__": ort_b64, "__GAN_WASM_B64__": wasm_b64,
             "__GAN_SAMPLER_JS__": sampler_js, "__GAN_REJECTION_JS__": rejection_js}
    out = template
    for key, value in parts.items():   # each placeholder appears once; values never contain another
        assert out.count(key) == 1, key
        out = out.replace(key, value)
    return out


@dataclass
class PageReport:
    path: Path | None
    size_bytes: int
    max_abs_diff: float
    seconds: float
    html: bytes


def build_page(source, *, runtime: Runtime | None = None) -> PageReport:
    """The page's bytes for SOURCE (checked under Node first); nothing is written."""
    from gan_core.share.generation import load_model
    t0 = time.perf_counter()
    rt = runtime or find_runtime()   # first: say "install Node" before any slower work
    data, name, run_dir = read_source(source)
    data = _model_bytes(data, name)
    model = load_model(data)          # refuses what is not a generator, in one line
    model.name = Path(name).name if run_dir is None else f"the generator of {run_dir.name}"
    meta = page_metadata(model, run_dir)
    _check_sampler(meta, model.name)
    worst = check_in_node(data, model, rt)
    stamp = (rt.ort_dir / "dist" / "ort-wasm-simd-threaded.wasm").stat().st_mtime
    wasm_b64, ort_b64 = _runtime_assets(str(rt.ort_dir), stamp)
    text = render(page_facts(meta, rt.version, rejection_facts(model)), data, wasm_b64, ort_b64).encode("utf-8")
    return PageReport(None, len(text), worst, time.perf_counter() - t0, text)


def share_unavailable() -> str | None:
    """Why no page can be made on this machine (Node or onnxruntime-web missing), or None: lets the
    dashboard disable its button with the reason instead of failing on click."""
    try:
        find_runtime()
    except ShareError as exc:
        return str(exc)
    return None


def share_page_bytes(source) -> bytes:
    """The dashboard's "Download web page": the .html for a run directory, a .onnx path, a shared .zip
    or the bytes of one."""
    return build_page(source).html


def write_page(source, out) -> PageReport:
    """Build the page and write it to `out` atomically: a failure leaves no file, or the old one."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise GanError(f"the page is an .html file; got --out {out}")
    if out.is_dir():
        raise GanError(f"--out {out} is a folder; give a file name ending in .html")
    rep = build_page(source)
    from gan_core.share.outputs import atomic_write  # same folder + rename; permissions from the umask
    try:
        atomic_write(out, rep.html)
    except OSError as exc:
        raise GanError(f"cannot write {out}: {_short(exc)}") from None
    rep.path = out
    return rep
