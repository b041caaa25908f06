"""History -> observation features, and the context of the last k rounds as an integer.

Legend: N matches, K context rounds, A actions, F features.

A round's *pair* is ``a * A + o`` (agent move a, opponent move o), one of A^2 values; an empty slot
(before round 1) is -1. The context ``ctx_NK`` holds the last K pairs, oldest first.

Observation layout, F = K*A^2 + 1 (+ 2A with counts):

=====================  ====================================================================
``[j*A^2:(j+1)*A^2]``  one-hot of the pair j rounds before the newest (all zeros when empty)
``[K*A^2]``            round fraction t / T (t rounds played so far; capped at 1)
``[K*A^2+1:]``         (counts=True) running frequencies of the agent's moves, then the
                       opponent's (zeros before round 1)
=====================  ====================================================================
"""

from __future__ import annotations

import torch

__all__ = [
    "feature_size",
    "num_contexts",
    "empty_context",
    "push_context",
    "context_index",
    "encode",
    "context_from_obs",
]


def feature_size(num_actions: int, context: int, counts: bool = False) -> int:
    """F, the observation width for A actions and a context of K rounds."""
    return context * num_actions**2 + 1 + (2 * num_actions if counts else 0)


def num_contexts(num_actions: int, context: int) -> int:
    """How many distinct contexts of K rounds there are, empty slots included: (A^2 + 1)^K."""
    return (num_actions**2 + 1) ** context


def empty_context(n: int, context: int, device=None) -> torch.Tensor:
    """[N, K] long, all slots empty (-1)."""
    return torch.full((n, context), -1, dtype=torch.long, device=device)


def push_context(ctx_NK: torch.Tensor, pair_N: torch.Tensor) -> torch.Tensor:
    """The context after one more round: drop the oldest pair, append ``pair_N``. [N, K] long."""
    if ctx_NK.shape[1] == 0:
        return ctx_NK
    return torch.cat([ctx_NK[:, 1:], pair_N.unsqueeze(1)], dim=1)


def context_index(ctx_NK: torch.Tensor, num_actions: int) -> torch.Tensor:
    """[N] long in 0 .. (A^2+1)^K - 1: the context as one integer (base A^2 + 1, empty = digit 0)."""
    base = num_actions**2 + 1
    k = ctx_NK.shape[1]
    if k == 0:
        return torch.zeros(ctx_NK.shape[0], dtype=torch.long, device=ctx_NK.device)
    weights = base ** torch.arange(k - 1, -1, -1, device=ctx_NK.device)
    return ((ctx_NK + 1) * weights).sum(dim=1)


def encode(
    ctx_NK: torch.Tensor,
    num_actions: int,
    round_fraction: float | torch.Tensor,
    counts_N2A: torch.Tensor | None = None,
    out_NF: torch.Tensor | None = None,
) -> torch.Tensor:
    """The observation [N, F] float32 of a context, a round fraction and (optionally) move counts.

    Args:
        ctx_NK: [N, K] long pairs, -1 for empty.
        round_fraction: t / T, a float or an [N] tensor.
        counts_N2A: [N, 2, A] move counts of (agent, opponent), or None for no count features.
        out_NF: an optional buffer to write into (saves an allocation per round).
    """
    n, k = ctx_NK.shape
    a2 = num_actions**2
    f = feature_size(num_actions, k, counts_N2A is not None)
    obs = out_NF if out_NF is not None else torch.empty(n, f, dtype=torch.float32, device=ctx_NK.device)
    if k:
        hot = obs[:, : k * a2].view(n, k, a2)
        hot.zero_()
        filled = ctx_NK >= 0
        hot.scatter_(2, ctx_NK.clamp(min=0).unsqueeze(2), filled.unsqueeze(2).to(obs.dtype))
    if isinstance(round_fraction, torch.Tensor):
        obs[:, k * a2] = round_fraction.clamp(max=1.0)
    else:
        obs[:, k * a2] = min(float(round_fraction), 1.0)
    if counts_N2A is not None:
        total = counts_N2A[:, 0].sum(dim=1, keepdim=True).clamp(min=1)
        obs[:, k * a2 + 1 :] = (counts_N2A / total.unsqueeze(2)).reshape(n, 2 * num_actions)
    return obs


def context_from_obs(obs_NF: torch.Tensor, num_actions: int, context: int) -> torch.Tensor:
    """Recover the context [N, K] long (-1 for empty) from an observation's one-hot block."""
    a2 = num_actions**2
    if context == 0:
        return torch.zeros(obs_NF.shape[:-1] + (0,), dtype=torch.long, device=obs_NF.device)
    hot = obs_NF[..., : context * a2].reshape(*obs_NF.shape[:-1], context, a2)
    codes = torch.arange(1, a2 + 1, dtype=obs_NF.dtype, device=obs_NF.device)
    return (hot * codes).sum(-1).round().long() - 1
