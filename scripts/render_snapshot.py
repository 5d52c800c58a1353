"""Render a run's snapshot with gan_core.views.snapshot_figure to a PNG (headless Chromium via Playwright) and
a self-contained HTML file, to look at the forces of the game without the dashboard.

    python scripts/render_snapshot.py RUN_DIR [--iteration N] [--out FILE.png] [--d-star] [--no-arrows] ...

Needs playwright and a Chromium (Debian's /usr/bin/chromium, or set CHROMIUM=...). Without them, the
HTML file is still written.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_core.runs.paths import snapshot_path  # noqa: E402
from gan_core.runs.store import list_snapshots  # noqa: E402
from gan_core.views import samples as monitor  # noqa: E402
from gan_core.views.snapshot_layers import snapshot_figure  # noqa: E402


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--iteration", type=int, default=None, help="the snapshot's iteration (default: the last)")
    p.add_argument("--out", type=Path, default=None, help="PNG path (default: RUN/snapshot_ITER.png)")
    p.add_argument("--title", default="")
    p.add_argument("--d-star", action="store_true", help="also the D* panel")
    for flag in ("real", "generated", "d", "arrows", "manifold"):
        p.add_argument(f"--no-{flag}", action="store_true")
    p.add_argument("--width", type=int, default=900)
    a = p.parse_args(argv)
    its = list_snapshots(a.run_dir)
    if not its:
        p.error(f"{a.run_dir}: no snapshots")
    path = snapshot_path(a.run_dir, its[-1] if a.iteration is None else a.iteration)
    with np.load(path) as z:
        snap = dict(z)
    it = int(snap["iteration"])
    fig = snapshot_figure(snap, monitor.real_sample(a.run_dir, 600), show_real=not a.no_real,
                          show_generated=not a.no_generated, show_d=not a.no_d, show_d_star=a.d_star,
                          show_arrows=not a.no_arrows, show_manifold=not a.no_manifold,
                          title=a.title or f"{a.run_dir.name}, iteration {it}")
    out = a.out or a.run_dir / f"snapshot_{it:08d}.png"
    html = out.with_suffix(".html")
    fig.write_html(html, include_plotlyjs=True, full_html=True)
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(f"wrote {html} (no playwright: no PNG)")
        return html
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": a.width, "height": int(fig.layout.height or 500) + 40})
        page.goto(html.resolve().as_uri())
        page.wait_for_selector(".main-svg")
        page.wait_for_timeout(300)
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(f"wrote {out} and {html}")
    return out


if __name__ == "__main__":
    main()
