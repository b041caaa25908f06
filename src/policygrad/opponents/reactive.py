"""Opponents that react to the last round: mirror, beat-last, win-stay-lose-shift.

Round 1 has no last round: each of them plays uniformly at random there.
"""

from __future__ import annotations

import torch

from .base import Opponent, Param


class _LastRound(Opponent):
    memory_depth = 1
    adaptive = True
    state_names = ("last_agent", "last_own")

    def _reset(self, generator) -> None:
        self.last_agent = torch.zeros(self.n, dtype=torch.long)
        self.last_own = torch.zeros(self.n, dtype=torch.long)

    def update(self, own_moves, agent_moves) -> None:
        super().update(own_moves, agent_moves)
        self.last_own, self.last_agent = own_moves.clone(), agent_moves.clone()  # never alias the caller's tensors

    def probs(self) -> torch.Tensor:
        return self.next_move()[0]

    def next_move(self):
        if self.t == 0:
            return self.uniform(), None
        move = self.reply()
        return self.one_hot(move), move


class Mirror(_LastRound):
    """Copies the agent's last move."""

    name = "mirror"

    def reply(self) -> torch.Tensor:
        return self.last_agent.clone()


class BeatLast(_LastRound):
    """Plays the move that beats the agent's last move."""

    name = "beat-last"

    def reply(self) -> torch.Tensor:
        return self.beats.index_select(0, self.last_agent)


class WinStayLoseShift(_LastRound):
    """Repeats a winning move; after a loss (or a tie, by default) plays what beats the agent's last move."""

    name = "win-stay-lose-shift"
    tie: str
    params = (Param("tie", "choice", "shift", "what to do after a tie", choices=("shift", "stay")),)

    def reply(self) -> torch.Tensor:
        own_reward = self.payoff_flat.index_select(0, self.last_own * self.num_actions + self.last_agent)  # M[own, agent]
        stay = own_reward > 0 if self.tie == "shift" else own_reward >= 0
        return torch.where(stay, self.last_own, self.beats.index_select(0, self.last_agent))
