"""The Runs page steers a live run (issue 10): Pause, Step, a live change of the objective, Continue, Stop,
through the same control channel as `python -m gan_core control`. The trainer runs in a thread of this
process (tiny nets); the page is driven by AppTest."""
import threading

from conftest import ROOT, wait_for
from streamlit.testing.v1 import AppTest

from gan_core.config import TrainConfig
from gan_core.engine.training import train
from gan_core.runs import control, store

MONITOR = "pages/runs.py"


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_runs_page_pauses_steps_changes_and_continues_a_live_run(runs_dir):
    d = runs_dir / "live"
    cfg = TrainConfig(dataset="ring8", run_dir=str(d), iterations=100_000, hidden=16, depth=2, batch_size=32,
                      snapshot_every=500, snapshot_samples=300, export_onnx=False, seed=1)
    th = threading.Thread(target=train, args=(cfg,), daemon=True)
    th.start()
    try:
        assert wait_for(lambda: store.read_status(d).get("state") == "running")
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        at.switch_page(MONITOR).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.button(key="step@live").disabled  # Step waits for a pause
        at.button(key="pause@live").click().run()
        st = store.read_status(d)
        assert st["state"] == "paused" and f"paused at iteration {st['iteration']}" in texts(at.success)
        at_pause = st["iteration"]
        at.number_input(key="step_count@live").set_value(5)
        at.button(key="step@live").click().run()
        assert store.read_status(d)["iteration"] == at_pause + 5
        assert f"stepped to iteration {at_pause + 5}" in texts(at.success)
        at.selectbox(key="live_g@live").set_value("minimax")
        submit = next(b for b in at.button if "Apply at the next iteration" in str(b.label))
        submit.click().run()
        assert "g_loss nonsaturating → minimax" in texts(at.success)
        assert control.read_changes(d)[-1] == {"iteration": at_pause + 5, "d_done": 0, "set": {"g_loss": "minimax"}}
        at.button(key="continue@live").click().run()
        assert wait_for(lambda: store.read_status(d)["iteration"] > at_pause + 20)
        at.button(key="stop").click().run()
        assert not at.exception
        th.join(60)
        st = store.read_status(d)
        assert st["state"] == "stopped" and st["settings"]["g_loss"] == "minimax"
    finally:
        if th.is_alive():
            store.request_stop(d)
            th.join(60)
