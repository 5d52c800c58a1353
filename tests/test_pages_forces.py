"""Issue 11 and 13 on the pages (AppTest): the snapshot figure's toggles, Draw your own, Compare…"""
import json
import time

import numpy as np
import pytest

from gan_core import runs
from test_pages import MONITOR, TRAIN, fake_run, page, runs_dir, texts  # noqa: F401 (runs_dir: a fixture)

ARROWS, MESH = "G's push −∇ₓ loss", "G's manifold (latent grid)"


def write_snapshot(run, it=100, g_loss="minimax", seed=0):
    rng = np.random.default_rng(seed)
    ax = np.linspace(-3, 3, 16)
    u = np.linspace(-2, 2, 5)
    (run / "snapshots").mkdir(exist_ok=True)
    np.savez(run / "snapshots" / f"it_{it:08d}.npz", iteration=it, samples=rng.normal(size=(60, 2)).astype(np.float32),
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
