"""The run configuration: one dataclass, every command-line flag maps to a field, round-trips to config.json."""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from gan_core.errors import ConfigError

BUILTIN_DATASETS = ("gaussian1d", "ring8", "grid25", "digits", "fashion", "mnist")
DEVICES = ("auto", "cpu", "cuda", "mps")
G_LOSSES = ("nonsaturating", "minimax")
PRIORS = ("normal", "uniform")
OPTIMIZERS = ("adam", "sgd")
G_NORMS = ("none", "batch")
ARCHS = ("auto", "mlp", "dcgan", "paper")
IMAGE_ARCHS = ("dcgan", "paper")   # networks for pictures only
POINT_DATASETS = ("gaussian1d", "ring8", "grid25")

# Settings an architecture brings with it, before the dataset's defaults (anything given explicitly wins).
# paper: the optimiser of goodfeli/adversarial's mnist.yaml (Goodfellow et al. 2014): SGD, batch 100, learning
# rate 0.1, momentum 0.5 (rising to 0.7 only after 250 epochs; its decay of 1/1.000004 per step is a few percent
# over a short run: both left out), 100-D Gaussian noise. The file's D descends half of −Ṽ (the mean of two
# cross-entropies), so its 0.1 is 0.05 on −Ṽ, which D descends here. The file trains for epochs, until stopped:
# 2,500 iterations take about the CPU time of fashion's default run (bench.images compares them).
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "paper": dict(iterations=2500, latent_dim=100, batch_size=100, optimizer="sgd", lr_d=0.05, lr_g=0.1,
                  momentum=0.5, lr_decay=1.0),
}
# What every dataset and architecture leaves alone gets these.
COMMON_DEFAULTS: dict[str, Any] = {"arch": "auto", "optimizer": "adam", "momentum": 0.9, "prior": "normal",
                                   "instance_noise": 0.0, "gradient_penalty": 0.0}

# Defaults chosen per dataset so that a run with no flags converges in about a minute on a 2-core CPU
# (measured figures are in README.md). Anything given explicitly wins.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "gaussian1d": dict(iterations=3000, latent_dim=1, batch_size=256, lr_d=1e-3, lr_g=1e-3, hidden=64, depth=2,
                       lr_decay=1.0, g_norm="none", pack=1, beta1=0.5, beta2=0.999, refit_d=0),
    # ring8/grid25: BatchNorm in G, a 2-D latent, a deeper G/D and a learning rate decaying linearly to 0
    # (modes settle instead of jittering). ring8: m = 512 makes coverage reliable. grid25: Adam without momentum
    # and a shorter memory of squared gradients (β1 0, β2 0.9) keeps far more modes than (0.5, 0.999); a faster D
    # trades modes for quality; packing (pack > 1) learned too slowly within a few CPU-minutes. grid25's noise is
    # uniform on the square [-1, 1]²: 25 equal modes on a square grid are then 25 equal cells of a square, a map
    # close to piecewise constant; from a normal prior G gave some modes only slivers of latent space (near z = 0,
    # not in the tails, in the seeds looked at) and dropped up to three. On the seeds where the normal prior dropped
    # modes the uniform one kept all 25 (bench.mode_coverage names the modes a seed dropped; the held-out seeds in
    # bench/RESULTS.md). grid25's D pays a zero-centred gradient penalty (γ 1) between data and samples: its slope
    # then reaches the samples around a mode G has not found, where an unpenalised D's bump stays local (without
    # it 2 of 10 tuning seeds, and 4 of 20 held-out ones, kept 23 or fewer modes). grid25's D is refit to the
    # final G before export (refit_d, gan_core.engine.refit). `python -m bench.mode_coverage` measures each
    # choice (figures in bench/RESULTS.md).
    "ring8": dict(iterations=4500, latent_dim=2, batch_size=512, lr_d=5e-4, lr_g=1e-3, hidden=128, depth=4,
                  lr_decay=0.0, g_norm="batch", pack=1, beta1=0.5, beta2=0.999, refit_d=0),
    "grid25": dict(iterations=10000, latent_dim=2, batch_size=256, lr_d=5e-4, lr_g=1e-3, hidden=128, depth=4,
                   lr_decay=0.0, g_norm="batch", pack=1, beta1=0.0, beta2=0.9, refit_d=12000, prior="uniform",
                   gradient_penalty=1.0),
    "digits": dict(iterations=3000, latent_dim=32, batch_size=64, lr_d=2e-4, lr_g=2e-4, hidden=128, depth=3,
                   lr_decay=1.0, g_norm="none", pack=1, beta1=0.5, beta2=0.999, refit_d=0),
    # fashion/mnist: the DCGAN pair at 28×28 (arch auto: 7 → 14 → 28, base 32), latent 64, m 32, both learning
    # rates 2e-3 (the rate mattered most: slower rates learn after the CPU budget, not within it), 8,000
    # iterations: a few CPU-minutes for the whole run. Wider nets, a D without BatchNorm, Adam (0, 0.9), a decaying
    # rate or an average of G's weights did no better (`python -m bench.images`; the sweep in bench/RESULTS.md,
    # "Fashion-MNIST in CPU-minutes").
    "fashion": dict(iterations=8000, latent_dim=64, batch_size=32, lr_d=2e-3, lr_g=2e-3, hidden=128, depth=3,
                    lr_decay=1.0, g_norm="none", pack=1, beta1=0.5, beta2=0.999, refit_d=0),
    # mnist: fashion's settings (no MNIST files on the machine that chose them)
    "mnist": dict(iterations=8000, latent_dim=64, batch_size=32, lr_d=2e-3, lr_g=2e-3, hidden=128, depth=3,
                  lr_decay=1.0, g_norm="none", pack=1, beta1=0.5, beta2=0.999, refit_d=0),
    "user": dict(iterations=3000, latent_dim=8, batch_size=128, lr_d=2e-4, lr_g=2e-4, hidden=128, depth=3,
                 lr_decay=1.0, g_norm="none", pack=1, beta1=0.5, beta2=0.999, refit_d=0),
}

