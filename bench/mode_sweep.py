"""A sweep of `train` flags on ring8 / grid25, ranked by the modes each candidate covers.

    python -m bench.mode_sweep --candidate "DATASET/NAME:FLAGS" [--candidate ...] [--seeds 0,1] [--root DIR]
                               [--out FILE.jsonl] [--parallel P] [--seconds S] [--extra FLAGS] [--quick]
    python -m bench.mode_sweep --summary FILE.jsonl

Each candidate trains once per seed (`python -m gan_core train --dataset DATASET --seed S FLAGS`, at most
--parallel children at a time, one thread each, seed-major: every candidate gets its first seed before any
gets its second); each child's CPU time comes from os.wait4. Its generator.onnx is then scored by SPEC's
protocol (bench.mode_coverage.evaluate: 2,500 samples, without and with rejection by D) in a child of its own,
so that scoring overlaps training. One JSON line per scored run is appended to --out as soon as it is scored,
and the runs already in --out are skipped: a sweep can be extended, resumed, or cut short (--seconds: no run
is started after that, those still running are stopped). On a machine with many cores (a lent GPU machine's
CPUs), --parallel 15; bench/RESULTS.md "The sweep" holds such a sweep, its flags in each line of
bench/data/sweep_device_1.jsonl.

--quick: ring8's defaults against pack 2, seed 0, 300 iterations of small nets (checks the pipeline).
Last, per dataset (the one with the most modes last): the candidate covering the most modes with rejection
(mean over seeds; ties: high quality), e.g. `best of 15 grid25 candidates: grid25/m512lrd1, modes 20.0/25,
high quality 95.0% with rejection by D`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_header, say, table
from bench.mode_coverage import _exited, wait_cpu

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("ring8", "grid25")
QUICK = ["ring8/base:", "ring8/p2:--pack 2 --batch-size 128"]
QUICK_EXTRA = "--iterations 300 --hidden 32 --depth 2"


def parse_candidates(items: list[str]) -> dict[str, str]:
    """{DATASET/NAME: FLAGS} from "DATASET/NAME:FLAGS" items; ValueError names a malformed one."""
    out = {}
    for c in items:
        name, sep, flags = c.partition(":")
        if not sep or name.split("/")[0] not in DATASETS or "/" not in name:
            raise ValueError(f"candidate {c!r}: expected DATASET/NAME:FLAGS with DATASET one of {', '.join(DATASETS)}")
        out[name] = flags.strip()
    return out


def _child(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env)


def _start_training(job: dict, root: Path, extra: str) -> None:
    job["dataset"], job["run_dir"] = job["name"].split("/")[0], root / f"{job['name'].replace('/', '-')}-s{job['seed']}"
    job["stage"] = "train"
    job["proc"] = _child(["-m", "gan_core", "train", "--dataset", job["dataset"], "--seed", str(job["seed"]),
                          "--run-dir", str(job["run_dir"]), "--quiet", *extra.split(), *job["flags"].split()])


def _reap(job: dict) -> tuple[int, float, str]:
    """(exit code, CPU seconds, output) of a job's child that has exited."""
    return wait_cpu(job["proc"])


def _scored(job: dict, out: str) -> dict | None:
    """The run's JSON line from its scoring child's output; None (and a note) if there is none."""
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        say(f"SCORE FAILED {job['name']} s{job['seed']}: {out.strip()[-200:]}")
        return None
    return {"name": job["name"], "seed": job["seed"], "flags": job["flags"], "cpu_s": round(job["cpu_s"], 1), **res}


def _advance(job: dict, t0: float) -> dict | None:
    """A child of job has exited: start its scoring (training done), or return its row (scoring done)."""
    rc, cpu_s, out = _reap(job)
    if job["stage"] == "train":
        if rc != 0:
            say(f"FAILED {job['name']} s{job['seed']}: {out.strip()[-200:]}")
            return None
        job["cpu_s"], job["stage"] = cpu_s, "score"
        job["proc"] = _child(["-m", "bench.mode_sweep", "--score", str(job["run_dir"]), job["dataset"]])
        return job
    row = _scored(job, out)
    if row:
        p, d = row["plain"], row["drs"]
        say(f"[{time.time() - t0:5.0f}s] {row['name']:<22} s{row['seed']} cpu {row['cpu_s']:5.0f}  "
            f"plain {p['modes']}/{100 * p['hq']:.1f}  drs {d['modes']}/{100 * d['hq']:.1f}")
    return row


def sweep(cands: dict[str, str], seeds: list[int], root: Path, parallel: int, out: Path | None,
          seconds: float = float("inf"), extra: str = "") -> list[dict]:
    """Trains and scores every (candidate, seed) not already in `out`; returns the new rows."""
    done = {(r["name"], r["seed"]) for r in read_rows(out)} if out and out.exists() else set()
    queue = [{"name": n, "seed": s, "flags": f} for s in seeds for n, f in cands.items() if (n, s) not in done]
    running, rows, t0 = [], [], time.time()
    while queue or running:
        if time.time() - t0 > seconds:
            for j in running:
                j["proc"].kill()
                j["proc"].wait()
            say(f"stopped after {seconds:.0f} s: {len(running)} run(s) unfinished, {len(queue)} not started")
            break
        while queue and sum(j["stage"] == "train" for j in running) < parallel:
            job = queue.pop(0)
            _start_training(job, root, extra)
            running.append(job)
        fin = next((j for j in running if _exited(j["proc"])), None)
        if fin is None:
            time.sleep(0.2)
            continue
        running.remove(fin)
        step = _advance(fin, t0)
        if step is fin:
            running.append(fin)
        elif step:
            rows.append(step)
            if out:
                with open(out, "a") as fh:
                    fh.write(json.dumps(step) + "\n")
    return rows


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _candidate(name: str, rs: list[dict]) -> dict:
    mean = lambda how, k: sum(r[how][k] for r in rs) / len(rs)  # noqa: E731
    per_seed = lambda how: " ".join(f"{r[how]['modes']}/{100 * r[how]['hq']:.0f}" for r in rs)  # noqa: E731
    return {"name": name, "seeds": len(rs), "n_modes": rs[0]["drs"]["n_modes"], "flags": rs[0]["flags"],
            "cpu_s": max(r["cpu_s"] for r in rs), "per_seed": f"{per_seed('plain')} | {per_seed('drs')}",
            **{f"{how}_{k}": mean(how, k) for how in ("plain", "drs") for k in ("modes", "hq")}}


