"""The prepared GPU check for issue 13 (run from the repo root: `python3 scripts/gpu_check_fused.py`, < 5 min).

1. ring8 (defaults: 4×128 MLPs, BatchNorm in G, batch 256, k 1) on one CUDA device: the eager loop
   (gan_core.engine.algorithm, autograd), the fused step (gan_core.engine.fused.FusedSteps), and the whole iteration
   captured as a CUDA graph (gan_core.engine.fused.GraphedIteration), in iterations per second; the graph's
   results against the fused eager step on the same inputs (must agree to float rounding).
2. A comparison of 8 (`python -m gan_core compare --device cuda`) against the same 8 runs started together
   as separate processes (`python -m gan_core train --device cuda`), total member-iterations per second.
Prints its figures; the last line is the graph/eager ratio.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
import torch  # noqa: E402

from gan_core.engine import fused  # noqa: E402
from gan_core.engine.algorithm import discriminator_step, generator_step  # noqa: E402
from gan_core.config import TrainConfig  # noqa: E402
from gan_core.data.datasets import load_dataset  # noqa: E402
from gan_core.engine.models import build_models  # noqa: E402

if not torch.cuda.is_available():
    sys.exit("no CUDA device")
dev = torch.device("cuda")
print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
cfg = TrainConfig(dataset="ring8", device="cuda").resolved()
ds = load_dataset(cfg)
m, L = cfg.batch_size, cfg.latent_dim
centers = torch.as_tensor(ds.centers, dtype=torch.float32, device=dev)


def pair():
    torch.manual_seed(0)
    G, D = (n.to(dev) for n in build_models(cfg, ds))
    mk = lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(cfg.beta1, cfg.beta2), fused=True)  # noqa: E731
    return G, D, mk(G.parameters(), cfg.lr_g), mk(D.parameters(), cfg.lr_d)


def batches(n, seed=1):
    g = torch.Generator(device=dev).manual_seed(seed)
    xs = centers[torch.randint(len(centers), (n, m), generator=g, device=dev)] + ds.std * torch.randn(n, m, 2, generator=g, device=dev)
    return xs, torch.randn(n, 2, m, L, generator=g, device=dev)


def timed(fn, n):
    for i in range(10):
        fn(i)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


N_IT = 1000
xs, zs = batches(64)
G, D, og, od = pair()
eager = timed(lambda i: (discriminator_step(G, D, od, xs[i % 64], zs[i % 64, 0]),
                         generator_step(G, D, og, zs[i % 64, 1], "nonsaturating")), N_IT)
G, D, og, od = pair()
st = fused.FusedSteps(G, D, og, od)
fz = timed(lambda i: (st.discriminator_step(xs[i % 64], zs[i % 64, 0]), st.generator_step(zs[i % 64, 1], "nonsaturating")), N_IT)
G, D, og, od = pair()
gi = fused.GraphedIteration(fused.FusedSteps(G, D, og, od), 1, "nonsaturating", xs[0], zs[0, 0])
graphed = timed(lambda i: gi(xs[i % 64].unsqueeze(0), zs[i % 64]), N_IT)
print(f"ring8 it/s: eager (autograd) {eager:.0f}, fused {fz:.0f} ({fz / eager:.2f}x), CUDA graph {graphed:.0f} "
      f"({graphed / eager:.2f}x of eager)")

# equality: graph replay against the fused eager step, 30 iterations on the same inputs
G1, D1, og1, od1 = pair(); s1 = fused.FusedSteps(G1, D1, og1, od1)
G2, D2, og2, od2 = pair(); g2 = fused.GraphedIteration(fused.FusedSteps(G2, D2, og2, od2), 1, "nonsaturating", xs[0], zs[0, 0])
worst = 0.0
for i in range(30):
    a = torch.stack(s1.discriminator_step(xs[i], zs[i, 0])); la = s1.generator_step(zs[i, 1], "nonsaturating")
    b, lb = g2(xs[i].unsqueeze(0), zs[i])
    worst = max(worst, (a - b[0]).abs().max().item(), (la - lb).abs().item())
pw = max((p - q).abs().max().item() for p, q in zip(D1.parameters(), D2.parameters()))
print(f"graph vs fused eager over 30 iterations: largest metric difference {worst:.2e}, D weights {pw:.2e} "
      f"({'OK' if worst < 1e-4 and pw < 1e-4 else 'DIFFERENT'})")

# comparison of 8 vs 8 separate processes
its = 400
tmp = tempfile.mkdtemp(prefix="gpu13_")
common = ["--dataset", "ring8", "--iterations", str(its), "--device", "cuda", "--no-export", "--quiet"]
t = time.perf_counter()
subprocess.run([sys.executable, "-m", "gan_core", "compare", *common, "--vary", "g_loss=minimax,nonsaturating",
                "--vary", "k=1,2", "--seeds", "2", "--root", f"{tmp}/cmp"], check=True, stdout=subprocess.DEVNULL)
t_cmp = time.perf_counter() - t
t = time.perf_counter()
procs = [subprocess.Popen([sys.executable, "-m", "gan_core", "train", *common, "--g-loss", g, "--k", str(k), "--seed", str(s),
                           "--run-dir", f"{tmp}/sep{g}{k}{s}"], stdout=subprocess.DEVNULL)
         for g in ("minimax", "nonsaturating") for k in (1, 2) for s in (0, 1)]
codes = [p.wait() for p in procs]
t_sep = time.perf_counter() - t
shutil.rmtree(tmp, ignore_errors=True)
print(f"comparison of 8 ({its} iterations each, wall incl. start-up): one process {8 * its / t_cmp:.0f} member-it/s, "
      f"8 processes {8 * its / t_sep:.0f} member-it/s (exit codes {codes}): {t_sep / t_cmp:.2f}x")
print(f"CUDA graph / eager loop, ring8: {graphed / eager:.2f}x")
