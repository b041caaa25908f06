"""policygrad: the policy gradient theorem, checked against exact gradients, learning stochastic
policies that adaptive opponents cannot exploit in repeated zero-sum matrix games."""

from __future__ import annotations

from .agent import Agent
from .engine import Engine
from .games import Game, make_game
from .opponents import make_opponent
from . import envs  # noqa: E402,F401  registers "policygrad/RockPaperScissors-v0" with Gymnasium

__version__ = "0.1.0"
__all__ = ["Agent", "Engine", "Game", "make_game", "make_opponent", "__version__"]
