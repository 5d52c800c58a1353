"""What a run folder holds is read without ever blocking and written without following a link; a bad file is
named in one line; the list of runs parses a run's files only when they change."""
import os
import threading

import pytest

from gan_core import files
from gan_core.runs import store
from gan_core.views.series import MetricsTail


def test_metrics_rows_with_bytes_that_are_not_text_are_left_out_and_named(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_bytes(b"iteration,value_estimate\n1,-1.2\n70,\xff\xfe\n3,-1.3\n")
    tail = MetricsTail(p)
    assert list(tail.read()["iteration"]) == [1, 3]
    assert tail.problem == "metrics.csv: line 3 holds bytes that are not text; such lines are left out"
    with open(p, "ab") as f:
        f.write(b"4,-1.4\n")
    assert list(tail.read()["iteration"]) == [1, 3, 4]


@pytest.mark.parametrize("make, kind", [(os.mkdir, "a folder"), (os.mkfifo, "a FIFO")])
def test_a_metrics_file_that_is_not_a_file_is_named_and_never_blocks(tmp_path, make, kind):
    make(tmp_path / "metrics.csv")
    tail = MetricsTail(tmp_path / "metrics.csv")
    done = []
    reader = threading.Thread(target=lambda: done.append(tail.read()), daemon=True)
    reader.start()
    reader.join(10)
    assert done and done[0].empty and tail.problem == f"metrics.csv is not a regular file ({kind})"


def test_resume_refuses_a_metrics_file_with_bytes_that_are_not_text_and_changes_nothing(tmp_path):
    p = tmp_path / "metrics.csv"
    body = b"iteration,value_estimate\n10,-1.2\n20,\xff\n30,-1.3\n"
    p.write_bytes(body)
    with pytest.raises(store.RunError, match=r"metrics.csv line 3 holds bytes that are not text \(0xff\)"):
        store.truncate_metrics(tmp_path, 10)
    assert p.read_bytes() == body


def test_open_regular_refuses_a_fifo_a_folder_and_a_link(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    for name, kind in (("fifo", "a FIFO"), ("dir", "a folder"), ("link", "a link")):
        with pytest.raises(files.NotRegularFile, match=f"{name} is not a regular file \\({kind}\\)"):
            files.read_regular(tmp_path / name)
    assert files.read_regular(tmp_path / "link", follow_links=True) == b"x"
    with pytest.raises(OSError, match="larger than"):
        files.read_regular(tmp_path / "file", max_bytes=0)


def _fake_run(root, name, **status):
    d = root / name
    d.mkdir()
    (d / "config.json").write_text('{"dataset": "ring8", "iterations": 10}')
    store.write_status(d, **{"state": "completed", "iteration": 10, "message": "finished", **status})
    return d


def test_the_list_of_runs_reads_a_run_again_only_when_its_files_change(tmp_path, monkeypatch):
    for name in ("a", "b", "c"):
        _fake_run(tmp_path, name)
    _fake_run(tmp_path, "live", state="running", pid=os.getpid(), pid_start=store.current_process_start())
    read, real = [], store.run_info
    monkeypatch.setattr(store, "run_info", lambda p: read.append(p.name) or real(p))
    assert {r.name: r.state for r in store.list_runs(tmp_path)} == \
        {"a": "completed", "b": "completed", "c": "completed", "live": "running"}
    assert sorted(read) == ["a", "b", "c", "live"]
    read.clear()
    store.list_runs(tmp_path)
    assert read == ["live"]  # a live run's process may die without a file changing: looked at every time
    read.clear()
    store.write_status(tmp_path / "b", state="stopped", message="stopped at iteration 10")
    (tmp_path / "c" / "config.json").unlink()
    infos = {r.name: r for r in store.list_runs(tmp_path)}
    assert sorted(read) == ["b", "live"] and infos["b"].state == "stopped" and "c" not in infos
    assert infos["a"].config == {"dataset": "ring8", "iterations": 10}


def test_a_status_naming_a_live_pid_without_its_start_time_is_interrupted(tmp_path):
    run = _fake_run(tmp_path, "r", state="running", pid=os.getpid())  # alive, but nothing says it is the trainer
    assert store.refresh_state(run)["state"] == "interrupted"
    store.write_status(run, state="running", pid=os.getpid(), pid_start=store.current_process_start() + 100)
    assert store.refresh_state(run)["state"] == "interrupted"  # the pid was reused by another process


@pytest.mark.parametrize("name", ["status.json", "config.json", ".lock"])
def test_the_runs_page_names_a_run_with_a_fifo_and_can_delete_it(tmp_path, monkeypatch, name):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest
    _fake_run(tmp_path, "good")
    bad = _fake_run(tmp_path, "bad")
    (bad / name).unlink(missing_ok=True)
    os.mkfifo(bad / name)
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py")
    at.query_params["run"] = ["bad"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"**bad** cannot be read: {name} is not a regular file (a FIFO)" in [e.value for e in at.error]
    at.button(key="delete").click().run()
    at.button(key="confirm_delete").click().run()
    assert not at.exception and not bad.exists() and (tmp_path / "good").exists()
