"""Discriminator rejection sampling: with D = D* (eq. (7)) it turns samples of p_g into samples of p_data.

1-D: p_g = N(0, 1) (G the identity on a normal latent), p_data = N(0.5, 0.7²), logit = log p_data/p_g exactly.
Then a trained model's export with D round-trips: a second output `logit`, marked in the metadata, used by
generate(rejection=True) deterministically; the plain path and old readers are unchanged.
"""
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli

from gan_core.errors import ConfigError
from gan_core.share import latent
from gan_core.share.generation import load_model, sample_latents
from gan_core.theory import rejection

SHARE = Path(__file__).resolve().parents[1] / "gan_core" / "share"
NODE = shutil.which("node") or shutil.which("nodejs")

MU, SD = 0.5, 0.7


def log_ratio(x):   # log p_data(x) − log p_g(x), the logit of D* (eq. (7))
    return (-0.5 * ((x - MU) / SD) ** 2 - math.log(SD)) - (-0.5 * x ** 2)


def identity_g(z):
    x = z[:, :1].astype(np.float64)
    return x, log_ratio(x[:, 0])


def hist_kl(samples, mu, sd, edges=np.linspace(-3, 4, 36)):
    """KL(histogram of samples ‖ N(mu, sd²) binned alike), in nats."""
    from math import erf
    cdf = np.array([0.5 * (1 + erf((e - mu) / (sd * math.sqrt(2)))) for e in edges])
    p = np.diff(cdf) / np.diff(cdf).sum()
    q = np.histogram(samples, edges)[0] + 0.5
    q = q / q.sum()
    return float((q * np.log(q / p)).sum())


def test_acceptance_is_exp_of_logit_minus_max():
    np.testing.assert_allclose(rejection.acceptance([0.0, -1.0, 2.0, 1.0], 1.0), [math.exp(-1), math.exp(-2), 1.0, 1.0])


def test_rejection_with_exact_d_star_moves_p_g_to_p_data():
    n = 20_000
    raw = sample_latents(n, 1, "normal", 7)[:, 0]
    x, rep = rejection.rejection_sample(identity_g, n, 1, "normal", seed=7)
    x = x[:, 0]
    assert abs(raw.mean()) < 0.03 and abs(raw.std() - 1) < 0.03          # p_g before
    assert x.mean() == pytest.approx(MU, abs=0.025)                        # p_data after
    assert x.std() == pytest.approx(SD, abs=0.02)
    assert hist_kl(x, MU, SD) < 0.01 < 0.1 < hist_kl(raw, MU, SD)          # KL to p_data falls
    # envelope e^M with M the 99.9th percentile of the burn-in logits: below the true maximum ratio, so
    # acceptance is a little above E_{p_g}[p_data/p_g] / max ratio = 1 / max ratio
    x_star = MU / (1 - SD ** 2)   # where log_ratio peaks
    burn = sample_latents(rejection.BURN_IN, 1, "normal", 7)[:, 0]
    assert rep["envelope_logit"] == pytest.approx(np.percentile(log_ratio(burn), rejection.QUANTILE))
    assert rep["envelope_logit"] < log_ratio(x_star)
    assert math.exp(-log_ratio(x_star)) < rep["acceptance"] < 1.3 * math.exp(-log_ratio(x_star))


def test_rejection_is_deterministic_and_prefix_stable():
    a, _ = rejection.rejection_sample(identity_g, 3000, 1, "normal", seed=3)
    b, _ = rejection.rejection_sample(identity_g, 3000, 1, "normal", seed=3, block=777)
    c, _ = rejection.rejection_sample(identity_g, 1000, 1, "normal", seed=3)
    d, _ = rejection.rejection_sample(identity_g, 1000, 1, "normal", seed=4)
    np.testing.assert_array_equal(a, b)          # blocks do not matter
    np.testing.assert_array_equal(a[:1000], c)   # a smaller n is a prefix
    assert not np.array_equal(c, d)


def test_uniforms_are_their_own_stream():
    u = latent.uniforms(0, 50_000, seed=5)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(latent.uniforms(100, 10, 5), u[100:110])
    z = sample_latents(50_000, 1, "uniform", 5)[:, 0]   # the latent sampler's own uniforms: a different counter
    assert abs(np.corrcoef(u, (z + 1) / 2)[0, 1]) < 0.02


def test_envelope_is_numpys_percentile_to_the_bit():
    rng = np.random.default_rng(0)
    for n in [1, 2, 3, 7, 999, 1000, 10_000, 10_001]:
        for _ in range(5):
            lg = (rng.standard_normal(n) * rng.uniform(0.1, 50)).astype(np.float32)
            assert rejection.envelope_logit(lg) == float(np.percentile(lg.astype(np.float64), rejection.QUANTILE))


# --- the share page's twin (rejection.js): the same rows kept, to the bit --------------------------------------

