"""The white-box opponent: the exact best response to the agent's current policy.

It reads the agent's policy (attached by the trainer, or at construction), solves the
best-responding opponent's MDP over (round, context) by backward dynamic programming
(:func:`policygrad.exploitability.best_response`) at every ``reset``, and then plays the DP's reply
deterministically (ties spread evenly). Against it the agent earns exactly minus its
exploitability in expectation, so training against it is gradient play on exploitability: the
seed's adaptive opponent in its purest form.
"""

from __future__ import annotations

import torch

from .. import encoding
from .base import Opponent


class BestResponse(Opponent):
    """Plays the exact best response to the agent's current policy, recomputed at every reset (white-box)."""

    name = "best-response"
    memory_depth = float("inf")
    stochastic = False
    adaptive = True
    state_names = ("ctx", "move_counts")

    def __init__(self, policy=None, context: int = 1, counts: bool = False, rounds: int | None = None, **values) -> None:
        super().__init__(**values)
        self.policy = None
        if policy is not None:
            self.attach(policy, context, counts, rounds)

    def attach(self, policy, context: int, counts: bool, rounds: int | None) -> "BestResponse":
        """Give it the agent's policy and observation layout (K context rounds, counts, the horizon T
        of the round feature; None: the engine's number of rounds, known at the first reset)."""
        if getattr(policy, "recurrent", False):
            raise ValueError("best-response needs a feed-forward policy (it solves the MDP over the policy's context); this one is recurrent")
        self.policy, self.context, self.counts, self.rounds = policy, context, counts, rounds
        return self

    def _reset(self, generator) -> None:
        from ..exploitability import best_response

        if self.policy is None:
            raise ValueError(
                "best-response is a white-box opponent: attach the agent's policy first "
                "(BestResponse.attach(policy, context, counts, rounds); `policygrad train` and `compare` do it)"
            )
        rounds = self.rounds
        if rounds is None:
            raise ValueError("best-response: the horizon T is unknown; pass rounds to attach()")
        was_training = getattr(self.policy, "training", False)
        self.policy.eval()
        try:
            self.table = best_response(self.policy, self.game, rounds, self.context, self.counts)
        except ValueError as e:
            if "states" not in str(e):
                raise
            raise ValueError(f"best-response cannot solve this policy's MDP exactly ({e}); train it with --no-counts or fewer rounds") from None
        finally:
            self.policy.train(was_training)
        self.ctx = encoding.empty_context(self.n, self.context)
        self.move_counts = torch.zeros(self.n, 2, self.num_actions, dtype=torch.long) if self.counts else torch.zeros(self.n, 0, dtype=torch.long)

    def probs(self) -> torch.Tensor:
        t = min(self.t, self.table.rounds - 1)
        return self.table.reply(t, self.ctx, self.move_counts if self.counts else None).to(self.dtype)

    def update(self, own_moves, agent_moves) -> None:
        super().update(own_moves, agent_moves)
        self.ctx = encoding.push_context(self.ctx, agent_moves * self.num_actions + own_moves)
        if self.counts:
            self.move_counts[self.rows, 0, agent_moves] += 1
            self.move_counts[self.rows, 1, own_moves] += 1
