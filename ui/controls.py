"""Steering a training run from the Runs page: pause, step, slow motion, live changes, and extending a run.

Every action goes through gan_core.runs.control (the same channel as `python -m gan_core control`) and waits
for the trainer's answer, which is shown beside the button that caused it. Call these inside a fragment
so that a click reruns only the controls, not the charts.
"""
from __future__ import annotations

import streamlit as st

from gan_core.config import G_LOSSES, TrainConfig
from gan_core.engine import schedule
from gan_core.errors import GanError
from gan_core.jobs import launch
from gan_core.runs import control, store
from ui.common import traced

SPEEDS = {"full speed": 0.0, "50 it/s": 50.0, "20 it/s": 20.0, "10 it/s": 10.0, "5 it/s": 5.0, "2 it/s": 2.0,
          "1 it/s": 1.0}


def _say(key: str, ok: bool, text: str) -> None:
    st.session_state[key] = (ok, text)


def _show(key: str) -> None:
    msg = st.session_state.get(key)
    if msg:
        (st.success if msg[0] else st.error)(msg[1])


def _send(run_dir, name: str, key: str, quiet_if: str = "", **args) -> bool:
    """Send a command and show the trainer's answer; a refusal whose text holds quiet_if leaves the
    answer already shown in place."""
    try:
        with traced(f"command {name}"):
            ans = control.command(run_dir, name, timeout=10.0, **args)
        _say(key, True, ans.get("message", "done"))
        return True
    except GanError as e:
        if not (quiet_if and quiet_if in str(e) and st.session_state.get(key)):
            _say(key, False, str(e))
        return False


def _step(run_dir, name: str, key: str, at: list) -> None:
    """Step from the position this button was drawn at. The same click can reach the server twice (a
    rerun queued behind another fragment's); the trainer refuses a step from a position it has left,
    and that refusal keeps the first answer on the page."""
    ss = st.session_state
    _send(run_dir, "step", key, quiet_if="this step was asked from", what=ss[f"step_what@{name}"],
          count=int(ss[f"step_count@{name}"]), at=at)


def current_settings(run_dir, status: dict) -> dict:
    """The live settings in force: the trainer's (status.json), else config.json's."""
    s = status.get("settings")
    if isinstance(s, dict) and s:
        return s
    try:
        cfg = TrainConfig.load(store.status_path(run_dir).parent / "config.json").resolved()
        return {k: getattr(cfg, k) for k in control.LIVE_SETTINGS}
    except GanError:
        return {}


def _apply_changes(run_dir, name: str, key: str, before: dict) -> None:
    ss = st.session_state
    new = {"lr_d": float(ss[f"live_lr_d@{name}"]), "lr_g": float(ss[f"live_lr_g@{name}"]),
           "k": int(ss[f"live_k@{name}"]), "g_loss": ss[f"live_g@{name}"], "batch_size": int(ss[f"live_m@{name}"]),
           "lr_decay": float(ss[f"live_decay@{name}"])}
    changes = {k: v for k, v in new.items() if before.get(k) != v}
    if changes:
        _send(run_dir, "set", key, changes=changes)
    else:
        _say(key, True, "nothing changed")


