"""Score-function estimators of grad V(S0; theta), as surrogate objectives.

Legend: N matches (the seed's m sampled trajectories), T rounds.

Each estimator is a scalar whose autograd gradient, for on-policy data, *is* the estimate
(Spinning Up's ``compute_loss_pi`` pattern, with the sign of an objective to *ascend*). The
trainer minimises ``loss = -(surrogate) - ent_coef * entropy + vf_coef * loss_v``.

The seed's derivation, corrected (``grad log``, not ``log grad``; ``sum log``, not ``log sum``):

    grad V = E_tau[ R(tau) grad log P(tau) ],   grad log P(tau) = sum_t grad log pi(A_t | S_t)

so with m trajectories  g = 1/m sum_i R(tau_i) sum_t grad log pi(A_t^i | S_t^i).

Every estimator below is ``mean_i sum_t log pi(A_t|S_t) * Psi_t`` for a different weight Psi_t
(the *signal*), from which a baseline b_t that does not depend on A_t may be subtracted:

==================  =========================================================  ==========
signal              Psi_t                                                      unbiased
==================  =========================================================  ==========
``total-return``    R(tau) = sum_t' gamma^t' r_t'  (the seed's Step 3)           yes
``reward-to-go``    G_t = sum_{t' >= t} gamma^(t'-t) r_t'                          gamma = 1
``q-form``          gamma^t Q_hat(S_t, A_t), Q_hat = G_t (Monte-Carlo Q)           yes
``gae``             GAE(gamma, lambda) advantage from a learned value              no (critic)
==================  =========================================================  ==========

Baselines: ``batch-mean`` (leave-one-out mean of the others' mean signal), ``per-round``
(leave-one-out mean of the others' signal at the same round), ``value`` (a learned V(S_t)).
Leave-one-out keeps each baseline independent of the sample it is subtracted from, so the
estimate stays unbiased (a plain batch mean would scale the gradient by 1 - 1/m).
"""

from __future__ import annotations

import torch

from .policies import entropy

__all__ = [
    "discounted_returns",
    "total_returns",
    "gae_advantages",
    "leave_one_out_mean",
    "normalize",
    "surrogate",
    "entropy_bonus",
    "value_loss",
    "signal",
    "baseline",
    "policy_objective",
    "SIGNALS",
    "BASELINES",
    "parse_estimator",
]

SIGNALS = ("total-return", "reward-to-go", "q-form", "gae")
BASELINES = ("none", "batch-mean", "per-round", "value")


# -- returns: pure functions of the rewards ------------------------------------------------------


