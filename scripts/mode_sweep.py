"""A small, rerunnable sweep for the ring8 / grid25 defaults (issue 12).

Each candidate is a set of `train` flags; every candidate trains for each seed (at most --parallel
processes at a time; the CPU time of each training child is measured with os.wait4), then its generator.onnx
is scored by SPEC's protocol on 2,500 samples without and with discriminator rejection sampling (in its own
child, so scoring overlaps training). One JSON line per finished run goes to --out as soon as it is scored,
and finished runs under --root are reused, so a sweep can be extended, resumed or cut short.

    python scripts/mode_sweep.py --root /tmp/sweep --seeds 0,1,2 --out results.jsonl \\
        --candidate "grid25/p2:--pack 2 --batch-size 128" --candidate "ring8/base:"
    python scripts/mode_sweep.py --summary results.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _score(run_dir: str, dataset: str) -> None:
    """Child: score one run and print its JSON."""
    from bench.mode_coverage import evaluate
    model = Path(run_dir) / "generator.onnx"
    print(json.dumps({"plain": evaluate(model, dataset, False), "drs": evaluate(model, dataset, True)}))


def sweep(a) -> None:
    seeds = [int(s) for s in a.seeds.split(",")]
    cands = dict(c.split(":", 1) for c in a.candidate)
    root = Path(a.root)
    root.mkdir(parents=True, exist_ok=True)
    done = set()
    if a.out and Path(a.out).exists():
        done = {(r["name"], r["seed"]) for r in map(json.loads, Path(a.out).read_text().splitlines())}
    # seed-major order: every candidate gets its first seed before any gets its second
    queue = [{"name": n, "seed": s, "flags": f} for s in seeds for n, f in cands.items() if (n, s) not in done]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    running: list[dict] = []
    t0 = time.time()
    while queue or running:
        while queue and len(running) < a.parallel:
            j = queue.pop(0)
            dataset = j["name"].split("/")[0]
            j["dataset"], j["run_dir"] = dataset, root / f"{j['name'].replace('/', '-')}-s{j['seed']}"
            cmd = [sys.executable, "-m", "gan_core", "train", "--dataset", dataset, "--seed", str(j["seed"]),
                   "--run-dir", str(j["run_dir"]), "--quiet", *j["flags"].split()]
            j["stage"] = "train"
            j["proc"] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
            running.append(j)
        fin = next((j for j in running if _exited(j["proc"].pid)), None)
        if fin is None:
            time.sleep(0.2)
            continue
        out = fin["proc"].stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(fin["proc"].pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        if fin["stage"] == "train":
            fin["cpu_s"] = usage.ru_utime + usage.ru_stime
            if rc != 0:
                print(f"FAILED {fin['name']} s{fin['seed']}: {out.strip()[-200:]}", flush=True)
                running.remove(fin)
                continue
            fin["stage"] = "score"
            fin["proc"] = subprocess.Popen([sys.executable, __file__, "--score", str(fin["run_dir"]), fin["dataset"]],
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
            continue
        running.remove(fin)
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            print(f"SCORE FAILED {fin['name']} s{fin['seed']}: {out.strip()[-200:]}", flush=True)
            continue
        row = {"name": fin["name"], "seed": fin["seed"], "flags": fin["flags"], "cpu_s": round(fin["cpu_s"], 1), **res}
        print(f"[{time.time() - t0:5.0f}s] {fin['name']:<22} s{fin['seed']} cpu {fin['cpu_s']:5.0f}  "
              f"plain {res['plain']['modes']}/{100 * res['plain']['hq']:.1f}  drs {res['drs']['modes']}/"
              f"{100 * res['drs']['hq']:.1f}", flush=True)
        if a.out:
            with open(a.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


def summary(path: str) -> None:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    names = list(dict.fromkeys(r["name"] for r in rows))
    for n in names:
        rs = sorted((r for r in rows if r["name"] == n), key=lambda r: r["seed"])
        fmt = lambda how: " ".join(f"{r[how]['modes']}/{100 * r[how]['hq']:.0f}" for r in rs)  # noqa: E731
        mean = lambda how, k: sum(r[how][k] for r in rs) / len(rs)  # noqa: E731
        print(f"{n:<24} plain {mean('plain', 'modes'):5.1f} {100 * mean('plain', 'hq'):5.1f}%  "
              f"drs {mean('drs', 'modes'):5.1f} {100 * mean('drs', 'hq'):5.1f}%  cpu {max(r['cpu_s'] for r in rs):4.0f}  "
              f"[{fmt('plain')} | {fmt('drs')}]  {rs[0]['flags']}")


def main(argv=None) -> None:
    if argv is None and len(sys.argv) == 4 and sys.argv[1] == "--score":
        return _score(sys.argv[2], sys.argv[3])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--candidate", action="append", metavar="DATASET/NAME:FLAGS")
    p.add_argument("--parallel", type=int, default=2, help="processes at a time (this shared machine: 2)")
    p.add_argument("--out", help="JSON lines, one per scored run (appended; its runs are skipped)")
    p.add_argument("--summary", help="print a table of a results file and exit")
    a = p.parse_args(argv)
    if a.summary:
        return summary(a.summary)
    if not (a.root and a.candidate):
        p.error("--root and --candidate are needed (or --summary FILE)")
    sweep(a)


if __name__ == "__main__":
    main()
