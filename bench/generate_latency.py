"""Sampling latency: onnxruntime (gan_core.share.generation) against torch eager on the same generator.

    python -m bench.generate_latency [--quick] [--repeats R]

For the ring8 MLP generator and the digits DCGAN generator (weights as built from the seed: latency does
not depend on training), the generator is exported with ``gan_core.share.export.export_generator`` to a temp
folder and opened with ``gan_core.share.generation.load_model`` (the product's session options). Then, for
1, 64 and 1,024 samples:

* "end to end": ``GeneratorModel.generate(n, seed)`` (latents from the seed, one run, finiteness check)
  against the same steps in torch eager (same latents, ``torch.inference_mode``, the same check);
* "engine only": ``session.run`` against ``module(z)`` on a prepared latent array.

torch runs with the same thread count as the product's onnxruntime session (its intra-op threads) and,
as a second column, with torch's default thread count. Other onnxruntime session settings are measured
too, engine only, so that a faster one shows. The last line is torch time / onnxruntime time at 64
samples, end to end, for the model where onnxruntime's lead is smallest (the target is >= 1.5x).
"""
from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from bench import common
from bench.common import fmt_time, median, ratio, say, table

DEFAULT_THREADS = torch.get_num_threads()
SIZES = (1, 64, 1024)
MODELS = ("ring8", "digits")
TARGET = 1.5


def _discard(_result) -> None:
    return None


def build_generator(name: str):
    """The generator in data space (what is exported), CPU, eval mode, and its config."""
    from gan_core.config import TrainConfig
    from gan_core.data.datasets import load_dataset
    from gan_core.engine.models import DataSpace, build_models
    cfg = TrainConfig(dataset=name, device="cpu").resolved()
    ds = load_dataset(cfg)
    torch.manual_seed(cfg.seed)
    G, _ = build_models(cfg, ds)
    return DataSpace(G, ds.kind).eval(), cfg


def export(module, cfg, folder: Path) -> Path:
    from gan_core.share.export import export_generator
    path = folder / f"{cfg.dataset}.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        export_generator(module, path, latent_dim=cfg.latent_dim,
                         metadata={"dataset": cfg.dataset, "iterations": 0, "prior": cfg.prior})
    return path


def session_variants(path: Path) -> dict:
    """onnxruntime sessions with other settings than the product's (engine-only comparison)."""
    from gan_core.share.generation import _session_options

    def opts(threads=None, spinning="0", level=None):
        """The product's options (see gan_core.share.generation._session_options) with one setting changed."""
        ref = _session_options()
        so = ort.SessionOptions()
        so.graph_optimization_level = ref.graph_optimization_level if level is None else level
        so.intra_op_num_threads = ref.intra_op_num_threads if threads is None else threads
        so.inter_op_num_threads = ref.inter_op_num_threads
        so.execution_mode = ref.execution_mode
        so.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        so.log_severity_level = 3
        return so

    plain = ort.SessionOptions()
    plain.log_severity_level = 3
    data = path.read_bytes()
    mk = lambda so: ort.InferenceSession(data, sess_options=so, providers=["CPUExecutionProvider"])  # noqa: E731
    cores = len(__import__("os").sched_getaffinity(0))
    out = {
        "onnxruntime defaults (SessionOptions())": mk(plain),
        f"product options, {cores} threads, no spinning": mk(opts(threads=cores)),
        f"product options, {cores} threads, spinning": mk(opts(threads=cores, spinning="1")),
        "product options, 1 thread, basic graph optimisation":
            mk(opts(threads=1, level=ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)),
    }
    return out


