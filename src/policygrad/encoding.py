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

import functools

import torch

__all__ = [
    "feature_size",
    "num_contexts",
    "empty_context",
    "push_context",
    "record_round",
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
    """The context after one more round: drop the oldest pair, append ``pair_N``. [N, K] long
    (for K = 1, a view of ``pair_N``)."""
    k = ctx_NK.shape[1]
    if k == 0:
        return ctx_NK
    if k == 1:
        return pair_N.unsqueeze(1)
    return torch.cat([ctx_NK[:, 1:], pair_N.unsqueeze(1)], dim=1)


def record_round(ctx_NK: torch.Tensor, counts_N2A: torch.Tensor | None, first_N: torch.Tensor, second_N: torch.Tensor, num_actions: int) -> torch.Tensor:
    """One round seen by a player whose moves are ``first_N`` (``second_N``: the other's): the counts
    (row 0 the player's, row 1 the other's; None: none kept) gain the two moves in place, and the
    context after the round is returned (the pair ``first * A + second`` pushed)."""
    if counts_N2A is not None:
        rows = torch.arange(len(first_N))
        counts_N2A[rows, 0, first_N] += 1
        counts_N2A[rows, 1, second_N] += 1
    return push_context(ctx_NK, first_N * num_actions + second_N)


def context_index(ctx_NK: torch.Tensor, num_actions: int) -> torch.Tensor:
    """[N] long in 0 .. (A^2+1)^K - 1: the context as one integer (base A^2 + 1, empty = digit 0)."""
    base = num_actions**2 + 1
    k = ctx_NK.shape[1]
    if k == 0:
        return torch.zeros(ctx_NK.shape[0], dtype=torch.long, device=ctx_NK.device)
    index_N = ctx_NK[:, 0] + 1
    for j in range(1, k):  # Horner's rule over the K slots, oldest first
        index_N = index_N * base + (ctx_NK[:, j] + 1)
    return index_N


# Up to this many distinct contexts, the whole one-hot block of a row is read from one table
# [(A^2+1)^K, K*A^2] with a single gather; above it (long contexts), slot by slot.
_TABLE_ROWS = 4096


@functools.lru_cache(maxsize=None)
def _context_table(num_actions: int, context: int) -> torch.Tensor:
    """[(A^2+1)^K, K*A^2] float32: row c is the one-hot block of the context whose index is c."""
    a2, base = num_actions**2, num_actions**2 + 1
    slot_table = torch.cat([torch.zeros(1, a2), torch.eye(a2)])  # digit 0: empty slot, digit 1 + p: pair p
    codes = torch.arange(base**context)
    digits = [(codes // base ** (context - 1 - j)) % base for j in range(context)]  # oldest slot first
    return torch.cat([slot_table[d] for d in digits], dim=1)


def _table_with(num_actions: int, context: int, fraction: float) -> torch.Tensor:
    """:func:`_context_table` with the round fraction as one more column."""
    table = _context_table(num_actions, context)
    return torch.cat([table, torch.full((table.shape[0], 1), fraction)], dim=1)


_small_table_with = functools.lru_cache(maxsize=256)(_table_with)  # a match of T rounds asks for T + 1 fractions


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
        out_NF: an optional [N, F] tensor to write the observation into (and return).
    """
    n, k = ctx_NK.shape
    a2 = num_actions**2
    per_row = isinstance(round_fraction, torch.Tensor)
    fraction = 0.0 if per_row else min(float(round_fraction), 1.0)
    if k and num_contexts(num_actions, k) <= _TABLE_ROWS:
        if num_contexts(num_actions, k) * (k * a2 + 1) <= 4096:  # small: cached per fraction
            table = _small_table_with(num_actions, k, fraction)
        else:
            table = _table_with(num_actions, k, fraction)
        head_NH = table.index_select(0, context_index(ctx_NK, num_actions))  # one gather per row
    else:
        head_NH = torch.empty(n, k * a2 + 1, dtype=torch.float32, device=ctx_NK.device)
        slot_table = _context_table(num_actions, 1)
        for j in range(k):
            head_NH[:, j * a2 : (j + 1) * a2] = slot_table.index_select(0, ctx_NK[:, j] + 1)
        head_NH[:, k * a2] = fraction
    if isinstance(round_fraction, torch.Tensor):  # per_row
        head_NH[:, k * a2] = round_fraction.clamp(max=1.0)
    obs = head_NH
    if counts_N2A is not None:
        total = counts_N2A[:, 0].sum(dim=1, keepdim=True).clamp(min=1)
        freq = (counts_N2A / total.unsqueeze(2)).reshape(n, 2 * num_actions)
        obs = torch.cat([head_NH, freq.to(torch.float32)], dim=1)
    if out_NF is not None:
        return out_NF.copy_(obs)
    return obs


def context_from_obs(obs_NF: torch.Tensor, num_actions: int, context: int) -> torch.Tensor:
    """Recover the context [N, K] long (-1 for empty) from an observation's one-hot block."""
    a2 = num_actions**2
    if context == 0:
        return torch.zeros(obs_NF.shape[:-1] + (0,), dtype=torch.long, device=obs_NF.device)
    hot = obs_NF[..., : context * a2].reshape(*obs_NF.shape[:-1], context, a2)
    codes = torch.arange(1, a2 + 1, dtype=obs_NF.dtype, device=obs_NF.device)
    return (hot * codes).sum(-1).round().long() - 1
