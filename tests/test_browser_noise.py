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

# (the Train page's field, value, run name, config keys: (the value, the iterations it lasts), the caption's
#  start, words it holds, whether it is gone at the last snapshot, shot prefix)
CASES = {
    "noise": ("Instance noise σ (falls to 0 by half the run)", 0.5, "noisy", ("instance_noise", 0.5),
              ("instance_noise_iterations", 150), "Instance noise σ = ", ("σ = 0.50", "blurred"), True, "noise"),
    # D's gradient penalty is grid25's default; ring8 here for speed. It lasts the whole run, so the last
    # snapshot's D (iteration 300, after 300 penalised steps) is not checked.
    "penalty": ("Gradient penalty γ (point data)", 2.0, "penalised", ("gradient_penalty", 2.0),
                ("gradient_penalty_iterations", 300), "Gradient penalty γ = ", ("γ = 2 at this snapshot",
                                                                              "smoother than D*"), False, "penalty"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_setting_typed_on_train_page_is_named_beside_d_star_while_it_lasts(app, browser, case):  # noqa: F811
    label, value, name, (key, want), (key_it, want_it), prefix, words, gone_at_last, shot = CASES[case]
    url, runs_dir = app
    ctx, figures = browser
    page = tb._train_page(ctx, figures, url, "?data=ring8")
    tb._tiny_nets(page, 300)
    tb._set_number(page, label, value)
    run = tb._start(page, runs_dir, name, shot=f"{shot}_01_train")
    tb._wait_finished(run)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg[key] == want and cfg[key_it] == want_it

    page.goto(url + f"/runs?run={name}")
    page.get_by_text("Samples and the theory").wait_for()
    page.get_by_text("Samples and the theory").scroll_into_view_if_needed()
    page.mouse.wheel(0, 600)
    page.get_by_text("Follow the latest snapshot").wait_for()
    tb._wait_idle(page)
    if gone_at_last:  # the last snapshot (iteration 300): the setting has ended, the game is the paper's
        assert page.get_by_text(prefix).count() == 0
    tb._first_snapshot(page)
    page.get_by_text(prefix).first.wait_for(timeout=30_000)
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text=prefix).first
    caption.scroll_into_view_if_needed()
    tb._shot(page, f"{shot}_02_runs_first_snapshot", full=False)
    text = caption.inner_text()
    assert all(w in text for w in words), text