def measure_model(name: str, repeats: int, tmp: Path) -> dict:
    from gan_core.share.generation import _session_options, load_model, sample_latents
    module, cfg = build_generator(name)
    path = export(module, cfg, tmp)
    model = load_model(path)
    ort_threads = _session_options().intra_op_num_threads
    variants = session_variants(path)

    def torch_generate(n: int, threads: int):
        def run():
            torch.set_num_threads(threads)
            z = sample_latents(n, cfg.latent_dim, cfg.prior, 0)
            with torch.inference_mode():
                out = module(torch.from_numpy(z)).numpy()
            if not np.isfinite(out).all():
                raise RuntimeError("non-finite output")
            return None
        return run

    def torch_engine(z: np.ndarray, threads: int):
        zt = torch.from_numpy(z)

        def run():
            torch.set_num_threads(threads)
            with torch.inference_mode():
                module(zt)
        return run

    results = {}
    for n in SIZES:
        inner = 200 if n == 1 else 40 if n == 64 else 5
        z = sample_latents(n, cfg.latent_dim, cfg.prior, 0)
        sess = model.session
        feed = {model.input_name: z}
        cases = {
            "e2e onnxruntime (product)": lambda n=n: _discard(model.generate(n, seed=0)),
            "e2e torch, same threads": torch_generate(n, ort_threads),
            "e2e torch, default threads": torch_generate(n, DEFAULT_THREADS),
            "engine onnxruntime (product)": lambda sess=sess, feed=feed: _discard(sess.run(None, feed)),
            "engine torch, same threads": torch_engine(z, ort_threads),
            "engine torch, default threads": torch_engine(z, DEFAULT_THREADS),
        }
        for label, s in variants.items():
            cases["engine " + label] = (lambda s=s, f={s.get_inputs()[0].name: z}: _discard(s.run(None, f)))
        res = common.interleaved(cases, repeats, warmup=1, inner=inner)
        results[n] = {k: median(v) for k, v in res.items()}
    torch.set_num_threads(DEFAULT_THREADS)

    say(f"## {name}: {type(module.generator).__name__}, latent {cfg.latent_dim}, output {list(model.output_shape)}; "
        f"product session: {ort_threads} intra-op thread(s); torch default threads {DEFAULT_THREADS}")
    rows = []
    for n, r in results.items():
        o = r["e2e onnxruntime (product)"]
        rows.append([n, fmt_time(o), fmt_time(r["e2e torch, same threads"]), fmt_time(r["e2e torch, default threads"]),
                     ratio(r["e2e torch, same threads"] / o), ratio(r["e2e torch, default threads"] / o)])
    say("end to end (latents from the seed, generate, finiteness check):")
    say(table(rows, ["samples", "onnxruntime", f"torch {ort_threads} thr", f"torch {DEFAULT_THREADS} thr",
                     "torch/ort (same thr)", "torch/ort (torch default)"]))
    rows = []
    for n, r in results.items():
        o = r["engine onnxruntime (product)"]
        rows.append([n, fmt_time(o), fmt_time(r["engine torch, same threads"]),
                     fmt_time(r["engine torch, default threads"]), ratio(r["engine torch, same threads"] / o),
                     ratio(r["engine torch, default threads"] / o)])
    say("engine only (session.run vs module(z) on prepared latents):")
    say(table(rows, ["samples", "onnxruntime", f"torch {ort_threads} thr", f"torch {DEFAULT_THREADS} thr",
                     "torch/ort (same thr)", "torch/ort (torch default)"]))
    rows = []
    for label in ["onnxruntime (product)", *variants]:
        rows.append([label, *(fmt_time(results[n]["engine " + label]) for n in SIZES),
                     *(ratio(results[n]["engine onnxruntime (product)"] / results[n]["engine " + label])
                       for n in SIZES)])
    say("onnxruntime session settings, engine only (speed-up > 1.00x: faster than the product's settings):")
    say(table(rows, ["session", *(f"{n}" for n in SIZES), *(f"speed-up @{n}" for n in SIZES)]))
    say()
    r64 = results[64]
    return {"e2e": r64["e2e torch, same threads"] / r64["e2e onnxruntime (product)"],
            "e2e_default": r64["e2e torch, default threads"] / r64["e2e onnxruntime (product)"],
            "engine": r64["engine torch, same threads"] / r64["engine onnxruntime (product)"]}


def main(argv=None) -> float:
    threads_before = torch.get_num_threads()
    try:
        return _main(argv)
    finally:   # in-process callers (tests) get their thread count back
        torch.set_num_threads(threads_before)


def _main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of ring8,digits")
    args = p.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            p.error(f"unknown model {n!r}; choose from {', '.join(MODELS)}")
    common.print_header("Generation latency: onnxruntime (gan_core.share.generation) vs torch eager", args, "cpu",
                        {"repeats": repeats})
    tmp = Path(tempfile.mkdtemp(prefix="bench_gen_"))
    try:
        res = {n: measure_model(n, repeats, tmp) for n in names}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for n, r in res.items():
        say(f"{n} @64 samples: torch/onnxruntime end to end {ratio(r['e2e'])} (same threads), "
            f"{ratio(r['e2e_default'])} (torch default threads); engine only {ratio(r['engine'])}; "
            f"target >= {TARGET}x {'met' if r['e2e'] >= TARGET else 'NOT met'}")
    worst = min(res, key=lambda n: res[n]["e2e"])
    headline = res[worst]["e2e"]
    common.final_line(f"generation at 64 samples, torch eager time / onnxruntime time (same threads, end to end, "
                      f"smallest of {', '.join(res)}: {worst})", headline)
    return headline


if __name__ == "__main__":
    main(sys.argv[1:])
