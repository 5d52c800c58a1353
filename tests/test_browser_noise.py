"""Instance noise and the gradient penalty in a real headless Chromium (Debian's), driven by Playwright: set σ
(or γ) on the Train page, train ring8 (tiny nets), and on the Runs page find the caption that says how the
learned D differs from D* at a snapshot taken while it was on (and, for the noise, not at the last one, after
it). Screenshots go to test-artifacts/browser/noise_*.png and penalty_*.png.
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


PENALTY = "Gradient penalty γ = "


def test_gradient_penalty_set_on_train_page_is_named_beside_d_star(app, browser):  # noqa: F811
    """The same for D's gradient penalty (grid25's default, here on ring8 for speed): γ typed on the Train page
    reaches the run's config, and the Runs page says beside D* that the learned D is smoother than D*."""
    url, runs_dir = app
    ctx, figures = browser
    page = tb._train_page(ctx, figures, url, "?data=ring8")
    tb._tiny_nets(page, 300)
    tb._set_number(page, "Gradient penalty γ (point data)", 2.0)
    run = tb._start(page, runs_dir, "penalised", shot="penalty_01_train")
    tb._wait_finished(run)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["gradient_penalty"] == 2.0 and cfg["gradient_penalty_iterations"] == 300

    page.goto(url + "/runs?run=penalised")
    page.get_by_text("Samples and the theory").wait_for()
    page.get_by_text("Samples and the theory").scroll_into_view_if_needed()
    page.mouse.wheel(0, 600)
    page.get_by_text("Follow the latest snapshot").wait_for()
    tb._wait_idle(page)
    tb._first_snapshot(page)
    page.get_by_text(PENALTY).first.wait_for(timeout=30_000)
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text=PENALTY).first
    caption.scroll_into_view_if_needed()
    tb._shot(page, "penalty_02_runs_first_snapshot", full=False)
    text = caption.inner_text()
    assert "γ = 2 at this snapshot" in text and "smoother than D*" in text, text
