"""Generator and discriminator networks: an MLP pair for vectors, a DCGAN-style pair for images.

The discriminator returns a logit (D(x) = sigmoid(logit)) so that the objective can use log-sigmoid.
Generators output data space directly for points; image generators output tanh in [-1, 1]
(`to_data_space` maps to [0, 1] for export and viewing).
"""
from __future__ import annotations

import math

import torch
from torch import nn


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


def _ups(size: int) -> int:
    n = int(round(math.log2(size / 4)))
    if size not in (8, 16, 32, 64):
        raise ValueError(f"image size must be 8, 16, 32 or 64, got {size}")
    return n


class DCGenerator(nn.Module):
    """z → 4×4 feature map → (ConvTranspose, BatchNorm, ReLU) doublings → tanh image (as DCGAN)."""

    def __init__(self, latent_dim: int, channels: int, size: int, base: int = 32):
        super().__init__()
        n = _ups(size)
        c = base * 2 ** (n - 1)
        self.c0 = c
        self.project = nn.Sequential(nn.Linear(latent_dim, c * 16, bias=False), nn.BatchNorm1d(c * 16), nn.ReLU(True))
        blocks = []
        for _ in range(n - 1):
            blocks += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        blocks += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, self.c0, 4, 4))


class DCDiscriminator(nn.Module):
    """Image → (Conv stride 2, BatchNorm, LeakyReLU) halvings → 4×4 → logit."""

    def __init__(self, channels: int, size: int, base: int = 32):
        super().__init__()
        n = _ups(size)
        layers, c_in, c = [], channels, base
        for i in range(n):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1, bias=(i == 0))]
            if i > 0:  # no BatchNorm on the input layer, as DCGAN
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2, True))
            c_in, c = c, c * 2
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x).flatten(1)).squeeze(-1)


def init_weights(m: nn.Module) -> None:
    """DCGAN's initialisation N(0, 0.02) for conv layers; BatchNorm scale N(1, 0.02)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_models(cfg, dataset) -> tuple[nn.Module, nn.Module]:
    """The pair for a resolved config and its dataset."""
    if dataset.kind == "image":
        C, H, _ = dataset.sample_shape
        G, D = DCGenerator(cfg.latent_dim, C, H, cfg.base_channels), DCDiscriminator(C, H, cfg.base_channels)
        G.apply(init_weights)
        D.apply(init_weights)
        return G, D
    shift, scale = (torch.from_numpy(a) for a in dataset.normalisation())
    pack = int(getattr(cfg, "pack", None) or 1)
    G = MLPGenerator(cfg.latent_dim, dataset.dim, cfg.hidden, cfg.depth, shift, scale, cfg.g_norm or "none")
    if pack == 1:  # the original D (and the same state_dict keys as runs saved before packing)
        return G, MLPDiscriminator(dataset.dim, cfg.hidden, cfg.depth, shift, scale)
    inner = MLPDiscriminator(dataset.dim * pack, cfg.hidden, cfg.depth, shift.repeat(pack), scale.repeat(pack))
    return G, PackedDiscriminator(inner, pack)


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
