"""The expert-mixture policy as a player of one match, move by move (the :class:`policygrad.agent.Player` protocol).

:class:`ExpertAgent` keeps the match's history in an :class:`~policygrad.experts.ExpertFeatures`
of one match and plays pi(a | s; theta) of a trained :class:`~policygrad.expert_policy.ExpertMixturePolicy`
(:mod:`policygrad.expert_train`). The shipped one is :func:`expert_meta_player`; register it (or another file's) for a tournament
at run time: ``PLAYERS["expert-meta"] = "policygrad.expert_agent:expert_meta_player"``, or
``PLAYERS["mine"] = lambda game="rps": ExpertAgent.load(path, game)``.
"""

from __future__ import annotations

import os

import torch

from .equilibrium import nash_equilibrium
from .expert_policy import ExpertMixturePolicy
from .expert_train import load_expert
from .experts import ExpertFeatures
from .games import Game, make_game
from .safety import SafeBudget
from .tensors import sample

__all__ = ["ExpertAgent", "MAX_MATCH_ROUNDS", "EXPERT_META_CHECKPOINT", "EXPERT_META_SAFETY", "expert_meta_player"]

MAX_MATCH_ROUNDS = 100_000  # the longest match the agent's history is allocated for (a RoShamBo bot's longest)
EXPERT_META_CHECKPOINT = os.path.join(os.path.dirname(__file__), "data", "expert-meta.pt")  # agents/expert-meta.toml
EXPERT_META_SAFETY = 10.0  # points a match may risk (policygrad.safety.SafeBudget): no opponent's expected take exceeds this


class ExpertAgent:
    """Plays one match at a time: ``reset(seed)``, then ``act(last_opponent_move) -> move`` each round.

    Args:
        policy: the trained policy.
        game: the game it plays.
        max_rounds: the longest match it can play (its history is allocated for it).
        name: the player's name.
        safety: play through the safe-play guard with this budget of points (:class:`policygrad.safety.SafeBudget`:
            no opponent's expected take from a match exceeds it); None: the policy as trained, unguarded.
    """

    def __init__(
        self, policy: ExpertMixturePolicy, game: str | Game = "rps", max_rounds: int = 10_000, name: str = "expert-meta", safety: float | None = None
    ) -> None:
        if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or not 1 <= max_rounds <= MAX_MATCH_ROUNDS:
            raise ValueError(f"max_rounds must be an integer in 1..{MAX_MATCH_ROUNDS}, got {max_rounds!r}")
        self.policy = policy.eval()
        self.game = make_game(game)
        self.max_rounds, self.name = max_rounds, name
        self.guard = None if safety is None else SafeBudget(self.game.payoff.double().numpy(), nash_equilibrium(self.game).double().numpy(), safety)
        self.last_probs: list[float] | None = None
        self.reset()

    @classmethod
    def load(cls, path: str, game: str | Game = "rps", max_rounds: int = 10_000, safety: float | None = None) -> "ExpertAgent":
        """The agent of a file written by :func:`policygrad.expert_train.save_expert`."""
        policy, config = load_expert(path)
        g = make_game(game)
        if g.name != make_game(config.game).name:
            raise ValueError(f"{path} was trained on {config.game}, not {g.name}")
        return cls(policy, g, max_rounds, safety=safety)

    def reset(self, seed: int | None = None) -> None:
        """Start a new match (``seed`` seeds the agent's own draws)."""
        self.generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        self.features = ExpertFeatures(1, self.max_rounds, self.game)
        self.my_last: int | None = None
        self.last_probs = None
        if self.guard is not None:
            self.guard.reset()

    @torch.no_grad()
    def act(self, last_opponent_move: int | None = None) -> int:
        """This round's move, given the opponent's move of the previous round (None in round 1)."""
        a_num = self.game.num_actions
        if self.my_last is not None:
            if last_opponent_move is None or isinstance(last_opponent_move, bool) or not 0 <= int(last_opponent_move) < a_num:
                raise ValueError(f"last_opponent_move must be a move in 0..{a_num - 1} after round 1, got {last_opponent_move!r}")
            self.features.update(torch.tensor([self.my_last]), torch.tensor([int(last_opponent_move)]))
            if self.guard is not None:
                self.guard.observe(int(last_opponent_move))
        probs = self.policy(*self.features.features()).exp()
        if self.guard is not None:
            probs = torch.from_numpy(self.guard.mix(probs[0].double().numpy())).to(probs.dtype)[None]
        self.last_probs = probs[0].tolist()
        self.my_last = int(sample(probs, self.generator)[0])
        return self.my_last


def expert_meta_player(game: str | Game = "rps", safety: float | None = EXPERT_META_SAFETY) -> ExpertAgent:
    """The shipped expert-mixture agent (``agents/expert-meta.toml``), played through the safe-play guard: a factory for the player registry."""
    return ExpertAgent.load(EXPERT_META_CHECKPOINT, game, safety=safety)
