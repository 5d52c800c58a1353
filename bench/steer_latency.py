"""Steering a run from the page, as a user does (issue 10): Start → first point, Pause, Step, a live change.

A Streamlit server (with its warm worker) is started on a free port with its own runs folder; headless
Chromium opens /train, picks ring8 and clicks Start training, follows the link to /runs and waits for the
first point of the Ṽ chart; then clicks Pause, Step (5 iterations), changes the objective to minimax,
Continue, and waits for the run to finish. Each latency is from the click until the page shows the
trainer's answer (what the user sees), and status.json is checked for the exact iteration.
Last line: `steering: start → first point N.NN s, pause N ms, step N ms; ...`.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from bench import common
from bench.common import say
from bench.page_responsiveness import CHROMIUM, VALUE_TRACE, Figures, open_browser, start_server, wait_idle

ROOT = Path(__file__).resolve().parent.parent
CLICKS: list = []  # wall-clock times of the clicks and of the answers seen, to read against GAN_UI_TRACE
SEEN: list = []
TARGETS = {"start_to_first_point_s": 3.0, "pause_s": 0.300, "step_s": 0.300}


def _click_and_wait_text(page, button, pattern: str, timeout: float = 30.0) -> tuple[float, str]:
    """Click, then the seconds until a success message matching pattern is on the page, and its text."""
    t0 = time.perf_counter()
    CLICKS.append(time.time())
    button.click()
    rx = re.compile(pattern)
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        for el in page.get_by_test_id("stAlertContentSuccess").all():
            try:
                txt = el.inner_text(timeout=200)
            except Exception:  # replaced by a rerun while reading
                continue
            if rx.search(txt):
                SEEN.append(time.time())
                return time.perf_counter() - t0, txt
        page.wait_for_timeout(10)
    texts = [e.inner_text() for e in page.get_by_test_id("stAlertContentSuccess").all()] + \
        [e.inner_text() for e in page.get_by_test_id("stAlertContentError").all()]
    raise TimeoutError(f"no message matching {pattern!r} within {timeout} s; the page says: {texts}")


def steer(url: str, runs_dir: Path, iterations: int = 1500, shots: Optional[Path] = None,
          figures: Optional[Figures] = None) -> dict:
    from playwright.sync_api import sync_playwright
    from gan_core.runs import control
    from gan_core.runs import store
    out: dict = {}
    figures = figures or Figures()
    with sync_playwright() as p:
        browser, ctx = open_browser(p, figures)
        page = ctx.new_page()
        page.set_default_timeout(90_000)
        shot = (lambda name: page.screenshot(path=str(shots / f"steer_{name}.png"), full_page=True)) if shots \
            else (lambda name: None)
        page.goto(url + "/train")
        page.get_by_text("Train a GAN").wait_for()
        page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
        page.get_by_role("option", name="ring8", exact=False).click()
        wait_idle(page)
        box = page.get_by_role("spinbutton", name="Iterations", exact=True)
        box.fill(str(iterations))
        box.press("Tab")
        wait_idle(page)
        name_box = page.get_by_role("textbox", name="Run name", exact=True)
        name_box.fill("steer")
        name_box.press("Tab")
        wait_idle(page)
        t_click = time.perf_counter()
        page.get_by_role("button", name="Start training").click()
        try:
            page.get_by_test_id("stDataFrame").first.wait_for(timeout=60_000)  # Start leads straight to the Runs page
        except Exception:
            page.screenshot(path="/tmp/steer_fail.png", full_page=True)
            raise
        out["start_to_runs_table_s"] = time.perf_counter() - t_click
        while True:  # the first point of Ṽ on the Runs page
            v = page.evaluate(VALUE_TRACE)
            if v["n"] > 0:
                break
            if time.perf_counter() - t_click > 120:
                raise TimeoutError("no point on the Runs page within 120 s")
            page.wait_for_timeout(20)
        out["start_to_first_point_s"] = time.perf_counter() - t_click
        shot("1_first_point")
        run = runs_dir / "steer"
        page.get_by_role("button", name="Pause").wait_for()
        out["pause_s"], msg = _click_and_wait_text(page, page.get_by_role("button", name="Pause"), r"paused at iteration \d+")
        at = int(re.search(r"paused at iteration (\d+)", msg).group(1))
        out["paused_at"] = at
        out["status_after_pause"] = store.read_status(run)["iteration"]
        count = page.get_by_role("spinbutton", name="How many", exact=True)
        count.fill("5")
        count.press("Tab")
        wait_idle(page)
        out["step_s"], msg = _click_and_wait_text(page, page.get_by_role("button", name="Step", exact=True),
                                                  rf"stepped to iteration {at + 5}\b")
        out["status_after_step"] = store.read_status(run)["iteration"]
        shot("2_paused_after_step")
        page.get_by_text("Change settings while it trains").click()
        page.get_by_test_id("stSelectbox").filter(has_text="Generator objective").click()
        page.get_by_role("option", name="minimax").click()
        out["set_s"], _ = _click_and_wait_text(page, page.get_by_role("button", name="Apply at the next iteration"),
                                               r"g_loss nonsaturating → minimax")
        out["continue_s"], _ = _click_and_wait_text(page, page.get_by_role("button", name="Continue"),
                                                    r"continuing from iteration")
        deadline = time.time() + 600
        while store.read_status(run).get("state") != "completed" and time.time() < deadline:
            time.sleep(0.5)
        out["final_state"] = store.read_status(run).get("state")
        out["changes"] = control.read_changes(run)
        page.wait_for_timeout(4000)  # the page follows the end of the run
        shot("3_finished")
        browser.close()
    out["outside_requests"] = len(figures.outside_requests)
    return out


def _where_the_time_went(trace: str) -> None:
    """For each click: what the server ran between the click and the answer on the page."""
    rows = [(float(a), float(b), lab) for a, b, lab in (ln.split(" ", 2) for ln in trace.splitlines() if ln)]
    for click, seen in zip(CLICKS, SEEN):
        say(f"  click at +0 ms, answer seen at +{(seen - click) * 1000:.0f} ms; the server meanwhile:")
        for a, b, lab in rows:
            if b >= click - 1.0 and a <= seen:
                say(f"    {(a - click) * 1000:+7.0f} … {(b - click) * 1000:+7.0f} ms  {lab}")


def main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--shots", default="", help="save screenshots into this folder")
    p.add_argument("--no-write", action="store_true", help="do not append to bench/RESULTS.md")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit("Debian's chromium is needed (scripts/setup.sh --dev installs it)")
    info = common.print_header("Steering a run from the page (Start → first point, Pause, Step)", args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="gan-bench-steer-"))
    runs_dir = tmp / "runs"
    runs_dir.mkdir()
    server = None
    import os
    os.environ["GAN_WARM_WORKER"] = "1"  # as a user's server runs (tests turn it off for AppTests)
    trace = tmp / "trace.txt"
    os.environ["GAN_UI_TRACE"] = str(trace)  # the page writes where its time goes (ui_common.traced)
    try:
        server, url = start_server(runs_dir, tmp / "streamlit.log")
        from gan_core.runs import worker
        t = time.time()
        while not worker.alive(runs_dir) and time.time() - t < 60:
            time.sleep(0.1)
        out = steer(url, runs_dir, iterations=600 if args.quick else 1500,
                    shots=Path(args.shots) if args.shots else None)
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if trace.exists():
            _where_the_time_went(trace.read_text())
        shutil.rmtree(tmp, ignore_errors=True)
    for k, v in out.items():
        say(f"  {k}: {v}")
    if not args.no_write:
        with open(ROOT / "bench" / "RESULTS.md", "a") as f:
            f.write(f"\n## Steering from the page ({info['date']}){' --quick' if args.quick else ''}\n\n"
                    f"`python -m bench.steer_latency{' --quick' if args.quick else ''}` · {info['cpu']}, {info['cores']} "
                    f"cores, load average {info.get('load average (1/5/15 min)', '?')} at the start.\n\n"
                    "| figure | measured | target |\n|---|---|---|\n"
                    + "".join(f"| {k} | {out[k]:.3f} s | ≤ {t:g} s |\n" for k, t in TARGETS.items())
                    + f"| step exact | paused at {out['paused_at']}, after Step ×5: {out['status_after_step']} | +5 |\n"
                    + f"| set / continue answered | {out['set_s']:.3f} s / {out['continue_s']:.3f} s | |\n")
    say(f"steering: start → first point {out['start_to_first_point_s']:.2f} s, pause {out['pause_s'] * 1000:.0f} ms, "
        f"step {out['step_s'] * 1000:.0f} ms; worst measured/target "
        f"{common.ratio(max(out[k] / t for k, t in TARGETS.items()))}")
    return max(out[k] / t for k, t in TARGETS.items())


if __name__ == "__main__":
    main()
