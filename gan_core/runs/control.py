"""The control channel between a running trainer and whoever steers it (the CLI, the dashboard).

Commands are small JSON files dropped into RUN/control/ (written atomically, named so that they sort
in the order they were sent); the trainer polls the folder, applies each command and answers with
RUN/control/<id>.done. No sockets: the run directory stays the only meeting point, and a command sent
to a process that is not running is refused here, before anything is written.

Changes that alter the training trajectory (settings, manual D or G steps) are recorded by the trainer in
RUN/changes.jsonl with the position where they took effect — (iteration, D-steps done in it) — so that
`--resume` and `replay` reproduce them. Pause, continue and slow motion change only the timing.
Every request and every record is validated here (check_command, check_change) before anything acts on it:
whatever a file in the run folder holds, the trainer answers or names it, and goes on.
No torch here.
"""
from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, Optional

from gan_core.config import MAX_VALUES, TrainConfig, split_setting
from gan_core.errors import ConfigError, RunError
from gan_core.files import open_append, read_json, read_text, write_bytes_atomic, write_json_atomic
from gan_core.runs import store

CONTROL_DIR = "control"
CHANGES = "changes.jsonl"
COMMANDS = ("pause", "continue", "step", "slow", "set", "stop")
STEP_WHAT = ("d", "g", "iteration")
# Settings that may change while a run trains (each a TrainConfig field); the rest fix the networks or data.
LIVE_SETTINGS = {"lr_d": float, "lr_g": float, "k": int, "g_loss": str, "batch_size": int,
                 "lr_decay": float, "lr_decay_iterations": int, "lr_decay_start": int}
# Manual steps (or iterations) one `step` asks for, on the page and the command line alike: at ~1,000 D steps a
# second on gaussian1d, under two minutes of stepping, each answering a stop within the usual latency.
MAX_STEP_COUNT = 100_000
# A request's id names its answer file (<id>.done): a short, safe file name, never a path.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


# --- the sending side ------------------------------------------------------------------------------

def parse_setting(item: str) -> tuple[str, Any]:
    """'lr_d=1e-4' → ('lr_d', 0.0001); a one-line ConfigError for anything else."""
    key, raw = split_setting(item, LIVE_SETTINGS, "expected KEY=VALUE", "cannot be changed while training; live settings")
    try:
        return key, LIVE_SETTINGS[key](raw)
    except ValueError:
        raise ConfigError(f"{key}: {raw!r} is not a valid {LIVE_SETTINGS[key].__name__}") from None


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_settings(changes) -> dict:
    """Live settings as `set` takes them (and replay applies them): each a LIVE_SETTINGS key with a value of its
    type; a one-line ConfigError otherwise. Returns a copy. (Their bounds, which may depend on the run, are
    checked where they are applied: gan_core.engine.steering.Steering.apply_settings.)"""
    if not isinstance(changes, dict) or not changes:
        raise ConfigError("set needs at least one KEY=VALUE")
    for key, value in changes.items():
        kind = LIVE_SETTINGS.get(key)
        if kind is None:
            raise ConfigError(f"{str(key)[:40]!r} cannot be changed while training; live settings: "
                              f"{', '.join(LIVE_SETTINGS)}")
        ok = _whole(value) if kind is int else isinstance(value, kind) or kind is float and _whole(value)
        if not ok:
            raise ConfigError(f"{key} must be {'a whole number' if kind is int else 'a ' + kind.__name__}, "
                              f"got {value!r}"[:200])
    return dict(changes)


