"""Opponents that model the agent's moves and play the best response to the prediction.

Each keeps batched counts and, before every round, predicts the agent's next move (the most
likely one; ties spread evenly) and plays uniformly over the best responses to that prediction.
With no data yet (round 1, an unseen context) the prediction is flat, so the reply is uniform.
"""

from __future__ import annotations

import torch

from .. import encoding
from ..tensors import TableRows, batched_zeros, match_last
from .base import Opponent, Param

_decay = Param("decay", "float", 1.0, "weight kept by old counts at each update (1: no forgetting)", low=0.0, high=1.0)


class Frequency(Opponent):
    """Fictitious play: beats the agent's most frequent move so far (optionally decayed counts)."""

    name = "frequency"
    decay: float
    params = (_decay,)
    memory_depth = float("inf")
    adaptive = True
    state_names = ("counts",)

    def _reset(self, generator) -> None:
        self.counts = batched_zeros(self.n, self.num_actions, dtype=self.dtype)

    def probs(self) -> torch.Tensor:
        return self.beat_modes(self.counts)

    def update(self, own_moves, agent_moves) -> None:
        super().update(own_moves, agent_moves)
        if self.decay != 1.0:
            self.counts.mul_(self.decay)
        self.counts.add_(self.one_hot(agent_moves))


class Markov(Opponent):
    """Predicts the agent's next move from its last ``order`` moves (an n-gram table) and beats it."""

    name = "markov"
    order: int
    decay: float
    params = (Param("order", "int", 1, "n, how many of the agent's last moves condition the prediction", low=1, high=3), _decay)
    memory_depth = float("inf")
    adaptive = True
    state_names = ("table", "recent")

    def _reset(self, generator) -> None:
        a = self.num_actions
        self.table = batched_zeros(self.n, a**self.order, a, dtype=self.dtype)
        self.recent = torch.zeros(self.n, dtype=torch.long)  # last `order` agent moves, base A
        # recent' = (recent * A + move) mod A^n, read from a table of the A^(n+1) values of
        # recent * A + move: a gather of N numbers costs a quarter of an int64 remainder over them
        self._shift = torch.arange(a ** (self.order + 1)) % a**self.order
        self._locate()

    def _locate(self) -> None:
        # the table's row for the agent's recent moves, in every match (kept in step with recent and table)
        self.here = TableRows(self.table, self.rows_i32, self.recent)

    def select(self, index_M) -> None:
        super().select(index_M)
        self._locate()

    def probs(self) -> torch.Tensor:
        if self.t < self.order:
            return self.uniform()
        return self.beat_modes(self.here.get())

    def update(self, own_moves, agent_moves) -> None:
        if self.t >= self.order:  # the table learns "after these n moves came this one"
            if self.decay != 1.0:
                self.here.set(self.here.get() * self.decay + self.one_hot(agent_moves))
            else:
                self.here.set_at(agent_moves, self.here.get_at(agent_moves) + 1)
        self.recent = self._shift.index_select(0, torch.add(agent_moves, self.recent, alpha=self.num_actions))
        self._locate()
        super().update(own_moves, agent_moves)


class Pattern(Opponent):
    """Finds the shortest cycle the agent's recent moves repeat, predicts its next move, and beats it."""

    name = "pattern"
    max_period: int
    repeats: int
    params = (
        Param("max-period", "int", 5, "the longest cycle it looks for", low=1, high=20),
        Param("repeats", "int", 2, "how many times a cycle must be seen in a row", low=2, high=5),
    )
    memory_depth = float("inf")
    adaptive = True
    state_names = ("recent", "runs")

    # A cycle of period p shows ``repeats`` times in the last p * repeats moves exactly when each of
    # the last p * (repeats - 1) moves equals the move p rounds before it (row r of the window equals
    # row r + 1 for every r). So instead of the window, it keeps, for every p, the run of latest moves
    # that repeat the move p rounds back, capped at p * (repeats - 1): the last P moves and these
    # runs are all the history that its future play depends on.

    def _reset(self, generator) -> None:
        p_max = self.max_period
        self.recent = match_last(torch.full((self.n, p_max), -1, dtype=torch.long))  # [N, P] the last P moves, newest last
        self.runs = batched_zeros(self.n, p_max, dtype=torch.long)  # [N, P], column P - p: the run for period p
        periods_P = torch.arange(p_max, 0, -1)  # column j <-> period P - j, beside recent[:, j], the move that far back
        self._cap_P1 = (periods_P * (self.repeats - 1)).unsqueeze(1)

    def probs(self) -> torch.Tensor:
        p_max, runs_PN, recent_PN = self.max_period, self.runs.t(), self.recent.t()
        predicted = torch.full((self.n,), -1, dtype=torch.long)
        for p in range(p_max, 0, -1):  # shortest period wins: it overwrites longer ones
            if self.t < p * self.repeats:
                continue
            same = runs_PN[p_max - p] >= p * (self.repeats - 1)
            predicted = torch.where(same, recent_PN[p_max - p], predicted)  # the move p rounds back comes next
        every_move = 2**self.num_actions - 1  # not found: a flat prediction
        return self.beat_set(torch.where(predicted >= 0, 1 << predicted.clamp(min=0), every_move))

    def update(self, own_moves, agent_moves) -> None:
        super().update(own_moves, agent_moves)
        recent_PN = self.recent.t()
        repeat_PN = recent_PN == agent_moves  # row P - p: the move repeats the one p rounds back
        self.runs = (self.runs.t() + 1).clamp_(max=self._cap_P1).mul_(repeat_PN).t()
        self.recent = torch.cat([recent_PN[1:], agent_moves.unsqueeze(0)], dim=0).t()


class Exploiter(Opponent):
    """Best response to the agent's empirical move distribution given the last ``context`` rounds."""

    name = "exploiter"
    context: int
    params = (Param("context", "int", 1, "k, how many past rounds (both moves) condition the model", low=0, high=2),)
    memory_depth = float("inf")
    adaptive = True
    state_names = ("counts", "ctx")

    def _reset(self, generator) -> None:
        a = self.num_actions
        self.counts = batched_zeros(self.n, encoding.num_contexts(a, self.context), a, dtype=self.dtype)
        self.ctx = encoding.empty_context(self.n, self.context)
        self._locate()

    def _locate(self) -> None:
        # the counts' row for the current context, in every match (kept in step with ctx and counts)
        self.here = TableRows(self.counts, self.rows_i32, encoding.context_index(self.ctx, self.num_actions))

    def select(self, index_M) -> None:
        super().select(index_M)
        self._locate()

    def probs(self) -> torch.Tensor:
        row = self.here.get()
        seen = row.sum(dim=1, keepdim=True) > 0
        return self.beat(torch.where(seen, row, 1.0))  # an unseen context: a flat prediction

    def update(self, own_moves, agent_moves) -> None:
        super().update(own_moves, agent_moves)
        self.here.set_at(agent_moves, self.here.get_at(agent_moves) + 1)
        self.ctx = encoding.push_context(self.ctx, torch.add(own_moves, agent_moves, alpha=self.num_actions))  # pair a*A + o
        self._locate()
