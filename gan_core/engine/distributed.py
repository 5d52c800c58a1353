"""Several processes, one run: `torchrun ... -m gan_core train` trains Algorithm 1 on every rank together.

The trainer (gan_core.engine.training) stays what it is for one process; this layer supplies the few things that
differ, through one object (`Single` for one process, where every hook is the identity, `Ranks` under
torchrun):

- device: `cuda:LOCAL_RANK` per rank; one process group serving CPU tensors over gloo and CUDA tensors
  over NCCL, so the control exchange never waits on the GPU and the CPU-only path is the GPU path.
- the networks: G and D each wrapped in DistributedDataParallel, separately (as the large GAN codebases
  do). D's step runs the DDP D twice (real, fake) and G plainly under no_grad; G's step runs the DDP G and
  the plain D (D is not updated there, so its gradients are neither needed nor averaged).
- BatchNorm: on CUDA every BatchNorm becomes SyncBatchNorm, so a batch m split over N ranks is normalised
  with the statistics of all m, exactly as one process with batch m. Buffers are never broadcast in a
  forward pass (`forward_sync_buffers=False`): SyncBatchNorm keeps them equal anyway, and a broadcast before
  D's second forward would rewrite the running statistics that cuDNN saved for the first one's backward
  (the known DDP + GAN failure). torch has no CPU SyncBatchNorm, so on gloo each rank normalises its own
  m/N; only rank 0's running statistics are ever used (snapshots, checkpoint, export).
- data: every rank draws the whole minibatch of m from the same stream and keeps its own slice of m/N rows,
  so the ranks' examples never overlap, N ranks see exactly the data one process would, and the stream
  (one state, saved once) continues unchanged under any other world size on --resume.
- gradients: DDP averages them; with equal slices that is the gradient of the mean over all m. The logged
  diagnostics are all-reduced the same way, so rank 0 logs the global means.
- the run directory: only rank 0 reads or writes it (the others may be on machines without it); what rank 0
  reads (the checkpoint) or decides (stop, pause, step, set: the control channel) reaches the others by
  broadcast, at the same point of the loop on every rank, so they stay in lockstep.
"""
from __future__ import annotations

import inspect
import os
import signal
import time
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn

from gan_core.errors import ConfigError, GanError, RunError


