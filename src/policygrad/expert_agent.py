"""The expert-mixture policy as a player of one match, move by move (the :class:`policygrad.agent.Player` protocol).

:class:`ExpertAgent` plays pi(a | s; theta) of a trained :class:`~policygrad.expert_policy.ExpertMixturePolicy`
(:mod:`policygrad.expert_train`) through the NumPy player of one match, :class:`policygrad.expert_match.ExpertPlayer`:
the features of :class:`~policygrad.experts.ExpertFeatures` for one match, the network's forward in float64, the
safe-play guard, and the draw from ``np.random.default_rng(seed)``; an exported Kaggle file (``policygrad export
kaggle meta``) carries that same NumPy source, so its moves are the agent's.

The shipped one is :func:`expert_meta_player`; register it (or another file's) for a tournament at run time: ``PLAYERS["expert-meta"] = "policygrad.expert_agent:expert_meta_player"``, or
``PLAYERS["mine"] = lambda game="rps": ExpertAgent.load(path, game)``.
"""

from __future__ import annotations

import os
from typing import Sequence

from .equilibrium import nash_equilibrium
from .expert_match import ExpertPlayer, ExpertScores, MixtureNet
from .expert_policy import ExpertMixturePolicy
from .expert_train import load_expert
from .experts import EVIDENCE_DECAY, HORIZONS
from .games import Game, make_game
from .predictors import Predictors
from .safety import SafeBudget

__all__ = ["ExpertAgent", "EXPERT_META_CHECKPOINT", "EXPERT_META_SAFETY", "expert_meta_player", "numpy_player"]
EXPERT_META_CHECKPOINT = os.path.join(os.path.dirname(__file__), "data", "expert-meta.pt")  # agents/expert-meta.toml
EXPERT_META_SAFETY = 10.0  # points a match may risk (policygrad.safety.SafeBudget): no opponent's expected take exceeds this


def numpy_player(
    policy: ExpertMixturePolicy,
    game: Game,
    safety: float | None = None,
    least_order: int = -1,
    horizons: Sequence[float] = HORIZONS,
    ties: str = "first",
) -> ExpertPlayer:
    """The NumPy player of one match of ``policy`` (its weights as float32, read in float64), guarded by
    :class:`~policygrad.safety.SafeBudget` with ``safety`` points (None: unguarded); ``least_order``, ``horizons``, ``ties``: as trained."""
    payoff = game.payoff.double().numpy()
    predictors = Predictors(payoff, game.beats().numpy(), game.rotations().numpy(), least_order=least_order, ties=ties)  # ExpertFeatures' predictors
    weights = {k: v.detach().float().numpy() for k, v in policy.state_dict().items()}  # float32, as an exported file embeds them
    guard = None if safety is None else SafeBudget(payoff, nash_equilibrium(game).double().numpy(), safety)
    return ExpertPlayer(ExpertScores(predictors, horizons, EVIDENCE_DECAY), MixtureNet(weights), guard)


class ExpertAgent:
    """Plays one match at a time: ``reset(seed)``, then ``act(last_opponent_move) -> move`` each round.

    Args:
        policy: the trained policy.
        game: the game it plays.
        name: the player's name.
        safety: play through the safe-play guard with this budget of points (:class:`policygrad.safety.SafeBudget`:
            no opponent's expected take from a match exceeds it); None: the policy as trained, unguarded.
        least_order: the predictors' least-frequent tables, as the policy was trained (its recipe's ``least_order``).
        horizons: the decays of the experts' reward averages, as trained (its recipe's ``horizons``).
        ties: the predictors' replies to tied counts, as trained (its recipe's ``ties``).
    """

    def __init__(
        self,
        policy: ExpertMixturePolicy,
        game: str | Game = "rps",
        name: str = "expert-meta",
        safety: float | None = None,
        least_order: int = -1,
        horizons: Sequence[float] = HORIZONS,
        ties: str = "first",
    ) -> None:
        self.policy = policy.eval()
        self.game = make_game(game)
        self.name = name
        self.player = numpy_player(self.policy, self.game, safety, least_order, horizons, ties)
        self.guard = self.player.guard
        self.reset()

    @classmethod
    def load(cls, path: str, game: str | Game = "rps", safety: float | None = None) -> "ExpertAgent":
        """The agent of a file written by :func:`policygrad.expert_train.save_expert`."""
        policy, config = load_expert(path)
        g = make_game(game)
        if g.name != make_game(config.game).name:
            raise ValueError(f"{path} was trained on {config.game}, not {g.name}")
        return cls(policy, g, safety=safety, **config.features)

    def reset(self, seed: int | None = None) -> None:
        """Start a new match (``seed`` seeds the agent's own draws; None: seed 0, as every library player)."""
        self.player.reset(0 if seed is None else int(seed))

    @property
    def last_probs(self) -> list[float] | None:
        """The probabilities of the last move drawn (after the guard)."""
        return self.player.last_probs

    @property
    def my_last(self) -> int | None:
        return self.player.my_last

    def act(self, last_opponent_move: int | None = None) -> int:
        """This round's move, given the opponent's move of the previous round (None in round 1)."""
        return self.player.act(last_opponent_move)


def expert_meta_player(game: str | Game = "rps", safety: float | None = EXPERT_META_SAFETY) -> ExpertAgent:
    """The shipped expert-mixture agent (``agents/expert-meta.toml``), played through the safe-play guard: a factory for the player registry."""
    return ExpertAgent.load(EXPERT_META_CHECKPOINT, game, safety=safety)
