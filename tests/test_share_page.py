"""`python -m gan_core share`: the latent sampler twins, the self-contained page in Chromium from file://
with every network request failing the test, and the one-line refusals that leave no .html behind."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from conftest import ROOT, run_cli
from onnx import TensorProto, helper
from PIL import Image

from gan_core.config import TrainConfig
from gan_core.share import latent
from gan_core.share.generation import interpolation_latents, load_model, sample_latents
from gan_core.share.model_card import model_card

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "share"
SAMPLER_JS = ROOT / "gan_core" / "share" / "sampler.js"
NODE = shutil.which("node") or shutil.which("nodejs")


def _node(code: str) -> str:
    r = subprocess.run([NODE, "-e", code], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout


# --- the latent sampler -------------------------------------------------------------------------------

def test_philox_known_answers():
    # Random123's kat_vectors for philox4x32 with 10 rounds.
    cases = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
             ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
              (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for ctr, key, expected in cases:
        got = latent.philox4x32(*([c] for c in ctr), *key)
        assert tuple(int(w[0]) for w in got) == expected
        js = json.loads(_node(f"const s = require({json.dumps(str(SAMPLER_JS))}); const w = new Uint32Array(4);"
                              f"s.philox({', '.join(map(str, ctr))}, {key[0]}, {key[1]}, w);"
                              "console.log(JSON.stringify(Array.from(w)))"))
        assert tuple(js) == expected


def test_sampler_properties():
    z = sample_latents(20_000, 3, "normal", 11)
    assert z.dtype == np.float32 and z.shape == (20_000, 3)
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.02
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.03       # columns independent
    assert np.array_equal(sample_latents(7, 3, "normal", 11), z[:7])  # a prefix, whatever n
    assert not np.array_equal(sample_latents(7, 3, "normal", 12), z[:7])
    u = sample_latents(20_000, 2, "uniform", 3)
    assert u.min() >= -1 and u.max() < 1 and u.min() < -0.999 and u.max() > 0.999
    assert np.array_equal(u * 2**23, np.round(u * 2**23))             # exact 24-bit grid, as documented
    for bad in (-1, 2**53, 1.5):
        with pytest.raises(Exception, match="seed"):
            sample_latents(2, 2, "normal", bad)


@pytest.mark.parametrize("n, d, prior, seed", [(300, 5, "normal", 7), (200, 3, "uniform", 0),
                                               (50, 32, "normal", 2**40 + 3), (1, 1, "normal", 2**53 - 1)])
def test_javascript_sampler_equals_python(n, d, prior, seed):
    js = json.loads(_node(f"const s = require({json.dumps(str(SAMPLER_JS))});"
                          f"console.log(JSON.stringify(Array.from(s.sampleLatents({n}, {d}, '{prior}', {seed}))))"))
    np.testing.assert_array_equal(np.asarray(js, np.float32).reshape(n, d), sample_latents(n, d, prior, seed))


@pytest.mark.parametrize("prior", ["normal", "uniform"])
def test_javascript_walk_equals_python(prior):
    js = json.loads(_node(f"const s = require({json.dumps(str(SAMPLER_JS))});"
                          f"console.log(JSON.stringify(Array.from(s.walkLatents(4, '{prior}', 3, 9, 12))))"))
    np.testing.assert_allclose(np.asarray(js).reshape(12, 4), interpolation_latents(4, prior, 3, 9, 12), atol=1e-6)


# --- models -------------------------------------------------------------------------------------------

def _train(run_dir: Path, **kw) -> Path:
    from gan_core.engine.training import train
    st = train(TrainConfig(run_dir=str(run_dir), log_every=10, checkpoint_every=1000, snapshot_every=50,
                           snapshot_samples=500, **kw), progress=False)
    assert st["state"] == "completed" and (run_dir / "generator.onnx").is_file(), st
    return run_dir


@pytest.fixture(scope="module")
def ring8(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("ring8") / "run", dataset="ring8", iterations=100, hidden=16, depth=2,
                  batch_size=64)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("digits") / "run", dataset="digits", iterations=30, base_channels=8,
                  batch_size=16)


def _linear(meta: dict, op: str = "MatMul") -> bytes:
    """x = z @ W + b for a 3-D latent: a small generator whose metadata the test chooses."""
    w = np.arange(6, dtype=np.float32).reshape(3, 2) / 5
    nodes = [helper.make_node(op, ["z", "W"], ["h"]), helper.make_node("Add", ["h", "B"], ["x"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
                              [onnx.numpy_helper.from_array(w, "W"),
                               onnx.numpy_helper.from_array(np.array([1.0, -2.0], np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    return model.SerializeToString()


def test_export_records_sampler_and_quality(ring8):
    meta = load_model(ring8 / "generator.onnx").metadata
    assert meta["latent_sampler"] == latent.NAME and meta["latent_sampler_version"] == latent.VERSION
    rows = pd.read_csv(ring8 / "metrics.csv")
    assert float(meta["jsd"]) == pytest.approx(rows["jsd"].dropna().iloc[-1], rel=1e-6)
    assert int(float(meta["modes_covered"])) == int(rows["modes_covered"].dropna().iloc[-1])


def test_model_card_front_matter_and_escaping():
    card = model_card({"dataset": 'evil | <b>x</b> "name"\nnext', "iterations": "5", "prior": "normal",
                       "latent_dim": "3", "output_kind": "points", "output_shape": "[2]", "jsd": "0.25",
                       "modes_covered": "6", "description": "see [link](http://x) *bold*"})
    head, body = card.split("\n---\n", 1)
    lines = head.splitlines()
    assert lines[0] == "---" and "library_name: onnx" in lines and "license: \"unknown\"" in lines
    ds = lines[lines.index("datasets:") + 1]
    assert json.loads(ds[2:]) == 'evil | <b>x</b> "name" next'     # one YAML (JSON-quoted) scalar
    assert '- "gan"' in lines and '- "tabular-generation"' in lines
    table = [ln for ln in body.splitlines() if ln.startswith("| ")]
    assert all(ln.replace("\\|", "").count("|") == 3 for ln in table)  # no cell leaks into another
    assert "<b>" not in body and "\\<b\\>" in body and "\\[link\\]" in body and "\\*bold\\*" in body
    assert "| JSD(p\\_data ‖ p\\_g) | 0.25" in body


# --- the page in Chromium -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Offline:
    """A page whose every request to anything but file://, data: or blob: is aborted and recorded."""

    def __init__(self, browser, path: Path, width: int = 1200):
        self.ctx = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
        self.bad, self.errors = [], []
        self.ctx.route("**/*", self._route)
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(30_000)
        self.page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:"))
                     else self.bad.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.resolve().as_uri())
        self.page.evaluate("window.gan.ready")

    def _route(self, route):
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            self.bad.append(route.request.url)
            route.abort()

    def close(self):
        assert not self.bad, f"the page made network requests: {self.bad}"
        assert not self.errors, self.errors
        self.ctx.close()


