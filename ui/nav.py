"""The dashboard's pages and how every page joins the app's navigation.

app.py runs `st.navigation(pages())` before every page. A URL opened before app.py has run in a session
(Streamlit then serves a script of pages/ directly) reaches the same navigation through `page_setup()`
at the top of each page: public API only (st.navigation, st.set_page_config, st.session_state).
"""
from pathlib import Path

import streamlit as st

from ui.heap import freeze_imports

HOME, TRAIN, RUNS, GENERATE = "pages/home.py", "pages/train.py", "pages/runs.py", "pages/generate.py"
FAVICON = str(Path(__file__).resolve().parents[1] / "assets" / "favicon.png")


def old_address(page: st.Page):
    """A page for an old address (/Monitor, /Train, /Generate): go on to the page, query kept."""
    def go() -> None:
        st.switch_page(page, query_params={k: st.query_params.get_all(k) for k in st.query_params})
    return go


def pages() -> list:
    # Every icon is drawn by the bundled Material Symbols font; the favicon is a local file (a ":material/…"
    # favicon would be fetched from fonts.gstatic.com, and this dashboard needs no outside host).
    train = st.Page(TRAIN, title="Train", icon=":material/model_training:", url_path="train")
    runs = st.Page(RUNS, title="Runs", icon=":material/monitoring:", url_path="runs")
    generate = st.Page(GENERATE, title="Generate", icon=":material/auto_awesome:", url_path="generate")
    return [st.Page(HOME, title="Home", icon=":material/home:", default=True), train, runs, generate,
            *(st.Page(old_address(p), title=p.title, url_path=old, visibility="hidden")
              for old, p in (("Train", train), ("Monitor", runs), ("Generate", generate)))]


def configure() -> None:
    st.set_page_config(page_title="GAN dashboard", page_icon=FAVICON, layout="wide")


def run_app() -> None:
    """app.py: the page config, the navigation, then the page the address asks for."""
    freeze_imports()  # what earlier runs imported leaves the garbage collector's work (ui/heap.py)
    configure()
    page = st.navigation(pages())
    page.run()


def page_setup() -> None:
    """First line of every page: the app's page config and navigation, also when Streamlit ran this page
    without app.py (a URL opened directly, before app.py ever ran in the session: a pages/ folder exists).
    Declaring the same navigation again when app.py did run is harmless (the same pages, the same page),
    and needs no flag that could go stale; this page then carries on as the page the address names."""
    freeze_imports()
    configure()
    st.navigation(pages())
