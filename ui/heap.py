"""Keep Python's cyclic garbage collector from pausing the dashboard's server.

The server's heap is mostly modules: streamlit, plotly, pandas, gan_core, and torch once the Train page has
asked about GPUs — a quarter of a million objects. A full collection walks all of them: a tenth of a second
on an idle core, several beside a training run and a browser on a 2-core machine, and the figures a live page builds
create enough objects to set one off every few seconds. Each one stops every thread of the server, so a
click waited behind it (measured with a gc trace beside `python -m bench.steer_latency`). Objects alive at
that moment — modules, their functions and tables — live as long as the process, so they are moved out of
the collector's sight (gc.freeze) after a collection of the young generations (a full one would cost
the pause this avoids, at the first view of a page); this is done again only when many modules have been
imported since (a bounded number of times per server, never per rerun, so garbage cannot pile up).
"""
from __future__ import annotations

import gc
import sys
import threading

NEW_MODULES = 20  # freeze again once this many modules were imported since the last time
_lock = threading.Lock()
_frozen_at = [0]  # len(sys.modules) at the last freeze


def freeze_imports() -> bool:
    """Collect, then freeze everything alive, if enough modules were imported since the last freeze.
    True when it froze."""
    with _lock:
        if len(sys.modules) - _frozen_at[0] < NEW_MODULES:
            return False
        gc.collect(1)  # the young garbage (cheap); what older garbage there is stays, once
        gc.freeze()
        _frozen_at[0] = len(sys.modules)
        return True
