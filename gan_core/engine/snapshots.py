"""Snapshots taken during training: generator samples from fixed latents, and for toy data the learned
D(x) on a grid beside D*(x), the JSD and V(G, D*) (the seed's eqs. (7) and (8)–(21)); for points also
the forces of the game (forces.py): the push G's objective gives each sample, and G's manifold.

Fixed latents make consecutive snapshots comparable (the same z walks through training). Nothing here
draws from the training random-number generator, so snapshots never change the training trajectory.
"""
from __future__ import annotations

import copy
import io
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from gan_core.data.dataset import Dataset
from gan_core.data.pictures import PICTURE_SETS
from gan_core.engine.models import DataSpace, pointwise_logit
from gan_core.engine.schedule import instance_sigma
from gan_core.errors import DataError
from gan_core.files import write_bytes_atomic
from gan_core.runs.paths import snapshot_dir, snapshot_path
from gan_core.scores.classifier import classifier_path, load_classifier
from gan_core.scores.images import reference, score_images
from gan_core.theory import divergence, forces, quality

GRID_CELLS = {1: 600, 2: 128}
IMAGE_SNAPSHOT = 64  # images kept per snapshot (an 8×8 grid)
MANIFOLD_LINES = 21  # latent grid lines per axis of the manifold mesh (odd: one line through z = 0)
# grad_g is kept for the first samples only: the ones the combined figure draws (snapshot_figure),
# which keeps the extra views under 10 % of a snapshot's time (bench/snapshot_cost.py).
SHOWN_SAMPLES = 500
# The picture sets' scores over time (FID, precision/recall, classes) on this many of a snapshot's samples, against
# the test images' features cached with the classifier (its forward pass and the k-NN distances to the 10,000 test
# features are most of a picture snapshot's cost, hence theory_every). A FID of 1,000 samples lies above the
# 10,000-sample figure of bench.images (its bias shrinks with n): a curve over training, not the score.
PICTURE_SCORE_SAMPLES = 1000
# D sees the grid in blocks of GRID_BLOCK rows on a CPU: one pass over ring8's 16,384 grid points moves 8 MB
# activations per layer through memory; blocks that stay in the cache compute the same numbers at a fraction of
# the cost (bench.snapshot_cost).
GRID_BLOCK = 2048


def in_blocks(fn, x: torch.Tensor, rows: int = GRID_BLOCK) -> torch.Tensor:
    """fn(x) computed over blocks of rows of x on a CPU (elsewhere whole: a GPU wants the large batch)."""
    if x.device.type != "cpu" or len(x) <= rows:
        return fn(x)
    return torch.cat([fn(x[i:i + rows]) for i in range(0, len(x), rows)])


# take_later copies G and D; beyond this size (the built-in datasets' nets are 0.1–0.4 MB) it takes the
# snapshot inline instead, so a very large model does not carry a second copy of its weights
LATER_COPY_BYTES = 256 * 2 ** 20


def _bytes(net: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in net.state_dict().values())


