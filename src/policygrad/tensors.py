"""Tensor helpers below every other module: checked moves, sampling, batched layouts, row ids.

Legend: N matches (rows), A actions, S table rows per match, M rows to tell apart, w columns.

Ground floor: imports only torch and NumPy.

* Moves and sampling: :func:`check_moves` (one clear error for a bad move tensor), :func:`sample`
  and :func:`inverse_cdf` (one draw per row, column by column), :func:`as_count`.
* Batched state with the match index innermost in memory (a permuted view of a contiguous
  ``[..., N]`` tensor): :func:`batched_zeros`, :func:`match_last`, :class:`TableRows`,
  :func:`row_max`. Every per-match operation of the opponents is then an operation on long
  contiguous rows of N numbers instead of rows of A = 3 numbers, several times faster on a CPU at
  large N. Values and shapes are the same either way.
* Exact deduplication of rows given as column blocks: :func:`unique_rows` (the exact ceiling of
  :mod:`policygrad.optimum` keys its states with it).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["check_moves", "sample", "inverse_cdf", "as_count", "batched_zeros", "match_last", "TableRows", "row_max", "unique_rows"]


# -- moves and sampling --------------------------------------------------------------------------------


def check_moves(moves: Any, n: int, num_actions: int, who: str = "agent") -> torch.Tensor:
    """``moves`` as an [N] long tensor, or one clear ValueError/TypeError naming what is wrong."""
    if not isinstance(moves, torch.Tensor):
        raise TypeError(f"{who} moves must be a torch tensor of integers with shape [{n}], got {type(moves).__name__}")
    if moves.dtype.is_floating_point or moves.dtype.is_complex or moves.dtype == torch.bool:
        raise TypeError(f"{who} moves must have an integer dtype, got {moves.dtype}")
    if tuple(moves.shape) != (n,):
        raise ValueError(f"{who} moves must have shape [{n}] (one per match), got {list(moves.shape)}")
    lo, hi = (int(x) for x in torch.aminmax(moves))  # one pass over the moves
    if lo < 0 or hi >= num_actions:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{who} move {bad} is outside 0..{num_actions - 1}")
    return moves.long()


def sample(probs_NA: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw per row of ``probs_NA`` by inverse CDF: [N] long. One uniform number per row."""
    u_N1 = torch.rand(probs_NA.shape[0], 1, generator=generator, dtype=probs_NA.dtype, device=probs_NA.device)
    return inverse_cdf(probs_NA, u_N1)


