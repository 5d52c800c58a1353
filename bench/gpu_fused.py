"""Algorithm 1's iteration on one CUDA GPU three ways, and eight runs in one process against eight processes.

    python -m bench.gpu_fused [--quick] [--repeats R] [--iterations N]

1. ring8 at its defaults (4×128 MLPs, BatchNorm in G, batch 256, k 1, fused Adam): the eager loop
   (gan_core.engine.algorithm, autograd), the fused steps (gan_core.engine.fused.FusedSteps) and the whole
   iteration captured as a CUDA graph (fused.GraphedIteration), in iterations per second, interleaved (ABBA),
   each timed between two synchronisations after 10 untimed iterations. That the three compute the same is
   tested (tests/test_gpu.py), not measured here.
2. `python -m gan_core compare --device cuda` of 8 members (g_loss × k × 2 seeds) against the same 8 runs
   started together as separate `python -m gan_core train --device cuda` processes: total member-iterations
   per second over the wall time of each side, process start and imports included (as a user waits for them).

Full: 1,000 iterations a sample, 5 repetitions, 400 iterations a member. --quick: 200, 3, 150.
The last line: `CUDA graph / eager loop, ring8 at its defaults, iterations per second: N.NNx`.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench import common
from bench.common import median, paired_ratios, ratio, say, spread, table

ROOT = Path(__file__).resolve().parent.parent
BATCHES = 64  # distinct minibatches drawn up front and cycled: the drawing is not what is timed


def _ring8():
    from gan_core.config import TrainConfig
    from gan_core.data.datasets import load_dataset
    cfg = TrainConfig(dataset="ring8", device="cuda").resolved()
    return cfg, load_dataset(cfg)


def _pair(cfg, ds):
    """G, D (seed 0) on the GPU with their Adam optimisers, as training builds them."""
    from gan_core.engine.models import build_models
    torch.manual_seed(0)
    G, D = (n.to("cuda") for n in build_models(cfg, ds))
    adam = lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(cfg.beta1, cfg.beta2), fused=True)  # noqa: E731
    return G, D, adam(G.parameters(), cfg.lr_g), adam(D.parameters(), cfg.lr_d)


def _batches(cfg, ds):
    """BATCHES real minibatches [B, m, 2] and latent pairs [B, 2, m, latent] (D's step, G's step)."""
    g = torch.Generator(device="cuda").manual_seed(1)
    m, centers = cfg.batch_size, torch.as_tensor(ds.centers, dtype=torch.float32, device="cuda")
    xs = centers[torch.randint(len(centers), (BATCHES, m), generator=g, device="cuda")]
    xs = xs + ds.std * torch.randn(BATCHES, m, 2, generator=g, device="cuda")
    return xs, torch.randn(BATCHES, 2, m, cfg.latent_dim, generator=g, device="cuda")


def _timed_loop(step, n: int):
    """A case: seconds per iteration of step(i) over n iterations, after 10 untimed ones."""
    def case():
        for i in range(10):
            step(i)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(n):
            step(i)
        torch.cuda.synchronize()
        return (time.perf_counter() - t) / n
    return case


def iteration_cases(n: int) -> dict:
    """The three ways to run ring8's iteration, each a case of common.interleaved (fresh nets every sample)."""
    from gan_core.engine import fused
    from gan_core.engine.algorithm import discriminator_step, generator_step
    cfg, ds = _ring8()
    xs, zs = _batches(cfg, ds)
    loss = cfg.g_loss

    def eager():
        G, D, og, od = _pair(cfg, ds)
        return _timed_loop(lambda i: (discriminator_step(G, D, od, xs[i % BATCHES], zs[i % BATCHES, 0]),
                                      generator_step(G, D, og, zs[i % BATCHES, 1], loss)), n)()

    def fused_steps():
        st = fused.FusedSteps(*_pair(cfg, ds))
        return _timed_loop(lambda i: (st.discriminator_step(xs[i % BATCHES], zs[i % BATCHES, 0]),
                                      st.generator_step(zs[i % BATCHES, 1], loss)), n)()

    def graph():
        gi = fused.GraphedIteration(fused.FusedSteps(*_pair(cfg, ds)), 1, loss, xs[0], zs[0, 0])
        return _timed_loop(lambda i: gi(xs[i % BATCHES].unsqueeze(0), zs[i % BATCHES]), n)()

    return {"eager loop (autograd)": eager, "fused steps": fused_steps, "CUDA graph of the fused iteration": graph}


