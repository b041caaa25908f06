"""Every estimator against the exact gradient: error, cosine, bias and variance as m grows.

For each estimator and sample size m, ``repeats`` independent estimates g_r (each from m sampled
matches) are compared with the exact grad V of :mod:`policygrad.exact`:

* relative error |g_r - grad V| / |grad V| and cosine, their means over repeats and standard errors;
* the per-sample variance m * tr Cov(g_r) (the trace of one trajectory's covariance);
* unbiasedness: mean_r g_r lies within 4 standard errors of grad V, the standard error of the
  mean vector being sqrt(tr Cov(g_r) / repeats) (for an unbiased estimator the gap's expected
  squared norm is exactly that, so the ratio is about 1; a bias makes it grow like sqrt(repeats)).

All estimators of one (m, repeat) share the same sampled matches (common random numbers), so
their variances compare directly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from . import encoding
from .engine import Engine
from .estimators import discounted_returns, parse_estimator, policy_objective, value_loss
from .exact import check_enumeration, exact_gradient, flat_grad
from .games import make_game
from .limits import batch_bytes, check_seed, check_size, policy_parameters
from .policies import ValueNet, make_policy
from .rollout import rollout, score
from .stats import mean_se

__all__ = ["GradcheckRow", "GradcheckReport", "gradcheck", "DEFAULT_ESTIMATORS", "fit_value"]

DEFAULT_ESTIMATORS = ("total-return", "reward-to-go", "total-return+batch-mean", "reward-to-go+per-round", "reward-to-go+value", "q-form")


@dataclass(frozen=True)
class GradcheckRow:
    estimator: str
    samples: int
    rel_error_mean: float
    rel_error_se: float
    cosine_mean: float
    cosine_se: float
    per_sample_variance: float
    bias_z: float  # |mean_r g_r - grad V| / SE, SE = sqrt(tr Cov(g_r) / repeats): about 1 when unbiased
    within_4se: bool


@dataclass(frozen=True)
class GradcheckReport:
    opponent: str
    game: str
    rounds: int
    context: int
    policy: str
    repeats: int
    seed: int
    exact_value: float
    exact_grad_norm: float
    rows: list[GradcheckRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def fit_value(policy, engine: Engine, seed: int, steps: int = 100, lr: float = 0.03) -> ValueNet:
    """A critic V_phi(s) fitted to reward-to-go on matches independent of the ones it will baseline."""
    critic = ValueNet(engine.obs_size, (32,))
    batch = rollout(policy, engine, seed=seed)
    target = discounted_returns(batch.rewards.float())
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        value_loss(critic(batch.obs.float()), target).backward()
        opt.step()
    return critic.requires_grad_(False)


def gradcheck(
    opponent: str = "frequency",
    rounds: int = 4,
    context: int = 1,
    policy: str = "mlp",
    samples: tuple[int, ...] = (100, 1000, 10000, 100000),
    estimators: tuple[str, ...] = DEFAULT_ESTIMATORS,
    repeats: int = 20,
    seed: int = 0,
    game: str = "rps",
    hidden: tuple[int, ...] = (16,),
    perturb: float = 0.5,
    progress=None,
) -> GradcheckReport:
    """Compare each estimator with the exact gradient for each m in ``samples``.

    The policy is initialised with ``seed`` and its parameters perturbed by N(0, perturb^2), so that
    it is not uniform and the check covers a generic theta. ``progress(i, total)`` is called per estimate.
    """
    for name, value, low in (("rounds", rounds, 1), ("repeats", repeats, 2)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}" + (" (a standard error needs two estimates)" if name == "repeats" else ""))
    if not isinstance(context, int) or isinstance(context, bool) or not 0 <= context <= rounds:
        raise ValueError(f"context must be an integer in 0..{rounds} (the rounds of a match; an older round is always empty), got {context!r}")
    if not samples or any(not isinstance(m, int) or isinstance(m, bool) or m < 1 for m in samples):
        raise ValueError(f"samples must be integers >= 1, got {list(samples)}")
    if not estimators:
        raise ValueError("estimators must name at least one estimator")
    check_seed("seed", seed)
    parsed = [parse_estimator(e) for e in estimators]
    g = make_game(game)
    check_enumeration(g.num_actions, rounds)  # exact enumeration of A^(2T) histories: refused first, compared in logarithms
    features = encoding.feature_size(g.num_actions, context)
    params = policy_parameters(policy, features, g.num_actions, context, hidden)
    check_size(
        f"gradcheck (policy with {params:,.0f} parameters; m up to {max(samples):,} matches x {rounds} rounds; "
        f"{len(estimators)} estimators x {len(samples)} sizes x {repeats:,} repeats)",
        batch_bytes(max(samples), rounds, features, g.num_actions, tuple(hidden), autograd=True) + 8.0 * params * len(estimators) * len(samples) * repeats,
        hint="Use smaller --samples, fewer --repeats or a smaller policy",
    )
    torch.manual_seed(seed)
    pi = make_policy(policy, encoding.feature_size(g.num_actions, context), g.num_actions, context, hidden)
    with torch.no_grad():
        for p in pi.parameters():
            p.add_(perturb * torch.randn_like(p))
    exact = exact_gradient(pi, opponent, rounds, context, g)
    grad_exact = exact.grad
    norm = float(grad_exact.norm())
    params = list(pi.parameters())
    critic = None
    if any(b == "value" for _, b in parsed):
        critic = fit_value(pi, Engine(opponent, n=1024, rounds=rounds, context=context, game=g), seed=10**6 + seed)

    estimates: dict[tuple[str, int], list[torch.Tensor]] = {(e, m): [] for e in estimators for m in samples}
    total, done = len(samples) * repeats, 0
    for m in samples:
        engine = Engine(opponent, n=m, rounds=rounds, context=context, game=g)
        for r in range(repeats):
            batch = score(pi, rollout(pi, engine, seed=seed * 100003 + m * 1009 + r))
            values = None if critic is None else critic(batch.obs)
            for spec, (sig, base) in zip(estimators, parsed):
                objective = policy_objective(batch.logp, batch.rewards.to(batch.logp.dtype), sig, base, values_NT=values)
                estimates[(spec, m)].append(flat_grad(objective, params, retain_graph=True).double())
            done += 1
            if progress:
                progress(done, total)

    rows = []
    for spec in estimators:
        for m in samples:
            g_RP = torch.stack(estimates[(spec, m)])
            err = (g_RP - grad_exact).norm(dim=1) / norm
            cos = (g_RP @ grad_exact) / (g_RP.norm(dim=1) * norm).clamp(min=1e-300)
            # E|mean - grad V|^2 = tr Cov(g) / R for an unbiased estimator: the norm of the gap in SE units
            trace_cov = float(g_RP.var(0, unbiased=True).sum())
            gap = float((g_RP.mean(0) - grad_exact).norm())
            z = gap / math.sqrt(trace_cov / repeats) if trace_cov > 0 else (0.0 if gap < 1e-9 else math.inf)
            err_mean, err_se = mean_se(err)
            cos_mean, cos_se = mean_se(cos)
            rows.append(GradcheckRow(spec, m, err_mean, err_se, cos_mean, cos_se, m * trace_cov, z, z <= 4.0))
    return GradcheckReport(opponent, g.name, rounds, context, policy, repeats, seed, exact.value, norm, rows)
