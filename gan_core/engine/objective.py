"""The value function V(D, G) of the seed's eq. (1) and the losses each player descends.

D(x) = sigmoid(logit). Everything is computed from logits with log-sigmoid, because
log(sigmoid(l)) underflows to -inf for l << 0 while logsigmoid(l) stays exact.
"""
import torch
import torch.nn.functional as F


def value_estimate(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Ṽ = (1/m) Σ log D(x_i) + (1/m) Σ log(1 − D(G(z_i)))  (the minibatch estimate of eq. (1))."""
    # log(1 − sigmoid(l)) = logsigmoid(−l)
    return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D ascends Ṽ (eq. (2)), so it descends −Ṽ."""
    return -value_estimate(real_logits, fake_logits)


def generator_loss(fake_logits: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """The quantity G descends.

    minimax (eq. (4)):       descend E_z[log(1 − D(G(z)))]   — saturates when D rejects G(z) confidently.
    nonsaturating (eq. (3)): ascend  E_z[log D(G(z))], i.e. descend −E_z[log D(G(z))].
    """
    if kind == "minimax":
        return F.logsigmoid(-fake_logits).mean()
    if kind == "nonsaturating":
        return -F.logsigmoid(fake_logits).mean()
    raise ValueError(f"unknown generator objective {kind!r}")
