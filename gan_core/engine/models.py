"""Generator and discriminator networks: an MLP pair for vectors, a DCGAN-style pair for images, and the
paper's own MNIST pair (Goodfellow et al. 2014: rectifier G with a sigmoid output, maxout D with dropout).

The discriminator returns a logit (D(x) = sigmoid(logit)) so that the objective can use log-sigmoid.
Generators output data space directly for points; image generators output [-1, 1] (tanh, or the paper G's
sigmoid mapped there) and `DataSpace` maps that to [0, 1] for export and viewing.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gan_core.errors import ConfigError


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, out_dim: int, hidden: int = 128, depth: int = 3,
                 shift=None, scale=None, norm: str = "none"):
        super().__init__()
        layers, d = [], latent_dim
        for _ in range(depth):
            layers.append(nn.Linear(d, hidden))
            if norm == "batch":
                # BatchNorm (as in DCGAN's generator) lets G cut its latent space into sharply separated
                # regions, one per mode: far fewer samples strung out between the modes of a mixture.
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.LeakyReLU(0.2))
            d = hidden
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        # The net works in standardised units; the buffers map its output to data units,
        # so the exported model needs nothing but itself.
        self.register_buffer("shift", torch.as_tensor(shift if shift is not None else torch.zeros(out_dim)).float())
        self.register_buffer("scale", torch.as_tensor(scale if scale is not None else torch.ones(out_dim)).float())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.shift + self.scale * self.net(z)


class MLPDiscriminator(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 128, depth: int = 3, shift=None, scale=None):
        super().__init__()
        layers, d = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
            d = hidden
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)
        self.register_buffer("shift", torch.as_tensor(shift if shift is not None else torch.zeros(in_dim)).float())
        self.register_buffer("scale", torch.as_tensor(scale if scale is not None else torch.ones(in_dim)).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.shift) / self.scale).squeeze(-1)


class PackedDiscriminator(nn.Module):
    """PacGAN's D (Lin et al. 2018): judges P samples at once. Rows [m·P, dim] are grouped in order into m
    packs [m, P·dim] (all real or all generated, as the caller drew them), and `inner` (a D on P·dim inputs)
    gives one logit per pack. The game is the original one on p_data^P and p_g^P."""

    def __init__(self, inner: nn.Module, pack: int):
        super().__init__()
        self.inner, self.pack = inner, int(pack)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.reshape(-1, self.pack * x.shape[-1]))

    def pointwise(self, x: torch.Tensor) -> torch.Tensor:
        """logit(x, x, …, x) / P for each row of x: at the packed optimum (eq. (7) on products) the logit of a
        pack is Σ log p_data(x_j)/p_g(x_j), so on the diagonal it is P·log p_data(x)/p_g(x) — this is D's
        estimate of the single-point log ratio (a D trained on independent packs is extrapolating here)."""
        return self.inner(torch.cat([x] * self.pack, dim=1)) / self.pack  # Concat, not Tile: plain ONNX


def pointwise_logit(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The single-point logit D gives x (one row each): D itself, or a packed D on (x, …, x) / P."""
    return D.pointwise(x) if isinstance(D, PackedDiscriminator) else D(x)


# image side → (side of the first feature map, doublings): powers of two start at 4×4; MNIST's 28 at 7×7 (7 → 14 → 28)
DC_PLANS = {8: (4, 1), 16: (4, 2), 32: (4, 3), 64: (4, 4), 28: (7, 2)}


def _plan(size: int) -> tuple[int, int]:
    if size not in DC_PLANS:
        raise ValueError(f"image size must be one of {', '.join(map(str, sorted(DC_PLANS)))}, got {size}")
    return DC_PLANS[size]


class DCGenerator(nn.Module):
    """z → 4×4 (7×7 for 28) feature map → (ConvTranspose, BatchNorm, ReLU) doublings → tanh image (as DCGAN)."""

    def __init__(self, latent_dim: int, channels: int, size: int, base: int = 32):
        super().__init__()
        s0, n = _plan(size)
        c = base * 2 ** (n - 1)
        self.c0, self.s0 = c, s0
        self.project = nn.Sequential(nn.Linear(latent_dim, c * s0 * s0, bias=False), nn.BatchNorm1d(c * s0 * s0),
                                     nn.ReLU(True))
        blocks = []
        for _ in range(n - 1):
            blocks += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        blocks += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, self.c0, self.s0, self.s0))


