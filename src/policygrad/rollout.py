"""A policy plays an opponent in the engine: N matches of T rounds -> a Batch.

Legend: N matches, T rounds, A actions, F features.

Play runs without autograd (sampling only); :func:`score` then recomputes every log-probability
in one batched call with autograd, which is what the estimators differentiate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .engine import Engine
from .policies import sample_actions

__all__ = ["Batch", "rollout", "score"]


@dataclass(frozen=True)
class Batch:
    """Sampled matches.

    ======================  ===========  ================================================
    field                   shape        meaning
    ======================  ===========  ================================================
    ``obs``                 [N, T, F]    what the policy saw before each round
    ``actions``             [N, T] long  the agent's moves A_t
    ``opponent_moves``      [N, T] long  the opponent's moves
    ``rewards``             [N, T]       R_{t+1}, the agent's reward for round t
    ``mask``                [N, T]       1 where the round was played (all of them: T is fixed)
    ``logp``                [N, T]       log pi(A_t | S_t), with autograd after :func:`score`
    ``logp_all``            [N, T, A]    log pi(. | S_t), with autograd after :func:`score`
    ======================  ===========  ================================================
    """

    obs: torch.Tensor
    actions: torch.Tensor
    opponent_moves: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    logp: torch.Tensor
    logp_all: torch.Tensor

    @property
    def num_matches(self) -> int:
        return self.actions.shape[0]

    @property
    def rounds(self) -> int:
        return self.actions.shape[1]


@torch.no_grad()
def rollout(policy, engine: Engine, seed: int | None = None, generator: torch.Generator | None = None) -> Batch:
    """Play ``engine.n`` matches of ``policy`` against the engine's opponent (no autograd).

    Args:
        policy: a policy of :mod:`policygrad.policies` (``step`` and ``initial_state``).
        engine: the engine; it is reset with ``seed``.
        seed: seeds both the engine and, unless ``generator`` is given, the agent's draws.
        generator: the agent's generator.
    Returns:
        a :class:`Batch` whose ``logp`` fields carry no autograd graph (call :func:`score`).
    """
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed) + 1)
    n, t_max, a_num = engine.n, engine.rounds, engine.num_actions
    dtype = next(policy.parameters()).dtype
    obs = engine.reset(seed)
    obs_NTF = torch.empty(n, t_max, obs.shape[1], dtype=dtype)
    logp_NTA = torch.empty(n, t_max, a_num, dtype=dtype)
    actions = torch.empty(n, t_max, dtype=torch.long)
    opp = torch.empty(n, t_max, dtype=torch.long)
    rewards = torch.empty(n, t_max, dtype=engine.dtype)
    hidden = policy.initial_state(n)
    for t in range(t_max):
        obs_NTF[:, t] = obs
        logp, hidden = policy.step(obs_NTF[:, t], hidden)
        logp_NTA[:, t] = logp
        a = sample_actions(logp, generator)
        actions[:, t] = a
        obs, r, _, info = engine.step(a)
        rewards[:, t] = r
        opp[:, t] = info["opponent_move"]
    logp_taken = logp_NTA.gather(2, actions.unsqueeze(2)).squeeze(2)
    return Batch(obs_NTF, actions, opp, rewards, torch.ones_like(rewards), logp_taken, logp_NTA)


def score(policy, batch: Batch) -> Batch:
    """The batch with ``logp`` and ``logp_all`` recomputed by ``policy`` with autograd, in one call."""
    logp_all = policy.sequence(batch.obs)
    logp = logp_all.gather(2, batch.actions.unsqueeze(2)).squeeze(2)
    return replace(batch, logp=logp, logp_all=logp_all)
