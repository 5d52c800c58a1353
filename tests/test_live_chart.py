"""ui_live_chart: which plotly.js it serves, and which figures it draws (the rest go to st.plotly_chart)."""
import plotly.graph_objects as go

import ui_live_chart as lc


def test_served_plotly_js_is_the_installed_plotly_release():
    served = lc.FOLDER / "plotly.min.js"
    assert served.is_file() and lc._version(served) == lc._version(lc.FULL_JS) is not None
    assert served.stat().st_size == lc.BUNDLE.stat().st_size
    if lc.CARTESIAN_JS.is_file():  # npm ci installed the cartesian bundle (package-lock.json): the small one
        assert lc.BUNDLE == lc.CARTESIAN_JS and served.stat().st_size < 2_500_000


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


def test_a_read_only_project_folder_serves_the_chart_from_the_temporary_folder(tmp_path, monkeypatch):
    import shutil
    real = shutil.copyfile

    def copy(src, dst, *a, **kw):
        if str(dst).startswith(str(lc.FOLDER)):
            raise PermissionError(13, "Read-only file system", str(dst))
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(lc.shutil, "copyfile", copy)
    monkeypatch.setattr(lc.tempfile, "gettempdir", lambda: str(tmp_path))
    stale = tmp_path / "bundle.min.js"  # a bundle the project folder does not hold yet
    stale.write_text("/**\n* plotly.js v0.0.1\n*/\n")
    folder = lc._place(stale)
    assert folder.parent == tmp_path and (folder / "index.html").read_text() == (lc.FOLDER / "index.html").read_text()
    assert (folder / "plotly.min.js").read_text() == stale.read_text()


def test_line_figures_get_the_basic_bundle_and_heat_maps_the_cartesian(tmp_path, monkeypatch):
    served = lc.FOLDER / lc.LINES_NAME
    if lc.BASIC_JS.is_file():  # npm ci installed it (package-lock.json): served beside index.html, same release
        assert lc.LINES == lc.BASIC_JS and served.stat().st_size == lc.BASIC_JS.stat().st_size
        assert lc._version(served) == lc._version(lc.FULL_JS)
    monkeypatch.setattr(lc, "LINES", lc.BASIC_JS)
    lines = go.Figure([go.Scatter(x=[0, 1], y=[1, 0], name="Ṽ"), go.Bar(x=[0], y=[1])])
    heat = go.Figure([go.Scatter(x=[0, 1], y=[1, 0]), go.Heatmap(z=[[0, 1], [1, 0]])])
    assert lc.bundle_for(lines) == "lines" and lc.bundle_for(heat) == "full"
    monkeypatch.setattr(lc, "LINES", None)   # no basic bundle of the installed release: everything gets the main one
    assert lc.bundle_for(lines) == "full"


def test_a_basic_bundle_of_another_release_is_neither_used_nor_left_served(tmp_path, monkeypatch):
    other = tmp_path / "plotly-basic.min.js"
    other.write_text("/**\n* plotly.js (basic - minified) v1.0.0\n*/\n")
    monkeypatch.setattr(lc, "BASIC_JS", other)
    assert lc._lines_bundle() is None
    folder = tmp_path / "frame"
    folder.mkdir()
    (folder / lc.LINES_NAME).write_text("/**\n* plotly.js (basic - minified) v1.0.0\n*/\n")  # from an older install
    main = tmp_path / "main.min.js"
    main.write_text(f"/**\n* plotly.js v{lc._version(lc.FULL_JS)}\n*/\n")
    assert lc._place(main, folder, lines=None) == folder
    assert not (folder / lc.LINES_NAME).exists() and (folder / "plotly.min.js").read_text() == main.read_text()
