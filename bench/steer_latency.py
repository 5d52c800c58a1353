"""Steering a run from the page, as a user does (issue 10): Start → first point, Pause, Step, a live change.

A Streamlit server (with its warm worker) is started on a free port with its own runs folder; headless
Chromium opens /train, picks ring8 and clicks Start training, follows the link to /runs and waits for the
first point of the Ṽ chart; then clicks Pause, Step (5 iterations), changes the objective to minimax,
Continue, and waits for the run to finish. Each latency is from the click until the page shows the
trainer's answer (what the user sees), and status.json is checked for the exact iteration.
Last line: `steering: start → first point N.NN s, pause N ms, step N ms; ...`.
"""
from __future__ import annotations

import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from bench import common
from bench.common import say
from bench.page_responsiveness import Figures
from tests.support.browser import CHROMIUM, open_browser, start_server, stop_process, wait_idle, wait_value

ROOT = Path(__file__).resolve().parent.parent
# In the page: the wall-clock time of every click event and of every main-thread task over 50 ms, and a
# MutationObserver that notes when a success message matching window.__want first appears. These are what
# a user sees, without Playwright's own round trips around click() and its polling.
PAGE_PROBE = """
window.__lat = {clicks: [], long: [], seen: null, want: null, ws: []};
(() => {  // every WebSocket message in and out, timed when the page's main thread handles it
  const WS = window.WebSocket, size = d => d.byteLength || d.size || d.length || 0;
  const Wrapped = function (...a) {
    const ws = new WS(...a);
    ws.addEventListener('message', e => window.__lat.ws.push([Date.now(), 'in', size(e.data)]));
    const send = ws.send.bind(ws);
    ws.send = d => { window.__lat.ws.push([Date.now(), 'out', size(d)]); return send(d); };
    return ws;
  };
  Wrapped.prototype = WS.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Wrapped[k] = WS[k];
  window.WebSocket = Wrapped;
})();
document.addEventListener('click', () => window.__lat.clicks.push(Date.now()), true);
try {
  new PerformanceObserver(l => { for (const e of l.getEntries())
    window.__lat.long.push([performance.timeOrigin + e.startTime, e.duration]); }).observe({type: 'longtask'});
} catch (e) {}
new MutationObserver(() => {
  const L = window.__lat; if (!L.want || L.seen) return;
  for (const el of document.querySelectorAll('[data-testid="stAlertContentSuccess"]'))
    if (new RegExp(L.want).test(el.textContent)) { L.seen = Date.now(); return; }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
CLICKS: list = []  # wall-clock times of the clicks and of the answers seen, to read against GAN_UI_TRACE
SEEN: list = []
IN_PAGE: list = []  # (click event, message shown), wall-clock seconds, from the page's clock
LONG_TASKS: list = []
WS_MESSAGES: list = []  # (wall-clock ms, 'in'|'out', bytes) as the page's main thread handled them
FRAMES: list = []  # the live charts' frames at the first point (how the chart got there)
FRAME_TIMES = """() => ({origin: performance.timeOrigin, drawn: window.ganDrawn || [],
  plotly: (performance.getEntriesByType('resource').find(e => e.name.includes('plotly')) || {}).responseEnd,
  title: (document.querySelector('.gtitle') || {}).textContent})"""
TARGETS = {"start_to_first_point_s": 3.0, "pause_s": 0.300, "step_s": 0.300}


def _click_and_wait_text(page, button, pattern: str, timeout: float = 30.0) -> tuple[float, str]:
    """Click, then the seconds until a success message matching pattern is on the page, and its text."""
    page.evaluate("(w) => { window.__lat.want = w; window.__lat.seen = null; }", pattern)
    n_clicks = page.evaluate("() => window.__lat.clicks.length")
    t0 = time.perf_counter()
    CLICKS.append(time.time())
    button.click()
    try:  # the page's MutationObserver notes the answer; waiting polls in the page, rarely (CPU for the page)
        page.wait_for_function("() => window.__lat.seen !== null", timeout=timeout * 1000, polling=100)
    except Exception:
        pass
    else:
        SEEN.append(time.time())
        lat = page.evaluate("() => window.__lat")
        txt = next((t for t in (e.inner_text() for e in page.get_by_test_id("stAlertContentSuccess").all())
                    if re.search(pattern, t)), "")
        if len(lat["clicks"]) > n_clicks:  # the page's own clock: click event → message
            IN_PAGE.append((lat["clicks"][n_clicks] / 1000, lat["seen"] / 1000))
            return lat["seen"] / 1000 - lat["clicks"][n_clicks] / 1000, txt
        return time.perf_counter() - t0, txt
    texts = [e.inner_text() for e in page.get_by_test_id("stAlertContentSuccess").all()] + \
        [e.inner_text() for e in page.get_by_test_id("stAlertContentError").all()]
    raise TimeoutError(f"no message matching {pattern!r} within {timeout} s; the page says: {texts}")


def _choose(page, expander: str, box: str, option: str, tries: int = 5) -> None:
    """Open the expander and pick an option; a fragment rerun may redraw the expander (closed) or the
    list (gone) in between, so try again."""
    for _ in range(tries):
        select = page.get_by_test_id("stSelectbox").filter(has_text=box)
        if not select.is_visible():
            page.get_by_text(expander).click()
            try:
                select.wait_for(state="visible", timeout=3000)
            except Exception:
                continue
        try:
            select.click()
            page.get_by_role("option", name=option).click(timeout=3000)
        except Exception:
            continue
        return  # (the trainer's answer to Apply confirms the choice)
    raise TimeoutError(f"could not choose {option!r} in {box!r}")


def _start_from_the_train_page(page, url: str, iterations: int, out: dict) -> None:
    """Train → ring8, `iterations`, run name "steer" → Start: the times to the Runs page's table and first point."""
    page.goto(url + "/train")
    page.get_by_text("Train a GAN").wait_for()
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name="ring8", exact=False).click()
    wait_idle(page)
    for label, value in (("Iterations", str(iterations)), ("Run name", "steer")):
        box = page.get_by_role("spinbutton" if label == "Iterations" else "textbox", name=label, exact=True)
        box.fill(value)
        box.press("Tab")
        wait_idle(page)
    t_click = time.perf_counter()
    CLICKS.append(time.time())
    page.get_by_role("button", name="Start training").click()
    try:
        page.get_by_test_id("stDataFrame").first.wait_for(timeout=60_000)  # Start leads straight to the Runs page
    except Exception:
        page.screenshot(path="/tmp/steer_fail.png", full_page=True)
        raise
    out["start_to_runs_table_s"] = time.perf_counter() - t_click
    wait_value(page, 120)  # the first point of Ṽ on the Runs page
    out["start_to_first_point_s"] = time.perf_counter() - t_click
    SEEN.append(time.time())
    IN_PAGE.append((CLICKS[-1], SEEN[-1]))