def check_command(command, args) -> dict:
    """Validate a command and its arguments (before it is sent, and again as the trainer takes it: a request
    file may hold anything); returns the normalised arguments, or raises a one-line ConfigError."""
    if not isinstance(command, str) or command not in COMMANDS:
        raise ConfigError(f"unknown command {str(command)[:40]!r}; choose one of {', '.join(COMMANDS)}")
    if not isinstance(args, dict):
        raise ConfigError("a request is a JSON object")
    out: dict = {}
    if command == "step":
        what = args.get("what", "iteration")
        count = args.get("count", 1)
        if not isinstance(what, str) or what not in STEP_WHAT:
            raise ConfigError(f"step --what must be one of {', '.join(STEP_WHAT)}, got {what!r}"[:200])
        if not _whole(count) or not 1 <= count <= MAX_STEP_COUNT:
            raise ConfigError(f"step --count must be a whole number from 1 to {MAX_STEP_COUNT:,}, got {count!r}"[:200])
        out = {"what": what, "count": count}
        at = args.get("at")
        if at is not None:  # compare-and-step: only from this position (iteration, D-steps done)
            if not isinstance(at, (list, tuple)) or len(at) != 2 or not all(_whole(v) and v >= 0 for v in at):
                raise ConfigError(f"step --at must be [iteration, D-steps done], got {at!r}"[:200])
            out["at"] = [int(at[0]), int(at[1])]
    elif command == "slow":
        ips = args.get("ips", 0)
        if isinstance(ips, bool) or not isinstance(ips, (int, float)) or not (ips == ips) or not 0 <= ips <= 1e6:
            raise ConfigError(f"slow --ips must be a number from 0 (full speed) to 1e6, got {ips!r}"[:200])
        out = {"ips": float(ips)}
    elif command == "set":
        out = {"changes": check_settings(args.get("changes"))}
    return out


def send(run_dir, command: str, **args) -> str:
    """Drop a command for the run's trainer; returns its id. Refused if no trainer is alive."""
    run_dir = Path(run_dir)
    if not store.is_run_dir(run_dir):
        raise RunError(f"{run_dir} is not a run directory")
    body = check_command(command, args)
    st = store.refresh_state(run_dir)
    if st.get("state") not in ("running", "paused"):
        raise RunError(f"{run_dir.name} is not training (state {st.get('state', 'unknown')}); "
                       "start or resume it first")
    cid = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    write_json_atomic(run_dir / CONTROL_DIR / f"{cid}.json", {"id": cid, "command": command, **body})
    return cid


def wait_done(run_dir, cid: str, timeout: float = 5.0) -> Optional[dict]:
    """The trainer's answer to command cid ({'ok': bool, 'message': str, ...}), or None on time-out."""
    path = Path(run_dir) / CONTROL_DIR / f"{cid}.done"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ans = read_json(path)
        if ans is not None:
            try:
                path.unlink()
            except OSError:
                pass
            return ans
        time.sleep(0.01)
    return None


def command(run_dir, name: str, timeout: float = 5.0, **args) -> dict:
    """Send and wait: the answer, or a RunError if the trainer did not answer in time."""
    cid = send(run_dir, name, **args)
    ans = wait_done(run_dir, cid, timeout)
    if ans is None:
        raise RunError(f"{Path(run_dir).name} did not answer within {timeout:g} s (it may be busy with a "
                       "snapshot or the final export); the command stays queued")
    if not ans.get("ok"):
        raise RunError(ans.get("message") or f"{name} refused")
    return ans


# --- the trainer's side -------------------------------------------------------------------------------

class Inbox:
    """Commands waiting in RUN/control/, oldest first. Only the trainer (the run's one writer) reads it."""

    def __init__(self, run_dir):
        self.dir = Path(run_dir) / CONTROL_DIR

    def clear(self, answers: bool = True) -> None:
        """Forget commands left unread (they were meant for a process that is gone) and stale answers."""
        if self.dir.is_dir():
            for p in self.dir.iterdir():
                if p.suffix in (".json", ".tmp") or answers and p.suffix == ".done":
                    p.unlink(missing_ok=True)

    def take(self) -> list[dict]:
        """The valid requests waiting, oldest first, each read once and removed. An invalid one is answered
        `ok: false` with the reason; one without a usable id (or not a JSON object) cannot be answered and is
        dropped, never acted on."""
        try:
            names = sorted(n for n in os.listdir(self.dir) if n.endswith(".json"))
        except OSError:  # no folder yet (or not one)
            return []
        out = []
        for n in names:
            p = self.dir / n
            msg = read_json(p)
            try:
                p.unlink(missing_ok=True)
            except OSError:  # a folder named like a request: nothing to take
                pass
            if msg is None or not answerable(msg):
                continue
            try:
                msg.update(check_command(msg.get("command"), msg))
                out.append(msg)
            except ConfigError as e:
                self.answer(msg, False, str(e))
        return out

    def answer(self, msg: dict, ok: bool, message: str, **extra) -> None:
        if answerable(msg):
            write_json_atomic(self.dir / f"{msg['id']}.done", {"ok": ok, "message": message, **extra})


