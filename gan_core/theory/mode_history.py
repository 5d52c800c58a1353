"""Which modes of a known mixture (ring8, grid25) G has dropped, since when, and whether D still sees them,
read from a run's snapshots (each holds 2,500 samples of G from fixed latents and D on a grid).

A mode is *dropped* when G puts (almost) no samples near it over the last few snapshots: then no reweighting
can bring it back — rejection by D (theory.rejection) keeps some of G's samples more often than others, but
it has nothing to keep where G never goes. A mode that is merely thin (a few samples a snapshot) is not
dropped: rejection restores such modes. One snapshot cannot tell the two apart (a thin mode holding 0.04 %
of G's mass shows one sample in 2,500 or none), so the last WINDOW snapshots are pooled: G moves little
between them once its learning rate has decayed.

D at a dropped mode's centre says why it stays dropped. Near 1 (D* = p_data/(p_data + p_g) → 1 where
p_g ≈ 0, eq. 2): D sees the hole, but G's gradient comes from D at G's own samples, and none lie near the
hole, so nothing pulls G there. Near ½ or below: D has stopped telling the mode apart too.
No streamlit, no torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from gan_core.theory.quality import MIN_FRACTION, mode_quality

WINDOW = 5            # snapshots pooled to decide that a mode is dropped (12,500 samples at the default size)
DROPPED_SHARE = 1e-4  # under 0.01 % of the pooled samples (at most one of 12,500): dropped
D_SEES = 0.75         # D at a dropped mode's centre at least this: D still sees the hole
MAX_HISTORY = 100     # snapshots read back at most (a run's default is ~50; each one is read once by the page)


@dataclass(frozen=True)
class SnapshotModes:
    """One snapshot's view of the modes: G's samples near each centre, and D at each centre (or None)."""
    iteration: int
    counts: tuple          # high-quality samples (within quality.N_STD std) nearest each centre
    n_samples: int
    d_at_centres: Optional[tuple] = None


@dataclass(frozen=True)
class DroppedMode:
    centre: tuple
    last_covered: Optional[int]   # the last snapshot's iteration at which G covered it (SPEC's rule), or None
    d_at_centre: Optional[float]  # D there at the last snapshot
    peak: tuple = (0, 0, 0)       # (most samples near it in one snapshot, that snapshot's iteration, its size)
    since: int = 0                # the first snapshot read (a long run's history is cut to MAX_HISTORY)

    def where(self) -> str:
        return "(" + ", ".join(f"{v:g}" for v in self.centre) + ")"


def d_at(points, grid_axes, d_grid) -> np.ndarray:
    """D at each point (2-D), read from a snapshot's grid at the nearest node: d_grid holds len(x axis) ·
    len(y axis) values, x the first index (divergence.make_grid's "ij" mesh)."""
    xs, ys = np.asarray(grid_axes[0], float), np.asarray(grid_axes[1], float)
    p = np.asarray(points, float)
    ix = np.abs(xs[None, :] - p[:, :1]).argmin(axis=1)
    iy = np.abs(ys[None, :] - p[:, 1:2]).argmin(axis=1)
    return np.asarray(d_grid, float).reshape(len(xs), len(ys))[ix, iy]


def snapshot_modes(snap: dict, centres, std: float) -> SnapshotModes:
    """The per-mode view of one snapshot (a dict as runs.store.load_snapshot returns): SPEC's counts
    (quality.mode_quality), and D at the centres when the snapshot holds D on a 2-D grid."""
    x = np.asarray(snap["samples"], float)
    c = np.asarray(centres, float)
    counts = mode_quality(x, c, std).per_mode
    d = None
    if c.ndim == 2 and c.shape[1] == 2 and "d" in snap and "grid_axes" in snap:
        d = tuple(float(v) for v in d_at(c, snap["grid_axes"], snap["d"]))
    return SnapshotModes(int(snap["iteration"]), tuple(int(v) for v in counts), len(x), d)


def dropped_modes(history: Iterable[SnapshotModes], centres, window: int = WINDOW) -> list[DroppedMode]:
    """The modes G has dropped, judged on the last `window` snapshots of `history` (in iteration order)."""
    hist = sorted(history, key=lambda s: s.iteration)
    if len(hist) < window:
        return []
    recent = hist[-window:]
    pooled = np.sum([s.counts for s in recent], axis=0)
    n = sum(s.n_samples for s in recent)
    out = []
    for k in np.flatnonzero(pooled <= DROPPED_SHARE * n):
        # iteration 0 does not count: an untrained G sends nearly every sample to one spot (near the origin)
        covered = [s.iteration for s in hist if s.iteration > 0 and s.counts[k] >= MIN_FRACTION * s.n_samples - 1e-9]
        d = hist[-1].d_at_centres
        top = max([s for s in hist if s.iteration > 0] or hist, key=lambda s: s.counts[k])
        out.append(DroppedMode(tuple(float(v) for v in np.atleast_1d(np.asarray(centres, float)[k])),
                               covered[-1] if covered else None, None if d is None else d[k],
                               (top.counts[k], top.iteration, top.n_samples), hist[0].iteration))
    return out


def describe(dropped: list[DroppedMode], n_modes: int, iteration: int, shown: int = 4) -> str:
    """One or two sentences: which modes, since when, and what D says there."""
    where = ", ".join(m.where() for m in dropped[:shown]) + (f" and {len(dropped) - shown} more"
                                                            if len(dropped) > shown else "")
    them = "it" if len(dropped) == 1 else "them"
    lost = [m.last_covered for m in dropped if m.last_covered is not None]
    never = "never covered" if dropped[0].since == 0 else f"did not cover since iteration {dropped[0].since:,}"
    when = (f"G covered {them} last at iteration {max(lost):,}" if len(lost) == len(dropped) else
            f"G {never} {them} (at most {max(m.peak[0] for m in dropped)} of {dropped[0].peak[2]:,} "
            f"samples near one, at iteration {max(dropped, key=lambda m: m.peak[0]).peak[1]:,})" if not lost else
            f"G {never} {len(dropped) - len(lost)} of them; the rest last at iteration {max(lost):,}")
    ds = [m.d_at_centre for m in dropped if m.d_at_centre is not None]
    lo, hi = (f"{min(ds):.2f}", f"{max(ds):.2f}") if ds else ("", "")
    span = lo if lo == hi else f"{lo}–{hi}"
    if ds and min(ds) >= D_SEES:
        why = (f"D there is {span}: D still sees the hole, but no sample of G lies near enough for D's "
               "gradient to pull it in")
    elif ds:
        why = f"D there is {span}: D has stopped telling {them} apart too"
    else:
        why = ""
    return (f"G has no samples near {len(dropped)} of the {n_modes} modes — {where} — over the last "
            f"{WINDOW} snapshots (to iteration {iteration:,}); {when}" + (f"; {why}." if why else "."))