def discounted_returns(rewards_NT: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """Reward-to-go G_t = sum_{t' >= t} gamma^(t'-t) r_t', [N, T] (backward recursion G_t = r_t + gamma G_{t+1})."""
    out = torch.empty_like(rewards_NT)
    running = torch.zeros_like(rewards_NT[:, 0])
    for t in range(rewards_NT.shape[1] - 1, -1, -1):
        running = rewards_NT[:, t] + gamma * running
        out[:, t] = running
    return out


def total_returns(rewards_NT: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """R(tau) = sum_t gamma^t r_t, [N]."""
    discount_T = gamma ** torch.arange(rewards_NT.shape[1], dtype=rewards_NT.dtype)
    return (rewards_NT * discount_T).sum(1)


def gae_advantages(rewards_NT: torch.Tensor, values_NT: torch.Tensor, gamma: float = 1.0, lam: float = 0.95) -> torch.Tensor:
    """GAE: A_t = sum_l (gamma lam)^l delta_{t+l}, delta_t = r_t + gamma V(S_{t+1}) - V(S_t), V(S_T) = 0. [N, T]"""
    next_values = torch.cat([values_NT[:, 1:], torch.zeros_like(values_NT[:, :1])], dim=1)
    deltas = rewards_NT + gamma * next_values - values_NT
    return discounted_returns(deltas, gamma * lam)


def leave_one_out_mean(x_N: torch.Tensor) -> torch.Tensor:
    """b_i = mean_{j != i} x_j along dim 0 (0 for a batch of one)."""
    n = x_N.shape[0]
    if n == 1:
        return torch.zeros_like(x_N)
    return (x_N.sum(0, keepdim=True) - x_N) / (n - 1)


def normalize(adv: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(A - mean A) / (std A + eps) over the batch: finite for a batch of one (it gives 0)."""
    return (adv - adv.mean()) / (adv.std(unbiased=False) + eps)


# -- signals and baselines -----------------------------------------------------------------------


def signal(name: str, rewards_NT: torch.Tensor, gamma: float = 1.0, values_NT=None, lam: float = 0.95) -> torch.Tensor:
    """Psi_t [N, T] for the signal ``name`` (see the module table)."""
    if name == "total-return":
        return total_returns(rewards_NT, gamma).unsqueeze(1).expand_as(rewards_NT)
    if name == "reward-to-go":
        return discounted_returns(rewards_NT, gamma)
    if name == "q-form":
        discount_T = gamma ** torch.arange(rewards_NT.shape[1], dtype=rewards_NT.dtype)
        return discount_T * discounted_returns(rewards_NT, gamma)
    if name == "gae":
        if values_NT is None:
            raise ValueError("the gae signal needs a learned value (an actor-critic run)")
        return gae_advantages(rewards_NT, values_NT, gamma, lam)
    raise ValueError(f"unknown estimator {name!r}; allowed: {', '.join(SIGNALS)}")


def baseline(name: str, psi_NT: torch.Tensor, values_NT=None) -> torch.Tensor:
    """b_t [N, T] for the baseline ``name``; none of them depends on the sample's own actions."""
    if name == "none":
        return torch.zeros_like(psi_NT)
    if name == "batch-mean":
        return leave_one_out_mean(psi_NT.mean(1)).unsqueeze(1).expand_as(psi_NT)
    if name == "per-round":
        return leave_one_out_mean(psi_NT)
    if name == "value":
        if values_NT is None:
            raise ValueError("the value baseline needs a learned value (an actor-critic run)")
        return values_NT
    raise ValueError(f"unknown baseline {name!r}; allowed: {', '.join(BASELINES)}")


# -- surrogates: a scalar whose gradient is the estimate ----------------------------------------


def surrogate(logp_NT: torch.Tensor, weights_NT: torch.Tensor) -> torch.Tensor:
    """1/m sum_i sum_t log pi(A_t^i | S_t^i) * Psi_t^i: its gradient is the score-function estimate."""
    return (logp_NT * weights_NT.detach()).sum(1).mean()


def entropy_bonus(logp_all_NTA: torch.Tensor) -> torch.Tensor:
    """mean_i sum_t H(pi(.|S_t)): a *bonus*, added to the objective (subtracted from the loss).

    Summed over the rounds like the surrogate, so ``ent_coef`` weighs each round's entropy against
    that round's advantage whatever T is (the per-sample convention of SB3's and CleanRL's ent_coef).
    """
    return entropy(logp_all_NTA).sum(1).mean()


def value_loss(values_NT: torch.Tensor, returns_NT: torch.Tensor) -> torch.Tensor:
    """Critic regression: mean (V(S_t) - G_t)^2."""
    return (values_NT - returns_NT.detach()).pow(2).mean()


def parse_estimator(spec: str) -> tuple[str, str]:
    """``"reward-to-go+per-round"`` -> ``("reward-to-go", "per-round")``; a bare signal has no baseline."""
    sig, _, base = spec.partition("+")
    base = base or "none"
    if sig not in SIGNALS:
        raise ValueError(f"unknown estimator {sig!r} in {spec!r}; allowed: {', '.join(SIGNALS)} (optionally +baseline: {', '.join(BASELINES[1:])})")
    if base not in BASELINES:
        raise ValueError(f"unknown baseline {base!r} in {spec!r}; allowed: {', '.join(BASELINES)}")
    return sig, base


def policy_objective(
    logp_NT: torch.Tensor,
    rewards_NT: torch.Tensor,
    estimator: str = "reward-to-go",
    baseline_name: str = "none",
    gamma: float = 1.0,
    values_NT: torch.Tensor | None = None,
    lam: float = 0.95,
    normalize_advantages: bool = False,
) -> torch.Tensor:
    """The surrogate objective of an estimator: mean_i sum_t log pi(A_t|S_t) (Psi_t - b_t)."""
    values = None if values_NT is None else values_NT.detach()
    psi = signal(estimator, rewards_NT, gamma, values, lam)
    adv = psi - baseline(baseline_name, psi, values) if estimator != "gae" else psi
    if normalize_advantages:
        adv = normalize(adv)
    return surrogate(logp_NT, adv)
