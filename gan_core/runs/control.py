"""The control channel between a running trainer and whoever steers it (the CLI, the dashboard).

Commands are small JSON files dropped into RUN/control/ (written atomically, named so that they sort
in the order they were sent); the trainer polls the folder, applies each command and answers with
RUN/control/<id>.done. No sockets: the run directory stays the only meeting point, and a command sent
to a process that is not running is refused here, before anything is written.

Changes that alter the training trajectory (settings, manual D or G steps) are recorded by the trainer in
RUN/changes.jsonl with the position where they took effect — (iteration, D-steps done in it) — so that
`--resume` and `replay` reproduce them. Pause, continue and slow motion change only the timing.
No torch here.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Optional

from gan_core.config import split_setting
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
MAX_STEP_COUNT = 1_000_000


# --- the sending side ------------------------------------------------------------------------------

def parse_setting(item: str) -> tuple[str, Any]:
    """'lr_d=1e-4' → ('lr_d', 0.0001); a one-line ConfigError for anything else."""
    key, raw = split_setting(item, LIVE_SETTINGS, "expected KEY=VALUE", "cannot be changed while training; live settings")
    try:
        return key, LIVE_SETTINGS[key](raw)
    except ValueError:
        raise ConfigError(f"{key}: {raw!r} is not a valid {LIVE_SETTINGS[key].__name__}") from None


def check_command(command: str, args: dict) -> dict:
    """Validate a command and its arguments before it is sent; returns the normalised arguments."""
    if command not in COMMANDS:
        raise ConfigError(f"unknown command {command!r}; choose one of {', '.join(COMMANDS)}")
    out: dict = {}
    if command == "step":
        what = args.get("what", "iteration")
        count = args.get("count", 1)
        if what not in STEP_WHAT:
            raise ConfigError(f"step --what must be one of {', '.join(STEP_WHAT)}, got {what!r}")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_STEP_COUNT:
            raise ConfigError(f"step --count must be a whole number from 1 to {MAX_STEP_COUNT:,}, got {count!r}")
        out = {"what": what, "count": count}
        at = args.get("at")
        if at is not None:  # compare-and-step: only from this position (iteration, D-steps done)
            if not isinstance(at, (list, tuple)) or len(at) != 2 or \
                    not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in at):
                raise ConfigError(f"step --at must be [iteration, D-steps done], got {at!r}")
            out["at"] = [int(at[0]), int(at[1])]
    elif command == "slow":
        ips = args.get("ips", 0)
        if isinstance(ips, bool) or not isinstance(ips, (int, float)) or not (ips == ips) or not 0 <= ips <= 1e6:
            raise ConfigError(f"slow --ips must be a number from 0 (full speed) to 1e6, got {ips!r}")
        out = {"ips": float(ips)}
    elif command == "set":
        changes = dict(args.get("changes") or {})
        if not changes:
            raise ConfigError("set needs at least one KEY=VALUE")
        for key, value in changes.items():
            if key not in LIVE_SETTINGS:
                raise ConfigError(f"{key!r} cannot be changed while training")
            if not isinstance(value, LIVE_SETTINGS[key]) and not (LIVE_SETTINGS[key] is float and isinstance(value, int)):
                raise ConfigError(f"{key} must be a {LIVE_SETTINGS[key].__name__}, got {value!r}")
        out = {"changes": changes}
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
        try:
            names = sorted(n for n in os.listdir(self.dir) if n.endswith(".json"))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            p = self.dir / n
            msg = read_json(p)
            p.unlink(missing_ok=True)
            if isinstance(msg, dict) and msg.get("command") in COMMANDS:
                try:
                    msg.update(check_command(msg["command"], msg))
                    out.append(msg)
                except ConfigError as e:
                    self.answer(msg, False, str(e))
        return out

    def answer(self, msg: dict, ok: bool, message: str, **extra) -> None:
        cid = str(msg.get("id", ""))
        if cid and "/" not in cid:
            write_json_atomic(self.dir / f"{cid}.done", {"ok": ok, "message": message, **extra})


# --- the record of changes ----------------------------------------------------------------------------

def read_changes(run_dir) -> list[dict]:
    """Every recorded change, in the order applied: {'iteration', 'd_done', 'set': {...}} or
    {'iteration', 'd_done', 'step': 'd' | 'g'}. A torn last line (a killed writer) is ignored."""
    path = Path(run_dir) / CHANGES
    try:
        lines = read_text(path).splitlines()  # a regular file only: a FIFO never blocks a reader
    except (FileNotFoundError, OSError):
        return []
    out = []
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and isinstance(ev.get("iteration"), int) and ("set" in ev or "step" in ev):
            out.append(ev)
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
