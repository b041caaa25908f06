"""The exact referee: two independent computations of V(S0) and grad V agree, and match finite differences."""

import pytest
import torch

from policygrad import encoding
from policygrad.exact import exact_gradient, exact_value
from policygrad.policies import make_policy


def random_policy(kind, context=1, seed=0, scale=0.7):
    torch.manual_seed(seed)
    pi = make_policy(kind, encoding.feature_size(3, context), 3, context, (8,))
    with torch.no_grad():
        for p in pi.parameters():
            p.add_(scale * torch.randn_like(p))
    return pi


OPPONENTS = [
    "mixed:probs=0.5,0.3,0.2",
    "cycle",
    "beat-last",
    "frequency",
    "markov:order=1,decay=0.8",
    "q-learner",
    "pg-learner",
    "mix:of=[frequency|win-stay-lose-shift],weights=1,3",
]


@pytest.mark.parametrize("opponent", OPPONENTS)
@pytest.mark.parametrize("kind", ["mlp", "tabular", "gru"])
def test_enumeration_and_theorem_agree(opponent, kind):
    pi = random_policy(kind)
    e = exact_gradient(pi, opponent, rounds=3, context=1)
    t = exact_gradient(pi, opponent, rounds=3, context=1, method="theorem")
    assert e.value == pytest.approx(t.value, rel=1e-9, abs=1e-12)
    assert torch.allclose(e.grad, t.grad, rtol=1e-9, atol=1e-12)
    assert e.grad.norm() > 1e-3  # a generic policy has a real gradient


@pytest.mark.parametrize("opponent", ["frequency", "markov:order=1", "q-learner", "mixed:probs=0.6,0.2,0.2"])
def test_agreement_at_five_rounds(opponent):
    pi = random_policy("tabular", seed=3)
    e = exact_gradient(pi, opponent, rounds=5, context=1)
    t = exact_gradient(pi, opponent, rounds=5, context=1, method="theorem")
    assert abs(e.value - t.value) <= 1e-9 * max(1.0, abs(e.value))
    assert (e.grad - t.grad).norm() <= 1e-9 * e.grad.norm()


@pytest.mark.parametrize("opponent", ["frequency", "q-learner"])
def test_gradient_matches_central_differences(opponent):
    pi = random_policy("mlp", seed=1).double()
    params = list(pi.parameters())
    grad = exact_gradient(pi, opponent, rounds=3, context=1).grad
    torch.manual_seed(5)
    h = 1e-5
    for _ in range(3):  # directional derivatives along random directions
        direction = [torch.randn_like(p) for p in params]
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(h * d)
            up = float(exact_value(pi, opponent, 3, 1)[0])
            for p, d in zip(params, direction):
                p.sub_(2 * h * d)
            down = float(exact_value(pi, opponent, 3, 1)[0])
            for p, d in zip(params, direction):
                p.add_(h * d)
        fd = (up - down) / (2 * h)
        analytic = float(grad @ torch.cat([d.reshape(-1) for d in direction]))
        assert fd == pytest.approx(analytic, rel=1e-6, abs=1e-9)


def test_closed_form_uniform_policy_against_constant_rock():
    # uniform play against rock: each round is +1, 0, -1 with probability 1/3 -> V = 0; and
    # dV/dlogit_paper = d/dz [softmax(z)_paper - softmax(z)_scissors] = 1/3 per round at z = 0
    pi = make_policy("tabular", encoding.feature_size(3, 0), 3, 0)
    r = exact_gradient(pi, "constant", rounds=2, context=0)
    assert r.value == pytest.approx(0.0, abs=1e-12)
    assert torch.allclose(r.grad, torch.tensor([-0.0, 2 / 3, -2 / 3], dtype=torch.float64), atol=1e-12)


def test_discount_enters_both_methods():
    pi = random_policy("mlp", seed=2)
    e = exact_gradient(pi, "frequency", rounds=3, context=1, gamma=0.5)
    t = exact_gradient(pi, "frequency", rounds=3, context=1, gamma=0.5, method="theorem")
    assert e.value == pytest.approx(t.value, rel=1e-9)
    assert torch.allclose(e.grad, t.grad, rtol=1e-9, atol=1e-12)


def test_too_large_problem_says_its_size_and_the_limit():
    pi = random_policy("mlp")
    with pytest.raises(ValueError, match=r"282,429,536,481 histories.*limit is 531,441"):
        exact_gradient(pi, "frequency", rounds=12, context=1)
    with pytest.raises(ValueError, match="rounds must be an integer >= 1"):
        exact_gradient(pi, "frequency", rounds=0, context=1)