# A logit without log or exp, so that JavaScript and numpy compute the same doubles: log p_data/p_g of
# N(MU, SD²) against N(0, 1) up to a constant.
LOGIT_JS = "(x) => -0.5 * ((x - 0.5) / 0.7) ** 2 + 0.5 * x * x + 0.25"


def algebraic_g(z):
    x = z[:, :1].astype(np.float64)
    return x.astype(np.float32), -0.5 * ((x[:, 0] - 0.5) / 0.7) ** 2 + 0.5 * x[:, 0] * x[:, 0] + 0.25


def _node(code: str):
    r = subprocess.run([NODE], input=code, capture_output=True, text=True, timeout=120)   # the script on stdin
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _js_rejection(n, seed, params, logit_js=LOGIT_JS):
    return _node(f"""
const R = require({json.dumps(str(SHARE / "rejection.js"))}), f = {logit_js};
async function run(z, k) {{   // G the identity on the first latent coordinate
  const x = new Float32Array(k), logit = new Float64Array(k);
  for (let i = 0; i < k; i++) {{ x[i] = z[i]; logit[i] = f(z[i]); }}
  return {{ x, logit }};
}}
R.rejectionSample(run, {n}, 1, "normal", {seed}, 1, {json.dumps(params)}).then(
  (r) => console.log(JSON.stringify({{ x: Array.from(r.x), m: r.envelopeLogit, drawn: r.drawn, acc: r.acceptance }})),
  (e) => console.log(JSON.stringify({{ error: e.message }})));""")


@pytest.mark.parametrize("n, seed, burn_in, block", [(500, 3, 1000, 97), (64, 7, rejection.BURN_IN, rejection.BLOCK),
                                                     (3000, 2**40 + 1, 700, 4096)])
def test_javascript_rejection_keeps_the_same_rows(n, seed, burn_in, block):
    params = {**rejection.params(), "burn_in": burn_in, "block": block}
    js = _js_rejection(n, seed, params)
    x, rep = rejection.rejection_sample(algebraic_g, n, 1, "normal", seed, block=block, burn_in=burn_in)
    np.testing.assert_array_equal(np.asarray(js["x"], np.float32), x[:, 0])
    assert js["m"] == rep["envelope_logit"] and js["drawn"] == rep["drawn"] and js["acc"] == rep["acceptance"]
    assert 0.3 < rep["acceptance"] < 0.95   # rows were rejected, so the stream and its uniforms mattered


def test_javascript_envelope_and_uniforms_equal_pythons():
    lg = np.random.default_rng(1).standard_normal(10_001).astype(np.float32)
    got = _node(f"const R = require({json.dumps(str(SHARE / 'rejection.js'))}), "
                f"S = require({json.dumps(str(SHARE / 'sampler.js'))});"
                f"console.log(JSON.stringify([R.envelopeLogit(new Float32Array({json.dumps(lg.tolist())}), 99.9),"
                f" Array.from(S.uniforms(2**32 - 3, 6, 2**53 - 1))]))")
    assert got[0] == rejection.envelope_logit(lg)
    assert got[1] == latent.uniforms(2**32 - 3, 6, 2**53 - 1).tolist()   # across the counter's 32-bit carry


def test_javascript_rejection_gives_up_as_python_does():
    params = {**rejection.params(), "burn_in": 500, "quantile": 100.0, "max_draws_per_sample": 20}
    js = _js_rejection(5, 0, params, "(x) => Math.abs(x) > 2.9 ? 50 : 0")
    assert js["error"].startswith("rejection sampling kept only") and "generate without rejection" in js["error"]
    assert _js_rejection(5, 0, {**params, "name": "dr-sampling v9"})["error"] == \
        "this page does dr-sampling v2, the model asks for dr-sampling v9"


def test_rejection_gives_up_in_one_line_when_d_rejects_everything(monkeypatch):
    # With M the 99.9th percentile at least ~0.1 % is always kept; with the paper's M = max, one burn-in outlier
    # makes every later sample nearly impossible to keep — then it stops with one line, not a hang.
    monkeypatch.setattr(rejection, "QUANTILE", 100.0)

    def hopeless(z):
        x = z[:, :1].astype(np.float64)
        return x, np.where(np.abs(x[:, 0]) > 3.7, 50.0, 0.0)
    with pytest.raises(ConfigError, match="rejection sampling kept only"):
        rejection.rejection_sample(hopeless, 50, 1, "normal", seed=0)


@pytest.fixture(scope="module")
def packed_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("drs") / "run"
    r = run_cli("train", "--dataset", "ring8", "--run-dir", run, "--iterations", "60", "--pack", "2", "--hidden", "16",
                "--depth", "2", "--batch-size", "32", "--snapshot-samples", "300", "--quiet", timeout=180)
    assert r.returncode == 0, r.stderr
    return run


