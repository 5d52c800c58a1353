"""The pair an export holds: the final G as it will be sampled, and D refit to that very G.

Rejection sampling by D (gan_core.theory.rejection) reads p_data/p_g off D through eq. (7), which holds for
the optimal D *of the G being sampled*. Two things stand between the game's last D and that one:

* G is sampled in eval mode, where BatchNorm uses running averages: an exponential average over the last
  ~10 minibatches of a G that was still moving. `population_batchnorm` replaces them by the final G's own
  statistics (a cumulative average over many minibatches; the weights are untouched). Training never reads
  running averages (it normalises by the minibatch), so the game itself is unchanged.
* The game's D trailed a moving G. Proposition 1: for G fixed, the D that maximises V(G, D) is
  D*_G = p_data / (p_data + p_g). `refit_discriminator` takes `steps` more D steps of eq. (2) (the D step of
  Algorithm 1, G frozen) from the game's last D towards it, the learning rate falling linearly to 0.

What it buys is measured by `python -m bench.mode_coverage` (grid25 with and without `--refit-d 0`).
Deterministic: fixed seeds, so the same run always exports the
same model (bitwise at the same torch threads). The checkpoint is not changed: a resumed run continues the
game itself.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from gan_core.engine.models import sample_prior
from gan_core.engine.objective import discriminator_loss, value_estimate
from gan_core.errors import GanError

BN_BATCHES = 200          # minibatches of G's population statistics
REFIT_LR = 3e-4           # Adam, betas (0.5, 0.999); falls linearly to 0 over the refit
REFIT_BATCH = 512         # m of each refit step (the measured setting, whatever the run's m)
REFIT_BETAS = (0.5, 0.999)
SEED = 20_251_128         # the refit's own streams (latents, data), apart from training's


class RefitStopped(GanError):
    """A stop was asked during the refit (SIGINT/SIGTERM, Stop while a run ends): no model is written."""


def population_batchnorm(generator: nn.Module, latent_dim: int, prior: str, batch_size: int,
                         batches: int = BN_BATCHES, seed: int = SEED) -> nn.Module:
    """A copy of generator (eval mode) whose BatchNorm running averages are its own population statistics:
    the cumulative average over `batches` minibatches of size batch_size, as in training. Unchanged copy
    when G has no BatchNorm."""
    g = copy.deepcopy(generator)
    norms = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return g.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # None: a cumulative (equal-weight) average over every minibatch seen
    gen = torch.Generator().manual_seed(seed)
    g.train()
    with torch.no_grad():
        for _ in range(int(batches)):
            g(sample_prior(int(batch_size), latent_dim, prior, gen, "cpu"))
    for m in norms:
        m.momentum = 0.1  # torch's default again, should anyone train the copy
    return g.eval()


def refit_discriminator(generator: nn.Module, discriminator: nn.Module, dataset, steps: int, batch_size: int,
                        latent_dim: int, prior: str, seed: int = SEED,
                        should_stop: Callable[[], bool] = lambda: False) -> tuple[nn.Module, float | None]:
    """A copy of D after `steps` D steps of eq. (2) against the fixed `generator` (used as it is: eval mode
    for the exported G). Returns the copy (eval mode) and Ṽ of its last minibatch (None for 0 steps).
    RefitStopped as soon as should_stop() turns true (looked at every step, as the training loop does)."""
    d = copy.deepcopy(discriminator)
    if steps <= 0:
        return d.eval(), None
    d.train()
    opt = torch.optim.Adam(d.parameters(), lr=REFIT_LR, betas=REFIT_BETAS)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    for i in range(int(steps)):
        if should_stop():
            raise RefitStopped(f"stopped during the refit of D, after {i:,} of its {int(steps):,} steps")
        for group in opt.param_groups:
            group["lr"] = REFIT_LR * (1 - i / steps)
        real = torch.as_tensor(dataset.sample(int(batch_size), seed=int(rng.integers(2 ** 63))), dtype=torch.float32)
        with torch.no_grad():
            fake = generator(sample_prior(int(batch_size), latent_dim, prior, gen, "cpu"))
        # ascend Ṽ in D alone (G fixed): descend −Ṽ
        real_logits, fake_logits = d(real), d(fake)
        loss = discriminator_loss(real_logits, fake_logits)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return d.eval(), float(value_estimate(real_logits.detach(), fake_logits.detach()))  # the last minibatch's


def final_pair(run_dir, should_stop: Callable[[], bool] = lambda: False) -> tuple:
    """(G in data space, D or None, config, dataset, iteration, notes) as an export holds them: G with its
    population BatchNorm statistics, D refit to that G for cfg.refit_d steps (point data, pack 1; RefitStopped
    when should_stop() turns true meanwhile). notes: what was done, for the model's metadata."""
    from gan_core.engine.checkpoint import load_discriminator, load_generator

    g_space, cfg, ds, iteration = load_generator(run_dir)
    notes = {}
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in g_space.modules()):
        g_space = population_batchnorm(g_space, cfg.latent_dim, cfg.prior, cfg.batch_size)
        notes["batchnorm"] = f"population statistics of {BN_BATCHES} minibatches of {cfg.batch_size}"
    d = load_discriminator(run_dir)
    steps = int(cfg.refit_d or 0)
    if d is not None and steps > 0 and ds.kind == "points" and (cfg.pack or 1) == 1:
        d, v = refit_discriminator(g_space, d, ds, steps, REFIT_BATCH, cfg.latent_dim, cfg.prior,
                                   should_stop=should_stop)
        notes["discriminator"] = f"refit to the final G for {steps} steps (Proposition 1); last Ṽ {v:.4f}"
    return g_space, d, cfg, ds, iteration, notes
