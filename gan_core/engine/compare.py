"""Training a comparison: N runs of one architecture that differ in seed, learning rates, objective, k or
prior, by one command: the members are stacked and every layer is applied to all of a stack's members at
once (gan_core.engine.stacked); on a CPU the members are split into lanes, a process and a stack each.

Each member is an ordinary run directory under the comparison's root (gan_core.runs.comparisons): it can be
exported, opened on the Generate page, and resumed alone with `train --resume`. The comparison stops as a
whole (ROOT/STOP, SIGINT/SIGTERM) and resumes as a whole (`compare --resume`); a member whose RUN/STOP
appears stops alone; a member that diverges is marked failed and the others go on. A lane process that dies
(SIGKILL, out of memory) leaves its members interrupted as soon as the first lane's process notices it (it
polls its children as it trains); resuming restarts a member that had no checkpoint yet from iteration 0.

Each member keeps its own random streams (the same draws as trained alone) and its own settings, so it
equals the same run trained alone up to float rounding (tests/test_compare.py).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path
from typing import Callable, Optional

from gan_core.config import TrainConfig
from gan_core.errors import RunError
from gan_core.files import write_bytes_atomic
from gan_core.runs import store
from gan_core.runs.comparisons import read_spec, write_spec
from gan_core.runs.paths import snapshot_dir

# --- training ---------------------------------------------------------------------------------------------

def compare(base: TrainConfig, root, vary: dict, seeds: int = 1, resume: bool = False,
            iterations: Optional[int] = None, threads: int = 0, log: Callable[[str], None] = lambda s: None) -> dict:
    """Create (or resume) the comparison in root and train it; returns {member name: final status}."""
    from gan_core.runs.runlock import acquire
    root = Path(root)
    spec = read_spec(root) if resume else write_spec(root, base, vary, seeds)  # comparison.json
    names = spec["members"]
    with contextlib.ExitStack() as locks:
        locks.enter_context(acquire(root, extra=tuple(names)))  # members: folders, never links
        cfgs, held, restart = [], {}, set()
        for n in names:
            d = root / n
            if resume:
                cfg = TrainConfig.load(d / "config.json")
                st = store.read_status(d)
                if st.get("state") == "failed":
                    log(f"{n}: failed earlier, left as it is")
                    continue
                cfg = dataclasses.replace(cfg, run_dir=str(d), **({"iterations": iterations} if iterations else {}))
                if not (d / store.CHECKPOINT).exists():
                    restart.add(str(d))  # its lane died before its first checkpoint: again from iteration 0
                elif st.get("iteration", 0) >= cfg.resolved().iterations:
                    continue  # done
            else:
                cfg = dataclasses.replace(base, run_dir=str(d), **spec["settings"][n],
                                          **({"iterations": iterations} if iterations else {}))
            held[str(d)] = locks.enter_context(acquire(d))
            cfgs.append(cfg)
        if not cfgs:
            raise RunError(f"{root.name}: every member has finished or failed; give --iterations larger to extend it")
        for d in restart:
            _forget_progress(Path(d))
        final = _train_in_lanes(cfgs, root, resume, threads, log, held, frozenset(restart))
    (root / "STOP").unlink(missing_ok=True)  # consumed: every lane has stopped
    return final


def _forget_progress(run_dir: Path) -> None:
    """What a member whose lane died before its first checkpoint had logged: it starts again from iteration 0."""
    store.truncate_metrics(run_dir, 0)
    for p in snapshot_dir(run_dir).glob("it_*.npz"):
        p.unlink(missing_ok=True)


def _lane_count(cfgs: list, threads: int) -> int:
    """Lanes for a comparison: on a CPU `threads` (default: the cores, at most 2), each a process; on a GPU one."""
    from gan_core.engine.device import resolve_device
    if resolve_device(cfgs[0].device).type != "cpu":
        return 1
    return max(1, min(threads or min(2, os.cpu_count() or 1), len(cfgs)))


def _train_in_lanes(cfgs: list, root: Path, resume: bool, threads: int, log, held: dict,
                    restart: frozenset = frozenset()) -> dict:
    """Train the members in lanes: on a CPU each lane is a process of its own (forked before torch computes
    anything) holding a stack of some of the members, larger k first, stepped with one torch thread (threads of
    one process would share the interpreter's lock and leave cores idle); the members' run directories and the
    comparison's STOP file are all the lanes share.
    This process trains the first lane and watches the others as it goes (a lane that dies leaves its members
    interrupted at once, their locks released: _Lanes); the locks it holds (held: run dir → lock) cover them all.
    restart: the run dirs of members resumed from iteration 0."""
    import multiprocessing
    import sys
    lanes = _lane_count(cfgs, threads)
    order = sorted(range(len(cfgs)), key=lambda i: -cfgs[i].k)
    groups = [[cfgs[i] for i in order[w::lanes]] for w in range(lanes)]
    if lanes == 1:
        return Comparison(groups[0], root, resume=resume, log=log, restart=restart).run()
    ctx = multiprocessing.get_context("fork")
    children = _Lanes(held, log)
    sys.stdout.flush()
    sys.stderr.flush()
    for g in groups[1:]:
        recv, send = ctx.Pipe(duplex=False)
        others = [lk.fd for d, lk in held.items() if lk.fd is not None and d not in {c.run_dir for c in g}]
        proc = ctx.Process(target=_lane_process, args=(g, root, resume, log, send, others, restart), daemon=False)
        proc.start()
        send.close()
        children.add(proc, recv, g)
    try:
        here = Comparison(groups[0], root, resume=resume, log=log, restart=restart, watch=children.poll)
        final = here.run()
        if here.stopped_all:  # SIGINT/SIGTERM to this process, or ROOT/STOP: the other lanes stop too
            write_bytes_atomic(root / "STOP", b"", durable=False)
    finally:
        if sys.exc_info()[0] is not None:  # this lane failed: the others stop too (they checkpoint)
            write_bytes_atomic(root / "STOP", b"", durable=False)
        results = children.wait()
    for kind, value in results:
        if kind == "error":
            raise RunError(f"a lane of the comparison failed: {value}")
        final.update(value)
    return final


class _Lanes:
    """The lane processes this one forked: their results as they come, and a lane that died without one
    noticed while this process trains its own (poll, from its loop) or waits (wait)."""

    def __init__(self, held: dict, log):
        self.held, self.log = held, log
        self.running: list = []   # (process, pipe end, member configs)
        self.results: list = []

    def add(self, proc, recv, cfgs) -> None:
        self.running.append((proc, recv, cfgs))

    def poll(self) -> None:
        """Collect the lanes that have ended (without blocking): is_alive reaps a dead child."""
        for lane in list(self.running):
            if lane[1].poll() or not lane[0].is_alive():
                self._collect(lane)

    def wait(self) -> list:
        """Every lane's result, ('ok', {member: final status}) or ('error', text), waiting for them."""
        for lane in list(self.running):
            self._collect(lane)
        return self.results

    def _collect(self, lane) -> None:
        proc, recv, cfgs = lane
        self.running.remove(lane)
        try:
            result = recv.recv()
        except EOFError:
            result = None  # it ended without a word: killed (SIGKILL, out of memory)
        proc.join()
        self.results.append(result or ("ok", self._died(cfgs, proc.exitcode)))

    def _died(self, cfgs: list, code) -> dict:
        """The members of a lane that died: interrupted (unless they had ended), their locks released so that
        every reader sees it; {member: final status}."""
        how = f"was killed (signal {-code})" if code is not None and code < 0 else f"ended (exit code {code})"
        final = {}
        for c in cfgs:
            d = Path(c.run_dir)
            st = store.read_status(d)
            if st.get("state") in store.LIVE_STATES:
                then = "its last checkpoint" if (d / store.CHECKPOINT).exists() else "iteration 0"
                st = store.write_status(d, state="interrupted", message=(
                    f"its lane of the comparison {how} near iteration {st.get('iteration', 0)}; resuming the "
                    f"comparison continues it from {then}"))
            self.log(f"{d.name}: {st.get('state')} — {st.get('message')}")
            lock = self.held.get(str(d))
            if lock is not None:
                lock.release()
            final[d.name] = st
        return final


def _lane_process(cfgs: list, root: Path, resume: bool, log, send, others: list, restart: frozenset) -> None:
    """A forked lane: train these members, send back their final statuses (or the error, in one line).
    others: the inherited descriptors of the other members' locks, closed here, so that those locks go with
    the processes training those members."""
    for fd in others:
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        send.send(("ok", Comparison(cfgs, root, resume=resume, log=log, restart=restart).run()))
    except BaseException as e:  # noqa: BLE001 — reported to the parent, which raises it
        send.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        send.close()


class _Looped:
    """Members one after another in this process, each with its own (fused) step: image pairs (no stacked
    form yet), and MLP members too wide for a stack to pay (STACK_MAX_ROWS_X_WIDTH)."""

    def __init__(self, trainers):
        self.t = trainers

    def discriminator_step(self, x, z, members, noise=None, penalties=None):
        import torch

        from gan_core.engine.algorithm import discriminator_step
        out = torch.zeros(3, x.shape[0], device=x.device)
        for i in members:
            t, n = self.t[i], None if noise is None else (noise[0][i], noise[1][i])
            p = None if penalties is None else penalties[i]
            r = t.fused.discriminator_step(x[i], z[i], n) if t.fused and p is None else \
                discriminator_step(t.G, t.D, t.opt_d, x[i], z[i], n, p)
            out[:, i] = torch.stack(r)
        return out[0], out[1], out[2]

    def generator_step(self, z, minimax, members, noise=None):
        import torch

        from gan_core.engine.algorithm import generator_step
        out = torch.zeros(z.shape[0], device=z.device)
        for i in members:
            t, obj = self.t[i], "minimax" if minimax[i] else "nonsaturating"
            n = None if noise is None else noise[i]
            out[i] = t.fused.generator_step(z[i], obj, n) if t.fused else \
                generator_step(t.G, t.D, t.opt_g, z[i], obj, n)
        return out


# Rows × width of one member's layer up to which a stack beats the members one after another (each with its
# fused step). Beyond it the stack's activations outgrow the core's cache and its copies cost more than the
# per-operation overhead it saves (bench.experiments --batch-size M compares the two). A fixed rule, so a
# comparison always runs the same way.
STACK_MAX_ROWS_X_WIDTH = 128 * 128


def stacks(cfg, device_type: str = "cpu") -> bool:
    """Whether a comparison of this config's MLP members is trained as a stack (else one after another).
    On a GPU always: there the members of a stack cost about what one costs."""
    return device_type != "cpu" or cfg.batch_size * cfg.hidden <= STACK_MAX_ROWS_X_WIDTH


class _Lane:
    """Some of the members, larger k first, stepped by one thread: as one stack (gan_core.engine.stacked)
    where that is faster, else one after another."""

    def __init__(self, trainers: list, members: list):
        from gan_core.engine import stacked
        self.members = members                      # member indices, in the stack's order
        self.pos = {i: p for p, i in enumerate(members)}
        Gs, Ds = [t.G for t in trainers], [t.D for t in trainers]
        if stacks(trainers[0].cfg, trainers[0].device.type) and stacked.supports(Gs, Ds) and all(
                stacked.fast_adam(t.opt_g) and stacked.fast_adam(t.opt_d) and not t.cfg.gradient_penalty
                for t in trainers):  # the stack has no second derivative for a gradient penalty
            self.steps = stacked.StackedSteps(Gs, Ds, [t.opt_g for t in trainers], [t.opt_d for t in trainers])
            self.how = "stacked"
        else:
            self.steps, self.how = _Looped(trainers), "one after another"

    def prefix(self, taking) -> tuple[list, list]:
        """(the first members of the stack a step must compute, the positions among them that take it)."""
        pos = [self.pos[i] for i in taking if i in self.pos]
        return (self.members[:1 + max(pos)] if pos else []), pos


class Comparison:
    """The members' Trainers (each owns its run directory, its models, optimisers and random streams) and the
    loop that steps them together."""

    def __init__(self, cfgs: list, root: Path, resume: bool, log=lambda s: None, restart: frozenset = frozenset(),
                 watch: Callable[[], None] = lambda: None):
        import torch

        from gan_core.engine.training import Trainer
        self.root, self.log, self.watch = root, log, watch  # watch: called at each poll (the other lanes)
        self.t = [Trainer(c, resume=resume and c.run_dir not in restart, log=log) for c in cfgs]
        for t in self.t:  # every core already trains a lane: a snapshot beside the loop would only compete
            t.later = False
        self.N = len(self.t)
        # One stack (a lane); on a CPU with one torch thread: a comparison's other lanes are processes of their
        # own (_train_in_lanes). Larger k first: a D step that only some members take (j ≥ the others' k)
        # computes a prefix of the stack, not every member masked (stacked.py).
        if self.t[0].device.type == "cpu":
            torch.set_num_threads(1)
        order = sorted(range(self.N), key=lambda i: -self.t[i].cfg.k)
        self.lane = _Lane([self.t[i] for i in order], order)
        self.how = self.lane.how
        self.stopped_all = False  # set when the whole comparison was asked to stop (a signal or ROOT/STOP)
        dev = self.t[0].device
        # the members' diagnostics, stacked: each Trainer's own tensors are views of its row
        self.acc = torch.stack([t.acc for t in self.t]).contiguous()
        self.recent = torch.stack([t.recent for t in self.t]).contiguous()
        for i, t in enumerate(self.t):
            t.acc, t.recent = self.acc[i], self.recent[i]
        self.last_v = torch.zeros(self.N, device=dev)
        self.active = list(range(self.N))
        self._row_cache: dict = {}

    # --- the members' lives --------------------------------------------------------------------------
    def _begin(self) -> None:
        """Every member starts as a run alone does (Trainer.begin), its status naming the comparison."""
        for t in self.t:
            t.begin(False, f"training (comparison {self.root.name})", world_size=1, comparison=str(self.root))

    def _end(self, i: int, final: dict) -> None:
        """Member i has ended as a run alone does (Trainer.end or Trainer.fail: final, its status): the loop
        leaves it."""
        self.final[self.t[i].run_dir.name] = final
        self.active.remove(i)
        self.log(f"{self.t[i].run_dir.name}: {final['state']} — {final['message']}")

    def _poll(self) -> None:
        if time.monotonic() - self.last_poll < 0.05:
            return
        self.last_poll = time.monotonic()
        self.watch()
        if (self.root / "STOP").exists():
            self.stop.set = True
        for i in list(self.active):
            t = self.t[i]
            for msg in t.inbox.take():
                if msg.get("command") == "stop":
                    write_bytes_atomic(t.stop_file, b"", durable=False)
                    t.inbox.answer(msg, True, "stopping after the current step")
                else:
                    t.inbox.answer(msg, False, "a comparison member can only be stopped; stop the comparison and "
                                               "resume the member alone to steer it")
            if t.stop_file.exists():
                self._end(i, t.end("stopped", f"stopped at iteration {t.it}; "
                                              "resume the comparison (or this run) to continue"))

    # --- the loop ------------------------------------------------------------------------------------
    def run(self) -> dict:
        from gan_core.engine.steering import StopFlag
        self.final: dict = {}
        self.last_poll = 0.0
        self._begin()
        self.log(f"comparison {self.root.name}: {self.N} members trained {self.how}")
        m = self.t[0].cfg.batch_size
        with StopFlag() as self.stop:
            while self.active and not self.stop.set:
                self._poll()
                if not self.active or self.stop.set:
                    break
                act = list(self.active)
                # one iteration of Algorithm 1 for every active member; then the ends of runs
                for i, e in self._lane_iteration(self.lane, act, m):
                    self._end(i, self.t[i].fail(e))
                for i in list(self.active):
                    t = self.t[i]
                    if i in act and t.it >= t.cfg.iterations:
                        self._end(i, t.end("completed", "finished", final_value_estimate=t.last_v))
            self.stopped_all = self.stop.set
            for i in list(self.active):
                t = self.t[i]
                self._end(i, t.end("stopped", f"stopped at iteration {t.it}; resume the comparison to continue"))
        return self.final

    def _zero_x(self, m):
        import torch
        t = self.t[0]
        x = t.sample_data.data if t.sample_data.data is not None else t.sample_data.centers
        return torch.zeros((m, *x.shape[1:]), device=t.device)

    def _d_inputs(self, first: list, taking: list, m: int) -> tuple:
        """The stacked real and latent batches of a D step for the stack's first members, with their noise and
        their gradient penalties (None each where none): each member that takes the step draws from its own
        streams, as Trainer.d_step does; the others get zeros."""
        import torch

        from gan_core.engine.models import sample_prior
        dev, xs, zs, ns, ps = self.t[0].device, [], [], [], []
        for i in first:
            t = self.t[i]
            if i in taking:
                xs.append(t.sample_data(m, t.rng))
                zs.append(sample_prior(m, t.cfg.latent_dim, t.cfg.prior, t.rng, dev))
                ns.append(t.instance_noise(m, 2))
                ps.append(t.penalty(m))
            else:
                xs.append(self._zero_x(m))
                zs.append(torch.zeros(m, self.t[0].cfg.latent_dim, device=dev))
                ns.append(None)
                ps.append(None)
        return torch.stack(xs), torch.stack(zs), self._stack_noise(ns, xs[0].shape, 2), ps

    def _stack_noise(self, ns: list, shape, n: int):
        """The members' instance noise (each [n, m, ...] from Trainer.instance_noise; zeros for a member
        without) stacked as [n, members, m, ...], or None when no member has any: the step is then the
        noiseless one, as a run alone takes it."""
        import torch
        if all(x is None for x in ns):
            return None
        zero = torch.zeros((n, *shape), device=self.t[0].device)
        return torch.stack([zero if x is None else x for x in ns], 1)

    def _g_inputs(self, first: list, taking: list, m: int) -> tuple:
        """The stacked latents of a G step and each member's objective (minimax or not)."""
        import torch

        from gan_core.engine.models import sample_prior
        dev = self.t[0].device
        zs, ns = [], []
        for i in first:
            t = self.t[i]
            if i in taking:
                zs.append(sample_prior(m, t.cfg.latent_dim, t.cfg.prior, t.rng, dev))
                ns.append(t.instance_noise(m, 1))
            else:
                zs.append(torch.zeros(m, self.t[0].cfg.latent_dim, device=dev))
                ns.append(None)
        key = ("minimax", tuple(first))
        if key not in self._row_cache:
            self._row_cache[key] = torch.tensor([self.t[i].cfg.g_loss == "minimax" for i in first], device=dev)
        noise = self._stack_noise(ns, (m, *self.t[0].ds.sample_shape), 1)
        return torch.stack(zs), self._row_cache[key], None if noise is None else noise[0]

    def _end_of_iteration(self, members: list) -> list:
        """The bookkeeping of the iteration for these members (one lane's), each as a run alone does it
        (Trainer.end_iteration): [(member, Diverged)] for those that diverged."""
        from gan_core.engine.training import Diverged
        failed = []
        for i in members:
            t = self.t[i]
            t.n_g += 1  # the lane's G step was theirs
            try:
                t.end_iteration()
            except Diverged as e:
                failed.append((i, e))
        return failed

    def _lane_iteration(self, lane, act: list, m: int) -> list:
        """One iteration of Algorithm 1 for the lane's active members, as Trainer.iteration: k D steps (a member
        with a smaller k sits the extra ones out), one G step, then each member's bookkeeping. Returns
        [(member, Diverged)]."""
        ############################
        # for k steps: update each member's D by ascending its stochastic gradient (eq. 2)
        #   ∇_θd (1/m) Σ_i [log D(x_i) + log(1 − D(G(z_i)))]
        ############################
        for j in range(max(self.t[i].cfg.k for i in lane.members if i in act)):
            self._lane_d_step(lane, [i for i in act if self.t[i].cfg.k > j], m)
        ############################
        # update each member's G by descending its stochastic gradient: minimax (eq. 4)
        #   ∇_θg (1/m) Σ_i log(1 − D(G(z_i)))
        # or non-saturating (eq. 3), ascending (1/m) Σ_i log D(G(z_i))
        ############################
        self._lane_g_step(lane, act, m)
        ############################
        # bookkeeping: each member's row, snapshot and checkpoint due
        ############################
        return self._end_of_iteration([i for i in lane.members if i in act])

    def _lane_d_step(self, lane, mem: list, m: int) -> None:
        """A D step of the members `mem` (the stack's first members computed, those outside mem masked):
        their diagnostics summed and their positions moved on, as Trainer.d_step does."""
        import torch
        first, pos = lane.prefix(mem)
        x, z, noise, pens = self._d_inputs(first, mem, m)
        # penalties only in lanes of members one after another (_Lane never stacks a member with one)
        extra = {"penalties": pens} if any(p is not None for p in pens) else {}
        v, d_real, d_fake = (r.float() for r in lane.steps.discriminator_step(x, z, pos, noise, **extra))
        idx, sel = self._rows(first, mem)
        self.acc[idx, 0:2] += torch.where(sel.unsqueeze(1), torch.stack([v, -v], 1), 0.0)
        self.acc[idx, 3:5] += torch.where(sel.unsqueeze(1), torch.stack([d_real, d_fake], 1), 0.0)
        self.last_v[idx] = torch.where(sel, v, self.last_v[idx])
        for i in first:
            if i in mem:
                self.t[i].n_d += 1
                self.t[i].d_done += 1

    def _lane_g_step(self, lane, act: list, m: int) -> None:
        """The G step of the members `act`: G's loss summed and each member's per-iteration loss kept, as
        Trainer.g_step does."""
        import torch
        first, pos = lane.prefix(act)
        z, minimax, noise = self._g_inputs(first, act, m)
        loss = lane.steps.generator_step(z, minimax, pos, noise)
        loss = (loss[0] if isinstance(loss, tuple) else loss).float()
        idx, sel = self._rows(first, act)
        self.acc[idx, 2] += torch.where(sel, loss, 0.0)
        rows = torch.tensor([self.t[i].it % self.t[i].cfg.log_every for i in first], device=self.t[0].device)
        cur = self.recent[idx, rows]
        self.recent[idx, rows] = torch.where(sel, loss + self.last_v[idx], cur)

    def _rows(self, first: list, taking: list) -> tuple:
        """(the members' rows, which of them take the step) as tensors; made once for each pair of lists (a
        lane meets a few: its prefixes and who takes each step), not twice an iteration."""
        import torch
        key = (tuple(first), tuple(taking))
        if key not in self._row_cache:
            dev = self.t[0].device
            self._row_cache[key] = (torch.tensor(first, device=dev),
                                    torch.tensor([i in taking for i in first], device=dev))
        return self._row_cache[key]
