"""Shared helpers of the benchmarks: interleaved timing, medians, machine description, printing.

Every benchmark compares the project against a reference measured in the same process and the same
run, with repetitions interleaved (A B B A A B ...), so that the noise of a shared machine (other
processes come and go) falls on both sides alike. Ratios of medians are what the benchmarks claim;
absolute times are printed for context only.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Optional

RATIO_FMT = "{:.2f}x"


# --- timing ------------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> Any:
    """Seconds one call of fn takes. fn may return its own measurement to exclude set-up: seconds, or a
    dict of named measurements (e.g. {"wall": s, "cpu": s}), which is passed through."""
    t0 = time.perf_counter()
    own = fn()
    wall = time.perf_counter() - t0
    if isinstance(own, dict):
        return own
    return float(own) if own is not None else wall


class Clock:
    """Wall-clock and process CPU time together. CPU time leaves out the time this process spent waiting
    for a core (what other processes on a shared machine cost it) but also any I/O wait, and with several
    threads it adds their spin-waiting: report it beside wall time, never instead of it."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def since(self, n: int = 1) -> dict:
        return {"wall": (time.perf_counter() - self.wall) / n, "cpu": (time.process_time() - self.cpu) / n}


def column(xs: list, key: str) -> list[float]:
    """One named measurement out of a list of dicts (as timed() returns them)."""
    return [x[key] if isinstance(x, dict) else x for x in xs]


def interleaved(cases: dict[str, Callable[[], Optional[float]]], repeats: int, warmup: int = 1,
                inner: int = 1) -> dict[str, list[float]]:
    """Time every case `repeats` times, interleaved: round r runs the cases in order, round r+1 in reverse
    order (ABBA...), so a slow drift of the machine's load biases no case. `warmup` untimed rounds first.

    A case is a callable; it returns None (its wall time is taken), the seconds it measured itself, or
    a dict of measurements (see timed). With `inner` > 1 each sample is the mean of `inner` back-to-back
    calls (for sub-millisecond work; None/float cases only).
    Returns {name: [measurement, one per repetition]}."""
    names = list(cases)
    for _ in range(warmup):
        for n in names:
            cases[n]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in (names if r % 2 == 0 else names[::-1]):
            out[n].append(timed(cases[n]) if inner == 1 else sum(timed(cases[n]) for _ in range(inner)) / inner)
    return out


def median(xs) -> float:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return statistics.median(xs) if xs else float("nan")


def spread(xs) -> str:
    """min–max of the repetitions relative to their median, e.g. '±4%' (a noise indicator)."""
    m = median(xs)
    if not xs or not m or not math.isfinite(m):
        return ""
    return f"±{100 * max(abs(max(xs) - m), abs(m - min(xs))) / m:.0f}%"


def paired_ratios(num: list[float], den: list[float]) -> list[float]:
    """num[i] / den[i]: the ratio within each interleaved round (both halves saw the same load)."""
    return [a / b for a, b in zip(num, den) if b > 0]


# --- formatting --------------------------------------------------------------------------------------

def ratio(x: float) -> str:
    return RATIO_FMT.format(x) if math.isfinite(x) else "nanx"


def fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "n/a"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms" if s < 0.1 else f"{s * 1e3:.0f} ms"
    return f"{s:.2f} s"


def table(rows: list[list], headers: list[str]) -> str:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])])


def say(*parts) -> None:
    print(*parts, flush=True)


# --- the machine -------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str = "cpu") -> dict:
    info = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": cpu_model(), "cores": os.cpu_count(),
            "usable cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform(terse=True), "device": device}
    try:
        info["load average (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    for mod in ("torch", "onnxruntime", "numpy", "pandas", "plotly"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", "?")
    t = sys.modules.get("torch")
    if t is not None:
        info["torch default threads"] = t.get_num_threads()
    return info


def print_header(title: str, args: argparse.Namespace, device: str = "cpu", extra: Optional[dict] = None) -> dict:
    info = machine_info(device)
    if extra:
        info.update(extra)
    say(f"# {title}" + ("  (--quick)" if getattr(args, "quick", False) else ""))
    for k, v in info.items():
        say(f"  {k}: {v}")
    say("  note: ratios are of medians over interleaved repetitions on a possibly shared machine")
    say()
    return info


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes and few repetitions (well under a minute)")
    p.add_argument("--repeats", type=int, default=0, help="interleaved repetitions per case (0: the mode's default)")
    return p


def final_line(label: str, value: float) -> None:
    """The last line of every benchmark: a label and the ratio, e.g. '... project/reference: 0.93x'."""
    say(f"{label}: {ratio(value)}")
