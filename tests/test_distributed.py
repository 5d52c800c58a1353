"""Several processes (torchrun, gloo on the CPU): the same mathematics as one process, one writer, stop,
death and resume across world sizes."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from conftest import ROOT, run_cli

from gan_core.engine.algorithm import discriminator_step, generator_step
from gan_core.engine.models import MLPDiscriminator, MLPGenerator
from gan_core.runs import store
from gan_core.runs.paths import snapshot_path

TINY = ["--hidden", "16", "--depth", "2", "--batch-size", "32", "--log-every", "10", "--snapshot-every", "50",
        "--snapshot-samples", "500", "--device", "cpu", "--seed", "3", "--quiet"]


def torchrun(n, *args, wait=True, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
           "-m", "gan_core", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def files(d: Path) -> set:
    return {p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()}


def rows(d: Path) -> pd.DataFrame:
    return pd.read_csv(d / "metrics.csv").drop(columns=["elapsed_s"])


# --- one step, as functions: N ranks × m/N = one process × m ---------------------------------------------

def _rank_steps(rank, world, port, out, batches):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from gan_core.engine import distributed
    d = distributed.setup(torch.device("cpu"))
    G, D = _nets()
    ddp_G, ddp_D = d.wrap(G, D)
    opt_d, opt_g = torch.optim.Adam(D.parameters(), 1e-2), torch.optim.Adam(G.parameters(), 1e-2)
    x, z, z2 = batches
    v, dr, df = discriminator_step(G, ddp_D, opt_d, d.part(x), d.part(z))
    diag = d.mean(torch.stack([v, dr, df]))
    loss = d.mean(generator_step(ddp_G, D, opt_g, d.part(z2), "nonsaturating"))
    # a discriminator with BatchNorm: both forward passes of D's step, under DDP, without an error
    Db = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.LeakyReLU(0.2),
                             torch.nn.Linear(8, 1), torch.nn.Flatten(0))
    _, ddp_Db = d.wrap(_nets()[0], Db)
    opt_b = torch.optim.SGD(Db.parameters(), 0.1)
    for _ in range(3):
        discriminator_step(G, ddp_Db, opt_b, d.part(x), d.part(z))
    torch.save({"x": d.part(x), "G": G.state_dict(), "D": D.state_dict(), "diag": diag, "g_loss": loss,
                "Db": {k: v for k, v in Db.state_dict().items() if "running" not in k}}, f"{out}/rank{rank}.pt")
    distributed.shutdown()


def _nets():
    torch.manual_seed(0)
    return MLPGenerator(2, 2, 16, 2), MLPDiscriminator(2, 16, 2)


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_with_half_batches_take_the_step_of_one_process_with_the_whole_batch(tmp_path):
    g = torch.Generator().manual_seed(1)
    m = 64
    batches = (torch.randn(m, 2, generator=g) * 2 + 1, torch.randn(m, 2, generator=g), torch.randn(m, 2, generator=g))
    mp.spawn(_rank_steps, args=(2, _free_port(), str(tmp_path), batches), nprocs=2, join=True)
    # one process, batch m, the same weights and the same data
    G, D = _nets()
    opt_d, opt_g = torch.optim.Adam(D.parameters(), 1e-2), torch.optim.Adam(G.parameters(), 1e-2)
    v, dr, df = discriminator_step(G, D, opt_d, batches[0], batches[1])
    loss = generator_step(G, D, opt_g, batches[2], "nonsaturating")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    moved = 0.0
    for net, ref in (("G", G), ("D", D)):
        for k, want in ref.state_dict().items():
            assert torch.allclose(r0[net][k], want, atol=1e-6), (net, k)   # the same step as one process
            assert torch.equal(r0[net][k], r1[net][k]), (net, k)            # and the ranks agree exactly
    for k, p in _nets()[1].state_dict().items():
        moved = max(moved, (p - D.state_dict()[k]).abs().max().item())
    assert moved > 1e-3  # the step did something (lr 1e-2): the comparison is not vacuous
    # each rank trained on its own half of the minibatch: no overlap, nothing left out
    assert torch.equal(torch.cat([r0["x"], r1["x"]]), batches[0]) and len(r0["x"]) == m // 2
    # the logged diagnostics are the whole batch's means, on every rank
    for r in (r0, r1):
        assert torch.allclose(r["diag"], torch.stack([v, dr, df]), atol=1e-6)
        assert torch.allclose(r["g_loss"], loss, atol=1e-6)
    # BatchNorm in D: three D steps ran (two forward passes each) and the ranks' weights stayed identical
    for k in r0["Db"]:
        assert torch.equal(r0["Db"][k], r1["Db"][k]), k


# --- whole runs under torchrun ---------------------------------------------------------------------------

@pytest.mark.slow
def test_two_processes_train_one_run_written_by_rank_0_only_equal_to_one_process(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    # instance noise on for the first 50 iterations: drawn whole and parted as the minibatch is
    noise = ("--instance-noise", "0.5", "--instance-noise-iterations", "50")
    r = torchrun(2, "train", "--dataset", "ring8", "--iterations", "100", "--run-dir", two, "--g-norm", "none",
                 "--tensorboard", *noise, *TINY)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("completed:") == 1  # rank 0 speaks for the run
    snaps = {snapshot_path("", i).as_posix() for i in (0, 50, 100)}
    got = files(two)
    tb = {f for f in got if f.startswith("tb/")}
    assert len(tb) == 1  # one writer: one event file
    # .lock: rank 0 is the one writer
    assert got - tb == {"config.json", "metrics.csv", "status.json", "checkpoints/last.pt", "generator.onnx",
                        ".lock"} | snaps
    st, cfg = store.read_status(two), json.loads((two / "config.json").read_text())
    assert st["state"] == "completed" and st["iteration"] == 100 and st["world_size"] == 2 and cfg["world_size"] == 2
    m = pd.read_csv(two / "metrics.csv")
    assert list(m["iteration"]) == list(range(10, 101, 10))
    assert ((m["d_real"] > 0) & (m["d_real"] < 1) & (m["d_fake"] > 0) & (m["d_fake"] < 1)).all()
    assert ((m["value_estimate"] < 0) & (m["value_estimate"] > -5)).all()
    # one process with the same seed and batch: the same run (each rank took half of every minibatch)
    r = run_cli("train", "--dataset", "ring8", "--iterations", "100", "--run-dir", one, "--g-norm", "none", *noise,
                *TINY)
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(rows(one), rows(two), atol=1e-5, rtol=1e-4)
    assert json.loads((one / "config.json").read_text())["world_size"] == 1


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _start_and_find_rank_1(run_dir, iterations, extra=()):
    proc = torchrun(2, "train", "--dataset", "ring8", "--iterations", iterations, "--run-dir", run_dir, "--g-norm",
                    "none", "--checkpoint-every", "100", "--no-export", *TINY, *extra, wait=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = store.read_status(run_dir)
        if st.get("state") == "running" and (run_dir / "metrics.csv").exists() and st.get("iteration", 0) >= 20:
            others = [c for c in _children(proc.pid) if c != st["pid"]]
            assert st["pid"] in _children(proc.pid) and len(others) == 1
            return proc, others[0]
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the run did not start")


@pytest.mark.slow
def test_sigterm_to_one_rank_stops_the_run_then_it_resumes_under_one_and_under_two_processes(tmp_path):
    run = tmp_path / "run"
    proc, rank1 = _start_and_find_rank_1(run, 100000)
    os.kill(rank1, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    st = store.read_status(run)
    assert st["state"] == "stopped", st
    stopped_at = st["iteration"]
    from gan_core.engine.checkpoint import load_checkpoint
    assert load_checkpoint(run)["iteration"] == stopped_at
    assert not (run / "STOP").exists()
    # resume under one process, then under two; the rows are those of one uninterrupted process
    n1 = (stopped_at // 10 + 3) * 10
    r = run_cli("train", "--resume", "--run-dir", run, "--iterations", n1, "--quiet")
    assert r.returncode == 0 and store.read_status(run)["iteration"] == n1, r.stderr
    assert json.loads((run / "config.json").read_text())["world_size"] == 1
    r = torchrun(2, "train", "--resume", "--run-dir", run, "--iterations", n1 + 30, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    st = store.read_status(run)
    assert st["state"] == "completed" and st["iteration"] == n1 + 30 and st["world_size"] == 2
    ref = tmp_path / "ref"
    r = run_cli("train", "--dataset", "ring8", "--iterations", n1 + 30, "--run-dir", ref, "--g-norm", "none",
                "--checkpoint-every", "100", "--no-export", "--lr-decay-iterations", "100000", *TINY)
    assert r.returncode == 0, r.stderr
    base = store.BASE_COLUMNS[:-1]  # (snapshots at each segment's end add theory columns there)
    pd.testing.assert_frame_equal(rows(ref)[base], rows(run)[base], atol=1e-4, rtol=1e-3)


@pytest.mark.slow
def test_a_rank_that_dies_leaves_the_run_interrupted_and_resumable(tmp_path):
    run = tmp_path / "run"
    proc, rank1 = _start_and_find_rank_1(run, 100000)
    deadline = time.monotonic() + 60
    while not (run / "checkpoints" / "last.pt").exists() and time.monotonic() < deadline:  # resumable from here
        time.sleep(0.05)
    os.kill(rank1, signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    st = store.refresh_state(run)
    assert st["state"] == "interrupted", (st, out)
    r = run_cli("train", "--resume", "--run-dir", run, "--iterations", st["iteration"] + 20, "--quiet")
    assert r.returncode == 0, r.stderr
    assert store.read_status(run)["state"] == "completed"


def test_a_batch_that_does_not_split_evenly_is_refused_in_one_line(tmp_path, monkeypatch):
    from gan_core.config import TrainConfig
    from gan_core.errors import ConfigError
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ConfigError, match="does not split evenly across 3 processes"):
        TrainConfig(dataset="ring8", batch_size=32).resolved().validate()
    monkeypatch.setenv("WORLD_SIZE", "4")
    TrainConfig(dataset="ring8", batch_size=32).resolved().validate()


def test_torchrun_command_line():
    from gan_core.jobs import launch
    cmd = launch.torchrun_command(["train", "--dataset", "ring8"], 4)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert cmd[cmd.index("--nproc-per-node") + 1] == "4" and "--standalone" in cmd
    assert cmd[-5:] == ["-m", "gan_core", "train", "--dataset", "ring8"]
