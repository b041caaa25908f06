"""Safe exploitation: a policy that risks only what it has won, plus a fixed budget.

An exploiting policy p_t is exploitable: an opponent who knew p_t could take

    risk(p_t) = v - min_o (p_t^T M)_o            (v = 0: every game here is antisymmetric)

from it this round. :class:`SafePolicy` keeps a budget

    B_1 = epsilon,    B_{t+1} = B_t + q_t^T M[:, o_t]

(the *expected* reward of the mixture q_t it played against the move o_t the opponent actually
played, not the realized reward) and plays

    q_t = lambda_t p_t + (1 - lambda_t) sigma*,    lambda_t = min(1, B_t / risk(p_t)),

where sigma* is the game's equilibrium (risk(sigma*) = 0). Since risk is convex and
risk(sigma*) = 0, risk(q_t) <= lambda_t risk(p_t) <= B_t, so q_t^T M[:, o_t] >= -B_t whatever o_t is,
and B_{t+1} >= 0 in every round of every match. Because the opponent picks o_t before it sees the
agent's draw, the expected total reward of a match is E[sum_t q_t^T M[:, o_t]] = E[B_{T+1}] -
epsilon >= -epsilon: **against any opponent, adaptive or not, of any match length, the expected
score of a match is at least -epsilon.** When the policy wins, B grows and it exploits freely;
when it is read, it falls back to the equilibrium. This is Ganzfried and Sandholm's "risk what you
have won in expectation" (Safe Opponent Exploitation, 2015), applied each round.

The wrapper needs the opponent's last move, which it reads from the observation's newest pair
(a context of at least one round). :class:`SafeBudget` is the same rule for a player that holds
its own history and probabilities (:class:`policygrad.expert_agent.ExpertAgent`), one match at a
time, in NumPy (so that an exported Kaggle file carries it verbatim).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import encoding
from .equilibrium import nash_equilibrium
from .games import Game, make_game

__all__ = ["SafePolicy", "SafeBudget"]


class SafePolicy(nn.Module):
    """``policy`` played safely with a budget of ``epsilon`` points (see the module docstring).

    A recurrent policy whose state is [1, N, H + 1 + A]: the wrapped policy's state (H numbers,
    none for a feed-forward one), the budget B and the mixture played last round. It plays; it is
    not trained (``sequence`` steps through the rounds, without a gradient path of its own to
    learn from). ``context`` is the observation's k (>= 1).
    """

    recurrent = True

    def __init__(self, policy, game: Game | str = "rps", context: int = 1, epsilon: float = 10.0) -> None:
        super().__init__()
        if not isinstance(context, int) or context < 1:
            raise ValueError(f"safe play reads the opponent's last move from the observation: it needs a context of at least 1 round, got {context!r}")
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not epsilon >= 0 or epsilon == float("inf"):
            raise ValueError(f"epsilon, the points a match may risk, must be a finite number >= 0, got {epsilon!r}")
        self.policy, self.game, self.context, self.epsilon = policy, make_game(game), context, float(epsilon)
        self.sigma = nash_equilibrium(self.game)  # sigma*: uniform for RPS and RPSLS, closed form for weighted RPS
        self._h = self._inner_size()  # how many numbers of the state are the wrapped policy's

    def parameters(self, recurse: bool = True):
        return self.policy.parameters(recurse)

    def _inner_size(self) -> int:
        state = self.policy.initial_state(1) if self.policy.recurrent else None
        return 0 if state is None else state.shape[-1]

    def initial_state(self, n: int) -> torch.Tensor:
        inner = self.policy.initial_state(n) if self.policy.recurrent else None
        dtype = next(self.policy.parameters()).dtype
        budget = torch.full((1, n, 1), self.epsilon, dtype=dtype)
        last_q = torch.full((1, n, self.game.num_actions), float("nan"), dtype=dtype)  # none yet
        parts = ([inner] if inner is not None else []) + [budget, last_q]
        return torch.cat(parts, dim=2)

    def step(self, obs_NF: torch.Tensor, hidden: torch.Tensor | None = None):
        if hidden is None:
            hidden = self.initial_state(obs_NF.shape[0])
        a, h = self.game.num_actions, self._h
        inner = hidden[:, :, :h] if h else None
        budget_N, last_q_NA = hidden[0, :, h], hidden[0, :, h + 1 :]
        m = self.game.payoff.to(last_q_NA.dtype)
        # B += q_{t-1}^T M[:, o_{t-1}]: the expected reward of last round's mixture against the move played
        pair_N = encoding.context_from_obs(obs_NF, a, self.context)[:, -1]
        seen_N = pair_N >= 0
        gained_N = (last_q_NA.nan_to_num(0.0) * m.index_select(1, pair_N.clamp(min=0) % a).T).sum(1)
        budget_N = torch.where(seen_N, budget_N + gained_N, budget_N).clamp(min=0.0)
        logp_NA, inner = self.policy.step(obs_NF, inner)
        p_NA = logp_NA.exp()
        risk_N = (-(p_NA @ m).min(dim=1).values).clamp(min=0.0)  # what a best reply takes this round
        lam_N = torch.where(risk_N > 0, (budget_N / risk_N.clamp(min=1e-30)).clamp(max=1.0), torch.ones_like(risk_N))
        q_NA = lam_N[:, None] * p_NA + (1 - lam_N[:, None]) * self.sigma.to(p_NA.dtype)
        parts = ([inner] if inner is not None else []) + [budget_N[None, :, None], q_NA[None]]
        return q_NA.clamp(min=1e-30).log(), torch.cat(parts, dim=2)

    def sequence(self, obs_NTF: torch.Tensor) -> torch.Tensor:
        """[N, T, A]: the log-probabilities of whole matches, round by round with :meth:`step`."""
        hidden, out = self.initial_state(obs_NTF.shape[0]), []
        for t in range(obs_NTF.shape[1]):
            logp_NA, hidden = self.step(obs_NTF[:, t], hidden)
            out.append(logp_NA)
        return torch.stack(out, dim=1)

    def budget(self, hidden: torch.Tensor) -> torch.Tensor:
        """[N] the budget B_t carried in ``hidden`` (before this round's update)."""
        return hidden[0, :, self._h]


class SafeBudget:
    """The budget rule of :class:`SafePolicy` for one match of a player, in NumPy: ``mix(p)`` each round, ``observe(o)`` after it.

    Args:
        payoff_AA: M, the row player's payoff (an antisymmetric game: value 0).
        sigma_A: the equilibrium sigma* it falls back to.
        epsilon: the points a match may risk (>= 0, finite).
    """

    def __init__(self, payoff_AA, sigma_A, epsilon: float = 10.0) -> None:
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 <= epsilon < float("inf"):
            raise ValueError(f"epsilon, the points a match may risk, must be a finite number >= 0, got {epsilon!r}")
        self.payoff = np.asarray(payoff_AA, dtype=np.float64)
        self.sigma = np.asarray(sigma_A, dtype=np.float64)
        self.epsilon = float(epsilon)
        self.reset()

    def reset(self) -> None:
        """A new match: B_1 = epsilon, nothing played yet."""
        self.budget = self.epsilon
        self.last_q: np.ndarray | None = None

    def mix(self, p_A) -> np.ndarray:
        """q_t = lambda_t p_t + (1 - lambda_t) sigma*, lambda_t = min(1, B_t / risk(p_t)): what to play this round."""
        p = np.asarray(p_A, dtype=np.float64)
        risk = max(0.0, -float((p @ self.payoff).min()))  # what a best reply takes this round
        lam = 1.0 if risk <= self.budget else self.budget / risk
        q = lam * p + (1.0 - lam) * self.sigma
        self.last_q = q
        return q

    def observe(self, opponent_move: int) -> None:
        """B_{t+1} = B_t + q_t^T M[:, o_t], the expected reward of the mixture played against the move the opponent made."""
        if self.last_q is not None:
            self.budget = max(0.0, self.budget + float(self.last_q @ self.payoff[:, opponent_move]))
