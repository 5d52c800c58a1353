"""ui_live_chart: which plotly.js it serves from the static files, and which figures it draws live (the rest go
to st.plotly_chart)."""
import tomllib
from pathlib import Path

import plotly.graph_objects as go

import ui.live_chart as lc

ROOT = Path(__file__).resolve().parents[1]


def test_served_plotly_js_is_the_installed_plotly_release_in_the_static_files():
    served = lc.STATIC / lc.SERVED["full"]
    assert served.is_file() and lc._version(served) == lc._version(lc.FULL_JS) is not None
    assert served.stat().st_size == lc.BUNDLE.stat().st_size and lc._version(lc.FULL_JS) in served.name
    if lc.CARTESIAN_JS.is_file():  # npm ci installed the cartesian bundle (package-lock.json): the small one
        assert lc.BUNDLE == lc.CARTESIAN_JS and served.stat().st_size < 2_500_000
    # the page can fetch it: Streamlit serves static/ beside app.py only when asked to
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableStaticServing"] is True and lc.STATIC == ROOT / "static"


def test_a_cartesian_bundle_of_another_release_is_not_used(tmp_path, monkeypatch):
    other = tmp_path / "plotly-cartesian.min.js"
    other.write_text("/**\n* plotly.js (cartesian - minified) v1.0.0\n*/\n")
    monkeypatch.setattr(lc, "CARTESIAN_JS", other)
    assert lc._choose_bundle() == (lc.FULL_JS, None)  # the figure JSON and plotly.js must agree
    same = tmp_path / "same.min.js"
    same.write_text(f"/**\n* plotly.js (cartesian - minified) v{lc._version(lc.FULL_JS)}\n*/\n")
    monkeypatch.setattr(lc, "CARTESIAN_JS", same)
    assert lc._choose_bundle() == (same, lc.CARTESIAN_TRACES)


def test_figures_with_traces_the_bundle_lacks_are_not_drawn_live(monkeypatch):
    monkeypatch.setattr(lc, "TRACES", lc.CARTESIAN_TRACES)
    assert lc.drawable(go.Figure([go.Scatter(x=[0, 1], y=[1, 0]), go.Heatmap(z=[[0, 1], [1, 0]])]))
    assert not lc.drawable(go.Figure([go.Scattergl(x=[0, 1], y=[1, 0])]))
    monkeypatch.setattr(lc, "TRACES", None)  # the full bundle draws everything
    assert lc.drawable(go.Figure([go.Scattergl(x=[0, 1], y=[1, 0])]))


def test_a_read_only_project_folder_leaves_the_charts_to_st_plotly_chart(tmp_path, monkeypatch):
    folder = tmp_path / "static"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        import os
        if os.access(folder, os.W_OK):  # root ignores the mode: make the copy fail as a read-only disk would
            def refuse(*a, **kw):
                raise PermissionError(13, "Read-only file system")
            monkeypatch.setattr(lc.shutil, "copyfile", refuse)
        assert lc._place(lc.BUNDLE, folder) is None
    finally:
        folder.chmod(0o700)
    monkeypatch.setitem(lc.SERVED, "full", None)
    assert not lc.drawable(go.Figure([go.Scatter(x=[0, 1], y=[1, 0])]))


def test_a_copy_is_made_once_and_named_by_its_release(tmp_path):
    src = tmp_path / "bundle.min.js"
    src.write_text(f"/**\n* plotly.js v{lc._version(lc.FULL_JS)}\n*/\nvar x = 1;\n")
    name = lc._place(src, tmp_path / "static")
    dest = tmp_path / "static" / name
    assert dest.read_text() == src.read_text() and lc._version(lc.FULL_JS) in name
    before = dest.stat().st_mtime_ns
    assert lc._place(src, tmp_path / "static") == name and dest.stat().st_mtime_ns == before  # kept, not rewritten
    assert [p.name for p in (tmp_path / "static").iterdir()] == [name]  # no temporary file left


def test_line_figures_get_the_basic_bundle_and_heat_maps_the_cartesian(monkeypatch):
    if lc.BASIC_JS.is_file():  # npm ci installed it (package-lock.json): served from static/, same release
        served = lc.STATIC / lc.SERVED["lines"]
        assert lc.LINES == lc.BASIC_JS and served.stat().st_size == lc.BASIC_JS.stat().st_size
        assert lc._version(served) == lc._version(lc.FULL_JS) and served.name != lc.SERVED["full"]
    monkeypatch.setitem(lc.SERVED, "lines", "plotly-lines-x.min.js")
    lines = go.Figure([go.Scatter(x=[0, 1], y=[1, 0], name="Ṽ"), go.Bar(x=[0], y=[1])])
    heat = go.Figure([go.Scatter(x=[0, 1], y=[1, 0]), go.Heatmap(z=[[0, 1], [1, 0]])])
    assert lc.bundle_for(lines) == "lines" and lc.bundle_for(heat) == "full"
    monkeypatch.setitem(lc.SERVED, "lines", None)   # no basic bundle of the installed release: the main one
    assert lc.bundle_for(lines) == "full"


def test_a_basic_bundle_of_another_release_is_not_used(tmp_path, monkeypatch):
    other = tmp_path / "plotly-basic.min.js"
    other.write_text("/**\n* plotly.js (basic - minified) v1.0.0\n*/\n")
    monkeypatch.setattr(lc, "BASIC_JS", other)
    assert lc._lines_bundle() is None