def _share(source, out: Path):
    r = run_cli("share", source, "--out", out, timeout=240)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and "wrote" in r.stdout
    return out


def _click_walk(page, steps: int = 32):
    page.fill("#seed-a", "3")
    page.dispatch_event("#seed-a", "change")
    page.wait_for_function("document.getElementById('walk-caption').textContent.includes('seed 3')")
    page.fill("#walk-t", str(steps * 2 // 3))
    page.dispatch_event("#walk-t", "input")
    assert f"step {steps * 2 // 3} of {steps - 1}" in page.inner_text("#walk-caption")
    page.click("#play")
    page.wait_for_function(f"document.getElementById('walk-t').value === '{steps - 1}'")
    assert page.inner_text("#play").strip() == "▶ Play"   # the walk played to its end and stopped


def _cli_csv(model, tmp_path, n, seed, *flags):
    out = tmp_path / f"cli-{n}-{seed}{''.join(flags)}.csv"
    r = run_cli("generate", model, "--n", n, "--seed", seed, "--out", out, *flags)
    assert r.returncode == 0, r.stderr
    return pd.read_csv(out).to_numpy()


BORDERLINE = 1e-5   # |u_i − a_i| within which two runtimes' float rounding of D's logit can decide a row apart


def _same_rejection_stream(got: np.ndarray, model, seed: int) -> int:
    """The page's rows `got` for `seed` against the rows `generate` keeps: one kept row after another in stream
    order, equal to 1e-4, except for rows whose uniform u_i lay within BORDERLINE of their acceptance a_i (the
    runtimes' logits differ by float rounding, ~1e-6, so such a decision can go either way: the page then holds
    one row more or one fewer there, the same rows before and after). Returns how many such rows differed."""
    from gan_core.theory.rejection import BURN_IN, acceptance, envelope_logit
    _, burn = model.run_with_logit(latent.sample(BURN_IN, model.latent_dim, model.prior, seed))
    m = envelope_logit(np.asarray(burn).reshape(-1))
    n_rows = 40 * len(got) + 4096
    x, lg = model.run_with_logit(latent.sample(n_rows, model.latent_dim, model.prior, seed))
    a, u = acceptance(np.asarray(lg).reshape(-1), m), latent.uniforms(0, n_rows, seed)
    j, flips = 0, 0
    for i in range(n_rows):
        if j == len(got):
            return flips
        match = bool(np.abs(x[i] - got[j]).max() <= 1e-4)
        border = abs(u[i] - a[i]) <= BORDERLINE
        if u[i] < a[i]:              # generate keeps row i
            if match:
                j += 1
            else:
                assert border, f"stream row {i}: kept by generate, not by the page (u − a = {u[i] - a[i]:.2e})"
                flips += 1
        elif match:                  # generate rejects row i, the page kept it
            assert border, f"stream row {i}: kept by the page, not by generate (u − a = {u[i] - a[i]:.2e})"
            j, flips = j + 1, flips + 1
    raise AssertionError(f"the page's {len(got)} rows are not among the first {n_rows:,} of the stream")


def test_points_page_matches_cli(browser, ring8, tmp_path):
    html = _share(ring8, tmp_path / "ring8.html")
    assert html.stat().st_size <= 8e6
    model = load_model(ring8 / "generator.onnx")
    assert model.rejection_default   # ring8: `generate` keeps G's samples by D's rejection unless told not to
    cli = _cli_csv(ring8 / "generator.onnx", tmp_path, 64, 7)
    plain = _cli_csv(ring8 / "generator.onnx", tmp_path, 64, 7, "--no-rejection")
    p = Offline(browser, html)
    page = p.page
    got = np.asarray(page.evaluate("window.gan.generate(64, 7)"))
    assert got.shape == (64, 2)
    np.testing.assert_allclose(got, cli, atol=1e-4)   # the same samples as `generate`, rejection included
    assert _same_rejection_stream(got, model, 7) == 0
    assert np.abs(plain - cli).max() > 1e-3           # which differ from G's plain samples for this seed
    np.testing.assert_allclose(np.asarray(page.evaluate("window.gan.generate(5, 7)")), got[:5], atol=0)
    for seed in (0, 123456):
        np.testing.assert_allclose(np.asarray(page.evaluate(f"window.gan.generate(300, {seed})")),
                                   _cli_csv(ring8 / "generator.onnx", tmp_path, 300, seed), atol=1e-4)
    assert "rejection sampling" in page.inner_text("#samples-caption") and page.is_checked("#rejection")
    assert page.is_hidden("#walk-step")   # the pictures' canvas of the walk: not on a points page
    assert "ring8" in page.inner_text("header") and "iterations 100" in page.inner_text("#chips")
    assert "Modes covered" in page.inner_text("#facts")
    page.screenshot(path=str(SHOTS / "ring8-first.png"), full_page=True)

    draws = page.evaluate("window.gan.draws")
    page.click("#new")
    page.wait_for_function(f"window.gan.draws > {draws}")
    seed = int(page.input_value("#seed"))
    assert seed != 0 and f"seed {seed}" in page.inner_text("#samples-caption")
    with page.expect_download() as dl:
        page.click("#download")
    assert dl.value.suggested_filename == f"ring8-seed{seed}.csv"
    csv = pd.read_csv(dl.value.path())
    assert list(csv.columns) == ["x0", "x1"]
    # the seed is New samples' own (random): a row decided within rounding of its acceptance may differ (rare)
    assert _same_rejection_stream(csv.to_numpy(), model, seed) <= 2
    _click_walk(page)
    page.screenshot(path=str(SHOTS / "ring8-after-new-and-walk.png"), full_page=True)
    p.close()

    phone = Offline(browser, html, width=390)   # reads on a phone: nothing wider than the screen
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390
    phone.page.screenshot(path=str(SHOTS / "ring8-phone.png"), full_page=True)
    phone.close()


def test_image_page_matches_generate(browser, digits, tmp_path):
    # The dashboard's shared zip is a valid SOURCE too.
    from gan_core.share.model_card import share_package
    (tmp_path / "shared.zip").write_bytes(share_package(digits / "generator.onnx"))
    html = _share(tmp_path / "shared.zip", tmp_path / "digits.html")
    model = load_model(digits / "generator.onnx")
    p = Offline(browser, html)
    page = p.page
    got = np.asarray(page.evaluate("window.gan.generate(64, 7)"))
    assert got.shape == (64, 64)
    np.testing.assert_allclose(got, model.generate(64, seed=7).reshape(64, -1), atol=1e-4)
    assert "Classes covered" in page.inner_text("#facts")
    # the grid: the images' own pixels, shown at a whole scale >= 3, nearest-neighbour
    shown = page.evaluate("""() => { const c = document.getElementById('samples');
        return [c.width, c.height, parseFloat(c.style.width), parseFloat(c.style.height),
                getComputedStyle(c).imageRendering, Number(c.dataset.scale)]; }""")
    assert shown[:2] == [8 * 8 + 9] * 2 and shown[4] == "pixelated"
    assert shown[5] >= 3 and shown[2:4] == [shown[0] * shown[5], shown[1] * shown[5]]
    assert f"shown {shown[5]}× their size" in page.inner_text("#samples-caption")
    walk = page.evaluate("[document.getElementById('walk').width, document.getElementById('walk').height]")
    assert walk == [10 * 9 + 1, 8 + 2]   # the walk: one row of its 10 steps
    page.click("#new")
    page.wait_for_function("window.gan.draws > 1")
    with page.expect_download() as dl:
        page.click("#download")
    assert dl.value.suggested_filename.endswith(".png")
    img = Image.open(dl.value.path())
    assert img.size == ((8 * 8 + 9) * 4,) * 2   # 64 tiles of 8 px, 8 a row, 1 px gaps, upscaled 4x
    _click_walk(page, steps=10)
    page.screenshot(path=str(SHOTS / "digits.png"), full_page=True)
    p.close()


def test_page_shows_metadata_as_text(browser, tmp_path):
    evil = "</script><script>window.pwned = 1</script><img src=x onerror='window.pwned=2'>"
    (tmp_path / "m.onnx").write_bytes(_linear({"dataset": evil, "description": evil, "iterations": "3"}))
    html = _share(tmp_path / "m.onnx", tmp_path / "m.html")
    p = Offline(browser, html)
    assert p.page.evaluate("window.pwned") is None
    assert evil in p.page.inner_text("h1")
    got = np.asarray(p.page.evaluate("window.gan.generate(10, 4)"))
    np.testing.assert_allclose(got, sample_latents(10, 3, "normal", 4) @ (np.arange(6).reshape(3, 2) / 5)
                               + [1, -2], atol=1e-5)
    p.close()


# --- refusals -----------------------------------------------------------------------------------------

def _fake_ort(tmp_path: Path, behaviour: str) -> Path:
    """An onnxruntime-web stand-in: `unsupported` rejects the model as the WASM backend does for an op
    it lacks (the real one runs every op our generators use); `wrong` returns G(z) + 0.01; `logit` returns
    G(z) right but 3 × D's logit (another D: rejection keeps other rows)."""
    d = tmp_path / "fake-ort"
    (d / "dist").mkdir(parents=True)
    for f in ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm"):
        (d / "dist" / f).write_text("")
    (d / "package.json").write_text(json.dumps({"name": "onnxruntime-web", "version": "0.0.0", "main": "index.js"}))
    real = ROOT / "node_modules" / "onnxruntime-web"
    (d / "index.js").write_text(f"""
const ort = require({json.dumps(str(real))});
const create = ort.InferenceSession.create;
module.exports = {{ env: ort.env, Tensor: ort.Tensor, InferenceSession: {{ create: async (m, o) => {{
  if ({json.dumps(behaviour)} === "unsupported")
    throw new Error("Could not find an implementation for FancyOp(1) node with name 'fancy'");
  const s = await create(m, o);
  return {{ inputNames: s.inputNames, outputNames: s.outputNames, run: async (f) => {{
    const out = await s.run(f);
    const wrong = {json.dumps(behaviour)} === "wrong";
    for (const k in out)
      out[k] = new ort.Tensor("float32", out[k].data.map((v) => wrong ? v + 0.01 : k === "logit" ? 3 * v : v),
                              out[k].dims);
    return out; }} }};
}} }} }};
""")
    return d


def _refused(tmp_path, source, *, env=None, contains=()):
    out = tmp_path / "page.html"
    out.write_text("the page from before")
    r = run_cli("share", source, "--out", out, env=env, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for text in contains:
        assert text in r.stderr, r.stderr
    assert out.read_text() == "the page from before"    # atomic: the old file is untouched
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".page")] == []   # no temporary left
    return r.stderr


def test_refuses_bad_models_in_one_line(tmp_path):
    good = _linear({"dataset": "x"})
    two_inputs = helper.make_model(helper.make_graph(
        [helper.make_node("Add", ["z", "y"], ["x"])], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 3]) for n in ("z", "y")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])]),
        opset_imports=[helper.make_opsetid("", 17)])
    two_inputs.ir_version = 8
    (tmp_path / "two.onnx").write_bytes(two_inputs.SerializeToString())
    (tmp_path / "cut.onnx").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.onnx").write_text("hello")
    _refused(tmp_path, tmp_path / "two.onnx", contains=["has 2 inputs"])
    _refused(tmp_path, tmp_path / "cut.onnx", contains=["corrupted"])
    _refused(tmp_path, tmp_path / "text.onnx", contains=["not an ONNX model"])
    _refused(tmp_path, tmp_path / "missing.onnx", contains=["not found"])
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    _refused(tmp_path, run, contains=["no exported model", "gan_core export"])
    (tmp_path / "other.onnx").write_bytes(_linear({"latent_sampler": "numpy-pcg64", "latent_sampler_version": "1"}))
    _refused(tmp_path, tmp_path / "other.onnx", contains=["latent sampler numpy-pcg64"])


