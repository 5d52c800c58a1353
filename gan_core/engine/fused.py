"""Algorithm 1's two updates with the gradients written out by hand: the same mathematics as
gan_core.engine.algorithm, in fewer and larger operations.

What it implements (the seed's equation numbers):
  discriminator_step: D ascends Ṽ = (1/m) Σ log D(x_i) + (1/m) Σ log(1 − D(G(z_i)))          (eq. 2)
  generator_step:     G descends (1/m) Σ log(1 − D(G(z_i)))  (minimax, eq. 4), or ascends
                      (1/m) Σ log D(G(z_i))  (non-saturating, eq. 3)
with D(x) = sigmoid(logit), so that, per logit l and example weight 1/m,
  ∂Ṽ/∂l = (1 − sigmoid(l))/m for real examples and −sigmoid(l)/m for generated ones,
  ∂(eq. 4)/∂l = −sigmoid(l)/m,  ∂(−eq. 3)/∂l = (sigmoid(l) − 1)/m.

Why: these nets are small, so on a CPU a third or more of a step is per-operation overhead (autograd
records every forward operation, runs one node per backward operation, and optimiser.step() walks the
parameters in Python). Here each layer's backward is one or two aten kernels called directly, no graph is
built, D's two forward passes are one batch of 2m where D has no BatchNorm (batch statistics would mix real
and generated examples otherwise), the diagnostics come from the sigmoid the gradient needs anyway, and
Adam is torch's fused kernel called on the optimiser's own state (so checkpoints are unchanged).

The networks are read as chains of layers (gan_core.engine.models' MLP and DCGAN pairs); `supports` says whether a
pair can be run this way, and gan_core.engine.training falls back to gan_core.engine.algorithm otherwise. The results
equal gan_core.engine.algorithm's to float rounding (tests/test_fused.py). On CUDA, GraphedIteration replays
these same steps, one whole iteration, as a CUDA graph (their fixed shapes and direct kernels are what make
that capturable): one concept, the fused iteration.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_core.engine import algorithm
from gan_core.engine.models import DCDiscriminator, DCGenerator, MLPDiscriminator, MLPGenerator

aten = torch.ops.aten


# --- layers: forward keeps what backward needs; backward returns the input's gradient --------------------

class _Linear:
    def __init__(self, mod: nn.Linear):
        self.w, self.b = mod.weight, mod.bias
        self.params = [p for p in (self.w, self.b) if p is not None]
        self.zero_b = None  # set where BatchNorm follows (see _layers)

    def forward(self, h, keep):
        if self.w.shape[0] == 1 and self.b is not None:  # D's last layer: the same rounding as a stack (stacked.py)
            return (h * self.w).sum(-1, keepdim=True) + self.b, (h if keep else None)
        return nn.functional.linear(h, self.w, self.b), (h if keep else None)  # addmm, without a Python w.t()

    def backward(self, g, saved, grads, need_input):
        if grads is not None:
            grads[self.w] = torch.mm(g.t(), saved)
            if self.b is not None:
                grads[self.b] = g.sum(0) if self.zero_b is None else self.zero_b
        return torch.mm(g, self.w) if need_input else None


def _to_image(h, w, b, m, out_pad):
    """A transposed convolution of h by w (weights [wide, image, k, k]) with module m's stride, padding and
    dilation: ATen's own kernel. For an image side of 1–4 channels — a generator's image layer, and the
    gradient a discriminator's first layer passes back to its image — oneDNN's kernel is several times slower
    than this one (bench.train_profile shows where a step's time goes)."""
    return aten.slow_conv_transpose2d(h, w, list(w.shape[2:]), b, list(m.stride), list(m.padding), list(out_pad),
                                      list(m.dilation))


def _out_pad(g, w, m, size) -> list:
    """The output padding that makes the transposed convolution of g come back to `size` (H, W)."""
    return [size[i] - ((g.shape[2 + i] - 1) * m.stride[i] - 2 * m.padding[i] + m.dilation[i] * (w.shape[2 + i] - 1)
                       + 1) for i in range(2)]


class _Conv:
    # oneDNN or ATen's kernel is a fixed rule of the layer's shape, never a timing: every run of a config
    # computes with the same kernels (the same bits on resume and replay).
    IMAGE_CHANNELS = 4

    def __init__(self, mod):
        self.mod, self.w, self.b = mod, mod.weight, mod.bias
        self.params = [p for p in (self.w, self.b) if p is not None]
        self.transposed = isinstance(mod, nn.ConvTranspose2d)
        self.fwd = nn.functional.conv_transpose2d if self.transposed else nn.functional.conv2d
        narrow = self.w.shape[1] <= self.IMAGE_CHANNELS and mod.groups == 1 and self.w.device.type == "cpu"
        self.image_out = self.transposed and narrow       # forward: wide → image
        self.image_in = not self.transposed and narrow    # backward to the input: wide → image

    def forward(self, h, keep):
        m = self.mod
        if self.image_out:
            out = _to_image(h, self.w, self.b, m, m.output_padding)
        else:
            out = self.fwd(h, self.w, self.b, m.stride, m.padding)
        return out, (h if keep else None)

    def backward(self, g, saved, grads, need_input):
        m = self.mod
        want_w = grads is not None
        direct = need_input and self.image_in
        gi, gw, gb = aten.convolution_backward.default(
            g, saved, self.w, [self.b.shape[0]] if self.b is not None else None, m.stride, m.padding, m.dilation,
            self.transposed, m.output_padding, m.groups,
            [need_input and not direct, want_w, want_w and self.b is not None])
        if direct:
            gi = _to_image(g, self.w, None, m, _out_pad(g, self.w, m, saved.shape[2:]))
        if want_w:
            grads[self.w] = gw
            if self.b is not None:
                grads[self.b] = gb
        return gi


class _BatchNorm:
    """Training-mode BatchNorm: batch statistics, running statistics updated in place (as the module)."""

    def __init__(self, mod):
        self.mod = mod
        self.params = [mod.weight, mod.bias]

    def forward(self, h, keep):
        m = self.mod
        m.num_batches_tracked.add_(1)
        out, mean, invstd = torch.native_batch_norm(h, m.weight, m.bias, m.running_mean, m.running_var, True,
                                                    m.momentum, m.eps)
        return out, ((h, mean, invstd) if keep else None)

    def backward(self, g, saved, grads, need_input):
        m = self.mod
        h, mean, invstd = saved
        want_w = grads is not None
        gi, gw, gb = aten.native_batch_norm_backward.default(
            g, h, m.weight, m.running_mean, m.running_var, mean, invstd, True, m.eps, [need_input, want_w, want_w])
        if want_w:
            grads[m.weight], grads[m.bias] = gw, gb
        return gi


class _Activation:
    """LeakyReLU, ReLU or tanh; the backward needs only the output.

    Both directions work in place: the input is the fresh output of the layer before (which keeps its own
    input, never its output), and the incoming gradient is the fresh result of the layer after. No new
    tensor, no second pass over memory (the same bits)."""
    params: list = []

    def __init__(self, mod):
        if isinstance(mod, nn.LeakyReLU):
            s = mod.negative_slope
            self.fwd = lambda h: nn.functional.leaky_relu_(h, s)
            self.bwd = lambda g, out: aten.leaky_relu_backward.grad_input(g, out, s, True, grad_input=g)
        elif isinstance(mod, nn.ReLU):
            self.fwd = torch.relu_
            self.bwd = lambda g, out: aten.threshold_backward.grad_input(g, out, 0, grad_input=g)
        else:
            self.fwd = torch.tanh_
            self.bwd = lambda g, out: aten.tanh_backward.grad_input(g, out, grad_input=g)

    def forward(self, h, keep):
        out = self.fwd(h)
        return out, (out if keep else None)

    def backward(self, g, saved, grads, need_input):
        return self.bwd(g, saved)


class _Affine:
    """y = (h + a) · s, or y = a + s · h: the MLPs' fixed maps between data units and standardised units."""
    params: list = []

    def __init__(self, shift, scale, into_standard: bool):
        self.shift, self.scale, self.into = shift, scale, into_standard

    def forward(self, h, keep):
        return ((h - self.shift) / self.scale if self.into else torch.addcmul(self.shift, self.scale, h)), None

    def backward(self, g, saved, grads, need_input):
        return g / self.scale if self.into else g * self.scale


class _Reshape:
    params: list = []

    def __init__(self, shape_of):
        self.shape_of = shape_of  # h → the output shape

    def forward(self, h, keep):
        return h.reshape(self.shape_of(h)), (h.shape if keep else None)

    def backward(self, g, saved, grads, need_input):
        return g.reshape(saved)


_KINDS = ((nn.Linear, _Linear), ((nn.Conv2d, nn.ConvTranspose2d), _Conv),
          ((nn.BatchNorm1d, nn.BatchNorm2d), _BatchNorm), ((nn.LeakyReLU, nn.ReLU, nn.Tanh), _Activation))


def _layers(seq: nn.Sequential) -> list:
    out = []
    for mod in seq:
        for kind, cls in _KINDS:
            if isinstance(mod, kind):
                out.append(cls(mod))
                break
        else:
            raise TypeError(f"no fused form for {type(mod).__name__}")
    for a, b in zip(out, out[1:]):
        if isinstance(a, _Linear) and isinstance(b, _BatchNorm) and a.b is not None:
            # BatchNorm subtracts the batch mean, so a bias just before it has gradient exactly 0; autograd
            # returns its rounding noise instead, which Adam (dividing by its root mean square) would turn
            # into steps of ±lr. The exact 0 keeps the bias, and runs that round differently, unchanged.
            a.zero_b = torch.zeros_like(a.b)
    return out


def _chain(net: nn.Module) -> list:
    """The network as a list of layers, in order; TypeError where a part has no fused form."""
    if type(net) is MLPGenerator:
        return _layers(net.net) + [_Affine(net.shift, net.scale, False)]
    if type(net) is MLPDiscriminator:
        return [_Affine(net.shift, net.scale, True)] + _layers(net.net) + [_Reshape(lambda h: h.shape[:-1])]
    if type(net) is DCGenerator:
        c0, s0 = net.c0, net.s0  # the first feature map: 4×4, or 7×7 for 28×28 pictures
        return _layers(net.project) + [_Reshape(lambda h: (-1, c0, s0, s0))] + _layers(net.net)
    if type(net) is DCDiscriminator:
        return (_layers(net.net) + [_Reshape(lambda h: (h.shape[0], -1))] + _layers(nn.Sequential(net.head))
                + [_Reshape(lambda h: h.shape[:-1])])
    raise TypeError(f"no fused form for {type(net).__name__}")


def supports(G: nn.Module, D: nn.Module) -> bool:
    try:
        _chain(G), _chain(D)
    except TypeError:
        return False
    return True


def _forward(chain, h, keep: bool):
    saved = []
    for layer in chain:
        h, s = layer.forward(h, keep)
        saved.append(s)
    return h, saved


def _backward(chain, saved, g, grads):
    """Gradients of the chain's parameters into grads (None: only the input's gradient is wanted)."""
    last = 0 if grads is not None else -1  # the input's gradient is needed only to go on into another net
    for i in range(len(chain) - 1, last, -1):
        g = chain[i].backward(g, saved[i], grads, True)
    if grads is not None:
        chain[0].backward(g, saved[0], grads, False)
        return None
    return g


class _Adam:
    """torch.optim.Adam(fused=True)'s update, called on the optimiser's own state without its Python walk
    over the parameters. Falls back to opt.step() for anything else (SGD, a missing state, amsgrad...)."""

    def __init__(self, opt: torch.optim.Optimizer):
        self.opt = opt
        self.fast = (isinstance(opt, torch.optim.Adam) and len(opt.param_groups) == 1
                     and opt.param_groups[0].get("fused") and not opt.param_groups[0]["amsgrad"]
                     and not opt.param_groups[0]["maximize"] and not opt.param_groups[0]["weight_decay"])
        self.lists = None
        self.lr_tensor = None  # GraphedIteration: the rate as a device tensor, filled between replays

    def step(self, grads: dict) -> None:
        params = self.opt.param_groups[0]["params"]
        if not self.fast or self.lists is None and not self._bind():
            for p in params:
                p.grad = grads[p]
            self.opt.step()
            for p in params:
                p.grad = None
            return
        group = self.opt.param_groups[0]
        exp_avgs, exp_avg_sqs, steps = self.lists
        torch._foreach_add_(steps, self.ones)  # a tensor list: no scalar-to-tensor conversion per parameter
        lr = self.lr_tensor if self.lr_tensor is not None else group["lr"]
        torch._fused_adam_(params, [grads[p] for p in params], exp_avgs, exp_avg_sqs, [], steps, amsgrad=False,
                           lr=lr, beta1=group["betas"][0], beta2=group["betas"][1], weight_decay=0.0,
                           eps=group["eps"], maximize=False, grad_scale=None, found_inf=None)

    def _bind(self) -> bool:
        """The state tensors, once the first opt.step() has created them (and after a load_state_dict)."""
        params = self.opt.param_groups[0]["params"]
        st = self.opt.state
        if not all(p in st and "exp_avg" in st[p] for p in params):
            return False
        self.lists = ([st[p]["exp_avg"] for p in params], [st[p]["exp_avg_sq"] for p in params],
                      [st[p]["step"] for p in params])
        one = torch.ones_like(self.lists[2][0])
        self.ones = [one] * len(params)
        return True

    def reset(self) -> None:
        self.lists = None


class FusedSteps:
    """Algorithm 1's discriminator_step and generator_step (same signatures and results as
    gan_core.engine.algorithm's, for these G, D and optimisers), fused."""

    def __init__(self, G: nn.Module, D: nn.Module, opt_g, opt_d):
        self.G, self.D = G, D
        self.g_chain, self.d_chain = _chain(G), _chain(D)
        # one batch of 2m for D's two passes, unless batch statistics would mix the halves
        self.joint = not any(isinstance(layer, _BatchNorm) for layer in self.d_chain)
        self.adam_g, self.adam_d = _Adam(opt_g), _Adam(opt_d)
        self._labels: dict = {}

    def reset(self) -> None:
        """After the optimisers' state was replaced (load_state_dict)."""
        self.adam_g.reset()
        self.adam_d.reset()

    @torch.no_grad()
    def discriminator_step(self, x: torch.Tensor, z: torch.Tensor, noise=None):
        """eq. 2. Returns (Ṽ, mean D(x), mean D(G(z))), detached. noise: instance noise, as algorithm's."""
        m = x.shape[0]
        fake, _ = _forward(self.g_chain, z, False)  # G held fixed (batch statistics still update, as eager)
        if noise is not None:
            x, fake = x + noise[0], fake + noise[1]
        grads: dict = {}
        if self.joint:
            logits, saved = _forward(self.d_chain, torch.cat([x, fake]), True)
            s = torch.sigmoid(logits)
            sign = self._sign(m, logits)
            v = torch.nn.functional.logsigmoid(logits * sign).view(2, m).mean(1).sum()
            means = s.view(2, m).mean(1)
            # −∂Ṽ/∂l: (sigmoid(l) − 1)/m for the real half, sigmoid(l)/m for the generated half
            g = (s - (sign > 0).to(s.dtype)) / m
            _backward(self.d_chain, saved, g, grads)
            d_real, d_fake = means[0], means[1]
        else:
            real_logits, saved_r = _forward(self.d_chain, x, True)
            fake_logits, saved_f = _forward(self.d_chain, fake, True)
            lsr, lsf = torch.nn.functional.logsigmoid(real_logits), torch.nn.functional.logsigmoid(-fake_logits)
            v = lsr.mean() + lsf.mean()
            sr, sf = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
            _backward(self.d_chain, saved_r, (sr - 1) / m, grads)
            fake_grads: dict = {}
            _backward(self.d_chain, saved_f, sf / m, fake_grads)
            for p, gp in fake_grads.items():
                grads[p] = grads[p] + gp
            d_real, d_fake = sr.mean(), sf.mean()
        self.adam_d.step(grads)
        return v, d_real, d_fake

    @torch.no_grad()
    def generator_step(self, z: torch.Tensor, objective: str, noise=None) -> torch.Tensor:
        """eq. 4 (minimax) or eq. 3 (non-saturating). Returns the loss G descended, detached.
        noise: instance noise added to G(z); an added constant passes D's input gradient through unchanged."""
        m = z.shape[0]
        fake, saved_g = _forward(self.g_chain, z, True)
        logits, saved_d = _forward(self.d_chain, fake if noise is None else fake + noise, True)
        loss = algorithm.generator_loss(logits, objective)  # the value (the same function as the eager step's)
        g = torch.sigmoid(logits) / -m if objective == "minimax" else (torch.sigmoid(logits) - 1) / m
        g = _backward(self.d_chain, saved_d, g, None)  # through D to its input; D's weights stay as they are
        grads: dict = {}
        _backward(self.g_chain, saved_g, g, grads)
        self.adam_g.step(grads)
        return loss

    def _sign(self, m: int, like: torch.Tensor) -> torch.Tensor:
        key = (m, like.device, like.dtype)
        if key not in self._labels:
            self._labels[key] = torch.cat([torch.ones(m, dtype=like.dtype, device=like.device),
                                           -torch.ones(m, dtype=like.dtype, device=like.device)])
        return self._labels[key]


class GraphedIteration:
    """CUDA only: one whole iteration of Algorithm 1 (k D steps of eq. 2, then G's step of eq. 3 or 4, Adam
    included) captured once as a CUDA graph and replayed: one launch instead of hundreds.

    Shapes are static: the minibatches are copied into fixed input buffers (drawn outside the graph, from the
    run's own random streams, so the draws are the ones of the eager loop); the learning rates live in
    device tensors that set_lr fills between replays. The optimisers' state must exist before capture: the
    first `warmup` iterations run eagerly (FusedSteps), which also lets the allocator settle.
    """

    def __init__(self, steps: "FusedSteps", k: int, objective: str, x_like: torch.Tensor, z_like: torch.Tensor,
                 warmup: int = 3):
        if x_like.device.type != "cuda":
            raise RuntimeError("GraphedIteration needs CUDA")
        self.steps, self.k, self.objective, self.warmup = steps, k, objective, warmup
        self.x = torch.zeros((k, *x_like.shape), device=x_like.device, dtype=x_like.dtype)
        self.z = torch.zeros((k + 1, *z_like.shape), device=z_like.device, dtype=z_like.dtype)
        self.graph = None
        self.lr = {a: torch.tensor(float(a.opt.param_groups[0]["lr"]), device=x_like.device)
                   for a in (steps.adam_d, steps.adam_g)}

    def set_lr(self) -> None:
        for a, t in self.lr.items():
            t.fill_(float(a.opt.param_groups[0]["lr"]))

    def _body(self):
        out = []
        for j in range(self.k):
            out.append(torch.stack(self.steps.discriminator_step(self.x[j], self.z[j])))
        return torch.stack(out), self.steps.generator_step(self.z[self.k], self.objective)

    def __call__(self, xs: torch.Tensor, zs: torch.Tensor):
        """xs [k, m, ...] real minibatches, zs [k+1, m, latent] noise (the last for G). Returns
        ([k, 3] (Ṽ, mean D(x), mean D(G(z))) per D step, G's loss); the tensors are overwritten next call."""
        self.x.copy_(xs)
        self.z.copy_(zs)
        if self.graph is not None:
            self.graph.replay()
            return self.out
        if self.warmup > 1:
            self.warmup -= 1
            return self._body()
        if self.warmup == 1:  # the last eager iteration on a side stream, as torch.cuda.graphs asks
            self.warmup = 0
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                out = self._body()
            torch.cuda.current_stream().wait_stream(s)
            return out
        for a in self.lr:  # inside the graph the learning rate is read from a device tensor
            a.lr_tensor = self.lr[a]
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = self._body()
        self.graph.replay()  # the capture itself does not run the kernels
        return self.out
