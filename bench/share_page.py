"""The share page: its size, and how fast it draws in headless Chromium opened from file://.

    python -m bench.share_page [--quick] [--repeats R] [--models ring8,digits]

For each model (the generator as built from the seed, at the dataset's default size: speed does not
depend on training), ``gan_core.share.page.write_page`` writes the page; then Debian's Chromium opens
it from file:// with every request to a host aborted, R times, and the page's own clock
(``performance.now()``, from navigation start) gives the time until the first samples are drawn
(``window.gan.firstSamplesMs``) and, for the **New samples** button, the time from the click to the
redrawn canvas (``window.gan.lastDraw.ms``; 1,000 points, 64 images). The issue's targets: a ring8
page of at most 8 MB, first samples within 2 s, New samples for 1,000 points within 100 ms. The last
line gives the ring8 figures.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import common
from bench.common import median, say, table

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TARGETS = {"size_mb": 8.0, "first_s": 2.0, "new_ms": 100.0}


def build_model(name: str, folder: Path) -> Path:
    from bench.generate_latency import build_generator, export
    module, cfg = build_generator(name)
    return export(module, cfg, folder)


def _offline(blocked: list):
    """A route handler that lets the page's own local URLs through and aborts any other request, noting it in
    `blocked`. (Bound here, not by a default argument: Playwright passes a two-parameter handler the request.)"""
    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()
    return route


def measure(browser, html: Path, repeats: int, clicks: int) -> dict:
    first, new, wall = [], [], []
    for _ in range(repeats):
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        blocked = []
        ctx.route("**/*", _offline(blocked))
        page = ctx.new_page()
        t0 = time.perf_counter()
        page.goto(html.resolve().as_uri())
        page.evaluate("window.gan.ready")
        wall.append(time.perf_counter() - t0)
        first.append(page.evaluate("window.gan.firstSamplesMs") / 1e3)
        for _ in range(clicks):
            draws = page.evaluate("window.gan.draws")
            page.click("#new")
            page.wait_for_function(f"window.gan.draws > {draws}")
            new.append(page.evaluate("window.gan.lastDraw.ms"))
        ctx.close()
        if blocked:
            raise SystemExit(f"the page made network requests: {blocked}")
    return {"first_s": median(first), "first_wall_s": median(wall), "new_ms": median(new),
            "n": page_n(html)}


def page_n(html: Path) -> str:
    return "64 images" if "digits" in html.name else "1,000 points"


def main(argv=None) -> str:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--models", default="ring8,digits", help="comma-separated datasets (default ring8,digits)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if "ring8" not in names:
        p.error("--models must include ring8 (the headline)")
    repeats = args.repeats or (2 if args.quick else 5)
    clicks = 5 if args.quick else 20
    from playwright.sync_api import sync_playwright

    from gan_core.share.page import find_runtime, write_page
    rt = find_runtime()
    common.print_header("Share page: size, time to first samples and New samples in headless Chromium", args,
                        "cpu", {"onnxruntime-web": rt.version, "chromium": CHROMIUM, "repeats": repeats,
                                "New samples clicks per load": clicks})
    tmp = Path(tempfile.mkdtemp(prefix="bench_share_"))
    rows, res = [], {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            for name in names:
                t = time.perf_counter()
                rep = write_page(build_model(name, tmp), tmp / f"{name}.html")
                build_s = time.perf_counter() - t
                r = measure(browser, rep.path, repeats, clicks)
                r["size_mb"], r["build_s"] = rep.size_bytes / 1e6, build_s
                res[name] = r
                rows.append([name, f"{r['size_mb']:.2f} MB", f"{build_s:.1f} s", f"{r['first_s']:.2f} s",
                             f"{r['first_wall_s']:.2f} s", f"{r['new_ms']:.1f} ms ({r['n']})"])
            browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(table(rows, ["model", "page size", "share (incl. Node check)", "first samples (page clock)",
                     "goto → ready (Python)", "New samples"]))
    say()
    r = res["ring8"]
    for key, label, unit in (("size_mb", "ring8 page size", "MB"), ("first_s", "first samples", "s"),
                             ("new_ms", "New samples, 1,000 points", "ms")):
        say(f"target: {label} <= {TARGETS[key]:g} {unit}: {r[key]:.2f} {unit}, "
            f"{'met' if r[key] <= TARGETS[key] else 'NOT met'}")
    line = (f"ring8 share page {r['size_mb']:.2f} MB, first samples {r['first_s']:.2f} s, "
            f"New samples (1,000 points) {r['new_ms']:.1f} ms")
    say(line)
    return line


if __name__ == "__main__":
    main(sys.argv[1:])
