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

import warnings

import torch

from . import encoding, tensors
from .games import Game, make_game
from .opponents.registry import make_opponent
from .tensors import check_moves, inverse_cdf, sample

# check_moves, sample and inverse_cdf live in policygrad.tensors; they stay importable from here
__all__ = ["Engine", "check_moves", "sample", "inverse_cdf"]


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


def __getattr__(name: str):
    """``policygrad.engine.as_count``, moved to :mod:`policygrad.tensors`: still importable, with a warning."""
    if name == "as_count":
        warnings.warn("policygrad.engine.as_count moved to policygrad.tensors.as_count", DeprecationWarning, stacklevel=2)
        return tensors.as_count
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
