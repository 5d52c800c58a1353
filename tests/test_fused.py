"""gan_core.engine.fused: Algorithm 1's steps with hand-written gradients equal gan_core.engine.algorithm's
(autograd)."""
import copy

import pytest
import torch

from gan_core.config import TrainConfig
from gan_core.data.datasets import load_dataset
from gan_core.engine import fused
from gan_core.engine.algorithm import discriminator_step, generator_step
from gan_core.engine.models import build_models


def _pair(dataset, optimizer="adam", **kw):
    cfg = TrainConfig(dataset=dataset, device="cpu", optimizer=optimizer, **kw).resolved()
    ds = load_dataset(cfg)
    torch.manual_seed(0)
    G, D = build_models(cfg, ds)
    def opts(G, D):
        if optimizer == "sgd":
            return (torch.optim.SGD(G.parameters(), lr=0.01, momentum=0.9),
                    torch.optim.SGD(D.parameters(), lr=0.01, momentum=0.9))
        return (torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True),
                torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True))
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    return cfg, ds, (G, D, *opts(G, D)), (G2, D2, *opts(G2, D2))


def _batches(cfg, ds, n, seed=1):
    g = torch.Generator().manual_seed(seed)
    m = cfg.batch_size
    if ds.data is not None:
        data = torch.from_numpy(ds.data) * (2 if ds.kind == "image" else 1) - (1 if ds.kind == "image" else 0)
        xs = [data[torch.randint(len(data), (m,), generator=g)] for _ in range(n)]
    else:
        c = torch.as_tensor(ds.centers, dtype=torch.float32)
        xs = [c[torch.randint(len(c), (m,), generator=g)] + 0.05 * torch.randn(m, c.shape[1], generator=g)
              for _ in range(n)]
    return xs, [torch.randn(m, cfg.latent_dim, generator=g) for _ in range(2 * n)]


CASES = [
    ("ring8", dict(hidden=16, depth=2), "nonsaturating"),          # MLP, BatchNorm in G, D as one batch of 2m
    ("ring8", dict(hidden=16, depth=2, g_norm="none"), "minimax"),  # MLP without BatchNorm, eq. 4
    ("digits", dict(), "nonsaturating"),                            # DCGAN 8x8: D without BatchNorm
    ("digits", dict(image_size=16, base_channels=8), "minimax"),    # DCGAN 16x16: BatchNorm in D, two passes
]


@pytest.mark.parametrize("dataset,kw,objective", CASES)
def test_fused_steps_equal_autograd(dataset, kw, objective):
    cfg, ds, (G, D, og, od), (G2, D2, og2, od2) = _pair(dataset, **kw)
    assert fused.supports(G2, D2)
    steps = fused.FusedSteps(G2, D2, og2, od2)
    xs, zs = _batches(cfg, ds, 4)
    for i in range(4):
        a = discriminator_step(G, D, od, xs[i], zs[2 * i])
        b = steps.discriminator_step(xs[i], zs[2 * i])
        for s, t in zip(a, b):
            assert abs(s.item() - t.item()) < 1e-5, (i, a, b)
        la = generator_step(G, D, og, zs[2 * i + 1], objective)
        lb = steps.generator_step(zs[2 * i + 1], objective)
        assert abs(la.item() - lb.item()) < 1e-5
    # D's weights and G's function (a bias just before BatchNorm has a zero gradient in exact arithmetic,
    # so Adam turns its rounding noise into steps of ±lr that BatchNorm cancels: compare outputs, not it)
    for p, q in zip(D.parameters(), D2.parameters()):
        assert torch.allclose(p, q, atol=1e-5), (p - q).abs().max()
    z = zs[0]
    assert torch.allclose(G(z), G2(z), atol=1e-4)
    assert any((p - q).abs().max() > 0
               for p, q in zip(G.parameters(), copy.deepcopy(_pair(dataset, **kw)[2][0]).parameters()))


def test_fused_falls_back_to_the_optimiser_for_sgd():
    cfg, ds, (G, D, og, od), (G2, D2, og2, od2) = _pair("ring8", optimizer="sgd", hidden=16, depth=2)
    steps = fused.FusedSteps(G2, D2, og2, od2)
    assert not steps.adam_d.fast
    xs, zs = _batches(cfg, ds, 2)
    for i in range(2):
        discriminator_step(G, D, od, xs[i], zs[2 * i])
        steps.discriminator_step(xs[i], zs[2 * i])
        generator_step(G, D, og, zs[2 * i + 1], "nonsaturating")
        steps.generator_step(zs[2 * i + 1], "nonsaturating")
    for p, q in zip(D.parameters(), D2.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
    assert all(p.grad is None for p in D2.parameters())


def test_unknown_layers_are_not_fused():
    G = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert not fused.supports(G, G)


@pytest.mark.parametrize("channels,size", [(3, 16), (1, 8)])
def test_image_side_convolutions_equal_autograd(channels, size):
    """The image-side convolutions (G's image layer, the gradient D's first layer sends back to its image) run
    on ATen's own kernel rather than oneDNN's: the same function to float rounding, RGB included."""
    from gan_core.engine.models import DCDiscriminator, DCGenerator, init_weights
    torch.manual_seed(3)
    G, D = DCGenerator(8, channels, size, 8), DCDiscriminator(channels, size, 8)
    G.apply(init_weights)
    D.apply(init_weights)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    adam = lambda net: torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999), fused=True)  # noqa: E731
    og, od, og2, od2 = adam(G), adam(D), adam(G2), adam(D2)
    steps = fused.FusedSteps(G2, D2, og2, od2)
    convs = [layer for layer in steps.g_chain + steps.d_chain if isinstance(layer, fused._Conv)]
    assert sum(c.image_out for c in convs) == 1 and sum(c.image_in for c in convs) == 1
    g = torch.Generator().manual_seed(5)
    for _ in range(3):
        x = torch.rand(16, channels, size, size, generator=g) * 2 - 1
        z1, z2 = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
        for s, t in zip(discriminator_step(G, D, od, x, z1), steps.discriminator_step(x, z1)):
            assert abs(s.item() - t.item()) < 1e-5
        assert abs(generator_step(G, D, og, z2, "minimax").item() - steps.generator_step(z2, "minimax").item()) < 1e-5
    for p, q in zip(D.parameters(), D2.parameters()):
        assert torch.allclose(p, q, atol=1e-5), (p - q).abs().max()
    z = torch.randn(4, 8, generator=g)
    G.eval()
    G2.eval()
    assert torch.allclose(G(z), G2(z), atol=1e-4)


def test_the_cuda_graph_iteration_refuses_a_cpu():
    cfg, ds, _, (G, D, og, od) = _pair("ring8", hidden=16, depth=2)
    x, z = torch.zeros(4, 2), torch.zeros(4, cfg.latent_dim)
    with pytest.raises(RuntimeError, match="needs CUDA"):
        fused.GraphedIteration(fused.FusedSteps(G, D, og, od), 1, "nonsaturating", x, z)
