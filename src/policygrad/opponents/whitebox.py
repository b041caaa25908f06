"""White-box opponents: they read the agent's policy. The exact best response, the mind reader, a seated policy.

``best-response``: the exact best response to the agent's current policy.

It reads the agent's policy (attached by the trainer, or at construction), solves the
best-responding opponent's MDP over (round, context) by backward dynamic programming
(:func:`policygrad.best_response.best_response`) at every ``reset``, and then plays the DP's reply
deterministically (ties spread evenly). Against it the agent earns exactly minus its
exploitability in expectation, so training against it is gradient play on exploitability: the
seed's adaptive opponent in its purest form.

``mind-reader``: the myopic white-box opponent. It runs the agent's own policy on the agent's own
observation (its hidden state too, so recurrent policies are covered) and plays the best reply to
this round's probabilities p: argmax_o sum_a p(a) (-M[a, o]). Against it the agent earns
-max_o sum_a p(a) M[a, o] each round, zero only where p is an equilibrium (uniform in RPS). In a
training population it is the member that punishes any predictability at once, so a recurrent
agent that meets it learns to notice that it is being read and to fall back toward uniform.

:class:`PolicyOpponent`: any frozen policy seated as the opponent (the approximate exploitability's
learner plays against it).

How the agent's policy reaches them: one way, :func:`attach_policy` (the trainer, the evaluation
and the baselines call it; a ``mix`` forwards it to its members). An opponent that reads the policy
satisfies :class:`WhiteBox` (it has ``attach``); any other is left as it is.
"""

from __future__ import annotations

import contextlib
from typing import Protocol, runtime_checkable

import torch

from .. import encoding
from ..best_response import BestResponseTable, best_response, check_state_space
from ..errors import StateSpaceTooLarge
from ..policies import Policy
from .base import Opponent

__all__ = ["WhiteBox", "attach_policy", "BestResponse", "MindReader", "PolicyOpponent"]


@runtime_checkable
class WhiteBox(Protocol):
    """An opponent that reads the agent's policy: it is handed the policy and the agent's
    observation layout before play (see :func:`attach_policy`)."""

    def attach(self, policy: Policy, context: int, counts: bool, rounds: int | None) -> Opponent:
        """Read ``policy``, whose observation holds K = ``context`` rounds (and the move counts when
        ``counts``) and the round feature t / T with T = ``rounds`` (None: the engine's, known at reset)."""
        ...


def attach_policy(opponent: Opponent, policy: Policy, context: int, counts: bool, rounds: int | None) -> Opponent:
    """Hand the agent's policy and observation layout to ``opponent`` when it is white-box (a
    :class:`WhiteBox`: ``best-response``, ``mind-reader``, or a ``mix``, which forwards it to its
    members at any depth); any other opponent is returned unchanged. Returns ``opponent``.

    Raises:
        StateSpaceTooLarge: ``best-response`` already knows the game and the policy's MDP is too large to solve.
        ValueError: ``best-response`` is handed a recurrent policy.
    """
    if isinstance(opponent, WhiteBox):
        opponent.attach(policy, context, counts, rounds)
    return opponent


class BestResponse(Opponent):
    """Plays the exact best response to the agent's current policy, recomputed at every reset (white-box)."""

    name = "best-response"
    memory_depth = float("inf")
    stochastic = False
    adaptive = True
    state_names = ("ctx", "move_counts")
    table: BestResponseTable
    ctx: torch.Tensor
    move_counts: torch.Tensor

    def __init__(self, policy=None, context: int = 1, counts: bool = False, rounds: int | None = None, **values) -> None:
        super().__init__(**values)
        self.policy, self.planned_game = None, None
        if policy is not None:
            self.attach(policy, context, counts, rounds)

    def attach(self, policy, context: int, counts: bool, rounds: int | None) -> "BestResponse":
        """Give it the agent's policy and observation layout (K context rounds, counts, the horizon T
        of the round feature; None: the engine's number of rounds, known at the first reset).

        Raises:
            StateSpaceTooLarge: the game is known (an engine was built with this opponent) and the
                policy's MDP has too many states to solve (see :func:`policygrad.best_response.check_state_space`).
        """
        if policy.recurrent:
            raise ValueError("best-response needs a feed-forward policy (it solves the MDP over the policy's context); this one is recurrent")
        self.policy, self.context, self.counts, self.rounds = policy, context, counts, rounds
        self._check_size()
        return self

    def check_game(self, game) -> None:
        """Remember the game to be played, and refuse at once a policy whose MDP is too large for it."""
        self.planned_game = game
        self._check_size()

    def _check_size(self) -> None:
        if self.policy is not None and self.rounds is not None and self.planned_game is not None:
            with _explained():
                check_state_space(self.rounds, self.planned_game.num_actions, self.context, self.counts)

    def _reset(self, generator) -> None:
        if self.policy is None:
            raise ValueError(
                "best-response is a white-box opponent: attach the agent's policy first "
                "(attach_policy(opponent, policy, context, counts, rounds); `policygrad train` and `compare` do it)"
            )
        rounds = self.rounds
        if rounds is None:
            raise ValueError("best-response: the horizon T is unknown; pass rounds to attach()")
        was_training = getattr(self.policy, "training", False)
        self.policy.eval()
        try:
            with _explained():
                self.table = best_response(self.policy, self.game, rounds, self.context, self.counts)
        finally:
            self.policy.train(was_training)
        self.ctx = encoding.empty_context(self.n, self.context)
        self.move_counts = torch.zeros(self.n, 2, self.num_actions, dtype=torch.long) if self.counts else torch.zeros(self.n, 0, dtype=torch.long)

    def probs(self) -> torch.Tensor:
        t = min(self.t, self.table.rounds - 1)
        return self.table.reply(t, self.ctx, self.move_counts if self.counts else None).to(self.dtype)

    def update(self, own_moves, agent_moves) -> None:
        super().update(own_moves, agent_moves)
        self.ctx = encoding.record_round(self.ctx, self.move_counts if self.counts else None, agent_moves, own_moves, self.num_actions)