def world_size() -> int:
    """Processes in this run (torchrun's WORLD_SIZE; 1 outside torchrun)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def launched() -> bool:
    return world_size() > 1


class Single:
    """One process: the trainer as it always was."""
    world, rank, main = 1, 0, True

    def __init__(self, device: torch.device):
        self.device = device

    def wrap(self, G: nn.Module, D: nn.Module) -> tuple[nn.Module, nn.Module]:
        return G, D

    def part(self, batch: torch.Tensor) -> torch.Tensor:
        return batch

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        return t

    def agree(self, flag: bool) -> bool:
        return flag

    def on_main(self, fn: Callable, *args, **kwargs):
        return fn(*args, **kwargs)

    def load_checkpoint(self, run_dir, device):
        from gan_core.engine.checkpoint import load_checkpoint
        return load_checkpoint(run_dir, map_location=device)

    def stop_flag(self, cls):
        return cls()

    def run(self, trainer, progress):
        return trainer.run(progress)


class Ranks(Single):
    """One rank of a torchrun job."""
    main = False

    def __init__(self, device: torch.device):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.main = self.rank == 0
        self.device = device
        self.countdown = 0   # polls left before the next exchange (the same on every rank)
        self.calls = 0

    # --- the networks and the data ------------------------------------------------------------------
    def wrap(self, G: nn.Module, D: nn.Module) -> tuple[nn.Module, nn.Module]:
        """(DDP G, DDP D) around the plain modules, which keep their identity (state dicts stay unwrapped)."""
        cuda = self.device.type == "cuda"
        out = []
        for m in (G, D):
            if cuda:
                converted = nn.SyncBatchNorm.convert_sync_batchnorm(m)
                assert converted is m  # children are replaced in place; the trainer's module is the one wrapped
            out.append(nn.parallel.DistributedDataParallel(
                m, device_ids=[self.device.index] if cuda else None, **NO_FORWARD_BUFFER_SYNC))
        return out[0], out[1]

    def part(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a minibatch drawn whole on every rank."""
        n = batch.shape[0] // self.world
        return batch[self.rank * n:(self.rank + 1) * n]

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean over ranks (of per-rank means over equal slices: the mean over the whole minibatch)."""
        t = t.detach().clone()
        dist.all_reduce(t)
        return t / self.world

    # --- rank 0 decides, everyone follows --------------------------------------------------------------
    def agree(self, flag: bool) -> bool:
        """Rank 0's flag on every rank (for decisions taken from a clock, which differs between ranks)."""
        t = torch.tensor([int(bool(flag))])
        dist.broadcast(t, 0)
        return bool(t.item())

    def on_main(self, fn: Callable, *args, **kwargs):
        """fn's result on rank 0, sent to every rank; a GanError on rank 0 is raised on every rank."""
        box = [None]
        if self.main:
            try:
                box = [("ok", fn(*args, **kwargs))]
            except GanError as e:
                box = [("error", (type(e), str(e)))]
        dist.broadcast_object_list(box, 0, device=torch.device("cpu"))
        kind, value = box[0]
        if kind == "error":
            raise value[0](value[1])
        return value

    def load_checkpoint(self, run_dir, device):
        from gan_core.engine.checkpoint import load_checkpoint
        return self.on_main(load_checkpoint, run_dir, map_location="cpu")

    def stop_flag(self, cls):
        """A signal only *asks* to stop; the ranks stop together when the next exchange carries the request
        (a rank leaving the loop alone would leave the others waiting in a collective)."""
        class AgreedStop(cls):
            asked = False

            def _handle(self, signum, frame):
                self.asked = True
        return AgreedStop()

    def poll(self, t, force: bool, interval: float) -> None:
        """The control channel under torchrun, called where one process would poll: rank 0 reads the STOP
        file and the commands and sends them with every rank's stop request; each rank then handles the same
        commands in the same order. Exchanges are spaced to about `interval` seconds by rank 0's clock."""
        self.calls += 1
        if not force and self.countdown > 0:
            self.countdown -= 1
            return
        msgs: list = []
        stop_file, every = False, 0
        if self.main:
            stop_file = t.stop_file.exists()
            msgs = t.inbox.take()
            now = time.monotonic()
            per_call = (now - t.last_poll) / self.calls
            t.last_poll = now
            if not force and per_call > 0:
                every = min(int(interval / per_call), 1000)  # skip this many polls before the next exchange
        self.calls = 0
        flags = torch.tensor([int(t.stop.asked or stop_file), len(msgs), every])
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)  # a stop asked on any rank; rank 0's count and spacing
        stop, n, every = (int(v) for v in flags)
        if n:
            box = [msgs]
            dist.broadcast_object_list(box, 0, device=torch.device("cpu"))
            msgs = box[0]
        self.countdown = every
        if stop:
            t.stop.set = True
        for msg in msgs:
            try:
                t.handle(msg)
            except GanError as e:
                t.inbox.answer(msg, False, str(e))

    def run(self, trainer, progress):
        """trainer.run, ending as `interrupted` (resumable from the last checkpoint) if another rank is lost:
        its collectives fail (gloo: "Connection closed by peer", raised inside backward as a RuntimeError)."""
        try:
            return trainer.run(progress)
        except RuntimeError as e:  # DistError is one too
            text = str(e)
            if not isinstance(e, dist.DistError) and not any(w in text for w in LOST_WORDS):
                raise
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # torchrun's SIGTERM to the survivors: finish the note first
            it = trainer.it
            msg = (f"another process of the run ended unexpectedly near iteration {it}; resume continues from the "
                   "last checkpoint")
            if self.main:
                from gan_core.runs import store
                store.write_status(trainer.run_dir, state="interrupted", iteration=it, message=msg, eta_s=0, rate=None)
            raise RunError(msg) from None


# torch 2.13 renamed broadcast_buffers (now deprecated) to forward_sync_buffers; both mean: no broadcast per forward
NO_FORWARD_BUFFER_SYNC = ({"forward_sync_buffers": False}
                          if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel).parameters
                          else {"broadcast_buffers": False})
LOST_WORDS = ("Connection closed", "Connection reset", "gloo", "NCCL", "ProcessGroup", "peer")


class MutedInbox:
    """What a rank other than 0 holds in place of the control Inbox: rank 0 reads and answers."""

    def take(self) -> list:
        return []

    def answer(self, *args, **kwargs) -> None:
        pass

    def clear(self, *args, **kwargs) -> None:
        pass


class MutedSnapshots:
    """... and in place of the Snapshotter: the same schedule, no files (snapshot metrics go in rank 0's rows)."""

    def __init__(self, snap):
        self.due, self.columns = snap.due, snap.columns

    def take(self, G, D, iteration: int, **kwargs) -> dict:
        return {}

    def close(self) -> None:
        pass


def setup(device: torch.device) -> Single:
    """The process's place in the run: Single outside torchrun, else this rank (joining the process group
    on first use). Under torchrun, --device cuda/auto means this rank's GPU, cuda:LOCAL_RANK."""
    if not launched():
        return Single(device)
    if device.type == "mps":
        raise ConfigError("several processes need CUDA GPUs or the CPU; MPS is not supported under torchrun")
    if device.type == "cuda":
        local, n = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= n:
            raise ConfigError(f"process {local} on this machine has no GPU of its own ({n} GPU(s) here); "
                              f"start at most --nproc-per-node {n}, or use --device cpu")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
        dist.init_process_group(backend)
    return Ranks(device)


def shutdown() -> None:
    """Leave the process group together: a rank that tears its group down while a peer is still writing
    (rank 0 saves the checkpoint and exports the model last) can be aborted by gloo at exit ("terminate
    called without an active exception"), which torchrun reports as a failed run."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if dist.get_backend() == "gloo":
            import datetime
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=60))  # a lost peer: an error, not a hang
        else:
            dist.barrier()
    except Exception:  # noqa: BLE001 — a peer is gone (the run already says interrupted): just leave
        pass
    dist.destroy_process_group()

