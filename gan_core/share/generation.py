"""Sampling from an exported ONNX generator with onnxruntime, numpy and Pillow only.

This module must never import torch (directly or through another gan_core module): it is what
`python -m gan_core generate` and a shared model file rely on where torch is not installed. It opens and
checks an untrusted model and samples it; gan_core.share.outputs turns samples into files.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from gan_core.errors import ConfigError, ModelFileError
from gan_core.files import open_regular
from gan_core.share import latent, onnx_check

PRIORS = ("normal", "uniform")

# A model file may come from anyone (an upload, a shared zip). Before it runs here it is checked
# statically (gan_core.share.onnx_check: operators, shapes, metadata) and run once in a child process with
# a memory and time limit, at the largest batch this process will ever give it; its graph cannot make
# shapes depend on the latent values, so that trial bounds every later run.
MAX_MODEL_BYTES = 256 << 20
MAX_GENERATE_VALUES = 32 << 20      # n × (values per sample, or latent_dim): 128 MB of float32
PROBE_MEMORY_BYTES = 1 << 30        # the trial's whole address space (python + onnxruntime ≈ 0.2 GB of it)
PROBE_TIMEOUT_S = 20.0
PROBE_VALUES = 1 << 20              # the trial batch makes about this many output values (≤ MAX_BATCH rows)
MAX_BATCH = 1024


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _session_options() -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Generators are small: beyond a few threads the pool's hand-off costs more than it saves, and
    # the dashboard shares the CPU with training processes, so leave them half the cores and never
    # busy-spin (on a 2-core box 1 thread measured as fast as 2, and spinning doubled the latency).
    so.intra_op_num_threads = max(1, min(4, (os.cpu_count() or 2) // 2))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3   # ORT's own warnings are not actionable for a user
    return so


def _read_source(source) -> tuple[bytes, str]:
    """The model's bytes and a name for messages; accepts a path, bytes or an uploaded file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _capped(bytes(source), "the uploaded model")
    if hasattr(source, "getvalue") or hasattr(source, "read"):   # e.g. Streamlit's UploadedFile
        data = source.getvalue() if hasattr(source, "getvalue") else source.read(MAX_MODEL_BYTES + 1)
        return _capped(bytes(data), str(getattr(source, "name", "the uploaded model")))
    path = Path(source)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        _capped(b"", str(path), path.stat().st_size)
        with open_regular(path, follow_links=True) as fh:   # a FIFO swapped in never blocks
            return _capped(fh.read(MAX_MODEL_BYTES + 1), str(path))
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {_first_line(exc)}") from None


def _capped(data: bytes, name: str, size: int | None = None) -> tuple[bytes, str]:
    size = len(data) if size is None else size
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{name} is {size / 2 ** 20:,.0f} MB; a generator file may be at most "
                             f"{MAX_MODEL_BYTES >> 20} MB")
    return data, name


def _unwrap_zip(data: bytes, name: str) -> bytes:
    """A zip made by share_package holds generator.onnx: accept it as the model itself."""
    from gan_core.data.uploads import _zip_entry_count  # numpy-only module: no torch
    f = io.BytesIO(data)
    count = _zip_entry_count(f)
    if count is not None and count > 100:
        raise ModelFileError(f"{name} is a zip archive of {count:,} entries; a shared model holds two")
    try:
        with zipfile.ZipFile(f) as zf:
            infos = [i for i in zf.infolist() if i.filename.lower().endswith(".onnx")]
            if len(infos) == 1:
                info = infos[0]
                if info.file_size > MAX_MODEL_BYTES:   # from the directory, before unpacking a byte
                    raise ModelFileError(f"{name}: {info.filename} unpacks to {info.file_size / 2 ** 20:,.0f} MB; "
                                         f"a generator file may be at most {MAX_MODEL_BYTES >> 20} MB")
                with zf.open(info) as fh:   # stops at the declared size; a lie fails the CRC check
                    return fh.read(MAX_MODEL_BYTES + 1)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{name} is a damaged or unsupported zip archive ({_first_line(exc, 120)})") from None
    raise ModelFileError(f"{name} is a zip archive without exactly one .onnx model inside (a PyTorch "
                         "checkpoint? export it with `python -m gan_core export RUN_DIR`)")


