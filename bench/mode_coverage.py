"""Mode coverage on ring8 and grid25, beside the published tables (issue 12).

For each dataset and several seeds it trains runs as child processes (`python -m gan_core train`):
**defaults** (no flags), **original** (`--pack 1`: no packing; when the defaults already have pack 1 these are
the same runs, not trained twice), **D not refit** (`--refit-d 0`, where the defaults refit D to the final G
before export: gan_core.engine.refit) and **previous** (the defaults before issue 12, for reference), then
evaluates 2,500 samples of each exported generator.onnx by SPEC's protocol (gan_core.theory.quality), without
rejection (the plain GAN: `generate --no-rejection`) and with discriminator rejection sampling
(gan_core.theory.rejection; what `generate` does by default for these datasets). Per row: modes covered and
high-quality fraction (mean ± standard error over seeds, worst seed), the reverse KL of the per-mode
histogram, and CPU time per training run (the child's own user + system time, from os.wait4: not wall time,
which on a shared machine measures the other processes too). At most two trainings run at a time.

Reverse KL: q_k = high-quality samples of mode k / all high-quality samples, p_k = 1/K (the data's mode
weights); KL(q ‖ p) = Σ q_k log(K q_k) — 0 for balanced modes, log(K/j) when j modes share everything
(as in PacGAN's tables, the generated histogram against the true one).

    python -m bench.mode_coverage [--quick] [--seeds N] [--first-seed S] [--variants defaults,...]
                                  [--datasets ring8,grid25] [--root DIR]

Seeds S, S+1, …, S+N−1 (default 0–4: the seeds the defaults were chosen on; `--seeds 20 --first-seed 100`
measures them on seeds nobody tuned on). Per dataset it also prints the distribution of the defaults' modes
over the seeds (how many seeds at 25, 24, 23, …) and each seed's modes and high quality, so one bad seed is
seen, not averaged away.

The last line: `grid25 modes M.M/25, high quality Q.Q%` (the defaults, with the generation default).
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import print_header, say, table

N_EVAL = 2500          # SPEC §3: 2,500 samples per evaluation
EVAL_SEED = 12345      # the latent seed of the evaluation samples (not a training seed)
PUBLISHED = {
    "grid25": [("GAN, as run in PacGAN (Lin et al. 2018, Table 1)", "17.3 ± 0.8", "94.8 %"),
               ("PacGAN4 (same table)", "24.8 ± 0.2", "93.6 %"),
               ("VEEGAN (Srivastava et al. 2017, Table 1)", "24.6", "40 %")],
    "ring8": [("GAN, as run in PacGAN", "6.3 ± 0.5", "98.2 %"),
              ("PacGAN2", "7.9 ± 0.1", "95.6 %"),
              ("VEEGAN", "8", "52.9 %")],
}
VARIANTS = {"defaults": [], "original": ["--pack", "1"]}   # the plain GAN is one flag away
# Earlier defaults, for reference: ring8's before issue 12 (README's first table); grid25's until 2026-11-28
# (Adam betas (0.5, 0.999), normal noise: 17.6/25 modes with rejection v1 in bench/RESULTS.md).
PREVIOUS = {"ring8": ["--iterations", "6000", "--batch-size", "256", "--lr-d", "5e-4", "--pack", "1"],
            "grid25": ["--iterations", "10000", "--batch-size", "256", "--lr-d", "5e-4", "--lr-g", "1e-3",
                       "--beta1", "0.5", "--beta2", "0.999", "--pack", "1", "--refit-d", "0", "--prior", "normal"]}


def variants(dataset: str, wanted: set | None = None) -> dict:
    """{variant: its train flags} for a dataset (None: the same runs as the defaults'), those in wanted."""
    from gan_core.config import COMMON_DEFAULTS, DATASET_DEFAULTS
    v = dict(VARIANTS, previous=PREVIOUS[dataset])
    if DATASET_DEFAULTS[dataset].get("refit_d", 0) > 0:
        v["norefit"] = ["--refit-d", "0"]   # the same training; rejection reads the game's last D
    if DATASET_DEFAULTS[dataset].get("pack", 1) == 1:
        v["original"] = None   # `--pack 1` changes nothing: the defaults' runs are the original GAN's
    prev = dict(zip(PREVIOUS[dataset][::2], PREVIOUS[dataset][1::2]))
    defaults = {**COMMON_DEFAULTS, **DATASET_DEFAULTS[dataset]}
    if all(_same(val, defaults[k[2:].replace("-", "_")]) for k, val in prev.items()):
        del v["previous"]      # the defaults are the previous settings: nothing more to train
    return {k: f for k, f in v.items() if not wanted or k in wanted}


def _same(flag_value: str, default) -> bool:
    """A flag's text equals a default (numbers as numbers, names as names)."""
    try:
        return float(flag_value) == float(default)
    except (TypeError, ValueError):
        return str(flag_value) == str(default)


def reverse_kl(per_mode) -> float:
    q = np.asarray(per_mode, float)
    if q.sum() <= 0:
        return float("inf")
    q = q / q.sum()
    k = len(q)
    nz = q > 0
    return float((q[nz] * np.log(k * q[nz])).sum())


def start_training(dataset: str, seed: int, run_dir: Path, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gan_core", "train", "--dataset", dataset, "--seed", str(seed),
           "--run-dir", str(run_dir), "--quiet", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)


def wait_cpu(proc: subprocess.Popen) -> tuple[int, float, str]:
    """(exit status, CPU seconds of the child, its output)."""
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime, out


def run_jobs(jobs: list[dict], parallel: int = 2, start=None) -> None:
    """Run every job in a child with at most `parallel` at once; fills job['cpu_s'], job['rc'], job['output'].
    start(job) → the child's Popen; by default it trains the job's (dataset, seed, run_dir, extra)."""
    start = start or (lambda j: start_training(j["dataset"], j["seed"], j["run_dir"], j["extra"]))
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < parallel:
            j = pending.pop(0)
            j["proc"] = start(j)
            running.append(j)
        # wait for the first to finish (wait4 on each in turn would serialise; poll instead)
        done = None
        while done is None:
            for j in running:
                if _exited(j["proc"]):
                    done = j
                    break
            else:
                time.sleep(0.2)
        running.remove(done)
        done["rc"], done["cpu_s"], done["output"] = wait_cpu(done["proc"])
        del done["proc"]


def _exited(proc: subprocess.Popen) -> bool:
    """True once the child has exited, without reaping it (so wait4 still gets its rusage)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def evaluate(model_path: Path, dataset: str, rejection: bool) -> dict:
    from gan_core.config import TrainConfig
    from gan_core.data.datasets import load_dataset
    from gan_core.share.generation import load_model
    from gan_core.theory.quality import mode_quality

    ds = load_dataset(TrainConfig(dataset=dataset).resolved())
    model = load_model(model_path)
    x = model.generate(N_EVAL, seed=EVAL_SEED, rejection=rejection)
    q = mode_quality(x, ds.centers, ds.std)
    return {"modes": q.modes_covered, "n_modes": q.n_modes, "hq": q.high_quality_fraction,
            "rkl": reverse_kl(q.per_mode),
            "acceptance": (model.last_rejection or {}).get("acceptance") if rejection else None}


def generated(dataset: str) -> str:
    """Which evaluation is what `generate` gives for this dataset: "drs" (rejection by D) or "plain"."""
    from gan_core.config import GENERATION_DEFAULTS
    return "drs" if GENERATION_DEFAULTS.get(dataset, {}).get("rejection") else "plain"


def distribution(jobs: list[dict], dataset: str) -> str:
    """How many seeds the defaults (the generation default: rejection or not) leave at each mode count, and
    each seed's modes / high quality: e.g. `grid25 over 20 seeds: 25 modes ×17, 24 ×2, 22 ×1`."""
    how = generated(dataset)
    counts: dict[int, int] = {}
    for j in jobs:
        counts[j[how]["modes"]] = counts.get(j[how]["modes"], 0) + 1
    dist = ", ".join(f"{m} modes ×{c}" if i == 0 else f"{m} ×{c}"
                     for i, (m, c) in enumerate(sorted(counts.items(), reverse=True)))
    each = " ".join(f"s{j['seed']} {j[how]['modes']}/{100 * j[how]['hq']:.1f}%" for j in jobs)
    return f"{dataset} over {len(jobs)} seeds ({'rejection' if how == 'drs' else 'plain'}): {dist}\nper seed: {each}"


def why_short(jobs: list[dict], dataset: str) -> list[str]:
    """For each seed whose samples miss modes: what its snapshots say (gan_core.theory.mode_history: which
    modes G dropped, since when, and D there), or that G still samples them thinly."""
    from gan_core.runs.store import list_snapshots, load_snapshot
    from gan_core.theory import mode_history
    from gan_core.views.samples import mixture_of
    how = generated(dataset)
    out = []
    for j in jobs:
        ev = j[how]
        if ev["modes"] == ev["n_modes"] or not (j["run_dir"] / "snapshots").is_dir():
            continue
        centres, std = mixture_of(j["run_dir"])
        hist = [mode_history.snapshot_modes(load_snapshot(j["run_dir"], it), centres, std)
                for it in list_snapshots(j["run_dir"])]
        dropped = mode_history.dropped_modes(hist, centres)
        thin = ev["n_modes"] - ev["modes"] - len(dropped)
        text = (mode_history.describe(dropped, ev["n_modes"], hist[-1].iteration) if dropped else
                "G dropped no mode (each has samples in the last snapshots).")
        if thin > 0:
            text += f" {thin} missing mode(s) G samples thinly: rejection by D kept too few of them."
        out.append(f"s{j['seed']} ({ev['modes']}/{ev['n_modes']}): {text}")
    return out


def mean_se(xs) -> tuple[float, float]:
    xs = [float(x) for x in xs]
    m = sum(xs) / len(xs)
    se = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs)) if len(xs) > 1 else 0.0
    return m, se


