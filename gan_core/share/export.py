"""Export a trained generator to one self-contained ONNX file, verified against torch before it is written.

The file follows the contract in SPEC.md: input `z` float32 [batch, latent_dim] with a dynamic batch
axis, output `x` [batch, ...] in data space, metadata_props describing the model, weights inside.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import logging
import os
import stat
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import external_data_helper

from gan_core.errors import GanError
from gan_core.files import file_kind, open_regular, write_output
from gan_core.share import latent
from gan_core.share.agreement import relative_difference
from gan_core.share.facts import latest_quality
from gan_core.share.generation import PRIORS, sample_latents
from gan_core.theory import rejection

OPSET = 18


@dataclass
class ExportReport:
    path: Path
    max_abs_diff: float     # largest |ORT − torch| over the check latents (batch n_check and batch 1)
    n_check: int
    size_bytes: int
    exporter: str           # 'dynamo' (torch.export + onnxscript) or 'torchscript' (fallback)


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress and deprecation chatter; keep the CLI's output to our own lines."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _to_onnx(module: torch.nn.Module, example: torch.Tensor, opset: int,
             outputs: tuple = ("x",)) -> tuple[onnx.ModelProto, str]:
    """ONNX proto of `module`, batch axis dynamic. The dynamo exporter (torch's default since 2.9) is
    tried first; the TorchScript one is a fallback for modules torch.export cannot trace."""
    errors = []
    with _quiet():
        try:
            batch = torch.export.Dim("batch", min=1)
            program = torch.onnx.export(module, (example,), None, input_names=["z"], output_names=list(outputs),
                                        opset_version=opset, dynamic_shapes=({0: batch},), dynamo=True,
                                        verbose=False)
            # In memory, not via a path: torch writes a side .data file by default when given a path.
            return program.model_proto, "dynamo"
        except Exception as exc:   # the dynamo exporter raises many types
            errors.append(f"dynamo: {_short(exc)}")
        try:
            buf = io.BytesIO()
            torch.onnx.export(module, (example,), buf, input_names=["z"], output_names=list(outputs),
                              opset_version=min(opset, 17), dynamo=False,
                              dynamic_axes={"z": {0: "batch"}, **{o: {0: "batch"} for o in outputs}})
            return onnx.load_from_string(buf.getvalue()), "torchscript"
        except Exception as exc:
            errors.append(f"torchscript: {_short(exc)}")
    raise GanError("could not export the generator to ONNX (" + "; ".join(errors) + ")")


def _meta_value(value) -> str:
    if isinstance(value, (list, tuple, dict, bool)):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return str(value)


def _set_metadata(model: onnx.ModelProto, metadata: dict) -> dict:
    meta = {str(k): _meta_value(v) for k, v in metadata.items() if v is not None}
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    return meta


def _check_graph(model: onnx.ModelProto, latent_dim: int, outputs: tuple = ("x",)) -> None:
    ins = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    outs = list(model.graph.output)
    if [i.name for i in ins] != ["z"] or [o.name for o in outs] != list(outputs):
        raise GanError(f"exported graph has inputs {[i.name for i in ins]} and outputs "
                       f"{[o.name for o in outs]}; expected exactly z and {', '.join(outputs)}")
    dims = ins[0].type.tensor_type.shape.dim
    if len(dims) != 2 or dims[0].HasField("dim_value") or dims[1].dim_value != latent_dim:
        raise GanError(f"exported input z has shape {[d.dim_param or d.dim_value for d in dims]}; "
                       f"expected [batch, {latent_dim}] with a dynamic batch")
    tensors = list(model.graph.initializer)
    tensors += [a.t for node in model.graph.node for a in node.attribute if a.HasField("t")]
    for t in tensors:
        if external_data_helper.uses_external_data(t):
            raise GanError(f"exported tensor {t.name!r} lives in external data; expected all weights inline")


def _verify(module: torch.nn.Module, data: bytes, latents: np.ndarray, tol: float, outputs: tuple = ("x",)) -> float:
    """Largest |ORT − torch| on `latents` as one batch and on the first latent alone (batch 1), every output."""
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    worst, scales = 0.0, {}
    for z in (latents, latents[:1]):
        with torch.no_grad():
            res = module(torch.from_numpy(z))
        res = res if isinstance(res, tuple) else (res,)
        for name, exp_t, got in zip(outputs, res, session.run(list(outputs), {"z": z})):
            expected = exp_t.detach().cpu().numpy()
            if not np.isfinite(expected).all():
                raise GanError(f"the {'generator' if name == 'x' else 'discriminator'} produces NaN or infinite "
                               "values (training probably diverged); not exporting it")
            if got.shape != expected.shape:
                raise GanError(f"ONNX output shape {list(got.shape)} differs from torch's {list(expected.shape)}")
            # each output's size over all the check's latents, the batch of one included (a small logit there
            # is a difference of large activations, rounded in proportion to them)
            scale = scales.setdefault(name, max(1.0, float(np.abs(expected).max())))
            worst = max(worst, relative_difference(got, expected, scale))
    if not worst <= tol:
        raise GanError(f"ONNX output differs from torch by up to {worst:.3g} of its size (tolerance {tol:g}); "
                       "the model file was not written")
    return worst


def _module_and_probe(generator, discriminator, latents: np.ndarray, meta: dict):
    """A CPU float32 copy in eval mode (the caller's module, maybe on a GPU, maybe training, is untouched, and the
    check compares like with like, since the file will run on a CPU), with D's logit as a second output when a
    discriminator is given; and its output on the check's latents, refused when it cannot be used."""
    module = copy.deepcopy(generator).to(device="cpu", dtype=torch.float32).eval()
    outputs = ("x",)
    if discriminator is not None:
        from gan_core.engine.models import GeneratorWithLogit
        d = copy.deepcopy(discriminator).to(device="cpu", dtype=torch.float32).eval()
        module = GeneratorWithLogit(module, d).eval()
        outputs = ("x", "logit")
        meta["rejection"] = rejection.NAME
    with torch.no_grad():   # fail fast, before the slow export, on a generator that cannot be used
        probe = module(torch.from_numpy(latents))
        probe = probe[0] if isinstance(probe, tuple) else probe
    if not torch.isfinite(probe).all():
        raise GanError("the generator produces NaN or infinite values (training probably diverged); "
                       "not exporting it")
    if probe.ndim not in (2, 4):
        raise GanError(f"generator output has shape {list(probe.shape)}; expected [batch, d] points "
                       "or [batch, C, H, W] images")
    return module, outputs, probe


def _describe(meta: dict, latent_dim: int, prior: str, probe: torch.Tensor) -> None:
    meta["latent_dim"] = latent_dim
    meta["prior"] = prior
    # Measured, not taken on trust: load_model rejects a file whose metadata contradicts its graph.
    meta["output_kind"] = "points" if probe.ndim == 2 else "image"
    meta["output_shape"] = list(probe.shape[1:])
    # The page and the CLI draw the same z for a seed only with the same sampler: name it in the file.
    meta["latent_sampler"] = latent.NAME
    meta["latent_sampler_version"] = latent.VERSION
    meta.setdefault("producer", "gan_core")
    meta.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))