def live_controls(run_dir, status: dict, name: str) -> None:
    """Pause / Continue, Step (D, G, iterations), slow motion and live changes for a live run."""
    state = status.get("state")
    key = f"_ctl_msg@{name}"
    c1, c2, c3, c4, c5 = st.columns([1.1, 1.1, 1.2, 1.0, 1.6], vertical_alignment="bottom")
    # Callbacks run before the controls are drawn again, so they always show the state the click made.
    if state == "paused":
        c1.button("Continue", key=f"continue@{name}", icon=":material/play_arrow:", type="primary",
                  help="Carry on training from here.", on_click=_send, args=(run_dir, "continue", key))
    else:
        c1.button("Pause", key=f"pause@{name}", icon=":material/pause:", on_click=_send,
                  args=(run_dir, "pause", key),
                  help="Hold training after the current iteration; the views show that exact state.")
    c2.selectbox("Step", ["iteration", "d", "g"], key=f"step_what@{name}",  # read by _step, on the click
                 format_func={"iteration": "whole iterations", "d": "D steps", "g": "G steps"}.get,
                 help="While paused: one discriminator step (eq. 2), one generator step (eq. 3/4), or whole "
                      "iterations of Algorithm 1 (k D-steps, then one G-step).")
    c3.number_input("How many", 1, control.MAX_STEP_COUNT, 1, key=f"step_count@{name}")
    c4.button("Step", key=f"step@{name}", icon=":material/skip_next:", disabled=state != "paused",
              help="Pause first; each step is recorded, so replay repeats it.", on_click=_step,
              args=(run_dir, name, key, [int(status.get("iteration") or 0), int(status.get("d_done") or 0)]))
    current = status.get("ips") or 0.0
    labels = list(SPEEDS)
    now = next((k for k, v in SPEEDS.items() if v == current), labels[0])
    speed = c5.selectbox("Speed", labels, index=labels.index(now), key=f"speed@{name}",
                         help="Slow motion: at most this many iterations per second, with snapshots twice a "
                              "second so the samples visibly move.")
    if SPEEDS[speed] != current and st.session_state.get(f"_speed_sent@{name}") != speed:
        st.session_state[f"_speed_sent@{name}"] = speed
        _send(run_dir, "slow", key, ips=SPEEDS[speed])
    s = current_settings(run_dir, status)
    with st.expander("Change settings while it trains", icon=":material/tune:"):
        with st.form(f"live@{name}", border=False):
            a, b, c = st.columns(3)
            a.number_input("Learning rate of D", 1e-7, 1.0, float(s.get("lr_d", 2e-4)), format="%.2e",
                           key=f"live_lr_d@{name}", help="D's step size from the next iteration on.")
            b.number_input("Learning rate of G", 1e-7, 1.0, float(s.get("lr_g", 2e-4)), format="%.2e",
                           key=f"live_lr_g@{name}", help="G's step size from the next iteration on.")
            c.number_input("k — D steps per iteration", 1, 50, int(s.get("k", 1)), key=f"live_k@{name}",
                           help="Algorithm 1's k.")
            a.selectbox("Generator objective", list(G_LOSSES),
                        index=list(G_LOSSES).index(s.get("g_loss", G_LOSSES[0])), key=f"live_g@{name}",
                        help="non-saturating: ascend log D(G(z)) (eq. 3); minimax: descend "
                             "log(1 − D(G(z))) (eq. 4).")
            b.number_input("Batch size m", 1, 65_536, int(s.get("batch_size", 64)), key=f"live_m@{name}",
                           help="m real examples and m noise vectors per step.")
            c.number_input("Learning rate falls to (× initial)", 0.0, 1.0, float(s.get("lr_decay", 1.0)),
                           key=f"live_decay@{name}", help="1: constant; 0: linearly down to 0.")
            st.form_submit_button("Apply at the next iteration", icon=":material/check:",
                                  on_click=_apply_changes, args=(run_dir, name, key, s))
        st.caption("Each change is recorded in changes.jsonl with the iteration where it took effect (marked on "
                   "the charts), kept by Resume, and repeated by `python -m gan_core replay`.")
    _show(key)


def extend_controls(run_dir, status: dict, name: str, iterations: int) -> bool:
    """Resume or extend a run that is not training: states the learning rates it will use, lets the user
    set them, and refuses (with the reason) a continuation that would train at learning rate 0."""
    key = f"_ext_msg@{name}"
    done = int(status.get("iteration") or 0)
    s = current_settings(run_dir, status)
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    start = max(iterations, done + 1) if status.get("state") != "completed" else max(2 * done, done + 1)
    total = c1.number_input("Continue to a total of (iterations)", done + 1, 100_000_000, start,
                            key=f"ext_total@{name}")
    restart = c2.toggle("Restart the rate schedule", key=f"ext_restart@{name}",
                        help="The learning rates decay again from their values below, over the added iterations.")
    a, b = st.columns(2)
    lr_d = a.number_input("Learning rate of D", 1e-7, 1.0, float(s.get("lr_d", 2e-4)), format="%.2e",
                          key=f"ext_lr_d@{name}")
    lr_g = b.number_input("Learning rate of G", 1e-7, 1.0, float(s.get("lr_g", 2e-4)), format="%.2e",
                          key=f"ext_lr_g@{name}")
    changes = {k: v for k, v in (("lr_d", float(lr_d)), ("lr_g", float(lr_g))) if s and s.get(k) != v}
    ok = False
    if s:
        try:
            plan = schedule.extension_plan(s, done, int(total), changes, restart)
            st.caption("Will train " + schedule.describe_plan(plan, done, int(total)) + ".")
            ok = True
        except GanError as e:
            st.warning(str(e))
    if st.button("Resume", key=f"resume@{name}", icon=":material/play_arrow:", disabled=not ok,
                 help="Continue from the last checkpoint with these settings (recorded as a change)."):
        try:
            job = launch.resume_training(run_dir, int(total), changes=changes, restart_schedule=restart)
            launch.wait_started(job, run_dir, timeout=6.0)
            _say(key, True, f"resumed {name} towards {int(total):,} iterations")
            return True
        except GanError as e:
            _say(key, False, str(e))
    _show(key)
    return False
