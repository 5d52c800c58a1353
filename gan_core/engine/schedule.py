"""The learning-rate schedule, and what extending a run will train with. Plain Python: no torch.

Both rates follow lr(i) = lr × f(i) with f falling linearly from 1 at iteration `start` to `final` at
`start + horizon`, constant outside. Algorithm 1 is unchanged; only the step size shrinks, which lets the
samples settle on the modes instead of jittering around them.
"""
from __future__ import annotations

from gan_core.errors import ConfigError


def lr_factor(i: int, final: float, horizon: int, start: int = 0) -> float:
    """f(i): 1 before `start`, then linearly down to `final` over `horizon` iterations, then `final`."""
    progress = min(max(i - start, 0), horizon) / horizon
    return 1.0 - (1.0 - final) * progress


def instance_sigma(i: int, sigma: float | None, horizon: int | None) -> float:
    """σ of the instance noise at iteration i: `sigma` falling linearly to 0 at `horizon`, 0 from there on."""
    if not sigma or not horizon or i >= horizon:
        return 0.0
    return float(sigma) * (1 - i / horizon)


def settings_factor(i: int, s: dict) -> float:
    return lr_factor(i, float(s["lr_decay"]), int(s["lr_decay_iterations"]), int(s.get("lr_decay_start") or 0))


def extension_plan(settings: dict, start: int, iterations: int, changes: dict | None = None,
                   restart_schedule: bool = False) -> dict:
    """What continuing from `start` to `iterations` will train with: the settings after `changes`, the
    learning rates at the first and last iteration, and the settings to record as a change. Refuses
    (ConfigError, with the reason) an extension that would train at learning rate 0."""
    s = dict(settings)
    change = dict(changes or {})
    if restart_schedule:
        change.setdefault("lr_decay_start", start)
        change.setdefault("lr_decay_iterations", max(1, iterations - start))
    s.update(change)
    f0, f1 = settings_factor(start, s), settings_factor(max(start, iterations - 1), s)
    plan = {"settings": s, "change": change, "lr_d_first": s["lr_d"] * f0, "lr_g_first": s["lr_g"] * f0,
            "lr_d_last": s["lr_d"] * f1, "lr_g_last": s["lr_g"] * f1}
    if f0 == 0.0:
        end = int(s.get("lr_decay_start") or 0) + int(s["lr_decay_iterations"])
        raise ConfigError(
            f"the learning-rate schedule reached 0 at iteration {end}, so continuing from {start} would train at "
            f"learning rate 0 and change nothing; restart the schedule (--restart-schedule: from "
            f"{s['lr_d']:.2g}/{s['lr_g']:.2g} down to {float(s['lr_decay']):g}× over iterations {start}–{iterations}) "
            "or set --lr-decay 1 for a constant rate")
    return plan


def describe_plan(plan: dict, start: int, iterations: int) -> str:
    return (f"iterations {start}–{iterations}: lr_d {plan['lr_d_first']:.3g} → {plan['lr_d_last']:.3g}, "
            f"lr_g {plan['lr_g_first']:.3g} → {plan['lr_g_last']:.3g}")