def export_generator(generator: torch.nn.Module, path, *, latent_dim: int, metadata: dict, n_check: int = 256,
                     tol: float = 1e-4, seed: int = 0, opset: int = OPSET,
                     discriminator: torch.nn.Module | None = None) -> ExportReport:
    """Write `generator` (z [batch, latent_dim] -> samples in data space) to `path` as ONNX.

    With `discriminator` (and `generator` a models.DataSpace) the file gains a second output `logit`, D's
    single-point logit at G(z), for discriminator rejection sampling (metadata `rejection`); `x` stays first.

    Nothing is written unless the file passes onnx's full check and onnxruntime reproduces torch's
    output within `tol` on `n_check` seeded latents and on a batch of one."""
    path = Path(path)
    if int(latent_dim) < 1 or int(n_check) < 1:
        raise GanError(f"need latent_dim >= 1 and n_check >= 1, got {latent_dim} and {n_check}")
    latent_dim = int(latent_dim)
    meta = dict(metadata or {})
    prior = str(meta.get("prior", "normal"))
    if prior not in PRIORS:
        raise GanError(f"unknown prior {prior!r} (expected normal or uniform)")

    latents = sample_latents(int(n_check), latent_dim, prior, seed)
    module, outputs, probe = _module_and_probe(generator, discriminator, latents, meta)
    _describe(meta, latent_dim, prior, probe)

    # Two latents as the example: torch.export specialises a batch of 1 to a constant.
    example = torch.from_numpy(sample_latents(2, latent_dim, prior, seed + 1))
    model, exporter = _to_onnx(module, example, int(opset), *([outputs] if discriminator is not None else []))
    _check_graph(model, latent_dim, outputs)
    _set_metadata(model, meta)
    if meta.get("description"):
        model.doc_string = str(meta["description"])
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise GanError(f"the exported ONNX model fails onnx's checker: {_short(exc)}") from None
    data = model.SerializeToString()   # one self-contained protobuf: weights included
    max_diff = _verify(module, data, latents, float(tol), outputs)
    write_output(path, data, durable=True)   # temp file in the same folder (a link's target's), fsync, rename
    return ExportReport(path, max_diff, int(n_check), len(data), exporter)


