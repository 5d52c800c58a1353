"""The trainer's side of the control channel: pause, step, slow motion, and live changes that are
recorded in changes.jsonl with the position where they took effect and replayed there by --resume and
`python -m gan_core replay`.

Steering is a helper the Trainer (gan_core.engine.training) holds as `trainer.steer`: it acts on the
trainer's position (it, d_done), its settings (cfg) and its steps (d_step, g_step, end_iteration), and writes
no file except through the trainer (status, rows, snapshots), changes.jsonl and the channel's answers.
StopFlag is the other way a run is stopped: SIGINT/SIGTERM.
"""
from __future__ import annotations

import dataclasses
import signal
import time
from typing import Optional

from gan_core.config import TrainConfig
from gan_core.errors import ConfigError, GanError, RunError
from gan_core.runs import control

POLL_SECONDS = 0.05     # how often the control folder and the STOP file are looked at while training
PAUSED_POLL = 0.01      # ... and while paused, when nothing else has to happen
LIVE_SNAPSHOT_SECONDS = 0.5  # slow motion: at least two snapshots a second, so the samples visibly move


class RunGone(Exception):
    """The run directory was deleted under the trainer: nothing is left to write to, so it ends."""


class ReplayError(GanError):
    """A recorded change that cannot be applied to the run replaying it: the run fails, naming it."""


class StopFlag:
    """SIGINT/SIGTERM set a flag; the loop stops after the current step (never mid-write)."""

    def __init__(self):
        self.set = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. called from a test runner thread)
                pass
        return self

    def _handle(self, signum, frame):
        self.set = True

    def __exit__(self, *exc):
        for sig, h in self._old.items():
            signal.signal(sig, h)


def live_settings(cfg: TrainConfig) -> dict:
    return {k: getattr(cfg, k) for k in control.LIVE_SETTINGS}


def _position(ev: dict) -> tuple[int, int]:
    return int(ev.get("iteration", 0)), int(ev.get("d_done", 0))


