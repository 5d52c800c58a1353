"""A small, rerunnable sweep for the ring8 / grid25 defaults (issue 12).

Each candidate is a set of `train` flags; every candidate trains for each seed (at most 2 processes at a
time, CPU time of each child measured), and its generator.onnx is scored by SPEC's protocol on 2,500 samples
without and with discriminator rejection sampling. Finished runs under --root are reused, so a sweep can be
extended or resumed.

    python scripts/mode_sweep.py --dataset grid25 --seeds 0,1 --root /tmp/sweep \\
        --candidate "p4:--pack 4 --batch-size 64" --candidate "base:"
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mode_coverage import evaluate, run_jobs  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--root", required=True)
    p.add_argument("--candidate", action="append", required=True, metavar="NAME:FLAGS")
    p.add_argument("--parallel", type=int, default=2)
    a = p.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    cands = dict(c.split(":", 1) for c in a.candidate)
    root = Path(a.root)
    jobs = [{"dataset": a.dataset, "seed": s, "name": n, "run_dir": root / f"{a.dataset}-{n}-s{s}",
             "extra": flags.split()} for n, flags in cands.items() for s in seeds]
    todo = [j for j in jobs if not (j["run_dir"] / "result.json").exists()]
    run_jobs(todo, a.parallel)
    for j in jobs:
        res = j["run_dir"] / "result.json"
        if j in todo:
            if j["rc"] != 0:
                print(f"{j['run_dir'].name}: failed: {j['output'].strip()[-300:]}")
                continue
            r = {"cpu_s": j["cpu_s"], "plain": evaluate(j["run_dir"] / "generator.onnx", a.dataset, False),
                 "drs": evaluate(j["run_dir"] / "generator.onnx", a.dataset, True)}
            res.write_text(json.dumps(r))
        j["r"] = json.loads(res.read_text())
    for n, flags in cands.items():
        rs = [j["r"] for j in jobs if j["name"] == n and "r" in j]
        if not rs:
            continue
        fmt = lambda how: " ".join(f"{r[how]['modes']}/{100 * r[how]['hq']:.1f}" for r in rs)  # noqa: E731
        cpu = " ".join(f"{r['cpu_s']:.0f}" for r in rs)
        print(f"{n:<14} plain {fmt('plain'):<40} drs {fmt('drs'):<40} cpu {cpu}   [{flags}]")


if __name__ == "__main__":
    main()
