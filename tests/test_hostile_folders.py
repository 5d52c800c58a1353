"""Hostile and careless inputs, round two: what a run folder holds (FIFOs, links, bad files), what a process
reads (control requests, recorded changes), and what a run consumes (disk, memory, threads) never takes down a
run, the list of runs, or a page. Each case goes through the command line or the page, as a user meets it, in
a child process with a time limit: a hang is a failure, not a stuck suite."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def cli(*args, timeout=60, env=None, check_one_line=True):
    """`python -m gan_core ARGS` → (rc, stdout, stderr); a traceback is always a failure."""
    r = subprocess.run([PY, "-m", "gan_core", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    if check_one_line and r.returncode != 0:
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A small completed gaussian1d run with a checkpoint, snapshots and no model (copied by each test)."""
    d = tmp_path_factory.mktemp("base") / "good"
    rc, out, err = cli("train", "--dataset", "gaussian1d", "--iterations", 60, "--run-dir", d, "--quiet",
                       "--no-export", "--checkpoint-every", 20, "--snapshot-every", 20, timeout=120)
    assert rc == 0, err
    return d


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def start_training(run_dir: Path, *extra) -> subprocess.Popen:
    p = subprocess.Popen([PY, "-m", "gan_core", "train", "--dataset", "gaussian1d", "--iterations", str(10 ** 7),
                          "--run-dir", str(run_dir), "--quiet", "--no-export", *map(str, extra)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        st = _status(run_dir)
        if st.get("state") == "running" and st.get("iteration", 0) > 0:
            return p
        assert p.poll() is None, p.communicate()
        time.sleep(0.05)
    p.kill()
    raise AssertionError("the run did not start")


def _status(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_state(run_dir: Path, states, timeout=30.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = _status(run_dir)
        if st.get("state") in states:
            return st
        time.sleep(0.05)
    raise AssertionError(f"state {_status(run_dir).get('state')!r}, expected one of {states}")


def finish(p: subprocess.Popen, timeout=30.0) -> tuple[int, str, str]:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"the trainer did not end within {timeout} s: {err[-1000:]}") from None
    assert "Traceback" not in err, err[-2000:]
    return p.returncode, out, err


# --- 1. anything in a run folder that is not a regular file -----------------------------------------

@pytest.mark.parametrize("name", ["status.json", "config.json", ".lock", "metrics.csv", "changes.jsonl"])
def test_a_fifo_in_one_run_folder_does_not_hang_the_list(tmp_path, finished_run, name):
    copy_run(finished_run, tmp_path / "good")
    bad = copy_run(finished_run, tmp_path / "bad")
    (bad / name).unlink(missing_ok=True)
    os.mkfifo(bad / name)
    rc, out, err = cli("runs", "--root", tmp_path, timeout=30)
    assert rc == 0, err
    lines = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert "completed" in lines["good"]
    if name in ("status.json", "config.json", ".lock"):
        assert "broken" in lines["bad"] and "not a regular file" in lines["bad"], out


def test_a_fifo_or_a_folder_in_place_of_a_file_does_not_hang_resume(tmp_path, finished_run):
    for name, make in (("status.json", os.mkfifo), ("metrics.csv", os.mkfifo), ("checkpoints/last.pt", os.mkfifo),
                       ("metrics.csv", os.mkdir)):
        run = copy_run(finished_run, tmp_path / f"r{len(list(tmp_path.iterdir()))}")
        (run / name).unlink()
        make(run / name)
        rc, out, err = cli("train", "--run-dir", run, "--resume", "--iterations", 80, "--quiet", "--no-export",
                           timeout=60)
        assert rc != 0 and name.split("/")[-1] in err, (name, err)


# --- 2. links inside a run folder ------------------------------------------------------------------

def test_a_lock_linked_to_another_file_is_never_written_through(tmp_path, finished_run):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    run = copy_run(finished_run, tmp_path / "run")
    (run / ".lock").unlink(missing_ok=True)
    (run / ".lock").symlink_to(victim)
    rc, out, err = cli("train", "--run-dir", run, "--resume", "--iterations", 80, "--quiet", "--no-export")
    assert victim.read_text() == "precious\n"
    assert rc != 0 and "link" in err, err


@pytest.mark.parametrize("name", ["snapshots", "checkpoints", "metrics.csv", "control"])
def test_a_linked_folder_or_file_in_a_run_is_refused_and_nothing_is_written_outside(tmp_path, finished_run, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    run = copy_run(finished_run, tmp_path / "run")
    target = outside / name
    if (run / name).is_dir():
        shutil.move(run / name, target)
    elif (run / name).exists():
        shutil.move(run / name, target)
    else:
        target.mkdir()
    (run / name).symlink_to(target)
    before = sorted(p.name for p in target.rglob("*")) if target.is_dir() else target.read_bytes()
    rc, out, err = cli("train", "--run-dir", run, "--resume", "--iterations", 80, "--quiet", "--no-export")
    after = sorted(p.name for p in target.rglob("*")) if target.is_dir() else target.read_bytes()
    assert after == before
    assert rc != 0 and "link" in err, err


def test_the_run_zip_holds_no_file_reached_through_a_link(tmp_path, finished_run):
    import zipfile
    from io import BytesIO

    from gan_core.runs import transfer
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the zip")
    run = copy_run(finished_run, tmp_path / "run")
    (run / "notes.txt").symlink_to(secret)
    (run / "more").symlink_to(tmp_path, target_is_directory=True)
    names = zipfile.ZipFile(BytesIO(transfer.run_zip_bytes(run))).namelist()
    assert names and not any("notes.txt" in n or n.startswith("more") or "secret" in n for n in names), names
    assert any(n.endswith("config.json") for n in names)


# --- 3. --out onto what is not a regular file ---------------------------------------------------------

@pytest.fixture(scope="module")
def ring8_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model") / "ring8"
    rc, out, err = cli("train", "--dataset", "ring8", "--iterations", 40, "--run-dir", d, "--quiet", timeout=180)
    assert rc == 0, err
    return d / "generator.onnx"


def test_generate_out_to_dev_stdout_prints_the_samples(ring8_model):
    rc, out, err = cli("generate", ring8_model, "--n", 5, "--seed", 1, "--out", "/dev/stdout")
    assert rc == 0, err
    rows = [line for line in out.splitlines() if line and line[0] in "-0123456789"]
    assert len(rows) == 5, out


def test_out_through_a_link_writes_its_target_and_keeps_the_link(tmp_path, ring8_model):
    target = tmp_path / "samples.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    rc, out, err = cli("generate", ring8_model, "--n", 5, "--seed", 1, "--out", link)
    assert rc == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() != "old\n" and len(target.read_text().splitlines()) >= 5


def test_out_onto_a_folder_is_refused_in_one_line(tmp_path, ring8_model):
    (tmp_path / "d").mkdir()
    rc, out, err = cli("generate", ring8_model, "--n", 5, "--out", tmp_path / "d")
    assert rc != 0 and ("folder" in err.lower() or "directory" in err.lower()), err
    assert (tmp_path / "d").is_dir()


# --- 4. long loops answer a stop ----------------------------------------------------------------------

@pytest.mark.slow
def test_a_long_manual_stepping_answers_stop_and_is_one_change(tmp_path):
    run = tmp_path / "run"
    p = start_training(run)
    try:
        cli("control", run, "pause")
        wait_state(run, ("paused",))
        sent = subprocess.Popen([PY, "-m", "gan_core", "control", str(run), "step", "--what", "d", "--count", "100000"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        t = time.time()
        cli("stop", run)
        rc, out, err = finish(p, timeout=15)
        assert time.time() - t < 5
        sent.kill()
        sent.communicate()
    finally:
        p.kill()
    assert _status(run)["state"] == "stopped"
    changes = [json.loads(line) for line in (run / "changes.jsonl").read_text().splitlines() if line.strip()]
    steps = [c for c in changes if "step" in c]
    assert 1 <= len(steps) <= 2, len(steps)  # one record for the stepping (with its count), not one per step
    assert steps[0].get("count", 1) > 1


def test_step_counts_and_refits_are_bounded(tmp_path, finished_run):
    rc, out, err = cli("train", "--dataset", "ring8", "--refit-d", 10 ** 9, "--run-dir", tmp_path / "r",
                       "--iterations", 10)
    assert rc != 0 and "refit" in err, err
    rc, out, err = cli("control", finished_run, "step", "--count", 10 ** 9)
    assert rc != 0 and "count" in err, err


@pytest.mark.slow
def test_a_long_refit_answers_sigterm(tmp_path):
    run = tmp_path / "run"
    p = subprocess.Popen([PY, "-m", "gan_core", "train", "--dataset", "ring8", "--iterations", "20", "--refit-d",
                          "100000", "--run-dir", str(run), "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_state(run, ("running",))
        deadline = time.time() + 60
        while time.time() < deadline and _status(run).get("iteration", 0) < 20:
            time.sleep(0.05)
        time.sleep(1.0)  # inside the refit now
        t = time.time()
        p.send_signal(signal.SIGTERM)
        finish(p, timeout=15)
        assert time.time() - t < 5
    finally:
        p.kill()
    assert _status(run)["state"] in ("stopped", "completed")


# --- 5. malformed control requests --------------------------------------------------------------------

@pytest.mark.slow
def test_malformed_control_requests_get_an_answer_and_the_run_goes_on(tmp_path):
    run = tmp_path / "run"
    p = start_training(run)
    try:
        box = run / "control"
        box.mkdir(exist_ok=True)
        bad = {"a": {"id": "a", "command": "set", "changes": "ab"},
               "b": {"id": "b", "command": "set", "changes": [1]},
               "c": {"id": "c" * 300, "command": "pause"},
               "d": {"id": "d", "command": "step", "count": "many"},
               "e": {"id": "e", "command": "set", "changes": {"lr_d": 1e400}},
               "f": [1, 2, 3]}
        for name, body in bad.items():
            (box / f"{time.time_ns():020d}-{name}.json").write_text(json.dumps(body).replace("Infinity", "1e400"))
        (box / f"{time.time_ns():020d}-g.json").write_bytes(b"\xff\xfe not json")
        time.sleep(1.5)
        assert p.poll() is None, finish(p)
        assert _status(run)["state"] == "running"
        for name in "abde":
            ans = json.loads((box / f"{name}.done").read_text())
            assert ans["ok"] is False and ans["message"], (name, ans)
        assert not any(len(n.name) > 255 for n in box.iterdir())
        cli("stop", run)
        rc, out, err = finish(p)
        assert rc == 0 and _status(run)["state"] == "stopped"
    finally:
        p.kill()


# --- 6. a bad metrics.csv ----------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["bad byte", "folder"])
def test_runs_page_shows_one_line_for_a_bad_metrics_file(tmp_path, finished_run, monkeypatch, how):
    from streamlit.testing.v1 import AppTest
    copy_run(finished_run, tmp_path / "a-good")
    bad = copy_run(finished_run, tmp_path / "z-bad")
    os.utime(bad / "status.json")  # the newest run: the page opens on it
    if how == "bad byte":
        with open(bad / "metrics.csv", "ab") as f:
            f.write(b"70,\xff\xfe,1,2,3,4,5\n")
    else:
        (bad / "metrics.csv").unlink()
        (bad / "metrics.csv").mkdir()
    monkeypatch.setenv("GAN_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py")
    at.query_params["run"] = ["a-good", "z-bad"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = "\n".join(str(e.value) for e in [*at.error, *at.warning, *at.caption, *at.markdown])
    assert "z-bad" in shown and "metrics.csv" in shown
    rc, out, err = cli("train", "--run-dir", bad, "--resume", "--iterations", 80, "--quiet", "--no-export")
    assert rc != 0 and "metrics.csv" in err


# --- 7. disk -----------------------------------------------------------------------------------------

def test_a_run_that_would_not_fit_on_the_disk_is_refused_before_it_starts(tmp_path):
    rc, out, err = cli("train", "--dataset", "ring8", "--iterations", 1_000_000, "--snapshot-every", 1,
                       "--run-dir", tmp_path / "huge")
    assert rc != 0 and ("GB" in err or "disk" in err or "space" in err), err
    assert not (tmp_path / "huge").exists() or not any((tmp_path / "huge").iterdir())


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("a small disk needs mount (root): " + r.stderr.decode().strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.slow
def test_a_full_disk_stops_the_run_cleanly_and_it_resumes_once_space_is_freed(small_disk, tmp_path):
    run = small_disk / "run"
    filler = small_disk / "filler.bin"
    # a run that fits on the disk when it starts (a longer one is refused before it starts), filled meanwhile
    p = start_training(run, "--snapshot-every", 1000, "--checkpoint-every", 50, "--iterations", 30_000)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (run / "checkpoints" / "last.pt").exists():
            time.sleep(0.05)
        with open(filler, "wb") as f:  # fill what is left
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        rc, out, err = finish(p, timeout=60)
    finally:
        p.kill()
    st = _status(run)
    assert st["state"] in ("stopped", "failed"), st
    assert "space" in st.get("message", "").lower() or "disk" in st.get("message", "").lower(), st
    assert rc != 0 and len(err.strip().splitlines()) <= 2
    filler.unlink()
    before = st["iteration"]
    rc, out, err = cli("train", "--run-dir", run, "--resume", "--iterations", before + 40, "--quiet",
                       "--no-export", "--snapshot-every", 1000)
    assert rc == 0, err
    assert _status(run)["state"] == "completed"


# --- 8. a comparison lane killed -----------------------------------------------------------------------

@pytest.mark.slow
def test_members_of_a_killed_lane_become_interrupted_and_resume_from_zero(tmp_path):
    root = tmp_path / "cmp"
    p = subprocess.Popen([PY, "-m", "gan_core", "compare", "--dataset", "gaussian1d", "--vary", "k=1,2",
                          "--iterations", "200000", "--root", str(root), "--threads", "2", "--checkpoint-every",
                          "100000"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        members = []
        while time.time() < deadline:
            members = [d for d in root.iterdir() if (d / "status.json").exists()] if root.exists() else []
            if len(members) == 2 and all(_status(d).get("iteration", 0) > 0 for d in members):
                break
            time.sleep(0.1)
        pids = {_status(d)["pid"] for d in members}
        assert len(pids) == 2, pids  # one lane each
        victim = next(d for d in members if _status(d)["pid"] != p.pid)
        os.kill(_status(victim)["pid"], signal.SIGKILL)
        wait_state(victim, ("interrupted",), timeout=10)
        (root / "STOP").write_text("")
        finish(p, timeout=30)
    finally:
        p.kill()
    rc, out, err = cli("compare", "--resume", "--root", root, "--iterations", 50, timeout=120)
    assert rc == 0, err
    assert _status(victim)["state"] == "completed"


# --- 9. replay of a tampered record ------------------------------------------------------------------

@pytest.mark.parametrize("record, words", [
    ('{"iteration": 10, "d_done": 0, "set": {"lr_d": "fast"}}', "line 1"),
    ('{"iteration": 10, "d_done": 0, "set": {"k": 1e400}}', "line 1"),
    ('{"iteration": 1e30, "d_done": 0, "step": "d"}', "line 1"),
    ('{"iteration": 10, "d_done": 0, "set": {"iterations": 10}}', "iterations"),
    ('{"iteration": 10, "d_done": "x", "step": "g"}', "line 1"),
])
def test_replay_of_a_tampered_record_names_the_record(tmp_path, finished_run, record, words):
    run = copy_run(finished_run, tmp_path / "run")
    (run / "changes.jsonl").write_text(record + "\n")
    rc, out, err = cli("replay", run, "--run-dir", tmp_path / "again", "--quiet")
    assert rc != 0 and words in err and "changes.jsonl" in err, err


# --- 10. one picture ---------------------------------------------------------------------------------

def test_an_upload_of_one_picture_is_refused_before_training(tmp_path):
    """The Train page sets the batch to the data's size: one picture would train at batch 1, and a batch of one
    cannot be normalised (BatchNorm) nor exported."""
    from PIL import Image
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.new("L", (16, 16), 128).save(folder / "one.png")
    rc, out, err = cli("train", "--dataset", folder, "--iterations", 5, "--batch-size", 1, "--run-dir", tmp_path / "r")
    assert rc != 0 and "2" in err and ("image" in err or "picture" in err), err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


# --- 11. smaller ones ----------------------------------------------------------------------------------

def test_threads_beyond_reason_are_refused_by_name(tmp_path):
    rc, out, err = cli("train", "--dataset", "gaussian1d", "--threads", 1024, "--iterations", 5, "--run-dir",
                       tmp_path / "r")
    assert rc != 0 and "threads" in err and "memory" not in err, err


def test_a_run_name_with_a_newline_keeps_the_table_one_line_a_run(tmp_path, finished_run):
    copy_run(finished_run, tmp_path / "evil\nname")
    copy_run(finished_run, tmp_path / "plain")
    rc, out, err = cli("runs", "--root", tmp_path)
    assert rc == 0, err
    body = [line for line in out.splitlines() if "completed" in line]
    assert len(body) == 2 and len(out.strip().splitlines()) <= 3, out


def test_a_status_naming_pid_1_without_a_start_time_is_not_running(tmp_path, finished_run):
    run = copy_run(finished_run, tmp_path / "run")
    st = json.loads((run / "status.json").read_text())
    st.update(state="running", pid=1)
    st.pop("pid_start", None)
    (run / "status.json").write_text(json.dumps(st))
    rc, out, err = cli("runs", "--root", tmp_path)
    assert "interrupted" in out and "running" not in out, out


@pytest.mark.slow
def test_a_huge_network_under_a_memory_limit_gets_the_out_of_memory_line(tmp_path):
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2 ** 30, 3 * 2 ** 30))
    r = subprocess.run([PY, "-m", "gan_core", "train", "--dataset", "ring8", "--hidden", "8192", "--depth", "2",
                        "--snapshot-samples", "100000", "--iterations", "20", "--run-dir", str(tmp_path / "r"),
                        "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode != 0 and "memory" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
