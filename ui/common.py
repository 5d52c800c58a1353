"""Small Streamlit helpers shared by the pages (gan_core never imports streamlit, so they live here).

The pages are pages/*.py, served by app.py's st.navigation (ui/nav.py). Links name a page by its file path.
"""
import contextlib
import functools
import os
import time

import streamlit as st
from streamlit.errors import StreamlitAPIException

from ui.nav import GENERATE, RUNS, TRAIN  # noqa: F401 (re-exported for the pages)


def link(page: str, label: str, icon: str) -> None:
    try:
        st.page_link(page, label=label, icon=icon)
    except StreamlitAPIException:  # page run on its own (not through app.py): no page registry
        st.markdown(f"Open **{label}** from the sidebar.")


# --- state that survives navigation -----------------------------------------------------------------
# Streamlit forgets a widget's value once a run does not draw it (another page was shown). The pages
# keep the values they need in a plain session_state dict and hand them back to the widgets.

def restore(*keys: str, store: str = "_kept") -> None:
    """Before drawing widgets: give back the kept value of every key whose widget state was dropped."""
    kept = st.session_state.setdefault(store, {})
    for k in keys:
        if k not in st.session_state and k in kept:
            st.session_state[k] = kept[k]


def keep(*keys: str, store: str = "_kept") -> None:
    """After drawing widgets: remember their values for the next visit."""
    kept = st.session_state.setdefault(store, {})
    for k in keys:
        if k in st.session_state:
            kept[k] = st.session_state[k]


def query_list(name: str) -> list[str]:
    return [v for v in st.query_params.get_all(name) if v]


def set_query(**params) -> None:
    """Write these query parameters into the address (None or [] removes one); no rerun, no history noise
    when nothing changed."""
    for k, v in params.items():
        vals = [] if v is None else [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)]
        if st.query_params.get_all(k) == vals:
            continue
        if vals:
            st.query_params[k] = vals if len(vals) > 1 else vals[0]
        elif k in st.query_params:
            del st.query_params[k]


# --- where the page's time goes (bench/steer_latency.py sets GAN_UI_TRACE) ----------------------------
_TRACE = os.environ.get("GAN_UI_TRACE")


@contextlib.contextmanager
def traced(label: str):
    """Append `start end label` (wall-clock seconds) to $GAN_UI_TRACE around a block; nothing when unset."""
    if not _TRACE:
        yield
        return
    t0 = time.time()
    try:
        yield
    finally:
        with open(_TRACE, "a") as f:
            f.write(f"{t0:.4f} {time.time():.4f} {label}\n")


class PageTrace:
    """traced() for a whole page script: made at its top, end() at its bottom (a st.stop() or a rerun
    in between leaves that run untraced)."""

    def __init__(self, label: str):
        self.label, self.t0 = label, time.time()

    def end(self) -> None:
        if _TRACE:
            with open(_TRACE, "a") as f:
                f.write(f"{self.t0:.4f} {time.time():.4f} {self.label}\n")


def timed(label: str):
    """Decorator form of traced(), for fragments: put it under @st.fragment."""
    def wrap(fn):
        if not _TRACE:
            return fn

        @functools.wraps(fn)
        def inner(*a, **kw):
            with traced(label):
                return fn(*a, **kw)
        return inner
    return wrap
