"""The in-match experts of :class:`policygrad.online.OnlineAgent`, for N matches at once, as features of a policy.

Legend: N matches, T rounds (the longest match), P predictors, A actions, J = P * A experts,
K n-gram tables, D count decays, H reward horizons, F features per expert, G global features.

Each round every expert proposes a move: a *predictor* (of the opponent's next move, or of the
agent's own, which an opponent that models us would reply to) and one of its A *rotations*
(rotation r plays beats^r of the predictor's reply). The predictors are exactly those of
:class:`~policygrad.online.OnlineAgent` (in RPS P = 123 with the least-frequent ones, as online plays, or 117 without; the same order; tested against it
match by match):

* n-grams of orders 0 to 5 over the opponent's, the agent's and the pair sequence, counted with
  each decay d of ``count_decays`` per occurrence of the context: the count of move x after the
  current context is  c(x) = sum_{s < t, ctx_s = ctx_t} d^(occurrences of ctx_t after s) 1[x_s = x];
* the longest earlier repeat (up to each of ``match_lengths``) of each sequence's recent end: the
  moves that followed it;
* optionally (``least_order``), each side's least frequent next move in the low-order tables;
* the last moves, and a constant move.

Here they are computed from the history tensors with no per-match loop: an n-gram count is a masked
sum over the earlier rounds whose context equals the current one (O(t) a round), and the longest
repeat reads a running table of common-suffix lengths, ml[p] = the length of the common suffix of
s[..p] and s[..t-1], updated in O(t) a round by ml'[p] = 1[s_p = s_{t-1}] (ml[p - 1] + 1).

Once the opponent's move o is revealed, each expert's reward r_j = M[m_j, o] is known (the mean
payoff for an expert with no prediction yet), whatever the agent played: the features of expert j
are its decayed average rewards at each horizon h of ``horizons``, a_h <- h a_h + (1 - h) r_j, and
whether it has a move. The global features are the agent's own decayed average rewards (of the
moves it played), the best expert's average at each horizon, and how much evidence there is,
1 - 0.98^t. All of it is a function of the match history only.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .games import Game, make_game
from .predictors import check_ties

__all__ = ["ExpertFeatures", "MAX_CONTEXTS", "HORIZONS"]

MAX_CONTEXTS = 1 << 16  # an n-gram table holds at most this many contexts (orders capped), as in online
HORIZONS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99)  # the horizons of the reward averages (online's scorer decays)
EVIDENCE_DECAY = 0.98  # the global feature 1 - 0.98^t: how much history the averages hold


class ExpertFeatures:
    """Online's experts and their recent scores for N matches of at most ``rounds`` rounds.

    Use: ``reset()``; then each round ``moves_NJ, feats_NJF, glob_NG = features()``, the agent
    plays, and ``update(agent_moves_N, opponent_moves_N)``.

    Args:
        n: N, the number of matches.
        rounds: the most rounds a match may have (the history tensors are allocated for it).
        game: the game (spec or Game).
        match_lengths, orders, count_decays, least_order: the predictors, as :class:`~policygrad.predictors.Predictors`'
            (``least_order`` -1, the default: no least-frequent predictors; ``OnlineAgent`` uses 0).
        horizons: the decays h of the expert reward averages.
        ties: how an n-gram predictor replies when moves share the highest (lowest) count, as
            :class:`~policygrad.predictors.Predictors`' (``"first"``, the default, or ``"best"``).
    """

    def __init__(
        self,
        n: int,
        rounds: int,
        game: str | Game = "rps",
        match_lengths: Sequence[int] = (3, 8, 24),
        orders: int = 5,
        count_decays: Sequence[float] = (1.0, 0.9, 0.6),
        horizons: Sequence[float] = HORIZONS,
        least_order: int = -1,
        ties: str = "first",
    ) -> None:
        for name, value in (("n", n), ("rounds", rounds)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not horizons or not all(0 <= h < 1 for h in horizons):
            raise ValueError(f"horizons must be decays in [0, 1), got {tuple(horizons)}")
        if not count_decays or not all(0 < d <= 1 for d in count_decays):
            raise ValueError(f"count_decays must be in (0, 1], got {tuple(count_decays)}")
        if not match_lengths or not all(int(m) >= 1 for m in match_lengths):
            raise ValueError(f"match_lengths must be integers >= 1, got {tuple(match_lengths)}")
        self.ties = check_ties(ties)
        self.game = make_game(game)
        self.n, self.rounds = n, rounds
        a = self.game.num_actions
        self.payoff = self.game.payoff.to(torch.float32)  # [A, A] M[a, o]
        self.match_lengths = tuple(sorted({int(m) for m in match_lengths}))
        self.count_decays = torch.tensor(count_decays, dtype=torch.float64)  # [D]
        self.horizons = torch.tensor(horizons, dtype=torch.float32)  # [H]
        beats = self.game.beats().tolist()
        self.beats = torch.tensor(beats + [-1])  # [A + 1]; the last entry: no move stays no move (index -1 % (A + 1))
        self.orbit = self.game.rotations()  # orbit[b, r] = beats^r(b); the last row: no move
        # the n-gram tables (sequence, order, base): 0 the opponent's moves, 1 the agent's, 2 the pairs
        self.tables: list[tuple[int, int, int]] = [(0, 0, 1)]
        for seq, base in ((0, a), (1, a), (2, a * a)):
            for order in range(1, int(orders) + 1):
                if base**order > MAX_CONTEXTS:
                    break
                self.tables.append((seq, order, base))
        self.orders_K = torch.tensor([order for _, order, _ in self.tables])
        if isinstance(least_order, bool) or not isinstance(least_order, int) or not -1 <= least_order <= int(orders):
            raise ValueError(f"least_order must be an integer in -1..orders ({orders}), got {least_order!r}")
        self.least_L = torch.nonzero(self.orders_K <= least_order).flatten()  # the tables that also predict the least frequent move
        self.max_order = int(self.orders_K.max())
        # code of table k = sum_i s_seq[-i] * base^(order - i), i = 1..order: one matrix [3 * O, K] over the last O moves of each sequence
        weights = torch.zeros(3, max(self.max_order, 1), len(self.tables), dtype=torch.long)
        for k, (seq, order, base) in enumerate(self.tables):
            for i in range(1, order + 1):
                weights[seq, i - 1, k] = base ** (order - i)
        self.code_weights_3OK = weights.reshape(-1, len(self.tables))
        self.caps_C = torch.tensor(self.match_lengths)
        self.decay_powers_DT = self.count_decays[:, None] ** torch.arange(rounds + 1, dtype=torch.float64)  # d^k, k = 0..T
        self.reset()

    # -- sizes ----------------------------------------------------------------------------------

    @property
    def num_predictors(self) -> int:
        return 2 * len(self.count_decays) * (len(self.tables) + len(self.least_L)) + 6 * len(self.match_lengths) + 2 + 1

    @property
    def num_experts(self) -> int:
        """J = P * A."""
        return self.num_predictors * self.game.num_actions

    @property
    def num_features(self) -> int:
        """F: the H reward averages and the has-a-move flag."""
        return len(self.horizons) + 1

    @property
    def num_global(self) -> int:
        """G: the agent's H reward averages, the best expert's H averages, the evidence."""
        return 2 * len(self.horizons) + 1

    # -- state ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Start N fresh matches."""
        n, t_max = self.n, self.rounds
        self.t = 0
        self.seqs_3NT = torch.zeros(3, n, t_max, dtype=torch.long)  # the opponent's, the agent's, the pair (mine * A + theirs) moves
        self.codes_NKT = torch.full((n, len(self.tables), t_max), -1, dtype=torch.long)  # each table's context before round s (-1: none)
        self.suffix_3NT = torch.zeros(3, n, t_max, dtype=torch.long)  # ml[p] per sequence: the common suffix length of s[..p] and s[..t-1]
        self.expert_avg_NJH = torch.zeros(n, self.num_experts, len(self.horizons))
        self.own_avg_NH = torch.zeros(n, len(self.horizons))
        self._moves_NJ: torch.Tensor | None = None
        self._codes_NK = self._current_codes()

    def _current_codes(self) -> torch.Tensor:
        """[N, K]: each table's current context code (-1 while the match is shorter than the order)."""
        t, o_num = self.t, self.max_order
        if t == 0 or o_num == 0:
            return torch.where(self.orders_K == 0, 0, -1).expand(self.n, -1).clone()
        back = torch.arange(1, o_num + 1).clamp(max=t)  # s[-1], s[-2], ... (repeats the first move when t < order: masked below)
        last_N3O = self.seqs_3NT[:, :, t - back].permute(1, 0, 2).reshape(self.n, -1)
        codes = last_N3O @ self.code_weights_3OK
        return torch.where(self.orders_K <= t, codes, -1)

    # -- predictions ----------------------------------------------------------------------------

    def _ngram_replies(self) -> list[torch.Tensor]:
        """[N, D * K] each: the reply to the opponent's predicted next move, and the opponent's
        predicted reply to the agent's predicted next move, replied to (-1: context not seen yet);
        then [N, D * L] each: the same replies to each side's least frequent next move (the L tables
        of order <= ``least_order``)."""
        t, a = self.t, self.game.num_actions
        d_num, k_num, l_num = len(self.count_decays), len(self.tables), len(self.least_L)
        if t == 0:
            return [torch.full((self.n, d_num * m), -1, dtype=torch.long) for m in (k_num, k_num, l_num, l_num)]
        cur_NK = self._codes_NK
        eq_NKS = (self.codes_NKT[:, :, :t] == cur_NK[:, :, None]) & (cur_NK[:, :, None] >= 0)
        eqi = eq_NKS.to(torch.long)
        after_NKS = eqi.flip(-1).cumsum(-1).flip(-1) - eqi  # occurrences of the context after round s
        w_NDKS = self.decay_powers_DT[:, after_NKS].permute(1, 0, 2, 3) * eq_NKS[:, None]  # d^after where the context matches
        nxt_NS2A = torch.cat(
            [
                torch.nn.functional.one_hot(self.seqs_3NT[0, :, :t], a),
                torch.nn.functional.one_hot(self.seqs_3NT[1, :, :t], a),
            ],
            -1,
        ).to(torch.float64)  # the moves that followed: the opponent's, then the agent's
        counts = torch.einsum("ndks,nsb->ndkb", w_NDKS, nxt_NS2A)  # [N, D, K, 2A]
        theirs, mine = counts[..., :a], counts[..., a:]
        beats = self.beats
        few_theirs, few_mine = theirs[:, :, self.least_L], mine[:, :, self.least_L]  # argmax, argmin: the first on ties, as NumPy's
        if self.ties == "best":  # the best reply to the uniform distribution over the tied moves, as Predictors._replies
            most_t, most_m = self._tie_replies(theirs == theirs.amax(-1, keepdim=True), mine == mine.amax(-1, keepdim=True))
            least_t, least_m = self._tie_replies(few_theirs == few_theirs.amin(-1, keepdim=True), few_mine == few_mine.amin(-1, keepdim=True))
        else:
            most_t, most_m = beats[theirs.argmax(-1)], beats[beats[mine.argmax(-1)]]
            least_t, least_m = beats[few_theirs.argmin(-1)], beats[beats[few_mine.argmin(-1)]]
        reply_theirs = torch.where(theirs.amax(-1) > 0, most_t, -1)
        reply_mine = torch.where(mine.amax(-1) > 0, most_m, -1)
        least_theirs = torch.where(few_theirs.amax(-1) > 0, least_t, -1)
        least_mine = torch.where(few_mine.amax(-1) > 0, least_m, -1)
        return [x.reshape(self.n, -1) for x in (reply_theirs, reply_mine, least_theirs, least_mine)]

    def _tie_replies(self, theirs: torch.Tensor, mine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The best reply to the uniform distribution over the tied moves ``theirs`` (bool, [..., A]), and the best
        reply to the opponent's best reply to the tied moves ``mine``; -1 where several replies are equally good."""
        p = self.payoff.to(torch.float64)
        out = []
        for values in (theirs.to(torch.float64) @ p.T, -(mine.to(torch.float64) @ p)):
            top = values == values.amax(-1, keepdim=True)
            out.append(torch.where(top.sum(-1) > 1, -1, values.argmax(-1)))
        return out[0], self.beats[out[1]]

    def _history_predictions(self) -> torch.Tensor:
        """[N, 6 * len(match_lengths)]: for the pair, the opponent's and the agent's sequence, at each
        maximal length, the opponent's move that followed the longest earlier repeat of the recent end
        and the opponent's reply to the agent's move that followed it (-1: no repeat)."""
        t, c_num = self.t, len(self.match_lengths)
        if t < 2:
            return torch.full((self.n, 6 * c_num), -1, dtype=torch.long)
        ml_QNS = self.suffix_3NT[[2, 0, 1], :, : t - 1]  # p <= t - 2: an occurrence followed by a move
        length_QNC = ml_QNS.amax(-1, keepdim=True).clamp(max=self.caps_C)  # the longest repeat, capped
        ok = (ml_QNS[:, :, None, :] >= length_QNC[..., None]) & (length_QNC[..., None] > 0)
        end_QNC = torch.where(ok, torch.arange(t - 1), -1).amax(-1)  # where the latest such repeat ends
        nxt = (end_QNC + 1).clamp(min=0).permute(1, 0, 2).reshape(self.n, -1)  # [N, 3C]
        found = end_QNC.permute(1, 0, 2).reshape(self.n, -1) >= 0
        theirs = torch.where(found, self.seqs_3NT[0].gather(1, nxt), -1)
        mine = torch.where(found, self.beats[self.seqs_3NT[1].gather(1, nxt)], -1)
        return torch.stack([theirs, mine], -1).reshape(self.n, -1)

    def predictions(self) -> torch.Tensor:
        """[N, P] each predictor's reply (its rotation 0; -1: no prediction yet), in OnlineAgent's order."""
        a1 = self.game.num_actions + 1
        ngrams = self._ngram_replies()
        hist = self._history_predictions()
        if self.t > 0:
            last = torch.stack([self.seqs_3NT[0, :, self.t - 1], self.beats[self.seqs_3NT[1, :, self.t - 1]]], 1)
        else:
            last = torch.full((self.n, 2), -1, dtype=torch.long)
        points = self.beats[torch.cat([hist, last], 1) % a1]
        const = torch.zeros(self.n, 1, dtype=torch.long)
        return torch.cat([*ngrams, points, const], 1)

    def expert_moves(self) -> torch.Tensor:
        """[N, J] each expert's move this round (-1: none), expert j = predictor j // A, rotation j % A."""
        return self.orbit[self.predictions() % (self.game.num_actions + 1)].reshape(self.n, -1)

    def features(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This round's (expert moves [N, J] long, expert features [N, J, F], global features [N, G])."""
        moves = self.expert_moves()
        self._moves_NJ = moves
        feats = torch.cat([self.expert_avg_NJH, (moves >= 0).to(torch.float32)[..., None]], -1)
        evidence = torch.full((self.n, 1), 1.0 - EVIDENCE_DECAY**self.t)
        glob = torch.cat([self.own_avg_NH, self.expert_avg_NJH.amax(1), evidence], -1)
        return moves, feats, glob

    # -- after the round ------------------------------------------------------------------------

    def expert_rewards(self, moves_NJ: torch.Tensor, opponent_moves_N: torch.Tensor) -> torch.Tensor:
        """[N, J] r_j = M[m_j, o]; an expert with no move earns the mean payoff of the column."""
        col_NA = self.payoff[:, opponent_moves_N].T  # [N, A] M[., o]
        r = col_NA.gather(1, moves_NJ.clamp(min=0))
        return torch.where(moves_NJ >= 0, r, col_NA.mean(1, keepdim=True))

    def update(self, agent_moves_N: torch.Tensor, opponent_moves_N: torch.Tensor) -> None:
        """Record the round just played (both moves, [N] long); call after :meth:`features`."""
        if self._moves_NJ is None:
            raise RuntimeError("call features() before update(): the experts' moves of this round are not known yet")
        if self.t >= self.rounds:
            raise RuntimeError(f"the history holds {self.rounds} rounds; reset() to start new matches")
        a = self.game.num_actions
        h = self.horizons
        r_NJ = self.expert_rewards(self._moves_NJ, opponent_moves_N)
        self.expert_avg_NJH = h * self.expert_avg_NJH + (1 - h) * r_NJ[..., None]
        own_N = self.payoff[agent_moves_N, opponent_moves_N]
        self.own_avg_NH = h * self.own_avg_NH + (1 - h) * own_N[:, None]
        t = self.t
        self.codes_NKT[:, :, t] = self._codes_NK  # the context that this round's moves followed
        new = (opponent_moves_N, agent_moves_N, agent_moves_N * a + opponent_moves_N)
        for q in range(3):
            self.seqs_3NT[q, :, t] = new[q]
        # common suffix lengths with the new end (at t): ml'[p] = 1[s_p = s_t] (ml[p - 1] + 1), p <= t - 1
        cap = self.match_lengths[-1]
        if t >= 1:
            same = self.seqs_3NT[:, :, :t] == self.seqs_3NT[:, :, t : t + 1]
            prev = torch.cat([torch.zeros(3, self.n, 1, dtype=torch.long), self.suffix_3NT[:, :, : t - 1]], -1)
            self.suffix_3NT[:, :, :t] = torch.where(same, (prev + 1).clamp(max=cap), 0)
        self.t = t + 1
        self._moves_NJ = None
        self._codes_NK = self._current_codes()