@pytest.mark.slow  # trains and exports (dynamo ONNX export: ~10 s on an idle 2-core machine)
def test_exported_model_carries_d_and_round_trips(packed_run):
    from gan_core.engine.models import pointwise_logit
    from gan_core.engine.refit import final_pair
    model = load_model(packed_run / "generator.onnx")
    assert model.logit_name == "logit" and model.output_name == "x"
    meta = model.metadata
    assert meta["rejection"] == rejection.NAME and meta["pack"] == "2"
    assert meta["rejection_logit"] == "packed-diagonal/2" and meta["rejection_default"] in ("true", "false")
    z = sample_latents(40, model.latent_dim, model.prior, 9)
    x, lg = model.run_with_logit(z)
    G, D, *_, notes = final_pair(packed_run)   # what the export holds: G with its population BatchNorm statistics
    assert "batchnorm" in notes and "discriminator" not in notes   # a packed D is not refit
    assert meta["final_batchnorm"] == notes["batchnorm"]
    with torch.no_grad():
        xt = G(torch.from_numpy(z))
        np.testing.assert_allclose(x, xt.numpy(), atol=1e-4)
        np.testing.assert_allclose(lg, pointwise_logit(D, xt).numpy(), atol=1e-4)
    plain = model.generate(200, seed=2, rejection=False)
    np.testing.assert_array_equal(plain, model.run(sample_latents(200, model.latent_dim, model.prior, 2)))
    kept = model.generate(200, seed=2, rejection=True)
    np.testing.assert_array_equal(kept, model.generate(200, seed=2, rejection=True))
    assert model.last_rejection["drawn"] >= 200 and 0 < model.last_rejection["acceptance"] <= 1
    # every kept sample is one of G's samples of the stream, in stream order
    stream = model.run(sample_latents(model.last_rejection["drawn"], model.latent_dim, model.prior, 2))
    rows = [int(np.flatnonzero((stream == k).all(axis=1))[0]) for k in kept[:20]]
    assert rows == sorted(rows)


@pytest.mark.slow  # trains and exports (dynamo ONNX export: ~10 s on an idle 2-core machine)
def test_cli_generate_with_and_without_rejection(packed_run, tmp_path):
    for flag in ("--rejection", "--no-rejection"):
        out = tmp_path / f"s{flag}.csv"
        r = run_cli("generate", packed_run / "generator.onnx", "--n", "100", "--seed", "1", "--out", out, flag,
                    timeout=120)
        assert r.returncode == 0, r.stderr
        assert len(out.read_text().splitlines()) == 101


@pytest.mark.slow  # trains and exports (dynamo ONNX export: ~10 s on an idle 2-core machine)
def test_model_without_d_refuses_rejection_in_one_line(tmp_path):
    from torch import nn

    from gan_core.share.export import export_generator
    torch.manual_seed(0)
    path = tmp_path / "g.onnx"
    export_generator(nn.Linear(2, 2), path, latent_dim=2, metadata={"dataset": "ring8"})
    model = load_model(path)
    assert model.logit_name is None and not model.rejection_default
    with pytest.raises(ConfigError, match="carries no discriminator"):
        model.generate(10, rejection=True)
    r = run_cli("generate", path, "--n", "10", "--out", tmp_path / "x.csv", "--rejection", timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no discriminator" in r.stderr


@pytest.mark.slow  # trains and exports twice (dynamo ONNX export: ~10 s each on an idle 2-core machine)
def test_an_unpacked_run_exports_d_refit_to_its_final_g(tmp_path):
    from gan_core.engine.checkpoint import load_discriminator
    from gan_core.engine.models import pointwise_logit
    from gan_core.engine.refit import final_pair
    from gan_core.share.export import export_run
    run = tmp_path / "run"
    r = run_cli("train", "--dataset", "grid25", "--run-dir", run, "--iterations", "40", "--hidden", "16",
                "--depth", "2", "--batch-size", "32", "--refit-d", "60", "--snapshot-samples", "300", "--quiet",
                timeout=180)
    assert r.returncode == 0, r.stderr
    model = load_model(run / "generator.onnx")
    assert "refit to the final G for 60 steps" in model.metadata["final_discriminator"]
    z = sample_latents(50, model.latent_dim, model.prior, 4)
    G, D, *_ = final_pair(run)
    with torch.no_grad():
        xt = G(torch.from_numpy(z))
        refit, game = pointwise_logit(D, xt).numpy(), pointwise_logit(load_discriminator(run), xt).numpy()
    x, lg = model.run_with_logit(z)
    np.testing.assert_allclose(lg, refit, atol=1e-4, rtol=1e-4)
    assert np.abs(refit - game).max() > 1e-3          # the refit moved D
    # deterministic (fixed streams): an export again gives the same model — bitwise with the same torch
    # threads, to float rounding from the trainer's one thread
    a, b = (load_model(export_run(run, tmp_path / f"{n}.onnx").path).run_with_logit(z)[1] for n in "ab")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, lg, atol=1e-4, rtol=1e-4)
