"""A plotly chart that stays mounted while its figure changes: for the live views of a training run.

st.plotly_chart gives a changed figure a new element (its id hashes the figure), so the browser builds the
chart anew — twice (two `plotly_afterplot` per refresh, measured) — on every refresh, which kept the
browser's main thread busy while a run trained and made clicks wait. This component (Streamlit's public
components API: one iframe per chart, its identity from its key) receives each new figure as JSON and draws
it with Plotly.react: in place, only what changed; a re-sent identical figure costs nothing; a zoom survives
new data (the figures set uirevision).

plotly.js: the cartesian bundle from npm (package-lock.json; 1.5 MB: scatter, heatmap, image, …) when its
version is the one the installed plotly package ships, else that package's full bundle (4.8 MB). Figures of
lines and bars only (Ṽ, the losses, the quality curves) get npm's basic bundle (1.2 MB: scatter, bar, pie),
which a frame loads and starts in 0.47 s against the cartesian's 0.74 s (medians of 10, headless Chromium on
this project's 2-core VM, bench/RESULTS.md): the page's lead chart draws that much sooner. Both are copied
beside index.html on first use: the page needs no outside host. A figure with a trace the cartesian bundle
lacks (Scattergl) is drawn by st.plotly_chart instead.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import plotly
import streamlit as st
import streamlit.components.v1 as components

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "ui_components" / "live_chart"
FULL_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
CARTESIAN_JS = HERE / "node_modules" / "plotly.js-cartesian-dist-min" / "plotly-cartesian.min.js"
BASIC_JS = HERE / "node_modules" / "plotly.js-basic-dist-min" / "plotly-basic.min.js"
BASIC_TRACES = {"bar", "pie", "scatter"}
LINES_NAME = "plotly-lines.min.js"   # the basic bundle's name beside index.html (index.html asks for it)
CARTESIAN_TRACES = {"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour", "image",
                    "pie", "scatter", "scatterternary", "violin"}


def _version(js: Path) -> str | None:
    try:
        with open(js, encoding="utf-8", errors="replace") as f:
            m = re.search(r"plotly\.js(?: \([^)]*\))? v(\d+\.\d+\.\d+)", f.read(400))
        return m.group(1) if m else None
    except OSError:
        return None


def _same_release(js: Path) -> bool:
    """Whether js is a bundle of the installed plotly package's plotly.js release (the figures' JSON is its)."""
    v = _version(js)
    return v is not None and v == _version(FULL_JS)


def _choose_bundle() -> tuple[Path, set | None]:
    """(the plotly.js to serve, the trace types it draws; None: all)."""
    if _same_release(CARTESIAN_JS):
        return CARTESIAN_JS, CARTESIAN_TRACES
    return FULL_JS, None


def _lines_bundle() -> Path | None:
    """The basic bundle, when it is the installed plotly package's release (else every figure gets BUNDLE)."""
    return BASIC_JS if _same_release(BASIC_JS) else None


def _copy(src: Path | None, dest: Path) -> None:
    """dest becomes a copy of src (kept when it already is one); src None: dest removed (a stale bundle)."""
    if src is None:
        dest.unlink(missing_ok=True)
        return
    if dest.is_file() and dest.stat().st_size == src.stat().st_size and _version(dest) == _version(src):
        return
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)  # atomic: a second server process never serves half a file


def _place(src: Path, folder: Path = FOLDER, lines: Path | None = None) -> Path:
    """The component's folder with plotly.js (and the lines bundle) beside index.html: this project's, or
    where it cannot be written (a read-only install), a copy in the temporary folder."""
    try:
        _copy(src, folder / "plotly.min.js")
        _copy(lines, folder / LINES_NAME)
        return folder
    except OSError:
        if folder != FOLDER:
            raise
    spare = Path(tempfile.gettempdir()) / f"gan-live-chart-{os.getuid() if hasattr(os, 'getuid') else 0}"
    try:
        spare.mkdir(exist_ok=True)
        shutil.copyfile(FOLDER / "index.html", spare / "index.html")
        return _place(src, spare, lines)
    except OSError as e:
        raise RuntimeError(f"cannot place plotly.js for the live charts in {FOLDER} or {spare}: {e}") from None


BUNDLE, TRACES = _choose_bundle()
LINES = _lines_bundle()
_FOLDER = str(_place(BUNDLE, lines=LINES))
_component = components.declare_component("gan_live_chart", path=_FOLDER)
# The same page under a second name: its frame knows from its address, before any message, that it is a
# page's lead chart, and starts loading plotly.js at once (index.html).
_lead_component = components.declare_component("gan_live_chart_lead", path=_FOLDER)


def _trace_types(fig) -> set:
    return {t.type or "scatter" for t in fig.data}


def drawable(fig) -> bool:
    """Whether the served plotly.js bundle draws every trace of fig."""
    return TRACES is None or _trace_types(fig) <= TRACES


def bundle_for(fig) -> str:
    """Which plotly.js the figure's frame loads: "lines" (the basic bundle) when it draws every trace."""
    return "lines" if LINES is not None and _trace_types(fig) <= BASIC_TRACES else "full"


def live_chart(fig, key: str, where=st, config: dict | None = None, lead: bool = False) -> None:
    """Draw fig (a plotly Figure) in place of this key's previous figure. The lead chart of a page is drawn
    first: the others load plotly.js only once it has drawn (index.html)."""
    cfg = {"displaylogo": False, **(config or {})}
    if not drawable(fig):
        where.plotly_chart(fig, key=key, config=cfg)
        return
    args = dict(spec=fig.to_json(), config=json.dumps({"responsive": True, **cfg}), lead=lead,
                bundle=bundle_for(fig), key=key, default=None)
    component = _lead_component if lead else _component
    if where is st:
        component(**args)
    else:
        with where:
            component(**args)