class Snapshotter:
    """``forces=False`` leaves out grad_g and manifold (bench/snapshot_cost.py measures what they cost)."""

    def __init__(self, cfg, ds: Dataset, device: torch.device, run_dir: Path, forces: bool = True):
        self.cfg, self.ds, self.device, self.dir = cfg, ds, device, snapshot_dir(run_dir)
        self.make_run_dir = True  # a trainer turns it off: a run directory deleted under it is not made again
        self.forces = forces and ds.kind == "points"
        self.pack = int(getattr(cfg, "pack", None) or 1)
        g = torch.Generator().manual_seed(cfg.seed + 7919)  # its own stream: training RNG untouched
        n = cfg.snapshot_samples if ds.kind == "points" else max(IMAGE_SNAPSHOT, min(cfg.snapshot_samples, 1000))
        if cfg.prior == "uniform":
            z = torch.rand(n, cfg.latent_dim, generator=g) * 2 - 1
        else:
            z = torch.randn(n, cfg.latent_dim, generator=g)
        self.z = z.to(device)
        self.columns: list[str] = []
        self.grid = None
        if ds.kind == "points" and ds.dim in (1, 2):
            # D on a grid for any 1-D/2-D points (drawn or uploaded data too): the map the arrows follow.
            self.grid = divergence.make_grid(ds.bounds(), GRID_CELLS[ds.dim])
            self.grid_t = torch.as_tensor(self.grid.points, dtype=torch.float32, device=device)
        if ds.known_density and self.grid is not None:
            # One fixed kernel per run (not Scott's rule, which changes as samples spread), so the JSD
            # curve is comparable across iterations; p_data is smoothed by the same kernel (theory.py).
            self.bandwidth = max(2 * float(self.grid.spacing.max()), 0.1)
            self.p_data = None  # on the grid, smoothed by that kernel (computed at the first snapshot)
            self.columns += ["jsd", "value_at_optimum"]
            if self.pack > 1:  # the packed game's divergence, JSD(p_data^P ‖ p_g^P); `jsd` stays single-point
                self.columns += ["jsd_packed"]
        if ds.known_density and len(ds.centers) > 1:
            self.columns += ["modes_covered", "high_quality_fraction"]
        self._later = None    # take_later's copies of G and D and its worker thread, made on first use
        self._future = None
        self.scorer = None
        if ds.name == "digits":
            self.columns += ["classes_covered", "inception_score", "frechet_distance"]
            self.scorer = quality.DigitsScorer()  # loaded before training, not in its first snapshot
            self.real_fit = self.scorer.gaussian_fit(ds.data)  # the real side never changes
        self.pictures = picture_scorer(cfg.dataset) if ds.kind == "image" else None
        if self.pictures is not None:
            self.columns += ["fid", "precision", "recall", "classes_covered"]

    def due(self, iteration: int) -> bool:
        return iteration % self.cfg.snapshot_every == 0 or iteration == self.cfg.iterations

    def _pictures_due(self, iteration: int) -> bool:
        """Whether this snapshot scores the pictures (at theory_every and at the end; never untrained)."""
        every = self.cfg.theory_every or self.cfg.snapshot_every
        return self.pictures is not None and iteration > 0 and (iteration % every == 0 or
                                                                  iteration == self.cfg.iterations)

    def take_later(self, G, D, iteration: int, g_loss: str | None = None) -> Future:
        """take() on a worker thread, from copies of G and D made now; the future's result is take()'s.

        Why: on a CPU the loop trains on one torch thread, so the second core is idle, and a snapshot (tens of
        milliseconds, and an fsync that now and then stalls) would otherwise stop
        training every snapshot_every iterations. The copies keep the worker off the weights the loop goes on
        updating. One at a time: the caller collects a future before asking for the next (the copies are reused).
        Elsewhere (a GPU, where the snapshot is a few kernels on the same stream), and for nets larger than
        LATER_COPY_BYTES (whose copies would add a quarter to the run's memory), it is take(), done at once."""
        if self.device.type != "cpu" or _bytes(G) + _bytes(D) > LATER_COPY_BYTES:
            done: Future = Future()
            done.set_result(self.take(G, D, iteration, g_loss))
            return done
        if self._later is None:
            threads = torch.get_num_threads()
            self._later = (copy.deepcopy(G), copy.deepcopy(D),
                           ThreadPoolExecutor(1, "snapshot", initializer=torch.set_num_threads, initargs=(threads,)))
        Gc, Dc, pool = self._later
        assert self._future is None or self._future.done(), "collect the last snapshot first"
        with torch.no_grad():
            for mine, live in ((Gc, G), (Dc, D)):  # weights, and BatchNorm's running statistics
                for a, b in zip(mine.state_dict(keep_vars=True).values(), live.state_dict(keep_vars=True).values()):
                    a.copy_(b)
                mine.train(live.training)
        self._future = pool.submit(self.take, Gc, Dc, iteration, g_loss)
        return self._future

    def close(self) -> None:
        """Finish a snapshot still being taken and end the worker thread."""
        if self._later is not None:
            self._later[2].shutdown(wait=True)
            self._later = None

    @torch.no_grad()
    def take(self, G, D, iteration: int, g_loss: str | None = None) -> dict:
        """Write snapshots/it_XXXXXXX.npz; return the metric values for this iteration's row.

        g_loss: the generator objective in use at this iteration (default: the config's), for grad_g."""
        x, d_grid, extra = self._draw(G, D, iteration, g_loss)
        out: dict = {"iteration": np.int64(iteration), **extra}
        sigma = instance_sigma(iteration, self.cfg.instance_noise, self.cfg.instance_noise_iterations)
        if sigma:  # D learns the smoothed densities meanwhile: the page says so beside D*
            out["instance_noise"] = np.float32(sigma)
        if self.cfg.gradient_penalty and iteration < self.cfg.gradient_penalty_iterations:
            out["gradient_penalty"] = np.float32(self.cfg.gradient_penalty)  # D paid it: the page says so
        out["samples"] = x[:IMAGE_SNAPSHOT].astype(np.float16) if self.ds.kind == "image" else x.astype(np.float32)
        if self.grid is not None:
            g = self.grid
            out.update(grid_axes=np.stack(g.axes) if g.dim == 1 else np.array(g.axes), d=d_grid.astype(np.float16))
            if self.pack > 1:
                out["d_label"] = np.array(
                    f"D(x) = sigmoid(logit(x, …, x) / {self.pack}) of the packed D (P = {self.pack})")
        metrics = {**self._theory(x, out, iteration), **self._scores(x, iteration)}
        for k, v in metrics.items():
            out["metric_" + k] = np.float64(v)
        buf = io.BytesIO()
        np.savez(buf, **out)
        self.dir.mkdir(parents=self.make_run_dir, exist_ok=True)
        write_bytes_atomic(snapshot_path(self.dir.parent, iteration), buf.getvalue())
        return metrics

    def _draw(self, G, D, iteration: int, g_loss: str | None):
        """G's samples in data space, D on the grid, and for points the forces and G's manifold (nets in eval
        mode meanwhile, then as they were)."""
        was_g, was_d = G.training, D.training
        G.eval()
        D.eval()
        extra: dict = {}
        try:
            # pictures scored only now and then: between, G draws just the images the snapshot keeps
            z = self.z if self.ds.kind == "points" or self.scorer is not None or self._pictures_due(iteration) \
                else self.z[:IMAGE_SNAPSHOT]
            xt = DataSpace(G, self.ds.kind)(z)
            x = xt.float().cpu().numpy()
            # packed D (P > 1): the single-point D implied by the pack logit on (x, …, x), sigmoid(logit / P)
            d_grid = (torch.sigmoid(in_blocks(lambda g: pointwise_logit(D, g), self.grid_t)).float().cpu().numpy()
                      if self.grid is not None else None)
            if self.forces:
                shown = xt[:SHOWN_SAMPLES // self.pack * self.pack]  # row i is the push on samples[i] (in its pack)
                extra["grad_g"] = forces.generator_push(D, shown, g_loss or self.cfg.g_loss).float().cpu().numpy()
                extra["g_loss"] = np.array(g_loss or self.cfg.g_loss)  # which objective the arrows follow
                extra["manifold"] = forces.manifold(G, self.cfg.latent_dim, self.cfg.prior, MANIFOLD_LINES,
                                                    device=self.device).float().cpu().numpy()
        finally:
            G.train(was_g)
            D.train(was_d)
        return x, d_grid, extra

    def _theory(self, x: np.ndarray, out: dict, iteration: int) -> dict:
        """Where p_data is known: D* (eq. 7), p_g, p_data into the snapshot; JSD and V(G, D*) (eqs. 8–21)."""
        if "jsd" not in self.columns:
            return {}
        g, ds = self.grid, self.ds
        if self.p_data is None:  # the kernel is fixed, so p_data smoothed by it is too: once a run
            self.p_data = divergence.smoothed_mixture_density(
                g.points, ds.centers, ds.std, np.broadcast_to(np.asarray(self.bandwidth, float), (g.dim,)))
        snap = divergence.theory_snapshot(x, g, self.p_data, bandwidth=self.bandwidth)
        # D* = p_data/(p_data+p_g) is 0/0 where neither density has mass: there the estimate is
        # the ratio of two kernel tails (noise), so show the neutral 1/2 instead.
        mass = snap["p_data"] + snap["p_g"]
        d_star = np.where(mass < 1e-4 * mass.max(), 0.5, snap["d_star"])
        out.update(d_star=d_star.astype(np.float16),
                   p_g=snap["p_g"].astype(np.float32), p_data=snap["p_data"].astype(np.float32))
        metrics = dict(jsd=float(snap["jsd"]), value_at_optimum=float(snap["value_at_optimum"]))
        if self.pack > 1:  # V(G, D*) of the game actually played: −2 log 2 + 2·JSD(p_data^P ‖ p_g^P)
            jp = divergence.jsd_product(snap["p_data"], snap["p_g"], g.cell, self.pack, seed=iteration)
            metrics.update(jsd_packed=jp, value_at_optimum=divergence.value_at_optimum(jp))
        return metrics

    def _scores(self, x: np.ndarray, iteration: int) -> dict:
        """Sample quality: modes and high-quality points (mixtures), picture scores (fashion, mnist: when due),
        the small digits classifier's scores (digits)."""
        metrics: dict = {}
        if "modes_covered" in self.columns:
            q = quality.mode_quality(x, self.ds.centers, self.ds.std)
            metrics.update(modes_covered=q.modes_covered, high_quality_fraction=q.high_quality_fraction)
        if self._pictures_due(iteration):
            clf, ref = self.pictures
            sc = score_images(x[:PICTURE_SCORE_SAMPLES], self.cfg.dataset, clf, ref)
            metrics.update({k: sc[k] for k in ("fid", "precision", "recall", "classes_covered")})
        if self.scorer is not None and iteration > 0:
            metrics.update(classes_covered=self.scorer.classes_covered(x),
                           inception_score=self.scorer.inception_score(x),
                           frechet_distance=self.scorer.frechet_distance(self.ds.data, x, real_fit=self.real_fit))
        return metrics


def picture_scorer(dataset: str):
    """(classifier, test-set reference) for a built-in picture set whose classifier is cached, else None: a run
    never trains one (that takes CPU-minutes; `python -m gan_core classifier` does)."""
    if dataset not in PICTURE_SETS or not classifier_path(dataset).exists():
        return None
    try:
        clf = load_classifier(dataset)
        return clf, reference(dataset, clf)
    except DataError:
        return None