def answerable(msg: dict) -> bool:
    """Whether a request's id can name its answer file (REQUEST_ID: short, no path, no dot first)."""
    cid = msg.get("id")
    return isinstance(cid, str) and REQUEST_ID.fullmatch(cid) is not None


# --- the record of changes ----------------------------------------------------------------------------

def check_change(ev) -> dict:
    """A record of changes.jsonl as replay applies it: {'iteration', 'd_done', 'set': {live settings}} or
    {'iteration', 'd_done', 'step': 'd' | 'g', 'count': n} (no count: one step, as every record once was);
    a one-line ConfigError otherwise. Returns the record normalised."""
    if not isinstance(ev, dict):
        raise ConfigError("not a recorded change (a JSON object with iteration, d_done and set or step)")
    out = {}
    for name in ("iteration", "d_done"):
        v = ev.get(name, 0)
        if not _whole(v) or not 0 <= v <= MAX_VALUES["iterations"]:
            raise ConfigError(f"{name} must be a whole number from 0 to {MAX_VALUES['iterations']:,}, got {v!r}"[:200])
        out[name] = v
    if ("set" in ev) == ("step" in ev):
        raise ConfigError("a recorded change holds either set or step")
    if "set" in ev:
        out["set"] = check_settings(ev["set"])
        TrainConfig(**out["set"]).resolved().validate()  # each setting's own bounds (k ≥ 1, a finite rate …)
        return out
    count = ev.get("count", 1)
    if ev["step"] not in ("d", "g"):
        raise ConfigError(f"step must be d or g, got {ev['step']!r}"[:200])
    if not _whole(count) or not 1 <= count <= MAX_STEP_COUNT:
        raise ConfigError(f"count must be a whole number from 1 to {MAX_STEP_COUNT:,}, got {count!r}"[:200])
    out["step"] = ev["step"]
    if "count" in ev:
        out["count"] = count
    return out


def read_changes(run_dir, strict: bool = False) -> list[dict]:
    """Every recorded change, in the order applied (check_change's form). A torn last line (a killed writer)
    is ignored. Any other record that is not a change is skipped, or with strict (replay, which applies them)
    refused: a RunError naming it (`changes.jsonl line N: ...`)."""
    path = Path(run_dir) / CHANGES
    try:
        lines = read_text(path).splitlines()  # a regular file only: a FIFO never blocks a reader
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        if strict:
            raise RunError(f"{CHANGES} cannot be read ({e})") from None
        return []
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            if n == len(lines):
                continue  # torn by a killed writer
            ev = None
        try:
            out.append(check_change(ev))
        except ConfigError as e:
            if strict:
                raise RunError(f"{CHANGES} line {n}: {e}") from None
    return out


def append_change(run_dir, event: dict) -> None:
    with open_append(Path(run_dir) / CHANGES) as f:  # never through a link
        f.write((json.dumps(event) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())


def keep_changes(run_dir, n: int) -> None:
    """Keep only the first n changes: those the checkpoint being resumed from had applied."""
    events = read_changes(run_dir)
    if len(events) != n and (Path(run_dir) / CHANGES).exists():
        write_bytes_atomic(Path(run_dir) / CHANGES, "".join(json.dumps(e) + "\n" for e in events[:n]).encode())
