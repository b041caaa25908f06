"""The exact best response to a feed-forward policy: backward dynamic programming over (round, state).

Legend: S states of one round, T rounds, K context rounds, A actions, P = A^2 move pairs.

A policy that sees the last K rounds, the round t (and, optionally, the running move counts) is,
to an opponent who knows it, a finite-horizon MDP: the state is what the policy conditions on,
``s_t = (context, counts)`` at round t, the opponent picks its move o, the agent draws
a ~ pi(. | t, s_t), the opponent earns ``-M[a, o]`` and the state moves to
``s_{t+1} = (push(context, a*A + o), counts + (a, o))``. Nothing else of the history changes
the agent's future play, so a best response may condition on ``(t, s_t)`` only, and backward
dynamic programming solves it exactly:

    W_T(s) = 0,   W_t(s) = max_o sum_a pi(a | t, s) (-M[a, o] + W_{t+1}(s'(s, a, o)))

The state set of each round is built forward from s_0 (every state reachable by some history),
deduplicated, and the policy is called once per round on all of them. Its size is what is
counted, not an a-priori bound (:func:`reachable_states`): with the default features (K = 5 rounds
of context and the counts) T = 5 has 7,381 reachable states where contexts x count vectors would be
22.5 million. A round with more than ``max_states``, or rounds that together would not fit in the
available memory, refuse at once with :class:`~policygrad.errors.StateSpaceTooLarge`
(:func:`check_state_space`).

Two modules read it: the exploitability measure (:mod:`policygrad.exploitability`, W_0(s_0) / T)
and the white-box ``best-response`` opponent (:mod:`policygrad.opponents.whitebox`), which plays the
reply table. Kept apart from the measure as open_spiel keeps ``best_response`` apart from
``exploitability``.
"""

from __future__ import annotations

import math

import torch

from . import encoding
from .errors import StateSpaceTooLarge
from .games import Game, make_game
from .limits import available_memory, format_bytes
from .policies import Policy

__all__ = ["BestResponseTable", "best_response", "reachable_states", "check_state_space", "MAX_STATES"]

MAX_STATES = 2_000_000  # the most states one round may hold before the exact DP refuses


class BestResponseTable:
    """The exact best response to a feed-forward policy: a table of replies per (t, state).

    Attributes:
        value_total: W_0(s_0), the best response's expected total reward.
        replies: per round t, [S_t, A] probabilities, uniform over the maximising moves.
        keys: per round t, [S_t] long sorted state keys (see :meth:`state_keys`).
        states: the reachable states of all rounds together; ``states_per_round`` per round.
    """

    def __init__(self, game: Game, rounds: int, context: int, counts: bool, keys, replies, value_total: float, states: int) -> None:
        self.game, self.rounds, self.context, self.counts = game, rounds, context, counts
        self.keys, self.replies, self.value_total, self.states = keys, replies, value_total, states

    @property
    def value_per_round(self) -> float:
        return self.value_total / self.rounds

    @property
    def states_per_round(self) -> list[int]:
        return [len(k) for k in self.keys]

    def state_keys(self, t: int, ctx_NK: torch.Tensor, counts_N2A: torch.Tensor | None) -> torch.Tensor:
        """[N] long keys of states after t rounds (context and, with counts, the move counts)."""
        return _keys(ctx_NK, counts_N2A, self.game.num_actions, t)

    def reply(self, t: int, ctx_NK: torch.Tensor, counts_N2A: torch.Tensor | None = None) -> torch.Tensor:
        """[N, A]: the best response's move distribution at round t in these states."""
        table = self.keys[t]
        keys = self.state_keys(t, ctx_NK, counts_N2A)
        idx = torch.searchsorted(table, keys).clamp(max=len(table) - 1)
        outside = not torch.equal(table[idx], keys) or (counts_N2A is not None and bool((counts_N2A.sum(-1) != t).any()))
        if outside:
            raise ValueError(f"round {t}: a state outside the best-response table (is the policy's context/counts layout the one it was built for?)")
        return self.replies[t][idx]


