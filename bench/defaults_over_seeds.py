"""What the defaults reach on gaussian1d and digits, over several seeds (the mixtures: bench.mode_coverage).

    python -m bench.defaults_over_seeds [--quick] [--seeds N] [--datasets gaussian1d,digits] [--root DIR]

For each dataset and seed it trains a run with no flags but the seed (`python -m gan_core train`, child
processes, two at a time: bench.mode_coverage's runner) and reads the figures the run's final snapshot logs
in metrics.csv: the last Ṽ, and on gaussian1d the JSD between p_data and p_g and V(G, D*) = −2 log 2 + 2·JSD
(eq. 6), on digits the classes covered, the Inception-style score and the Fréchet distance of the pretrained
digits classifier (gan_core.theory.quality). Per dataset: mean ± standard deviation over seeds, the worst
seed, and CPU seconds per run (the child's own time).

The last line: `digits FID F.FF ± S.SS over N seeds` (the first dataset's headline when digits is not run).
"""
from __future__ import annotations

import csv
import math
import tempfile
from pathlib import Path

from bench.common import print_header, say, table
from bench.mode_coverage import run_jobs, seeded_args

FIGURES = {  # dataset → (metrics.csv column, label, lower is better)
    "gaussian1d": [("value_estimate", "Ṽ (last row)", None), ("jsd", "JSD (nats)", True),
                   ("value_at_optimum", "V(G, D*)", None)],
    "digits": [("value_estimate", "Ṽ (last row)", None), ("classes_covered", "classes (of 10)", False),
               ("inception_score", "IS", False), ("frechet_distance", "FID", True)],
}


def final_figures(run_dir: Path, columns: list[str]) -> dict:
    """Each column's last non-empty value in the run's metrics.csv."""
    out: dict = {}
    with open(run_dir / "metrics.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            for c in columns:
                if row.get(c) not in (None, ""):
                    out[c] = float(row[c])
    return out


def mean_sd(xs) -> tuple[float, float]:
    xs = [float(x) for x in xs]
    m = sum(xs) / len(xs)
    return m, (math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0)


def main(argv=None) -> dict:
    a, seeds, datasets = seeded_args(argv, __doc__, tuple(FIGURES),
                                     "2 seeds and short runs (checks the pipeline, not the figures)")
    extra = a.extra.split() + (["--iterations", "200"] if a.quick else []) + ["--no-export"]
    from gan_core.config import DATASET_DEFAULTS
    print_header("the defaults over seeds: gaussian1d and digits", a,
                 extra={"seeds": f"{seeds[0]}–{seeds[-1]}", "extra train flags": " ".join(extra)})
    summary: dict = {}
    with tempfile.TemporaryDirectory(prefix="defaults_over_seeds_") as tmp:
        root = Path(a.root or tmp)
        jobs = [{"dataset": d, "seed": s, "run_dir": root / f"{d}-s{s}", "extra": extra}
                for d in datasets for s in seeds]
        run_jobs(jobs, a.parallel)
        for j in jobs:
            if j["rc"] != 0:
                raise SystemExit(f"training {j['run_dir'].name} failed: {j['output'].strip().splitlines()[-1:]}")
            j["figures"] = final_figures(j["run_dir"], [c for c, _, _ in FIGURES[j["dataset"]]])
    for d in datasets:
        js = [j for j in jobs if j["dataset"] == d]
        say(f"## {d}: defaults {DATASET_DEFAULTS[d]}")
        rows = []
        for col, label, lower in FIGURES[d]:
            vals = [j["figures"][col] for j in js if col in j["figures"]]
            if not vals:
                rows.append([label, "not logged", "", ""])
                continue
            m, sd = mean_sd(vals)
            worst = "" if lower is None else f"{(max if lower else min)(vals):.4g}"
            rows.append([label, f"{m:.4g} ± {sd:.2g}", worst, ", ".join(f"{v:.4g}" for v in vals)])
            summary[(d, col)] = (m, sd, len(vals))
        cpu = [j["cpu_s"] for j in js]
        rows.append(["CPU per run", f"{sum(cpu) / len(cpu):.0f} s", f"{max(cpu):.0f} s", ""])
        say(table(rows, [d, f"mean ± sd ({len(js)} seeds)", "worst seed", "each seed"]))
        say()
    head = ("digits", "frechet_distance") if ("digits", "frechet_distance") in summary else \
        next(iter(summary), None)
    if head is not None:
        m, sd, n = summary[head]
        say(f"{head[0]} {'FID' if head[1] == 'frechet_distance' else head[1]} {m:.2f} ± {sd:.2f} over {n} seeds")
    return summary


if __name__ == "__main__":
    main()