def _last_value_estimate(run_dir: Path):
    """Ṽ of the last logged row of metrics.csv (status.json gets its copy only after the export)."""
    try:
        with io.TextIOWrapper(open_regular(run_dir / "metrics.csv"), errors="replace", newline="") as fh:
            rows = list(csv.DictReader(fh))
        return float(rows[-1]["value_estimate"]) if rows else None
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _check_in_place(path: Path) -> None:
    """A run's own generator.onnx is replaced in place: refused (one line) when it is a link or not a file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise GanError(f"{path.parent.name}/{path.name} is {file_kind(mode)}, not a file; a run is written in place, "
                       "never through a link: remove it, or give --out")


def export_run(run_dir, out=None, should_stop=lambda: False) -> ExportReport:
    """Export a run's last checkpoint to `out` (default RUN_DIR/generator.onnx) with its metadata; should_stop:
    whether a stop was asked (the refit of D then ends early: gan_core.engine.refit.final_pair)."""
    from gan_core.config import GENERATION_DEFAULTS
    from gan_core.engine.refit import final_pair  # lazy: keeps `import gan_core.share.export` light
    from gan_core.runs.store import read_status

    run_dir = Path(run_dir)
    if out is None:
        _check_in_place(run_dir / "generator.onnx")
    generator, discriminator, cfg, _, iteration, notes = final_pair(run_dir, should_stop)
    status = read_status(run_dir)
    final_v = status.get("final_value_estimate")
    meta = {"dataset": Path(str(cfg.dataset)).name,   # a file name, never a user's local path
            "iterations": iteration, "g_loss": cfg.g_loss, "k": cfg.k, "prior": cfg.prior,
            "final_value_estimate": final_v if final_v is not None else _last_value_estimate(run_dir),
            "run": run_dir.name, **latest_quality(run_dir),
            "pack": cfg.pack or 1,
            # D's logit for rejection sampling: itself, or for a packed D its logit on (x, …, x) / P
            "rejection_logit": "single-point" if (cfg.pack or 1) == 1 else f"packed-diagonal/{cfg.pack}",
            # on by default only for an unpacked D: a packed D's logit on (x, …, x) is an extrapolation
            "rejection_default": (cfg.pack or 1) == 1
                                 and GENERATION_DEFAULTS.get(str(cfg.dataset), {}).get("rejection", False),
            "description": f"GAN generator trained on {Path(str(cfg.dataset)).name} for {iteration} iterations",
            # what gan_core.engine.refit did between the checkpoint and this file
            **{f"final_{k}": v for k, v in notes.items()}}
    return export_generator(generator, Path(out) if out else run_dir / "generator.onnx",
                            latent_dim=cfg.latent_dim, metadata=meta, seed=cfg.seed,
                            discriminator=discriminator)