def as_count(num_values: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """How to add up comparisons with ``num_values`` possible totals: in bytes where they fit
    (a comparison's bool result read as uint8, no conversion), in int64 otherwise."""
    if num_values <= 256:
        return lambda b: b.view(torch.uint8)
    return lambda b: b.long()


def inverse_cdf(probs_NA: torch.Tensor, u_N1: torch.Tensor) -> torch.Tensor:
    """[N] long: the first move whose cumulative probability exceeds ``u * total`` (u in [0, 1)),
    that is, how many of the cumulative sums c_0 .. c_{A-2} are <= u * c_{A-1}.

    Scaling u by the row's total and comparing with ``<=`` means a move of probability 0 is never
    chosen, even for u = 0 or a row whose float sum is a little below 1.

    Works column by column, so each operation runs over N numbers; a ``probs_NA`` that is one
    row expanded over N (stride 0) has its cumulative sums computed once.
    """
    u_N = u_N1.reshape(-1)
    if probs_NA.stride(0) == 0:  # one row for every match: its cumulative sums as numbers
        cdf = probs_NA[0].cumsum(0).tolist()
    else:
        cdf = [probs_NA[:, 0]]
        for j in range(1, probs_NA.shape[1]):
            cdf.append(cdf[-1] + probs_NA[:, j])
    v_N = u_N * cdf[-1]
    count = as_count(probs_NA.shape[1])
    moves_N = count(v_N >= cdf[0])
    for c in cdf[1:-1]:
        moves_N += count(v_N >= c)
    return moves_N.long()


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


# -- exact row ids ------------------------------------------------------------------------------------


def _unique_inverse(code_M: torch.Tensor) -> tuple[torch.Tensor, int]:
    """[M] long codes -> (dense ids [M] long in code order, number of distinct codes)."""
    lo = int(code_M.min())
    span = int(code_M.max()) - lo + 1
    if span <= max(4 * len(code_M), 1 << 22):  # a direct table: no sort
        seen = torch.zeros(span, dtype=torch.bool)
        seen[code_M - lo] = True
        ids = seen.cumsum(0) - 1
        return ids[code_M - lo], int(ids[-1]) + 1
    # NumPy's sort is several times faster than torch's on CPU for this one step
    _, inverse = np.unique(code_M.numpy(), return_inverse=True)
    inverse_M = torch.from_numpy(inverse.reshape(-1)).long()
    return inverse_M, int(inverse_M.max()) + 1


def unique_rows(cols: list[torch.Tensor], m_n: int) -> tuple[torch.Tensor, int]:
    """Exact deduplication of the rows of a key given as column blocks ([M, w] each, any dtype):
    (the id of each row's distinct value [M] long, the number of distinct rows).

    Each column becomes a small integer digit (itself minus its minimum when integer-valued, else
    its rank among the column's distinct values) and the digits are combined in mixed radix,
    re-ranked whenever the code would overflow: the same partition as
    ``torch.unique(torch.cat(cols, 1).double(), dim=0)``, several times faster.
    """
    blocks, spans = [], []
    for c_Mw in cols:
        if c_Mw.shape[1] == 0:
            continue
        if not (c_Mw.dtype.is_floating_point or c_Mw.dtype.is_complex):
            c_Mw = c_Mw.long()
            lo_w, hi_w = c_Mw.amin(dim=0), c_Mw.amax(dim=0)
            blocks.append(c_Mw - lo_w)
            spans += (hi_w - lo_w + 1).tolist()
            continue
        c_Mw = c_Mw.double()
        lo_w, hi_w = c_Mw.amin(dim=0), c_Mw.amax(dim=0)
        integral_w = (torch.frac(c_Mw) == 0).all(dim=0) & (hi_w - lo_w < 2**40)
        span_w = (hi_w - lo_w + 1).clamp(max=2**41).long().tolist()
        if bool(integral_w.all()):
            blocks.append((c_Mw - lo_w).long())
        else:
            digits_Mw = torch.empty(c_Mw.shape, dtype=torch.long)
            digits_Mw[:, integral_w] = (c_Mw[:, integral_w] - lo_w[integral_w]).long()
            for j in torch.nonzero(~integral_w).flatten().tolist():
                digits_Mw[:, j], span_w[j] = _unique_inverse(_float_codes(c_Mw[:, j]))
            blocks.append(digits_Mw)
        spans += span_w
    if not blocks or m_n == 0:
        return torch.zeros(m_n, dtype=torch.long), min(m_n, 1)
    keep = [j for j, n in enumerate(spans) if n > 1]  # a constant column tells no row apart
    if not keep:
        return torch.zeros(m_n, dtype=torch.long), 1
    digits_MW = torch.cat(blocks, dim=1)
    if len(keep) < digits_MW.shape[1]:
        digits_MW = digits_MW[:, keep]
    spans = [spans[j] for j in keep]
    code_M, bound = None, 1
    j = 0
    while j < len(spans):  # take as many columns as fit in one int64, then fold them into the code
        start, radix = j, 1
        while j < len(spans) and radix * spans[j] < 2**62:
            radix *= spans[j]
            j += 1
        weights_w = torch.tensor([math.prod(spans[i + 1 : j]) for i in range(start, j)], dtype=torch.long)
        part_M = digits_MW[:, start:j] @ weights_w
        if code_M is None:
            code_M, bound = part_M, radix
            continue
        if bound * radix >= 2**62:
            part_M, radix = _unique_inverse(part_M)
            if bound * radix >= 2**62:
                code_M, bound = _unique_inverse(code_M)
        code_M, bound = code_M * radix + part_M, bound * radix
    assert code_M is not None, "keep is not empty, so the loop ran"
    return _unique_inverse(code_M)


def _float_codes(col_M: torch.Tensor) -> torch.Tensor:
    """[M] float64 -> [M] long, equal exactly when the floats are equal (-0.0 counts as 0.0)."""
    return (col_M + 0.0).view(torch.int64)
