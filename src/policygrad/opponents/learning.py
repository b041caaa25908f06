"""Opponents that learn during the match by reinforcement learning, from their own reward.

Both see the context of the last ``context`` rounds (both moves) and are rewarded with the
opponent's side of the payoff, ``M[own, agent] = -M[agent, own]``.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from .. import encoding
from ..tensors import TableRows, batched_zeros, row_max
from .base import Opponent, Param


def softmax(logits_NA: torch.Tensor) -> torch.Tensor:
    """[N, A]: softmax over each row, in the layout of ``logits_NA``.

    Not ``torch.softmax``: over a dimension that is not innermost in memory it is several times
    slower at large N, and neither it nor ``sum(dim=1)`` gives a match the same bits whatever the
    batch around it. Here the row total is added up move by move, so a match's distribution
    depends on its own logits only (``select`` relies on that).
    """
    e_NA = (logits_NA - row_max(logits_NA).unsqueeze(1)).exp_()
    total_N = e_NA[:, 0]
    for j in range(1, e_NA.shape[1]):
        total_N = total_N + e_NA[:, j]
    return e_NA / total_N.unsqueeze(1)


_context = Param("context", "int", 1, "k, how many past rounds (both moves) form its state", low=0, high=2)


class _Tabular(Opponent):
    context: int
    memory_depth = float("inf")
    stochastic = True
    adaptive = True
    state_names: ClassVar[tuple[str, ...]] = ("table", "ctx")

    def _reset(self, generator) -> None:
        a = self.num_actions
        self.payoff_T_flat = self.payoff.T.reshape(-1)  # [A*A], index a*A + o: M[o, a]
        self.table = batched_zeros(self.n, encoding.num_contexts(a, self.context), a, dtype=self.dtype)
        self.ctx = encoding.empty_context(self.n, self.context)
        self._locate()

    def state_index(self) -> torch.Tensor:
        return encoding.context_index(self.ctx, self.num_actions)

    def _locate(self) -> None:
        # the table's row for the current state, in every match (kept in step with ctx and table)
        self.here = TableRows(self.table, self.rows_i32, self.state_index())

    def select(self, index_M) -> None:
        super().select(index_M)
        self._locate()

    def learn(self, s: TableRows, own_moves, reward) -> None:
        raise NotImplementedError

    def update(self, own_moves, agent_moves) -> None:
        super().update(own_moves, agent_moves)
        before = self.here
        pair = torch.add(own_moves, agent_moves, alpha=self.num_actions)  # a*A + o
        reward = self.payoff_T_flat.index_select(0, pair)  # its own reward M[o, a]
        self.ctx = encoding.push_context(self.ctx, pair)
        self._locate()
        self.learn(before, own_moves, reward)


class QLearner(_Tabular):
    """Epsilon-greedy tabular Q-learning over the context, learning after every round."""

    name = "q-learner"
    epsilon: float
    alpha: float
    gamma: float
    params = (
        _context,
        Param("epsilon", "float", 0.1, "probability of a uniformly random move", low=0.0, high=1.0),
        Param("alpha", "float", 0.3, "learning rate", low=0.0, high=1.0),
        Param("gamma", "float", 0.5, "discount of the next state's value", low=0.0, high=1.0),
    )

    def _reset(self, generator) -> None:
        super()._reset(generator)
        if self._modes_AK is not None:  # the policy, per set of greedy moves (see Opponent.argmax_set)
            self._policy_AK = self.epsilon / self.num_actions + (1 - self.epsilon) * self._modes_AK

    def probs(self) -> torch.Tensor:
        q_NA = self.here.get()
        if self._modes_AK is not None:
            return self.set_rows(self._policy_AK, self.argmax_set(q_NA))
        return self.epsilon / self.num_actions + (1 - self.epsilon) * self.modes(q_NA)  # greedy ties spread evenly

    def learn(self, s: TableRows, own_moves, reward) -> None:
        # Q(s, o) <- Q(s, o) + alpha * (r + gamma * max_o' Q(s', o') - Q(s, o)), s' = self.here
        q_next_NA = self.here.get()  # read before the update: where s' is s it holds the old Q(s, o)
        target = torch.add(reward, row_max(q_next_NA), alpha=self.gamma)
        q_new = torch.lerp(s.get_at(own_moves), target, self.alpha)  # q + alpha (target - q)
        s.set_at(own_moves, q_new)
        self.here.mirror(s.base_N == self.here.base_N, own_moves, q_new)  # Q(s', .) after it, for probs()


class PGLearner(_Tabular):
    """A tabular softmax policy updated by REINFORCE with a running-mean baseline after every round."""

    state_names = ("table", "ctx", "baseline")
    name = "pg-learner"
    lr: float
    baseline_rate: float
    params = (
        _context,
        Param("lr", "float", 0.5, "step size of the logit update", low=0.0, high=100.0),
        Param("baseline-rate", "float", 0.1, "rate of the running mean of its reward", low=0.0, high=1.0),
    )

    def _reset(self, generator) -> None:
        super()._reset(generator)
        self.baseline = torch.zeros(self.n, dtype=self.dtype)

    def probs(self) -> torch.Tensor:
        return softmax(self.here.get())

    def learn(self, s: TableRows, own_moves, reward) -> None:
        # theta_s <- theta_s + lr * (r - b) * grad log pi(o | s) = lr * (r - b) * (onehot(o) - pi(. | s))
        theta = s.get()
        pi = softmax(theta)
        s.set(theta + self.lr * (reward - self.baseline).unsqueeze(1) * (self.one_hot(own_moves) - pi))
        self.baseline = torch.lerp(self.baseline, reward, self.baseline_rate)  # b + rate (r - b)
