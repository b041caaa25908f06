"""The expert-mixture agent's training matches: N matches of T rounds in the batched engine, every
round's features kept for the gradient (:mod:`policygrad.expert_train`).

The policy :class:`~policygrad.expert_policy.ExpertMixturePolicy` plays a population of opponents
(an opponent spec), with the variations of :mod:`policygrad.expert_train`: rotations, switching
within a match, the mind reader (the white-box best reply to the agent's own probabilities of the
round) and frozen past selves playing from their own side of the match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .engine import Engine
from .expert_policy import ExpertMixturePolicy
from .experts import HORIZONS, ExpertFeatures
from .games import make_game
from .opponents import make_opponent
from .tensors import sample

__all__ = ["ExpertBatch", "play"]


@dataclass(frozen=True)
class ExpertBatch:
    """N matches of T rounds, with every round's features kept for the gradient.

    ``moves`` [T, N, J] int8, ``feats`` [T, N, J, F], ``glob`` [T, N, G], ``actions``,
    ``opponent_moves`` [N, T] long, ``rewards`` [N, T], ``probs`` [N, T, A] (the policy's, detached),
    ``mind_read`` [N] bool (the matches the mind reader played), ``past_self`` [N] bool (those a snapshot played).
    """

    moves: torch.Tensor
    feats: torch.Tensor
    glob: torch.Tensor
    actions: torch.Tensor
    opponent_moves: torch.Tensor
    rewards: torch.Tensor
    probs: torch.Tensor
    mind_read: torch.Tensor
    past_self: torch.Tensor


@torch.no_grad()
def play(
    policy: ExpertMixturePolicy,
    population: str,
    n: int,
    rounds: int,
    seed: int,
    game: str = "rps",
    switch_to: str | None = None,
    switch: float = 0.0,
    mind_reader: float = 0.0,
    rotate: bool = False,
    selves: Sequence[ExpertMixturePolicy] = (),
    past_selves: float = 0.0,
    least_order: int = -1,
    horizons: Sequence[float] = HORIZONS,
    ties: str = "first",
) -> ExpertBatch:
    """Play N matches of ``policy`` against ``population`` (an opponent spec), with the variations of the module docstring.

    Args:
        policy: the policy.
        population: the opponent spec (a ``mix`` draws one member per match).
        n, rounds: N and T.
        seed: seeds the engines, the agent's draws, the switches, rotations and the mind reader.
        switch_to: the spec a switching match changes to (None: no switch).
        switch: the share of matches that switch, each at a round uniform in [T/4, 3T/4).
        mind_reader: the share of matches the mind reader plays.
        rotate: rotate each match's opponent moves by a uniform r.
        selves: frozen earlier versions of the policy (snapshots).
        past_selves: the share of matches (apart from the mind reader's) that a snapshot, uniform among ``selves``,
            plays: it keeps its own features of the match with the roles swapped (its moves are the
            opponent's, the agent's are its opponent's) and samples its move from its own probabilities,
            before the round and apart from the agent's draw; rotated like the others.
        least_order, horizons, ties: the agent's (and the snapshots') least-frequent predictors, reward horizons
            and replies to tied counts (:class:`~policygrad.experts.ExpertFeatures`).
    """
    g = make_game(game)
    a_num = g.num_actions
    gen = torch.Generator().manual_seed(int(seed) * 7919 + 17)
    engines = [Engine(make_opponent(population), n=n, rounds=rounds, context=0, game=g, seed=seed)]
    if switch_to is not None:
        engines.append(Engine(make_opponent(switch_to), n=n, rounds=rounds, context=0, game=g, seed=seed + 1))
    for e in engines:
        e.reset()
    switch_at = torch.full((n,), rounds)
    if switch_to is not None and switch > 0:
        moves_at = torch.randint(rounds // 4, max(3 * rounds // 4, rounds // 4 + 1), (n,), generator=gen)
        switch_at = torch.where(torch.rand(n, generator=gen) < switch, moves_at, switch_at)
    share = torch.rand(n, generator=gen)
    mind_read = share < mind_reader
    rotation = torch.randint(a_num, (n,), generator=gen) if rotate else torch.zeros(n, dtype=torch.long)
    past_self = (share >= mind_reader) & (share < mind_reader + past_selves) if selves else torch.zeros(n, dtype=torch.bool)
    mine = past_self.nonzero().squeeze(1)  # the snapshots' matches
    who = torch.randint(len(selves), (len(mine),), generator=gen) if len(mine) else mine
    mirror = ExpertFeatures(len(mine), rounds, g, horizons=horizons, least_order=least_order, ties=ties) if len(mine) else None  # the snapshots' side
    features = ExpertFeatures(n, rounds, g, horizons=horizons, least_order=least_order, ties=ties)
    moves_T, feats_T, glob_T, probs_T, actions_T, opp_T, rewards_T = [], [], [], [], [], [], []
    for t in range(rounds):
        moves, feats, glob = features.features()
        probs = policy(moves, feats, glob).exp()
        actions = sample(probs, gen)
        drawn = [sample(e.opponent_probs.to(torch.float32), gen) for e in engines]
        o = drawn[0] if len(drawn) == 1 else torch.where(t < switch_at, drawn[0], drawn[1])
        o = features.orbit[o, rotation]
        reader = sample(g.best_responses(probs), gen)  # the best reply to the agent's probabilities of this round
        o = torch.where(mind_read, reader, o)
        if mirror is not None:
            m_moves, m_feats, m_glob = mirror.features()
            self_probs = torch.empty(len(mine), a_num)
            for k, snapshot in enumerate(selves):
                at = who == k
                if bool(at.any()):
                    self_probs[at] = snapshot(m_moves[at], m_feats[at], m_glob[at]).exp()
            o[mine] = features.orbit[sample(self_probs, gen), rotation[mine]]
            mirror.update(o[mine], actions[mine])
        rewards = [e.step_forced(actions, o)[1] for e in engines]  # every engine steps (the switch's keeps its opponent's state)
        reward = rewards[0]
        features.update(actions, o)
        moves_T.append(moves.to(torch.int8))
        feats_T.append(feats)
        glob_T.append(glob)
        probs_T.append(probs)
        actions_T.append(actions)
        opp_T.append(o)
        rewards_T.append(reward)
    return ExpertBatch(
        torch.stack(moves_T),
        torch.stack(feats_T),
        torch.stack(glob_T),
        torch.stack(actions_T, 1),
        torch.stack(opp_T, 1),
        torch.stack(rewards_T, 1).to(torch.float32),
        torch.stack(probs_T, 1),
        mind_read,
        past_self,
    )