class Steering:
    """Pause, step, slow motion and live changes of one Trainer (self.t)."""

    def __init__(self, trainer, replay: Optional[list] = None):
        self.t = trainer
        self.paused = False
        self.step_budget = 0                 # iterations left of a `step --what iteration --count N`
        self.step_reply: Optional[dict] = None  # that step command, answered when the last of them is done
        self.ips = 0.0                       # slow motion: iterations per second (0: full speed)
        self.events_applied = 0              # changes.jsonl lines applied so far (a prefix of the file)
        # recorded changes still to apply (replay); stable sort: same-position changes keep their order
        self.pending: list = sorted(replay, key=_position) if replay else []
        self.last_poll = 0.0
        self.stepping: Optional[dict] = None  # the record of a manual stepping under way, written when it ends
        self.deferred: list = []             # commands that came during a manual stepping, handled after it

    # what distributed.Ranks.poll reads of the one it polls for
    @property
    def inbox(self):
        return self.t.inbox

    @property
    def stop_file(self):
        return self.t.stop_file

    @property
    def stop(self):
        return self.t.stop

    # --- between two steps ----------------------------------------------------------------------------
    def ready(self) -> bool:
        """Before any step: the channel's commands (between iterations: a pause's iteration is exact), a
        pause, the recorded changes due at this position. Whether the run's next step is to be taken now."""
        t = self.t
        if t.d_done == 0:
            self.poll()
        if self.paused and not self.step_budget:
            self.wait_paused()
            return False
        if self.pending:
            self.apply_due_changes()
        return t.it < t.cfg.iterations

    def after_iteration(self, t_iter: float) -> None:
        """After an iteration of the loop (t_iter: when its G step began): the last of a `step` command's
        iterations pauses the run and answers it; slow motion holds the iteration to 1/ips seconds."""
        if self.step_budget:
            self.step_budget -= 1
            if not self.step_budget:
                msg, it = self.step_reply, self.t.it
                self.pause(reply=(msg, f"stepped to iteration {it}", {"iteration": it}) if msg else None)
        elif self.ips:
            self.slow_down(t_iter)

    # --- changes: live, recorded, replayed --------------------------------------------------------------
    def apply_settings(self, changes: dict, record: bool = True) -> None:
        t = self.t
        new = dataclasses.replace(t.cfg, **changes)
        new.validate()
        if t.ds.size is not None and new.batch_size > t.ds.size:
            raise ConfigError(f"batch size {new.batch_size} is larger than the dataset ({t.ds.size} examples)")
        if new.g_norm == "batch" and new.batch_size < 2:
            raise ConfigError("BatchNorm in the generator needs a batch size of at least 2")
        t.cfg = new
        t.set_learning_rates()
        if record:
            self._record({"set": changes})

    def manual_steps(self, what: str, count: int) -> int:
        """`count` D or G steps asked for by the user, outside the k:1 rhythm (a G step ends its iteration, as
        in the loop); fewer if the run reaches its end or is asked to stop meanwhile (looked at as often as the
        loop does). Recorded as one change with its count, so that replay repeats it; a checkpoint inside it
        splits the record there (the checkpoint's count of changes applied stays exact). Returns the steps taken."""
        t, done = self.t, 0
        self.stepping = {"iteration": t.it, "d_done": t.d_done, "step": what, "count": 0}
        try:
            while done < count and t.it < t.cfg.iterations and not (done and self.stop_asked(done, count)):
                self.stepping["count"] += 1  # before the step: a checkpoint inside a G step's bookkeeping counts it
                done += 1
                if what == "d":
                    t.d_step()
                else:
                    t.g_step()
                    t.end_iteration()
        finally:
            self.close_stepping()
        return done

    def close_stepping(self, reopen: bool = False) -> None:
        """Record the manual stepping under way, if any, with the steps taken so far; reopen: its remaining
        steps start a record of their own here (a checkpoint is being written inside it)."""
        s, t = self.stepping, self.t
        if s is None:
            return
        if s["count"]:
            self._record({k: v for k, v in s.items() if k != "count" or v > 1})  # one step: no count, as ever
        self.stepping = dict(s, iteration=t.it, d_done=t.d_done, count=0) if reopen else None

    def stop_asked(self, done: int, count: int) -> bool:
        """Inside a manual stepping: whether a stop was asked (SIGINT/SIGTERM, the STOP file, a `stop` command),
        looked at every POLL_SECONDS as between the loop's steps; other commands wait until the stepping ends.
        The status says how far the stepping has got."""
        t = self.t
        now = time.monotonic()
        if t.dist.main and now - self.last_poll >= POLL_SECONDS:
            self.last_poll = now
            if t.stop_file.exists():
                t.stop.set = True
            if t.dist.world == 1:  # under torchrun the ranks exchange commands only between steps
                for msg in t.inbox.take():
                    if msg["command"] == "stop":
                        self.handle(msg)
                    else:
                        self.deferred.append(msg)
            # a user's stepping (the run is paused) says how far it has got; a replayed one is part of the run
            progress = {"message": f"stepping: {done:,} of {count:,} steps done"} if self.paused else {}
            t.status(durable=False, **progress)
        if t.dist.agree(t.stop.set or getattr(t.stop, "asked", False)):  # rank 0 decides for every rank
            t.stop.set = True
        return t.stop.set

    def _record(self, ev: dict) -> None:
        t = self.t
        if t.dist.main:
            control.append_change(t.run_dir, {"iteration": t.it, "d_done": t.d_done, **ev})
        self.events_applied += 1

    def apply_due_changes(self) -> None:
        """Recorded changes (replay) whose position has been reached, in their recorded order."""
        t = self.t
        while self.pending and _position(self.pending[0]) <= (t.it, t.d_done) and t.it < t.cfg.iterations:
            ev = self.pending.pop(0)
            try:
                if "set" in ev:
                    self.apply_settings(ev["set"])
                else:
                    self.manual_steps(ev["step"], ev.get("count", 1))
            except ConfigError as e:  # a setting valid alone but not for this run (a batch larger than its data)
                raise ReplayError(f"{control.CHANGES}: the change recorded at iteration {ev['iteration']} cannot be "
                                  f"applied: {e}") from None

    # --- the control channel ------------------------------------------------------------------------------
    def poll(self, force: bool = False) -> None:
        t = self.t
        if t.dist.world > 1:
            return t.dist.poll(self, force, POLL_SECONDS)
        now = time.monotonic()
        if not force and now - self.last_poll < POLL_SECONDS:
            return
        self.last_poll = now
        if t.dist.main and not t.run_dir.is_dir():
            raise RunGone(f"{t.run_dir} was deleted")  # e.g. a paused run nobody will continue
        if t.stop_file.exists():
            t.stop.set = True
        msgs, self.deferred = self.deferred + t.inbox.take(), []
        for msg in msgs:
            try:
                self.handle(msg)
            except GanError as e:
                t.inbox.answer(msg, False, str(e))

    def handle(self, msg: dict) -> None:
        t, cmd, answer = self.t, msg["command"], self.t.inbox.answer
        if cmd == "pause":
            if self.paused:
                answer(msg, True, f"paused at iteration {t.it}", iteration=t.it)
                return
            # The answer first (status.json already says paused, at the exact iteration), then the snapshot
            # of this state: the page confirms the click without waiting for the heat maps' arithmetic.
            self.paused = True
            t._clock(False)
            t.flush(state="paused", message=self._paused_message("paused"))
            answer(msg, True, f"paused at iteration {t.it}", iteration=t.it)
            t.snapshot_now()
        elif cmd == "continue":
            self.paused, self.step_budget = False, 0
            t._clock(True)
            t.status(state="running", message="training")
            answer(msg, True, f"continuing from iteration {t.it}", iteration=t.it)
        elif cmd == "stop":
            t.stop.set = True
            answer(msg, True, "stopping after the current step")
        elif cmd == "slow":
            self.ips = float(msg["ips"])
            t.status()
            answer(msg, True, f"at most {self.ips:g} iterations per second" if self.ips else "full speed")
        elif cmd == "set":
            before = live_settings(t.cfg)
            self.apply_settings(msg["changes"])
            t.flush()
            changed = ", ".join(f"{k} {before[k]} → {v}" for k, v in msg["changes"].items())
            answer(msg, True, f"at iteration {t.it}: {changed}", iteration=t.it)
        elif cmd == "step":
            self._step_command(msg)

    def _step_command(self, msg: dict) -> None:
        """`step`: N iterations of the loop (answered when the last is done), or N single D or G steps."""
        t = self.t
        if not self.paused:
            raise RunError("pause the run before stepping it")
        at = msg.get("at")
        if at is not None and list(at) != [t.it, t.d_done]:
            # asked from a position the run has left (the same click delivered twice, a second tab)
            raise RunError(f"the run is at iteration {t.it} ({t.d_done} D-steps done), not at the "
                           f"iteration {at[0]} ({at[1]}) this step was asked from: nothing done")
        what, count = msg["what"], msg["count"]
        if what == "iteration":
            self.step_budget = min(count, t.cfg.iterations - t.it)
            t._clock(True)
            t.status(state="running", message=f"stepping {self.step_budget} iteration(s)")
            self.step_reply = msg  # answered when the last of them is done
            return
        t._clock(True)
        done = self.manual_steps(what, count)
        t._clock(False)
        cut = f" of {count:,} asked (stopped)" if done < count and t.stop.set else ""
        self.after_step(reply=(msg, f"{done:,} {what.upper()} step(s){cut}; at iteration {t.it}",
                               {"iteration": t.it, "d_done": t.d_done}))

    def pause(self, message: str = "paused", reply: Optional[tuple] = None) -> None:
        self.paused = True
        self.t._clock(False)
        self.after_step(message, reply)

    def _paused_message(self, message: str) -> str:
        t = self.t
        return f"{message} at iteration {t.it}" + (f" ({t.d_done} of {t.cfg.k} D-steps done)" if t.d_done else "")

    def after_step(self, message: str = "paused", reply: Optional[tuple] = None) -> None:
        """The page shows the new state at once: rows and status on disk at the exact iteration, then the
        answer (reply: the command, its text, its fields), then a fresh snapshot of that state — the answer
        does not wait for the snapshot's arithmetic (the heat maps), as a Pause does not."""
        t = self.t
        t.flush(state="paused", message=self._paused_message(message))
        if reply is not None:
            msg, text, fields = reply
            t.inbox.answer(msg, True, text, **fields)
        t.snapshot_now()

    def wait_paused(self) -> None:
        while self.paused and not self.step_budget and not self.t.stop.set:
            time.sleep(PAUSED_POLL)
            self.poll(force=True)

    def slow_down(self, t_iter: float) -> None:
        """Slow motion: hold each iteration to 1/ips seconds, polling the channel while waiting."""
        t = self.t
        target = t_iter + 1.0 / self.ips
        t._clock(False)
        while not t.stop.set and self.ips and not self.paused:
            left = target - time.monotonic()
            if t.dist.agree(left <= 0):  # rank 0's clock decides for all (same number of polls)
                break
            time.sleep(min(left, PAUSED_POLL))
            self.poll()
        t._clock(True)
        now = time.monotonic()
        if now - t.last_live_snapshot >= LIVE_SNAPSHOT_SECONDS:
            t.snapshot_now()
        if now - t.last_flush >= 0.25:
            t.flush()
