"""The training loop around Algorithm 1: k discriminator steps, then one generator step, repeated.

Trainer.run is the paper's loop: for each iteration, k D steps (d_step, eq. 2), one G step (g_step,
eq. 3 or 4), then the bookkeeping (end_iteration: logging, snapshots, checkpoints). The updates themselves are
gan_core.engine.algorithm's (or gan_core.engine.fused's, the same mathematics with hand-written gradients);
the control channel (pause, step, slow motion, live changes) is a helper the trainer holds,
gan_core.engine.steering.Steering.

The loop never synchronises with the device on an ordinary step: diagnostics are summed on the device
and read back once per log interval; rows are written to metrics.csv in batches; on a CPU, scheduled
snapshots are taken beside the loop on a worker thread (Snapshotter.take_later), their metrics joining their
row before it is written.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import threadpoolctl
import torch

from gan_core.config import TrainConfig
from gan_core.data.datasets import load_dataset
from gan_core.engine import distributed, fused, tblog
from gan_core.engine.algorithm import DataSampler, discriminator_step, generator_step
from gan_core.engine.checkpoint import load_checkpoint, save_checkpoint
from gan_core.engine.device import device_name, resolve_device
from gan_core.engine.models import build_models, sample_prior
from gan_core.engine.refit import RefitStopped
from gan_core.engine.schedule import describe_plan, extension_plan, instance_sigma, settings_factor
from gan_core.engine.snapshots import Snapshotter
from gan_core.engine.steering import ReplayError, RunGone, Steering, StopFlag, live_settings
from gan_core.errors import MEMORY_HINT, ConfigError, DiskFull, OutOfMemory, RunError, is_disk_full, is_out_of_memory
from gan_core.runs import control, disk, store
from gan_core.runs.paths import snapshot_path
from gan_core.runs.runlock import locked_run

FLUSH_SECONDS = 1.0     # how often buffered metric rows reach the disk
STATUS_SECONDS = 0.25   # how often status.json says the iteration (the Runs page's table: ≤ 1 s behind the run)


def _cpu_threads(n: int) -> None:
    """n threads for torch and for numpy's BLAS. One by default: for these small nets thread start-up and
    spin-waiting cost more than the arithmetic, and a second process on the same cores (the dashboard, a test)
    makes two threads collapse to a few percent of one; numpy's BLAS (the snapshots' quality scores) likewise,
    whose second thread only spins. --threads N overrides."""
    torch.set_num_threads(n)
    threadpoolctl.threadpool_limits(n, user_api="blas")


def _make_optimizer(cfg: TrainConfig, params, lr: float, device: torch.device) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, foreach=True)  # the paper's choice
    # fused: one kernel for the whole update instead of several per parameter
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


class Diverged(Exception):
    """A loss became NaN or Inf; the message names the iteration."""


class Trainer:
    """One run's training process: the models, their optimisers, the random streams, the position in
    Algorithm 1 (iteration, D-steps done in it) and the loop that trains, logs and saves them. Its control
    channel (pause, step, slow motion, live changes) is handled by self.steer (gan_core.engine.steering)."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, log: Callable[[str], None] = lambda s: None,
                 replay: Optional[list] = None, extend: Optional[dict] = None):
        self.run_dir = run_dir = Path(cfg.run_dir)
        self.log = log
        cfg = cfg.resolved().validate()
        self.dist = dist = distributed.setup(resolve_device(cfg.device))  # one process, or a rank under torchrun
        self.device = dist.device
        cfg.world_size = dist.world
        self.ds = load_dataset(cfg)
        if self.ds.size is not None and cfg.batch_size > self.ds.size:
            raise ConfigError(f"batch size {cfg.batch_size} is larger than the dataset ({self.ds.size} examples)")
        if self.ds.kind == "image" and min(self.ds.size or 2, cfg.batch_size) < 2:
            # a batch of one picture cannot be normalised (BatchNorm), in training nor in the exported model
            raise ConfigError(f"image data needs at least 2 pictures and a batch size of at least 2; got "
                              f"{self.ds.size:,} picture(s) and batch size {cfg.batch_size}")
        if (cfg.pack or 1) > 1 and self.ds.kind != "points":
            raise ConfigError(f"packing (pack {cfg.pack}) is for point data; images train with pack 1")
        if cfg.gradient_penalty and self.ds.kind != "points":
            raise ConfigError("the gradient penalty is for point data; images train with gradient_penalty 0")
        if cfg.gradient_penalty and dist.world > 1:  # DDP cannot take the penalty's second derivative
            raise ConfigError("the gradient penalty trains in one process; under torchrun give --gradient-penalty 0")
        if self.device.type == "cpu":
            _cpu_threads(cfg.threads or 1)
        self._build(cfg)
        self.cfg = cfg                       # the live settings; config.json keeps the run's initial ones
        self._zero_position(cfg)
        self.steer = Steering(self, replay=None if resume else replay)
        if dist.main:
            run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._restore(dist.load_checkpoint(run_dir, self.device))
        if self.start >= cfg.iterations:
            raise ConfigError(f"the run is already at iteration {self.start}; give --iterations larger than that "
                              "to continue")
        if dist.main:  # before anything of the run is written: one that cannot fit on the disk is refused
            disk.check_fits(cfg, self.ds.kind, self.ds.sample_shape, self.start)
        if resume:
            self._continue(extend)
        # Algorithm 1's steps with hand-written gradients where the pair allows (gan_core/engine/fused.py); one process
        self.fused = fused.FusedSteps(self.G, self.D, self.opt_g, self.opt_d) \
            if dist.world == 1 and fused.supports(self.G, self.D) else None
        self._open_run(dataclasses.replace(cfg, **self.initial) if resume else cfg, cfg)

    def _build(self, cfg: TrainConfig) -> None:
        """The models, their optimisers, the random streams, the data sampler and the snapshotter."""
        dist, device = self.dist, self.device
        torch.manual_seed(cfg.seed)
        self.G, self.D = (m.to(device) for m in build_models(cfg, self.ds))
        self.opt_d = _make_optimizer(cfg, self.D.parameters(), cfg.lr_d, device)
        self.opt_g = _make_optimizer(cfg, self.G.parameters(), cfg.lr_g, device)
        self.ddp_G, self.ddp_D = dist.wrap(self.G, self.D)  # what the steps train with (self.G, self.D if one process)
        self.rng = torch.Generator(device=device)
        self.rng.manual_seed(cfg.seed)
        self.sample_data = DataSampler(self.ds, device)
        self.snap = Snapshotter(cfg, self.ds, device, self.run_dir)
        self.snap.make_run_dir = False  # deleted under us (a paused run removed from the page): end, not recreate
        self.snap = self.snap if dist.main else distributed.MutedSnapshots(self.snap)  # only rank 0 writes the run
        self.columns = store.BASE_COLUMNS + self.snap.columns

    def _zero_position(self, cfg: TrainConfig) -> None:
        """Iteration 0, no D-steps done, nothing summed yet."""
        # Diagnostics summed on the device: Ṽ, d_loss, g_loss, D(x), D(G(z)).
        self.acc = torch.zeros(5, device=self.device)
        self.recent = torch.zeros(cfg.log_every, device=self.device)  # per-iteration losses, to name a NaN's iteration
        self.n_d = self.n_g = 0
        self.last_status = 0.0
        self.it = self.d_done = 0            # position: iterations done, D-steps done in the current one
        self.start, self.elapsed_before = 0, 0.0
        self.last_v = float("nan")
        self.last_v_t: Optional[torch.Tensor] = None  # the last D step's Ṽ, for the per-iteration losses

    def _continue(self, extend: Optional[dict]) -> None:
        """A resumed run: what was logged or changed after its checkpoint undone (it will happen again), and
        the settings of the continuation (extend: {'set': {...}, 'restart_schedule': bool}) applied."""
        cfg, run_dir = self.cfg, self.run_dir
        plan = extension_plan(live_settings(cfg), self.start, cfg.iterations, (extend or {}).pop("set", None),
                              bool((extend or {}).get("restart_schedule")))
        if self.dist.main:
            control.keep_changes(run_dir, self.steer.events_applied)
            store.truncate_metrics(run_dir, self.start)
        if plan["change"]:
            self.steer.apply_settings(plan["change"])
        self.log(f"resuming {run_dir.name} from iteration {self.start}; "
                 f"{describe_plan(plan, self.start, cfg.iterations)}")

    def _open_run(self, cfg_file: TrainConfig, cfg: TrainConfig) -> None:
        """config.json (cfg_file), the control channel emptied of what was meant for an earlier process,
        TensorBoard, and the buffers of rows and snapshots."""
        dist, run_dir = self.dist, self.run_dir
        self.stop_file = run_dir / "STOP"
        if dist.main:
            cfg_file.save(run_dir / "config.json")
            self.stop_file.unlink(missing_ok=True)
        self.inbox = control.Inbox(run_dir) if dist.main else distributed.MutedInbox()
        self.tb = tblog.Board(run_dir, cfg, self.start, self.snap.due) if cfg.tensorboard and dist.main else None
        self.inbox.clear()
        self.stop = None                     # the stop flag (SIGINT/SIGTERM, STOP, `stop`) while run() runs
        self._live_snapshot: Optional[int] = None
        self.rows: list[dict] = []
        self.row_extra: dict = {}
        # scheduled snapshots beside the loop: one process on a CPU (torchrun's ranks keep theirs in step)
        self.later = dist.world == 1 and dist.main
        self.pending_snapshot = None         # (future, index of its row in self.rows)

    # --- state in and out ---------------------------------------------------------------------------
    def _restore(self, ck: dict) -> None:
        self.G.load_state_dict(ck["G"])
        self.D.load_state_dict(ck["D"])
        self.opt_g.load_state_dict(ck["opt_g"])
        self.opt_d.load_state_dict(ck["opt_d"])
        self.rng.set_state(ck["rng"].cpu() if self.device.type != "cpu" else ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        self.acc = ck["acc"].to(self.device)
        self.n_d, self.n_g = ck["n_d"], ck["n_g"]
        self.start = self.it = int(ck["iteration"])
        self.d_done = int(ck.get("d_done", 0))
        self.elapsed_before = float(ck["elapsed_s"])
        self.initial = {k: getattr(self.cfg, k) for k in control.LIVE_SETTINGS}  # config.json's, before changes
        if "settings" in ck:  # the settings in force at the checkpoint (live changes included)
            for k, v in ck["settings"].items():
                setattr(self.cfg, k, v)
        elif "sched_g" in ck:  # a checkpoint from before live changes: its schedule ran from iteration 0
            pass
        self.steer.events_applied = int(ck.get("events_applied", 0))

    def checkpoint(self) -> None:
        self.steer.close_stepping(reopen=True)  # a manual stepping's steps so far: among the changes it counts
        acc = self.dist.mean(self.acc)  # every rank: the diagnostics summed so far, as global means
        if not self.dist.main:
            return
        save_checkpoint(self.run_dir, {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(), "acc": acc.detach().cpu(),
            "n_d": self.n_d, "n_g": self.n_g, "iteration": self.it, "d_done": self.d_done,
            "elapsed_s": self.elapsed(), "settings": live_settings(self.cfg),
            "events_applied": self.steer.events_applied})

    def elapsed(self) -> float:
        """Seconds spent training, pauses excluded (what the rate and ETA are about)."""
        return self.elapsed_before + self.active

    @property
    def active(self) -> float:
        return self._active + (time.monotonic() - self._since if self._since is not None else 0.0)

    def _clock(self, on: bool) -> None:
        if on and self._since is None:
            self._since = time.monotonic()
        elif not on and self._since is not None:
            self._active += time.monotonic() - self._since
            self._since = None

    def status(self, durable: bool = True, **fields) -> dict:
        if not self.dist.main:
            return {}
        it, wall = self.it, self.active
        rate = (it - self.start) / wall if wall > 0 and it > self.start else None
        eta = (self.cfg.iterations - it) / rate if rate else None
        self.last_status = time.monotonic()
        return store.write_status(self.run_dir, durable, **{
            "iteration": it, "d_done": self.d_done, "rate": rate, "eta_s": eta, "elapsed_s": self.elapsed(),
            "settings": live_settings(self.cfg), "ips": self.steer.ips or None, **fields})

    def start_snapshot(self, done: int) -> None:
        """The scheduled snapshot of iteration `done`, taken beside the loop where the snapshotter can
        (take_later); its metrics join the row of that iteration (the next row logged), collected at the latest
        when the rows are written."""
        self.collect_snapshot()
        if self.later:
            self.pending_snapshot = (self.snap.take_later(self.G, self.D, done, g_loss=self.cfg.g_loss), len(self.rows))
        else:
            self.row_extra.update(self.snap.take(self.G, self.D, done, g_loss=self.cfg.g_loss))

    def collect_snapshot(self) -> None:
        """Wait for the snapshot being taken, if any, and put its metrics in their row."""
        if self.pending_snapshot is None:
            return
        future, row = self.pending_snapshot
        self.pending_snapshot = None
        try:
            metrics = future.result()
        except FileNotFoundError:
            self._raise_if_gone()
            raise
        # rows only grow between flushes, and flush collects first: row is the index the snapshot's row has
        if row < len(self.rows):
            self.rows[row].update(metrics)
        else:
            self.row_extra.update(metrics)

    def flush(self, **fields) -> None:
        self.collect_snapshot()
        if self.rows and self.dist.main:
            store.append_rows(self.run_dir, self.columns, self.rows)
            if self.tb:
                self.tb.rows(self.rows)
        self.rows = []
        # the rows' regular flush: status.json as between flushes (no fsync: one can stall training on a busy
        # disk); a change of message or state is written durably
        self.status(durable=bool(fields), **fields)
        self.last_flush = time.monotonic()

    def _raise_if_gone(self) -> None:
        """RunGone if the run directory was deleted under a snapshot's write (else the caller re-raises)."""
        for _ in range(20):  # a deletion still under way leaves the folder for a moment (seen in CI)
            if not self.run_dir.is_dir():
                raise RunGone(f"{self.run_dir} was deleted") from None
            time.sleep(0.05)

    def snapshot_now(self) -> None:
        """A snapshot of the current state outside the schedule (after a pause or a step, in slow motion).
        Only the latest such snapshot is kept, so slow motion does not fill the disk."""
        if not self.dist.main:
            return
        it = self.it
        self.collect_snapshot()
        try:
            self.snap.take(self.G, self.D, it, g_loss=self.cfg.g_loss)
        except FileNotFoundError:
            self._raise_if_gone()
            raise
        old = self._live_snapshot
        if old is not None and old != it and not self.snap.due(old) and old != 0:
            snapshot_path(self.run_dir, old).unlink(missing_ok=True)
        self._live_snapshot = None if self.snap.due(it) or it == 0 else it
        self.last_live_snapshot = time.monotonic()

    # --- Algorithm 1 ----------------------------------------------------------------------------------------
    def run(self, progress: Optional[bool] = None) -> dict:
        """Algorithm 1 from the run's position to cfg.iterations, or until it is stopped; the final status."""
        self.begin(progress, "training", world_size=self.dist.world,
                   launcher_pid=os.getppid() if self.dist.world > 1 else None)  # torchrun, for the dashboard
        # SIGINT/SIGTERM set the flag until this process has written its end
        with self.dist.stop_flag(StopFlag) as self.stop:
            try:
                while self.it < self.cfg.iterations and not self.stop.set:
                    if self.steer.ready():  # the control channel, a pause, changes replayed at this position
                        self.iteration()
            except RunGone as e:
                self.log(f"stopping: {e}")
                return {"state": "stopped", "iteration": self.it, "message": str(e)}
            except Diverged as e:
                return self.fail(e)
            except ReplayError as e:
                self.log(str(e))
                return self.end("failed", str(e))
            if self.stop.set and self.it < self.cfg.iterations:
                return self.end("stopped", f"stopped at iteration {self.it}; --resume continues it",
                                final_value_estimate=self.last_v)
            return self.end("completed", "finished", final_value_estimate=self.last_v)

    def iteration(self) -> None:
        """One iteration of Algorithm 1 from where the run stands in it (self.d_done of its k D-steps done:
        a resumed or stepped run can stand between two of them)."""
        ############################
        # for k steps: update D by ascending its stochastic gradient (eq. 2)
        #   ∇_θd (1/m) Σ_i [log D(x_i) + log(1 − D(G(z_i)))]
        ############################
        while self.d_done < self.cfg.k:
            self.d_step()
            if self.stop.set or not self.steer.ready():  # between two steps, as between two iterations
                return
        t_iter = time.monotonic()
        ############################
        # update G by descending its stochastic gradient: minimax (eq. 4)
        #   ∇_θg (1/m) Σ_i log(1 − D(G(z_i)))
        # or non-saturating (eq. 3), ascending (1/m) Σ_i log D(G(z_i))
        ############################
        self.g_step()
        ############################
        # bookkeeping: the row, snapshot and checkpoint due; a step command's end, slow motion
        ############################
        self.end_iteration()
        self.steer.after_iteration(t_iter)

    def set_learning_rates(self) -> None:
        f = settings_factor(self.it, live_settings(self.cfg))
        for opt, lr in ((self.opt_d, self.cfg.lr_d), (self.opt_g, self.cfg.lr_g)):
            for group in opt.param_groups:
                group["lr"] = lr * f

    def d_step(self) -> None:
        """One discriminator step on fresh real data x and noise z: D ascends
            Ṽ = (1/m) Σ log D(x_i) + (1/m) Σ log(1 − D(G(z_i)))                        (eq. 2)"""
        m, cfg = self.cfg.batch_size * (self.cfg.pack or 1), self.cfg  # packing: m packs of P samples each
        x = self.dist.part(self.sample_data(m, self.rng))  # under torchrun: this rank's m/N of the m drawn
        z = self.dist.part(sample_prior(m, cfg.latent_dim, cfg.prior, self.rng, self.device))
        noise = self.instance_noise(m, 2)
        penalty = self.penalty(m)
        if penalty is not None:  # the penalty's second derivative: autograd's step (the fused one has none)
            v, d_real, d_fake = discriminator_step(self.G, self.ddp_D, self.opt_d, x, z, noise, penalty)
        else:
            v, d_real, d_fake = self.fused.discriminator_step(x, z, noise) if self.fused else \
                discriminator_step(self.G, self.ddp_D, self.opt_d, x, z, noise)
        self.acc[0:2] += torch.stack([v, -v])
        self.acc[3:5] += torch.stack([d_real, d_fake])
        self.last_v_t = v
        self.n_d += 1
        self.d_done += 1

    def instance_sigma(self) -> float:
        """σ of the instance noise at this iteration: cfg.instance_noise falling linearly to 0."""
        return instance_sigma(self.it, self.cfg.instance_noise, self.cfg.instance_noise_iterations)

    def instance_noise(self, m: int, n: int):
        """n draws of σε for a minibatch of m samples, [n, m, *sample] (ε ~ N(0, I), from the run's stream,
        drawn whole and parted as the minibatch is under torchrun); None when σ is 0 (nothing drawn)."""
        sigma = self.instance_sigma()
        if not sigma:
            return None
        e = sigma * torch.randn((n, m, *self.ds.sample_shape), generator=self.rng, device=self.device)
        return torch.stack([self.dist.part(x) for x in e])

    def penalty(self, m: int):
        """(γ, α) of D's gradient penalty at this iteration, α ~ U[0, 1] for each of the m pairs (x_i, G(z_i)),
        from the run's stream; None once it has ended or when γ is 0 (nothing drawn)."""
        cfg = self.cfg
        if not cfg.gradient_penalty or self.it >= cfg.gradient_penalty_iterations:
            return None
        return cfg.gradient_penalty, torch.rand(m, generator=self.rng, device=self.device)

    def g_step(self) -> None:
        """The generator step on fresh noise z: G descends (1/m) Σ log(1 − D(G(z_i)))  (eq. 4, minimax),
        or ascends (1/m) Σ log D(G(z_i))  (eq. 3, non-saturating)."""
        cfg = self.cfg
        m = cfg.batch_size * (cfg.pack or 1)  # packing: G's samples are judged in packs of P, like D's
        z = self.dist.part(sample_prior(m, cfg.latent_dim, cfg.prior, self.rng, self.device))
        noise = self.instance_noise(m, 1)
        noise = None if noise is None else noise[0]
        loss = self.fused.generator_step(z, cfg.g_loss, noise) if self.fused else \
            generator_step(self.ddp_G, self.D, self.opt_g, z, cfg.g_loss, noise)
        self.acc[2] += loss
        v = self.last_v_t
        self.recent[self.it % cfg.log_every] = loss + (v if v is not None else 0.0)
        self.n_g += 1

    def end_iteration(self) -> None:
        """The bookkeeping after G's step: the position moves to the next iteration; the metrics row, the
        snapshot and the checkpoint due at it; the learning rates of the next one."""
        self.it += 1
        self.d_done = 0
        done, cfg = self.it, self.cfg
        if done % cfg.log_every == 0 or done == cfg.iterations:
            self.log_row(done)
        elif self.snap.due(done):
            self.start_snapshot(done)
        if done % cfg.checkpoint_every == 0 and done < cfg.iterations:
            self.flush()
            self.checkpoint()
        elif time.monotonic() - self.last_status >= STATUS_SECONDS:
            self.status(durable=False)  # between flushes: where the run is now (~4 a second, no fsync)
        if done < cfg.iterations:
            self.set_learning_rates()

    def log_row(self, done: int) -> None:
        """The metrics row of the interval ending at iteration `done`: the diagnostics' means, read from the
        device (the one host synchronisation per log interval); Diverged if a loss became NaN or Inf."""
        cfg = self.cfg
        vals = self.dist.mean(self.acc).tolist()
        if not all(math.isfinite(a) for a in vals):
            first = (done - 1) // cfg.log_every * cfg.log_every  # iterations first+1 .. done
            bad = [first + j + 1 for j, r in enumerate(self.recent.tolist()[: done - first]) if not math.isfinite(r)]
            raise Diverged(f"training diverged: a loss became NaN or Inf at iteration {bad[0] if bad else done}; "
                           "the last good checkpoint is kept")
        n_d, n_g = max(self.n_d, 1), max(self.n_g, 1)
        row = {"iteration": done, "value_estimate": vals[0] / n_d if self.n_d else None,
               "d_loss": vals[1] / n_d if self.n_d else None, "g_loss": vals[2] / n_g,
               "d_real": vals[3] / n_d if self.n_d else None, "d_fake": vals[4] / n_d if self.n_d else None,
               "elapsed_s": round(self.elapsed(), 3)}
        if row["value_estimate"] is not None:
            self.last_v = row["value_estimate"]
        if self.snap.due(done):
            self.start_snapshot(done)
        row.update(self.row_extra)
        self.row_extra = {}
        self.rows.append(row)
        self.acc.zero_()
        self.n_d = self.n_g = 0
        rate = (done - self.start) / self.active if self.active > 0 else 0.0
        self.bar.update(done - self.start, rate, (cfg.iterations - done) / rate if rate else float("inf"), self.last_v)
        # the first row goes out at once (the page shows a point quickly), later ones in batches
        if (time.monotonic() - self.last_flush > FLUSH_SECONDS
                or len(self.rows) == 1 and done <= cfg.log_every + self.start):
            self.flush()

    # --- the beginning and the end ----------------------------------------------------------------------
    def begin(self, progress: Optional[bool], message: str, **fields) -> None:
        """Training starts: status.json says so (message and fields: who trains it), the progress bar, the
        untrained generator's snapshot, the first learning rates; the clock runs from here."""
        self._active, self._since = 0.0, None
        self.steer.last_poll = self.last_flush = self.last_live_snapshot = time.monotonic()
        self.status(state="running", iterations=self.cfg.iterations, message=message, pid=os.getpid(),
                    pid_start=store.current_process_start(), device=self.device.type, **fields,
                    device_name=device_name(self.device), started_at=time.time())
        self.bar = Progress(self.cfg.iterations - self.start, progress)
        if self.start == 0:
            self.snap.take(self.G, self.D, 0)  # the untrained generator, for the snapshot slider (no metrics row)
        self.set_learning_rates()
        self._clock(True)

    def end(self, state: str, message: str, **fields) -> dict:
        """Training ends (completed, stopped or failed): the rows, a checkpoint (a failed run keeps its last
        good one), the model of a completed run exported; returns the final status."""
        self._clock(False)
        self.bar.close()
        if state == "failed":
            self.flush()
        else:
            self.flush(message="saving a checkpoint")
            self.checkpoint()
            if state == "completed" and self.cfg.export_onnx and self.dist.main:
                self.status(message=saving_message(self.cfg), eta_s=0)
                message += _export(self.run_dir, self.log, lambda: bool(self.stop and self.stop.set))
        return self.finish(state, message, **fields)

    def fail(self, e: Diverged) -> dict:
        """The end of a run that diverged, its message naming the checkpoint it can be resumed from."""
        self._clock(False)
        ck_it = _checkpoint_iteration(self.run_dir) if self.dist.main else None
        where = f" (iteration {ck_it})" if ck_it is not None else " (none was written yet)"
        return self.end("failed", str(e) + where)

    def abort(self, why: str, then: str = "") -> str:
        """The run cannot go on (memory or disk ran out): the status says why and which checkpoint is kept (the
        atomic writer never replaces it with part of one), then what to do; returns that message. Should even
        the status not be written, the run shows as interrupted once this process has exited (with its lock)."""
        self.pending_snapshot = None
        ck = _checkpoint_iteration(self.run_dir) if self.dist.main else None
        message = why + (f"; the checkpoint of iteration {ck} is kept" + (f": {then}" if then else "")
                         if ck is not None else "; no checkpoint was written yet")
        try:
            self.finish("failed", message)
        except OSError:
            pass
        return message

    def finish(self, state: str, message: str, **fields) -> dict:
        if not self.dist.main:
            return {"state": state, "iteration": self.it, "message": message}
        if self.tb:
            self.tb.close()
        self.stop_file.unlink(missing_ok=True)  # a stop request is consumed, whatever state the run ends in
        self.inbox.clear(answers=False)         # commands sent too late are meant for nobody
        wall = self.active
        rate = (self.it - self.start) / wall if wall > 0 and self.it > self.start else None
        return store.write_status(self.run_dir, state=state, iteration=self.it, message=message, eta_s=0,
                                 rate=rate if state != "failed" else None, elapsed_s=self.elapsed(), **fields)


@locked_run  # one writer per run: RUN/.lock is held until train returns (and dies with the process)
def train(cfg: TrainConfig, resume: bool = False, progress: Optional[bool] = None,
          log: Callable[[str], None] = lambda s: None, replay: Optional[list] = None,
          extend: Optional[dict] = None) -> dict:
    """Train (or resume) the run in cfg.run_dir; returns the final status dict.

    replay: recorded changes (control.read_changes of another run) to apply at their positions.
    extend: on resume, {'set': {...}, 'restart_schedule': bool} — settings for the continuation.
    """
    run_dir = Path(cfg.run_dir)

    def check():  # under torchrun rank 0 looks, and every rank gets its answer
        if resume:
            if not store.is_run_dir(run_dir):
                raise RunError(f"{run_dir}: nothing to resume (no config.json)")
            st = store.refresh_state(run_dir)
            if st.get("state") in ("running", "paused"):
                raise RunError(f"{run_dir.name} is already running (pid {st.get('pid')})")
        elif store.is_run_dir(run_dir):
            raise RunError(f"{run_dir} already holds a run; use --resume to continue it or choose another --run-dir")
    distributed.setup(resolve_device(cfg.device)).on_main(check)
    trainer = Trainer(cfg, resume=resume, log=log, replay=replay, extend=dict(extend or {}))
    try:
        return trainer.dist.run(trainer, progress)
    except (MemoryError, RuntimeError) as e:  # a step, a snapshot: torch's allocator raises RuntimeError
        if not is_out_of_memory(e):
            raise
        raise OutOfMemory(trainer.abort(f"out of memory at iteration {trainer.it}; {MEMORY_HINT}")) from None
    except OSError as e:  # any write (metrics, snapshot, status, checkpoint) on a full disk
        if not is_disk_full(e):
            raise
        where = f" ({e.filename})" if e.filename else ""
        raise DiskFull(trainer.abort(f"no space left on the disk{where} at iteration {trainer.it}",
                                     "free some space, then resume")) from None
    finally:
        trainer.snap.close()

def _checkpoint_iteration(run_dir) -> Optional[int]:
    try:
        return int(load_checkpoint(run_dir)["iteration"])
    except RunError:
        return None


def saving_message(cfg) -> str:
    """What the status says while the finished run is exported (a refit of D can take a minute or more)."""
    steps = int(cfg.refit_d or 0)
    if not steps:
        return "saving the generator"
    return f"refitting D to the final G ({steps:,} steps), then saving the generator"


def _export(run_dir: Path, log, should_stop: Callable[[], bool] = lambda: False) -> str:
    """Export generator.onnx at the end of a run; a failure is reported, it does not fail the run. A stop
    asked during the refit of D (should_stop) ends it at once, without a model (`export` writes it later)."""
    try:
        from gan_core.share.export import export_run
        rep = export_run(run_dir, should_stop=should_stop)
        log(f"exported {rep.path} (largest difference to torch {rep.max_abs_diff:.2e})")
        return "; generator.onnx written"
    except RefitStopped as e:
        return f"; generator.onnx not written: {e} (`python -m gan_core export {run_dir}` writes it)"
    except Exception as e:  # the checkpoint is safe; export can be retried with `export`
        return f"; ONNX export failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
