"""An agent that learns *during* the match: softmax policy gradient over expert strategies.

Each round, a set of experts each propose a move. Most are built from a *predictor* of the
opponent's next move (frequencies, n-grams over its moves or over both players' moves, the
longest matching history) and one of its A *rotations* (beat the prediction; beat what beats it,
second-guessing an opponent that predicts us; ...). Predictors of the agent's *own* next move
model an opponent that models us. A uniform expert keeps a safe fall-back.

The policy over experts is a softmax pi(j) = exp(theta_j) / sum_k exp(theta_k), and the agent plays
p(a) = sum_j pi(j) 1[m_j = a]. After the round every expert's reward r_j = M[m_j, o] is known
(the opponent's move is revealed), so the policy gradient of the round's expected reward,
sum_j pi(j) r_j, is exact: d/dtheta_j = pi(j) (r_j - r_bar). The update uses it in the natural
(mirror-descent) parametrisation of the softmax, which divides by pi(j):

    theta_j <- decay * theta_j + lr * (r_j - r_bar),   r_bar = sum_k pi(k) r_k   (the baseline)

``decay`` < 1 forgets old evidence (the opponent may change) and bounds the logits, so the policy
stays stochastic: |theta_j| <= lr * 2 max|M| / (1 - decay).
"""

from __future__ import annotations

import math

import numpy as np

from .games import make_game

__all__ = ["OnlineAgent"]


class _History:
    """Both players' moves so far, with the counts the predictors read."""

    def __init__(self, a: int) -> None:
        self.a = a
        self.mine: list[int] = []
        self.theirs: list[int] = []
        self.pair_moves: list[int] = []  # me * A + them
        self.count_mine = np.zeros(a)
        self.count_theirs = np.zeros(a)
        self.pairs = ""  # one character per round, for fast longest-match search
        self.ngram_theirs = [dict() for _ in range(3)]  # order n: their last n moves -> counts of their next
        self.ngram_pairs = [dict() for _ in range(2)]  # order n: last n pairs -> counts of their next
        self.ngram_mine = [dict() for _ in range(2)]  # order n: my last n moves -> counts of my next

    def push(self, me: int, them: int) -> None:
        def learn(tables, seq, nxt):
            for n, table in enumerate(tables, start=1):
                if len(seq) >= n:
                    key = tuple(seq[-n:])
                    row = table.setdefault(key, np.zeros(self.a))
                    row[nxt] += 1.0

        learn(self.ngram_theirs, self.theirs, them)
        learn(self.ngram_pairs, self.pair_moves, them)
        learn(self.ngram_mine, self.mine, me)
        self.mine.append(me)
        self.theirs.append(them)
        self.pair_moves.append(me * self.a + them)
        self.count_mine[me] += 1
        self.count_theirs[them] += 1
        self.pairs += chr(48 + me * self.a + them)


def _argmax(row) -> int | None:
    """The index of the largest count (the lowest on ties), None when nothing was counted."""
    if row is None:
        return None
    best = max(range(len(row)), key=row.__getitem__)
    return best if row[best] > 0 else None


def _recent_mode(moves: list[int], window: int) -> int | None:
    """The most frequent of the last ``window`` moves (the lowest on ties)."""
    if not moves:
        return None
    recent = moves[-window:]
    return max(sorted(set(recent)), key=recent.count)


def _ngram(tables, seq: list[int], n: int) -> int | None:
    if len(seq) < n:
        return None
    return _argmax(tables[n - 1].get(tuple(seq[-n:])))


def _history_match(h: _History, which: list[int], max_len: int = 20) -> int | None:
    """The move of ``which`` that followed the longest earlier repeat of the recent pair history."""
    s = h.pairs
    best = None
    for length in range(1, min(max_len, len(s) - 1) + 1):
        pos = s.rfind(s[-length:], 0, len(s) - 1)
        if pos < 0:
            break
        best = which[pos + length]
    return best