@contextlib.contextmanager
def _explained():
    """Re-raise the exact DP's refusal, same type and attributes, saying that best-response met it."""
    try:
        yield
    except StateSpaceTooLarge as e:
        raise StateSpaceTooLarge(f"best-response cannot solve the agent's MDP exactly: {e}", e.round, e.count, e.limit, e.limit_name) from None


class PolicyOpponent(Opponent):
    """A policy seated in the match: it keeps the observation the policy was trained on (context,
    counts, round fraction, hidden state) and plays the policy's probabilities.

    ``seat="opponent"``: a frozen policy *as* the opponent, seeing the match from its own side (its
    own move first in each pair, its own counts first), as it did in training. ``seat="agent"``: the
    observation of the agent it plays against (what :class:`MindReader` reads). Not in the registry."""

    name = "policy"
    memory_depth = float("inf")
    stochastic = True
    adaptive = False
    _cache: tuple[int, torch.Tensor, torch.Tensor | None] | None  # (round, probs [N, A], next hidden)

    def __init__(self, policy=None, context: int = 1, counts: bool = False, rounds: int | None = None, seat: str = "opponent", **values) -> None:
        super().__init__(**values)
        if seat not in ("opponent", "agent"):
            raise ValueError(f"seat must be 'opponent' or 'agent', got {seat!r}")
        self.seat = seat
        self._seat_policy(policy, context, counts, rounds)

    def _seat_policy(self, policy, context: int, counts: bool, rounds: int | None) -> None:
        self.policy, self.context, self.counts, self.rounds = policy, context, counts, rounds

    def _reset(self, generator) -> None:
        if self.policy is None:
            raise ValueError(
                f"{self.name} reads a policy: attach it first (attach_policy(opponent, policy, context, counts, rounds); `policygrad train` does it)"
            )
        if self.rounds is None:
            raise ValueError(f"{self.name}: the horizon T is unknown; pass rounds to attach()")
        self.ctx = encoding.empty_context(self.n, self.context)
        self.move_counts = torch.zeros(self.n, 2, self.num_actions) if self.counts else None
        self.hidden = self.policy.initial_state(self.n)
        self._cache = None

    @torch.no_grad()
    def policy_probs(self) -> torch.Tensor:
        """[N, A] this round's probabilities of the seated policy (computed once per round)."""
        if self._cache is None or self._cache[0] != self.t:
            assert self.rounds is not None, "_reset refused an unknown horizon"
            dtype = next(self.policy.parameters()).dtype
            obs = encoding.encode(self.ctx, self.num_actions, self.t / self.rounds, self.move_counts).to(dtype)
            logp, hidden = self.policy.step(obs, self.hidden)
            p = logp.exp().to(self.dtype)
            self._cache = (self.t, p / p.sum(1, keepdim=True), hidden)
        return self._cache[1]

    def probs(self) -> torch.Tensor:
        return self.policy_probs()

    def update(self, own_moves, agent_moves) -> None:
        self.policy_probs()
        assert self._cache is not None, "policy_probs filled it"
        self.hidden = self._cache[2]
        super().update(own_moves, agent_moves)
        first, second = (own_moves, agent_moves) if self.seat == "opponent" else (agent_moves, own_moves)
        self.ctx = encoding.record_round(self.ctx, self.move_counts, first, second, self.num_actions)

    def select(self, index_M: torch.Tensor) -> None:
        self.ctx = self.ctx.index_select(0, index_M)
        if self.move_counts is not None:
            self.move_counts = self.move_counts.index_select(0, index_M)
        if self.hidden is not None:  # a recurrent policy's state: [layers, N, H]
            self.hidden = self.hidden.index_select(1, index_M)
        self._cache = None
        super().select(index_M)


class MindReader(PolicyOpponent):
    """Runs the agent's own policy and plays the best reply to this round's probabilities (white-box, myopic; recurrent policies too)."""

    name = "mind-reader"
    stochastic = False
    adaptive = True

    def __init__(self, policy=None, context: int = 1, counts: bool = False, rounds: int | None = None, **values) -> None:
        super().__init__(policy, context, counts, rounds, seat="agent", **values)

    def attach(self, policy, context: int, counts: bool, rounds: int | None) -> "MindReader":
        """Give it the agent's policy and observation layout (K context rounds, counts, the horizon T
        of the round feature)."""
        self._seat_policy(policy, context, counts, rounds)
        return self

    def probs(self) -> torch.Tensor:
        return self.beat(self.policy_probs())
