"""A real browser against a real server, for the benches and the browser tests: a Streamlit server with its
own runs folder (and warm worker), headless Chromium (Debian's) that refuses every other host and counts the
attempts, and what the page shows — the Ṽ chart in the page or in a live chart's frame, the run table.

`figures` below is any object with `outside_requests` (a list) and `webgl_warnings` (an int), such as
bench.page_responsiveness.Figures. Tests and benches alike import it as tests.support.browser (tests/ is a
namespace package: it works under pytest and with `python -m bench.NAME` from the repository root).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")

# Counts WebGL contexts as the page creates them (plotly's Scattergl/heatmapgl make one per figure).
GL_PROBE = """(() => {
  const made = [];
  const orig = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function(kind, ...rest) {
    const ctx = orig.call(this, kind, ...rest);
    if (ctx && /webgl/.test(String(kind)) && !made.some(m => m.ctx === ctx)) made.push({canvas: this, ctx});
    return ctx;
  };
  window.__gl = () => ({created: made.length,
                        alive: made.filter(m => m.canvas.isConnected && !m.ctx.isContextLost()).length});
})();"""

# The Ṽ trace of the value chart: points plotted, and whether its line is drawn (an SVG path, or a gl canvas),
# looked for in the page and in its same-origin frames (a live chart is a component: an iframe). One call in
# the page, and waits poll inside the page: a bench polling over CDP every few ms takes CPU from the page.
VALUE_TRACE = """() => {
  const docs = [document];
  for (const f of document.querySelectorAll('iframe')) {
    try { if (f.contentDocument) docs.push(f.contentDocument); } catch (e) {}
  }
  let best = {n: -1, drawn: false, type: null};
  for (const doc of docs) for (const p of doc.querySelectorAll('.js-plotly-plot')) {
    const data = p._fullData || [];
    const i = data.findIndex(d => (d.name || '').startsWith('Ṽ'));
    if (i < 0) continue;
    const t = data[i];
    const n = (t.x && t.x.length) || 0;
    let drawn = false;
    if (t.type === 'scatter') {
      const paths = p.querySelectorAll('.scatterlayer .trace path.js-line');
      drawn = [...paths].some(e => (e.getAttribute('d') || '').length > 10);
    } else {
      drawn = !!p.querySelector('canvas') && p.getBoundingClientRect().height > 50;
    }
    if (n > best.n) best = {n, drawn, type: t.type};
  }
  return best;
}"""


def in_frames(page, js: str, arg=None) -> list:
    """js evaluated in the page and in each of its frames (a live chart is a component: an iframe)."""
    out = []
    for f in page.frames:
        try:
            out.append(f.evaluate(js, arg))
        except Exception:  # a frame still loading, or gone
            continue
    return out


def value_trace(page) -> dict:
    """VALUE_TRACE wherever the Ṽ chart is (the page, or a live chart's frame)."""
    try:
        return page.evaluate(VALUE_TRACE)
    except Exception:  # the page navigating
        return {"n": -1, "drawn": False, "type": None}


def wait_value(page, timeout_s: float = 90.0, polling_ms: int = 25) -> dict:
    """Wait until the Ṽ chart shows at least one point (the page polls itself)."""
    try:
        page.wait_for_function(f"() => ({VALUE_TRACE})().n > 0", timeout=timeout_s * 1000, polling=polling_ms)
    except Exception as e:
        if "Timeout" not in type(e).__name__ and "imeout" not in str(e):
            raise
        raise TimeoutError(f"no point on the Ṽ chart within {timeout_s:.0f} s") from None
    return value_trace(page)


# --- processes ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc) -> None:
    """SIGTERM (a server, a training run), then SIGKILL if it has not ended within 20 s. proc: a Popen, or a
    training run the warm worker started (gan_core.jobs.worker.Job: a pid and poll())."""
    if proc is None or proc.poll() is not None:
        return
    if not hasattr(proc, "send_signal"):
        deadline = time.monotonic() + 20
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                return
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if proc.poll() is not None:
                return
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_server(runs_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GAN_RUNS_DIR": str(runs_dir), "PYTHONPATH": str(ROOT)}
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    if os.environ.get("GAN_WARM_WORKER", "1") != "0":  # as scripts/app.sh does: the worker starts with the server
        from gan_core.jobs import worker
        worker.ensure(runs_dir, ROOT, parent=proc.pid)
    for _ in range(240):
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.25)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("streamlit did not start: " + log_path.read_text()[-2000:])


def run_now(run_dir: Path) -> tuple[float, float]:
    """(iteration the run is at now, extrapolated from its status.json; its rate in it/s)."""
    from gan_core.runs import store
    st = store.read_status(run_dir)
    rate = float(st.get("rate") or 0.0)
    since = max(0.0, time.time() - float(st.get("updated_at") or time.time()))
    return float(st.get("iteration", 0)) + rate * since, rate


# --- the browser -----------------------------------------------------------------------------------------

# Every request to another host is refused by the browser itself (a proxy at a closed port; loopback is never
# proxied) and counted. Not Playwright's request routing: routing turns the browser's HTTP cache off, so each
# new tab would fetch Streamlit's ~150 script files and plotly.js again, which no user's browser does.
BLOCK_OUTSIDE = ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=localhost;127.0.0.1;[::1]"]


def is_local(url: str) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return True
    host = url.split("/")[2] if "://" in url else ""
    return host.split(":")[0] in LOCAL_HOSTS or host.startswith("[::1]")


def open_browser(p, figures, viewport=(1400, 1000)):
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        *BLOCK_OUTSIDE])
    return browser, new_context(browser, figures, viewport)


def new_context(browser, figures, viewport=(1400, 1000)):
    """A browser profile of its own (an empty HTTP cache), probed and guarded as open_browser's."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
    ctx.add_init_script(GL_PROBE)
    ctx.on("request", lambda r: None if is_local(r.url) else figures.outside_requests.append(r.url))
    return ctx


def watch_console(page, figures) -> None:
    def on(msg):
        if "Too many active WebGL contexts" in msg.text:
            figures.webgl_warnings += 1
    page.on("console", on)


def wait_idle(page, timeout=60_000) -> None:
    page.wait_for_timeout(200)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def table_iteration(page, run: str) -> Optional[int]:
    """The iteration the page shows for `run` (its live progress line, or a table cell in the DOM)."""
    return page.evaluate("""(run) => {
        for (const e of document.querySelectorAll('[data-run-progress]')) {
            if (e.getAttribute('data-run-progress') === run) return parseInt(e.getAttribute('data-iteration'));
        }
        for (const row of document.querySelectorAll('[data-testid="stDataFrame"] [role="row"]')) {
            const cells = [...row.querySelectorAll('[role="gridcell"]')].map(c => c.textContent.trim());
            if (cells.includes(run)) {
                const it = cells.find(c => /^\\d+\\/\\d+$/.test(c));
                if (it) return parseInt(it.split('/')[0]);
            }
        }
        return null;
    }""", run)