def seeded_args(argv, doc: str, datasets: tuple, quick_help: str, options=None) -> tuple:
    """The command line of a bench that trains each dataset over seeds (run_jobs): (args, seeds, datasets).
    options(parser) adds a bench's own options."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    if options:
        options(p)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--seeds", type=int, default=0, help="seeds per dataset (default 5; --quick 2)")
    p.add_argument("--first-seed", type=int, default=0, help="the first training seed (default 0)")
    p.add_argument("--datasets", default=",".join(datasets))
    p.add_argument("--root", default=None, help="keep the runs here (default: a temporary folder)")
    p.add_argument("--parallel", type=int, default=2, help="trainings at a time (default 2)")
    p.add_argument("--extra", default="", help="more train flags for every run, e.g. '--iterations 300'")
    a = p.parse_args(argv)
    seeds = list(range(a.first_seed, a.first_seed + (a.seeds or (2 if a.quick else 5))))
    chosen = [d for d in a.datasets.split(",") if d]
    for d in chosen:
        if d not in datasets:
            p.error(f"unknown dataset {d!r}; choose from {', '.join(datasets)}")
    if a.seeds < 0 or a.first_seed < 0 or a.parallel < 1:
        p.error("--seeds and --first-seed must be 0 or more, --parallel at least 1")
    return a, seeds, chosen


def _variant_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variants", default="", help="which variants to train (default all: defaults, original, "
                   "previous, norefit; 'defaults' alone for a held-out measurement)")


def main(argv=None) -> dict:
    a, seeds, datasets = seeded_args(argv, __doc__, ("ring8", "grid25"),
                                     "2 seeds and a short run (checks the pipeline, not the goal)", _variant_option)
    wanted = set(a.variants.split(",")) - {""}
    unknown = wanted - {"defaults", "original", "previous", "norefit"}
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(sorted(unknown))}; choose from defaults, original, "
                         "previous, norefit")
    extra = a.extra.split() + (["--iterations", "300", "--hidden", "32", "--depth", "2"] if a.quick else [])
    from gan_core.config import DATASET_DEFAULTS, GENERATION_DEFAULTS
    print_header("mode coverage: ring8 and grid25 beside the published tables", a,
                 extra={"seeds": f"{seeds[0]}–{seeds[-1]} ({len(seeds)})",
                        "evaluation": f"{N_EVAL} samples, latent seed {EVAL_SEED}",
                        "extra train flags": " ".join(extra) or "none"})
    with tempfile.TemporaryDirectory(prefix="mode_coverage_") as tmp:
        root = Path(a.root or tmp)
        jobs = [{"dataset": d, "variant": v, "seed": s, "run_dir": root / f"{d}-{v}-s{s}",
                 "extra": flags + extra}
                for d in datasets for s in seeds for v, flags in variants(d, wanted).items() if flags is not None]
        for j in jobs:
            if (j["run_dir"] / "generator.onnx").exists():   # a kept root: reuse finished runs
                j["skip"] = True
        run_jobs([j for j in jobs if not j.get("skip")], a.parallel)
        for j in jobs:
            if j.get("skip"):
                j["rc"], j["cpu_s"] = 0, float("nan")
            if j["rc"] != 0:
                raise SystemExit(f"training {j['run_dir'].name} failed: {j['output'].strip().splitlines()[-1:]}")
            model = j["run_dir"] / "generator.onnx"
            j["plain"] = evaluate(model, j["dataset"], False)
            j["drs"] = evaluate(model, j["dataset"], True)
    summary = {}
    for d in datasets:
        say(f"## {d}: defaults {DATASET_DEFAULTS[d]}; generation default {GENERATION_DEFAULTS.get(d)}")
        rows = [[name, modes, hq, "", "", "published"] for name, modes, hq in PUBLISHED[d]]
        for v, flags in variants(d, wanted).items():
            for how in ("plain", "drs"):
                js = [j for j in jobs if j["dataset"] == d and j["variant"] == (v if flags is not None else "defaults")]
                ev = [j[how] for j in js]
                mm, ms = mean_se([e["modes"] for e in ev])
                hm, hs = mean_se([100 * e["hq"] for e in ev])
                km, _ = mean_se([e["rkl"] for e in ev])
                cpu = [j["cpu_s"] for j in js]
                if v == "original" and how == "drs":
                    continue   # the original GAN has no rejection step
                label = {"defaults": "defaults", "original": "original GAN (--pack 1)",
                         "previous": "previous defaults", "norefit": "defaults, D not refit (--refit-d 0)"}[v]
                label += ", rejection" if how == "drs" else ", no rejection"
                acc = [e["acceptance"] for e in ev if e["acceptance"]]
                rows.append([label, f"{mm:.1f} ± {ms:.1f} (min {min(e['modes'] for e in ev)})",
                             f"{hm:.1f} ± {hs:.1f} % (min {min(100 * e['hq'] for e in ev):.1f})",
                             f"{km:.3f}", f"{np.nanmean(cpu):.0f} s (max {np.nanmax(cpu):.0f})" if cpu else "",
                             f"this machine, {len(js)} seeds" + (f", kept {100 * np.mean(acc):.0f} %" if acc else "")])
                summary[(d, v, how)] = (mm, hm)
        say(table(rows, [d, "modes", "high quality", "reverse KL", "CPU per run", "source"]))
        own = [j for j in jobs if j["dataset"] == d and j["variant"] == "defaults"]
        say(distribution(own, d))
        for line in why_short(own, d):
            say(line)
        say()
    if "grid25" in datasets:
        how = generated("grid25")
        mm, hm = summary[("grid25", "defaults", how)]
        say(f"grid25 modes {mm:.1f}/25, high quality {hm:.1f}%")
    return summary


if __name__ == "__main__":
    main()
