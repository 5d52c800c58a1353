"""Algorithm 1 for N runs of the same MLP pair at once: every layer applied to all members in one batched
operation (bmm over a leading member axis), the gradients written out as in gan_core.engine.fused.

The members' own modules stay what they are (their parameters and BatchNorm buffers become views into the
stacked tensors), so each member's snapshots, checkpoint and ONNX export read its own weights as usual.
The operations are those of gan_core.engine.fused with a member axis in front (bmm for mm, a member's BatchNorm
as N·C channels of one batch): each member's numbers are the ones it would get trained alone, up to the
rounding of the batched kernels (tests/test_compare.py).

Per member: its objective (eq. 3 or 4), its learning rates and Adam state (Adam is elementwise, so one
fused call per group of equal settings updates every member exactly), its k (a member whose k is smaller
sits out the extra D steps: nothing of it changes, its random streams are not drawn from).

A step computes the first n members of the stack (n = the leading dimension of its input; every layer
slices its stacked weights to it, a view): stacked with larger k first, the extra D steps cost only the
members that take them. Members inside the prefix that sit a step out are masked (their BatchNorm
statistics restored, no Adam update).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_core.engine import fused
from gan_core.engine.models import MLPDiscriminator, MLPGenerator

aten = torch.ops.aten


def supports(Gs: list, Ds: list) -> bool:
    """Stackable: MLP pairs of one architecture (the same parameter shapes), fusable layers."""
    if not all(type(g) is MLPGenerator for g in Gs) or not all(type(d) is MLPDiscriminator for d in Ds):
        return False
    shapes = lambda m: [tuple(p.shape) for p in m.state_dict().values()]  # noqa: E731
    return (all(shapes(g) == shapes(Gs[0]) for g in Gs) and all(shapes(d) == shapes(Ds[0]) for d in Ds)
            and all(fused.supports(g, d) for g, d in zip(Gs, Ds)))


def _stack_into(mods: list, get, put) -> torch.Tensor:
    """One [N, ...] tensor from each member's tensor; each member's becomes a view of its row."""
    s = torch.stack([get(m).detach() for m in mods]).contiguous()
    for i, m in enumerate(mods):
        put(m, s[i])
    return s


def _param_setter(name):
    def put(mod, view):
        getattr(mod, name).data = view
    return put


def _buffer_setter(name):
    def put(mod, view):
        mod._buffers[name] = view
    return put


class _SLinear:
    def __init__(self, mods):
        self.w = _stack_into(mods, lambda m: m.weight, _param_setter("weight"))          # [N, out, in]
        self.b = _stack_into(mods, lambda m: m.bias, _param_setter("bias")).unsqueeze(1)  # [N, 1, out]
        self.params = [("weight", mods), ("bias", mods)]
        self.zero_b = None  # where BatchNorm follows: the exact gradient 0 (gan_core.engine.fused._layers)
        self._views: dict = {}

    def _first(self, n: int) -> tuple:
        """(w, wᵀ, b, zero_b) of the first n members: views, made once per n (the stack is updated in place)."""
        if n not in self._views:
            w = self.w[:n]
            self._views[n] = (w, w.transpose(1, 2), self.b[:n], None if self.zero_b is None else self.zero_b[:n])
        return self._views[n]

    def forward(self, h, keep):
        w, wt, b, _ = self._first(h.shape[0])  # the first n members
        if w.shape[1] == 1:  # one output: baddbmm and addmm round differently there; this rounds as fused
            return (h * w).sum(-1, keepdim=True) + b, (h if keep else None)
        return torch.baddbmm(b, h, wt), (h if keep else None)

    def backward(self, g, saved, grads, need_input):
        w, _, _, zero_b = self._first(g.shape[0])
        if grads is not None:
            grads.append(torch.bmm(g.transpose(1, 2), saved))
            grads.append(g.sum(1) if zero_b is None else zero_b)
        return torch.bmm(g, w) if need_input else None


class _SBatchNorm:
    """Each member's BatchNorm1d over its own batch: the N members' C channels as N·C channels of a batch of m."""

    def __init__(self, mods):
        self.w = _stack_into(mods, lambda m: m.weight, _param_setter("weight")).view(-1)
        self.b = _stack_into(mods, lambda m: m.bias, _param_setter("bias")).view(-1)
        self.rm = _stack_into(mods, lambda m: m.running_mean, _buffer_setter("running_mean"))
        self.rv = _stack_into(mods, lambda m: m.running_var, _buffer_setter("running_var"))
        self.nbt = _stack_into(mods, lambda m: m.num_batches_tracked, _buffer_setter("num_batches_tracked"))
        self.momentum, self.eps = mods[0].momentum, mods[0].eps
        self.params = [("weight", mods), ("bias", mods)]
        self._views: dict = {}

    def _first(self, N: int, C: int) -> tuple:
        """(weight, bias, running mean, running var, batches tracked) of the first N members, as N·C channels:
        views, made once per N."""
        if N not in self._views:
            self._views[N] = (self.w[:N * C], self.b[:N * C], self.rm[:N].view(-1), self.rv[:N].view(-1),
                              self.nbt[:N])
        return self._views[N]

    def forward(self, h, keep):
        N, m, C = h.shape  # the first N members
        w, b, rm, rv, nbt = self._first(N, C)
        nbt.add_(1)
        ht = h.transpose(0, 1).reshape(m, N * C)
        out, mean, invstd = torch.native_batch_norm(ht, w, b, rm, rv, True, self.momentum, self.eps)
        return out.view(m, N, C).transpose(0, 1).contiguous(), ((ht, mean, invstd) if keep else None)

    def backward(self, g, saved, grads, need_input):
        N, m, C = g.shape
        w, _, rm, rv, _ = self._first(N, C)
        ht, mean, invstd = saved
        gt = g.transpose(0, 1).reshape(m, N * C)
        gi, gw, gb = aten.native_batch_norm_backward.default(
            gt, ht, w, rm, rv, mean, invstd, True, self.eps,
            [need_input, grads is not None, grads is not None])
        if grads is not None:
            grads.append(gw.view(N, C))
            grads.append(gb.view(N, C))
        return gi.view(m, N, C).transpose(0, 1).contiguous() if need_input else None


class _SAffine:
    def __init__(self, mods, into_standard):
        self.shift = _stack_into(mods, lambda m: m.shift, _buffer_setter("shift")).unsqueeze(1)
        self.scale = _stack_into(mods, lambda m: m.scale, _buffer_setter("scale")).unsqueeze(1)
        self.into = into_standard
        self.params = []

    def forward(self, h, keep):
        n = h.shape[0]
        shift, scale = self.shift[:n], self.scale[:n]
        return ((h - shift) / scale if self.into else torch.addcmul(shift, scale, h)), None

    def backward(self, g, saved, grads, need_input):
        n = g.shape[0]
        return g / self.scale[:n] if self.into else g * self.scale[:n]


class _SSqueeze:
    params: list = []

    def forward(self, h, keep):
        return h.squeeze(-1), None

    def backward(self, g, saved, grads, need_input):
        return g.unsqueeze(-1)


def _schain(nets: list, generator: bool) -> list:
    chain = [] if generator else [_SAffine(nets, True)]
    for j, mod in enumerate(nets[0].net):
        mods = [n.net[j] for n in nets]
        if isinstance(mod, nn.Linear):
            chain.append(_SLinear(mods))
        elif isinstance(mod, nn.BatchNorm1d):
            chain.append(_SBatchNorm(mods))
        else:
            chain.append(fused._Activation(mod))  # elementwise: the same for a stack
    for a, b in zip(chain, chain[1:]):
        if isinstance(a, _SLinear) and isinstance(b, _SBatchNorm):
            a.zero_b = torch.zeros_like(a.b.squeeze(1))
    return chain + ([_SAffine(nets, False)] if generator else [_SSqueeze()])


def _params(chain, nets) -> list:
    """Each member's parameters in the order the backward pass appends their gradients."""
    out = []
    for layer in reversed(chain):
        for name, mods in getattr(layer, "params", []):
            out.append([getattr(m, name) for m in mods])
    return out


