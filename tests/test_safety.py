"""Safe exploitation (policygrad.safety): the budget bound holds against any opponent, a winning
policy plays unchanged, and a read policy pays exactly its budget."""

from __future__ import annotations

import pytest
import torch

from policygrad.policies import ConstantPolicy
from policygrad.engine import Engine
from policygrad.equilibrium import nash_equilibrium
from policygrad.games import make_game
from policygrad.opponents import attach_policy, make_opponent
from policygrad.policies import GRUPolicy
from policygrad.rollout import rollout
from policygrad.safety import SafePolicy


def random_gru(obs_size: int, seed: int) -> GRUPolicy:
    """A GRU far from uniform whose probabilities move with the history."""
    torch.manual_seed(seed)
    policy = GRUPolicy(obs_size, 3, 16)
    with torch.no_grad():
        for w in policy.gru.parameters():
            w.normal_(0, 1.0)
        policy.head.weight.normal_(0, 2.0)
    return policy


def expected_rewards(batch, game) -> torch.Tensor:
    """[N, T] q_t^T M[:, o_t]: the expected reward of each round's mixture against the move the opponent played."""
    q_NTA = batch.logp_all.double().exp()
    m_col = game.payoff.T[batch.opponent_moves]  # [N, T, A]: M[:, o_t]
    return (q_NTA * m_col).sum(-1)


@pytest.mark.parametrize("opponent", ["mind-reader", "frequency", "markov:order=2", "pattern", "exploiter:context=2", "q-learner"])
def test_no_opponent_takes_more_than_the_budget(opponent):
    # epsilon + sum_{s <= t} q_s^T M[:, o_s] >= 0 in every round of every match (the deterministic
    # statement behind E[score] >= -epsilon); the raw GRU loses far more than epsilon to the reader
    game, eps, rounds, n = make_game("rps"), 3.0, 40, 500
    engine = Engine(opponent, n=n, rounds=rounds, context=1, seed=5)
    safe = SafePolicy(random_gru(engine.obs_size, seed=2), game, context=1, epsilon=eps)
    attach_policy(engine.opponent, safe, 1, False, rounds)
    batch = rollout(safe, engine, seed=6)
    budget_NT = eps + expected_rewards(batch, game).cumsum(1)
    assert float(budget_NT.min()) >= -1e-5


def test_a_read_policy_pays_exactly_its_budget_and_the_raw_one_pays_more():
    game, eps, rounds, n = make_game("rps"), 4.0, 30, 4000
    raw = random_gru(Engine("mixed", rounds=rounds, context=1).obs_size, seed=2)
    totals = {}
    for name, policy in (("raw", raw), ("safe", SafePolicy(raw, game, context=1, epsilon=eps))):
        engine = Engine(make_opponent("mind-reader").attach(policy, 1, False, rounds), n=n, rounds=rounds, context=1, seed=7)
        batch = rollout(policy, engine, seed=8)
        totals[name] = batch.rewards.double().sum(1)
        if name == "safe":  # the reader best-replies to q exactly: the budget falls to 0 and stays
            assert float(expected_rewards(batch, game).sum(1).sub(-eps).abs().max()) < 1e-4
    se = float(totals["safe"].std()) / n**0.5
    assert abs(float(totals["safe"].mean()) + eps) < 4 * se
    assert float(totals["raw"].mean()) < -3 * eps  # the guard is what keeps the loss at epsilon


def test_a_winning_policy_plays_unchanged():
    # always paper against always rock: it wins every round, the budget only grows, q = p
    game = make_game("rps")
    policy = ConstantPolicy(3, 1)
    safe = SafePolicy(policy, game, context=1, epsilon=1.0)
    batch = rollout(safe, Engine("constant", n=16, rounds=20, context=1, seed=0), seed=0)
    assert (batch.rewards == 1).all()
    assert torch.allclose(batch.logp_all.exp(), torch.tensor([0.0, 1.0, 0.0]).expand(16, 20, 3), atol=1e-6)
    hidden = safe.initial_state(1)
    obs = Engine("constant", n=1, rounds=3, context=1).reset(0)
    _, hidden = safe.step(obs, hidden)
    assert float(safe.budget(hidden)[0]) == pytest.approx(1.0)


def test_with_nothing_to_risk_it_plays_the_equilibrium():
    game = make_game("weighted-rps:weights=1,2,3")
    sigma = nash_equilibrium(game)
    assert float((sigma @ game.payoff).min()) >= -1e-9  # no move gains against it
    safe = SafePolicy(ConstantPolicy(3, 0), game, context=1, epsilon=0.0)
    batch = rollout(safe, Engine("frequency", n=4, rounds=5, context=1, game=game, seed=0), seed=0)
    assert torch.allclose(batch.logp_all.exp().double(), sigma.expand(4, 5, 3), atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="context of at least 1"):
        SafePolicy(ConstantPolicy(3, 0), "rps", context=0)
    for eps in (-1.0, float("nan"), float("inf"), "5"):
        with pytest.raises(ValueError, match="epsilon"):
            SafePolicy(ConstantPolicy(3, 0), "rps", context=1, epsilon=eps)