def _keys(ctx_NK: torch.Tensor, counts_N2A: torch.Tensor | None, num_actions: int, t: int) -> torch.Tensor:
    """[N] long: one integer per state after t rounds, ``context_index + C * code(counts)`` with C the
    number of contexts and ``code`` the first A - 1 counts of each player in base t + 1 (each
    player's counts sum to t, so the last one follows)."""
    key = encoding.context_index(ctx_NK, num_actions)
    if counts_N2A is not None:
        key = key + encoding.num_contexts(num_actions, ctx_NK.shape[1]) * _counts_code(counts_N2A, t + 1)
    return key


def _counts_code(counts_N2A: torch.Tensor, radix: int) -> torch.Tensor:
    """[N] long: the first A - 1 counts of each player, as digits in base ``radix``."""
    digits = counts_N2A[:, :, :-1].reshape(counts_N2A.shape[0], -1).long()
    code, base = torch.zeros(digits.shape[0], dtype=torch.long, device=digits.device), 1
    for j in range(digits.shape[1]):
        code = code + base * digits[:, j]
        base *= radix
    return code


def _check(policy, game, rounds: int, context: int) -> Game:
    game = make_game(game)
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    if not isinstance(context, int) or isinstance(context, bool) or context < 0:
        raise ValueError(f"context must be an integer >= 0, got {context!r}")
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a policygrad policy (recurrent, initial_state, step, sequence: policies.Policy), got {type(policy).__name__}")
    if policy.recurrent:
        raise ValueError(
            "the exact best response needs a feed-forward policy (its state is the context); for a recurrent policy use approximate_exploitability"
        )
    return game


