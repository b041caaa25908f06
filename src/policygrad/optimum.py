"""The exact ceiling: the best expected reward per round any agent can get against an opponent.

Legend: S opponent states at one level, M branched histories, K members of a population, A actions,
T rounds.

An agent that sees the whole history and knows the opponent's code faces a finite-horizon MDP whose
state is the opponent's state *as the agent can know it*. Its optimal value is

    V_T(s) = 0,
    V_t(s) = max_a sum_o q(o | s) (M[a, o] + V_{t+1}(child(s, a, o))),

and the ceiling is V_0(s_0) / T per round. No policy, learnt or hand-written, can beat it in
expectation; a policy's reward against the same opponent, divided by this number, says how much of
the achievable is achieved.

:func:`optimum` builds the states level by level: each distinct state of level t is branched into
its A x A continuations with the opponent's own ``select`` and ``update``, and the children are
deduplicated by their full ``state()`` (plus the shared round t), exactly, in float64. This gives
compact states by itself: counts for ``frequency``, the n-gram table for ``markov``, the Q-table
for ``q-learner``, the last moves for the reactive opponents, nothing at all (one state per level)
for ``constant``, ``mixed`` and ``cycle``. Two exact refinements shrink it further:

* only the replies with q(o | s) > 0 are branched (the others weigh 0 in the sum);
* for opponents that play the mode of counts that only grow by one (``frequency`` and ``markov``
  without decay) a count is kept as its gap to the row's maximum, capped at the rounds left:
  adding the same number to a row changes no mode, and a move that trails the mode by more than
  the remaining updates can never be a mode again, so the exact size of its gap no longer matters.

A population (``mix``) hides which member a match meets, so the agent's state is the tuple of every
member's state (each member run over the same history) plus the posterior over members,
w_i(h) proportional to prior_i * prod_t q_i(o_t | h_<t); then q(o | s) = sum_i w_i q_i(o | s_i).
A member whose posterior has fallen to 0 can never come back, so its state is dropped from the key;
the posterior enters the key on a grid of 2^-40 (see ``_POSTERIOR_GRID``).

:func:`brute_force_optimum` is the referee for tiny T: the same recursion over the full history
tree, (A^2)^t nodes at level t, with no deduplication and joint (unnormalised) probabilities
instead of posteriors.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from .errors import StateSpaceTooLarge
from .games import Game, make_game
from .limits import available_memory, check_size
from .opponents.base import Opponent
from .opponents.mix import Mix
from .opponents.predictive import Frequency, Markov
from .opponents.registry import make_opponent
from .tensors import unique_rows

__all__ = ["OptimumResult", "optimum", "brute_force_optimum", "DEFAULT_MAX_STATES", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_STATES = 2_000_000
"""The most distinct states one level may hold before :func:`optimum` refuses."""
DEFAULT_MAX_BYTES = 4 * 2**30
"""The memory :func:`optimum` may plan to use (stored levels plus one level's branching), in bytes."""
_BRUTE_FORCE_MAX_NODES = 2_000_000
_LEVEL_BYTES = 512
"""The least memory one round (level) of :func:`optimum` keeps, in bytes: one state's q and child
rows plus two tensor objects (measured: 440 bytes per round against ``constant``, one state each)."""
_POSTERIOR_GRID = 2.0**40
"""A population's posterior enters the state key rounded to multiples of 2^-40 (about 9e-13):
the same posterior reached through the updates in another order can differ in its last bits, and
would otherwise count as a new state (5x more states after 10 rounds of a three-member mix). Each
state keeps its own unrounded posterior; merging two whose posteriors differ by d < 2^-40 moves
the value by at most about d * 2 * T * max|M|."""


@dataclass(frozen=True)
class OptimumResult:
    """The exact best expected reward against an opponent over a match of T rounds.

    Attributes:
        opponent: the opponent's spec string.
        rounds: T.
        game: the game's spec string.
        value_per_round: V_0 / T, the ceiling per round.
        total_value: V_0, the best expected total over the match.
        method: how it was computed.
        state: what the dynamic programme's state is, for this opponent.
        states_per_level: the number of distinct states at rounds 0 .. T-1 (T entries).
        states_max: the largest level.
        states_total: all levels together.
        seconds: wall-clock time of the computation.
    """

    opponent: str
    rounds: int
    game: str
    value_per_round: float
    total_value: float
    method: str
    state: str
    states_per_level: tuple[int, ...]
    states_max: int
    states_total: int
    seconds: float

    def to_dict(self) -> dict:
        """A JSON-ready dict (``states_per_level`` as a list)."""
        d = asdict(self)
        d["states_per_level"] = list(self.states_per_level)
        return d


# -- inputs ------------------------------------------------------------------------------------


def _check_int(name: str, value, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _fresh(opponent_spec) -> Opponent:
    """A new opponent object: from a spec, or a deep copy of the caller's (whose state we would
    overwrite; a copy keeps what a spec cannot say, such as a white-box opponent's policy)."""
    if isinstance(opponent_spec, Opponent):
        return copy.deepcopy(opponent_spec)
    return make_opponent(opponent_spec)


def _components(opponent: Opponent, weight: float = 1.0) -> list[tuple[float, Opponent]]:
    """The population behind an opponent: [(prior, member)], nested mixes flattened; a plain
    opponent is a population of one."""
    if isinstance(opponent, Mix):
        out = []
        for w, member in opponent.components():
            out += _components(member, weight * w)
        return out
    return [(weight, opponent)]


def _start(members: list[Opponent], game: Game) -> None:
    """Reset every member to one match in float64, and check that it can branch a history."""
    for member in members:
        member.reset(1, game, None, torch.float64)
        try:
            member.select(torch.zeros(1, dtype=torch.long))  # one match kept as it is: a no-op
        except NotImplementedError as e:
            raise ValueError(f"optimum needs an opponent that can branch a history (select): {e}") from None


# -- the state key -------------------------------------------------------------------------------


def _mode_gaps(counts: torch.Tensor, cap: int) -> torch.Tensor:
    """Counts [..., A] as the gap of each entry to the row's maximum, capped at ``cap``."""
    return (counts.amax(dim=-1, keepdim=True) - counts).clamp(max=cap)


# the opponents (exact classes, not subclasses) that play the mode of counts growing by one per
# round, and the names of those counts in their state(); anything else is keyed by its full state
_MODE_COUNTS = {Frequency: ("counts",), Markov: ("table", "recent")}


def _compact(member: Opponent) -> str | None:
    """A description of the exact compaction applied to this member's state, or None."""
    names = _MODE_COUNTS.get(type(member))
    if names and getattr(member, "decay", None) == 1.0 and set(names) <= set(member.state_names):
        return "gap of each count to its row's mode, capped at the rounds left"
    return None


def _key_columns(member: Opponent, cap: int, compact: bool) -> list[torch.Tensor]:
    """The member's state as column blocks [M, w] whose rows are equal only when the member's
    future play is the same. ``cap``: T - t, more than the updates left before its last move."""
    state = member.state()
    m = member.n
    if compact and _compact(member) is not None:
        counts = _MODE_COUNTS[type(member)][0]
        return [(_mode_gaps(v, cap) if k == counts else v).reshape(m, -1) for k, v in state.items()]
    return [v.reshape(m, -1) for v in state.values()]


def _state_bytes(members: list[Opponent]) -> int:
    """Bytes of one row of all members' state tensors (and their float64 key)."""
    total = 0
    for member in members:
        for v in member.state().values():
            row = v[0].numel() if v.dim() > 1 else 1
            total += row * (v.element_size() + 8)
    return total


def _describe_state(members: list[Opponent], compact: bool) -> str:
    def one(member: Opponent) -> str:
        names = ", ".join(member.state().keys()) or "none (the round alone)"
        how = _compact(member) if compact else None
        return names + (f" ({how})" if how else "")

    if len(members) == 1:
        return "opponent state: " + one(members[0])
    inner = " | ".join(f"{m.spec}: {one(m)}" for m in members)
    return f"every member's state [{inner}] + the posterior over the {len(members)} members (0-posterior members dropped)"


# -- the dynamic programme -----------------------------------------------------------------------


def _too_big(what: str, level: int, count: int, nbytes: int, limit_name: str, limit: int) -> StateSpaceTooLarge:
    return StateSpaceTooLarge(
        f"optimum: too large after {level} rounds: {what} {count:,} (about {nbytes / 2**30:.2f} GiB); "
        f"limit {limit_name}={limit:,}. Use fewer rounds, or raise max_states / max_bytes if the machine has the memory.",
        level,
        count,
        limit,
        limit_name,
    )


def _solve(
    opponent_spec,
    rounds: int,
    game: str | Game = "rps",
    max_states: int = DEFAULT_MAX_STATES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    compact: bool = True,
    progress: Callable[[int, int, int], None] | None = None,
) -> OptimumResult:
    start = time.perf_counter()
    rounds = _check_int("rounds", rounds, 1)
    max_states = _check_int("max_states", max_states, 1)
    max_bytes = _check_int("max_bytes", max_bytes, 1)
    # every round keeps at least one state and two tensors: refuse a horizon that cannot fit, before building anything
    memory = available_memory()
    check_size(
        f"optimum over {rounds:,} rounds (at least {_LEVEL_BYTES} bytes per round)",
        float(rounds) * _LEVEL_BYTES,
        min(max_bytes, memory),
        f"max_bytes={max_bytes:,}" if max_bytes <= memory else "available memory",
        hint="Use fewer rounds",
    )
    game = make_game(game)
    opponent = _fresh(opponent_spec)
    comps = _components(opponent)
    members = [m for _, m in comps]
    a_n = game.num_actions
    _start(members, game)
    prior_K = torch.tensor([w for w, _ in comps], dtype=torch.float64)
    post_SK = (prior_K / prior_K.sum()).unsqueeze(0)
    k_n = len(members)
    row_bytes = _state_bytes(members) + 16 * k_n + 8 * 4  # + posterior, its key, index bookkeeping
    stored_per_state = 4 * a_n * a_n + 8 * a_n  # child [A, A] int32 + q [A] float64

    q_levels: list[torch.Tensor] = []  # q_t [S_t, A]
    child_levels: list[torch.Tensor] = []  # child_t [S_t, A, A] int32, index into level t + 1
    sizes: list[int] = []
    stored = 0
    for t in range(rounds):
        s_n = post_SK.shape[0]
        sizes.append(s_n)
        if progress is not None:
            progress(t + 1, rounds, s_n)
        q_SKA = torch.stack([m.probs() for m in members], dim=1).to(torch.float64)
        q_SA = torch.einsum("sk,ska->sa", post_SK, q_SKA)  # q(o | s) = sum_i w_i q_i(o | s_i)
        q_levels.append(q_SA)
        stored += s_n * stored_per_state
        if t == rounds - 1:
            break
        # branch every (s, o) with q(o | s) > 0 into the A agent moves
        s_P, o_P = torch.nonzero(q_SA > 0, as_tuple=True)
        m_n = len(s_P) * a_n
        need = stored + m_n * row_bytes
        if need > max_bytes:
            raise _too_big("branching into the next round needs histories", t + 1, m_n, need, "max_bytes", max_bytes)
        parent_M = s_P.repeat_interleave(a_n)
        o_M = o_P.repeat_interleave(a_n)
        a_M = torch.arange(a_n).repeat(len(s_P))
        cols = []
        cap = rounds - (t + 1)
        post_MK = post_SK[parent_M] * q_SKA[parent_M, :, o_M]  # Bayes: w_i q_i(o)
        post_MK = post_MK / post_MK.sum(dim=1, keepdim=True)
        for i, member in enumerate(members):
            member.select(parent_M)
            member.update(o_M, a_M)
            member_cols = _key_columns(member, cap, compact)
            if k_n > 1:  # a member ruled out stays ruled out: its state no longer matters
                alive_M1 = (post_MK[:, i] > 0).unsqueeze(1)
                member_cols = [torch.where(alive_M1, c, torch.zeros((), dtype=c.dtype)) for c in member_cols]
            cols += member_cols
        if k_n > 1:  # the same Bayes update in another order can differ in the last bits: see _POSTERIOR_GRID
            cols.append((post_MK * _POSTERIOR_GRID).round() if compact else post_MK)
        inverse_M, u_n = unique_rows(cols, m_n)
        if u_n > max_states:
            raise _too_big("distinct states", t + 1, u_n, u_n * (row_bytes + stored_per_state), "max_states", max_states)
        first_U = torch.full((u_n,), m_n, dtype=torch.long).scatter_reduce_(0, inverse_M, torch.arange(m_n), "amin")
        for member in members:
            member.select(first_U)
        post_SK = post_MK[first_U]
        index_dtype = torch.int32 if u_n < 2**31 else torch.int64
        child_SAA = torch.zeros(s_n, a_n, a_n, dtype=index_dtype)
        child_SAA[parent_M, a_M, o_M] = inverse_M.to(index_dtype)
        child_levels.append(child_SAA)

    # backward: V_t(s) = max_a sum_o q(o|s) (M[a, o] + V_{t+1}(child(s, a, o)))
    payoff = game.payoff.to(torch.float64)
    value_S = None
    for t in range(rounds - 1, -1, -1):
        q_SA = q_levels[t]
        v_SA = q_SA @ payoff.T  # expected reward of each agent move
        if value_S is not None:
            v_SA = v_SA + (q_SA.unsqueeze(1) * value_S[child_levels[t].long()]).sum(dim=2)
        value_S = v_SA.max(dim=1).values
    assert value_S is not None, "rounds >= 1"
    total = float(value_S[0])
    return OptimumResult(
        opponent=opponent.spec,
        rounds=rounds,
        game=game.name,
        value_per_round=total / rounds,
        total_value=total,
        method="forward expansion of the opponent's states with exact deduplication, backward expectimax (float64)",
        state=_describe_state(members, compact),
        states_per_level=tuple(sizes),
        states_max=max(sizes),
        states_total=sum(sizes),
        seconds=time.perf_counter() - start,
    )


def optimum(
    opponent_spec,
    rounds: int,
    game: str | Game = "rps",
    max_states: int = DEFAULT_MAX_STATES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[int, int, int], None] | None = None,
) -> OptimumResult:
    """The best expected reward per round that any agent can get against an opponent over T rounds.

    The agent sees the full history and knows the opponent's code (for a ``mix``, not which member
    it meets). Backward dynamic programming over the opponent's distinct states, exact in float64:

        V_t(s) = max_a sum_o q(o | s) (M[a, o] + V_{t+1}(child(s, a, o))),   value = V_0 / T.

    Args:
        opponent_spec: a spec string (``"frequency"``, ``"mix:of=[frequency|pattern]"``) or an
            Opponent (deep-copied, never modified; e.g. a ``best-response`` with its policy attached).
        rounds: T >= 1.
        game: a :class:`~policygrad.games.Game` or its spec (default ``"rps"``).
        max_states: refuse (ValueError) when one level holds more distinct states than this.
        max_bytes: refuse when the stored levels plus one level's branching would need more memory.
        progress: called as ``progress(levels_done, T, states_in_the_last_level)`` after each level.
    Returns:
        an :class:`OptimumResult`.
    Raises:
        ValueError: a bad argument (naming it and what is allowed), or a problem too large for
        the limits (naming the round, the count, the bytes and the limit): then the subclass
        :class:`~policygrad.errors.StateSpaceTooLarge`, with ``round``, ``count`` and ``limit``.

    See also: :func:`brute_force_optimum`, the same recursion without deduplication, for tiny T.
    """
    return _solve(opponent_spec, rounds, game, max_states, max_bytes, compact=True, progress=progress)


def brute_force_optimum(opponent_spec, rounds: int, game: str | Game = "rps") -> float:
    """The same ceiling per round, by expectimax over the full history tree (no deduplication).

    Level t holds all (A^2)^t histories h; for a population with priors w_i, the joint weight of
    the opponent's reply is p(h, o) = sum_i w_i P_i(h) q_i(o | h), P_i(h) the probability that
    member i made the opponent's moves of h, and

        W(h) = max_a sum_o [ p(h, o) M[a, o] + W(h a o) ],   value = W(root) / T.

    Only for tiny T: refuses when a level would exceed 2,000,000 histories.
    """
    rounds = _check_int("rounds", rounds, 1)
    game = make_game(game)
    a_n = game.num_actions
    if (a_n * a_n) ** (rounds - 1) > _BRUTE_FORCE_MAX_NODES:
        raise ValueError(
            f"brute_force_optimum: rounds={rounds} gives {(a_n * a_n) ** (rounds - 1):,} histories at the last "
            f"level, over {_BRUTE_FORCE_MAX_NODES:,}; allowed: rounds with (A^2)^(rounds-1) <= {_BRUTE_FORCE_MAX_NODES:,}"
        )
    comps = _components(_fresh(opponent_spec))
    members = [m for _, m in comps]
    _start(members, game)
    joint_HK = torch.tensor([[w for w, _ in comps]], dtype=torch.float64)
    joint_HK = joint_HK / joint_HK.sum()
    p_levels = []
    for t in range(rounds):
        h_n = joint_HK.shape[0]
        q_HKA = torch.stack([m.probs() for m in members], dim=1).to(torch.float64)
        p_levels.append(torch.einsum("hk,hka->ha", joint_HK, q_HKA))  # p(h, o)
        if t == rounds - 1:
            break
        # children in the order h * A^2 + a * A + o
        parent = torch.arange(h_n).repeat_interleave(a_n * a_n)
        a_M = torch.arange(a_n).repeat_interleave(a_n).repeat(h_n)
        o_M = torch.arange(a_n).repeat(a_n * h_n)
        for member in members:
            member.select(parent)
            member.update(o_M, a_M)
        joint_HK = joint_HK[parent] * q_HKA[parent, :, o_M]
    payoff = game.payoff.to(torch.float64)
    w_H = None
    for t in range(rounds - 1, -1, -1):
        p_HA = p_levels[t]
        v_HA = p_HA @ payoff.T
        if w_H is not None:
            v_HA = v_HA + w_H.view(-1, a_n, a_n).sum(dim=2)
        w_H = v_HA.max(dim=1).values
    assert w_H is not None, "rounds >= 1"
    return float(w_H[0]) / rounds
