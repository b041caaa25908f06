"""The in-match predictors of :class:`policygrad.online.OnlineAgent` for one match, and the draw of a move, in NumPy.

Legend: A actions, P predictors, J = P * A experts, D count decays, K n-gram tables, C match lengths.

This module imports nothing but NumPy, so that an exported Kaggle agent (:mod:`policygrad.export`) can
carry its source as it is: the file plays with the very code the library plays with. The game comes in
as arrays (``payoff``, ``beats``, ``orbit``, from :class:`policygrad.games.Game`).

A *predictor* reads three sequences of the match, the opponent's moves, the agent's moves and the
pairs of both, and proposes a reply (rotation 0 of its experts; rotation r plays beats^r of it):

* n-grams of orders 0 (frequencies) to 5 over each sequence, counted with each decay d of
  ``count_decays`` per occurrence of the context (the count of move x after the current context is
  c(x) = sum_{s < t, ctx_s = ctx_t} d^(occurrences of ctx_t after s) 1[x_s = x]): the reply to the
  opponent's most frequent next move, and to the opponent's reply to the agent's most frequent next move;
* optionally (``least_order``), the same replies to each side's *least* frequent next move in the
  tables of order <= ``least_order``: a player that keeps its own counts flat (or that is told to
  vary) plays next the move it has played least;
* on ties (``ties``), the first tied move in move order, or the best reply to the uniform
  distribution over the tied moves;
* the longest earlier repeat (up to each of ``match_lengths``) of each sequence's recent end: the
  moves that followed it, replied to the same way;
* the last moves, and a constant move.

A predictor without a prediction yet (a context not seen, no repeat) proposes -1: its experts play
uniformly. :mod:`policygrad.experts` computes the same predictors for N matches at once in torch
(tested equal, match by match).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["Predictors", "draw", "check_ties", "MAX_ROWS", "TIES"]

MAX_ROWS = 1 << 16  # an n-gram table of one sequence holds at most this many contexts (orders capped)
TIES = ("first", "best")  # how a predictor replies when several moves share the highest (lowest) count


def check_ties(ties: str) -> str:
    """``ties`` itself if it is one of :data:`TIES`; else one error naming the value and what is allowed."""
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    return ties


def draw(probs_A: np.ndarray, rng: np.random.Generator) -> int:
    """One move drawn from ``probs_A`` with ``rng``: the searchsorted of the cumulative sum at one uniform draw."""
    return min(int(np.searchsorted(np.cumsum(probs_A), rng.random(), side="right")), len(probs_A) - 1)


def _match_positions(s: str, longest: int) -> list[int]:
    """out[l - 1]: where the latest earlier occurrence of the last l symbols of ``s`` starts (one
    followed by a symbol), for l = 1 .. the longest such repeat up to ``longest``."""
    n = len(s)
    out: list[int] = []
    for length in range(1, min(longest, n - 1) + 1):
        pos = s.rfind(s[n - length :], 0, n - 1)
        if pos < 0:
            break
        out.append(pos)
    return out


class Predictors:
    """Online's predictors of one match: ``reset()``; each round ``predictions()`` (or ``expert_moves()``), then ``push(me, them)``.

    Args:
        payoff: [A, A] M[a, o], the agent's payoff.
        beats: [A] beats[x], the move that beats x.
        orbit: [A + 1, A] orbit[b, r] = beats^r(b); its last row (no move) all -1 (:meth:`policygrad.games.Game.rotations`).
        match_lengths: the maximal lengths of the history matches.
        orders: the highest n-gram order (capped per sequence so a table has at most ``MAX_ROWS`` contexts).
        count_decays: how much of an n-gram count survives each new occurrence of its context.
        count_replies: an n-gram predictor replies with the best response to its counted distribution
            instead of beating the most frequent move.
        least_order: the n-gram tables of order <= this also predict each side's least frequent next
            move (-1, the default: none; 0: the frequencies of the whole match).
        ties: when several moves share the highest (or lowest) count, ``"first"`` (the default) predicts
            the first of them in move order; ``"best"`` replies with the best response to the uniform
            distribution over them (in RPS, of two tied moves the one that beats one and ties the other),
            which does not depend on how the moves are numbered.
    """

    def __init__(
        self,
        payoff: np.ndarray,
        beats: np.ndarray,
        orbit: np.ndarray,
        match_lengths: Sequence[int] = (3, 8, 24),
        orders: int = 5,
        count_decays: Sequence[float] = (1.0, 0.9, 0.6),
        count_replies: bool = False,
        least_order: int = -1,
        ties: str = "first",
    ) -> None:
        if not all(0 < d <= 1 for d in count_decays) or not count_decays:
            raise ValueError(f"count_decays must be in (0, 1], got {tuple(count_decays)}")
        if not all(int(n) >= 1 for n in match_lengths):
            raise ValueError(f"match_lengths must be >= 1, got {tuple(match_lengths)}")
        if int(orders) < 0:
            raise ValueError(f"orders must be >= 0, got {orders}")
        if isinstance(least_order, bool) or not isinstance(least_order, (int, np.integer)) or not -1 <= least_order <= int(orders):
            raise ValueError(f"least_order must be an integer in -1..orders ({orders}), got {least_order!r}")
        self.ties = check_ties(ties)
        self.payoff = np.asarray(payoff, dtype=np.float64)
        a = self.payoff.shape[0]
        self.num_actions = a
        self.beats = np.append(np.asarray(beats, dtype=np.int64), -1)  # beats[-1] = -1: no prediction stays none
        self.orbit = np.asarray(orbit, dtype=np.int64)
        self.match_lengths = tuple(sorted({int(n) for n in match_lengths}))
        self.orders = int(orders)
        self.count_decays = np.array(count_decays, dtype=np.float64)
        self.count_replies = bool(count_replies)
        # n-gram tables: for the opponent's, the agent's and the pair sequence, orders 1..n with at most MAX_ROWS contexts
        self.tables: list[tuple[int, int, int, int]] = [(0, 0, 1, 0)]  # (sequence, order, base, offset); order 0 = frequencies
        offset = 1
        for seq, base in ((0, a), (1, a), (2, a * a)):
            for n in range(1, int(orders) + 1):
                if base**n > MAX_ROWS:
                    break
                self.tables.append((seq, n, base, offset))
                offset += base**n
        self.num_rows = offset  # + one spare row that stands for a context not seen yet
        self.least_order = int(least_order)
        self.least_tables = np.array([i for i, (_, n, _, _) in enumerate(self.tables) if n <= self.least_order], dtype=np.int64)
        self.reset()

    @property
    def num_predictors(self) -> int:
        """P: the n-gram replies (both sides, every decay and table; then the least frequent ones), the repeats, the last moves, the constant."""
        return 2 * len(self.count_decays) * (len(self.tables) + len(self.least_tables)) + 6 * len(self.match_lengths) + 2 + 1

    def reset(self) -> None:
        """Start a new match: no history, every count zero."""
        self.theirs: list[int] = []
        self.mine: list[int] = []
        self.pair_moves: list[int] = []
        self.s_theirs = self.s_mine = self.s_pairs = ""
        self.counts = np.zeros((len(self.count_decays), self.num_rows + 1, 2 * self.num_actions))  # [D, rows + 1, 2A]
        self.rows: np.ndarray | None = None

    def _context_rows(self) -> np.ndarray:
        """The row of each n-gram table for the current context (the spare row while too short)."""
        t = len(self.theirs)
        seqs = (self.theirs, self.mine, self.pair_moves)
        rows = []
        for seq, n, base, offset in self.tables:
            if n > t:
                rows.append(self.num_rows)
                continue
            s = seqs[seq]
            code = 0
            for i in range(1, n + 1):
                code = code * base + s[-i]
            rows.append(offset + code)
        return np.array(rows, dtype=np.int64)

    def predictions(self) -> np.ndarray:
        """[P] each predictor's reply (its rotation 0; -1: no prediction yet): the best reply to the
        opponent's predicted next move, or to its predicted reply to the agent's predicted next move."""
        a = self.num_actions
        beats = self.beats
        self.rows = self._context_rows()
        counts = self.counts[:, self.rows, :]  # [D, tables, 2A]: the next moves seen after each context
        theirs, mine = counts[..., :a], counts[..., a:]
        if self.count_replies:
            reply_theirs, reply_mine = self._replies(theirs, mine)  # to the counted distributions themselves
        else:
            reply_theirs, reply_mine = self._replies_to(theirs, mine, least=False)
        reply_theirs = np.where(theirs.max(-1) > 0, reply_theirs, -1).ravel()
        reply_mine = np.where(mine.max(-1) > 0, reply_mine, -1).ravel()
        # the least frequent next move of each side, replied to the same way
        few_theirs, few_mine = theirs[:, self.least_tables], mine[:, self.least_tables]
        least_theirs, least_mine = self._replies_to(few_theirs, few_mine, least=True)
        least_theirs = np.where(few_theirs.max(-1) > 0, least_theirs, -1).ravel()
        least_mine = np.where(few_mine.max(-1) > 0, least_mine, -1).ravel()
        hist = []  # predicted next moves: the opponent's, and the opponent's reply to the agent's
        for s in (self.s_pairs, self.s_theirs, self.s_mine):
            found = _match_positions(s, self.match_lengths[-1])
            for cap in self.match_lengths:
                if found:
                    length = min(cap, len(found))
                    nxt = found[length - 1] + length
                    hist += [self.theirs[nxt], beats[self.mine[nxt]]]
                else:
                    hist += [-1, -1]
        last = [self.theirs[-1], beats[self.mine[-1]]] if self.theirs else [-1, -1]
        points = beats[np.array(hist + last, dtype=np.int64)]
        return np.concatenate([reply_theirs, reply_mine, least_theirs, least_mine, points, [0]])

    def _replies_to(self, theirs: np.ndarray, mine: np.ndarray, least: bool) -> tuple[np.ndarray, np.ndarray]:
        """The replies to each side's most (``least``: least) counted next move, its ties as ``ties`` says."""
        if self.ties == "best":
            extreme = np.min if least else np.max
            return self._replies(theirs == extreme(theirs, -1, keepdims=True), mine == extreme(mine, -1, keepdims=True))
        pick = np.argmin if least else np.argmax
        return self.beats[pick(theirs, -1)], self.beats[self.beats[pick(mine, -1)]]

    def _replies(self, theirs: np.ndarray, mine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best reply to ``theirs``, weights over the opponent's next move (counts, or 1 on the tied
        moves), argmax_a sum_x w(x) M[a, x]; and, to ``mine``, weights over the agent's next move, the best
        reply to the opponent's best reply o = argmax_o -sum_y w(y) M[y, o]. Where several replies are
        equally good, the first in move order (counts) or none, -1 (ties = "best": all moves tied say nothing)."""
        values_theirs, values_mine = theirs @ self.payoff.T, -(mine @ self.payoff)
        reply_theirs, reply_mine = values_theirs.argmax(-1), values_mine.argmax(-1)
        if self.ties == "best":
            reply_theirs = np.where((values_theirs == values_theirs.max(-1, keepdims=True)).sum(-1) > 1, -1, reply_theirs)
            reply_mine = np.where((values_mine == values_mine.max(-1, keepdims=True)).sum(-1) > 1, -1, reply_mine)
        return reply_theirs, self.beats[reply_mine]

    def expert_moves(self) -> np.ndarray:
        """[J] each expert's move this round (-1: none), expert j = predictor j // A, rotation j % A."""
        return self.orbit[self.predictions()].ravel()

    def push(self, me: int, them: int) -> None:
        """Record the round just played (after :meth:`predictions`, whose contexts this round's moves followed)."""
        if self.rows is None:
            raise RuntimeError("call predictions() before push(): the contexts of this round are not known yet")
        a = self.num_actions
        rows = self.rows
        c = self.counts
        c[:, rows, :] *= self.count_decays[:, None, None]
        c[:, rows, them] += 1.0
        c[:, rows, a + me] += 1.0
        c[:, self.num_rows, :] = 0.0  # the spare row stays empty
        self.theirs.append(them)
        self.mine.append(me)
        self.pair_moves.append(me * a + them)
        self.s_theirs += chr(48 + them)
        self.s_mine += chr(48 + me)
        self.s_pairs += chr(48 + me * a + them)
        self.rows = None
