"""An agent that learns *during* the match: softmax policy gradient over expert strategies.

**Experts.** Each round, a set of experts each propose a move. An expert is a *predictor* of the
opponent's next move x and one of its A *rotations*: rotation 0 plays beats(x), the reply to the
prediction; rotation 1 plays beats(beats(x)), second-guessing an opponent that predicts that
reply; ... (for RPS the third plays x itself). Predictors of the agent's *own* next move y model an
opponent that models us: it will play beats(y), and that is the prediction the rotations are taken
of ("sicilian reasoning" both ways). The predictors read three sequences, the opponent's moves,
the agent's moves and the pairs of both:

* the longest earlier repeat of each sequence's recent end (at several maximal lengths): the
  opponent's and the agent's moves that followed it;
* n-grams of orders 0 (frequencies) to 5 over each sequence: the most frequent next move of each
  side after the current context, counted with several decays per occurrence (1: all the match;
  < 1: the recent occurrences weigh more);
* the opponent's and the agent's last move (repeated), and a constant move (its rotations are the
  A constant strategies).

An expert without a prediction yet (an empty context) plays uniformly.

**First layer: K scorers.** Each scorer k is a softmax policy over the J experts,
pi_k(j) = exp(theta_kj) / sum_i exp(theta_ki), which plays p_k(a) = sum_j pi_k(j) 1[m_j = a].
After the round every expert's reward r_j = M[m_j, o] is known (the opponent's move o is revealed),
so the policy gradient of the round's expected reward sum_j pi_k(j) r_j is exact:
d/dtheta_kj = pi_k(j) (r_j - r_bar_k). The update takes it in the natural (mirror-descent)
parametrisation of the softmax, which divides by pi_k(j):

    theta_kj <- decay_k * theta_kj + lr_k * (r_j - r_bar_k),   r_bar_k = sum_i pi_k(i) r_i   (the baseline)

``decay_k`` < 1 forgets old evidence (the opponent may change) over a horizon of about
1 / (1 - decay_k) rounds and bounds the logits: |theta_kj| <= lr_k * 2 max|M| / (1 - decay_k).
The scorers differ in that horizon (and in their step size, so the short ones are near-greedy).

**Second layer: a policy gradient over strategies built from the scorers.** The options are, for
each scorer, its softmax mixture p_k and its *greedy* play (the move of its top expert, argmax_j
theta_kj), and the uniform distribution. Each option's exact expected reward in the round,
R_c = sum_a q_c(a) M[a, o], drives the same mirror-descent step on the option logits phi
(``meta_lr``, ``meta_decay``; a long horizon), and the layer plays the mixture q = sum_c w_c q_c of
its options: close to greedy on the top expert of the scorer whose horizon has been winning.

**Third layer: that play or uniform.** Two options, the second layer's play q and the uniform
distribution, with the same exact step on their rewards q . M[:, o] and the mean payoff (0 in a
symmetric zero-sum game) (``safety_lr``, ``safety_decay``). When the agent as a whole loses (an
opponent that predicts it, whichever option leads), the uniform option gains and the agent's play
moves toward uniform, which limits what a stronger predictor can take from it; when it wins, the
play is the second layer's.

Everything the agent uses is the match so far; the only randomness is its own generator, seeded
by ``reset(seed)``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .games import make_game

__all__ = ["OnlineAgent"]

MAX_ROWS = 1 << 16  # an n-gram table of one sequence holds at most this many contexts (orders capped)


def _floats(value, what: str) -> tuple[float, ...]:
    values = (value,) if isinstance(value, (int, float)) else tuple(value)
    if not values:
        raise ValueError(f"{what} must hold at least one value")
    return tuple(float(v) for v in values)


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (max subtracted first, so large logits do not overflow)."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _mirror_step(logits: np.ndarray, probs: np.ndarray, rewards: np.ndarray, lr, decay) -> np.ndarray:
    """One exact policy-gradient step of a softmax in its logits, with decay:
    theta <- decay * theta + lr * (r - pi . r), the exact gradient pi_j (r_j - pi . r) divided by
    pi_j (see the module's docstring). ``logits``/``probs`` [..., J], ``rewards`` [J]."""
    baseline = (probs @ rewards)[..., None]
    return decay * logits + lr * (rewards - baseline)


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


class OnlineAgent:
    """Online policy gradient over expert strategies, within one match (three layers; see the module docstring).

    Args:
        game: the game (spec or Game).
        lr: step size of each first-layer scorer (one value, or one per scorer).
        decay: how much of each scorer's logits survives a round (one value, or one per scorer);
            ``lr`` and ``decay`` are broadcast to the same number K of scorers.
        meta_lr, meta_decay: step size and decay of the second layer (over the scorers' plays).
        safety_lr, safety_decay: step size and decay of the third layer (the second layer's play or uniform).
        match_lengths: the maximal lengths of the history matches.
        orders: the highest n-gram order (capped per sequence so a table has at most 65536 contexts).
        count_decays: how much of an n-gram count survives each new occurrence of its context.
        count_replies: an n-gram predictor replies with the best response to its counted distribution
            (True) instead of beating the most frequent move (False, the default: it scored higher
            against the RoShamBo field).
        name: the player's name.
    """

    def __init__(
        self,
        game="rps",
        lr: float | Sequence[float] = (2.0, 1.0, 0.5, 0.3, 0.6, 0.15),
        decay: float | Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99),
        meta_lr: float = 0.5,
        meta_decay: float = 0.995,
        safety_lr: float = 0.5,
        safety_decay: float = 0.99,
        match_lengths: Sequence[int] = (3, 8, 24),
        orders: int = 5,
        count_decays: Sequence[float] = (1.0, 0.9, 0.6),
        count_replies: bool = False,
        name: str = "online",
    ) -> None:
        lrs, decays = _floats(lr, "lr"), _floats(decay, "decay")
        if len(lrs) != len(decays) and 1 not in (len(lrs), len(decays)):
            raise ValueError(f"lr and decay must have one value or the same number of values, got {len(lrs)} and {len(decays)}")
        k = max(len(lrs), len(decays))
        lrs, decays = lrs * (k // len(lrs)), decays * (k // len(decays))
        if not all(x > 0 for x in lrs + (meta_lr,)):
            raise ValueError(f"lr and meta_lr must be > 0, got {lrs} and {meta_lr}")
        if not safety_lr > 0:
            raise ValueError(f"safety_lr must be > 0, got {safety_lr}")
        if not all(0 <= d < 1 for d in decays + (meta_decay, safety_decay)):
            raise ValueError(f"decay must be in [0, 1), got {decays}, meta_decay {meta_decay} and safety_decay {safety_decay}")
        if not all(0 < d <= 1 for d in count_decays) or not count_decays:
            raise ValueError(f"count_decays must be in (0, 1], got {tuple(count_decays)}")
        if not all(int(n) >= 1 for n in match_lengths):
            raise ValueError(f"match_lengths must be >= 1, got {tuple(match_lengths)}")
        if int(orders) < 0:
            raise ValueError(f"orders must be >= 0, got {orders}")
        self.game = make_game(game)
        self.name = name
        self.payoff = self.game.payoff.numpy().astype(np.float64)
        a = self.game.num_actions
        self.lr, self.decay = np.array(lrs), np.array(decays)
        self.meta_lr, self.meta_decay = float(meta_lr), float(meta_decay)
        self.safety_lr, self.safety_decay = float(safety_lr), float(safety_decay)
        self.match_lengths = tuple(sorted({int(n) for n in match_lengths}))
        self.count_decays = np.array(count_decays, dtype=np.float64)
        beats = self.game.beats().tolist()
        self.beats = np.array(beats + [-1])  # beats[-1] = -1: no prediction stays none
        # orbit[b, r] = beats^r(b): rotation r of the reply b to a prediction; the last row (b = -1) has no move
        self.orbit = self.game.rotations().numpy()
        self.count_replies = bool(count_replies)
        # one-hot rows of the moves, the last row (move -1) uniform
        self.onehot = np.vstack([np.eye(a), np.full((1, a), 1.0 / a)])
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
        self.reset()

    # -- predictions ------------------------------------------------------------------------------

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
        a = self.game.num_actions
        beats = self.beats
        self.rows = self._context_rows()
        counts = self.counts[:, self.rows, :]  # [D, tables, 2A]: the next moves seen after each context
        theirs, mine = counts[..., :a], counts[..., a:]
        if self.count_replies:
            # the best reply to the counted distribution of the opponent's next move; to the agent's, the
            # opponent's best reply o (argmax of -c M) and the agent's best reply to that
            reply_theirs = (theirs @ self.payoff.T).argmax(-1)
            reply_mine = beats[(-(mine @ self.payoff)).argmax(-1)]
        else:
            reply_theirs, reply_mine = beats[theirs.argmax(-1)], beats[beats[mine.argmax(-1)]]
        reply_theirs = np.where(theirs.max(-1) > 0, reply_theirs, -1).ravel()
        reply_mine = np.where(mine.max(-1) > 0, reply_mine, -1).ravel()
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
        return np.concatenate([reply_theirs, reply_mine, points, [0]])

    # -- play ---------------------------------------------------------------------------------------

    @property
    def num_experts(self) -> int:
        return self.num_predictors * self.game.num_actions

    @property
    def num_options(self) -> int:
        return 2 * len(self.lr) + 1

    def reset(self, seed: int | None = None) -> None:
        """Start a new match (every logit at zero: all experts, and all second-layer options, equally likely)."""
        a = self.game.num_actions
        self.rng = np.random.default_rng(seed)
        self.theirs: list[int] = []
        self.mine: list[int] = []
        self.pair_moves: list[int] = []
        self.s_theirs = self.s_mine = self.s_pairs = ""
        self.counts = np.zeros((len(self.count_decays), self.num_rows + 1, 2 * a))
        self.num_predictors = len(self.predictions())
        self.theta = np.zeros((len(self.lr), self.num_experts))
        self.phi = np.zeros(self.num_options)
        self.psi = np.zeros(2)
        self.my_last: int | None = None
        self.experts: np.ndarray | None = None  # [J, A] this round's expert moves, one-hot (uniform: no move)
        self.pi: np.ndarray | None = None  # [K, J]
        self.options: np.ndarray | None = None  # [C, A]
        self.weights: np.ndarray | None = None  # [C] the second layer's policy
        self.mixture: np.ndarray | None = None  # [A] its play
        self.safety: np.ndarray | None = None  # [2] the third layer's policy: that play, uniform
        self.last_probs: list[float] | None = None

    def act(self, last_opponent_move: int | None = None) -> int:
        """This round's move, given the opponent's previous move (None in round 1)."""
        a = self.game.num_actions
        if self.my_last is not None:
            if last_opponent_move is None or isinstance(last_opponent_move, bool) or not 0 <= int(last_opponent_move) < a:
                raise ValueError(f"last_opponent_move must be a move in 0..{a - 1} after round 1, got {last_opponent_move!r}")
            o = int(last_opponent_move)
            self._learn(o)
            self._push(self.my_last, o)
        moves = self.orbit[self.predictions()].ravel()  # [J]
        experts = self.onehot[moves]  # [J, A]
        pi = _softmax(self.theta)  # [K, J]
        # the second layer's options: each scorer's mixture, each scorer's top expert, uniform
        options = np.vstack([pi @ experts, experts[self.theta.argmax(axis=1)], self.onehot[-1:]])  # [C, A]
        weights = _softmax(self.phi)
        mixture = weights @ options  # [A] the second layer's play
        safety = _softmax(self.psi)  # the third layer: [that play, uniform]
        probs = safety[0] * mixture + safety[1] / a
        probs /= probs.sum()
        self.experts, self.pi, self.options, self.weights, self.mixture, self.safety = experts, pi, options, weights, mixture, safety
        self.last_probs = probs.tolist()
        move = min(int(np.searchsorted(np.cumsum(probs), self.rng.random(), side="right")), a - 1)
        self.my_last = move
        return move

    def _learn(self, o: int) -> None:
        col = self.payoff[:, o]
        r = self.experts @ col  # [J] r_j = M[m_j, o]; an expert without a move earns the mean payoff
        self.theta = _mirror_step(self.theta, self.pi, r, self.lr[:, None], self.decay[:, None])
        big_r = self.options @ col  # [C] each option's exact expected reward
        self.phi = _mirror_step(self.phi, self.weights, big_r, self.meta_lr, self.meta_decay)
        r_safe = np.array([float(self.mixture @ col), float(col.mean())])  # the second layer's play; uniform
        self.psi = _mirror_step(self.psi, self.safety, r_safe, self.safety_lr, self.safety_decay)
        if not (np.isfinite(self.theta).all() and np.isfinite(self.phi).all() and np.isfinite(self.psi).all()):  # pragma: no cover - bounded by construction
            raise FloatingPointError("online agent logits became non-finite")

    def _push(self, me: int, them: int) -> None:
        a = self.game.num_actions
        rows = self.rows  # the contexts this round's moves followed
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

    def bound(self) -> float:
        """The largest logit magnitude the updates can reach: max over the layers of lr * 2 max|M| / (1 - decay)."""
        m = 2 * float(np.abs(self.payoff).max())
        return max(float(np.max(self.lr * m / (1 - self.decay))), self.meta_lr * m / (1 - self.meta_decay), self.safety_lr * m / (1 - self.safety_decay))