def _record_frames(page) -> None:
    """The live charts' frames: when each was created, loaded plotly.js and drew (relative to the click)."""
    for f in page.frames[1:]:
        try:
            r = f.evaluate(FRAME_TIMES)
        except Exception:
            continue
        FRAMES.append(f"frame {r['title'] or '?'}: created +{(r['origin'] / 1000 - CLICKS[-1]) * 1000:.0f} ms, "
                      f"plotly.js loaded after {r['plotly'] or 0:.0f} ms, drawn at "
                      + ", ".join(f"+{(x / 1000 - CLICKS[-1]) * 1000:.0f}" for x in r["drawn"]) + " ms")


def _pause_step_set_continue(page, run: Path, out: dict, shot) -> None:
    """Pause, Step 5, objective → minimax, Continue: each click's time to its answer on the page."""
    from gan_core.runs import store
    page.get_by_role("button", name="Pause").wait_for()
    out["pause_s"], msg = _click_and_wait_text(page, page.get_by_role("button", name="Pause"),
                                               r"paused at iteration \d+")
    out["paused_at"] = int(re.search(r"paused at iteration (\d+)", msg).group(1))
    out["status_after_pause"] = store.read_status(run)["iteration"]
    count = page.get_by_role("spinbutton", name="How many", exact=True)
    count.fill("5")
    count.press("Tab")
    wait_idle(page)
    out["step_s"], msg = _click_and_wait_text(page, page.get_by_role("button", name="Step", exact=True),
                                              r"stepped to iteration \d+")
    out["step_shown"] = int(re.search(r"stepped to iteration (\d+)", msg).group(1))
    out["status_after_step"] = store.read_status(run)["iteration"]
    shot("2_paused_after_step")
    _choose(page, "Change settings while it trains", "Generator objective", "minimax")
    out["set_s"], _ = _click_and_wait_text(page, page.get_by_role("button", name="Apply at the next iteration"),
                                           r"g_loss nonsaturating → minimax")
    out["continue_s"], _ = _click_and_wait_text(page, page.get_by_role("button", name="Continue"),
                                                r"continuing from iteration")


