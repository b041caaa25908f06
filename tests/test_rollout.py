"""Rollouts: the distinct-observation fast path gives the plain path's numbers, and steps aside when it must."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from policygrad import encoding
from policygrad.engine import Engine
from policygrad.estimators import entropy_bonus, policy_objective
from policygrad.policies import EpsilonSoftView, make_policy
from policygrad.rollout import rollout, score


class Plain(nn.Module):
    """The same policy, declared recurrent, so that rollout and score take the plain path."""

    recurrent = True

    def __init__(self, policy):
        super().__init__()
        self.policy = policy

    def initial_state(self, n):
        return None

    def step(self, obs, hidden=None):
        return self.policy.step(obs, None)

    def sequence(self, obs):
        return self.policy.sequence(obs)


def generic(kind, context, seed=1):
    torch.manual_seed(seed)
    pi = make_policy(kind, encoding.feature_size(3, context), 3, context, (16,))
    with torch.no_grad():
        for p in pi.parameters():
            p.add_(0.7 * torch.randn_like(p))
    return pi


def gradient(policy, batch):
    s = score(policy, batch)
    objective = policy_objective(s.logp, s.rewards, "reward-to-go") + 0.1 * entropy_bonus(s.logp_all)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(objective, list(policy.parameters()))])


@pytest.mark.parametrize("kind,opponent,context", [("mlp", "frequency", 1), ("mlp", "markov:order=2", 2), ("tabular", "q-learner", 1)])
def test_fast_path_equals_plain_path(kind, opponent, context):
    pi = generic(kind, context)
    engine = Engine(opponent, n=600, rounds=6, context=context)
    fast, plain = rollout(pi, engine, seed=3), rollout(Plain(pi), engine, seed=3)
    assert fast.distinct is not None and plain.distinct is None
    for name in ("obs", "actions", "opponent_moves", "rewards", "mask"):
        assert torch.equal(getattr(fast, name), getattr(plain, name)), name
    # pi at C distinct rows or at N rows: the same numbers (a BLAS may differ in the last bit)
    assert torch.allclose(fast.logp_all, plain.logp_all, rtol=0, atol=1e-6)
    s_fast, s_plain = score(pi, fast), score(pi, plain)
    assert torch.allclose(s_fast.logp_all, s_plain.logp_all, rtol=0, atol=1e-6)
    assert torch.allclose(s_fast.logp, s_plain.logp, rtol=0, atol=1e-6)
    assert s_fast.logp.requires_grad and s_fast.distinct is fast.distinct
    g_fast, g_plain = gradient(pi, fast), gradient(pi, plain)
    assert torch.allclose(g_fast, g_plain, rtol=1e-4, atol=1e-6)


def test_fast_path_steps_aside():
    pi = generic("mlp", 1)
    # a recurrent policy, count features, or no fewer matches than contexts: the plain path
    assert rollout(make_policy("gru", 10, 3, 1), Engine("frequency", n=64, rounds=3), seed=0).distinct is None
    assert rollout(make_policy("mlp", 16, 3, 1), Engine("frequency", n=64, rounds=3, counts=True), seed=0).distinct is None
    assert rollout(pi, Engine("frequency", n=10, rounds=3), seed=0).distinct is None
    # a view of a feed-forward policy is feed-forward
    assert rollout(EpsilonSoftView(pi, 0.1), Engine("frequency", n=64, rounds=3), seed=0).distinct is not None

    batch = rollout(pi, Engine("frequency", n=64, rounds=4), seed=0)
    flipped = replace(batch, obs=batch.obs.flip(0))  # another obs tensor: the index no longer describes it
    assert torch.equal(score(pi, flipped).logp_all, pi.sequence(flipped.obs))
    batch.obs[0, 0, -1] = 0.5  # changed in place
    assert not batch.distinct.matches(batch.obs)
    assert torch.equal(score(pi, batch).logp_all, pi.sequence(batch.obs))


def every_policy_class():
    """One instance of every policy class of the package (the Q forms and the safe-play wrapper too)."""
    from policygrad.policies import ConstantPolicy, QNetPolicy, QTablePolicy, argmax_policy
    from policygrad.policies import DeterministicView, GRUPolicy, MLPPolicy, ModeGaps, TabularPolicy, WithFeatures
    from policygrad.safety import SafePolicy

    f = encoding.feature_size(3, 1, True)
    gru = GRUPolicy(f, 3, 8)
    return {
        "mlp": MLPPolicy(f, 3, (8,)),
        "tabular": TabularPolicy(3, 1),
        "gru": gru,
        "gaps+mlp": WithFeatures(ModeGaps(3, 1, 10, f), MLPPolicy(f + 12, 3, (8,))),
        "gaps+gru": WithFeatures(ModeGaps(3, 1, 10, f), GRUPolicy(f + 12, 3, 8)),
        "deterministic(gru)": DeterministicView(gru),
        "eps-soft(mlp)": EpsilonSoftView(MLPPolicy(f, 3, (8,)), 0.1),
        "argmax(tabular)": argmax_policy(TabularPolicy(3, 1)),
        "q-table": QTablePolicy(3, 1),
        "q-net": QNetPolicy(f, 3, (8,)),
        "constant": ConstantPolicy(3, 1),
        "safe(mlp)": SafePolicy(MLPPolicy(f, 3, (8,)), "rps", context=1),
        "safe(gru)": SafePolicy(gru, "rps", context=1),
    }


@pytest.mark.parametrize("name, policy", list(every_policy_class().items()))
def test_every_policy_class_keeps_the_policy_contract(name, policy):
    from policygrad.policies import Policy

    # recurrent is declared, a bool, and says whether the hidden state carries anything
    assert isinstance(policy, Policy) and type(policy.recurrent) is bool
    hidden = policy.initial_state(4)
    assert (hidden is not None) == policy.recurrent, name
    recurrent = name.startswith(("gru", "gaps+gru", "deterministic(gru)", "safe("))
    assert policy.recurrent == recurrent
    # step round by round gives the numbers of sequence over the whole match
    obs_NTF = torch.rand(4, 5, encoding.feature_size(3, 1, True))
    obs_NTF[..., :9] = torch.nn.functional.one_hot(torch.randint(0, 9, (4, 5)), 9).float()  # a context the tabular forms can read
    with torch.no_grad():
        steps = []
        for t in range(5):
            logp, hidden = policy.step(obs_NTF[:, t], hidden)
            steps.append(logp)
        assert torch.allclose(torch.stack(steps, 1), policy.sequence(obs_NTF), atol=1e-6), name