class OnlineAgent:
    """Online policy gradient over expert strategies, within one match.

    Args:
        game: the game (spec or Game).
        lr: step size of the logit update.
        decay: how much of the logits survives each round (forgetting; keeps the policy stochastic).
    """

    def __init__(self, game="rps", lr: float = 0.6, decay: float = 0.98, name: str = "online") -> None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.game = make_game(game)
        self.payoff = self.game.payoff.numpy()
        self.lr, self.decay, self.name = lr, decay, name
        beats = self.game.beats().tolist()
        a = self.game.num_actions
        # rotation r of a predicted opponent move o: beats^(r+1)(o) (r = 0: beat it; 1: beat its beater ...)
        self.rotations = [[o] for o in range(a)]
        for o in range(a):
            x = o
            for _ in range(a - 1):
                x = beats[x]
                self.rotations[o].append(x)
            self.rotations[o] = self.rotations[o][1:] + self.rotations[o][:1]
        self.beats = beats
        self.reset()

    def predictions(self) -> list[int | None]:
        """Each predictor's guess of the opponent's next move (None: no guess yet)."""
        h = self.history
        theirs = [
            _argmax(h.count_theirs),
            _recent_mode(h.theirs, 20),
            _ngram(h.ngram_theirs, h.theirs, 1),
            _ngram(h.ngram_theirs, h.theirs, 2),
            _ngram(h.ngram_theirs, h.theirs, 3),
            _ngram(h.ngram_pairs, h.pair_moves, 1),
            _ngram(h.ngram_pairs, h.pair_moves, 2),
            _history_match(h, h.theirs),
        ]
        # an opponent that predicts *my* next move x plays what beats x
        mine = [_argmax(h.count_mine), _ngram(h.ngram_mine, h.mine, 1), _ngram(h.ngram_mine, h.mine, 2), _history_match(h, h.mine)]
        return theirs + [None if x is None else self.beats[x] for x in mine]

    @property
    def num_experts(self) -> int:
        return self.num_predictors * self.game.num_actions + 1

    def reset(self, seed: int | None = None) -> None:
        """Start a new match (the logits start at zero: every expert equally likely)."""
        self.rng = np.random.default_rng(seed)
        self.history = _History(self.game.num_actions)
        self.num_predictors = len(self.predictions())
        self.theta = np.zeros(self.num_experts)
        self.my_last: int | None = None
        self.proposals: np.ndarray | None = None
        self.pi: np.ndarray | None = None
        self.last_probs: list[float] | None = None

    def _expert_moves(self) -> np.ndarray:
        """[J] the move each expert proposes; -1 for the uniform expert and for predictors without a guess."""
        out = []
        for guess in self.predictions():
            out += [-1] * self.game.num_actions if guess is None else self.rotations[guess]
        return np.array(out + [-1])

    def act(self, last_opponent_move: int | None = None) -> int:
        """This round's move, given the opponent's previous move (None in round 1)."""
        a = self.game.num_actions
        if self.my_last is not None:
            if last_opponent_move is None or not 0 <= int(last_opponent_move) < a:
                raise ValueError(f"last_opponent_move must be a move in 0..{a - 1} after round 1, got {last_opponent_move!r}")
            self._learn(int(last_opponent_move))
            self.history.push(self.my_last, int(last_opponent_move))
        moves = self._expert_moves()
        z = self.theta - self.theta.max()
        pi = np.exp(z) / np.exp(z).sum()
        some = moves >= 0  # an expert without a move (the uniform one) spreads its weight evenly
        probs = np.bincount(moves[some], weights=pi[some], minlength=a) + pi[~some].sum() / a
        self.proposals, self.pi = moves, pi
        self.last_probs = probs.tolist()
        move = min(int(np.searchsorted(np.cumsum(probs), self.rng.random() * probs.sum(), side="right")), a - 1)
        self.my_last = move
        return move

    def _learn(self, o: int) -> None:
        # r_j = M[m_j, o]; the uniform expert (and a silent predictor) earns the mean payoff against o
        col = self.payoff[:, o]
        r = np.where(self.proposals >= 0, col[np.maximum(self.proposals, 0)], col.sum() / len(col))
        r_bar = float(self.pi @ r)
        self.theta = self.decay * self.theta + self.lr * (r - r_bar)
        if not np.isfinite(self.theta).all():  # pragma: no cover - bounded by construction
            raise FloatingPointError("online agent logits became non-finite")

    def bound(self) -> float:
        """The largest logit magnitude the update can reach: lr * 2 max|M| / (1 - decay)."""
        return self.lr * 2 * float(np.abs(self.payoff).max()) / (1 - self.decay) if self.decay < 1 else math.inf
