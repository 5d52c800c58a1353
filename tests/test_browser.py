"""A newcomer's path through the dashboard in a real headless Chromium (Debian's), driven by Playwright.

Open the app → Train: start a short ring8 run → Monitor: watch the Ṽ chart appear and grow →
Generate: sample the finished run's generator → download the samples as CSV.
Screenshots are kept in test-artifacts/browser/ to be looked at.
"""
import csv
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from gan_core.config import DATASET_DEFAULTS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "browser"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                "(scripts/setup.sh --dev installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("runs")
    port = _free_port()
    env = {**os.environ, "GAN_RUNS_DIR": str(runs_dir), "PYTHONPATH": str(ROOT)}
    log = open(runs_dir.parent / "streamlit.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + (runs_dir.parent / "streamlit.log").read_text()[-2000:])
    yield url, runs_dir
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def page(app):
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def _shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _wait_idle(page):
    """Streamlit shows a 'running' widget while a script runs; wait until it is gone."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def _points_in_value_chart(page) -> int:
    return page.evaluate("""() => {
        const plots = [...document.querySelectorAll('.js-plotly-plot')];
        for (const p of plots) {
            // _fullData holds the decoded arrays (plotly sends typed arrays base64-encoded)
            const t = (p._fullData || []).find(d => (d.name || '').startsWith('Ṽ'));
            if (t && t.x && t.x.length !== undefined) return t.x.length;
        }
        return -1;
    }""")


def test_newcomer_trains_watches_generates_and_downloads(app, page, tmp_path):
    url, runs_dir = app
    page.goto(url)
    page.get_by_text("GAN dashboard").first.wait_for()
    page.get_by_text("two-player game", exact=False).first.wait_for()
    _shot(page, "01_home")

    # --- Train: ring8, a run long enough to be watched while it trains
    page.goto(url + "/Train")
    page.get_by_text("Train a GAN").wait_for()
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name="ring8", exact=False).click()
    _wait_idle(page)
    # the form re-renders with ring8's defaults; wait until the old one is gone
    iters = page.get_by_role("spinbutton", name="Iterations", exact=True)
    want = str(DATASET_DEFAULTS["ring8"]["iterations"])
    page.wait_for_function(f"""() => {{ const e = [...document.querySelectorAll('input[aria-label="Iterations"]')];
        return e.length === 1 && e[0].value === '{want}'; }}""")
    iters.fill("3000")
    iters.press("Tab")
    _wait_idle(page)
    page.get_by_label("Run name", exact=True).fill("browser-ring8")
    page.get_by_label("Run name", exact=True).press("Tab")
    _wait_idle(page)
    _shot(page, "02_train_ring8")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("started", exact=False).first.wait_for()
    _shot(page, "03_train_started")
    deadline = time.time() + 60  # the process imports torch before it writes anything
    while not (runs_dir / "browser-ring8" / "config.json").exists() and time.time() < deadline:
        time.sleep(0.5)
    assert (runs_dir / "browser-ring8" / "config.json").exists()

    # --- Monitor: the Ṽ chart appears, then grows without a reload
    page.goto(url + "/Monitor")
    page.get_by_text("Runs").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0", timeout=90_000)
    deadline = time.time() + 60
    first = _points_in_value_chart(page)
    while first < 2 and time.time() < deadline:
        page.wait_for_timeout(500)
        first = _points_in_value_chart(page)
    _shot(page, "04_monitor_early")
    assert first >= 1, "the value chart never showed a point"
    later = first
    deadline = time.time() + 90
    while later <= first and time.time() < deadline:
        page.wait_for_timeout(1000)
        later = _points_in_value_chart(page)
    assert later > first, f"the chart did not grow ({first} → {later} points)"
    _shot(page, "05_monitor_growing")

    # wait for the run to finish (its generator is exported at the end)
    deadline = time.time() + 240
    while not (runs_dir / "browser-ring8" / "generator.onnx").exists() and time.time() < deadline:
        time.sleep(1)
    assert (runs_dir / "browser-ring8" / "generator.onnx").exists(), (runs_dir / "browser-ring8" / "status.json").read_text()
    page.wait_for_timeout(3000)
    _wait_idle(page)
    _shot(page, "06_monitor_done")
    page.get_by_text("Samples and the theory").first.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "06b_monitor_theory.png"))

    # --- Generate: the run's generator, samples on screen, CSV download
    page.goto(url + "/Generate")
    page.get_by_text("Samples").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0", timeout=60_000)
    _wait_idle(page)
    _shot(page, "07_generate")
    page.get_by_text("Walk between two seeds").first.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "07b_generate_samples.png"))
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download CSV").click()
    out = tmp_path / "samples.csv"
    dl.value.save_as(out)
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["x0", "x1"] and len(rows) == 1 + 1000
    radii = [(float(a) ** 2 + float(b) ** 2) ** 0.5 for a, b in rows[1:]]
    assert sum(1.0 < r < 3.0 for r in radii) > 500  # samples of a ring of radius 2, not noise around 0
