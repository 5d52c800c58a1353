"""Issue 11 in a real headless Chromium (Debian's), driven by Playwright: draw three clusters on the Train
page's canvas with mouse clicks, train on them (tiny nets), open Runs and find G's push (arrows) and its
manifold in the one snapshot figure — read from plotly's data in the page. Requests to any host other
than localhost are blocked and fail the test. Screenshots go to test-artifacts/browser/forces_*.png.
"""
import json
from pathlib import Path

import pytest
import test_browser as tb
from test_browser import app, browser  # noqa: F401  (its fixtures)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(tb.CHROMIUM).exists(), reason="Debian's chromium is not installed")]

SNAPSHOT_TRACES = """() => {  /* Streamlit wraps plotly titles in <b> */
  for (const p of document.querySelectorAll('.js-plotly-plot')) {
    const t = p._fullLayout && p._fullLayout.title && p._fullLayout.title.text;
    if (t && t.includes('snapshot —')) return {title: t, names: p.data.map(d => d.name),
                                               types: p.data.map(d => d.type)};
  }
  return null;
}"""
CLUSTERS = [(0.25, 0.25), (0.75, 0.3), (0.5, 0.75)]  # fractions of the canvas


def test_draw_three_clusters_train_and_see_the_forces(app, browser):  # noqa: F811  (test_browser's fixtures)
    url, runs_dir = app
    ctx, figures = browser
    page = tb._train_page(ctx, figures, url)
    page.get_by_text("Draw your own", exact=True).click()
    tb._wait_idle(page)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    for cx, cy in CLUSTERS:  # a few clicks per cluster, like a person would place them
        for dx, dy in ((0, 0), (6, 4), (-5, 6), (4, -6)):
            page.mouse.click(box["x"] + cx * box["width"] + dx, box["y"] + cy * box["height"] + dy)
            page.wait_for_timeout(150)
    tb._wait_idle(page)
    page.get_by_text("the data you drew (preview)").first.wait_for(timeout=30_000)
    tb._shot(page, "forces_01_drawn")
    tb._tiny_nets(page, 300)
    tb._set_number(page, "Log every (iterations)", 10) if page.get_by_role(
        "spinbutton", name="Log every (iterations)", exact=True).is_visible() else None
    run = tb._start(page, runs_dir, "drawn-three")
    meta = json.loads((run / "drawing.json").read_text())
    assert meta["clicks"] == 12  # every click on the canvas became an anchor
    tb._wait_finished(run)
    assert json.loads((run / "config.json").read_text())["dataset"].endswith("drawn-three/drawn_data.csv")

    page.goto(url + "/runs?run=drawn-three")
    page.get_by_text("Samples and the theory").wait_for()
    page.get_by_text("Samples and the theory").scroll_into_view_if_needed()  # charts mount when in view
    page.mouse.wheel(0, 600)
    try:
        page.wait_for_function(f"() => ({SNAPSHOT_TRACES})() !== null", timeout=60_000)
    finally:
        tb._shot(page, "forces_02_runs_snapshot")
    tb._wait_idle(page)
    fig = page.evaluate(SNAPSHOT_TRACES)
    assert "G's push −∇ₓ loss" in fig["names"] and "G's manifold (latent grid)" in fig["names"], fig
    assert "heatmap" in fig["types"] and "scattergl" not in fig["types"]  # D as an image, points as SVG
    page.locator(".js-plotly-plot").last.scroll_into_view_if_needed()
    tb._shot(page, "forces_02_runs_snapshot")
    # an early snapshot through the slider: the arrows are replayed from it
    tb._first_snapshot(page)
    page.wait_for_function(f"() => {{ const f = ({SNAPSHOT_TRACES})(); return f && f.title.includes('iteration 0'); }}",
                           timeout=30_000)
    early = page.evaluate(SNAPSHOT_TRACES)
    assert "G's push −∇ₓ loss" in early["names"]
    tb._shot(page, "forces_03_runs_first_snapshot")
