"""The batched repeated-game engine: N matches of T rounds at once, one code path for the rules.

Legend: N matches, K context rounds, A actions, F features.

Each round is simultaneous. The opponent's distribution over its move is computed from the
history of *earlier* rounds when the previous round ends (``Opponent.probs()`` takes no argument),
its move is drawn from it, and only then is the agent's move, passed to :meth:`Engine.step`,
revealed to it through ``Opponent.update``. No code path gives an opponent the current move.

Everything else is a view of this class: the Gymnasium env is N = 1, the vector env N = n,
the PettingZoo env drives it with a second learner as the opponent, and exact enumeration
(:mod:`policygrad.exact`) runs it over every history at once with :meth:`Engine.step_forced`.
"""

from __future__ import annotations

from typing import Any

import torch

from . import encoding
from .games import Game, make_game

__all__ = ["Engine", "check_moves", "sample", "inverse_cdf"]

def check_moves(moves: Any, n: int, num_actions: int, who: str = "agent") -> torch.Tensor:
    """``moves`` as an [N] long tensor, or one clear ValueError/TypeError naming what is wrong."""
    if not isinstance(moves, torch.Tensor):
        raise TypeError(f"{who} moves must be a torch tensor of integers with shape [{n}], got {type(moves).__name__}")
    if moves.dtype.is_floating_point or moves.dtype.is_complex or moves.dtype == torch.bool:
        raise TypeError(f"{who} moves must have an integer dtype, got {moves.dtype}")
    if tuple(moves.shape) != (n,):
        raise ValueError(f"{who} moves must have shape [{n}] (one per match), got {list(moves.shape)}")
    lo, hi = (int(x) for x in torch.aminmax(moves))  # one pass over the moves
    if lo < 0 or hi >= num_actions:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{who} move {bad} is outside 0..{num_actions - 1}")
    return moves.long()


