"""Estimators: returns against slow loops, unbiasedness and variance against the exact gradient, signs."""

import itertools
import math

import pytest
import torch

from policygrad import encoding
from policygrad.engine import Engine
from policygrad.estimators import (
    discounted_returns,
    entropy_bonus,
    gae_advantages,
    leave_one_out_mean,
    normalize,
    parse_estimator,
    policy_objective,
    total_returns,
)
from policygrad.gradcheck import gradcheck
from policygrad.policies import entropy, make_policy
from policygrad.rollout import rollout, score


@pytest.mark.parametrize("gamma,T,N,dtype", list(itertools.product([0.0, 0.5, 1.0], [1, 4], [1, 3], [torch.float32, torch.float64])))
def test_returns_equal_slow_loops(gamma, T, N, dtype):
    torch.manual_seed(T * 10 + N)
    r = torch.randn(N, T, dtype=dtype)
    v = torch.randn(N, T, dtype=dtype)
    lam = 0.9
    for i in range(N):
        for t in range(T):
            g = sum(gamma ** (u - t) * float(r[i, u]) for u in range(t, T))
            assert float(discounted_returns(r, gamma)[i, t]) == pytest.approx(g, rel=1e-5, abs=1e-5)
            deltas = [float(r[i, u]) + gamma * (float(v[i, u + 1]) if u + 1 < T else 0.0) - float(v[i, u]) for u in range(T)]
            a = sum((gamma * lam) ** (u - t) * deltas[u] for u in range(t, T))
            assert float(gae_advantages(r, v, gamma, lam)[i, t]) == pytest.approx(a, rel=1e-5, abs=1e-5)
        assert float(total_returns(r, gamma)[i]) == pytest.approx(sum(gamma**u * float(r[i, u]) for u in range(T)), rel=1e-5, abs=1e-5)


def test_leave_one_out_and_normalize_are_finite_for_a_batch_of_one():
    x = torch.tensor([[2.0, -1.0]])
    assert torch.equal(leave_one_out_mean(x), torch.zeros_like(x))
    assert torch.isfinite(normalize(torch.tensor([[3.0]]))).all()
    assert torch.equal(leave_one_out_mean(torch.tensor([1.0, 2.0, 6.0])), torch.tensor([4.0, 3.5, 1.5]))


def test_estimator_spec_errors_list_what_is_allowed():
    assert parse_estimator("reward-to-go+per-round") == ("reward-to-go", "per-round")
    with pytest.raises(ValueError, match="unknown estimator 'rtg'.*total-return"):
        parse_estimator("rtg")
    with pytest.raises(ValueError, match="unknown baseline 'mean'.*batch-mean"):
        parse_estimator("reward-to-go+mean")


ESTIMATORS = ("total-return", "reward-to-go", "total-return+batch-mean", "reward-to-go+per-round", "reward-to-go+value", "q-form", "total-return+per-round")


@pytest.mark.parametrize("opponent,policy", [("frequency", "mlp"), ("q-learner", "tabular"), ("markov:order=1", "gru")])
def test_every_estimator_is_unbiased(opponent, policy):
    # 40 independent estimates of m = 64 matches each: the mean must sit within 4 standard errors of
    # the exact gradient (the SE is measured, sqrt(tr Cov / repeats)).
    report = gradcheck(opponent, rounds=3, context=1, policy=policy, samples=(64,), estimators=ESTIMATORS, repeats=40, seed=7)
    for row in report.rows:
        assert row.within_4se, (row.estimator, row.bias_z)


def test_the_unbiasedness_check_can_fail():
    # advantage normalisation rescales each batch by its own spread: a biased estimate. With
    # m = 4 matches the bias is large, and the same check must see it.
    report = gradcheck("constant", rounds=2, context=0, policy="tabular", samples=(4,), estimators=("total-return",), repeats=400, seed=1)
    assert report.rows[0].within_4se
    import policygrad.gradcheck as gc

    original = gc.policy_objective
    gc.policy_objective = lambda *a, **k: original(*a, **{**k, "normalize_advantages": True})
    try:
        biased = gradcheck("constant", rounds=2, context=0, policy="tabular", samples=(4,), estimators=("total-return",), repeats=400, seed=1)
    finally:
        gc.policy_objective = original
    assert not biased.rows[0].within_4se, biased.rows[0].bias_z