@torch.no_grad()
def best_response(policy, game="rps", rounds: int = 100, context: int = 1, counts: bool = False, max_states: int = MAX_STATES) -> BestResponseTable:
    """Solve the best-responding opponent's MDP over (round, state) by backward dynamic programming.

    The states of round t are those some history of t rounds reaches, built forward from s_0 and
    deduplicated level by level. How many there are is known before any is built (see
    :func:`reachable_states`), so a horizon with a round over ``max_states`` is refused at once.

    Args:
        policy: a feed-forward policy of :mod:`policygrad.policies` (or a baseline's policy).
        game: the game (a Game or its spec).
        rounds: T, the horizon (also the denominator of the round feature t / T).
        context: K, the rounds of history the policy sees.
        counts: whether the policy's observation holds the running move counts.
        max_states: the most reachable states one round may hold.
    Returns:
        a :class:`BestResponseTable` with the exact value W_0(s_0) and the reply table.
    Raises:
        StateSpaceTooLarge: a round holds more than ``max_states`` states (its round and count attached).
        ValueError: a bad argument.
    """
    game = _check(policy, game, rounds, context)
    if not isinstance(max_states, int) or isinstance(max_states, bool) or max_states < 1:
        raise ValueError(f"max_states must be an integer >= 1, got {max_states!r}")
    a_num = game.num_actions
    n_pairs = a_num * a_num
    n_ctx = encoding.num_contexts(a_num, context)
    check_state_space(rounds, a_num, context, counts, max_states)
    if n_ctx * rounds ** (2 * (a_num - 1) if counts else 0) >= 2**62:  # never met below max_states = 2^31
        raise ValueError(
            f"the exact best response's state keys for context={context}, counts={counts} over {rounds} rounds would not fit in 62 bits; use approximate_exploitability"
        )
    dtype = next(policy.parameters()).dtype
    payoff_AA = game.payoff.to(torch.float64)
    pairs_P = torch.arange(n_pairs)
    pair_counts_P2A = torch.zeros(n_pairs, 2, a_num, dtype=torch.long)
    pair_counts_P2A[pairs_P, 0, pairs_P // a_num] = 1
    pair_counts_P2A[pairs_P, 1, pairs_P % a_num] = 1

    ctx_SK = encoding.empty_context(1, context)
    cnt_S2A = torch.zeros(1, 2, a_num, dtype=torch.long) if counts else None
    keys = [_keys(ctx_SK, cnt_S2A, a_num, 0)]
    probs, nexts = [], []
    for t in range(rounds):
        probs.append(_policy_probs(policy, ctx_SK, cnt_S2A, a_num, t / rounds, dtype))
        if t == rounds - 1:
            break
        u, radix = t + 1, t + 2  # the next round's states: every state times every pair a*A + o, deduplicated
        s_n = ctx_SK.shape[0]
        key_SP = _pushed_context_keys(ctx_SK, a_num)
        if cnt_S2A is not None:
            key_SP = key_SP + n_ctx * (_counts_code(cnt_S2A, radix).unsqueeze(1) + _counts_code(pair_counts_P2A, radix).unsqueeze(0))
        uniq_U, inverse_M = torch.unique(key_SP.reshape(-1), return_inverse=True)
        del key_SP
        if len(uniq_U) > max_states:  # reachable_states counts them exactly, so only a bug gets here
            raise _too_large(u, len(uniq_U), max_states)
        first_U = torch.empty(len(uniq_U), dtype=torch.long).scatter_(0, inverse_M, torch.arange(len(inverse_M)))
        parent_U, pair_U = first_U // n_pairs, first_U % n_pairs
        nexts.append(inverse_M.view(s_n, a_num, a_num).to(torch.int32 if len(uniq_U) < 2**31 else torch.long))
        ctx_SK = encoding.push_context(ctx_SK[parent_U], pair_U)
        cnt_S2A = None if cnt_S2A is None else cnt_S2A[parent_U] + pair_counts_P2A[pair_U]
        keys.append(uniq_U)

    replies: list[torch.Tensor] = [None] * rounds  # type: ignore[list-item]
    w_S = torch.zeros(1, dtype=torch.float64)
    for t in range(rounds - 1, -1, -1):
        p_SA = probs[t]
        # Q_opp(s, o) = sum_a pi(a|s) (-M[a, o] + W_{t+1}(s'(s, a, o)))
        future_SAO = w_S[nexts[t]] if t < rounds - 1 else torch.zeros(p_SA.shape[0], a_num, a_num, dtype=torch.float64)
        q_SO = torch.einsum("sa,sao->so", p_SA, -payoff_AA.unsqueeze(0) + future_SAO)
        w_S = q_SO.max(1).values
        best = (q_SO >= w_S.unsqueeze(1) - 1e-9).to(torch.float64)
        replies[t] = best / best.sum(1, keepdim=True)
    return BestResponseTable(game, rounds, context, counts, keys, replies, float(w_S[0]), sum(len(k) for k in keys))


_POLICY_CHUNK = 2**16  # states per policy call (bounds the observation tensor of a large round)


def _policy_probs(policy, ctx_SK: torch.Tensor, cnt_S2A: torch.Tensor | None, num_actions: int, fraction: float, dtype) -> torch.Tensor:
    """[S, A] float64: the policy's probabilities in these states, normalised."""
    out = []
    for i in range(0, ctx_SK.shape[0], _POLICY_CHUNK):
        cnt = None if cnt_S2A is None else cnt_S2A[i : i + _POLICY_CHUNK].to(torch.float32)
        obs = encoding.encode(ctx_SK[i : i + _POLICY_CHUNK], num_actions, fraction, cnt).to(dtype)
        out.append(policy.step(obs, None)[0].exp().to(torch.float64))
    p_SA = torch.cat(out)
    return p_SA / p_SA.sum(1, keepdim=True)


def _pushed_context_keys(ctx_SK: torch.Tensor, num_actions: int) -> torch.Tensor:
    """[S, A^2] long: the context index after pushing each pair p = a*A + o (without building the
    pushed contexts): drop the oldest digit, append p + 1 (see :func:`encoding.context_index`)."""
    n_pairs, k = num_actions * num_actions, ctx_SK.shape[1]
    if k == 0:
        return torch.zeros(ctx_SK.shape[0], n_pairs, dtype=torch.long)
    base = n_pairs + 1
    kept_S = encoding.context_index(ctx_SK, num_actions) % base ** (k - 1)
    return kept_S.unsqueeze(1) * base + torch.arange(1, n_pairs + 1).unsqueeze(0)


def reachable_states(u: int, num_actions: int, context: int, counts: bool) -> int:
    """How many distinct states some history of u rounds reaches (the exact best response's round u),
    without building them: (A^2)^min(u, K) contexts (every recent history is its own), times, with
    counts, the pairs of count vectors the u - K rounds before the context can leave (each player's
    a composition of u - K into A parts, every pair reachable): C(u - K + A - 1, A - 1)^2.

    Non-decreasing in u. Contexts past 2^128 are reported as 2^128 (no integer is built beyond it).
    """
    m = min(u, context)
    contexts = (num_actions * num_actions) ** m if m * 2 * math.log2(num_actions) < 128 else 2**128
    if not counts or u <= context:
        return contexts
    return contexts * math.comb(u - context + num_actions - 1, num_actions - 1) ** 2


_ROUND_BYTES = 1024  # what one round keeps besides its states: four tensors (keys, probabilities, next states, replies)


def _state_bytes(num_actions: int) -> int:
    """What the DP keeps per state until it returns: its key (8), probabilities and replies (2 x 8A),
    next-state indices (4A^2), and the round's Q and W while it is solved (8A + 8)."""
    return 16 + 24 * num_actions + 4 * num_actions * num_actions


def check_state_space(rounds: int, num_actions: int, context: int, counts: bool, max_states: int = MAX_STATES) -> None:
    """What :func:`best_response` checks before anything is built: raise :class:`StateSpaceTooLarge` for the first round over
    ``max_states`` (a binary search: the count never falls from one round to the next), or for the
    round at which all the states kept so far no longer fit in the available memory."""
    if reachable_states(rounds - 1, num_actions, context, counts) > max_states:
        low, high = 0, rounds - 1  # reachable_states(low) <= max_states < reachable_states(high)
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if reachable_states(mid, num_actions, context, counts) <= max_states else (low, mid)
        raise _too_large(high, reachable_states(high, num_actions, context, counts), max_states)
    per_state, memory = _state_bytes(num_actions), available_memory()
    total, u = 0, 0
    while u < rounds:  # every round from u on holds the same number of states once the counts are off and the context is full
        level = reachable_states(u, num_actions, context, counts)
        steady = not counts and u >= context
        span = rounds - u if steady else 1
        if (total + span * level) * per_state + (u + span) * _ROUND_BYTES > memory:
            if steady:
                span = max(1, (memory - total * per_state - u * _ROUND_BYTES) // (level * per_state + _ROUND_BYTES) + 1)
            total, u = total + span * level, u + span
            need = total * per_state + u * _ROUND_BYTES
            raise StateSpaceTooLarge(
                f"the exact best response keeps {total:,} states over its first {u:,} of {rounds:,} rounds, about {format_bytes(need)}, "
                f"more than the available memory ({format_bytes(memory)}); fewer rounds, a shorter context or no counts make fewer, "
                "approximate_exploitability has no such limit",
                u - 1,
                total,
                max(0, memory - u * _ROUND_BYTES) // per_state,  # the states that fit beside these rounds
                "what fits in the available memory, all rounds together",
            )
        total, u = total + span * level, u + span


def _too_large(u: int, count: int, max_states: int) -> StateSpaceTooLarge:
    return StateSpaceTooLarge(
        f"the exact best response: the states after {u} rounds number {count:,}, above max_states={max_states:,} "
        "(fewer rounds, a shorter context or no counts make fewer; approximate_exploitability has no such limit)",
        u,
        count,
        max_states,
    )
