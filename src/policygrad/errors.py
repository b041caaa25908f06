"""Typed errors that callers decide on (ground floor: imports nothing of the package).

A caller that falls back, retries or re-words an error catches its type here, never the text of
its message.
"""

from __future__ import annotations

__all__ = ["StateSpaceTooLarge"]


class StateSpaceTooLarge(ValueError):
    """An exact method refused because one round of its state space holds more than its limit.

    Raised by the exact best response (:func:`policygrad.best_response.best_response`) and by
    :func:`policygrad.optimum.optimum` as soon as a level exceeds the limit, before anything larger
    is built. A ValueError, so code that treats every bad input alike still catches it.

    Attributes:
        round: the round (level) that is too large: the states after ``round`` rounds (for a limit
            on all rounds together, the round at which it is passed).
        count: how many states (or histories) it holds (all rounds so far, for such a limit).
        limit: the most that was allowed.
        limit_name: what the limit is (``"max_states"``, ``"max_bytes"``, or what fits in the memory).
    """

    def __init__(self, message: str, round: int, count: int, limit: int, limit_name: str = "max_states") -> None:
        super().__init__(message)
        self.round, self.count, self.limit, self.limit_name = round, count, limit, limit_name

    def __reduce__(self):  # pickles with its attributes (a pool worker can raise it)
        return (type(self), (str(self), self.round, self.count, self.limit, self.limit_name))
