"""A plotly chart that stays mounted while its figure changes: for the live views of a training run.

st.plotly_chart gives a changed figure a new element (its id hashes the figure), so the browser builds the
chart anew — twice (two `plotly_afterplot` per refresh, measured) — on every refresh, which kept the
browser's main thread busy while a run trained and made clicks wait. This component (Streamlit's public
components v2 API: the chart lives in the app's own page, no frame; its identity from its key) receives each
new figure as JSON and draws it with Plotly.react: in place, only what changed; a re-sent identical figure
costs nothing; a zoom survives new data (the figures set uirevision).

plotly.js is loaded once per page, shared by every live chart (a components-v1 frame per chart ran it once
per chart, each time a share of the browser's main thread, and fetched each frame's page from a server
busy with the new session). It is served from the app's static files (`server.enableStaticServing`,
`static/` beside app.py), which the browser caches and revalidates: npm's basic bundle (1.2 MB: scatter, bar,
pie) for figures of lines and bars (Ṽ, the losses, the quality curves), the cartesian bundle (1.5 MB:
scatter, heatmap, image, …) for the rest, each only when its version is the one the installed plotly package
ships (the figures' JSON is that release's), else that package's full bundle (4.8 MB). They are copied into
`static/` on first use: the page needs no outside host. A figure with a trace the served bundle lacks
(Scattergl), or a project folder where `static/` cannot be written, is drawn by st.plotly_chart instead.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import plotly
import streamlit as st

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent                # the project: static/ and node_modules/ beside app.py
STATIC = ROOT / "static"          # served at /app/static/ (.streamlit/config.toml: enableStaticServing)
STATIC_URL = "app/static"         # relative to the page's base (a dashboard served under a path works too)
JS = HERE / "components" / "live_chart" / "live_chart.js"
FULL_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
CARTESIAN_JS = ROOT / "node_modules" / "plotly.js-cartesian-dist-min" / "plotly-cartesian.min.js"
BASIC_JS = ROOT / "node_modules" / "plotly.js-basic-dist-min" / "plotly-basic.min.js"
BASIC_TRACES = {"bar", "pie", "scatter"}
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


def served_name(src: Path) -> str:
    """The bundle's file name under static/: kind and release in the name, so that a cached copy of another
    release is never used for this one's figures."""
    kind = "lines" if src == BASIC_JS else "cartesian" if src == CARTESIAN_JS else "full"
    return f"plotly-{kind}-{_version(src)}.min.js"


def _place(src: Path, folder: Path = STATIC) -> str | None:
    """src copied into folder under served_name (kept when it already is a copy); its name, or None where the
    folder cannot be written (a read-only install: the charts are then plain st.plotly_charts)."""
    dest = folder / served_name(src)
    try:
        if dest.is_file() and dest.stat().st_size == src.stat().st_size:
            return dest.name
        folder.mkdir(exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dest)  # atomic: a second server process never serves half a file
        return dest.name
    except OSError:
        return None


BUNDLE, TRACES = _choose_bundle()
LINES = _lines_bundle()
SERVED = {"full": _place(BUNDLE), "lines": _place(LINES) if LINES is not None else None}
_component = st.components.v2.component("gan_live_chart", js=JS.read_text(encoding="utf-8"), isolate_styles=False)


def _trace_types(fig) -> set:
    return {t.type or "scatter" for t in fig.data}


def drawable(fig) -> bool:
    """Whether a served plotly.js bundle draws every trace of fig."""
    return SERVED["full"] is not None and (TRACES is None or _trace_types(fig) <= TRACES)


def bundle_for(fig) -> str:
    """Which plotly.js the figure is drawn with: "lines" (the basic bundle) when it draws every trace."""
    return "lines" if SERVED["lines"] is not None and _trace_types(fig) <= BASIC_TRACES else "full"


def live_chart(fig, key: str, where=st, config: dict | None = None, lead: bool = False) -> bool:
    """Draw fig (a plotly Figure) in place of this key's previous figure; False where it went to
    st.plotly_chart instead. The lead chart of a page is drawn first: the others start only once it has drawn
    (live_chart.js, or after 2.5 s: a page whose lead went to st.plotly_chart should make another the lead)."""
    cfg = {"displaylogo": False, **(config or {})}
    if not drawable(fig):
        where.plotly_chart(fig, key=key, config=cfg)
        return False
    data = dict(spec=fig.to_json(), config=json.dumps({"responsive": True, **cfg}), lead=lead,
                bundle=bundle_for(fig), url=f"{STATIC_URL}/{SERVED[bundle_for(fig)]}")
    if where is st:
        _component(key=key, data=data)
    else:
        with where:
            _component(key=key, data=data)
    return True
