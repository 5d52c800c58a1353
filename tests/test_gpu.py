"""The CUDA path, on a machine with a GPU: the control channel, replay, resume, export, the fused steps and the
CUDA graph, SyncBatchNorm across ranks, and torchrun.

On a machine with a GPU, run these (and only these) with

    bash scripts/test.sh -m gpu            # or: .venv/bin/python -m pytest -q -m gpu

Without CUDA (the development machine, CI) every test here is skipped at once. The figures of such a machine
(training speed CUDA vs its CPU, the fused step and the CUDA graph, CPU scaling under torchrun) are a bench:
`python -m bench.gpu --quick`.
"""
import copy
import os
import re
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import ROOT, run_cli, wait_for

from gan_core.config import TrainConfig
from gan_core.data.datasets import load_dataset
from gan_core.engine import distributed, fused
from gan_core.engine.algorithm import discriminator_step, generator_step
from gan_core.engine.models import DCDiscriminator, DCGenerator, build_models, init_weights
from gan_core.engine.training import train
from gan_core.runs import control, store
from gan_core.share.generation import load_model

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")]
DEVICE = "cuda"


def _cfg(tmp_path, name, **kw):
    """ring8 at its default size on the GPU; few snapshot samples, no export unless asked."""
    base = dict(dataset="ring8", run_dir=str(tmp_path / name), device=DEVICE, log_every=10, snapshot_every=100,
                snapshot_samples=500, export_onnx=False, seed=5)
    return TrainConfig(**{**base, **kw})


def _rows(run_dir) -> pd.DataFrame:
    return pd.read_csv(f"{run_dir}/metrics.csv").drop(columns=["elapsed_s"]).set_index("iteration")


def _in_background(cfg) -> threading.Thread:
    """train(cfg) in a thread; returns once the run says it is running."""
    th = threading.Thread(target=train, args=(cfg,), daemon=True)
    th.start()
    assert wait_for(lambda: store.read_status(cfg.run_dir).get("state") == "running"), store.read_status(cfg.run_dir)
    return th


# --- the control channel, replay, resume, export -----------------------------------------------------------

def test_control_channel_on_cuda_pause_exact_steps_live_change_stop_then_replay_equal(tmp_path):
    cfg = _cfg(tmp_path, "steer", iterations=100_000, checkpoint_every=100_000)
    th = _in_background(cfg)
    d = cfg.run_dir
    control.command(d, "pause")
    at = store.read_status(d)["iteration"]
    time.sleep(0.3)
    assert store.read_status(d)["iteration"] == at and store.read_status(d)["state"] == "paused"
    control.command(d, "step", what="iteration", count=5)
    assert store.read_status(d)["iteration"] == at + 5      # exactly five whole iterations on the GPU
    control.command(d, "step", what="d")
    assert store.read_status(d)["d_done"] == 1
    control.command(d, "set", changes={"g_loss": "minimax", "lr_d": 2e-4})
    assert store.read_status(d)["settings"]["g_loss"] == "minimax"
    control.command(d, "continue")
    assert wait_for(lambda: store.read_status(d)["iteration"] > at + 200)
    control.command(d, "stop")
    th.join(120)
    assert not th.is_alive() and store.read_status(d)["state"] == "stopped"
    r = run_cli("replay", d, "--run-dir", tmp_path / "copy", "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = _rows(d), _rows(tmp_path / "copy")
    common = a.index.intersection(b.index)
    common = common[common < b.index.max()]  # the replay's last row also holds its final snapshot
    assert len(common) >= 20
    np.testing.assert_allclose(a.loc[common].to_numpy(float), b.loc[common].to_numpy(float), atol=1e-5,
                               equal_nan=True)
    assert control.read_changes(tmp_path / "copy") == control.read_changes(d)


def test_resume_on_cuda_equals_one_straight_run(tmp_path):
    sched = dict(lr_decay=0.0, lr_decay_iterations=400, checkpoint_every=1000)
    train(_cfg(tmp_path, "straight", iterations=400, **sched))
    train(_cfg(tmp_path, "resumed", iterations=200, **sched))
    st = train(_cfg(tmp_path, "resumed", iterations=400, **sched), resume=True)
    assert st["state"] == "completed" and st["iteration"] == 400 and st["device"] == "cuda"
    a, b = _rows(tmp_path / "straight"), _rows(tmp_path / "resumed")
    assert list(a.index) == list(b.index) and len(a) == 40
    # the device's random stream is restored with the checkpoint: anything else differs by far more
    np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), atol=1e-5, equal_nan=True)


