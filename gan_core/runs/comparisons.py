"""Comparisons as run directories: what one is (the varied settings, its members, comparison.json), and
what the pages and the command line do with one — stop it, list the comparisons under a runs root, the
mean ± one standard deviation over the seeds of one setting. Training a comparison is
gan_core.engine.compare; starting its process, gan_core.jobs.launch.

A comparison's root holds comparison.json (what varies, the members) and one ordinary run directory per
member (config.json, metrics.csv, status.json, snapshots, checkpoint, generator.onnx).
"""
from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path

from gan_core.config import G_LOSSES, PRIORS, TrainConfig, split_setting
from gan_core.errors import ConfigError, RunError
from gan_core.files import open_regular, read_json, write_bytes_atomic, write_json_atomic
from gan_core.runs import store

SPEC_NAME = "comparison.json"
LOG_NAME = "compare.log"
# What may vary between members: settings that leave the architecture (the stacked shapes) alone.
VARY_KEYS: dict[str, type] = {"seed": int, "lr_d": float, "lr_g": float, "g_loss": str, "k": int, "prior": str,
                              "beta1": float, "beta2": float, "instance_noise": float,
                              "gradient_penalty": float}
MAX_MEMBERS = 64


# --- what a comparison is ---------------------------------------------------------------------------------

