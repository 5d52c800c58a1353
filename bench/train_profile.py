"""The --profile part of bench.train_throughput: where gan_core's loop spends its time, and the speed
ideas measured as variants of the reference loop (see that module's docstring)."""
from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional

import torch

from bench import common
from bench.common import column, fmt_time, median, paired_ratios, ratio, say, spread, table
from bench.train_throughput import (
    DEFAULT_THREADS,
    SPEED_HEADERS,
    WARMUP_ITERS,
    Loop,
    _defaults,
    gan_core_config,
    gan_core_threads,
    proposed_make_optimizer,
    run_gan_core,
    run_loop,
    speed_rows,
)

# --- profiling --------------------------------------------------------------------------------------------

def _op_table(prof, iterations: int, top: int = 14) -> dict:
    stats = {}
    for e in prof.key_averages():
        stats[e.key] = (e.count / iterations, e.self_cpu_time_total / iterations)
    return stats


def profile_ops(name: str, iterations: int) -> None:
    """torch.profiler over the same number of iterations of gan_core's loop and of the reference."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU]
    with profile(activities=acts) as p_ref:
        Loop(name).run(iterations)
    tmp = tempfile.mkdtemp(prefix="bench_prof_")
    try:
        from gan_core.engine.training import train
        cfg = gan_core_config(name, iterations, "logging", str(Path(tmp) / "run"))
        torch.set_num_threads(DEFAULT_THREADS)
        with profile(activities=acts) as p_gc:
            train(cfg, progress=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ref, gc = _op_table(p_ref, iterations), _op_table(p_gc, iterations)
    keys = sorted(set(ref) | set(gc), key=lambda k: -(gc.get(k, (0, 0))[1] - ref.get(k, (0, 0))[1]))
    rows = []
    for k in keys[:14]:
        (cr, tr), (cg, tg) = ref.get(k, (0, 0)), gc.get(k, (0, 0))
        rows.append([k, f"{cg:.1f}", f"{cr:.1f}", f"{tg:.0f}", f"{tr:.0f}", f"{tg - tr:+.0f}"])
    n_ref = sum(c for c, _ in ref.values() if True)
    n_gc = sum(c for c, _ in gc.values())
    say(f"### {name}: torch.profiler, per iteration (logging-only gan_core run incl. its set-up, vs reference)")
    say(table(rows, ["op (largest extra self time in gan_core first)", "calls gan_core", "calls ref",
                     "self µs gan_core", "self µs ref", "extra µs"]))
    say(f"  recorded ops per iteration: gan_core {n_gc:.1f}, reference {n_ref:.1f} "
        "(aten ops nest: counts include inner calls)")
    say()


def profile_python(name: str, iterations: int) -> None:
    """cProfile of a user-mode gan_core run: the share of the loop taken by each gan_core function."""
    import cProfile
    import pstats

    from gan_core.engine.training import train
    tmp = tempfile.mkdtemp(prefix="bench_prof_")
    try:
        cfg = gan_core_config(name, iterations, "user", str(Path(tmp) / "run"))
        torch.set_num_threads(DEFAULT_THREADS)
        pr = cProfile.Profile()
        pr.enable()
        train(cfg, progress=False)
        pr.disable()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    st = pstats.Stats(pr)
    total = st.total_tt
    wanted = {
        "training.py:train (all)": ("training.py", "train"),
        "backward (run_backward)": ("~", "<method 'run_backward' of 'torch._C._EngineBase' objects>"),
        "optimizer steps (Adam)": ("optimizer.py", "wrapper"),
        "zero_grad": ("optimizer.py", "zero_grad"),
        "snapshots.take": ("snapshots.py", "take"),
        "checkpoint (save_checkpoint)": ("checkpoint.py", "save_checkpoint"),
        "metrics rows (store.append_rows)": ("store.py", "append_rows"),
        "status.json (store.write_status)": ("store.py", "write_status"),
        "data sampling (DataSampler.__call__)": ("algorithm.py", "__call__"),
    }
    rows = []
    for label, (fname, func) in wanted.items():
        cum = 0.0
        for (f, _, fn), (_, _, _, ct, _) in st.stats.items():
            if f.endswith(fname) and (fn == func or fn.startswith(func)):
                cum += ct
        rows.append([label, f"{1e3 * cum / iterations:.3f}", f"{100 * cum / total:.1f}%"])
    say(f"### {name}: cProfile of gan_core's train(), as a user runs it ({iterations} iterations; "
        "cProfile itself slows the Python side)")
    say(table(rows, ["where", "ms per iteration (cumulative)", "share of the call"]))
    say()


IDEAS = {  # label: Loop keyword arguments
    "reference": {},
    "+ gan_core diagnostics (verbatim)": {"diag": "gan_core"},
    "+ deferred diagnostics": {"diag": "deferred"},
    "reference, Adam foreach=True": {"adam": "foreach"},
    "reference, Adam fused=True": {"adam": "fused"},
    "+ deferred diagnostics, Adam foreach=True": {"diag": "deferred", "adam": "foreach"},
    "+ gan_core diagnostics, Adam foreach=True": {"diag": "gan_core", "adam": "foreach"},
}


def block_interleaved(loops: dict, rounds: int, block: int, blocks: Optional[dict] = None) -> dict:
    """Seconds per iteration (wall and CPU) of each loop, measured in blocks of `block` iterations that
    alternate between the loops (order reversed every round), so that every variant sees the same machine
    load within seconds. Returns {label: [{"wall": s, "cpu": s} per round]}."""
    names = list(loops)
    out = {n: [] for n in names}
    for n in names:   # warm-up
        torch.set_num_threads(loops[n].threads)
        for _ in range(WARMUP_ITERS):
            loops[n].step()
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            loop, b = loops[n], (blocks or {}).get(n, block)
            torch.set_num_threads(loop.threads)
            clock = common.Clock()
            for _ in range(b):
                loop.step()
            out[n].append(clock.since(b))
    return out


def report_variants(res: dict, title: str) -> None:
    say(title)
    say(table(speed_rows(res, "reference"), ["variant", *SPEED_HEADERS]))
    say()


def ideas(name: str, iterations: int, repeats: int) -> None:
    variants = dict(IDEAS)
    if _defaults(name).dataset == "digits":
        variants["reference, channels-last"] = {"channels_last": True}
    base_threads = gan_core_threads(name)
    loops = {k: Loop(name, **kw) for k, kw in variants.items()}
    block = max(10, iterations // 10)
    rounds = max(3, 2 * repeats)
    res = block_interleaved(loops, rounds, block)
    report_variants(res, f"### {name}: speed ideas as variants of the reference loop ({rounds} rounds of "
                         f"{block}-iteration blocks, interleaved; {base_threads} torch thread(s))")


def proposed(name: str, iterations: int, repeats: int) -> None:
    """The proposed training.py changes measured on gan_core's own loop (swapped in), against the same
    reference: fused Adam; for conv nets also one torch thread."""
    ref_name = "reference (plain loop)"
    cases = {
        "gan_core as is (logging only)": lambda: run_gan_core(name, iterations, "logging"),
        "gan_core + fused Adam (logging only)": lambda: run_gan_core(name, iterations, "logging",
                                                                     make_optimizer=proposed_make_optimizer),
        "gan_core as is (as a user runs it)": lambda: run_gan_core(name, iterations, "user"),
        "gan_core + fused Adam (as a user runs it)": lambda: run_gan_core(name, iterations, "user",
                                                                          make_optimizer=proposed_make_optimizer),
        ref_name: lambda: run_loop(name, iterations),
    }
    if gan_core_threads(name) != 1:
        cases["gan_core + fused Adam + 1 thread (as a user runs it)"] = lambda: run_gan_core(
            name, iterations, "user", make_optimizer=proposed_make_optimizer, threads=1)
    res = common.interleaved(cases, repeats, warmup=0)
    say(f"### {name}: proposed changes swapped into gan_core's own loop ({iterations} iterations, {repeats} "
        f"interleaved runs; reference at {gan_core_threads(name)} thread(s))")
    say(table(speed_rows(res, ref_name), ["case", *SPEED_HEADERS]))
    say()


def snapshot_cost(name: str, repeats: int) -> None:
    """One user-mode snapshot (Snapshotter.take: samples, theory or digits scores, the .npz) as gan_core
    takes it, against the same with numpy's BLAS (OpenBLAS) limited to one thread (threadpoolctl)."""
    from threadpoolctl import ThreadpoolController

    from gan_core.data.datasets import load_dataset
    from gan_core.engine.models import build_models
    from gan_core.engine.snapshots import Snapshotter
    cfg = _defaults(name)
    ds = load_dataset(cfg)
    torch.manual_seed(cfg.seed)
    G, D = build_models(cfg, ds)
    tmp = tempfile.mkdtemp(prefix="bench_snap_")
    controller = ThreadpoolController()
    openblas = controller.select(internal_api="openblas")
    try:
        snap = Snapshotter(cfg, ds, torch.device("cpu"), Path(tmp))
        torch.set_num_threads(gan_core_threads(name))
        snap.take(G, D, cfg.snapshot_every)   # the digits scorer loads (or trains) once per run

        def as_is():
            snap.take(G, D, cfg.snapshot_every)

        def one_thread():
            with openblas.limit(limits=1):
                snap.take(G, D, cfg.snapshot_every)

        res = common.interleaved({"Snapshotter.take as is": as_is,
                                  "Snapshotter.take, OpenBLAS 1 thread": one_thread}, max(5, repeats), warmup=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = res["Snapshotter.take as is"]
    blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in controller.info()
                     if i.get("user_api") == "blas")
    say(f"### {name}: cost of one snapshot (taken every {cfg.snapshot_every} iterations as a user runs it; "
        f"BLAS pools here: {blas})")
    say(table([[k, fmt_time(median(v)), spread(v), ratio(median(base) / median(v))] for k, v in res.items()],
              ["case", "time (median)", "spread", "speed-up"]))
    say()


