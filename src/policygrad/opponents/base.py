"""The Opponent contract, its parameters, and spec-string parsing.

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

Memory layout: the batched state is indexed ``[N, ...]`` (match first), but the helpers below
allocate it with the match index innermost in memory (a permuted view of a contiguous
``[..., N]`` tensor). Then every per-match operation of the families, which is an operation on
small tensors of N numbers each, runs over long contiguous rows instead of rows of A = 3 numbers,
which on a CPU is several times faster at large N. Values and shapes are the same either way;
:class:`TableRows` addresses any dense layout through its strides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..engine import as_count
from ..games import Game

__all__ = ["Param", "Opponent", "OutsideCodeError", "parse_spec", "split_top_level", "batched_zeros", "match_last", "TableRows", "row_max", "MAX_SPEC_DEPTH"]

MAX_SPEC_DEPTH = 16  # brackets nested in one spec (mix:of=[mix:of=[...]]): deeper is refused with a message, not a RecursionError


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
            return ValueError(
                f"{owner}: bad value {raw!r} for parameter '{self.name}'{detail}; allowed: {self.allowed()}"
            )

        def in_range(x: float) -> None:
            if (self.low is not None and x < self.low) or (self.high is not None and x > self.high):
                raise bad()

        if self.kind == "choice":
            value = str(raw).strip()
            if value not in self.choices:
                raise bad()
            return value
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
                items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
                values = tuple(float(x) for x in items)
            except (TypeError, ValueError):
                raise bad() from None
            if not values or any(v != v for v in values):
                raise bad()
            for v in values:
                in_range(v)
            return values
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


# -- batched state, the match index innermost in memory ---------------------------------------------


def batched_zeros(n: int, *shape: int, dtype=torch.float32) -> torch.Tensor:
    """Zeros of shape [N, *shape] stored with the match index innermost (see the module docstring)."""
    return torch.zeros(*shape, n, dtype=dtype).movedim(-1, 0)


def match_last(x_N: torch.Tensor) -> torch.Tensor:
    """The same values as ``x_N`` ([N, ...]) in a fresh tensor with the match index innermost."""
    if x_N.dim() < 2:
        return x_N.contiguous()
    return x_N.movedim(0, -1).contiguous().movedim(-1, 0)


class TableRows:
    """The row ``x[n, s_n, :]`` of every match n of a batched table ``x`` [N, S, A] (a Q-table, an
    n-gram count table): read the rows, or read and write one entry of each.

    It addresses the table's flat storage through its strides (any dense layout, which every
    tensor of :func:`batched_zeros` and :func:`match_last` is): the same values as
    ``x[rows, s]`` and ``x[rows, s, a] = v``, several times faster on a CPU at large N.

    The rows that :meth:`get` reads are kept: a later :meth:`get` returns them again, and
    :meth:`get_at` picks its entries from them (a lookup in N * A contiguous numbers instead of
    one in the whole table). A write through this object drops the copy (the next :meth:`get`
    reads the table again); a write to the same rows made through *another* object must be
    mirrored with :meth:`mirror`.

    Args:
        x_NSA: the table, [N, S, A].
        rows_N: ``arange(N)``; int32 (faster: half the index bytes) for tables of < 2^31 entries.
        s_N: [N] integer, the row of each match.
    """

    def __init__(self, x_NSA: torch.Tensor, rows_N: torch.Tensor, s_N: torch.Tensor) -> None:
        if not _is_dense(x_NSA):
            raise ValueError("TableRows needs a dense tensor (a permutation of a contiguous one)")
        if x_NSA.numel() >= 2**31:
            rows_N = rows_N.long()
        stride_n, stride_s, self.stride_a = x_NSA.stride()
        self.flat = x_NSA.as_strided((x_NSA.numel(),), (1,), x_NSA.storage_offset())
        self.num_actions = x_NSA.shape[2]
        self.rows_N = rows_N
        rows_N = rows_N if stride_n == 1 else rows_N * stride_n
        self.base_N = torch.add(rows_N, s_N.to(rows_N.dtype), alpha=stride_s)
        self._at_table: tuple[torch.Tensor, torch.Tensor] | None = None
        self._at_rows: tuple[torch.Tensor, torch.Tensor] | None = None
        self._moves: tuple[torch.Tensor, torch.Tensor] | None = None
        self._rows_AN: torch.Tensor | None = None  # the rows as read by get(), [A, N] contiguous

    def _offsets_A1(self) -> torch.Tensor:
        return (torch.arange(self.num_actions, dtype=self.base_N.dtype) * self.stride_a).unsqueeze(1)

    def get(self) -> torch.Tensor:
        """[N, A]: the rows (laid out with the match index innermost). Read-only for the caller."""
        if self._rows_AN is None:
            index_AN = self.base_N + self._offsets_A1()
            self._rows_AN = self.flat.index_select(0, index_AN.view(-1)).view(self.num_actions, -1)
        return self._rows_AN.t()

    def _in_table(self, a_N: torch.Tensor) -> torch.Tensor:
        # storage offsets of x[n, s_n, a_n]; a set_at right after a get_at with the same a_N reuses them
        if self._at_table is None or self._at_table[0] is not a_N:
            self._at_table = (a_N, torch.add(self.base_N, self._as_index(a_N), alpha=self.stride_a))
        return self._at_table[1]

    def _in_rows(self, a_N: torch.Tensor) -> torch.Tensor:
        # offsets of entry (a_n, n) in the kept rows, [A, N] contiguous
        if self._at_rows is None or self._at_rows[0] is not a_N:
            self._at_rows = (a_N, torch.add(self.rows_N, self._as_index(a_N), alpha=self.rows_N.shape[0]))
        return self._at_rows[1]

    def _as_index(self, a_N: torch.Tensor) -> torch.Tensor:
        # the moves in the offsets' dtype (int32 for most tables): an add of int32 and int64 tensors
        # promotes to int64 and costs about 5 times an int32 add over N numbers
        if self._moves is None or self._moves[0] is not a_N:
            self._moves = (a_N, a_N.to(self.base_N.dtype))
        return self._moves[1]

    def get_at(self, a_N: torch.Tensor) -> torch.Tensor:
        """[N]: the entries ``x[n, s_n, a_n]``."""
        if self._rows_AN is not None:
            return self._rows_AN.view(-1).index_select(0, self._in_rows(a_N))
        return self.flat.index_select(0, self._in_table(a_N))

    def set_at(self, a_N: torch.Tensor, values_N: torch.Tensor) -> None:
        """In place: ``x[n, s_n, a_n] = values[n]``."""
        self.flat.scatter_(0, self._in_table(a_N), values_N.to(self.flat.dtype))
        self._rows_AN = None  # the next get() reads the rows again

    def mirror(self, where_N: torch.Tensor, a_N: torch.Tensor, values_N: torch.Tensor) -> None:
        """Bring the kept rows in step with a write ``x[n, s_n, a_n] = values[n]`` that went through
        another object, in the matches ``where_N`` ([N] bool) whose row it hit."""
        if self._rows_AN is None:
            return
        hit_H = where_N.nonzero().squeeze(1)  # usually a few of the matches: write those only
        kept = self._rows_AN.view(-1)
        kept.index_copy_(0, torch.add(hit_H, a_N.index_select(0, hit_H), alpha=len(where_N)), values_N.index_select(0, hit_H).to(kept.dtype))

    def set(self, values_NA: torch.Tensor) -> None:
        """In place: ``x[n, s_n, :] = values[n]``."""
        index_AN = self.base_N + self._offsets_A1()
        values_AN = values_NA.to(self.flat.dtype).t().contiguous()
        self.flat.scatter_(0, index_AN.view(-1), values_AN.view(-1))
        self._rows_AN = None


def row_max(x_NA: torch.Tensor) -> torch.Tensor:
    """[N]: the largest entry of each row, column by column (runs of N numbers when the match index
    is innermost, where ``amax(dim=1)`` would stride across them)."""
    columns = x_NA.unbind(1)
    top_N = columns[0]
    for c in columns[1:]:
        top_N = torch.maximum(top_N, c)
    return top_N


def _is_dense(x: torch.Tensor) -> bool:
    # a permutation of a contiguous tensor: sorted by stride, each stride is the product of the sizes below it
    if x.numel() == 0:
        return True
    expected = 1
    for size, stride in sorted(zip(x.shape, x.stride()), key=lambda d: d[1]):
        if size > 1 and stride != expected:
            return False
        expected *= size
    return True


def split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside square brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"markov:order=2,decay=0.9"`` -> ``("markov", {"order": "2", "decay": "0.9"})``.

    A comma-separated piece without ``=`` continues the previous value, so lists read
    naturally: ``mixed:probs=0.5,0.3,0.2``. Brackets nest specs: ``mix:of=[frequency|markov:order=2]``.
    """
    depth = deepest = 0
    for ch in spec:
        depth += (ch == "[") - (ch == "]")
        deepest = max(deepest, depth)
    if deepest > MAX_SPEC_DEPTH:
        raise ValueError(f"opponent spec {_short(spec)} nests {deepest} levels of brackets; allowed: at most {MAX_SPEC_DEPTH}")
    name, _, rest = spec.strip().partition(":")
    params: dict[str, str] = {}
    last = None
    for piece in split_top_level(rest, ",") if rest.strip() else []:
        key, eq, value = piece.partition("=")
        if eq and key.strip() and "[" not in key:
            last = key.strip()
            if last in params:
                raise ValueError(f"{name}: parameter '{last}' given twice in {spec!r}")
            params[last] = value.strip()
        elif last is not None:
            params[last] += "," + piece.strip()
        else:
            raise ValueError(f"bad opponent spec {spec!r}: expected name:key=value,...")
    return name.strip(), params


def _short(text: str, limit: int = 80) -> str:
    """``repr(text)``, its middle left out past ``limit`` characters (a message stays one readable line)."""
    return repr(text) if len(text) <= limit else repr(text[: limit // 2]) + " ... " + repr(text[-limit // 4 :])


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