def test_export_of_a_cuda_run_samples_with_onnxruntime(tmp_path):
    st = train(_cfg(tmp_path, "exp", iterations=300, export_onnx=True))
    assert st["state"] == "completed" and "generator.onnx written" in st["message"], st["message"]
    model = load_model(tmp_path / "exp" / "generator.onnx")   # onnxruntime on the CPU
    x = model.run(model.latents(1000, seed=1))
    assert x.shape == (1000, 2) and np.isfinite(x).all()
    assert x.std(axis=0).min() > 1e-3  # a generator, not a constant


# --- the fused steps and the CUDA graph ----------------------------------------------------------------------

FUSED_CASES = [
    ("ring8", dict(), "nonsaturating"),                             # MLP, BatchNorm in G, D as one batch of 2m
    ("ring8", dict(g_norm="none"), "minimax"),                      # MLP without BatchNorm, eq. 4
    ("digits", dict(), "nonsaturating"),                            # DCGAN 8x8: D without BatchNorm
    ("digits", dict(image_size=16, base_channels=8), "minimax"),    # DCGAN 16x16: BatchNorm in D, two passes
]


def _cuda_pairs(dataset, **kw):
    """(cfg, ds, two identical (G, D, opt_g, opt_d) on the GPU): one for autograd, one for the fused steps."""
    cfg = TrainConfig(dataset=dataset, device="cpu", **kw).resolved()
    ds = load_dataset(cfg)
    torch.manual_seed(0)
    G, D = build_models(cfg, ds)
    out = []
    for g, d in ((G, D), (copy.deepcopy(G), copy.deepcopy(D))):
        g, d = g.to(DEVICE), d.to(DEVICE)
        adam = lambda ps: torch.optim.Adam(ps, lr=1e-3, betas=(0.5, 0.999), fused=True)  # noqa: E731
        out.append((g, d, adam(g.parameters()), adam(d.parameters())))
    return cfg, ds, out[0], out[1]


def _cuda_batches(cfg, ds, n, seed=1):
    """n real minibatches [n, m, ...] and n pairs of latent batches [n, 2, m, latent], on the GPU."""
    g = torch.Generator().manual_seed(seed)
    m = cfg.batch_size
    if ds.data is not None:
        data = torch.from_numpy(ds.data) * (2 if ds.kind == "image" else 1) - (1 if ds.kind == "image" else 0)
        xs = data[torch.randint(len(data), (n, m), generator=g)]
    else:
        c = torch.as_tensor(ds.centers, dtype=torch.float32)
        xs = c[torch.randint(len(c), (n, m), generator=g)] + 0.05 * torch.randn(n, m, c.shape[1], generator=g)
    return xs.to(DEVICE), torch.randn(n, 2, m, cfg.latent_dim, generator=g).to(DEVICE)


@pytest.mark.parametrize("dataset,kw,objective", FUSED_CASES)
def test_fused_steps_equal_autograd_on_cuda(dataset, kw, objective, monkeypatch):
    # TF32 convolutions keep 10 bits of mantissa: the comparison is of the mathematics, in full float32
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    cfg, ds, (G, D, og, od), (G2, D2, og2, od2) = _cuda_pairs(dataset, **kw)
    assert fused.supports(G2, D2)
    steps = fused.FusedSteps(G2, D2, og2, od2)
    xs, zs = _cuda_batches(cfg, ds, 4)
    before = [p.clone() for p in D.parameters()]
    for i in range(4):
        a = discriminator_step(G, D, od, xs[i], zs[i, 0])
        b = steps.discriminator_step(xs[i], zs[i, 0])
        for s, t in zip(a, b):
            assert abs(s.item() - t.item()) < 1e-5, (i, a, b)
        la = generator_step(G, D, og, zs[i, 1], objective)
        lb = steps.generator_step(zs[i, 1], objective)
        assert abs(la.item() - lb.item()) < 1e-5
    for p, q in zip(D.parameters(), D2.parameters()):
        assert torch.allclose(p, q, atol=1e-5), (p - q).abs().max()
    assert torch.allclose(G(zs[0, 0]), G2(zs[0, 0]), atol=1e-4)  # G's function (see tests/test_fused.py)
    assert any((p - q).abs().max() > 0 for p, q in zip(D.parameters(), before))  # the steps moved D


def test_cuda_graph_replays_the_fused_iteration():
    cfg, ds, (G1, D1, og1, od1), (G2, D2, og2, od2) = _cuda_pairs("ring8")
    eager = fused.FusedSteps(G1, D1, og1, od1)
    xs, zs = _cuda_batches(cfg, ds, 30)
    graphed = fused.GraphedIteration(fused.FusedSteps(G2, D2, og2, od2), 1, "nonsaturating", xs[0], zs[0, 0])
    for i in range(30):  # 3 eager warm-up iterations inside GraphedIteration, then capture, then replays
        a = torch.stack(eager.discriminator_step(xs[i], zs[i, 0]))
        la = eager.generator_step(zs[i, 1], "nonsaturating")
        b, lb = graphed(xs[i].unsqueeze(0), zs[i])
        assert (a - b[0]).abs().max().item() < 1e-4 and abs(la.item() - lb.item()) < 1e-4, i
    assert graphed.graph is not None  # the last iterations were replays of the captured graph
    for p, q in zip(D1.parameters(), D2.parameters()):
        assert (p - q).abs().max().item() < 1e-4


