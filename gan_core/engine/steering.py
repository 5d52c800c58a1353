"""The trainer's side of the control channel: pause, step, slow motion, and live changes that are
recorded in changes.jsonl with the position where they took effect and replayed there by --resume and
`python -m gan_core replay`.

A mixin of gan_core.engine.training.Trainer: it acts on the trainer's position (self.it, self.d_done),
its settings (self.cfg) and its one-update functions (self.d_step, self.g_step), and never writes a file
except through the trainer (status, rows, snapshots) and the channel's answers.
"""
from __future__ import annotations

import dataclasses
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


def live_settings(cfg: TrainConfig) -> dict:
    return {k: getattr(cfg, k) for k in control.LIVE_SETTINGS}


def _position(ev: dict) -> tuple[int, int]:
    return int(ev.get("iteration", 0)), int(ev.get("d_done", 0))


class Steering:
    """Pause, step, slow motion and live changes, for the Trainer that inherits them."""

    # --- changes: live, recorded, replayed --------------------------------------------------------------
    def apply_settings(self, changes: dict, record: bool = True) -> None:
        new = dataclasses.replace(self.cfg, **changes)
        new.validate()
        if self.ds.size is not None and new.batch_size > self.ds.size:
            raise ConfigError(f"batch size {new.batch_size} is larger than the dataset ({self.ds.size} examples)")
        if new.g_norm == "batch" and new.batch_size < 2:
            raise ConfigError("BatchNorm in the generator needs a batch size of at least 2")
        self.cfg = new
        self.set_learning_rates()
        if record:
            self._record({"set": changes})

    def manual_step(self, what: str) -> None:
        """A D or G step asked for by the user, outside the k:1 rhythm; recorded so replay repeats it."""
        self._record({"step": what})
        if what == "d":
            self.d_step()
        else:
            self.g_step()

    def _record(self, ev: dict) -> None:
        if self.dist.main:
            control.append_change(self.run_dir, {"iteration": self.it, "d_done": self.d_done, **ev})
        self.events_applied += 1

    def apply_due_changes(self) -> None:
        """Recorded changes (replay) whose position has been reached, in their recorded order."""
        while self.pending and _position(self.pending[0]) <= (self.it, self.d_done) and self.it < self.cfg.iterations:
            ev = self.pending.pop(0)
            if "set" in ev:
                self.apply_settings(ev["set"])
            elif ev.get("step") in ("d", "g"):
                self.manual_step(ev["step"])

    # --- the control channel ------------------------------------------------------------------------------
    def poll(self, force: bool = False) -> None:
        if self.dist.world > 1:
            return self.dist.poll(self, force, POLL_SECONDS)
        now = time.monotonic()
        if not force and now - self.last_poll < POLL_SECONDS:
            return
        self.last_poll = now
        if self.dist.main and not self.run_dir.is_dir():
            raise RunGone(f"{self.run_dir} was deleted")  # e.g. a paused run nobody will continue
        if self.stop_file.exists():
            self.stop.set = True
        for msg in self.inbox.take():
            try:
                self.handle(msg)
            except GanError as e:
                self.inbox.answer(msg, False, str(e))

    def handle(self, msg: dict) -> None:
        cmd, answer = msg["command"], self.inbox.answer
        if cmd == "pause":
            if self.paused:
                answer(msg, True, f"paused at iteration {self.it}", iteration=self.it)
                return
            # The answer first (status.json already says paused, at the exact iteration), then the snapshot
            # of this state: the page confirms the click without waiting for the heat maps' arithmetic.
            self.paused = True
            self._clock(False)
            self.flush(state="paused", message=self._paused_message("paused"))
            answer(msg, True, f"paused at iteration {self.it}", iteration=self.it)
            self.snapshot_now()
        elif cmd == "continue":
            self.paused, self.step_budget = False, 0
            self._clock(True)
            self.status(state="running", message="training")
            answer(msg, True, f"continuing from iteration {self.it}", iteration=self.it)
        elif cmd == "stop":
            self.stop.set = True
            answer(msg, True, "stopping after the current step")
        elif cmd == "slow":
            self.ips = float(msg["ips"])
            self.status()
            answer(msg, True, f"at most {self.ips:g} iterations per second" if self.ips else "full speed")
        elif cmd == "set":
            before = live_settings(self.cfg)
            self.apply_settings(msg["changes"])
            self.flush()
            changed = ", ".join(f"{k} {before[k]} → {v}" for k, v in msg["changes"].items())
            answer(msg, True, f"at iteration {self.it}: {changed}", iteration=self.it)
        elif cmd == "step":
            if not self.paused:
                raise RunError("pause the run before stepping it")
            at = msg.get("at")
            if at is not None and list(at) != [self.it, self.d_done]:
                # asked from a position the run has left (the same click delivered twice, a second tab)
                raise RunError(f"the run is at iteration {self.it} ({self.d_done} D-steps done), not at the "
                               f"iteration {at[0]} ({at[1]}) this step was asked from: nothing done")
            what, count = msg["what"], msg["count"]
            if what == "iteration":
                self.step_budget = min(count, self.cfg.iterations - self.it)
                self._clock(True)
                self.status(state="running", message=f"stepping {self.step_budget} iteration(s)")
                self.step_reply = msg  # answered when the last of them is done
                return
            self._clock(True)
            for _ in range(count):
                if self.it >= self.cfg.iterations:
                    break
                self.manual_step(what)
            self._clock(False)
            self.after_step(reply=(msg, f"{count} {what.upper()} step(s); at iteration {self.it}",
                                   {"iteration": self.it, "d_done": self.d_done}))

    def pause(self, message: str = "paused", reply: Optional[tuple] = None) -> None:
        self.paused = True
        self._clock(False)
        self.after_step(message, reply)

    def _paused_message(self, message: str) -> str:
        return f"{message} at iteration {self.it}" + (f" ({self.d_done} of {self.cfg.k} D-steps done)"
                                                      if self.d_done else "")

    def after_step(self, message: str = "paused", reply: Optional[tuple] = None) -> None:
        """The page shows the new state at once: rows and status on disk at the exact iteration, then the
        answer (reply: the command, its text, its fields), then a fresh snapshot of that state — the answer
        does not wait for the snapshot's arithmetic (~0.1 s for the heat maps), as a Pause does not."""
        self.flush(state="paused", message=self._paused_message(message))
        if reply is not None:
            msg, text, fields = reply
            self.inbox.answer(msg, True, text, **fields)
        self.snapshot_now()

    def wait_paused(self) -> None:
        while self.paused and not self.step_budget and not self.stop.set:
            time.sleep(PAUSED_POLL)
            self.poll(force=True)

    def slow_down(self, t_iter: float) -> None:
        """Slow motion: hold each iteration to 1/ips seconds, polling the channel while waiting."""
        target = t_iter + 1.0 / self.ips
        self._clock(False)
        while not self.stop.set and self.ips and not self.paused:
            left = target - time.monotonic()
            if self.dist.agree(left <= 0):  # rank 0's clock decides for all (same number of polls)
                break
            time.sleep(min(left, PAUSED_POLL))
            self.poll()
        self._clock(True)
        now = time.monotonic()
        if now - self.last_live_snapshot >= LIVE_SNAPSHOT_SECONDS:
            self.snapshot_now()
        if now - self.last_flush >= 0.25:
            self.flush()
