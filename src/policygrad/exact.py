"""Exact V(S0; theta) and grad V on small games: the referee every estimator is checked against.

Legend: M = (A^2)^T complete histories, T rounds, A actions, F features, P parameters.

Two independent computations, both in float64, both through the engine and the opponent's ``probs``:

(i)  ``enumerate``: every history tau at once, V = sum_tau P(tau; theta) R(tau) with
     P(tau) = prod_t pi(A_t | S_t) q(O_t | S_t) (q: the opponent's probabilities).
(ii) ``theorem``: backward recursion over the history tree,
     Q_t(s, a) = sum_o q(o | s) [M(a, o) + gamma V_{t+1}(s a o)],  V_t(s) = sum_a pi(a | s) Q_t(s, a),
     and the gradient as the theorem writes it,
     grad V = sum_t gamma^t sum_s d_t(s) sum_a grad pi(a | s) Q_t(s, a)
     (d_t: probability of reaching s; d and Q held fixed, only pi differentiated).

For a learning opponent the history is its state, so both are exact for every opponent of the
engine. ``mix`` is the weighted sum over its members.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .engine import Engine
from .games import make_game
from .limits import format_bytes, power
from .opponents import make_opponent

__all__ = ["ExactResult", "exact_value", "exact_gradient", "flat_grad", "check_enumeration", "MAX_HISTORIES"]

MAX_HISTORIES = 9**6  # 531,441 complete histories: T = 6 in RPS, about 0.5 GB at most


@dataclass(frozen=True)
class ExactResult:
    """V(S0; theta) (total over the T rounds) and its gradient, flattened over the parameters [P]."""

    value: float
    grad: torch.Tensor
    method: str


@dataclass(frozen=True)
class _Tree:
    """The full history tree of one opponent: rows ordered so that round 0's pair is most significant."""

    logp_MTA: torch.Tensor  # log pi(. | S_t) at each round of each complete history
    q_MTA: torch.Tensor  # q(. | S_t), the opponent's distribution
    pairs_MT: torch.Tensor  # a * A + o of each round
    rewards_MT: torch.Tensor  # M(a_t, o_t)


def check_enumeration(num_actions: int, rounds: int, max_histories: int = MAX_HISTORIES) -> int:
    """A^(2T), the complete histories exact enumeration builds; one clear ValueError above ``max_histories``
    (decided on the logarithm: immediate for any T)."""
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    m = power(num_actions, 2 * rounds)  # a float, inf when huge: A^(2T) is never built as an integer
    if m > max_histories:
        count = f"{m:,.0f}" if m < 1e15 else f"{num_actions}^{2 * rounds}"
        raise ValueError(
            f"exact enumeration of {rounds:,} rounds with {num_actions} actions needs {count} histories "
            + (f"(about {format_bytes(m * rounds * 8 * (4 * num_actions))})" if m < 1e200 else "(far beyond any memory)")
            + f"; the limit is {max_histories:,} histories "
            f"(pass max_histories to raise it, or use fewer rounds)"
        )
    return int(m)


