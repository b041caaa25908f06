"""The expert-mixture agent's play of one match in NumPy: its features, its network and its draw.

Legend: A actions, P predictors, J = P * A experts, H reward horizons, F = H + 1 features per expert,
G = 2 H + 1 global features, U hidden units of the network.

This module imports nothing but NumPy and :mod:`policygrad.predictors`, so that an exported Kaggle
agent (:mod:`policygrad.export`) carries its source as it is: the library's
:class:`~policygrad.expert_agent.ExpertAgent` plays through :class:`ExpertPlayer`, and so does the file.

**Features** (:class:`ExpertScores`): those of :class:`policygrad.experts.ExpertFeatures` (the torch
version that training batches over N matches; tested equal) for one match. Expert j is predictor
j // A of :class:`~policygrad.predictors.Predictors` at rotation j % A, move m_j (-1: none). Once the
opponent's move o is revealed its reward is r_j = M[m_j, o] (the mean payoff of the column M[:, o] for
an expert with no move), and at each horizon h of ``horizons`` its average is

    a_jh <- h a_jh + (1 - h) r_j

The features of expert j are (a_j1 .. a_jH, 1[m_j >= 0]); the global features are the agent's own
averages (of M[own move, o]) at each horizon, the best expert's average max_j a_jh at each horizon,
and the evidence 1 - ``evidence_decay``^t after t rounds.

**Network** (:class:`MixtureNet`): the forward of :class:`policygrad.expert_policy.ExpertMixturePolicy`
from its state dict, in float64:

    e_j = w_out . tanh(W_in f_j + b_in + W_g g) + b_out,  w = softmax(e),  lambda = sigmoid(v . tanh(V g + c) + d)
    pi(a) = (1 - lambda) sum_j w_j 1[m_j = a] + lambda / A    (an expert with no move plays uniformly)

**Play** (:class:`ExpertPlayer`): pi, optionally mixed by the safe-play guard
(:class:`policygrad.safety.SafeBudget`), and a move drawn by :func:`policygrad.predictors.draw`
from ``np.random.default_rng(seed)``, as :class:`~policygrad.online.OnlineAgent` draws.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .predictors import Predictors, draw

__all__ = ["ExpertScores", "MixtureNet", "ExpertPlayer", "NET_KEYS"]

NET_KEYS = (
    "expert_in.weight", "expert_in.bias", "global_in.weight", "expert_out.weight", "expert_out.bias",
    "uniform.0.weight", "uniform.0.bias", "uniform.2.weight", "uniform.2.bias",
)  # fmt: skip  # the state dict of ExpertMixturePolicy


class ExpertScores:
    """The experts of one match and their recent scores: ``reset()``; each round ``features()``, then ``update(me, them)``.

    Args:
        predictors: the predictors (their game: ``predictors.payoff``).
        horizons: the decays h of the reward averages, each in [0, 1).
        evidence_decay: the global feature 1 - evidence_decay^t.
    """

    def __init__(self, predictors: Predictors, horizons: Sequence[float], evidence_decay: float) -> None:
        if not horizons or not all(0 <= h < 1 for h in horizons):
            raise ValueError(f"horizons must be decays in [0, 1), got {tuple(horizons)}")
        if not 0 <= evidence_decay < 1:
            raise ValueError(f"evidence_decay must be in [0, 1), got {evidence_decay!r}")
        self.predictors = predictors
        self.payoff = predictors.payoff  # [A, A]
        self.horizons = np.array(horizons, dtype=np.float64)  # [H]
        self.evidence_decay = float(evidence_decay)
        self.num_experts = predictors.num_predictors * predictors.num_actions
        self.reset()

    def reset(self) -> None:
        """Start a new match: no history, every average zero."""
        self.predictors.reset()
        self.t = 0
        self.expert_avg_JH = np.zeros((self.num_experts, len(self.horizons)))
        self.own_avg_H = np.zeros(len(self.horizons))
        self.moves_J: np.ndarray | None = None

    def features(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This round's (expert moves [J] int, -1: none; expert features [J, F]; global features [G])."""
        moves = self.predictors.expert_moves()
        self.moves_J = moves
        feats = np.concatenate([self.expert_avg_JH, (moves >= 0)[:, None].astype(np.float64)], 1)
        glob = np.concatenate([self.own_avg_H, self.expert_avg_JH.max(0), [1.0 - self.evidence_decay**self.t]])
        return moves, feats, glob

    def update(self, agent_move: int, opponent_move: int) -> None:
        """Record the round just played; call after :meth:`features`."""
        if self.moves_J is None:
            raise RuntimeError("call features() before update(): the experts' moves of this round are not known yet")
        h = self.horizons
        col = self.payoff[:, opponent_move]  # [A] M[., o]
        r = np.where(self.moves_J >= 0, col[np.maximum(self.moves_J, 0)], col.mean())  # [J] r_j = M[m_j, o]
        self.expert_avg_JH = h * self.expert_avg_JH + (1 - h) * r[:, None]
        self.own_avg_H = h * self.own_avg_H + (1 - h) * col[agent_move]
        self.predictors.push(agent_move, opponent_move)
        self.t += 1
        self.moves_J = None


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class MixtureNet:
    """pi(. | s) of an ExpertMixturePolicy in NumPy (float64), from its weights ``{name: array}`` (:data:`NET_KEYS`)."""

    def __init__(self, weights: dict) -> None:
        missing = [k for k in NET_KEYS if k not in weights]
        if missing:
            raise ValueError(f"the network's weights lack {', '.join(missing)}; an ExpertMixturePolicy has {', '.join(NET_KEYS)}")
        w = {k: np.asarray(weights[k], dtype=np.float64) for k in NET_KEYS}
        self.w_in, self.b_in, self.w_g = w["expert_in.weight"], w["expert_in.bias"], w["global_in.weight"]  # [U, F], [U], [U, G]
        self.w_out, self.b_out = w["expert_out.weight"][0], float(w["expert_out.bias"][0])  # [U], scalar
        self.v, self.c = w["uniform.0.weight"], w["uniform.0.bias"]  # [U, G], [U]
        self.d, self.d0 = w["uniform.2.weight"][0], float(w["uniform.2.bias"][0])  # [U], scalar

    def probs(self, moves_J: np.ndarray, feats_JF: np.ndarray, glob_G: np.ndarray, num_actions: int) -> np.ndarray:
        """[A] pi(. | s): the experts' moves weighed by the softmax of their scores, and the uniform share lambda."""
        hidden_JU = np.tanh(feats_JF @ self.w_in.T + self.b_in + self.w_g @ glob_G)
        e = hidden_JU @ self.w_out + self.b_out  # [J] each expert's score
        w = np.exp(e - e.max())
        w /= w.sum()
        lam = _sigmoid(float(self.d @ np.tanh(self.v @ glob_G + self.c)) + self.d0)
        played = np.bincount(moves_J[moves_J >= 0], weights=w[moves_J >= 0], minlength=num_actions)  # sum_j w_j 1[m_j = a]
        no_move = float(w[moves_J < 0].sum())
        return (1 - lam) * (played + no_move / num_actions) + lam / num_actions


