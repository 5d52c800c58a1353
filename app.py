"""The GAN dashboard's entry point: `streamlit run app.py` (or `bash scripts/app.sh`).

The pages are pages/train.py (/train), pages/runs.py (/runs) and pages/generate.py (/generate), with the
Home page in ui/nav.py; the old addresses /Train, /Monitor and /Generate still lead there. A warm worker
process is kept ready so that Start reaches the first point in well under a second (gan_core.jobs.worker).
"""
import streamlit as st

import ui.nav as ui_nav
from gan_core.jobs import launch


@st.cache_resource(show_spinner=False)
def warm_worker() -> bool:
    return launch.start_worker()  # once per server: a process with torch imported, forking training runs


warm_worker()
ui_nav.run_app()
