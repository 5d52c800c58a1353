"""Issue 11 and 13 on the pages (AppTest): the snapshot figure's toggles, Draw your own, Compare…"""
import json
import time
from pathlib import Path

import numpy as np
from test_pages import MONITOR, TRAIN, fake_run, page, qp, texts

from gan_core.runs import store
from gan_core.runs.paths import snapshot_path

ARROWS, MESH = "G's push −∇ₓ loss", "G's manifold (latent grid)"


def write_snapshot(run, it=100, g_loss="minimax", seed=0):
    rng = np.random.default_rng(seed)
    ax = np.linspace(-3, 3, 16)
    u = np.linspace(-2, 2, 5)
    (run / "snapshots").mkdir(exist_ok=True)
    np.savez(snapshot_path(run, it), iteration=it, samples=rng.normal(size=(60, 2)).astype(np.float32),
             grad_g=rng.normal(size=(60, 2)).astype(np.float32), g_loss=np.array(g_loss),
             manifold=np.stack(np.meshgrid(u, u, indexing="ij"), -1).astype(np.float32),
             grid_axes=np.array([ax, ax]), d=rng.uniform(size=256), d_star=rng.uniform(size=256))


def snapshot_traces(at) -> list:
    """(name, type) of every trace of the snapshot figure the page drew (the chart with the snapshot title)."""
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        if str(spec["layout"].get("title", {}).get("text", "")).startswith("snapshot"):
            return [(t.get("name"), t["type"]) for t in spec["data"]]
    raise AssertionError("no snapshot figure on the page")


def test_snapshot_toggles_add_and_remove_layers_of_one_figure(runs_dir):
    d = fake_run(runs_dir, "a", "completed")
    write_snapshot(d, 50, seed=1)
    write_snapshot(d, 100)
    at = page(MONITOR)
    names = [n for n, _ in snapshot_traces(at)]
    assert {"D(x)", "real", "generated", ARROWS, MESH} <= set(names) and "D*(x)" not in names
    assert all(t != "scattergl" for _, t in snapshot_traces(at))  # few points: SVG only
    assert "minimax arrows (eq. 4) nearly vanish where D(x) ≈ 0" in texts(at.caption)
    assert "here minimax" in texts(at.caption)
    pills = at.pills(key="snap_layers")
    pills.set_value(["real", "generated", "d", "d_star"]).run()  # arrows and mesh off, D* on
    names = [n for n, _ in snapshot_traces(at)]
    assert ARROWS not in names and MESH not in names and {"D(x)", "D*(x)"} <= set(names)
    assert "nearly vanish" not in texts(at.caption)
    at.pills(key="snap_layers").set_value(["arrows"]).run()
    assert [n for n, _ in snapshot_traces(at)] == [ARROWS]
    # remembered across pages
    at.switch_page(TRAIN).run()
    at.switch_page(MONITOR).run()
    assert at.pills(key="snap_layers").value == ["arrows"]
    # the slider replays an earlier snapshot with the same layers
    at.toggle(key="follow").set_value(False).run()
    at.select_slider(key="snap_it@a").set_value(50).run()
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "snapshot" in str(json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")))
    assert "iteration 50" in spec["layout"]["title"]["text"] and [t["name"] for t in spec["data"]] == [ARROWS]
    assert not at.exception


CANVAS = json.loads((Path(__file__).parent / "fixtures" / "canvas_fabric7.json").read_text())


def test_draw_your_own_previews_and_trains_on_the_drawing(runs_dir):
    import ui.draw as ui_draw
    at = page(TRAIN)
    at.radio(key="source").set_value("Draw your own").run()
    assert not at.exception
    assert "drawing is empty" in texts(at.info).lower() and not [b for b in at.button if b.key == "start"]
    at.session_state[ui_draw.KEY] = {"objects": CANVAS["objects"]}  # what the canvas would have sent
    at.slider(key="draw_std").set_value(0.05).run()
    assert not at.exception, [e.value for e in at.exception]
    preview = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if
                   "you drew" in json.loads(c.proto.spec)["layout"]["title"]["text"])
    pts = np.array([arr(preview["data"][0]["x"]), arr(preview["data"][0]["y"])]).T
    want = ui_draw.preview_points(CANVAS, 0.05)  # the page's own conversion: the same points
    np.testing.assert_allclose(pts, want[:len(pts)], atol=1e-6)
    assert qp(at, "data") == ["drawn"]
    for key, v in (("iterations@drawn", 30), ("log_every@drawn", 10), ("hidden@drawn", 16), ("depth@drawn", 2)):
        at.number_input(key=key).set_value(v)
    at.checkbox(key="export@drawn").uncheck()
    at.text_input(key="run_name@drawn").input("mine")
    at.button(key="start").click().run(timeout=60)
    assert not at.exception and not at.error, texts(at.error)
    run = runs_dir / "mine"
    wait_done(run)  # config.json appears once the process has started (it may still be importing torch)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset"] == str(run / "drawn_data.csv")  # the run trains on the CSV under it
    meta = json.loads((run / "drawing.json").read_text())
    assert meta["clicks"] == 3 and meta["strokes"] == 1 and meta["std"] == 0.05
    data = np.loadtxt(run / "drawn_data.csv", delimiter=",", skiprows=1)
    assert data.shape == (ui_draw.N_POINTS, 2)
    wait_done(run)
    assert store.read_status(run)["state"] == "completed", (run / "train.log").read_text()[-2000:]