def iteration_speeds(n: int, repeats: int) -> float:
    """Prints the table of the three ways; returns the CUDA graph's speed over the eager loop's."""
    res = common.interleaved(iteration_cases(n), repeats, warmup=1)
    eager = res["eager loop (autograd)"]
    rows = [[k, f"{1 / median(v):.0f}", spread(v), ratio(median(paired_ratios(eager, v)))] for k, v in res.items()]
    say(f"## ring8 at its defaults on one GPU: {n} iterations a sample, {repeats} interleaved samples")
    say(table(rows, ["case", "it/s (median)", "spread", "speed vs eager (paired)"]))
    say()
    return median(paired_ratios(eager, res["CUDA graph of the fused iteration"]))


def _start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gan_core", *argv], cwd=ROOT, stdout=subprocess.DEVNULL)


def comparison_vs_processes(iterations: int, repeats: int) -> float:
    """Prints member-iterations per second of a comparison of 8 and of 8 processes; returns their ratio."""
    common_args = ["--dataset", "ring8", "--iterations", str(iterations), "--device", "cuda", "--no-export", "--quiet"]
    members = [(g, k, s) for g in ("minimax", "nonsaturating") for k in (1, 2) for s in (0, 1)]
    tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_cmp_"))

    def comparison():
        root = tmp / f"cmp-{time.monotonic_ns()}"
        if _start(["compare", *common_args, "--vary", "g_loss=minimax,nonsaturating", "--vary", "k=1,2",
                   "--seeds", "2", "--root", str(root)]).wait():
            raise RuntimeError("the comparison failed")

    def separate():
        base = tmp / f"sep-{time.monotonic_ns()}"
        procs = [_start(["train", *common_args, "--g-loss", g, "--k", str(k), "--seed", str(s),
                         "--run-dir", str(base / f"{g}{k}{s}")]) for g, k, s in members]
        if any(p.wait() for p in procs):
            raise RuntimeError("a separate run failed")

    try:
        res = common.interleaved({"comparison of 8 (one process)": comparison, "8 separate processes": separate},
                                 repeats, warmup=0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = len(members) * iterations
    say(f"## 8 ring8 runs of {iterations} iterations on one GPU, wall clock incl. start-up, {repeats} rounds")
    say(table([[k, f"{total / median(v):.0f}", spread(v)] for k, v in res.items()],
              ["case", "member-iterations/s (median)", "spread"]))
    r = median(paired_ratios(res["8 separate processes"], res["comparison of 8 (one process)"]))
    say(f"comparison of 8 / 8 separate processes, member-iterations per second: {ratio(r)}")
    say()
    return r


def main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=0, help="iterations a timed sample (0: 200 --quick, else 1000)")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        p.error("no CUDA GPU here: this bench measures one")
    n = args.iterations or (200 if args.quick else 1000)
    repeats = args.repeats or (3 if args.quick else 5)
    common.print_header("Algorithm 1 on one GPU: eager, fused, CUDA graph; a comparison vs processes", args, "cuda",
                        {"gpu": torch.cuda.get_device_name(0)})
    graph = iteration_speeds(n, repeats)
    comparison_vs_processes(150 if args.quick else 400, repeats)
    common.final_line("CUDA graph / eager loop, ring8 at its defaults, iterations per second", graph)
    return graph


if __name__ == "__main__":
    main(sys.argv[1:])
