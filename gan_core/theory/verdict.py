"""A run's verdict from the metrics it already logs: converging, D winning, G collapsed to few modes, or
diverged — with the reason in numbers and one suggestion.

Judged on the recent window (the last quarter of the rows, at least 5): the paper's equilibrium is
p_g = p_data, where D* ≡ 1/2 (eq. 7) and V(G, D*) = −2 log 2 (eqs. 8–21); a discriminator that tells the
two apart outright (D(x) → 1, D(G(z)) → 0) leaves G almost no gradient (the minimax objective saturates
first); a generator covering few of the known modes has collapsed; non-finite or exploding values have
diverged. No streamlit, no torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from gan_core.theory import mode_history

V_OPTIMUM = -2.0 * math.log(2.0)
KNOWN_MODES = {"ring8": 8, "grid25": 25}  # the mixtures' mode counts (SPEC: datasets)
KNOWN_CLASSES = {"digits": 10, "fashion": 10, "mnist": 10}
MIN_ROWS = 5
COLLAPSE_AFTER = 0.25  # of the planned iterations: before that G is still finding modes (seen: a run paused
                       # and stepped at iteration 130 of 600 had three snapshots, each with 1 of 8 modes)
JSD_GOOD, JSD_FAIR = 0.02, 0.1  # nats; JSD lies in [0, log 2 ≈ 0.693]
KINDS = ("early", "learning", "converging", "d_winning", "collapsed", "diverged")


@dataclass(frozen=True)
class Verdict:
    kind: str         # one of KINDS
    title: str        # a few words
    reason: str       # the numbers behind it
    suggestion: str   # one thing to try (or to do next)

    @property
    def level(self) -> str:
        """How a page should show it: success / warning / error / info."""
        return {"converging": "success", "d_winning": "warning", "collapsed": "warning",
                "diverged": "error"}.get(self.kind, "info")


def _recent(df: pd.DataFrame, col: str) -> Optional[float]:
    if col not in df.columns:
        return None
    v = df[col].to_numpy(dtype=float)
    n = len(v)
    tail = v[-max(MIN_ROWS, n // 4):]
    tail = tail[~np.isnan(tail)]
    return float(np.mean(tail)) if len(tail) else None


def _last(df: pd.DataFrame, col: str) -> Optional[float]:
    if col not in df.columns:
        return None
    v = df[col].dropna()
    return float(v.iloc[-1]) if len(v) else None


def _jsd_words(jsd: float) -> str:
    return "good" if jsd < JSD_GOOD else "fair" if jsd < JSD_FAIR else "still far"


def _diverged(df: pd.DataFrame, v, gl) -> Optional[Verdict]:
    base = [c for c in ("value_estimate", "d_loss", "g_loss", "d_real", "d_fake") if c in df.columns]
    tail = df[base].iloc[-max(MIN_ROWS, len(df) // 4):].to_numpy(dtype=float)
    if np.isfinite(tail).all() and (v is None or v >= -10) and (gl is None or abs(gl) <= 1e3):
        return None
    bad = "a loss is NaN or infinite" if not np.isfinite(tail).all() else \
        f"Ṽ = {v:.2f} (an untrained D gives −1.39)" if v is not None and v < -10 else f"G loss = {gl:.3g}"
    return Verdict("diverged", "Diverged", f"In the recent rows {bad}.",
                   "Restart with smaller learning rates (half of lr_d and lr_g).")


def _d_winning(it: int, v, dr, dfk, gl, g_loss: str) -> Optional[Verdict]:
    if dr is None or dfk is None or not (dr > 0.9 and dfk < 0.1):
        return None
    why = (f"Mean D(x) = {dr:.2f} on real data and D(G(z)) = {dfk:.2f} on generated data (recent rows, up to "
           f"iteration {it})" + (f"; G loss {gl:.2f}" if gl is not None else "") +
           f"; Ṽ = {v:.2f}, far above −2 log 2 = −1.39. D tells them apart outright, so G gets almost no "
           "gradient.")
    tip = ("Switch the generator objective to non-saturating (eq. 3)." if g_loss == "minimax" else
           "Give D less of a head start: lower D's learning rate (e.g. half), keep k = 1, or a smaller D.")
    return Verdict("d_winning", "D is winning", why, tip)


def _dropped(dropped: list, dataset: str, it: int, iterations: int) -> Optional[Verdict]:
    """G gives no mass to some of a mixture's modes (mode_history, from the snapshots): a collapse that no
    reweighting undoes; named mode by mode."""
    if not dropped or (iterations and it < COLLAPSE_AFTER * iterations):
        return None
    total = KNOWN_MODES.get(dataset, 0)
    return Verdict("collapsed", f"G dropped {len(dropped)} of {total} modes",
                   mode_history.describe(dropped, total, it),
                   "Rejection by D cannot give back a mode G never samples: keep this run for its other modes, "
                   "or train again with another seed.")


def _collapsed(df: pd.DataFrame, dataset: str, it: int, iterations: int) -> Optional[Verdict]:
    for col, known, what in (("modes_covered", KNOWN_MODES, "modes"), ("classes_covered", KNOWN_CLASSES, "classes")):
        total = known.get(dataset)
        got = _last(df, col)
        seen = df[col].dropna() if col in df.columns else pd.Series(dtype=float)
        # few modes AND no longer gaining them: early in a run G covers few modes and gains one per snapshot
        grown = not iterations or it >= COLLAPSE_AFTER * iterations
        if total and got is not None and got < 0.75 * total and len(seen) >= 3 and got <= seen.iloc[:-1].max() \
                and grown:
            hq = _last(df, "high_quality_fraction")
            return Verdict("collapsed", "G collapsed to few modes",
                           f"G covers {got:.0f} of {total} {what} at the latest snapshot"
                           + (f" (high-quality samples {hq:.0%})" if hq is not None else "") + ".",
                           "Train longer with a lower G learning rate, or try k = 2 discriminator steps; if the "
                           "covered modes keep moving, restart with another seed.")
    return None


def _at_equilibrium(v, dr, dfk, jsd) -> Optional[Verdict]:
    near = v is not None and abs(v - V_OPTIMUM) < 0.25 and dr is not None and dfk is not None \
        and 0.3 <= dfk <= dr <= 0.75
    if near and jsd is not None and jsd >= JSD_FAIR:  # D is fooled, yet p_g is far from p_data: D is too weak
        return Verdict("learning", "Still learning (D is too weak to tell)",
                       f"Mean D(x) = {dr:.2f}, D(G(z)) = {dfk:.2f} and Ṽ = {v:.3f} sit at the equilibrium values, "
                       f"but JSD = {jsd:.4f} ({_jsd_words(jsd)}): the samples are not yet like the data.",
                       "Keep training; if the JSD stays high, give D more capacity (width) or k = 2 steps.")
    if not (near or (jsd is not None and jsd < JSD_GOOD)):
        return None
    parts = []
    if v is not None:
        parts.append(f"Ṽ = {v:.3f} is {abs(v - V_OPTIMUM):.3f} from −2 log 2 = −1.386")
    if dr is not None and dfk is not None:
        parts.append(f"mean D(x) = {dr:.2f}, D(G(z)) = {dfk:.2f} (both near ½: D can hardly tell them apart)")
    if jsd is not None:
        parts.append(f"JSD = {jsd:.4f} ({_jsd_words(jsd)}: 0 means p_g = p_data, log 2 disjoint)")
    return Verdict("converging", "Converging", "; ".join(parts) + ".",
                   "Let it finish; stop early once the JSD and the samples stop improving.")


def judge(df: Optional[pd.DataFrame], dataset: str = "", g_loss: str = "nonsaturating",
          state: str = "", message: str = "", iterations: int = 0,
          dropped: Optional[list] = None) -> Verdict:
    """The verdict for one run's metrics (a metrics.csv frame); dataset names the known mode count;
    iterations (the planned total, when known) keeps a young run from being called collapsed. dropped: the
    modes G has dropped (mode_history.dropped_modes of the run's snapshots), when the caller read them; then
    a mixture's collapse is judged on them alone, since the plain G's count of covered modes (metrics.csv)
    also misses modes that are merely thin, which rejection by D restores."""
    if state == "failed" and "diverged" in message:
        return Verdict("diverged", "Diverged", message,
                       "Resume from the last checkpoint with smaller learning rates (half of lr_d and lr_g).")
    if df is None or df.empty or len(df) < MIN_ROWS or "value_estimate" not in df.columns:
        n = 0 if df is None else len(df)
        return Verdict("early", "Too early to judge",
                       f"{n} logged row{'s' if n != 1 else ''} so far; the verdict needs {MIN_ROWS}.",
                       "Wait for a few more logging intervals.")
    v, dr, dfk, gl = (_recent(df, c) for c in ("value_estimate", "d_real", "d_fake", "g_loss"))
    it = int(df["iteration"].iloc[-1]) if "iteration" in df.columns else len(df)
    jsd = _last(df, "jsd")
    collapse = (_dropped(dropped, dataset, it, iterations) if dropped is not None and dataset in KNOWN_MODES
                else _collapsed(df, dataset, it, iterations))
    found = (_diverged(df, v, gl) or _d_winning(it, v, dr, dfk, gl, g_loss) or collapse
             or _at_equilibrium(v, dr, dfk, jsd))
    if found:
        return found
    parts = [f"Ṽ = {v:.3f} ({v - V_OPTIMUM:+.3f} from −2 log 2)" if v is not None else "",
             f"D(x) = {dr:.2f}, D(G(z)) = {dfk:.2f}" if dr is not None and dfk is not None else "",
             f"JSD = {jsd:.4f} ({_jsd_words(jsd)})" if jsd is not None else ""]
    return Verdict("learning", "Still learning", "; ".join(p for p in parts if p) + f" at iteration {it}.",
                   "Keep training: Ṽ should drift back towards −2 log 2 and D(x), D(G(z)) towards ½.")
