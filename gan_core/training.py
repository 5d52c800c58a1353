"""Algorithm 1 of the paper: k discriminator steps, then one generator step, repeated.

The loop never synchronises with the device on an ordinary step: diagnostics are summed on the device
and read back once per log interval; rows are written to metrics.csv in batches.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import torch

from . import runs
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import Dataset, load_dataset
from .device import device_name, resolve_device
from .errors import ConfigError, RunError
from .models import build_models, sample_prior
from .objective import generator_loss, value_estimate
from .runlock import locked_run
from .snapshots import Snapshotter

FLUSH_SECONDS = 1.0  # how often buffered metric rows reach the disk


class DataSampler:
    """Minibatches of m examples on the device: fresh draws from a known mixture, or rows of the data."""

    def __init__(self, ds: Dataset, device: torch.device):
        self.device = device
        if ds.data is not None:
            x = torch.from_numpy(ds.data).to(device)
            self.data = x * 2 - 1 if ds.kind == "image" else x  # images live in [-1, 1] for tanh
            self.centers = None
        else:
            self.data = None
            self.centers = torch.as_tensor(ds.centers, dtype=torch.float32, device=device)
            self.std = float(ds.std)

    def __call__(self, m: int, rng: torch.Generator) -> torch.Tensor:
        if self.data is not None:
            return self.data[torch.randint(len(self.data), (m,), generator=rng, device=self.device)]
        idx = torch.randint(len(self.centers), (m,), generator=rng, device=self.device)
        noise = torch.randn(m, self.centers.shape[1], generator=rng, device=self.device)
        return self.centers[idx] + self.std * noise


class StopFlag:
    """SIGINT/SIGTERM set a flag; the loop stops after the current step (never mid-write)."""

    def __init__(self):
        self.set = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. called from a test runner thread)
                pass
        return self

    def _handle(self, signum, frame):
        self.set = True

    def __exit__(self, *exc):
        for sig, h in self._old.items():
            signal.signal(sig, h)


def _make_optimizer(cfg: TrainConfig, params, lr: float, device: torch.device) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, foreach=True)  # the paper's choice
    # fused: one kernel for the whole update instead of several per parameter (bench: 1.06–1.14x)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2),
                            fused=True if device.type in ("cpu", "cuda") else None)


class Progress:
    """A one-line progress bar with rate and ETA, only on a terminal."""

    def __init__(self, total: int, enabled: Optional[bool] = None):
        self.total, self.last = total, 0.0
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def update(self, it: int, rate: float, eta: float, v: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.25:
            return
        self.last = now
        frac = it / self.total if self.total else 1.0
        bar = "#" * int(30 * frac)
        sys.stderr.write(f"\r[{bar:<30}] {it}/{self.total} {rate:7.1f} it/s ETA {_fmt(eta)}  Ṽ={v:+.4f} ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _fmt(s: float) -> str:
    if not math.isfinite(s):
        return "--:--"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@locked_run  # one writer per run: RUN/.lock is held until train returns (and dies with the process)
def train(cfg: TrainConfig, resume: bool = False, progress: Optional[bool] = None,
          log: Callable[[str], None] = lambda s: None) -> dict:
    """Train (or resume) the run in cfg.run_dir; returns the final status dict."""
    run_dir = Path(cfg.run_dir)
    if resume:
        if not runs.is_run_dir(run_dir):
            raise RunError(f"{run_dir}: nothing to resume (no config.json)")
        st = runs.refresh_state(run_dir)
        if st.get("state") == "running":
            raise RunError(f"{run_dir.name} is already running (pid {st.get('pid')})")
    elif runs.is_run_dir(run_dir):
        raise RunError(f"{run_dir} already holds a run; use --resume to continue it or choose another --run-dir")
    cfg = cfg.resolved().validate()
    device = resolve_device(cfg.device)
    ds = load_dataset(cfg)
    if ds.size is not None and cfg.batch_size > ds.size:
        raise ConfigError(f"batch size {cfg.batch_size} is larger than the dataset ({ds.size} examples)")

    if device.type == "cpu":
        # One thread by default: for these small nets thread start-up and spin-waiting cost more than the
        # arithmetic, and a second process on the same cores (the dashboard, a test) makes two threads
        # collapse to a few percent of one (bench/RESULTS.md). --threads N overrides.
        torch.set_num_threads(cfg.threads or 1)
    torch.manual_seed(cfg.seed)
    G, D = build_models(cfg, ds)
    G, D = G.to(device), D.to(device)
    opt_d = _make_optimizer(cfg, D.parameters(), cfg.lr_d, device)
    opt_g = _make_optimizer(cfg, G.parameters(), cfg.lr_g, device)
    # Linear learning-rate decay, stepped once per iteration for both players: Algorithm 1 is unchanged,
    # only the step size shrinks. Late small steps stop G's samples jittering around the modes, so they
    # settle on them (a constant rate leaves the modes smeared and lets them drift from one to another).
    sched_d, sched_g = (torch.optim.lr_scheduler.LambdaLR(o, _lr_factor(cfg)) for o in (opt_d, opt_g))
    rng = torch.Generator(device=device)
    rng.manual_seed(cfg.seed)
    sample_data = DataSampler(ds, device)
    snap = Snapshotter(cfg, ds, device, run_dir)
    columns = runs.BASE_COLUMNS + snap.columns

    # Diagnostics summed on the device: Ṽ, d_loss, g_loss, D(x), D(G(z)), finite-flag count.
    acc = torch.zeros(5, device=device)
    recent = torch.zeros(cfg.log_every, device=device)  # per-step losses of this interval, to name a NaN's iteration
    n_d = n_g = 0
    start, elapsed_before = 0, 0.0
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        ck = load_checkpoint(run_dir, map_location=device)
        G.load_state_dict(ck["G"]); D.load_state_dict(ck["D"])
        opt_g.load_state_dict(ck["opt_g"]); opt_d.load_state_dict(ck["opt_d"])
        if "sched_g" in ck:  # checkpoints from before the schedule existed ran at a constant rate
            sched_g.load_state_dict(ck["sched_g"]); sched_d.load_state_dict(ck["sched_d"])
        rng.set_state(ck["rng"].cpu() if device.type != "cpu" else ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        acc = ck["acc"].to(device); n_d, n_g = ck["n_d"], ck["n_g"]
        start, elapsed_before = int(ck["iteration"]), float(ck["elapsed_s"])
        runs.truncate_metrics(run_dir, start)
        if start >= cfg.iterations:
            raise ConfigError(f"the run is already at iteration {start}; give --iterations larger than that to continue")
        log(f"resuming {run_dir.name} from iteration {start}")
    cfg.save(run_dir / "config.json")
    stop_file = run_dir / "STOP"
    if stop_file.exists():
        stop_file.unlink()

    def checkpoint(iteration: int, elapsed: float) -> None:
        save_checkpoint(run_dir, {
            "G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "sched_g": sched_g.state_dict(), "sched_d": sched_d.state_dict(),
            "rng": rng.get_state(), "torch_rng": torch.get_rng_state(), "acc": acc.detach().cpu(),
            "n_d": n_d, "n_g": n_g, "iteration": iteration, "elapsed_s": elapsed})

    status = runs.write_status(
        run_dir, state="running", iteration=start, iterations=cfg.iterations, message="training",
        pid=os.getpid(), pid_start=runs.current_process_start(), device=device.type,
        device_name=device_name(device), started_at=time.time(), rate=None, eta_s=None)
    bar = Progress(cfg.iterations - start, progress)
    t0 = time.monotonic()
    rows: list[dict] = []
    last_flush = t0
    pending: dict = {}
    if start == 0:
        snap.take(G, D, 0)  # the untrained generator, for the snapshot slider (no metrics row at 0)
    state, message = "completed", "finished"
    last_v = float("nan")
    it = start

    def flush(iteration: int) -> None:
        nonlocal rows, last_flush
        if rows:
            runs.append_rows(run_dir, columns, rows)
            rows = []
        wall = time.monotonic() - t0
        rate = (iteration - start) / wall if wall > 0 else None
        eta = (cfg.iterations - iteration) / rate if rate else None
        runs.write_status(run_dir, iteration=iteration, rate=rate, eta_s=eta, elapsed_s=elapsed_before + wall)
        last_flush = time.monotonic()

    with StopFlag() as stop:
        for it in range(start, cfg.iterations):
            # --- k discriminator steps: D ascends Ṽ = mean log D(x) + mean log(1 − D(G(z)))   (eq. 2)
            for _ in range(cfg.k):
                x = sample_data(cfg.batch_size, rng)
                z = sample_prior(cfg.batch_size, cfg.latent_dim, cfg.prior, rng, device)
                with torch.no_grad():
                    fake = G(z)  # G is fixed during D's step
                real_logits, fake_logits = D(x), D(fake)
                v = value_estimate(real_logits, fake_logits)
                opt_d.zero_grad(set_to_none=True)
                (-v).backward()
                opt_d.step()
                acc[0:2] += torch.stack([v.detach(), -v.detach()])
                acc[3:5] += torch.stack([torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()]).detach()
                n_d += 1
            # --- one generator step on fresh noise: minimax descends mean log(1 − D(G(z))) (eq. 4);
            #     non-saturating ascends mean log D(G(z)) (eq. 3). D's weights are not updated here.
            z = sample_prior(cfg.batch_size, cfg.latent_dim, cfg.prior, rng, device)
            D.requires_grad_(False)
            g_loss = generator_loss(D(G(z)), cfg.g_loss)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            D.requires_grad_(True)
            sched_d.step(); sched_g.step()
            acc[2] += g_loss.detach()
            recent[it % cfg.log_every] = v.detach() + g_loss.detach()
            n_g += 1
            done = it + 1

            if done % cfg.log_every == 0 or done == cfg.iterations:
                vals = acc.tolist()  # the one host synchronisation per log interval
                if not all(math.isfinite(a) for a in vals):
                    state = "failed"
                    first = (done - 1) // cfg.log_every * cfg.log_every  # iterations first+1 .. done
                    bad = [first + j + 1 for j, r in enumerate(recent.tolist()[: done - first]) if not math.isfinite(r)]
                    message = (f"training diverged: a loss became NaN or Inf at iteration {bad[0] if bad else done}; "
                               "the last good checkpoint is kept")
                    break
                row = {"iteration": done, "value_estimate": vals[0] / n_d, "d_loss": vals[1] / n_d,
                       "g_loss": vals[2] / n_g, "d_real": vals[3] / n_d, "d_fake": vals[4] / n_d,
                       "elapsed_s": round(elapsed_before + time.monotonic() - t0, 3)}
                last_v = row["value_estimate"]
                if snap.due(done):
                    pending.update(snap.take(G, D, done))
                row.update(pending)
                pending = {}
                rows.append(row)
                acc.zero_()
                n_d = n_g = 0
                wall = time.monotonic() - t0
                rate = (done - start) / wall if wall > 0 else 0.0
                bar.update(done - start, rate, (cfg.iterations - done) / rate if rate else float("inf"), last_v)
                if time.monotonic() - last_flush > FLUSH_SECONDS:
                    flush(done)
                if stop_file.exists():
                    stop.set = True
            elif snap.due(done):
                pending.update(snap.take(G, D, done))
            if done % cfg.checkpoint_every == 0 and done < cfg.iterations:
                flush(done)
                checkpoint(done, elapsed_before + time.monotonic() - t0)
            if stop.set and done < cfg.iterations:
                state, message = "stopped", f"stopped at iteration {done}; --resume continues it"
                stop_file.unlink(missing_ok=True)  # the request is consumed
                break
    bar.close()
    elapsed = elapsed_before + time.monotonic() - t0
    if state == "failed":
        flush(it)
        ck_it = _checkpoint_iteration(run_dir)
        message += f" (iteration {ck_it})" if ck_it is not None else " (none was written yet)"
        return runs.write_status(run_dir, state="failed", message=message, rate=None, eta_s=None)
    done = it + 1 if cfg.iterations > start else start
    flush(done)
    checkpoint(done, elapsed)
    runs.write_status(run_dir, iteration=done, message="saving the generator", eta_s=0)
    if cfg.export_onnx:
        message += _export(run_dir, log)
    return runs.write_status(run_dir, state=state, iteration=done, message=message, eta_s=0,
                             final_value_estimate=last_v, elapsed_s=elapsed)


class _LinearDecay:
    """lr factor at iteration i: from 1 down to lr_decay over lr_decay_iterations, then constant.

    A picklable callable (not a lambda), so the schedulers' state dicts save and load cleanly."""

    def __init__(self, final: float, horizon: int):
        self.final, self.horizon = float(final), int(horizon)

    def __call__(self, i: int) -> float:
        return 1.0 - (1.0 - self.final) * min(i, self.horizon) / self.horizon


def _lr_factor(cfg: TrainConfig) -> _LinearDecay:
    return _LinearDecay(cfg.lr_decay, cfg.lr_decay_iterations)


def _checkpoint_iteration(run_dir) -> Optional[int]:
    try:
        return int(load_checkpoint(run_dir)["iteration"])
    except RunError:
        return None


def _export(run_dir: Path, log) -> str:
    """Export generator.onnx at the end of a run; a failure is reported, it does not fail the run."""
    try:
        from .export import export_run
        rep = export_run(run_dir)
        log(f"exported {rep.path} (largest difference to torch {rep.max_abs_diff:.2e})")
        return "; generator.onnx written"
    except Exception as e:  # the checkpoint is safe; export can be retried with `export`
        return f"; ONNX export failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