def test_refuses_what_the_browser_runtime_cannot_run(tmp_path):
    (tmp_path / "m.onnx").write_bytes(_linear({"dataset": "x"}))
    err = _refused(tmp_path, tmp_path / "m.onnx",
                   env={"GAN_ORT_WEB_DIR": str(_fake_ort(tmp_path / "a", "unsupported"))},
                   contains=["does not run in a web browser", "FancyOp"])
    assert "onnxruntime-web 0.0.0" in err
    _refused(tmp_path, tmp_path / "m.onnx", env={"GAN_ORT_WEB_DIR": str(_fake_ort(tmp_path / "b", "wrong"))},
             contains=["computes this model differently", "of their size apart"])  # 0.01 on outputs up to ~4


def test_refuses_a_page_whose_rejection_differs_from_generate(ring8, tmp_path):
    _refused(tmp_path, ring8, env={"GAN_ORT_WEB_DIR": str(_fake_ort(tmp_path / "c", "logit"))},
             contains=["rejection sampling by D keeps other samples than `generate`", "seed 7"])


def test_says_what_is_missing(tmp_path):
    (tmp_path / "m.onnx").write_bytes(_linear({"dataset": "x"}))
    _refused(tmp_path, tmp_path / "m.onnx", env={"GAN_ORT_WEB_DIR": str(tmp_path / "nowhere")},
             contains=["onnxruntime-web is not installed", "npm ci"])
    bare = tmp_path / "bin"   # a PATH with no node on it
    bare.mkdir()
    _refused(tmp_path, tmp_path / "m.onnx", env={"PATH": str(bare)}, contains=["needs Node.js", "setup.sh"])


