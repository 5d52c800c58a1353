"""The README's pictures, remade: `python scripts/screenshots.py [--dataset ring8] [--run-dir DIR]`.

Trains a run (unless --run-dir names a finished one), serves the dashboard on it, and takes the Runs page and the
run's share page in headless Chromium: docs/runs-page.png and docs/share-page.png.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM, start_server, stop_process, wait_idle  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ring8")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--run-dir", default=None, help="a finished run to show (default: train one)")
    ap.add_argument("--out", default=str(ROOT / "docs"))
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="shots_"))
    run = Path(a.run_dir) if a.run_dir else work / "runs" / a.dataset
    if not a.run_dir:
        extra = ["--iterations", str(a.iterations)] if a.iterations else []
        subprocess.run([sys.executable, "-m", "gan_core", "train", "--dataset", a.dataset, "--run-dir", str(run),
                        "--quiet", *extra], cwd=ROOT, check=True)
    page_file = work / "share.html"
    subprocess.run([sys.executable, "-m", "gan_core", "share", str(run), "--out", str(page_file)], cwd=ROOT,
                   check=True)
    from playwright.sync_api import sync_playwright
    server, url = start_server(run.parent, work / "server.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.goto(f"{url}/runs?run={run.name}")
            page.wait_for_selector("text=Ṽ", timeout=90_000)
            page.wait_for_timeout(6000)
            wait_idle(page)
            page.screenshot(path=str(Path(a.out) / "runs-page.png"), full_page=False)
            share = browser.new_page(viewport={"width": 1100, "height": 1100})
            share.goto(page_file.as_uri())
            share.wait_for_function("() => window.gan && window.gan.ready", timeout=60_000)
            share.evaluate("() => window.gan.ready")
            share.wait_for_timeout(1000)
            share.screenshot(path=str(Path(a.out) / "share-page.png"), full_page=False)
            browser.close()
    finally:
        stop_process(server)
    print(f"wrote {a.out}/runs-page.png and {a.out}/share-page.png")


if __name__ == "__main__":
    main()
