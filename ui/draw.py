"""The Train page's "Draw your own" data: a canvas (streamlit-drawable-canvas), a spread, a preview.

The drawing lives in session_state["_drawing"] (the canvas's Fabric JSON), so it survives other pages and
a test can inject one (AppTest cannot draw): `set_drawing`. gan_core.data.drawn turns it into data; on Start
the page writes it under the run (`save`) and trains on that CSV.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from gan_core.data import drawn

CANVAS = (400, 400)          # pixels, mapped onto drawn.DEFAULT_BOX ([-4, 4]²)
N_POINTS = 2000              # samples written to the run's dataset
MODES = {"point": "click: a point", "freedraw": "drag: a stroke"}
KEY = "_drawing"


def objects(json_data) -> list:
    return list((json_data or {}).get("objects") or [])


def set_drawing(json_data) -> None:
    """Use this Fabric JSON as the drawing (what the canvas returns; a test injects one here)."""
    st.session_state[KEY] = {"objects": objects(json_data)}


def drawing():
    return st.session_state.get(KEY)


def preview_points(json_data, std: float, seed: int = 0, n: int = 1000) -> np.ndarray:
    """n points of the dataset this drawing gives (DataError for an empty drawing or a bad spread)."""
    points, strokes = drawn.shapes_from_canvas(json_data)
    a = drawn.anchors(points, strokes, CANVAS)
    return drawn.sample_drawing(a, float(std), n, int(seed))


def save(folder, json_data, std: float, seed: int) -> Path:
    """Write the drawing's dataset (CSV) and drawing.json into folder; the CSV's path."""
    return drawn.save_drawn_dataset(folder, json_data, canvas_size=CANVAS, std=float(std), n=N_POINTS, seed=int(seed))


def canvas() -> None:
    """Draw the mode switch and the canvas; what the user draws becomes the drawing."""
    from streamlit_drawable_canvas import st_canvas  # a component: imported only where it is drawn
    ss = st.session_state
    ss.setdefault("draw_mode", "point")
    mode = st.segmented_control("Tool", list(MODES), format_func=MODES.get, key="draw_mode",
                                help="Click to place single points, or drag to draw strokes (a longer stroke "
                                     "holds more data).") or "point"
    if "canvas" not in ss or "_canvas_init" not in ss:  # a fresh visit: the canvas starts from the kept drawing
        ss["_canvas_init"] = drawing()
    init = ss["_canvas_init"]
    out = st_canvas(fill_color="#7b3294", stroke_width=3, stroke_color="#7b3294", background_color="#ffffff",
                    height=CANVAS[1], width=CANVAS[0], drawing_mode=mode, point_display_radius=4,
                    initial_drawing=init, key="canvas")
    # the canvas echoes its initial drawing until the user draws: only a change replaces the kept one
    if out.json_data is not None and objects(out.json_data) != objects(init):
        set_drawing(out.json_data)


def discard(run_dir) -> None:
    """Remove the drawn files from a folder that holds no run (a refused start), then the folder if empty."""
    from gan_core.jobs import launch
    from gan_core.runs import store
    run_dir = Path(run_dir)
    if store.is_run_dir(run_dir):
        return
    for name in (drawn.DRAWN_CSV, drawn.DRAWING_JSON):
        (run_dir / name).unlink(missing_ok=True)
    launch.discard_failed_start(run_dir)