class ExpertPlayer:
    """One match of the expert-mixture agent: ``reset(seed)``, then ``act(last_opponent_move) -> move`` each round.

    Args:
        scores: the experts and their scores (:class:`ExpertScores`).
        net: the network (:class:`MixtureNet`).
        guard: the safe-play guard (``mix(p)``, ``observe(o)``, ``reset()``: :class:`policygrad.safety.SafeBudget`), or None.
    """

    def __init__(self, scores: ExpertScores, net: MixtureNet, guard=None) -> None:
        self.scores, self.net, self.guard = scores, net, guard
        self.num_actions = scores.payoff.shape[0]
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Start a new match; ``seed`` seeds the draws (None: fresh entropy)."""
        self.rng = np.random.default_rng(seed)
        self.scores.reset()
        if self.guard is not None:
            self.guard.reset()
        self.my_last: int | None = None
        self.last_probs: list[float] | None = None

    def act(self, last_opponent_move: int | None = None) -> int:
        """This round's move, given the opponent's move of the previous round (None in round 1)."""
        a = self.num_actions
        if self.my_last is not None:
            if last_opponent_move is None or isinstance(last_opponent_move, bool) or not 0 <= int(last_opponent_move) < a:
                raise ValueError(f"last_opponent_move must be a move in 0..{a - 1} after round 1, got {last_opponent_move!r}")
            o = int(last_opponent_move)
            self.scores.update(self.my_last, o)
            if self.guard is not None:
                self.guard.observe(o)
        probs = self.net.probs(*self.scores.features(), a)
        if self.guard is not None:
            probs = self.guard.mix(probs)
        self.last_probs = probs.tolist()
        self.my_last = draw(probs, self.rng)
        return self.my_last
