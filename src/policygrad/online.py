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
  < 1: the recent occurrences weigh more); and of order 0, the *least* frequent move of each side
  (a player that keeps its counts flat plays next what it has played least); where moves share the
  highest (lowest) count, the reply is the best response to the uniform distribution over them;
* the opponent's and the agent's last move (repeated), and a constant move (its rotations are the
  A constant strategies).

An expert without a prediction yet (an empty context) plays uniformly.
The predictors of one match are :class:`policygrad.predictors.Predictors` (NumPy only, shared with the
expert-mixture agent and carried as source by an exported Kaggle file).

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
The last one keeps the whole match (decay 0.9999, a horizon of 10,000 rounds): it is Hedge over the
experts, with the step of its worst-case regret bound for T rounds, lr = sqrt(8 ln J / T) / (2 max|M|)
= 0.109 for J = 369, T = 1000 (0.1 by default). It finds a weak, steady edge (an opponent with a
slight bias) that the 100-round horizon loses in the noise of J experts.

**Second layer: a policy gradient over strategies built from the scorers.** The options are, for
each scorer, its softmax mixture p_k and its *greedy* play (the move of its top expert, argmax_j
theta_kj), the uniform distribution, and (``frequency_option``) one expert given a lane of its own:
the reply to the opponent's move frequencies over the match (the order-0 predictor at the largest
count decay; fictitious play). In the first layer, its steady edge against a slightly biased
opponent has to outgrow the largest of J noisy running totals, about sqrt(2 ln J) standard errors
above their mean (3.4 for J = 369); as one of the 2K + 2 options, the largest of the other
2K + 1 (2.3 for 15): it is chosen in far fewer rounds. Each option's exact expected reward in the round,
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
from .predictors import Predictors, draw

__all__ = ["OnlineAgent"]


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
        least_order: the n-gram tables of order <= this also predict each side's *least* frequent next
            move (0, the default: over the whole match, at each count decay; -1: none). A player that
            keeps its counts flat, or avoids repeating itself, plays next what it has played least.
        frequency_option: the second layer also offers the reply to the opponent's move frequencies
            (True, the default; see the module docstring): a slight steady bias is played in far fewer rounds.
        ties: when moves share the highest (lowest) count, ``"best"`` (the default) replies with the
            best response to the uniform distribution over them, ``"first"`` to the first of them in
            move order (the rule before issue 20; it depends on how the moves are numbered):
            :class:`~policygrad.predictors.Predictors`.
        name: the player's name.
    """

    def __init__(
        self,
        game="rps",
        lr: float | Sequence[float] = (2.0, 1.0, 0.5, 0.3, 0.6, 0.15, 0.1),
        decay: float | Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.9999),
        meta_lr: float = 0.5,
        meta_decay: float = 0.995,
        safety_lr: float = 0.5,
        safety_decay: float = 0.99,
        match_lengths: Sequence[int] = (3, 8, 24),
        orders: int = 5,
        count_decays: Sequence[float] = (1.0, 0.9, 0.6),
        count_replies: bool = False,
        least_order: int = 0,
        ties: str = "best",
        frequency_option: bool = True,
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
        self.game = make_game(game)
        self.name = name
        self.payoff = np.asarray(self.game.payoff, dtype=np.float64)  # np.asarray, not .numpy(): an exported file passes NumPy arrays
        a = self.game.num_actions
        self.lr, self.decay = np.array(lrs), np.array(decays)
        self.meta_lr, self.meta_decay = float(meta_lr), float(meta_decay)
        self.safety_lr, self.safety_decay = float(safety_lr), float(safety_decay)
        # the predictors; orbit[b, r] = beats^r(b): rotation r of the reply b to a prediction, the last row (b = -1) no move
        self.predictors = Predictors(
            self.payoff, np.asarray(self.game.beats()), np.asarray(self.game.rotations()), match_lengths, orders, count_decays, count_replies, least_order, ties
        )
        self.orbit = self.predictors.orbit
        # the second layer's own lane (rotation 0 of the opponent's order-0 predictor at the largest count decay): expert j = predictor * A
        if not isinstance(frequency_option, (bool, np.bool_)):
            raise ValueError(f"frequency_option must be True or False, got {frequency_option!r}")
        self.frequency_option = bool(frequency_option)
        self.frequency_expert = int(np.argmax(self.predictors.count_decays)) * len(self.predictors.tables) * a
        # one-hot rows of the moves, the last row (move -1) uniform
        self.onehot = np.vstack([np.eye(a), np.full((1, a), 1.0 / a)])
        self.reset()

    # -- predictions ------------------------------------------------------------------------------

    def predictions(self) -> np.ndarray:
        """[P] each predictor's reply this round (its rotation 0; -1: no prediction yet): :meth:`policygrad.predictors.Predictors.predictions`."""
        return self.predictors.predictions()

    # -- play ---------------------------------------------------------------------------------------

    @property
    def num_predictors(self) -> int:
        return self.predictors.num_predictors

    @property
    def num_experts(self) -> int:
        return self.num_predictors * self.game.num_actions

    @property
    def num_options(self) -> int:
        return 2 * len(self.lr) + 1 + self.frequency_option

    def reset(self, seed: int | None = None) -> None:
        """Start a new match (every logit at zero: all experts, and all second-layer options, equally likely)."""
        self.rng = np.random.default_rng(seed)
        self.predictors.reset()
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
            self.predictors.push(self.my_last, o)
        moves = self.predictors.expert_moves()  # [J]
        experts = self.onehot[moves]  # [J, A]
        pi = _softmax(self.theta)  # [K, J]
        # the second layer's options: each scorer's mixture, each scorer's top expert, uniform (and the frequency reply)
        lane = experts[self.frequency_expert : self.frequency_expert + self.frequency_option]
        options = np.vstack([pi @ experts, experts[self.theta.argmax(axis=1)], self.onehot[-1:], lane])  # [C, A]
        weights = _softmax(self.phi)
        mixture = weights @ options  # [A] the second layer's play
        safety = _softmax(self.psi)  # the third layer: [that play, uniform]
        probs = safety[0] * mixture + safety[1] / a
        probs /= probs.sum()
        self.experts, self.pi, self.options, self.weights, self.mixture, self.safety = experts, pi, options, weights, mixture, safety
        self.last_probs = probs.tolist()
        move = draw(probs, self.rng)
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

    def bound(self) -> float:
        """The largest logit magnitude the updates can reach: max over the layers of lr * 2 max|M| / (1 - decay)."""
        m = 2 * float(np.abs(self.payoff).max())
        return max(float(np.max(self.lr * m / (1 - self.decay))), self.meta_lr * m / (1 - self.meta_decay), self.safety_lr * m / (1 - self.safety_decay))
