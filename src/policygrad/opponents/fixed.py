"""Opponents that ignore the agent: a constant move, a fixed distribution, a cycle."""

from __future__ import annotations

import torch

from .base import Opponent, Param


class Constant(Opponent):
    """Always plays the same move."""

    name = "constant"
    move: int
    params = (Param("move", "int", 0, "the move it always plays (0 rock, 1 paper, 2 scissors)", low=0),)

    def check_game(self, game) -> None:
        if self.move >= game.num_actions:
            raise ValueError(f"constant: move {self.move} is outside 0..{game.num_actions - 1}")

    def _reset(self, generator) -> None:
        self._row = torch.zeros(self.num_actions, dtype=self.dtype)
        self._row[self.move] = 1.0

    def probs(self) -> torch.Tensor:
        return self._row.expand(self.n, self.num_actions)

    def next_move(self):
        return self.probs(), torch.full((self.n,), self.move, dtype=torch.long)


class Mixed(Opponent):
    """Draws every move from one fixed distribution (default uniform)."""

    name = "mixed"
    probs_: tuple[float, ...]
    params = (Param("probs", "floats", (), "move probabilities, one per action, summing to 1 (empty: uniform)", low=0.0, high=1.0),)
    stochastic = True

    def check(self) -> None:  # the sum now; the count, which needs the game, in check_game
        if self.probs_ and abs(sum(self.probs_) - 1.0) > 1e-6:
            raise ValueError(f"mixed: probs={list(self.probs_)} must be non-negative numbers summing to 1, one per action")

    def check_game(self, game) -> None:
        if self.probs_ and len(self.probs_) != game.num_actions:
            raise ValueError(f"mixed: probs={list(self.probs_)} must be {game.num_actions} non-negative numbers summing to 1")

    def _reset(self, generator) -> None:
        a = self.num_actions
        p = torch.tensor(self.probs_ or [1.0 / a] * a, dtype=self.dtype)
        self._row = p / p.sum()

    def probs(self) -> torch.Tensor:
        return self._row.expand(self.n, self.num_actions)


class Cycle(Opponent):
    """Plays 0, 1, ..., period-1 over and over, starting at ``offset``."""

    name = "cycle"
    period: int
    offset: int
    params = (
        Param("period", "int", 3, "length of the cycle (at most A)", low=1),
        Param("offset", "int", 0, "the position in the cycle of round 1", low=0),
    )
    memory_depth = float("inf")

    def check_game(self, game) -> None:
        if self.period > game.num_actions:
            raise ValueError(f"cycle: period {self.period} is outside 1..{game.num_actions}")

    def _reset(self, generator) -> None:
        self._rows_AA = torch.eye(self.num_actions, dtype=self.dtype)  # row m: one-hot of move m

    def move(self) -> int:
        """This round's move (the same in every match)."""
        return (self.offset + self.t) % self.period

    def probs(self) -> torch.Tensor:
        return self._rows_AA[self.move()].expand(self.n, self.num_actions)

    def next_move(self):
        return self.probs(), torch.full((self.n,), self.move(), dtype=torch.long)