def steer(url: str, runs_dir: Path, iterations: int = 1500, shots: Optional[Path] = None,
          figures: Optional[Figures] = None) -> dict:
    """Start a ring8 run from the Train page, steer it on the Runs page, let it finish: the times, the states and
    the recorded changes."""
    from playwright.sync_api import sync_playwright

    from gan_core.runs import control, store
    out: dict = {}
    figures = figures or Figures()
    run = runs_dir / "steer"
    with sync_playwright() as p:
        browser, ctx = open_browser(p, figures)
        ctx.add_init_script(PAGE_PROBE)
        page = ctx.new_page()
        page.set_default_timeout(90_000)
        shot = (lambda name: page.screenshot(path=str(shots / f"steer_{name}.png"), full_page=True)) if shots \
            else (lambda name: None)
        _start_from_the_train_page(page, url, iterations, out)
        _record_frames(page)
        shot("1_first_point")
        _pause_step_set_continue(page, run, out, shot)
        deadline = time.time() + 600
        while store.read_status(run).get("state") != "completed" and time.time() < deadline:
            time.sleep(0.5)
        LONG_TASKS.extend(page.evaluate("() => window.__lat.long"))
        WS_MESSAGES.extend(page.evaluate("() => window.__lat.ws"))
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
    rows += [(a / 1000, (a + d) / 1000, "browser main thread busy") for a, d in LONG_TASKS]
    rows += [(t / 1000, t / 1000, f"websocket {way} {n:,} bytes") for t, way, n in WS_MESSAGES]
    rows.sort()
    for line in FRAMES:
        say("  " + line)
    for click, seen in (IN_PAGE or list(zip(CLICKS, SEEN))):
        say(f"  click at +0 ms, answer seen at +{(seen - click) * 1000:.0f} ms; meanwhile:")
        for a, b, lab in rows:
            if b >= click - 1.0 and a <= seen:
                say(f"    {(a - click) * 1000:+7.0f} … {(b - click) * 1000:+7.0f} ms  {lab}")


def once(quick: bool, shots: Optional[Path]) -> dict:
    """One fresh server (with its warm worker, as scripts/app.sh starts it) and one walk through steer()."""
    import os
    for record in (CLICKS, SEEN, IN_PAGE, LONG_TASKS, FRAMES, WS_MESSAGES):
        record.clear()
    tmp = Path(tempfile.mkdtemp(prefix="gan-bench-steer-"))
    runs_dir = tmp / "runs"
    runs_dir.mkdir()
    server = None
    os.environ["GAN_WARM_WORKER"] = "1"  # as a user's server runs (tests turn it off for AppTests)
    trace = tmp / "trace.txt"
    os.environ["GAN_UI_TRACE"] = str(trace)  # the page writes where its time goes (ui_common.traced)
    try:
        server, url = start_server(runs_dir, tmp / "streamlit.log")
        from gan_core.jobs import worker
        t = time.time()
        while not worker.alive(runs_dir) and time.time() - t < 60:  # the user opens the page meanwhile
            time.sleep(0.1)
        out = steer(url, runs_dir, iterations=600 if quick else 1500, shots=shots)
    finally:
        stop_process(server)
        if trace.exists():
            _where_the_time_went(trace.read_text())
        if os.environ.get("GAN_BENCH_KEEP"):
            say(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for k, v in out.items():
        say(f"  {k}: {v}")
    return out


def main(argv=None) -> float:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--shots", default="", help="save screenshots into this folder")
    p.add_argument("--no-write", action="store_true", help="do not append to bench/RESULTS.md")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit("Debian's chromium is needed (scripts/setup.sh --dev installs it)")
    info = common.print_header("Steering a run from the page (Start → first point, Pause, Step)", args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    reps = args.repeats or (3 if args.quick else 5)
    outs = [once(args.quick, Path(args.shots) if args.shots and i == 0 else None) for i in range(reps)]
    keys = list(TARGETS) + ["set_s", "continue_s"]
    med = {k: statistics.median(o[k] for o in outs) for k in keys}
    span = {k: (min(o[k] for o in outs), max(o[k] for o in outs)) for k in keys}
    exact = all(o["status_after_step"] == o["step_shown"] == o["paused_at"] + 5 for o in outs)
    if not args.no_write:
        with open(ROOT / "bench" / "RESULTS.md", "a") as f:
            f.write(f"\n## Steering from the page ({info['date']}){' --quick' if args.quick else ''}\n\n"
                    f"`python -m bench.steer_latency{' --quick' if args.quick else ''}` · {info['cpu']}, "
                    f"{info['cores']} cores, load average {info.get('load average (1/5/15 min)', '?')} at the start; "
                    f"{reps} walks, "
                    "each with a fresh server; times from the page's own clock (click event → answer shown).\n\n"
                    "| figure | median | min – max | target |\n|---|---|---|---|\n"
                    + "".join(f"| {k} | {med[k]:.3f} s | {span[k][0]:.3f} – {span[k][1]:.3f} s | "
                              f"{'≤ %g s' % TARGETS[k] if k in TARGETS else ''} |\n" for k in keys)
                    + f"| step exact (+5 iterations) | {'yes' if exact else 'NO'} in every walk | | |\n")
    worst = max(med[k] / t for k, t in TARGETS.items())
    say(f"steering ({reps} walks, medians): start → first point {med['start_to_first_point_s']:.2f} s, pause "
        f"{med['pause_s'] * 1000:.0f} ms, step {med['step_s'] * 1000:.0f} ms; worst measured/target "
        f"{common.ratio(worst)}")
    return worst


if __name__ == "__main__":
    main()