# --- several processes -------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dc_nets():
    """A DCGAN pair with BatchNorm in G and D (16x16, so D has a BatchNorm layer)."""
    torch.manual_seed(0)
    G, D = DCGenerator(8, 1, 16, 8), DCDiscriminator(1, 16, 8)
    G.apply(init_weights)
    D.apply(init_weights)
    return G.to(DEVICE), D.to(DEVICE)


def _syncbn_rank(rank, port, out, batches):
    """One of two ranks on the same GPU (gloo: NCCL refuses two ranks on one device): one step of D and G."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.cuda.set_device(0)
    torch.backends.cudnn.allow_tf32 = False  # as in the reference step of the parent: full float32
    d = distributed.Ranks(torch.device(DEVICE, 0))
    G, D = _dc_nets()
    ddp_G, ddp_D = d.wrap(G, D)
    opt_d, opt_g = torch.optim.Adam(D.parameters(), 1e-2), torch.optim.Adam(G.parameters(), 1e-2)
    x, z, z2 = (b.to(DEVICE) for b in batches)
    discriminator_step(G, ddp_D, opt_d, d.part(x), d.part(z))
    generator_step(ddp_G, D, opt_g, d.part(z2), "nonsaturating")
    torch.save({"sync": [type(m).__name__ for m in (*G.modules(), *D.modules()) if "BatchNorm" in type(m).__name__],
                "G": {k: v.cpu() for k, v in G.state_dict().items()},
                "D": {k: v.cpu() for k, v in D.state_dict().items()}}, f"{out}/rank{rank}.pt")
    distributed.shutdown()


def test_syncbatchnorm_two_ranks_with_half_batches_take_the_step_of_one_process(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # full float32 here and in the ranks
    g = torch.Generator().manual_seed(1)
    m = 32
    batches = (torch.rand(m, 1, 16, 16, generator=g) * 2 - 1, torch.randn(m, 8, generator=g),
               torch.randn(m, 8, generator=g))
    mp.spawn(_syncbn_rank, args=(_free_port(), str(tmp_path), batches), nprocs=2, join=True)
    G, D = _dc_nets()   # one process, the whole batch, plain BatchNorm
    opt_d, opt_g = torch.optim.Adam(D.parameters(), 1e-2), torch.optim.Adam(G.parameters(), 1e-2)
    x, z, z2 = (b.to(DEVICE) for b in batches)
    discriminator_step(G, D, opt_d, x, z)
    generator_step(G, D, opt_g, z2, "nonsaturating")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["sync"] and set(r0["sync"]) == {"SyncBatchNorm"}
    init = {k: v.cpu() for k, v in _dc_nets()[1].state_dict().items()}
    moved = 0.0
    for net, ref in (("G", G), ("D", D)):
        for k, want in ref.state_dict().items():
            got, want = r0[net][k], want.cpu()
            assert torch.equal(got, r1[net][k]), (net, k)                                 # the ranks agree exactly
            if want.dtype.is_floating_point:                                               # and equal one process
                assert torch.allclose(got, want, atol=1e-4), (net, k, (got - want).abs().max())
    for k, v in init.items():
        if v.dtype.is_floating_point:
            moved = max(moved, (v - D.state_dict()[k].cpu()).abs().max().item())
    assert moved > 1e-3  # the step did something (lr 1e-2): the comparison is not vacuous


def _torchrun(n: int, *args, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
           "-m", "gan_core", *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_torchrun_with_one_gpu_trains_on_it(tmp_path):
    r = _torchrun(1, "train", "--dataset", "digits", "--iterations", 100, "--run-dir", tmp_path / "t1",
                  "--device", "cuda", "--no-export", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    st = store.read_status(tmp_path / "t1")
    assert st["state"] == "completed" and st["iteration"] == 100
    assert st["device"] == "cuda" and st["device_name"] == torch.cuda.get_device_name(0)


def test_more_processes_than_gpus_are_refused_in_one_line(tmp_path):
    n = torch.cuda.device_count() + 1
    r = _torchrun(n, "train", "--dataset", "ring8", "--iterations", 50, "--run-dir", tmp_path / "t", "--device",
                  "cuda", "--quiet")
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert re.search(rf"^error: process {n - 1} on this machine has no GPU of its own \({n - 1} GPU\(s\) here\); "
                     rf"start at most --nproc-per-node {n - 1}", out, re.M), out
    assert "ConfigError" not in out  # the rank's error is its one line, not a traceback
