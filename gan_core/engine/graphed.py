"""CUDA only: one whole iteration of Algorithm 1 captured once as a CUDA graph and replayed (issue 13 part 3).

Built on gan_core.engine.fused's steps (no autograd graph, Adam's fused kernel), whose shapes are static.
"""
from __future__ import annotations

import torch

from gan_core.engine.fused import FusedSteps


class GraphedIteration:
    """CUDA only: one whole iteration of Algorithm 1 (k D steps of eq. 2, then G's step of eq. 3 or 4, Adam
    included) captured once as a CUDA graph and replayed: one launch instead of hundreds.

    Shapes are static: the minibatches are copied into fixed input buffers (drawn outside the graph, from the
    run's own random streams, so the draws are the ones of the eager loop); the learning rates live in
    device tensors that set_lr fills between replays. The optimisers' state must exist before capture: the
    first `warmup` iterations run eagerly (FusedSteps), which also lets the allocator settle.
    """

    def __init__(self, steps: FusedSteps, k: int, objective: str, x_like: torch.Tensor, z_like: torch.Tensor,
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
        self.x.copy_(xs); self.z.copy_(zs)
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
