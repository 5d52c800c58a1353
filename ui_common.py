"""Small Streamlit helpers shared by the pages (gan_core never imports streamlit, so they live here)."""
import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.pages_manager import PagesManager


def use_app_navigation() -> None:
    """Opened by URL before app.py ever ran, Streamlit serves a page through its pages/-folder mode
    (no titles, no wide layout). Switch that mode off once and rerun through app.py's st.navigation.
    Relies on PagesManager.uses_pages_directory (Streamlit internal): recheck after an upgrade."""
    if getattr(PagesManager, "uses_pages_directory", False) and not st.session_state.get("_nav_fixed"):
        st.session_state["_nav_fixed"] = True  # once per session, so a rerun can never loop
        PagesManager.uses_pages_directory = False
        st.rerun()


def link(page: str, label: str, icon: str) -> None:
    try:
        st.page_link(page, label=label, icon=icon)
    except StreamlitAPIException:  # page run on its own (not through app.py): no page registry
        st.markdown(f"Open **{label}** from the sidebar.")