# What `generate` does with a model of these datasets unless told otherwise (written into the exported
# model's metadata as rejection_default): discriminator rejection sampling (gan_core.theory.rejection) or not.
# Rejection by D lifts the high-quality fraction on both mixtures and the modes covered on grid25
# (bench.mode_coverage); `generate --no-rejection` gives the plain GAN's samples.
GENERATION_DEFAULTS: dict[str, dict[str, Any]] = {"ring8": dict(rejection=True), "grid25": dict(rejection=True)}

# Snapshots per quality measurement where the scores cost more than the snapshot itself: a picture set's FID
# and precision/recall (gan_core.engine.snapshots) at every fifth of a run's ~50 snapshots.
THEORY_SNAPSHOTS: dict[str, int] = {"fashion": 5, "mnist": 5}

# Upper bounds: beyond these a setting is a typo or an attack (a run would exhaust memory before its
# first step), not an experiment. Lower bounds are in validate(). Intervals such as checkpoint_every have
# none: a huge one just means "never" (log_every sizes a buffer, so it has one).
MAX_VALUES: dict[str, int] = {
    "iterations": 1_000_000_000, "k": 100, "batch_size": 65_536, "latent_dim": 4096, "hidden": 8192, "depth": 32,
    "base_channels": 256, "log_every": 1_000_000, "snapshot_samples": 100_000, "threads": 256, "pack": 64,
    "refit_d": 100_000,  # ~11 CPU-minutes on grid25 (whose default is 12,000); the Train page's bound too
}
MAX_MLP_WEIGHTS = 200_000_000   # depth × hidden²: about 0.8 GB of float32 per network
MAX_SEED = 2 ** 64 - 1          # torch's generators take 64-bit seeds
# The parameters each built-in dataset accepts: (type, lowest, highest), ends included.
DATASET_PARAMS: dict[str, dict[str, tuple]] = {
    "gaussian1d": {"mean": (float, -1e6, 1e6), "std": (float, 1e-6, 1e6)},
    "ring8": {"modes": (int, 1, 1000), "radius": (float, 1e-6, 1e6), "std": (float, 1e-6, 1e6)},
    "grid25": {"side": (int, 1, 100), "spacing": (float, 1e-6, 1e6), "std": (float, 1e-6, 1e6)},
    "digits": {},
    "fashion": {},
    "mnist": {},
}