def sample(probs_NA: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw per row of ``probs_NA`` by inverse CDF: [N] long. One uniform number per row."""
    u_N1 = torch.rand(probs_NA.shape[0], 1, generator=generator, dtype=probs_NA.dtype, device=probs_NA.device)
    return inverse_cdf(probs_NA, u_N1)


def as_count(num_values: int):
    """How to add up comparisons with ``num_values`` possible totals: in bytes where they fit
    (a comparison's bool result read as uint8, no conversion), in int64 otherwise."""
    if num_values <= 256:
        return lambda b: b.view(torch.uint8)
    return lambda b: b.long()


def inverse_cdf(probs_NA: torch.Tensor, u_N1: torch.Tensor) -> torch.Tensor:
    """[N] long: the first move whose cumulative probability exceeds ``u * total`` (u in [0, 1)),
    that is, how many of the cumulative sums c_0 .. c_{A-2} are <= u * c_{A-1}.

    Scaling u by the row's total and comparing with ``<=`` means a move of probability 0 is never
    chosen, even for u = 0 or a row whose float sum is a little below 1.

    Works column by column, so each operation runs over N numbers; a ``probs_NA`` that is one
    row expanded over N (stride 0) has its cumulative sums computed once.
    """
    u_N = u_N1.reshape(-1)
    if probs_NA.stride(0) == 0:  # one row for every match: its cumulative sums as numbers
        cdf = probs_NA[0].cumsum(0).tolist()
    else:
        cdf = [probs_NA[:, 0]]
        for j in range(1, probs_NA.shape[1]):
            cdf.append(cdf[-1] + probs_NA[:, j])
    v_N = u_N * cdf[-1]
    count = as_count(probs_NA.shape[1])
    moves_N = count(v_N >= cdf[0])
    for c in cdf[1:-1]:
        moves_N += count(v_N >= c)
    return moves_N.long()


class Engine:
    """N parallel matches of a repeated zero-sum matrix game against an opponent.

    Args:
        opponent: an Opponent object or a spec string such as ``"markov:order=2,decay=0.9"``.
        n: N, the number of matches played at once (>= 1).
        rounds: T, rounds per match (>= 1).
        context: K, how many past rounds the observation shows (>= 0).
        game: a :class:`~policygrad.games.Game` or its spec (default ``"rps"``).
        counts: add the running frequencies of both players' moves to the observation.
        seed: seed of the engine's generator (the opponent's draws); ``reset(seed)`` re-seeds.

    ``step`` returns ``(obs [N, F] float32, reward [N] float32, done: bool, info)`` with
    ``info = {"opponent_move": [N] long, "opponent_probs": [N, A], "round": t}``. The tensors in
    ``info`` and :attr:`opponent_probs` are read-only (they may be views the opponent reuses).
    """

    def __init__(
        self,
        opponent,
        n: int = 1,
        rounds: int = 100,
        context: int = 1,
        game: str | Game = "rps",
        counts: bool = False,
        seed: int | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        from .opponents import make_opponent  # opponents sit beside the engine, not below it

        for name, value, low in (("n", n, 1), ("rounds", rounds, 1), ("context", context, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.game = make_game(game)
        self.opponent = make_opponent(opponent)
        self.opponent.check_game(self.game)  # a parameter that does not fit the game: refused before any play
        self.n, self.rounds, self.context, self.counts = n, rounds, context, counts
        self.dtype = dtype
        self.payoff_flat = self.game.payoff.to(dtype).reshape(-1)  # [A*A], index a*A + o
        self.generator = torch.Generator()
        self.generator.manual_seed(0 if seed is None else int(seed))
        self.t = 0
        self._started = False

    @property
    def num_actions(self) -> int:
        return self.game.num_actions

    @property
    def obs_size(self) -> int:
        """F, the observation width."""
        return encoding.feature_size(self.num_actions, self.context, self.counts)

    @property
    def opponent_probs(self) -> torch.Tensor:
        """[N, A]: the opponent's distribution for the coming round (fixed before the agent moves)."""
        return self._opp_probs

    def reset(self, seed: int | None = None) -> torch.Tensor:
        """Start N fresh matches; returns the first observation [N, F]."""
        if seed is not None:
            self.generator.manual_seed(int(seed))
        self.t = 0
        self.ctx = encoding.empty_context(self.n, self.context)
        self.move_counts = torch.zeros(self.n, 2, self.num_actions, dtype=self.dtype) if self.counts else None
        self.opponent.reset(self.n, self.game, self.generator, self.dtype)
        self._opp_probs, self._opp_moves = self.opponent.next_move()
        self._started = True
        return self._observe()

    def step(self, agent_moves: torch.Tensor):
        """Play one round: the opponent's move is drawn from the distribution it fixed before this
        call (or, when that is one-hot in every match, is the move it fixed), then both moves are
        revealed. ``agent_moves``: [N] integer tensor in 0..A-1."""
        self._check_running()
        a = check_moves(agent_moves, self.n, self.num_actions)
        o = self._opp_moves if self._opp_moves is not None else sample(self._opp_probs, self.generator)
        return self._advance(a, o)

    def step_forced(self, agent_moves: torch.Tensor, opponent_moves: torch.Tensor):
        """Play one round with both moves given (exact enumeration, replays). Same return as step."""
        self._check_running()
        a = check_moves(agent_moves, self.n, self.num_actions)
        o = check_moves(opponent_moves, self.n, self.num_actions, who="opponent")
        return self._advance(a, o)

    def _check_running(self) -> None:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if self.t >= self.rounds:
            raise RuntimeError(f"the match is over after {self.rounds} rounds; call reset()")

    def _advance(self, a: torch.Tensor, o: torch.Tensor):
        probs = self._opp_probs
        pair = torch.add(o, a, alpha=self.num_actions)  # a * A + o
        reward = self.payoff_flat.index_select(0, pair)  # M[a, o]
        self.opponent.update(o, a)
        self.t += 1
        self.ctx = encoding.push_context(self.ctx, pair)
        if self.move_counts is not None:
            flat = self.move_counts.view(self.n, -1)
            flat.scatter_add_(1, torch.stack([a, o + self.num_actions], 1), torch.ones(self.n, 2, dtype=self.dtype))
        done = self.t >= self.rounds
        if not done:
            self._opp_probs, self._opp_moves = self.opponent.next_move()
        info = {"opponent_move": o, "opponent_probs": probs, "round": self.t}
        return self._observe(), reward, done, info

    def _observe(self) -> torch.Tensor:
        return encoding.encode(self.ctx, self.num_actions, self.t / self.rounds, self.move_counts)
