"""The Runs page's table of runs: one row per run (state, progress, speed, time left), and a column for each
setting that differs between the runs being compared. No streamlit, no torch.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import pandas as pd

SETTING_NAMES = {"dataset": "data", "iterations": "iterations", "k": "k", "batch_size": "batch",
                 "g_loss": "G objective", "prior": "prior", "latent_dim": "latent", "hidden": "hidden",
                 "depth": "depth", "lr_d": "lr D", "lr_g": "lr G", "seed": "seed", "optimizer": "optimizer",
                 "lr_decay": "lr decay", "g_norm": "G norm", "beta1": "β1", "image_size": "image size"}


def format_duration(s) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour on; "" for a missing or non-finite value."""
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s):
        return ""
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def differing_settings(configs: dict) -> list[str]:
    """The config.json keys (of SETTING_NAMES) whose values differ between the given runs' configs."""
    cfgs = [c for c in configs.values() if c]
    if len(cfgs) < 2:
        return []
    return [k for k in SETTING_NAMES if k != "dataset" and len({repr(c.get(k)) for c in cfgs}) > 1] + \
        (["dataset"] if len({Path(str(c.get("dataset"))).name for c in cfgs}) > 1 else [])


def runs_table(infos, configs: Optional[dict] = None, compare: Optional[list] = None) -> pd.DataFrame:
    """One row per RunInfo: what the Runs page's table shows; with configs ({run: config.json dict}) and
    compare (the selected runs), a column for every setting that differs between the compared runs."""
    diff = differing_settings({n: (configs or {}).get(n) for n in (compare or [])}) if configs else []
    diff = [k for k in diff if k != "dataset"]
    rows = []
    for r in infos:
        row = {"run": r.name, "dataset": Path(r.dataset).name, "state": r.state, "progress": r.progress,
               "iteration": f"{r.iteration}/{r.iterations}", "it/s": round(r.rate, 1) if r.rate else None,
               "ETA": format_duration(r.eta_s) if r.state == "running" else ""}
        cfg = (configs or {}).get(r.name) or {}
        for k in diff:
            v = cfg.get(k)
            row[SETTING_NAMES[k]] = f"{v:.3g}" if isinstance(v, float) else ("" if v is None else str(v))
        row["message"] = r.message
        rows.append(row)
    cols = ["run", "dataset", "state", "progress", "iteration", "it/s", "ETA", *(SETTING_NAMES[k] for k in diff),
            "message"]
    return pd.DataFrame(rows, columns=cols)
