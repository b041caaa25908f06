"""Deprecated: this module was split by what each piece is (issue 18's floor plan).

* the Q-learning and DQN trainers and their config: :mod:`policygrad.qlearning`;
* their trained forms (``QTablePolicy``, ``QNetPolicy``, ``ConstantPolicy``, ``argmax_policy``):
  :mod:`policygrad.policies`;
* checkpoints (``save_baseline``, ``policy_from_checkpoint``, ``BASELINE_KINDS``; loading any kind:
  ``load_trained``): :mod:`policygrad.checkpoint`;
* the comparison (``CompareSettings``, ``compare``, ``AGENT_NAMES``): :mod:`policygrad.compare`,
  its figure ``plot_compare``: :mod:`policygrad.plots`; ``interval``: :mod:`policygrad.stats`.

``from policygrad.baselines import ...`` still works for one release, with a DeprecationWarning.
The name also collided with the variance-reduction baseline b(s) of :mod:`policygrad.estimators`.
"""

from __future__ import annotations

import warnings

from .agent import Agent
from .checkpoint import BASELINE_KINDS, policy_from_checkpoint, save_baseline
from .compare import AGENT_NAMES, CompareSettings, compare
from .plots import plot_compare
from .policies import ConstantPolicy, QNetPolicy, QTablePolicy, argmax_policy
from .qlearning import BaselineConfig, train_dqn, train_q_learning
from .stats import interval

__all__ = [
    "BaselineConfig",
    "QTablePolicy",
    "QNetPolicy",
    "ConstantPolicy",
    "train_q_learning",
    "train_dqn",
    "argmax_policy",
    "save_baseline",
    "agent_from_checkpoint",
    "policy_from_checkpoint",
    "BASELINE_KINDS",
    "CompareSettings",
    "compare",
    "plot_compare",
    "interval",
    "AGENT_NAMES",
]

warnings.warn(
    "policygrad.baselines is deprecated: import from policygrad.qlearning, policygrad.compare, policygrad.policies, policygrad.checkpoint or policygrad.plots",
    DeprecationWarning,
    stacklevel=2,
)


def agent_from_checkpoint(data: dict) -> Agent:
    """Deprecated: :meth:`policygrad.Agent.load` reads every checkpoint kind."""
    cfg = data.get("config", {})
    return Agent(policy_from_checkpoint(data), cfg["game"], int(cfg["context"]), bool(cfg["counts"]), int(cfg["rounds"]), name=str(data["kind"]))
