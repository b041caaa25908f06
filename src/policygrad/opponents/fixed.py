"""Opponents that ignore the agent: a constant move, a fixed distribution, a cycle."""

from __future__ import annotations

import torch

from .base import Opponent, Param


class Constant(Opponent):
    """Always plays the same move."""

    name = "constant"
    params = (Param("move", "int", 0, "the move it always plays (0 rock, 1 paper, 2 scissors)", low=0),)

    def _reset(self, generator) -> None:
        if self.move >= self.num_actions:
            raise ValueError(f"constant: move {self.move} is outside 0..{self.num_actions - 1}")
        self._row = torch.zeros(self.num_actions, dtype=self.dtype)
        self._row[self.move] = 1.0

    def probs(self) -> torch.Tensor:
        return self._row.expand(self.n, self.num_actions)

    def next_move(self):
        return self.probs(), torch.full((self.n,), self.move, dtype=torch.long)


class Mixed(Opponent):
    """Draws every move from one fixed distribution (default uniform)."""

    name = "mixed"
    params = (Param("probs", "floats", (), "move probabilities, one per action, summing to 1 (empty: uniform)", low=0.0, high=1.0),)
    stochastic = True

    def check(self) -> None:  # the sum now; the count, which needs the game, at reset
        if self.probs_ and abs(sum(self.probs_) - 1.0) > 1e-6:
            raise ValueError(f"mixed: probs={list(self.probs_)} must be non-negative numbers summing to 1, one per action")

    def _reset(self, generator) -> None:
        a = self.num_actions
        p = torch.tensor(self.probs_ or [1.0 / a] * a, dtype=self.dtype)
        if p.numel() != a or abs(float(p.sum()) - 1.0) > 1e-6:
            raise ValueError(f"mixed: probs={list(self.probs_)} must be {a} non-negative numbers summing to 1")
        self._row = p / p.sum()

    def probs(self) -> torch.Tensor:
        return self._row.expand(self.n, self.num_actions)


class Cycle(Opponent):
    """Plays 0, 1, ..., period-1 over and over, starting at ``offset``."""

    name = "cycle"
    params = (
        Param("period", "int", 3, "length of the cycle (at most A)", low=1),
        Param("offset", "int", 0, "the position in the cycle of round 1", low=0),
    )
    memory_depth = float("inf")

    def _reset(self, generator) -> None:
        if self.period > self.num_actions:
            raise ValueError(f"cycle: period {self.period} is outside 1..{self.num_actions}")
        self._rows_AA = torch.eye(self.num_actions, dtype=self.dtype)  # row m: one-hot of move m

    def move(self) -> int:
        """This round's move (the same in every match)."""
        return (self.offset + self.t) % self.period

    def probs(self) -> torch.Tensor:
        return self._rows_AA[self.move()].expand(self.n, self.num_actions)

    def next_move(self):
        return self.probs(), torch.full((self.n,), self.move(), dtype=torch.long)