class _GroupAdam:
    """Adam (fused kernel) for every member at once: one call per group of members with equal settings."""

    def __init__(self, opts: list, params: list):
        self.opts, self.params = opts, params  # params[j][i]: parameter j of member i (backward order)
        self.ready = [False] * len(opts)
        self._lists: dict = {}  # members of a group → their (params, exp_avgs, exp_avg_sqs, steps, ones)

    def step(self, grads: list, members: list) -> None:
        groups: dict = {}
        for i in members:
            g = self.opts[i].param_groups[0]
            if not self.ready[i]:  # the first step creates the state: torch's own step, once
                for j, ps in enumerate(self.params):
                    ps[i].grad = grads[j][i]
                self.opts[i].step()
                for ps in self.params:
                    ps[i].grad = None
                self.ready[i] = True
                continue
            groups.setdefault((g["lr"], *g["betas"], g["eps"]), []).append(i)
        per = [g.unbind(0) for g in grads] if groups else []  # each member's gradient: one call a tensor
        for (lr, b1, b2, eps), idx in groups.items():
            ps, ea, es, st, ones = self._state_lists(tuple(idx))
            gs = [pg[i] for i in idx for pg in per]
            torch._foreach_add_(st, ones)  # a tensor list: no scalar-to-tensor conversion per parameter
            torch._fused_adam_(ps, gs, ea, es, [], st, amsgrad=False, lr=lr, beta1=b1, beta2=b2, weight_decay=0.0,
                               eps=eps, maximize=False, grad_scale=None, found_inf=None)

    def _state_lists(self, idx: tuple) -> tuple:
        """The members' parameters and Adam state as flat lists (member-major), built once per set of members:
        the state tensors are the optimisers' own, updated in place, and live as long as this stack."""
        if idx not in self._lists:
            ps, ea, es, st = [], [], [], []
            for i in idx:
                state = self.opts[i].state
                for pj in self.params:
                    s = state[pj[i]]
                    ps.append(pj[i])
                    ea.append(s["exp_avg"])
                    es.append(s["exp_avg_sq"])
                    st.append(s["step"])
            self._lists[idx] = (ps, ea, es, st, [torch.ones_like(st[0])] * len(st))
        return self._lists[idx]