class DCDiscriminator(nn.Module):
    """Image → (Conv stride 2, BatchNorm, LeakyReLU) halvings → 4×4 (7×7 for 28) → logit."""

    def __init__(self, channels: int, size: int, base: int = 32):
        super().__init__()
        s0, n = _plan(size)
        layers, c_in, c = [], channels, base
        for i in range(n):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1, bias=(i == 0))]
            if i > 0:  # no BatchNorm on the input layer, as DCGAN
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2, True))
            c_in, c = c, c * 2
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * s0 * s0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x).flatten(1)).squeeze(-1)


class FlatImageGenerator(nn.Module):
    """An MLP generator for images: z → the MLP's C·H·W outputs → tanh → [C, H, W] in [-1, 1]."""

    def __init__(self, mlp: nn.Module, shape: tuple):
        super().__init__()
        self.mlp, self.shape = mlp, tuple(shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mlp(z)).view(-1, *self.shape)


class FlatImageDiscriminator(nn.Module):
    """An MLP discriminator for images: the image as one vector of C·H·W pixels."""

    def __init__(self, mlp: nn.Module):
        super().__init__()
        self.mlp = mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x.flatten(1))


# --- the paper's MNIST networks (Goodfellow et al. 2014, section 5; goodfeli/adversarial, mnist.yaml) ------------

PAPER_G_HIDDEN = (1200, 1200)     # rectifier layers h0, h1
PAPER_G_RANGE = 0.05              # pylearn2's irange: weights uniform in ±0.05, biases 0
PAPER_D_UNITS, PAPER_D_PIECES = 240, 5
PAPER_D_RANGE = 0.005
PAPER_D_DROPOUT = (0.2, 0.5, 0.5)  # dropped fraction of the inputs of h0, h1 and y (include probabilities .8, .5, .5)


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013): `units` outputs, each the largest of `pieces` linear pieces
    (consecutive groups of the linear layer's outputs, as pylearn2's Maxout). The maximum is taken piece by piece
    (ONNX's elementwise Max: an exported D stays within the operators a model file may hold, which leave out
    reductions by maximum)."""

    def __init__(self, d_in: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(d_in, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x).unflatten(-1, (self.units, self.pieces))
        out = y[..., 0]
        for i in range(1, self.pieces):
            out = torch.maximum(out, y[..., i])
        return out


def _uniform_init(net: nn.Module, r: float) -> None:
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -r, r)
            nn.init.zeros_(m.bias)


class PaperGenerator(nn.Module):
    """z → ReLU 1200 → ReLU 1200 → sigmoid pixels. The sigmoid's bias starts at the logit of each pixel's mean
    over the training images (pylearn2's init_sigmoid_bias_from_marginals). The output is 2·sigmoid − 1, the same
    image in the [-1, 1] the training loop uses for images (DataSpace maps it back to the sigmoid's [0, 1])."""

    def __init__(self, latent_dim: int, shape: tuple, marginals=None):
        super().__init__()
        self.shape = tuple(shape)
        dim, layers, d = int(np.prod(shape)), [], latent_dim
        for h in PAPER_G_HIDDEN:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, dim))
        self.net = nn.Sequential(*layers)
        _uniform_init(self, PAPER_G_RANGE)
        if marginals is not None:
            p = np.clip(np.asarray(marginals, np.float64).reshape(-1), 1e-3, 1 - 1e-3)
            with torch.no_grad():
                self.net[-1].bias.copy_(torch.from_numpy(np.log(p / (1 - p))).float())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(self.net(z)) * 2 - 1).view(-1, *self.shape)


class PaperDiscriminator(nn.Module):
    """Pixels in [0, 1] (the [-1, 1] image mapped back) → dropout → maxout 240×5 → dropout → maxout 240×5 →
    dropout → logit. Dropout is inverted (kept units scaled by 1/keep, as the file's input scales 1.25 and 2), so
    in eval mode (snapshots, export) D is the full network."""

    def __init__(self, shape: tuple):
        super().__init__()
        dim = int(np.prod(shape))
        p0, p1, p2 = PAPER_D_DROPOUT
        self.net = nn.Sequential(nn.Dropout(p0), Maxout(dim, PAPER_D_UNITS, PAPER_D_PIECES),
                                 nn.Dropout(p1), Maxout(PAPER_D_UNITS, PAPER_D_UNITS, PAPER_D_PIECES),
                                 nn.Dropout(p2), nn.Linear(PAPER_D_UNITS, 1))
        _uniform_init(self, PAPER_D_RANGE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x.flatten(1) + 1) * 0.5).squeeze(-1)


