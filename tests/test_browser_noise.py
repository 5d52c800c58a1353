"""Instance noise in a real headless Chromium (Debian's), driven by Playwright: set σ on the Train page, train
ring8 (tiny nets), and on the Runs page find the caption that says D was learning the blurred densities at a
snapshot taken while the noise was on, and not at the last one (after the noise). Screenshots go to
test-artifacts/browser/noise_*.png.
"""
import json
from pathlib import Path

import pytest
import test_browser as tb
from test_browser import app, browser  # noqa: F401  (its fixtures)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(tb.CHROMIUM).exists(), reason="Debian's chromium is not installed")]

CAPTION = "Instance noise σ = "


def test_noise_set_on_train_page_is_named_beside_d_star_while_it_lasts(app, browser):  # noqa: F811
    url, runs_dir = app
    ctx, figures = browser
    page = tb._train_page(ctx, figures, url, "?data=ring8")
    tb._tiny_nets(page, 300)
    tb._set_number(page, "Instance noise σ (falls to 0 by half the run)", 0.5)
    run = tb._start(page, runs_dir, "noisy", shot="noise_01_train")
    tb._wait_finished(run)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["instance_noise"] == 0.5 and cfg["instance_noise_iterations"] == 150

    page.goto(url + "/runs?run=noisy")
    page.get_by_text("Samples and the theory").wait_for()
    page.get_by_text("Samples and the theory").scroll_into_view_if_needed()
    page.mouse.wheel(0, 600)
    page.get_by_text("Follow the latest snapshot").wait_for()
    tb._wait_idle(page)
    assert page.get_by_text(CAPTION).count() == 0  # the last snapshot (iteration 300): the noise has ended
    tb._first_snapshot(page)
    page.get_by_text(CAPTION).first.wait_for(timeout=30_000)
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text=CAPTION).first
    caption.scroll_into_view_if_needed()
    tb._shot(page, "noise_02_runs_first_snapshot", full=False)
    text = caption.inner_text()
    assert "σ = 0.50" in text and "blurred" in text, text
