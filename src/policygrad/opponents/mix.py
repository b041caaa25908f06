"""A population: one opponent drawn per match from a weighted list.

The members are built by the registry (:func:`policygrad.opponents.make_opponent` of
``mix:of=[...]``) and handed to :class:`Mix`, or given as objects: ``Mix([Frequency(), Markov(order=2)],
weights=(1, 2))``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from ..tensors import batched_zeros
from .base import Opponent, Param
from .whitebox import attach_policy


def _weights(of: tuple, weights: tuple) -> list[float]:
    """The members' probabilities: ``weights`` normalised (equal when empty), checked against ``of``."""
    w = weights or (1.0,) * len(of)
    if len(w) != len(of) or sum(w) <= 0:
        raise ValueError(f"mix: weights={list(weights)} must be {len(of)} non-negative numbers, not all 0")
    return [x / sum(w) for x in w]


class Mix(Opponent):
    """Draws one opponent per match from a weighted list, e.g. mix:of=[frequency|markov:order=2],weights=1,2.

    Args:
        members: the opponents, built (from a spec, the registry builds them from ``of``).
        **values: the parameters ``of`` (the members' specs; by default the members' own) and ``weights``.
    """

    name = "mix"
    of: tuple[str, ...]
    weights: tuple[float, ...]
    params = (
        Param("of", "specs", ("frequency", "markov", "pattern"), "the opponents, as [spec|spec|...]"),
        Param("weights", "floats", (), "relative weight of each (empty: equal)", low=0.0),
    )
    memory_depth = float("inf")
    stochastic = True
    adaptive = True

    def __init__(self, members: Sequence[Opponent] | None = None, **values: Any) -> None:
        if members is None:
            raise TypeError("mix: give its members, Mix([opponent, ...], weights=...), or build it from a spec: make_opponent('mix:of=[...]')")
        self.members = list(members)
        for m in self.members:
            if not isinstance(m, Opponent):
                raise TypeError(f"mix: every member must be an Opponent, got {type(m).__name__}")
        values.setdefault("of", [m.spec for m in self.members])
        super().__init__(**values)

    def check(self) -> None:
        if len(self.members) != len(self.of):
            raise ValueError(f"mix: {len(self.members)} members for of={list(self.of)}, which names {len(self.of)}")
        self.weight_list = _weights(self.of, self.weights)

    @classmethod
    def check_params(cls, values) -> None:
        """The parameters, without building the members (the registry's ``check_spec`` checks their specs)."""
        config = cls.parse_params(values)
        _weights(config["of"], config["weights"])

    def check_game(self, game) -> None:
        for member in self.members:
            member.check_game(game)

    def attach(self, policy, context: int, counts: bool, rounds: int | None) -> "Mix":
        """Hand the agent's policy to the members that read it (white-box ones, at any depth); the others ignore it."""
        for member in self.members:
            attach_policy(member, policy, context, counts, rounds)
        return self

    def components(self) -> list[tuple[float, Opponent]]:
        """The (probability, opponent) pairs this population draws from."""
        return list(zip(self.weight_list, self.members))

    def _reset(self, generator) -> None:
        w = torch.tensor(self.weight_list, dtype=torch.float64)
        self.member_of = torch.multinomial(w, self.n, replacement=True, generator=generator)
        self.member_rows = [torch.nonzero(self.member_of == i).squeeze(1) for i in range(len(self.members))]
        for member, rows in zip(self.members, self.member_rows):
            member.reset(len(rows), self.game, generator, self.dtype)

    def state(self) -> dict[str, torch.Tensor]:
        out = {"member_of": self.member_of}
        for i, member in enumerate(self.members):
            out.update({f"{i}.{k}": v for k, v in member.state().items()})
        return out

    def select(self, index_M: torch.Tensor) -> None:
        # the position of each match within its member's rows, then each member keeps its own
        local = torch.empty(self.n, dtype=torch.long)
        for rows in self.member_rows:
            local[rows] = torch.arange(len(rows))
        self.member_of = self.member_of[index_M]
        self.member_rows = [torch.nonzero(self.member_of == i).squeeze(1) for i in range(len(self.members))]
        for member, rows in zip(self.members, self.member_rows):
            member.select(local[index_M[rows]])
        self.n = len(index_M)
        self.rows = torch.arange(self.n)
        self.rows_i32 = torch.arange(self.n, dtype=torch.int32)

    def probs(self) -> torch.Tensor:
        out = batched_zeros(self.n, self.num_actions, dtype=self.dtype)
        for member, rows in zip(self.members, self.member_rows):
            if len(rows):
                out.index_copy_(0, rows, member.probs())
        return out

    def next_move(self):
        out = batched_zeros(self.n, self.num_actions, dtype=self.dtype)
        moves = torch.empty(self.n, dtype=torch.long)
        every_move_known = True
        for member, rows in zip(self.members, self.member_rows):
            if len(rows):
                probs, member_moves = member.next_move()
                out.index_copy_(0, rows, probs)
                if member_moves is None:
                    every_move_known = False
                elif every_move_known:
                    moves.index_copy_(0, rows, member_moves)
        return out, (moves if every_move_known else None)

    def update(self, own_moves, agent_moves) -> None:
        super().update(own_moves, agent_moves)
        for member, rows in zip(self.members, self.member_rows):
            if len(rows):
                member.update(own_moves.index_select(0, rows), agent_moves.index_select(0, rows))
