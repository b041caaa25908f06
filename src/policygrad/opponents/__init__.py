"""Adaptive opponents: a registry of small batched stochastic policies over the match history.

``make_opponent("markov:order=2,decay=0.9")`` builds one; ``OPPONENTS`` is the explicit list;
groups are filters over the metadata (``adaptive``, ``stochastic``, ``memory_depth``).

The modules, by floor: :mod:`~policygrad.opponents.spec` (spec strings) and
:mod:`~policygrad.opponents.base` (the Opponent contract, its parameters) below the families
(:mod:`~policygrad.opponents.fixed`, ``reactive``, ``predictive``, ``learning``, ``mix``,
``external``, ``whitebox``), and :mod:`~policygrad.opponents.registry` above them, which builds
an opponent from its spec and checks a stored spec (``check_spec``, ``outside_code``,
``refuse_outside_code``). This package re-exports the registry and the opponent classes.
"""

from __future__ import annotations

from .base import Opponent, OutsideCodeError, Param
from .fixed import Constant, Cycle, Mixed
from .learning import PGLearner, QLearner
from .mix import Mix
from .predictive import Exploiter, Frequency, Markov, Pattern
from .reactive import BeatLast, Mirror, WinStayLoseShift
from .registry import (
    EXTERNAL,
    OPPONENTS,
    REGISTRY,
    adaptive_names,
    check_spec,
    describe_opponents,
    make_opponent,
    outside_code,
    refuse_outside_code,
    split_specs,
)
from .whitebox import BestResponse, MindReader, PolicyOpponent, WhiteBox, attach_policy

__all__ = [
    "Opponent", "Param", "OPPONENTS", "REGISTRY", "EXTERNAL", "make_opponent", "describe_opponents", "split_specs", "adaptive_names",
    "check_spec", "outside_code", "refuse_outside_code", "OutsideCodeError", "WhiteBox", "attach_policy",
    # the opponent classes, by family
    "Constant", "Mixed", "Cycle", "Mirror", "BeatLast", "WinStayLoseShift", "Frequency", "Markov", "Pattern", "Exploiter",
    "QLearner", "PGLearner", "Mix", "BestResponse", "MindReader", "PolicyOpponent",
]  # fmt: skip