def summary(rows: list[dict]) -> list[dict]:
    """Per candidate, in order of first appearance: seeds, means of modes and high quality without ("plain")
    and with rejection ("drs"), the slowest run's CPU seconds, its flags and per-seed modes/HQ%."""
    return [_candidate(n, sorted((r for r in rows if r["name"] == n), key=lambda r: r["seed"]))
            for n in dict.fromkeys(r["name"] for r in rows)]


def best(rows: list[dict]) -> dict[str, dict]:
    """Per dataset, fewest modes first: the candidate covering the most modes with rejection (mean over seeds;
    ties: high quality)."""
    out: dict[str, dict] = {}
    for c in summary(rows):
        ds = c["name"].split("/")[0]
        if ds not in out or (c["drs_modes"], c["drs_hq"]) > (out[ds]["drs_modes"], out[ds]["drs_hq"]):
            out[ds] = c
    return dict(sorted(out.items(), key=lambda kv: kv[1]["n_modes"]))


def print_summary(rows: list[dict]) -> dict[str, dict]:
    """The table of a sweep's rows and the best candidate per dataset, the one with the most modes last."""
    cands = summary(rows)
    say(table([[c["name"], c["seeds"], f"{c['plain_modes']:.1f}", f"{100 * c['plain_hq']:.1f}%",
                f"{c['drs_modes']:.1f}", f"{100 * c['drs_hq']:.1f}%", f"{c['cpu_s']:.0f}", c["per_seed"], c["flags"]]
               for c in cands],
              ["candidate", "seeds", "plain modes", "HQ", "rejection modes", "HQ", "CPU s (slowest)",
               "per seed modes/HQ% (plain | rejection)", "flags"]))
    winners = best(rows)
    for ds, b in winners.items():
        n = sum(c["name"].startswith(ds + "/") for c in cands)
        say(f"best of {n} {ds} candidates: {b['name']}, modes {b['drs_modes']:.1f}/{b['n_modes']}, "
            f"high quality {100 * b['drs_hq']:.1f}% with rejection by D")
    return winners


def _score(run_dir: str, dataset: str) -> None:
    """Child: score one run and print its JSON line."""
    from bench.mode_coverage import evaluate
    model = Path(run_dir) / "generator.onnx"
    print(json.dumps({"plain": evaluate(model, dataset, False), "drs": evaluate(model, dataset, True)}))


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--candidate", action="append", default=[], metavar="DATASET/NAME:FLAGS")
    p.add_argument("--seeds", default="", help="comma-separated training seeds (default 0,1; --quick 0)")
    p.add_argument("--root", help="keep the runs here (default: a temporary folder, removed at the end)")
    p.add_argument("--out", type=Path, help="JSON lines, one per scored run (appended; its runs are skipped)")
    p.add_argument("--parallel", type=int, default=2, help="trainings at a time (default 2)")
    p.add_argument("--seconds", type=float, default=float("inf"), help="start no run after this many seconds")
    p.add_argument("--extra", default="", help="more train flags for every run, e.g. '--iterations 300'")
    p.add_argument("--quick", action="store_true", help="two small ring8 candidates, one seed (the pipeline)")
    p.add_argument("--summary", type=Path, help="print the table of a results file and exit")
    p.add_argument("--score", nargs=2, metavar=("RUN_DIR", "DATASET"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    try:
        a.cands = parse_candidates(a.candidate or (QUICK if a.quick else []))
        a.seed_list = [int(s) for s in (a.seeds or ("0" if a.quick else "0,1")).split(",") if s]
    except ValueError as e:
        p.error(str(e))
    if not (a.summary or a.score or a.cands):
        p.error("give --candidate DATASET/NAME:FLAGS (one or more), --quick, or --summary FILE")
    if a.parallel < 1 or not a.seed_list:
        p.error("--parallel must be at least 1 and --seeds name one seed or more")
    a.extra = a.extra or (QUICK_EXTRA if a.quick else "")
    return a


def main(argv=None) -> dict[str, dict] | None:
    a = _args(argv)
    if a.score:
        return _score(*a.score)
    if a.summary:
        return print_summary(read_rows(a.summary))
    print_header("Mode coverage of train flags, a sweep", a, "cpu",
                 {"candidates": len(a.cands), "seeds": ",".join(map(str, a.seed_list)), "parallel": a.parallel,
                  "extra flags": a.extra or "none"})
    root = Path(a.root) if a.root else Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        new = sweep(a.cands, a.seed_list, root, a.parallel, a.out, a.seconds, a.extra)
    finally:
        if not a.root:
            shutil.rmtree(root, ignore_errors=True)
    rows = read_rows(a.out) if a.out and a.out.exists() else new
    if not rows:
        raise SystemExit("error: no run was scored")
    say()
    return print_summary(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