def parse_vary(items) -> dict[str, list]:
    """['g_loss=minimax,nonsaturating', 'k=1,5'] → {'g_loss': [...], 'k': [1, 5]}; ConfigError in one line."""
    out: dict[str, list] = {}
    for item in items or []:
        key, vals = split_setting(item, VARY_KEYS, "--vary expects KEY=V1,V2,...",
                                  "cannot vary in a comparison (--vary); choose from")
        if key in out:
            raise ConfigError(f"--vary: {key} given twice")
        kind, values = VARY_KEYS[key], []
        for v in (s.strip() for s in vals.split(",")):
            if not v:
                raise ConfigError(f"--vary {key}: an empty value in {vals!r}")
            try:
                values.append(kind(v))
            except ValueError:
                raise ConfigError(f"--vary {key}: {v!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if key == "g_loss" and not set(values) <= set(G_LOSSES):
            raise ConfigError(f"--vary g_loss: choose from {', '.join(G_LOSSES)}, got {vals}")
        if key == "prior" and not set(values) <= set(PRIORS):
            raise ConfigError(f"--vary prior: choose from {', '.join(PRIORS)}, got {vals}")
        if len(set(values)) != len(values):
            raise ConfigError(f"--vary {key}: a value is repeated in {vals}")
        out[key] = values
    return out


def member_name(settings: dict) -> str:
    return "_".join(f"{k}-{v}" for k, v in settings.items()) or "member"


def plan_members(base: TrainConfig, vary: dict, seeds: int) -> list[tuple[str, dict]]:
    """Every combination of the varied values (× seeds base.seed, base.seed+1, ...): (name, settings)."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    axes = dict(vary)
    if seeds > 1:
        if "seed" in axes:
            raise ConfigError("give either --seeds or --vary seed=..., not both")
        axes["seed"] = [base.seed + s for s in range(seeds)]
    combos = [dict(zip(axes, vals)) for vals in itertools.product(*axes.values())] or [{}]
    if len(combos) < 2:
        raise ConfigError("a comparison needs at least two members: give --vary KEY=V1,V2 or --seeds N")
    if len(combos) > MAX_MEMBERS:
        raise ConfigError(f"{len(combos)} members; a comparison holds at most {MAX_MEMBERS}")
    out = []
    for s in combos:
        cfg = dataclasses.replace(base, **s)
        cfg.resolved().validate()  # each member's settings are checked before anything starts
        out.append((member_name(s), s))
    return out


def read_spec(root) -> dict:
    spec = read_json(Path(root) / SPEC_NAME)
    if not isinstance(spec, dict) or not isinstance(spec.get("members"), list):
        raise RunError(f"{root}: not a comparison (no readable {SPEC_NAME})")
    return spec


def write_spec(root, base: TrainConfig, vary: dict, seeds: int) -> dict:
    """Plan a new comparison in root and write its comparison.json (the members and each one's settings);
    refuses a root that holds a comparison or other files, and settings that make none (plan_members)."""
    root = Path(root)
    if (root / SPEC_NAME).exists():
        raise RunError(f"{root} already holds a comparison; use --resume to continue it or choose another --root")
    if root.exists() and any(p.name not in (".lock", LOG_NAME) for p in root.iterdir()):
        raise RunError(f"--root {root} already holds other files; choose a new or empty folder")
    planned = plan_members(base, vary, seeds)
    names = [n for n, _ in planned]
    spec = {"kind": "comparison", "dataset": base.dataset, "vary": vary, "seeds": seeds, "members": names,
            "settings": {n: s for n, s in planned}, "created_at": time.time()}
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / SPEC_NAME, spec)
    return spec


# --- for the pages ---------------------------------------------------------------------------------------

def request_stop(root) -> None:
    """Ask a running comparison to stop (every member checkpoints; `compare --resume` continues)."""
    write_bytes_atomic(Path(root) / "STOP", b"", durable=False)  # replaces a link there, never writes through it


def list_groups(root=store.DEFAULT_ROOT) -> list[dict]:
    """Comparisons directly under root (or root itself): {'root', 'name', 'dataset', 'vary', 'seeds',
    'members': [store.RunInfo], 'state'}; state: running if any member runs, else failed if all failed,
    else the members' common state or 'mixed'."""
    root = Path(root)
    cands = [root] + (sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])
    out = []
    for c in cands:
        try:
            spec = read_spec(c)
        except RunError:
            continue
        infos = store.list_runs(c)
        states = {i.state for i in infos}
        state = ("running" if "running" in states or "paused" in states else
                 states.pop() if len(states) == 1 else "mixed" if states else "empty")
        out.append({"root": c, "name": c.name, "dataset": spec.get("dataset"), "vary": spec.get("vary", {}),
                    "seeds": spec.get("seeds", 1), "members": infos, "state": state})
    return out


def seed_band(run_dirs, metric: str = "value_estimate"):
    """Mean and mean ± one standard deviation of a metric over runs (the seeds of one setting), per logged
    iteration: a DataFrame with columns iteration, mean, low, high, n."""
    import pandas as pd
    frames = []
    for d in run_dirs:
        try:
            with open_regular(Path(d) / "metrics.csv") as fh:
                f = pd.read_csv(fh, usecols=lambda c: c in ("iteration", metric), encoding_errors="replace")
            f = f.apply(pd.to_numeric, errors="coerce")
        except (OSError, ValueError, pd.errors.ParserError):
            continue  # missing, not a regular file, or not a CSV: the run's own chart says so
        if metric in f and "iteration" in f:
            frames.append(f.dropna().drop_duplicates("iteration", keep="last").set_index("iteration")[metric])
    if not frames:
        return pd.DataFrame(columns=["iteration", "mean", "low", "high", "n"])
    table = pd.concat(frames, axis=1)
    mean, std = table.mean(axis=1), table.std(axis=1, ddof=0)
    return pd.DataFrame({"iteration": table.index, "mean": mean.values, "low": (mean - std).values,
                         "high": (mean + std).values, "n": table.count(axis=1).values})


def seed_groups(group: dict) -> dict[str, list]:
    """A comparison's members grouped by their setting without the seed: {label: [run dirs]}."""
    spec = read_spec(group["root"])
    out: dict[str, list] = {}
    for name in spec["members"]:
        s = {k: v for k, v in spec.get("settings", {}).get(name, {}).items() if k != "seed"}
        out.setdefault(member_name(s) if s else "all seeds", []).append(Path(group["root"]) / name)
    return out