def sample_latents(n: int, latent_dim: int, prior: str = "normal", seed: int = 0) -> np.ndarray:
    """n latent vectors from p_z; the same (n, latent_dim, prior, seed) always gives the same array,
    and a smaller n gives a prefix of a larger one. The project's latent sampler (Philox4x32-10 with
    Box–Muller, gan_core.share.latent), so that the share page reproduces it in JavaScript."""
    return latent.sample(n, latent_dim, prior, seed)


@dataclass
class GeneratorModel:
    session: ort.InferenceSession
    metadata: dict
    latent_dim: int
    prior: str
    output_kind: str          # 'points' | 'image'
    output_shape: tuple       # one sample's shape, e.g. (2,) or (1, 8, 8)
    input_name: str
    output_name: str
    fixed_batch: int = 0      # > 0 when the graph only accepts that batch size
    name: str = "model"
    max_batch: int = MAX_BATCH   # the largest batch its trial run proved affordable
    logit_name: str | None = None   # D's logit at G(z), for rejection sampling (models that carry D)
    last_rejection: dict | None = None   # the last rejection-sampled generate's report (M, rows drawn, rate)

    @property
    def rejection_default(self) -> bool:
        """Whether this model's samples are rejection-sampled unless told otherwise (its metadata says)."""
        return self.logit_name is not None and str(self.metadata.get("rejection_default", "")).lower() == "true"

    def run_with_logit(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(G(z), D's single-point logit at G(z)) for latents z [k, latent_dim]."""
        if self.logit_name is None:
            raise ConfigError(f"{self.name} carries no discriminator (no 'logit' output); rejection sampling "
                              "needs a model exported with D (re-export the run)")
        z = np.ascontiguousarray(z, dtype=np.float32)
        xs, ls = [], []
        for i in range(0, len(z), self.max_batch):   # never a batch larger than the trial run's
            try:
                x, lg = self.session.run([self.output_name, self.logit_name],
                                         {self.input_name: z[i:i + self.max_batch]})
            except Exception as exc:
                raise ModelFileError(f"{self.name} failed to run: {_first_line(exc)}") from None
            xs.append(np.asarray(x, np.float32))
            ls.append(np.asarray(lg, np.float64).reshape(-1))
        x, lg = np.concatenate(xs), np.concatenate(ls)
        if x.shape != (len(z), *self.output_shape) or lg.shape != (len(z),):
            raise ModelFileError(f"{self.name} returned shapes {list(x.shape)} and {list(lg.shape)} "
                                 f"for {len(z)} latents")
        if not np.isfinite(x).all():
            raise ModelFileError(f"{self.name} produced NaN or infinite values "
                                 "(the generator's training probably diverged)")
        return x, lg

    def check_size(self, n: int) -> None:
        """ConfigError if n samples (and their latents) would exceed MAX_GENERATE_VALUES."""
        per = max(self.latent_dim, math.prod(self.output_shape))
        if int(n) * per > MAX_GENERATE_VALUES:
            raise ConfigError(f"{int(n):,} samples of {math.prod(self.output_shape):,} values (latent size "
                              f"{self.latent_dim:,}) are too many at once; at most "
                              f"{MAX_GENERATE_VALUES // per:,} for this model")

    def latents(self, n: int, seed: int = 0) -> np.ndarray:
        return sample_latents(n, self.latent_dim, self.prior, seed)

    def run(self, z: np.ndarray) -> np.ndarray:
        """G(z) for latents z of shape [k, latent_dim]; refuses non-finite output."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"latents must have shape [n, {self.latent_dim}], got {list(z.shape)}")
        if z.shape[0] == 0:
            return np.zeros((0, *self.output_shape), np.float32)
        if self.fixed_batch and z.shape[0] != self.fixed_batch:
            return self._run_fixed(z)
        if z.shape[0] > self.max_batch:   # never a batch larger than the trial run's
            self.check_size(len(z))
            return np.concatenate([self.run(z[i:i + self.max_batch]) for i in range(0, len(z), self.max_batch)])
        try:
            out = self.session.run([self.output_name], {self.input_name: z})[0]
        except Exception as exc:   # ORT raises its own exception types
            raise ModelFileError(f"{self.name} failed to run: {_first_line(exc)}") from None
        out = np.asarray(out, dtype=np.float32)
        if out.shape != (z.shape[0], *self.output_shape):   # shapes depend on the batch only: a safeguard
            raise ModelFileError(f"{self.name} returned shape {list(out.shape)} for {z.shape[0]} latents")
        if not np.isfinite(out).all():
            bad = int((~np.isfinite(out)).sum())
            raise ModelFileError(f"{self.name} produced {bad} NaN or infinite values "
                                 "(the generator's training probably diverged)")
        return out

    def _run_fixed(self, z: np.ndarray) -> np.ndarray:
        # Pad the last chunk with zeros and trim: a graph with a fixed batch cannot take any other size.
        b, parts = self.fixed_batch, []
        for i in range(0, len(z), b):
            chunk = z[i:i + b]
            pad = np.zeros((b - len(chunk), z.shape[1]), np.float32)
            parts.append(self.run(np.concatenate([chunk, pad]))[: len(chunk)])
        return np.concatenate(parts)

    def generate(self, n: int, seed: int = 0, batch_size: int = 1024, rejection: bool | None = None) -> np.ndarray:
        """n samples in data space; identical for the same seed whatever batch_size is.

        rejection: keep each of G's samples with probability exp(logit − max logit) (gan_core.theory.rejection,
        discriminator rejection sampling); None: what the model's metadata says (rejection_default)."""
        if int(n) < 1:
            raise ConfigError(f"the number of samples must be at least 1, got {n}")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.check_size(n)
        if rejection is None:
            rejection = self.rejection_default
        if rejection:
            from gan_core.theory.rejection import rejection_sample
            samples, self.last_rejection = rejection_sample(self.run_with_logit, int(n), self.latent_dim,
                                                            self.prior, seed)
            return samples
        batch_size = min(int(batch_size), self.max_batch)
        z = self.latents(int(n), seed)   # all latents first, so batching cannot change them
        return np.concatenate([self.run(z[i:i + batch_size]) for i in range(0, len(z), batch_size)])


def _meta_int(meta: dict, key: str, name: str):
    if key not in meta:
        return None
    try:
        return int(str(meta[key]).strip())
    except ValueError:
        raise ModelFileError(f"{name} has an invalid {key} in its metadata: {meta[key]!r}") from None


def _meta_shape(meta: dict, name: str):
    text = str(meta.get("output_shape", "")).strip()
    if not text:
        return None
    try:   # JSON from our exporter; "(1, 8, 8)" or "1,8,8" from other tools
        return tuple(int(v) for v in json.loads("[" + text.strip("[]()") + "]"))
    except (ValueError, TypeError):
        raise ModelFileError(f"{name} has an invalid output_shape in its metadata: {text!r}") from None


def _session_error(msg: str, data: bytes, name: str) -> ModelFileError:
    """The one-line error for a file onnxruntime could not open."""
    if "external" in msg.lower():
        return ModelFileError(f"{name} keeps its weights in a separate file; re-export it with the weights inside")
    # A serialized ONNX ModelProto starts with field 1 (ir_version), i.e. the byte 0x08.
    if data[:1] == b"\x08" and ("protobuf" in msg.lower() or "parse" in msg.lower()):
        return ModelFileError(f"{name} looks like an ONNX file but cannot be read: it is probably "
                              "truncated or corrupted (download or copy it again)")
    if data[:1] != b"\x08":
        return ModelFileError(f"{name} is not an ONNX model file")
    return ModelFileError(f"{name} is not a usable ONNX model: {msg}")


def _io_plan(session: ort.InferenceSession) -> dict | None:
    """Input, output, latent size and fixed batch of a generator-shaped session (None otherwise)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)" or len(list(inputs[0].shape or [])) != 2 or not outputs:
        return None
    shape = list(inputs[0].shape)
    out = next((o for o in outputs if o.name == "x"), outputs[0])
    logit = next((o.name for o in outputs if o.name == "logit"), None) if out.name == "x" else None
    meta = dict(session.get_modelmeta().custom_metadata_map or {})
    graph_dim = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else None
    try:
        latent_dim = int(str(meta["latent_dim"]).strip()) if "latent_dim" in meta else graph_dim
    except ValueError:
        return None
    if not latent_dim or latent_dim < 1 or (graph_dim and graph_dim != latent_dim):
        return None
    fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else 0
    return {"input": inputs[0].name, "output": out.name, "latent_dim": latent_dim, "fixed": fixed, "logit": logit}


def _probe_child() -> None:
    """The trial run, in a child process under resource limits: model bytes on stdin, JSON on stdout."""
    data = sys.stdin.buffer.read()
    result: dict = {}
    try:
        session = ort.InferenceSession(data, sess_options=_session_options(), providers=["CPUExecutionProvider"])
    except Exception as exc:
        result["session_error"] = _first_line(exc)
        result["oom"] = _out_of_memory(exc)
    else:
        plan = _io_plan(session)
        result["runs"] = []
        if plan:
            batches = [plan["fixed"] or 1]
            try:
                for b in batches:
                    z = np.zeros((b, plan["latent_dim"]), np.float32)
                    out = np.asarray(session.run([plan["output"]], {plan["input"]: z})[0])
                    result["runs"].append({"batch": b, "shape": list(out.shape), "dtype": out.dtype.kind})
                    if len(batches) == 1 and not plan["fixed"]:   # then the largest batch we will ever use
                        per = max(1, int(np.prod(out.shape[1:], dtype=np.int64)))
                        batches.append(int(min(MAX_BATCH, max(2, PROBE_VALUES // per))))
                if plan["logit"] and not plan["fixed"]:   # D's output, at the largest batch, with G's
                    out = session.run([plan["output"], plan["logit"]], {plan["input"]: z})[1]
                    result["logit_shape"] = list(np.asarray(out).shape)
            except Exception as exc:
                result["run_error"] = _first_line(exc)
                result["oom"] = _out_of_memory(exc)
    sys.stdout.write(json.dumps(result))


def _out_of_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or "alloc" in text or "out of memory" in text


_TRIALS: dict[str, dict] = {}   # sha256 of a model → its trial's result (a file is tried once per process)


def _limit_child() -> None:   # runs in the child between fork and exec
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (PROBE_MEMORY_BYTES, PROBE_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _trial(data: bytes, name: str) -> dict:
    """Open and run the model once in a child process limited to PROBE_MEMORY_BYTES and PROBE_TIMEOUT_S."""
    key = hashlib.sha256(data).hexdigest()
    if key in _TRIALS:
        return _TRIALS[key]
    code = "from gan_core.share.generation import _probe_child; _probe_child()"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    limits = _limit_child if os.name == "posix" else None
    try:
        proc = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, env=env,
                              timeout=PROBE_TIMEOUT_S, preexec_fn=limits)
    except subprocess.TimeoutExpired:
        raise ModelFileError(f"{name} did not finish a trial run in {PROBE_TIMEOUT_S:.0f} s; refused") from None
    limit = f"{PROBE_MEMORY_BYTES >> 20} MB"
    try:
        result = json.loads(proc.stdout.decode() or "null")
    except ValueError:
        result = None
    if proc.returncode != 0 or not isinstance(result, dict):
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        why = "out of memory" if any("memory" in line.lower() or "alloc" in line.lower() for line in err[-3:]) \
            else (err[-1][:160] if err else f"exit status {proc.returncode}")
        raise ModelFileError(f"{name} failed its trial run within {limit} of memory ({why}); refused")
    if result.get("oom"):
        raise ModelFileError(f"{name} needs more than {limit} of memory to run; refused")
    if len(_TRIALS) > 64:
        _TRIALS.clear()
    _TRIALS[key] = result
    return result


def load_model(path_or_bytes) -> GeneratorModel:
    """Open an ONNX generator (a path, bytes, an uploaded file, or a share_package zip) and check
    that it has the shape of one: a single float input [batch, latent_dim] and a usable output.

    The file is untrusted: it is checked statically (onnx_check) and tried once in a child process
    with a memory and time limit before this process opens it."""
    data, name = _read_source(path_or_bytes)
    if not data:
        raise ModelFileError(f"{name} is empty")
    if data[:2] == b"PK":
        data = _unwrap_zip(data, name)
    onnx_check.check(data, name)
    trial = _trial(data, name)
    if trial.get("session_error"):
        raise _session_error(trial["session_error"], data, name)
    try:   # the trial opened it within the limits: so can we
        session = ort.InferenceSession(data, sess_options=_session_options(),
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise _session_error(_first_line(exc), data, name) from None
    inp, shape, out, outputs = _input_and_output(session, name)
    meta = dict(session.get_modelmeta().custom_metadata_map or {})
    latent_dim, prior = _latent_of(meta, shape, name)
    fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else 0
    kind, out_shape, max_batch = _samples_of(trial, meta, out.name, fixed, name)
    logit = next((o.name for o in outputs if o.name == "logit"), None) if out.name == "x" and not fixed else None
    if logit is not None and trial.get("logit_shape") != [max_batch]:
        logit = None   # a 'logit' output the trial did not prove to be one number per sample is not used
    return GeneratorModel(session, meta, latent_dim, prior, kind, out_shape, inp.name, out.name,
                          fixed, name, max_batch, logit)


def _input_and_output(session: ort.InferenceSession, name: str) -> tuple:
    """(the one float input, its shape [batch, latent_dim], the samples' output, all outputs)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ModelFileError(f"{name} has {len(inputs)} inputs; a generator has exactly one, "
                             "the latent z of shape [batch, latent_dim]")
    inp = inputs[0]
    if inp.type != "tensor(float)":
        raise ModelFileError(f"{name}'s input {inp.name!r} is {inp.type}; expected float32 latents")
    shape = list(inp.shape or [])
    if len(shape) != 2:
        raise ModelFileError(f"{name}'s input {inp.name!r} has rank {len(shape)} (shape {shape}); "
                             "expected [batch, latent_dim]")
    if not outputs:
        raise ModelFileError(f"{name} has no outputs")
    return inp, shape, next((o for o in outputs if o.name == "x"), outputs[0]), outputs


def _latent_of(meta: dict, shape: list, name: str) -> tuple[int, str]:
    """(latent_dim, prior) from the metadata and the input's shape, which must agree."""
    graph_dim = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else None
    latent_dim = _meta_int(meta, "latent_dim", name)
    if latent_dim is None:
        latent_dim = graph_dim
    if latent_dim is None or latent_dim < 1:
        raise ModelFileError(f"{name} does not say its latent size (no latent_dim metadata, "
                             "and the input's second dimension is not fixed)")
    if graph_dim is not None and graph_dim != latent_dim:
        raise ModelFileError(f"{name}: metadata latent_dim={latent_dim} but the input takes {graph_dim}")
    if latent_dim > onnx_check.MAX_LATENT_DIM:
        raise ModelFileError(f"{name} takes latents of {latent_dim:,} values; at most {onnx_check.MAX_LATENT_DIM:,}")
    prior = str(meta.get("prior", "normal")).strip().lower() or "normal"
    if prior not in PRIORS:
        raise ModelFileError(f"{name} has an unknown prior {prior!r} (expected normal or uniform)")
    return latent_dim, prior


def _samples_of(trial: dict, meta: dict, out_name: str, fixed: int, name: str) -> tuple[str, tuple, int]:
    """(kind, per-sample shape, largest batch) of the output, from the trial's runs.

    The trial ran a batch of 1 (or the fixed batch) and the largest batch we will use: it proves the
    output is a readable [batch, ...] tensor that follows the batch, and gives the per-sample shape."""
    runs = trial.get("runs") or []
    problem = trial.get("run_error")
    if not problem:
        if not runs:
            problem = "it did not run"
        for r in runs:
            if r["dtype"] not in "fiu" or len(r["shape"]) < 1 or r["shape"][0] != r["batch"]:
                problem = f"a batch of {r['batch']} latents gave shape {r['shape']}"
                break
        if not problem and len({tuple(r["shape"][1:]) for r in runs}) > 1:
            problem = f"the sample shape changes with the batch size ({[r['shape'] for r in runs]})"
    if problem:
        raise ModelFileError(f"{name}'s output {out_name!r} is not a usable [batch, ...] tensor: "
                             f"{problem[:200]}")
    probe_shape = runs[0]["shape"]
    rank_kind = {2: "points", 4: "image"}.get(len(probe_shape))
    kind = str(meta.get("output_kind", "")).strip().lower() or rank_kind
    if kind not in ("points", "image") or kind != rank_kind:
        raise ModelFileError(f"{name}'s output has shape {probe_shape}; expected points "
                             "[batch, d] or images [batch, C, H, W]"
                             + (f" (metadata says {kind})" if meta.get("output_kind") else ""))
    if kind == "image" and probe_shape[1] not in (1, 3):
        raise ModelFileError(f"{name} makes images with {probe_shape[1]} channels; expected 1 or 3")
    out_shape = tuple(int(v) for v in probe_shape[1:])
    if math.prod(out_shape) > onnx_check.MAX_SAMPLE_VALUES:
        raise ModelFileError(f"{name} makes samples of {math.prod(out_shape):,} values; at most "
                             f"{onnx_check.MAX_SAMPLE_VALUES:,}")
    meta_shape = _meta_shape(meta, name)
    if meta_shape is not None and meta_shape != out_shape:
        raise ModelFileError(f"{name}: metadata output_shape={list(meta_shape)} but the model "
                             f"produces {list(out_shape)}")
    return kind, out_shape, fixed or max(r["batch"] for r in runs)


def interpolation_latents(latent_dim: int, prior: str, seed_a: int, seed_b: int, steps: int) -> np.ndarray:
    """Latents on a path from seed_a's latent to seed_b's: slerp under a normal prior (linear paths
    cut through the low-density centre of a Gaussian), straight lines inside a uniform box."""
    if int(steps) < 2:
        raise ConfigError(f"an interpolation needs at least 2 steps, got {steps}")
    a = sample_latents(1, latent_dim, prior, seed_a)[0].astype(np.float64)
    b = sample_latents(1, latent_dim, prior, seed_b)[0].astype(np.float64)
    t = np.linspace(0.0, 1.0, int(steps))[:, None]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    omega = float(np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))) if na > 0 and nb > 0 else 0.0
    if prior == "normal" and math.sin(omega) > 1e-6:
        path = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / math.sin(omega)
    else:   # uniform prior, or (anti)parallel endpoints where slerp is undefined
        path = (1 - t) * a + t * b
    path[0], path[-1] = a, b   # exact endpoints despite rounding
    return path.astype(np.float32)


def interpolate(model: GeneratorModel, seed_a: int, seed_b: int, steps: int) -> np.ndarray:
    return model.run(interpolation_latents(model.latent_dim, model.prior, seed_a, seed_b, steps))
