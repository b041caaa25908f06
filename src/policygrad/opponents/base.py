"""The Opponent contract and its parameters (spec strings are split in :mod:`policygrad.opponents.spec`).

An opponent is a batched stochastic policy over the history of the match:

* ``reset(n, game, generator, dtype)`` starts N matches;
* ``probs()`` -> [N, A]: its distribution over its next move, from earlier rounds only;
* ``update(own_moves [N], agent_moves [N])``: both moves of the round just played.

Every randomness of play lives in ``probs`` (the engine draws the move), so sampling, exact
enumeration and best-response analysis all read the same function. Only ``mix`` also draws at
``reset`` (which opponent each match meets), from the engine's generator.

Optionally, ``next_move()`` -> ``(probs [N, A], moves [N] or None)`` also gives the move itself when
``probs`` is one-hot in every match, so the engine skips the draw; the default returns
``(self.probs(), None)``.

Tensors returned by ``probs`` are read-only for the caller (one may be a view shared between rounds).

Memory layout: the batched state is indexed ``[N, ...]`` (match first), but the helpers of
:mod:`policygrad.tensors` (``batched_zeros``, ``match_last``, ``TableRows``) allocate it with the
match index innermost in memory, so each per-match operation of the families runs over long
contiguous rows of N numbers (see that module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..games import Game
from ..tensors import TableRows, as_count, batched_zeros, match_last, row_max
from .spec import MAX_SPEC_DEPTH, parse_spec, split_top_level

# parse_spec, split_top_level and MAX_SPEC_DEPTH live in policygrad.opponents.spec, the batched-layout
# helpers in policygrad.tensors; they stay importable from here
__all__ = ["Param", "Opponent", "OutsideCodeError", "parse_spec", "split_top_level", "batched_zeros", "match_last", "TableRows", "row_max", "MAX_SPEC_DEPTH"]


class OutsideCodeError(ValueError):
    """A stored file (a checkpoint, a run's config.toml, a config file) names an opponent that would
    run outside code (``kaggle:path=FILE.py``, alone or inside a mix): only a person may ask for that,
    on the command line or in Python. A ValueError, so code that treats every bad input alike catches it.

    Attributes:
        spec: the stored opponent spec.
        code: the parts of it that run outside code (``kaggle:path=...`` specs).
        source: the file it was read from.
    """

    def __init__(self, message: str, spec: str, code: list[str], source: str) -> None:
        super().__init__(message)
        self.spec, self.code, self.source = spec, list(code), source

    def __reduce__(self):
        return (type(self), (str(self), self.spec, self.code, self.source))


@dataclass(frozen=True)
class Param:
    """One parameter of an opponent: its name, kind, default, allowed range and meaning.

    ``kind`` is one of ``int``, ``float``, ``floats`` (a comma-separated list), ``choice``
    (one of ``choices``) or ``specs`` (a ``[spec|spec|...]`` list of opponent specs).
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "specs":
            return "[spec|spec|...] of opponent specs"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        what = {"int": "an integer", "float": "a number", "floats": "numbers"}[self.kind]
        return f"{what} in [{lo}, {hi}]"

    def parse(self, owner: str, raw: Any) -> Any:
        """The value of ``raw`` (a string from a spec, or a Python value), checked."""

        def bad(detail: str = ""):
            return ValueError(f"{owner}: bad value {raw!r} for parameter '{self.name}'{detail}; allowed: {self.allowed()}")

        def in_range(x: float) -> None:
            if (self.low is not None and x < self.low) or (self.high is not None and x > self.high):
                raise bad()

        if self.kind == "choice":
            choice = str(raw).strip()
            if choice not in self.choices:
                raise bad()
            return choice
        if self.kind == "specs":
            if isinstance(raw, (list, tuple)):
                items = [str(s) for s in raw]
            else:
                text = str(raw).strip()
                if text.startswith("[") and text.endswith("]"):
                    text = text[1:-1]
                items = [s.strip() for s in split_top_level(text, "|")]
            if not items or any(not s for s in items):
                raise bad()
            return tuple(items)
        if self.kind == "floats":
            if raw in ((), "", []) and self.default == ():
                return ()
            try:
                raw_items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
                values = tuple(float(x) for x in raw_items)
            except (TypeError, ValueError):
                raise bad() from None
            if not values or any(v != v for v in values):
                raise bad()
            for v in values:
                in_range(v)
            return values
        value: float  # an int for kind int
        try:
            if self.kind == "int":
                if isinstance(raw, float) and not raw.is_integer():
                    raise ValueError
                value = int(raw) if not isinstance(raw, str) else int(raw.strip())
            else:
                value = float(raw)
        except (TypeError, ValueError):
            raise bad() from None
        if value != value:  # NaN
            raise bad()
        in_range(value)
        return value


class Opponent:
    """Base of every opponent: parameter checking, the spec string, and the batched contract.

    Subclasses set ``name``, ``params``, ``memory_depth`` (rounds of history used; ``inf`` for all),
    ``stochastic``, ``adaptive``, a docstring whose first line describes them, and implement
    ``_reset``, ``probs`` and ``update``.
    """

    name: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    state_names: ClassVar[tuple[str, ...]] = ()  # the batched state: attributes of shape [N, ...]
    memory_depth: ClassVar[float] = 0
    stochastic: ClassVar[bool] = False
    adaptive: ClassVar[bool] = False

    def __init__(self, **values: Any) -> None:
        self.config = self.parse_params(values)
        for key, value in self.config.items():
            attr = key.replace("-", "_")
            setattr(self, attr + "_" if hasattr(type(self), attr) else attr, value)  # probs -> probs_
        self.check()

    @classmethod
    def parse_params(cls, values: dict[str, Any]) -> dict[str, Any]:
        """``{name: checked value}`` of every parameter (defaults filled in); an unknown name is refused."""
        known = {p.name: p for p in cls.params}
        for key in values:
            if key not in known:
                allowed = ", ".join(known) or "none"
                raise ValueError(f"{cls.name}: unknown parameter '{key}'; allowed: {allowed}")
        return {p.name: p.parse(cls.name, values.get(p.name, p.default)) for p in cls.params}

    @classmethod
    def check_params(cls, values: dict[str, Any]) -> None:
        """Check parameters as the constructor does, without reading a file, importing a module or
        running outside code: what a spec read from a stored file gets. The families' opponents are
        plain data, so building one is the check; outside bots and mixes override it."""
        cls(**values)

    @classmethod
    def runs_outside_code(cls, values: dict[str, Any]) -> bool:
        """Whether these parameters make the opponent run code from a file (``kaggle:path=FILE.py``):
        such a spec is run only when a person names it, never when a stored file does."""
        return False

    def check(self) -> None:
        """Cross-parameter checks that do not need the game (override when needed)."""

    def check_game(self, game: Game) -> None:
        """Checks of the parameters against a game (a move outside it, a cycle longer than its moves);
        the engine calls it when it is built, before any play, and :meth:`reset` again. Override when needed."""

    @classmethod
    def description(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0]

    @property
    def spec(self) -> str:
        """The spec string that rebuilds this opponent."""

        def fmt(p: Param, v: Any) -> str:
            if p.kind == "specs":
                return "[" + "|".join(v) + "]"
            if p.kind == "floats":
                return ",".join(f"{x:g}" for x in v)
            return f"{v:g}" if isinstance(v, float) else str(v)

        changed = [f"{p.name}={fmt(p, self.config[p.name])}" for p in self.params if self.config[p.name] != p.parse(self.name, p.default)]
        return self.name + (":" + ",".join(changed) if changed else "")

    def __repr__(self) -> str:
        return f"<opponent {self.spec}>"

    # -- the batched contract ------------------------------------------------------------------
    def reset(self, n: int, game: Game, generator: torch.Generator | None = None, dtype=torch.float32) -> None:
        """Start N fresh matches of ``game``."""
        self.check_game(game)
        self.n, self.game, self.dtype = n, game, dtype
        self.num_actions = game.num_actions
        self.payoff = game.payoff.to(dtype)
        self.payoff_flat = self.payoff.reshape(-1)  # [A*A], index own * A + other
        self.beats = game.beats()  # [A] long: the reply that beats each move
        self._actions_A1 = torch.arange(self.num_actions).unsqueeze(1)
        self._uniform_A = torch.full((self.num_actions,), 1.0 / self.num_actions, dtype=dtype)
        self._set_tables()
        self.t = 0
        self.rows = torch.arange(n)
        self.rows_i32 = torch.arange(n, dtype=torch.int32)  # for TableRows
        self._reset(generator)

    def _reset(self, generator: torch.Generator | None) -> None:
        """Allocate the batched state (called by reset, after n, game and dtype are set)."""

    def probs(self) -> torch.Tensor:
        """[N, A]: the distribution of the next move, from the history of earlier rounds only."""
        raise NotImplementedError

    def next_move(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(probs [N, A], moves [N] long or None)``: :meth:`probs`, and the move of every match when
        ``probs`` is one-hot in all of them (the engine then draws nothing); None otherwise."""
        return self.probs(), None

    def update(self, own_moves: torch.Tensor, agent_moves: torch.Tensor) -> None:
        """Both [N] long moves of the round just played."""
        self.t += 1

    def state(self) -> dict[str, torch.Tensor]:
        """The batched state, ``{name: [N, ...] tensor}``: with the round ``t`` it fixes all future play."""
        return {name: getattr(self, name) for name in self.state_names}

    def select(self, index_M: torch.Tensor) -> None:
        """Keep the matches ``index_M`` (repeats allowed): the opponent now plays M matches, the i-th
        in the state of match ``index_M[i]``. Used to branch a history into its continuations."""
        for name in self.state_names:
            setattr(self, name, match_last(getattr(self, name).index_select(0, index_M)))
        self.n = len(index_M)
        self.rows = torch.arange(self.n)
        self.rows_i32 = torch.arange(self.n, dtype=torch.int32)

    # -- helpers shared by the families ----------------------------------------------------------
    def uniform(self) -> torch.Tensor:
        """[N, A] uniform, a read-only view of one shared row."""
        return self._uniform_A.expand(self.n, self.num_actions)

    def one_hot(self, moves_N: torch.Tensor) -> torch.Tensor:
        """[N, A] one-hot of the moves (match index innermost in memory)."""
        return (moves_N == self._actions_A1).to(self.dtype).t()

    def beat(self, predicted_NA: torch.Tensor) -> torch.Tensor:
        """[N, A]: uniform over the best responses to a predicted distribution (or tie mask) of the
        agent's next move."""
        return self.game.best_responses(predicted_NA).to(self.dtype)

    def modes(self, weights_NA: torch.Tensor) -> torch.Tensor:
        """[N, A]: uniform over the argmax entries of each row (all entries when the row is flat)."""
        if self._modes_AK is not None:
            return self.set_rows(self._modes_AK, self.argmax_set(weights_NA))
        return self._uniform_over(weights_NA >= row_max(weights_NA).unsqueeze(1))

    def beat_modes(self, weights_NA: torch.Tensor) -> torch.Tensor:
        """[N, A]: ``beat(modes(weights))``, the best responses to the most likely moves."""
        if self._beat_AK is not None:
            return self.set_rows(self._beat_AK, self.argmax_set(weights_NA))
        return self.beat(self.modes(weights_NA))

    def beat_set(self, set_N: torch.Tensor) -> torch.Tensor:
        """[N, A]: the best responses to a prediction uniform over a set of moves (a bit mask, see
        :meth:`argmax_set`): ``beat`` of the uniform distribution over the set."""
        if self._beat_AK is not None:
            return self.set_rows(self._beat_AK, set_N)
        return self.beat(self._uniform_over((set_N.unsqueeze(0) >> self._actions_A1).t() & 1 > 0))

    # -- sets of moves as bit masks ----------------------------------------------------------------
    # The predictive families reply to a *set* of moves (the agent's most likely moves): uniform
    # over it, or uniform over the best responses to it. With A actions there are only 2^A such
    # sets, so reset() computes both replies for every set once, with the generic formulas, and a
    # round reads them with one gather per match instead of a dozen operations on [N, A] tensors.
    SET_TABLE_MAX_ACTIONS: ClassVar[int] = 10

    def _set_tables(self) -> None:
        a = self.num_actions
        if a > self.SET_TABLE_MAX_ACTIONS:
            self._modes_AK = self._beat_AK = None
            return
        members_KA = (torch.arange(2**a).unsqueeze(1) >> torch.arange(a)) & 1 > 0  # row k: the set k
        members_KA[0] = True  # the empty set never occurs (a row has a maximum); keep it finite
        modes_KA = self._uniform_over(members_KA)
        self._modes_AK = modes_KA.T.contiguous()
        self._beat_AK = self.beat(modes_KA).T.contiguous()

    def _uniform_over(self, mask_NA: torch.Tensor) -> torch.Tensor:
        top = mask_NA.to(self.dtype)
        return top / top.sum(dim=1, keepdim=True)

    def argmax_set(self, weights_NA: torch.Tensor) -> torch.Tensor:
        """[N] long: the argmax entries of each row as a bit mask (bit j set: entry j is a maximum).

        Column by column (each a run of N numbers when the match index is innermost): the row
        maximum, then one comparison per move, added into the mask, in bytes for A <= 8 (a
        comparison's bool result read as uint8). For A <= 31 (the per-set tables that read it stop
        at :attr:`SET_TABLE_MAX_ACTIONS`)."""
        columns = weights_NA.unbind(1)
        top_N = row_max(weights_NA)
        count = as_count(1 << self.num_actions)
        mask_N = count(columns[0] >= top_N)
        for j, c in enumerate(columns[1:], start=1):
            mask_N.add_(count(c >= top_N), alpha=1 << j)
        return mask_N.long()

    @staticmethod
    def set_rows(table_AK: torch.Tensor, set_N: torch.Tensor) -> torch.Tensor:
        """[N, A]: column ``set_n`` of a per-set table [A, 2^A] for every match (match index innermost)."""
        return table_AK.index_select(1, set_N).t()