# Settings added after runs were already being saved: a config.json without them gets the value that
# reproduces what those runs did (not today's dataset default), so old runs resume and export unchanged.
LEGACY_VALUES: dict[str, Any] = {"lr_decay": 1.0, "lr_decay_iterations": 1, "g_norm": "none", "pack": 1,
                                 "refit_d": 0, "arch": "auto"}


def split_setting(item: str, allowed, usage: str, refused: str) -> tuple[str, str]:
    """'lr-d=1e-4' → ('lr_d', '1e-4') for a key in allowed; a one-line ConfigError (usage: the expected form,
    refused: what is said of a key not allowed, followed by the allowed keys) otherwise."""
    if "=" not in item:
        raise ConfigError(f"{usage}, got {item!r}")
    key, raw = (t.strip() for t in item.split("=", 1))
    key = key.replace("-", "_")
    if key not in allowed:
        raise ConfigError(f"{key!r} {refused}: {', '.join(allowed)}")
    return key, raw


def setting(default=dataclasses.MISSING, text: str = "", **kw):
    """A TrainConfig field with its help text, which the command line's --help and the Train page's widgets
    both show (help_text)."""
    return field(default=default, metadata={"help": text}, **kw)


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


@dataclass
class TrainConfig:
    dataset: str = setting("gaussian1d", f"a built-in dataset ({', '.join(BUILTIN_DATASETS)}) or a path to a .csv / "
                           ".npy / .zip / folder of images; the toy mixtures (gaussian1d, ring8, grid25) have a "
                           "known density, so D* and the JSD can be shown")
    run_dir: str = setting("", "the run directory (default: runs/DATASET-TIME)")
    iterations: Optional[int] = setting(None, "training iterations, each k discriminator steps and one generator "
                                              "step (default depends on the dataset)")
    seed: int = setting(0, "random seed: the same seed and settings give the same run")
    device: str = setting("auto", "auto (CUDA, then Apple MPS, then the CPU), cpu, cuda or mps")
    k: int = setting(1, "discriminator steps per generator step (Algorithm 1's k)")
    batch_size: Optional[int] = setting(None, "minibatch size m (Algorithm 1): m real examples and m noise vectors "
                                              "per step")
    g_loss: str = setting("nonsaturating", "generator objective: nonsaturating (eq. 3) or minimax (eq. 4); minimax "
                                           "saturates early in training, when D rejects G's samples confidently, "
                                           "non-saturating gives strong gradients then (same fixed point)")
    prior: Optional[str] = setting(None, "noise prior p_z, the distribution of the noise z that G turns into samples: "
                                   "normal N(0, I) or uniform on [-1, 1]")
    latent_dim: Optional[int] = setting(None, "dimension of the noise z: the 2-D mixtures train best with 2, images "
                                              "need more (e.g. 32)")
    hidden: Optional[int] = setting(None, "units per hidden layer of both MLPs (point data; images use DCGAN-style "
                                          "networks)")
    depth: Optional[int] = setting(None, "hidden layers of both MLPs (point data): deeper networks fit more modes, "
                                         "train slower")
    base_channels: int = setting(32, "DCGAN width (image data): channels of the layer nearest the image, doubled "
                                     "at each halving of the size")
    image_size: int = setting(0, "side length in pixels that uploaded images are resized to: 8, 16, 32 or 64 "
                                 "(0: a built-in dataset's own size, 32 for uploads)")
    arch: Optional[str] = setting(None, "the networks: auto (an MLP pair for points, DCGAN for pictures), mlp, "
                                        "dcgan, or paper: Goodfellow et al. 2014's MNIST pair (rectifier G with a "
                                        "sigmoid output, maxout D with dropout; SGD with momentum, batch 100)")
    optimizer: Optional[str] = setting(None, "adam, or sgd (with --momentum); default adam (sgd for --arch paper)")
    lr_d: Optional[float] = setting(None, "learning rate (step size) of the discriminator; too large and D wins "
                                          "outright (D(x) → 1, D(G(z)) → 0): the dataset's default is a good start")
    lr_g: Optional[float] = setting(None, "learning rate (step size) of the generator; too large and its samples "
                                          "jump between modes")
    # Adam's betas are per dataset (DATASET_DEFAULTS)
    beta1: Optional[float] = setting(None, "Adam's β1 (default 0 for grid25, else 0.5)")
    beta2: Optional[float] = setting(None, "Adam's β2 (default 0.9 for grid25, else 0.999)")
    # Learning-rate schedule: both rates fall linearly to lr_decay × their initial value over the first
    # lr_decay_iterations iterations, then stay there (1: constant). The horizon is its own setting, not
    # --iterations, so that extending a run with --resume continues the very same schedule.
    lr_decay: Optional[float] = setting(None, "both learning rates fall linearly to this fraction of their initial "
                                              "value over lr_decay_iterations, then stay there (1: constant; 0: "
                                              "down to 0)")
    lr_decay_iterations: Optional[int] = setting(None, "iterations over which the learning rates fall (default: "
                                                       "the run's iterations; a resumed run keeps it)")
    lr_decay_start: int = setting(0, "the iteration where the learning rates begin to fall (moved when an "
                                     "extension restarts the schedule)")
    g_norm: Optional[str] = setting(None, "normalisation in the MLP generator's hidden layers: batch (BatchNorm) "
                                          "or none")
    # PacGAN (Lin et al. 2018): D judges `pack` samples at once, all real or all generated; each step draws
    # m·pack of each. 1 is the original GAN. The same minimax game on p_data^pack and p_g^pack.
    pack: Optional[int] = setting(None, "PacGAN: D judges this many samples at once, all real or all generated "
                                        "(1: the original GAN)")
    # D steps against the final G before export (gan_core.engine.refit, Proposition 1): the D that rejection
    # sampling reads p_data/p_g from. 0: the game's last D. Point data with pack 1 only.
    refit_d: Optional[int] = setting(None, "D steps against the final G before export: rejection sampling by D "
                                           "reads p_data/p_g = D/(1 − D) (eq. 7), true for the best D of the G "
                                           "being sampled, and these steps with G fixed move D there "
                                           "(Proposition 1); 0: the game's last D (default 12,000 for grid25, else "
                                           "0; point data with pack 1)")
    # Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): D judges x + σε and G(z) + σε', ε ~ N(0, I),
    # σ falling linearly to 0: both densities smoothed, so D's slope reaches G's samples far from a mode
    # they miss; from instance_noise_iterations on, the game is the paper's.
    instance_noise: Optional[float] = setting(None, "σ of Gaussian noise added to every input of D, real and "
                                                    "generated, at iteration 0, falling linearly to 0 (0: none, "
                                                    "the original game)")
    instance_noise_iterations: Optional[int] = setting(None, "iterations over which the instance noise falls to 0 "
                                                             "(default: half the run's iterations)")
    # A zero-centred gradient penalty on the segments between data and samples (Thanh-Tung et al. 2019).
    gradient_penalty: Optional[float] = setting(None, "γ of a penalty γ·‖∇ logit D(x̂)‖² D pays at points x̂ "
                                                      "between data and samples, for the first "
                                                      "gradient_penalty_iterations (0: none, the original game; "
                                                      "default 1 for grid25, else 0; point data)")
    gradient_penalty_iterations: Optional[int] = setting(None, "iterations the gradient penalty lasts (default: "
                                                               "the whole run)")
    momentum: Optional[float] = setting(None, "SGD momentum (default 0.9; 0.5 for --arch paper, as the paper's "
                                              "MNIST run)")
    log_every: int = setting(10, "iterations between rows of metrics.csv")
    snapshot_every: int = setting(0, "iterations between snapshots: samples and, for toy data, D, D* and the JSD "
                                     "(0: about 50 per run)")
    checkpoint_every: int = setting(1000, "iterations between resumable checkpoints (one is always written at the "
                                          "end)")
    theory_every: int = setting(0, "iterations between JSD / quality measurements (0: at every snapshot; every "
                                   "fifth for fashion and mnist, whose picture scores cost more)")
    snapshot_samples: int = setting(2500, "samples G makes at each snapshot, from the same fixed latents every "
                                          "time (the JSD and the quality scores are measured on them)")
    threads: int = setting(0, "CPU threads for torch (0: one, the fastest for these small networks on a shared "
                              "CPU); for compare, its lanes, one thread each (0: one per core, at most 2)")
    export_onnx: bool = setting(True, "write generator.onnx at the end: the generator as one file, for the "
                                      "Generate page and sharing")
    tensorboard: bool = setting(False, "also write TensorBoard event files to RUN_DIR/tb/: the metrics, sample "
                                       "images and settings (tensorboard --logdir on the runs folder)")
    world_size: int = setting(1, "processes training the run (torchrun sets it); recorded, not a flag")
    dataset_params: dict = setting(text="override a parameter of a built-in dataset, e.g. std=0.05 (repeatable)",
                                   default_factory=dict)

    # --- derived -------------------------------------------------------------------------
    @property
    def is_builtin(self) -> bool:
        return self.dataset in BUILTIN_DATASETS

    def resolved(self) -> "TrainConfig":
        """A copy with every dataset-dependent default filled in (what config.json records)."""
        c = dataclasses.replace(self, dataset_params=dict(self.dataset_params))
        defaults = DATASET_DEFAULTS[c.dataset if c.is_builtin else "user"]
        c.arch = c.arch or defaults.get("arch") or COMMON_DEFAULTS["arch"]
        for source in (ARCH_DEFAULTS.get(c.arch, {}), defaults, COMMON_DEFAULTS):
            for name, value in source.items():
                if getattr(c, name) is None:
                    setattr(c, name, value)
        if (c.pack or 1) > 1 and self.refit_d is None:
            c.refit_d = 0  # the refit is for an unpacked D: a packed run leaves its dataset's default aside
        if c.lr_decay_iterations is None:
            c.lr_decay_iterations = c.iterations  # decay over the run asked for; recorded, so --resume keeps it
        if c.instance_noise_iterations is None:
            c.instance_noise_iterations = max(1, (c.iterations or 0) // 2)
        if c.gradient_penalty_iterations is None:
            c.gradient_penalty_iterations = max(1, c.iterations or 0)
        if c.snapshot_every <= 0 and c.iterations and c.iterations > 0:
            c.snapshot_every = max(c.log_every, (c.iterations // 50) // c.log_every * c.log_every or c.log_every)
        if c.theory_every <= 0:
            c.theory_every = c.snapshot_every * THEORY_SNAPSHOTS.get(c.dataset, 1)
        if c.image_size == 0:
            c.image_size = {"digits": 8, "fashion": 28, "mnist": 28}.get(c.dataset, 32)
        return c

    def check_types(self) -> "TrainConfig":
        """ConfigError for a value of the wrong type (a hand-edited or crafted config.json)."""
        for f in dataclasses.fields(self):
            v, t = getattr(self, f.name), str(f.type)
            if v is None and t.startswith("Optional"):
                continue
            base = t.replace("Optional[", "").rstrip("]")
            ok = {"int": lambda x: isinstance(x, int) and not isinstance(x, bool),
                  "float": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
                  "str": lambda x: isinstance(x, str), "bool": lambda x: isinstance(x, bool),
                  "dict": lambda x: isinstance(x, dict)}.get(base, lambda x: True)(v)
            if not ok:
                kind = "a whole number" if base == "int" else "a " + base
                raise ConfigError(f"{f.name} must be {kind}, got {v!r}"[:200])
        return self

    def validate(self) -> "TrainConfig":
        """Refuse impossible settings before anything starts (a ConfigError naming the setting); returns self."""
        self._validate_sizes()
        self._validate_optimisation()
        self._validate_machine()
        self._validate_choices()
        return self

    def _validate_sizes(self) -> None:
        """Types, upper bounds (memory, time), and counts that must be whole and positive."""
        self.check_types()
        for name, hi in MAX_VALUES.items():
            v = getattr(self, name)
            _need(v is None or v <= hi, f"{name} must be at most {hi:,}, got {v:,}" if v is not None else "")
        if self.hidden is not None and self.depth is not None:
            w = self.hidden ** 2 * self.depth
            _need(w <= MAX_MLP_WEIGHTS, f"hidden={self.hidden} and depth={self.depth} make networks of about "
                                       f"{w / 1e6:,.0f} million weights; at most {MAX_MLP_WEIGHTS / 1e6:,.0f} million")
        _need(0 <= self.seed <= MAX_SEED, f"seed must lie in 0 … 2^64 − 1, got {self.seed}")
        self._validate_dataset_params()

        for name in ("iterations", "k", "batch_size", "latent_dim", "hidden", "depth", "base_channels",
                     "log_every", "checkpoint_every", "snapshot_samples", "lr_decay_iterations", "pack"):
            v = getattr(self, name)
            if v is not None:
                _need(isinstance(v, int) and not isinstance(v, bool), f"{name} must be a whole number, got {v!r}")
                _need(v >= 1, f"{name} must be at least 1, got {v}")

    def _validate_optimisation(self) -> None:
        """Learning rates, packing, Adam's betas, the refit, the schedule, G's normalisation, momentum."""
        for name in ("lr_d", "lr_g"):
            v = getattr(self, name)
            if v is not None:
                _need(isinstance(v, (int, float)) and math.isfinite(v) and v > 0,
                     f"{name} (learning rate) must be a positive number, got {v!r}")
        if self.pack is not None and self.pack > 1:
            _need(self.dataset not in ("digits", "fashion", "mnist"),
                 f"packing (pack {self.pack}) is for point data; images train with pack 1")
            if self.batch_size is not None:
                _need(self.pack <= self.batch_size, f"pack {self.pack} is larger than the batch size "
                     f"{self.batch_size}: D judges m packs of {self.pack} samples each, so choose pack ≤ m")
                _need(self.pack * self.batch_size <= MAX_VALUES["batch_size"],
                     f"pack {self.pack} × batch size {self.batch_size} = {self.pack * self.batch_size:,} samples per "
                     f"step; at most {MAX_VALUES['batch_size']:,}")
        _need(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must lie in [0, 1)")
        if self.refit_d is not None:
            _need(self.refit_d >= 0, f"refit_d (D steps against the final G) must be 0 or more, got {self.refit_d}")
            _need(self.refit_d == 0 or (self.pack or 1) == 1,
                 f"refit_d is for an unpacked D (pack 1); got pack {self.pack}")
        if self.instance_noise is not None:
            _need(math.isfinite(self.instance_noise) and 0 <= self.instance_noise <= 1e6,
                 f"instance_noise (σ) must lie in [0, 1e6], got {self.instance_noise!r}")
        if self.instance_noise_iterations is not None:
            _need(self.instance_noise_iterations >= 1,
                 f"instance_noise_iterations must be at least 1, got {self.instance_noise_iterations}")
        if self.gradient_penalty is not None:
            _need(math.isfinite(self.gradient_penalty) and 0 <= self.gradient_penalty <= 1e6,
                 f"gradient_penalty (γ) must lie in [0, 1e6], got {self.gradient_penalty!r}")
            _need(self.gradient_penalty == 0 or self.dataset not in ("digits", "fashion", "mnist"),
                 "the gradient penalty is for point data; images train with gradient_penalty 0")
        if self.gradient_penalty_iterations is not None:
            _need(self.gradient_penalty_iterations >= 1,
                 f"gradient_penalty_iterations must be at least 1, got {self.gradient_penalty_iterations}")
        if self.lr_decay is not None:
            _need(isinstance(self.lr_decay, (int, float)) and 0 <= self.lr_decay <= 1,
                 f"lr_decay (final fraction of the learning rate) must lie in [0, 1], got {self.lr_decay!r}")
        if self.g_norm is not None:
            _need(self.g_norm in G_NORMS,
                 f"unknown generator normalisation {self.g_norm!r}; choose {' or '.join(G_NORMS)}")
            _need(self.g_norm != "batch" or self.batch_size is None or self.batch_size >= 2,
                 "BatchNorm in the generator (g_norm batch) needs a batch size of at least 2")
        _need(isinstance(self.lr_decay_start, int) and self.lr_decay_start >= 0,
             f"lr_decay_start must be a whole number of at least 0, got {self.lr_decay_start!r}")
        _need(self.momentum is None or 0 <= self.momentum < 1, f"momentum must lie in [0, 1), got {self.momentum}")

    def _validate_machine(self) -> None:
        """Threads for this machine's cores; a batch that splits across torchrun's processes; the device."""
        _need(isinstance(self.threads, int) and self.threads >= 0,
             f"threads must be 0 (auto) or more, got {self.threads}")
        cores = os.cpu_count() or 1  # beyond a few threads a core, each only waits (and a thousand exhaust memory)
        _need(self.threads <= 4 * cores, f"threads must be at most {4 * cores} (4 × this machine's {cores} cores), "
                                        f"got {self.threads}")
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)  # under torchrun each process trains m / world
        _need(self.batch_size is None or world <= 1 or self.batch_size % world == 0,
             f"batch size {self.batch_size} does not split evenly across {world} processes; "
             f"choose a multiple of {world}")
        _need(self.device in DEVICES, f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")

    def _validate_choices(self) -> None:
        """The named choices: objective, prior, optimiser, architecture, image size, and the dataset."""
        _need(self.g_loss in G_LOSSES, f"unknown generator objective {self.g_loss!r}; choose {' or '.join(G_LOSSES)}")
        _need(self.prior in PRIORS, f"unknown prior {self.prior!r}; choose {' or '.join(PRIORS)}")
        _need(self.optimizer in (None, *OPTIMIZERS),
             f"unknown optimizer {self.optimizer!r}; choose {' or '.join(OPTIMIZERS)}")
        _need(self.arch in (None, *ARCHS), f"unknown arch {self.arch!r}; choose {', '.join(ARCHS)}")
        _need(not (self.arch in IMAGE_ARCHS and self.dataset in POINT_DATASETS),
             f"arch {self.arch} is for pictures; {self.dataset} holds points (use mlp or auto)")
        native28 = self.image_size == 28 and self.dataset in ("fashion", "mnist")
        _need(self.image_size in (0, 8, 16, 32, 64) or native28,
             f"image size must be 8, 16, 32 or 64, got {self.image_size}")
        if not self.is_builtin:
            _need(bool(self.dataset), "no dataset given")
            p = Path(self.dataset)
            _need(p.exists(), f"unknown dataset {self.dataset!r}: not one of {', '.join(BUILTIN_DATASETS)} "
                             "and no such file or folder")

    def _validate_dataset_params(self) -> None:
        allowed = DATASET_PARAMS.get(self.dataset, {})
        for key, value in self.dataset_params.items():
            if key not in allowed:
                names = ", ".join(allowed) or "none"
                raise ConfigError(f"unknown dataset parameter {key!r} for {Path(str(self.dataset)).name}; "
                                  f"its parameters: {names}")
            kind, lo, hi = allowed[key]
            ok_type = (isinstance(value, int) if kind is int else isinstance(value, (int, float))) \
                and not isinstance(value, bool)
            if not ok_type or not (math.isfinite(value) and lo <= value <= hi):
                what = "a whole number" if kind is int else "a number"
                raise ConfigError(f"dataset parameter {key} must be {what} in [{lo:g}, {hi:g}], got {value!r}")

    # --- config.json ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"config holds a {type(d).__name__}, not a set of named settings")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"config has unknown settings: {', '.join(sorted(map(str, unknown)))[:200]}")
        return cls(**{**LEGACY_VALUES, **d}).check_types()

    def save(self, path: Path) -> None:
        from gan_core.files import write_json_atomic
        write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        from gan_core.files import read_regular
        try:
            d = json.loads(read_regular(path))  # never blocks on a FIFO, never follows a link
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read {path}: {e}") from None
        return cls.from_dict(d)


def help_text(name: str) -> str:
    """The help text of TrainConfig's setting `name` ("" for a setting without one); KeyError for no such setting."""
    return {f.name: f for f in dataclasses.fields(TrainConfig)}[name].metadata.get("help", "")