def _tree(policy64, opponent, rounds: int, context: int, game, counts: bool) -> _Tree:
    a_num = game.num_actions
    m = a_num ** (2 * rounds)
    # digit t of the row index, base A^2, most significant first: the pair played in round t
    digits = torch.arange(m).unsqueeze(1) // (a_num**2) ** torch.arange(rounds - 1, -1, -1) % a_num**2
    engine = Engine(opponent, n=m, rounds=rounds, context=context, game=game, counts=counts, dtype=torch.float64)
    obs = [engine.reset(0).double()]
    q, rewards = [], []
    for t in range(rounds):
        q.append(engine.opponent_probs.to(torch.float64))
        ob, r, _, _ = engine.step_forced(digits[:, t] // a_num, digits[:, t] % a_num)
        rewards.append(r)
        obs.append(ob.double())
    logp = policy64.sequence(torch.stack(obs[:-1], 1))
    return _Tree(logp, torch.stack(q, 1), digits, torch.stack(rewards, 1))


def _value_enumerate(tree: _Tree, gamma: float, a_num: int) -> torch.Tensor:
    # V = sum_tau P(tau) R(tau), P(tau) = prod_t pi(a_t|s_t) q(o_t|s_t)
    a, o = tree.pairs_MT // a_num, tree.pairs_MT % a_num
    pi_taken = tree.logp_MTA.exp().gather(2, a.unsqueeze(2)).squeeze(2)
    q_taken = tree.q_MTA.gather(2, o.unsqueeze(2)).squeeze(2)
    discount_T = gamma ** torch.arange(tree.pairs_MT.shape[1], dtype=torch.float64)
    return ((pi_taken * q_taken).prod(1) * (tree.rewards_MT * discount_T).sum(1)).sum()


def _value_theorem(tree: _Tree, payoff: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(V by backward recursion, the theorem's surrogate whose gradient is grad V)."""
    a_num = payoff.shape[0]
    rounds = tree.pairs_MT.shape[1]
    m = tree.pairs_MT.shape[0]
    v_next = torch.zeros(m, dtype=torch.float64)  # V_T = 0 on the complete histories
    pi_levels, q_levels = [], []
    for t in range(rounds):
        stride = (a_num**2) ** (rounds - t)  # one representative complete history per prefix of length t
        pi_levels.append(tree.logp_MTA[::stride, t].exp())
        q_levels.append(tree.q_MTA[::stride, t])
    surrogate = torch.zeros((), dtype=torch.float64)
    q_values = []
    for t in range(rounds - 1, -1, -1):
        pi, q = pi_levels[t], q_levels[t]  # [S_t, A]
        cont = v_next.view(-1, a_num, a_num)  # V_{t+1}(s a o)
        q_sa = (q.unsqueeze(1) * (payoff + gamma * cont)).sum(2)  # Q_t(s, a)
        v_next = (pi * q_sa).sum(1)
        q_values.append(q_sa)
    q_values.reverse()
    reach = torch.ones(1, dtype=torch.float64)  # d_t(s), held fixed
    for t in range(rounds):
        pi, q = pi_levels[t], q_levels[t]
        surrogate = surrogate + gamma**t * (reach.unsqueeze(1) * pi * q_values[t].detach()).sum()
        reach = (reach.view(-1, 1, 1) * pi.detach().unsqueeze(2) * q.unsqueeze(1)).reshape(-1)
    return v_next.squeeze(0), surrogate


def exact_value(
    policy,
    opponent,
    rounds: int,
    context: int = 1,
    game="rps",
    counts: bool = False,
    gamma: float = 1.0,
    method: str = "enumerate",
    max_histories: int = MAX_HISTORIES,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(V(S0; theta) as a float64 scalar with autograd to ``policy``'s parameters, and the scalar whose
    gradient is grad V by ``method``: for ``enumerate`` that is V itself, for ``theorem`` the
    theorem's surrogate). ``policy`` must already be float64 (see :func:`exact_gradient`)."""
    game = make_game(game)
    check_enumeration(game.num_actions, rounds, max_histories)
    if method not in ("enumerate", "theorem"):
        raise ValueError(f"unknown exact method {method!r}; allowed: enumerate, theorem")
    opp = make_opponent(opponent)
    if hasattr(opp, "components"):  # mix: V = sum_i w_i V_i
        parts = [exact_value(policy, member, rounds, context, game, counts, gamma, method, max_histories) for _, member in opp.components()]
        weights = [w for w, _ in opp.components()]
        return sum(w * v for w, (v, _) in zip(weights, parts)), sum(w * s for w, (_, s) in zip(weights, parts))
    tree = _tree(policy, opp, rounds, context, game, counts)
    if method == "enumerate":
        value = _value_enumerate(tree, gamma, game.num_actions)
        return value, value
    return _value_theorem(tree, game.payoff, gamma)


def flat_grad(scalar: torch.Tensor, params: list[torch.Tensor], retain_graph: bool = False) -> torch.Tensor:
    """The gradient of ``scalar`` with respect to ``params``, flattened into one vector [P] (zeros where unused)."""
    grads = torch.autograd.grad(scalar, params, allow_unused=True, retain_graph=retain_graph)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)])


def exact_gradient(
    policy,
    opponent,
    rounds: int,
    context: int = 1,
    game="rps",
    counts: bool = False,
    gamma: float = 1.0,
    method: str = "enumerate",
    max_histories: int = MAX_HISTORIES,
) -> ExactResult:
    """V(S0; theta) and grad V, in float64 on a copy of ``policy`` (the policy itself is untouched)."""
    policy64 = copy.deepcopy(policy).double()
    value, target = exact_value(policy64, opponent, rounds, context, game, counts, gamma, method, max_histories)
    return ExactResult(float(value.detach()), flat_grad(target, list(policy64.parameters())), method)
