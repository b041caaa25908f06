"""The PettingZoo env: two learning players, driven through the same engine.

Legend: A actions, K context rounds, F features.

Player 0 is the engine's agent and player 1 its opponent. Both moves come from outside, so the
engine plays each round with :meth:`Engine.step_forced` and its opponent object is an
:class:`External` placeholder whose ``probs`` choose nothing. Player 0 observes the engine's
observation; player 1 observes the same history from its own side: it keeps its own context, each
round's pair pushed as (own move, other move), and its own counts, and the observation is built
by the same :func:`policygrad.encoding.encode`. Rewards are zero-sum: player 1 gets minus
player 0's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from .. import encoding
from ..engine import Engine
from ..games import Game
from ..opponents.base import Opponent
from .single import check_render_mode, single_moves

__all__ = ["External", "RockPaperScissorsParallelEnv", "parallel_env", "AGENTS"]

AGENTS = ("player_0", "player_1")


class External(Opponent):
    """A player outside the engine: its moves are given to ``Engine.step_forced``.

    ``probs`` is uniform and plays no role in choosing a move. Not in the opponent registry: it is
    not an opponent a policy can be trained against, only the seat of a second learner.
    """

    name = "external"
    memory_depth = 0
    stochastic = False
    adaptive = False

    def probs(self) -> torch.Tensor:
        return self.uniform()


class RockPaperScissorsParallelEnv(ParallelEnv):
    """A repeated zero-sum matrix game between two learning players, ``player_0`` and ``player_1``.

    Each observes Box(0, 1, (F,), float32): the last ``context`` rounds from its own perspective
    (its own move first in each pair), the round fraction, and (``counts=True``) its own then the
    other's move frequencies. Actions are Discrete(A). Rewards: ``payoff[a0, a1]`` to player 0,
    its negative to player 1. Both terminate after ``rounds`` rounds. Each agent's info holds
    ``opponent_move`` (the other player's move) and ``round``.

    The game itself draws nothing at random: given the actions, play is deterministic;
    ``reset(seed=s)`` still seeds the engine, for uniformity with the Gymnasium envs.
    """

    metadata: dict[str, Any] = {"name": "policygrad_rock_paper_scissors_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        rounds: int = 100,
        context: int = 1,
        game: str | Game = "rps",
        counts: bool = False,
        render_mode: str | None = None,
    ) -> None:
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.engine = Engine(External(), n=1, rounds=rounds, context=context, game=game, counts=counts)
        self.render_mode = render_mode
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        f, a = self.engine.obs_size, self.engine.num_actions
        self._observation_spaces = {p: spaces.Box(0.0, 1.0, (f,), np.float32) for p in AGENTS}
        self._action_spaces = {p: spaces.Discrete(a) for p in AGENTS}
        self._last: tuple[int, int, float] | None = None

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[self._check_agent(agent)]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_spaces[self._check_agent(agent)]

    def _check_agent(self, agent: str) -> str:
        if agent not in AGENTS:
            raise ValueError(f"unknown agent {agent!r}; allowed: {', '.join(AGENTS)}")
        return agent

    def _observe_1(self, round_fraction: float) -> np.ndarray:
        obs_1F = encoding.encode(self._ctx_1, self.engine.num_actions, round_fraction, self._counts_1)
        return obs_1F[0].numpy().copy()

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        obs0_1F = self.engine.reset(seed=seed)
        self.agents = list(AGENTS)
        self._ctx_1 = encoding.empty_context(1, self.engine.context)
        self._counts_1 = torch.zeros(1, 2, self.engine.num_actions) if self.engine.counts else None
        self._last = None
        obs = {"player_0": obs0_1F[0].numpy().copy(), "player_1": self._observe_1(0.0)}
        return obs, {p: {"round": 0} for p in AGENTS}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("the match is over (or not started); call reset()")
        missing = [p for p in AGENTS if p not in actions]
        if missing:
            raise ValueError(f"actions must hold a move for each of {', '.join(AGENTS)}; missing {', '.join(missing)}")
        num_actions = self.engine.num_actions
        m0 = single_moves(actions["player_0"], num_actions)
        m1 = single_moves(actions["player_1"], num_actions)
        obs0_1F, reward_1, done, info = self.engine.step_forced(m0, m1)
        a0, a1 = int(m0[0]), int(m1[0])
        # player 1's own view of the round: its move first (the engine checked both moves).
        self._ctx_1 = encoding.push_context(self._ctx_1, (m1 * num_actions + m0).long())
        if self._counts_1 is not None:
            self._counts_1[0, 0, a1] += 1
            self._counts_1[0, 1, a0] += 1
        t = int(info["round"])
        obs = {"player_0": obs0_1F[0].numpy().copy(), "player_1": self._observe_1(t / self.engine.rounds)}
        r = float(reward_1[0])
        rewards = {"player_0": r, "player_1": 0.0 - r}  # zero-sum (0.0 - r: no -0.0 on ties)
        terminations = {p: bool(done) for p in AGENTS}
        truncations = {p: False for p in AGENTS}
        infos = {"player_0": {"opponent_move": a1, "round": t}, "player_1": {"opponent_move": a0, "round": t}}
        self._last = (a0, a1, r)
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        t, names = self.engine.t, self.engine.game.actions
        if self._last is None:
            return f"round {t}/{self.engine.rounds}"
        a0, a1, r = self._last
        return f"round {t}/{self.engine.rounds}: player_0 {names[a0]}, player_1 {names[a1]}, reward {r:+g} / {0.0 - r:+g}"

    def close(self) -> None:
        pass


def parallel_env(
    rounds: int = 100,
    context: int = 1,
    game: str | Game = "rps",
    counts: bool = False,
    render_mode: str | None = None,
) -> RockPaperScissorsParallelEnv:
    """Two learning players in one engine, as a PettingZoo ParallelEnv. See
    :class:`RockPaperScissorsParallelEnv`."""
    return RockPaperScissorsParallelEnv(rounds=rounds, context=context, game=game, counts=counts, render_mode=render_mode)