def init_weights(m: nn.Module) -> None:
    """DCGAN's initialisation N(0, 0.02) for conv layers; BatchNorm scale N(1, 0.02)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def resolve_arch(cfg, dataset) -> str:
    """The architecture a config asks for on this data: "auto" is the MLP pair for points, DCGAN for images."""
    arch = getattr(cfg, "arch", None) or "auto"
    if arch == "auto":
        return "dcgan" if dataset.kind == "image" else "mlp"
    if dataset.kind != "image" and arch in ("dcgan", "paper"):
        raise ConfigError(f"arch {arch} is for images; {dataset.name} holds points (use mlp or auto)")
    return arch


def build_models(cfg, dataset) -> tuple[nn.Module, nn.Module]:
    """The pair for a resolved config and its dataset."""
    arch = resolve_arch(cfg, dataset)
    if dataset.kind == "image":
        return _image_models(arch, cfg, dataset)
    shift, scale = (torch.from_numpy(a) for a in dataset.normalisation())
    pack = int(getattr(cfg, "pack", None) or 1)
    G = MLPGenerator(cfg.latent_dim, dataset.dim, cfg.hidden, cfg.depth, shift, scale, cfg.g_norm or "none")
    if pack == 1:  # the original D (and the same state_dict keys as runs saved before packing)
        return G, MLPDiscriminator(dataset.dim, cfg.hidden, cfg.depth, shift, scale)
    inner = MLPDiscriminator(dataset.dim * pack, cfg.hidden, cfg.depth, shift.repeat(pack), scale.repeat(pack))
    return G, PackedDiscriminator(inner, pack)


def _image_models(arch: str, cfg, dataset) -> tuple[nn.Module, nn.Module]:
    shape = tuple(dataset.sample_shape)
    C, H, _ = shape
    if arch == "paper":
        marginals = dataset.data.mean(0) if dataset.data is not None else None
        return PaperGenerator(cfg.latent_dim, shape, marginals), PaperDiscriminator(shape)
    if arch == "mlp":
        g = MLPGenerator(cfg.latent_dim, dataset.dim, cfg.hidden, cfg.depth, norm=cfg.g_norm or "none")
        d = MLPDiscriminator(dataset.dim, cfg.hidden, cfg.depth)
        return FlatImageGenerator(g, shape), FlatImageDiscriminator(d)
    if H not in DC_PLANS:
        raise ConfigError(f"the DCGAN pair takes images of side {', '.join(map(str, sorted(DC_PLANS)))}, not {H}")
    G, D = DCGenerator(cfg.latent_dim, C, H, cfg.base_channels), DCDiscriminator(C, H, cfg.base_channels)
    G.apply(init_weights)
    D.apply(init_weights)
    return G, D


class DataSpace(nn.Module):
    """G followed by the map to data space: what is exported and what users see."""

    def __init__(self, generator: nn.Module, kind: str):
        super().__init__()
        self.generator, self.kind = generator, kind

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.generator(z)
        return (x + 1) * 0.5 if self.kind == "image" else x


class GeneratorWithLogit(nn.Module):
    """z → (x, logit): G in data space and D's single-point logit at G(z), for discriminator rejection
    sampling (gan_core.theory.rejection); what an exported model with D computes."""

    def __init__(self, data_space: DataSpace, discriminator: nn.Module):
        super().__init__()
        self.data_space, self.discriminator = data_space, discriminator

    def forward(self, z: torch.Tensor):
        x = self.data_space(z)
        d_in = x * 2 - 1 if self.data_space.kind == "image" else x  # D sees images in [-1, 1], as in training
        return x, pointwise_logit(self.discriminator, d_in)


def sample_prior(n: int, latent_dim: int, prior: str, generator: torch.Generator, device) -> torch.Tensor:
    """z ~ p_z: standard normal, or uniform on [-1, 1]."""
    if prior == "uniform":
        return torch.rand(n, latent_dim, generator=generator, device=device) * 2 - 1
    return torch.randn(n, latent_dim, generator=generator, device=device)