def test_a_refused_drawn_start_leaves_no_folder(runs_dir, monkeypatch):
    import ui.draw as ui_draw
    from gan_core.errors import RunError
    from gan_core.jobs import launch

    def refuse(cfg, **kw):
        assert (runs_dir / "bad" / "drawn_data.csv").is_file()  # written before the start, under the run
        raise RunError("the training process refused the data")
    monkeypatch.setattr(launch, "start_and_wait", refuse)
    at = page(TRAIN)
    at.radio(key="source").set_value("Draw your own").run()
    at.session_state[ui_draw.KEY] = {"objects": CANVAS["objects"]}
    at.run()
    at.text_input(key="run_name@drawn").input("bad")
    at.button(key="start").click().run(timeout=60)
    assert "refused the data" in texts(at.error)
    assert not (runs_dir / "bad").exists()


def arr(v) -> np.ndarray:
    """A plotly JSON array: a list, or {dtype, bdata} (base64, the typed-array encoding)."""
    if isinstance(v, dict):
        import base64
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v, float)


def wait_done(run, timeout=150):
    deadline = time.monotonic() + timeout
    while store.read_status(run).get("state") not in ("completed", "failed", "stopped") and time.monotonic() < deadline:
        time.sleep(0.3)


def test_compare_starts_one_process_and_the_runs_page_groups_it(runs_dir):
    at = page(TRAIN)
    at.selectbox(key="dataset").set_value("ring8").run()
    for key, v in (("iterations@ring8", 40), ("log_every@ring8", 10), ("hidden@ring8", 16), ("depth@ring8", 2)):
        at.number_input(key=key).set_value(v)
    at.checkbox(key="export@ring8").uncheck()
    at.selectbox(key="cmp_key").set_value("g_loss").run()
    assert at.text_input(key="cmp_values").value == "minimax,nonsaturating"
    at.text_input(key="cmp_values").input("minimax,bogus").run()
    at.text_input(key="cmp_name").input("cmp")
    at.button(key="cmp_start").click().run()
    assert "choose from" in texts(at.error) and not (runs_dir / "cmp").exists()  # one line, nothing started
    at.text_input(key="cmp_values").input("minimax,nonsaturating")
    at.text_input(key="cmp_name").input("cmp")
    at.button(key="cmp_start").click().run()
    assert not at.exception and "**cmp** started: 2 members, one command" in texts(at.success), texts(at.error)
    members = [runs_dir / "cmp" / "g_loss-minimax", runs_dir / "cmp" / "g_loss-nonsaturating"]
    deadline = time.monotonic() + 120
    while not all(store.read_status(m).get("state") == "completed" for m in members) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert all(store.read_status(m).get("state") == "completed" for m in members), \
        (runs_dir / "cmp" / "compare.log").read_text()[-2000:]
    assert json.loads((members[0] / "config.json").read_text())["g_loss"] == "minimax"

    mon = page(MONITOR)
    assert {"cmp/g_loss-minimax", "cmp/g_loss-nonsaturating"} <= set(mon.dataframe[0].value["run"])
    assert "**cmp** · ring8 · g_loss = minimax, nonsaturating · 2 members" in texts(mon.markdown)
    mon.button(key="grp_show@cmp").click().run()
    assert mon.multiselect(key="sel").value == ["cmp/g_loss-minimax", "cmp/g_loss-nonsaturating"]
    value = next(json.loads(c.proto.spec) for c in mon.get("plotly_chart")
                 if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("Value of the game"))
    assert {"Ṽ (minibatch value) · cmp/g_loss-minimax", "Ṽ (minibatch value) · cmp/g_loss-nonsaturating"} <= \
        {t["name"] for t in value["data"]}
    assert mon.button(key="grp_stop@cmp").disabled  # finished: nothing to stop
    assert not mon.exception


def test_seed_comparison_shows_the_mean_with_a_band(runs_dir):
    c = runs_dir / "seeds"
    c.mkdir()
    members = ["seed-0", "seed-1", "seed-2"]
    store.write_json_atomic(c / "comparison.json", {"kind": "comparison", "dataset": "ring8", "vary": {}, "seeds": 3,
                                                   "members": members,
                                                   "settings": {m: {"seed": i} for i, m in enumerate(members)}})
    for i, m in enumerate(members):
        d = fake_run(c, m, "completed")
        (d / "metrics.csv").unlink()
        store.append_rows(d, store.BASE_COLUMNS, [{"iteration": it, "value_estimate": -1.0 - 0.1 * i, "d_loss": 1,
                                                 "g_loss": 1, "d_real": 0.5, "d_fake": 0.5, "elapsed_s": 1}
                                                for it in range(10, 101, 10)])
    at = page(MONITOR)
    at.button(key="grp_show@seeds").click().run()
    value = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                 if json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("Value of the game"))
    mean = next(t for t in value["data"] if t["name"].startswith("mean of 3 seeds"))
    band = next(t for t in value["data"] if t["name"].startswith("± 1 sd"))
    np.testing.assert_allclose(arr(mean["y"]), -1.1, atol=1e-9)  # mean of −1.0, −1.1, −1.2
    sd = np.std([-1.0, -1.1, -1.2])
    y = arr(band["y"])
    np.testing.assert_allclose(y[:10], -1.1 + sd, atol=1e-9)
    np.testing.assert_allclose(y[10:], -1.1 - sd, atol=1e-9)
    assert band["type"] == "scatter" and band["fill"] == "toself"  # SVG
