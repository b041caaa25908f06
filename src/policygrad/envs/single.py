"""The Gymnasium env: the engine with N = 1, one match against an opponent.

Legend: A actions, F features.

The rules live in :class:`~policygrad.engine.Engine` only; this class converts its torch tensors
to the NumPy values Gymnasium expects. Registered as ``policygrad/RockPaperScissors-v0`` when
``policygrad`` is imported::

    env = gymnasium.make("policygrad/RockPaperScissors-v0", opponent="markov:order=2", rounds=50)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from ..engine import Engine
from ..games import Game

__all__ = ["RockPaperScissorsEnv", "engine_seed", "single_moves"]


def engine_seed(env: gym.Env | gym.vector.VectorEnv, seed: int | None, seeded: bool) -> int | None:
    """The seed to pass to ``Engine.reset`` under Gymnasium's seeding rules.

    A given seed re-seeds the engine; ``None`` keeps the engine's generator where it is, except on
    the first reset, where the engine is seeded from ``env.np_random`` (fresh entropy, as Gymnasium
    does for ``np_random``).
    """
    if seed is not None:
        return int(seed)
    if not seeded:
        return int(env.np_random.integers(2**63 - 1))
    return None


def single_moves(action: Any, num_actions: int) -> torch.Tensor:
    """One move (an int or a 0-d integer array) as the [1] tensor the engine checks."""
    arr = np.asarray(action)
    if arr.ndim != 0:
        raise ValueError(f"action must be a single move in 0..{num_actions - 1}, got {action!r}")
    return torch.tensor(arr.reshape(1))


def check_render_mode(render_mode: str | None, allowed: list[str]) -> None:
    """One clear error for a render mode the env does not have."""
    if render_mode not in (None, *allowed):
        raise ValueError(f"render_mode must be None or one of {allowed}, got {render_mode!r}")


class RockPaperScissorsEnv(gym.Env):
    """One repeated zero-sum matrix game (RPS by default) of ``rounds`` rounds against an opponent.

    Observation: Box(0, 1, (F,), float32), the engine's encoding of the last ``context`` rounds,
    the round fraction and (``counts=True``) the move frequencies (see :mod:`policygrad.encoding`).
    Action: Discrete(A), the agent's move. Reward: ``payoff[action, opponent_move]``.
    The episode terminates after ``rounds`` rounds (``terminated=True``, ``truncated=False``).
    ``info`` holds ``opponent_move``, ``opponent_probs`` [A] (the distribution it was drawn from)
    and ``round`` (rounds played).

    Args:
        opponent: an opponent spec such as ``"markov:order=2,decay=0.9"`` or an Opponent object.
        rounds: T, rounds per episode (>= 1).
        context: K, past rounds in the observation (>= 0).
        game: a game spec (``"rps"``, ``"rpsls"``, ...) or a Game.
        counts: add the running move frequencies of both players to the observation.
        render_mode: ``None`` or ``"ansi"`` (a line describing the last round).

    Seeding follows Gymnasium: ``reset(seed=s)`` re-seeds the engine's generator with ``s`` (so the
    match equals ``Engine(..., n=1).reset(seed=s)``); ``reset()`` keeps the generator's state.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # fps: nominal, for viewers that ask

    def __init__(
        self,
        opponent="frequency",
        rounds: int = 100,
        context: int = 1,
        game: str | Game = "rps",
        counts: bool = False,
        render_mode: str | None = None,
    ) -> None:
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.engine = Engine(opponent, n=1, rounds=rounds, context=context, game=game, counts=counts)
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, (self.engine.obs_size,), np.float32)
        self.action_space = spaces.Discrete(self.engine.num_actions)
        self._seeded = False
        self._last: tuple[int, int, float] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs_1F = self.engine.reset(seed=engine_seed(self, seed, self._seeded))
        self._seeded = True
        self._last = None
        return obs_1F[0].numpy().copy(), {"round": 0}

    def step(self, action):
        obs_1F, reward_1, done, info = self.engine.step(single_moves(action, self.engine.num_actions))
        move, opp, r = int(action), int(info["opponent_move"][0]), float(reward_1[0])
        self._last = (move, opp, r)
        info = {
            "opponent_move": opp,
            "opponent_probs": info["opponent_probs"][0].numpy().astype(np.float32),  # a copy
            "round": int(info["round"]),
        }
        return obs_1F[0].numpy().copy(), r, bool(done), False, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        t, names = self.engine.t, self.engine.game.actions
        if self._last is None:
            return f"round {t}/{self.engine.rounds}"
        move, opp, r = self._last
        return f"round {t}/{self.engine.rounds}: agent {names[move]}, opponent {names[opp]}, reward {r:+g}"