def _child_loop(name: str, threads: int, iterations: int) -> None:
    """Entry of the subprocesses of threads_and_wait_policy: one reference run, its timing as JSON."""
    import json
    print(json.dumps(Loop(name, threads=threads).run(iterations)), flush=True)


def _spawn_loop(name: str, threads: int, iterations: int, env: dict) -> dict:
    import json
    import os
    import subprocess
    root = Path(__file__).resolve().parent.parent
    e = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
    out = subprocess.run([sys.executable, "-m", "bench.train_throughput", "--child-loop", name, "--threads",
                          str(threads), "--iterations", str(iterations)], capture_output=True, text=True, env=e,
                         cwd=root, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def threads_and_wait_policy(name: str, iterations: int, repeats: int) -> None:
    """torch threads 1 vs 2 and OpenMP's wait policy (spin, torch's default, vs passive): the reference
    loop in fresh processes, since OMP_WAIT_POLICY is read when torch loads. Interleaved runs."""
    cases = {
        "1 thread": (1, {"OMP_WAIT_POLICY": None}),
        "2 threads": (2, {"OMP_WAIT_POLICY": None}),
        "2 threads, OMP_WAIT_POLICY=PASSIVE": (2, {"OMP_WAIT_POLICY": "PASSIVE"}),
        "1 thread, OMP_WAIT_POLICY=PASSIVE": (1, {"OMP_WAIT_POLICY": "PASSIVE"}),
    }
    fns = {k: (lambda t=t, env=env: _spawn_loop(name, t, iterations, env)) for k, (t, env) in cases.items()}
    res = common.interleaved(fns, repeats, warmup=0)
    first = next(iter(cases))
    rows = []
    rw = column(res[first], "wall")
    for k, xs in res.items():
        w = column(xs, "wall")
        rows.append([k, f"{1 / median(w):.1f}", spread(w), ratio(median(rw) / median(w)),
                     ratio(median(paired_ratios(rw, w)))])
    say(f"### {name}: torch threads and OpenMP wait policy (reference loop, fresh process per run, {iterations} "
        f"iterations, {repeats} interleaved runs; gan_core uses {gan_core_threads(name)} thread(s) here)")
    say(table(rows, ["setting", "it/s (wall, median)", "spread", f"speed vs {first}", "(paired)"]))
    say()


def try_compile(name: str, iterations: int, repeats: int) -> None:
    """torch.compile of G and D (inductor, CPU): compile time, then steady-state throughput."""
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            loop = Loop(name, compile=True)
            torch.set_num_threads(loop.threads)
            for _ in range(3):   # compiles: G under no_grad and with grad, D with and without param grads
                loop.step()
            compile_s = time.perf_counter() - t0
            block = max(10, iterations // 10)
            res = block_interleaved({"reference": Loop(name), "torch.compile(G), torch.compile(D)": loop},
                                    max(3, 2 * repeats), block)
    except Exception as exc:   # inductor needs a C++ compiler; report, do not fail the benchmark
        say(f"### {name}: torch.compile failed after {time.perf_counter() - t0:.1f} s: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
        say()
        return
    report_variants(res, f"### {name}: torch.compile — compiling (first 3 iterations) took {compile_s:.1f} s")