def fast_adam(opt) -> bool:
    g = opt.param_groups
    return (isinstance(opt, torch.optim.Adam) and len(g) == 1 and bool(g[0].get("fused"))
            and not g[0]["amsgrad"] and not g[0]["maximize"] and not g[0]["weight_decay"])


class StackedSteps:
    """discriminator_step / generator_step for N members; tensors carry a leading member axis."""

    def __init__(self, Gs, Ds, opts_g, opts_d):
        self.N = len(Gs)
        self.g_chain, self.d_chain = _schain(Gs, True), _schain(Ds, False)
        self.adam_g = _GroupAdam(opts_g, _params(self.g_chain, Gs))
        self.adam_d = _GroupAdam(opts_d, _params(self.d_chain, Ds))
        self.bns = [layer for layer in self.g_chain if isinstance(layer, _SBatchNorm)]
        self._sign = None

    def _keep_buffers(self, members, n):
        """Running statistics to restore for members of the first n that sit a step out (G's forward
        updates all n)."""
        if len(members) == n or not self.bns:
            return None
        return [(bn, bn.rm.clone(), bn.rv.clone(), bn.nbt.clone()) for bn in self.bns]

    def _restore_buffers(self, kept, members, n):
        if kept is None:
            return
        out = [i for i in range(n) if i not in set(members)]
        for bn, rm, rv, nbt in kept:
            bn.rm[out] = rm[out]
            bn.rv[out] = rv[out]
            bn.nbt[out] = nbt[out]

    @torch.no_grad()
    def discriminator_step(self, x, z, members, noise=None):
        """eq. 2 for the first n members (x [n, m, d], z [n, m, latent]); only `members` (positions < n)
        are updated. Returns (Ṽ, mean D(x), mean D(G(z))), each [n]. noise: instance noise (x's shape, twice)."""
        N, m = x.shape[0], x.shape[1]
        kept = self._keep_buffers(members, N)
        fake, _ = fused._forward(self.g_chain, z, False)
        if noise is not None:
            x, fake = x + noise[0], fake + noise[1]
        logits, saved = fused._forward(self.d_chain, torch.cat([x, fake], 1), True)
        s = torch.sigmoid(logits)
        if self._sign is None or self._sign.shape[0] != 2 * m:
            self._sign = torch.cat([torch.ones(m), -torch.ones(m)]).to(s)
        sign = self._sign
        v = torch.nn.functional.logsigmoid(logits * sign).view(N, 2, m).mean(2).sum(1)
        means = s.view(N, 2, m).mean(2)
        g = (s - (sign > 0).to(s.dtype)) / m
        grads: list = []
        fused._backward(self.d_chain, saved, g, grads)
        self._restore_buffers(kept, members, N)
        self.adam_d.step(grads, members)
        return v, means[:, 0], means[:, 1]

    @torch.no_grad()
    def generator_step(self, z, minimax: torch.Tensor, members, noise=None):
        """eq. 4 where minimax[i], else eq. 3, for the first n members (z [n, m, latent], minimax [n]).
        Returns each one's loss [n]. noise: instance noise added to G(z)."""
        N, m = z.shape[0], z.shape[1]
        kept = self._keep_buffers(members, N)
        fake, saved_g = fused._forward(self.g_chain, z, True)
        logits, saved_d = fused._forward(self.d_chain, fake if noise is None else fake + noise, True)
        mm = minimax.view(-1, 1)
        loss = torch.where(minimax, torch.nn.functional.logsigmoid(-logits).mean(1),
                           -torch.nn.functional.logsigmoid(logits).mean(1))
        s = torch.sigmoid(logits)
        g = torch.where(mm, s / -m, (s - 1) / m)
        g = fused._backward(self.d_chain, saved_d, g, None)
        grads: list = []
        fused._backward(self.g_chain, saved_g, g, grads)
        self._restore_buffers(kept, members, N)
        self.adam_g.step(grads, members)
        return loss
