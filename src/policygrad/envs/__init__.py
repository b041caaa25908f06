"""Gymnasium and PettingZoo faces of the engine.

* :class:`RockPaperScissorsEnv`: the engine with N = 1, registered with Gymnasium as
  ``policygrad/RockPaperScissors-v0`` on ``import policygrad``;
* :func:`vector_env` / :class:`RockPaperScissorsVectorEnv`: the engine with N = n, also what
  ``gymnasium.make_vec("policygrad/RockPaperScissors-v0", num_envs=n)`` builds;
* :func:`parallel_env` / :class:`RockPaperScissorsParallelEnv`: the engine with a second learning
  player, a PettingZoo ParallelEnv.
"""

from __future__ import annotations

import gymnasium

from .parallel import AGENTS, External, RockPaperScissorsParallelEnv, parallel_env
from .single import RockPaperScissorsEnv
from .vector import RockPaperScissorsVectorEnv, vector_env

ENV_ID = "policygrad/RockPaperScissors-v0"

__all__ = [
    "ENV_ID",
    "AGENTS",
    "External",
    "RockPaperScissorsEnv",
    "RockPaperScissorsVectorEnv",
    "RockPaperScissorsParallelEnv",
    "vector_env",
    "parallel_env",
    "register",
]


def register() -> None:
    """Register ``policygrad/RockPaperScissors-v0`` with Gymnasium (once; called on import)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            id=ENV_ID,
            entry_point="policygrad.envs.single:RockPaperScissorsEnv",
            vector_entry_point="policygrad.envs.vector:vector_env",
        )


register()