def test_benchmark_prints_the_figures():
    # A process of its own: this module's browser fixture holds Playwright's sync API in this one.
    r = subprocess.run([sys.executable, "-m", "bench.share_page", "--quick", "--repeats", "1", "--models", "ring8"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "cores" in r.stdout and "date" in r.stdout
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith("ring8 share page ")
    size, first, new = (float(v) for v in re.findall(r"([\d.]+) (?:MB|s|ms)\b", line.replace("(1,000 points)", "")))
    assert 1 < size <= 8 and 0 < first < 60 and 0 < new < 10_000


def test_dashboard_entry_points(tmp_path, monkeypatch):
    from gan_core.share.page import share_page_bytes, share_unavailable
    data = _linear({"dataset": "from-upload", "iterations": "9"})
    page = share_page_bytes(data)   # what the Generate page's button calls with an uploaded model
    assert page.startswith(b"<!doctype html>") and b"GAN generator \xe2\x80\x94 from-upload" in page
    assert b"https://" not in page.split(b'id="gan-model"')[0]   # no link to any host in the markup
    assert share_unavailable() is None
    monkeypatch.setenv("GAN_ORT_WEB_DIR", str(tmp_path / "nowhere"))
    why = share_unavailable()
    assert why and "npm ci" in why and "\n" not in why


def test_the_page_check_compares_relative_to_the_outputs_size():
    """Points in thousands differ between onnxruntime-web and onnxruntime by float32 rounding of their size:
    the check divides by the size beyond 1 (as the export's check), so such a model still gets its page,
    while a real difference of small outputs is still caught."""
    from gan_core.share.agreement import relative_difference
    from gan_core.share.page import TOLERANCE
    big = np.array([[40000.0, -25000.0]], np.float32)
    assert relative_difference(big + np.float32(2e-3) * 4, big) <= TOLERANCE      # 8e-3 on 4e4: rounding, not a bug
    small = np.array([[0.5, -0.25]], np.float32)
    assert relative_difference(small + 8e-3, small) > TOLERANCE                   # 8e-3 on 0.5: a real difference
    assert relative_difference(np.array([np.nan]), np.array([1.0])) == float("inf")