def test_reward_to_go_and_baselines_lower_the_variance():
    # Against a constant opponent the rewards of earlier rounds do not depend on later moves, so
    # dropping them (reward-to-go) removes pure noise; and a skewed policy earns a large mean
    # return, which a baseline subtracts. Both must lower the per-sample variance.
    report = gradcheck(
        "constant:move=0",
        rounds=4,
        context=1,
        policy="tabular",
        samples=(256,),
        estimators=("total-return", "reward-to-go", "total-return+batch-mean", "reward-to-go+per-round"),
        repeats=60,
        seed=3,
        perturb=1.5,
    )
    var = {r.estimator: r.per_sample_variance for r in report.rows}
    assert var["reward-to-go"] < 0.9 * var["total-return"], var
    assert var["total-return+batch-mean"] < 0.9 * var["total-return"], var
    assert var["reward-to-go+per-round"] < 0.9 * var["reward-to-go"], var


def test_relative_error_falls_as_one_over_sqrt_m():
    report = gradcheck("frequency", rounds=4, context=1, policy="mlp", samples=(100, 10000), estimators=("reward-to-go",), repeats=12, seed=0)
    small, large = report.rows
    ratio = small.rel_error_mean / large.rel_error_mean  # 1/sqrt(m) predicts sqrt(100) = 10
    se = ratio * math.hypot(small.rel_error_se / small.rel_error_mean, large.rel_error_se / large.rel_error_mean)
    assert abs(ratio - 10.0) < 4 * se + 1.0, (ratio, se)


def test_entropy_bonus_raises_entropy_after_one_sgd_step():
    torch.manual_seed(0)
    pi = make_policy("mlp", encoding.feature_size(3, 1), 3, 1, (8,))
    with torch.no_grad():
        for p in pi.parameters():
            p.add_(torch.randn_like(p))
    engine = Engine("mixed", n=64, rounds=5, context=1)
    batch = score(pi, rollout(pi, engine, seed=0))
    before = float(entropy_bonus(batch.logp_all).detach())
    loss = -1.0 * entropy_bonus(batch.logp_all)  # loss = loss_pi - ent_coef * entropy, loss_pi = 0
    loss.backward()
    with torch.no_grad():
        for p in pi.parameters():
            p.sub_(0.1 * p.grad)
    after = float(entropy_bonus(score(pi, batch).logp_all).detach())
    assert after > before + 1e-4


def test_entropy_of_known_distributions():
    logp = torch.log(torch.tensor([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]]))
    assert torch.allclose(entropy(logp), torch.tensor([math.log(3), 0.0]))


def test_surrogate_gradient_is_the_seed_estimate_by_hand():
    # g = 1/m sum_i R(tau_i) sum_t grad log pi(A_t|S_t), computed by a per-sample loop
    torch.manual_seed(2)
    pi = make_policy("tabular", encoding.feature_size(3, 1), 3, 1)
    with torch.no_grad():
        pi.table.add_(torch.randn_like(pi.table))
    batch = score(pi, rollout(pi, Engine("frequency", n=5, rounds=3, context=1), seed=4))
    g = torch.autograd.grad(policy_objective(batch.logp, batch.rewards, "total-return"), pi.table)[0]
    manual = torch.zeros_like(pi.table)
    for i in range(5):
        single = score(pi, rollout(pi, Engine("frequency", n=5, rounds=3, context=1), seed=4))
        grad_logp = torch.autograd.grad(single.logp[i].sum(), pi.table)[0]
        manual += float(batch.rewards[i].sum()) * grad_logp / 5
    assert torch.allclose(g, manual, atol=1e-6)


def test_entropy_bonus_sums_the_rounds_like_the_surrogate():
    # uniform play over T rounds: mean_i sum_t H = T log A, so ent_coef is a weight per round whatever T
    for t in (1, 5, 20):
        logp = torch.full((4, t, 3), -math.log(3))
        assert float(entropy_bonus(logp)) == pytest.approx(t * math.log(3))
