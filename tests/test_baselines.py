"""Baselines: eps-greedy Q-learning and DQN train through the engine, their trained forms are policies
(rollout, exact exploitability, Agent.load), and deterministic policies lose 1 per round."""

from __future__ import annotations

import pytest
import torch

from policygrad import encoding
from policygrad.agent import Agent
from policygrad.checkpoint import save_baseline
from policygrad.policies import ConstantPolicy, QNetPolicy, QTablePolicy, argmax_policy
from policygrad.qlearning import BaselineConfig, train_dqn, train_q_learning
from policygrad.config import TrainConfig
from policygrad.evaluate import evaluate_policy
from policygrad.exploitability import checkpoint_exploitability, exploitability
from policygrad.games import make_game
from policygrad.policies import MLPPolicy

torch.set_num_threads(1)


def test_q_learning_one_round_by_hand():
    # T = 1, K = 0, gamma irrelevant (no bootstrap at the end), alpha = 0.5, opponent always rock:
    # every match that played a gives Q(a) += 0.5 * mean(M[a, rock] - 0) = 0.5 M[a, rock]
    cfg = BaselineConfig(opponent="constant:move=0", rounds=1, context=0, iterations=1, batch=16, alpha=0.5, epsilon=1.0)
    policy, _ = train_q_learning(cfg)
    m = make_game("rps").payoff
    q = policy.table[0]
    for a in range(3):
        assert float(q[a]) in (0.0, pytest.approx(0.5 * float(m[a, 0])))
    assert float(q[1]) == pytest.approx(0.5)  # with 16 uniform draws, paper was played (probability 1 - (2/3)^16)


@pytest.mark.parametrize("train", [train_q_learning, train_dqn])
def test_baselines_learn_to_beat_a_constant_opponent(train):
    cfg = BaselineConfig(opponent="constant:move=0", rounds=5, context=1, iterations=30, batch=32, epsilon=0.1, seed=1, minibatch=32, hidden=(16,))
    policy, report = train(cfg)
    obs = encoding.encode(torch.tensor([[-1], [3]]), 3, 0.4)  # round 1, and after (paper, rock): the contexts it meets
    probs = policy.step(obs)[0].exp()
    assert torch.allclose(probs[:, 1], torch.full((2,), 0.1 / 3 + 0.9), atol=1e-6)  # epsilon-soft on paper
    stats = evaluate_policy(policy, "constant:move=0", 5, 1, False, matches=2000)
    assert stats.mean == pytest.approx(0.9, abs=0.05)  # (1 - eps) * 1 + eps * (1 + 0 - 1) / 3
    # the trained form is epsilon-soft: exactly 1 - eps exploitable
    assert exploitability(policy, "rps", 5, 1).value == pytest.approx(0.9, abs=1e-6)
    assert len(report["reward_per_round"]) == 30


def test_deterministic_policies_lose_one_per_round():
    torch.manual_seed(0)
    pg = MLPPolicy(encoding.feature_size(3, 1), 3)
    with torch.no_grad():
        pg.net[-1].bias.copy_(torch.tensor([0.0, 0.2, 0.1]))
    assert exploitability(argmax_policy(pg), "rps", 10, 1).value == pytest.approx(1.0)
    assert exploitability(ConstantPolicy(3, 2), "rps", 10, 1).value == pytest.approx(1.0)


def _same_policy(p1, p2, context, counts=False):
    ctx = torch.tensor([[-1], [0], [5], [8]]) if context == 1 else torch.zeros(4, 0, dtype=torch.long)
    obs = encoding.encode(ctx, 3, torch.tensor([0.0, 0.25, 0.5, 0.75]))
    return torch.allclose(p1.step(obs)[0].exp(), p2.step(obs)[0].exp())


def test_checkpoints_load_as_agents(tmp_path):
    base = {"game": "rps", "rounds": 5, "context": 1, "counts": False}
    q = QTablePolicy(3, 1, 0.2)
    q.table.data.normal_(generator=torch.Generator().manual_seed(0))
    net = QNetPolicy(encoding.feature_size(3, 1), 3, (8,), 0.1)
    pg = MLPPolicy(encoding.feature_size(3, 1), 3, (8,))
    with torch.no_grad():
        pg.net[-1].weight.normal_(generator=torch.Generator().manual_seed(1))
    pg_cfg = TrainConfig(opponent="frequency", rounds=5, context=1, counts=False, hidden=(8,)).to_dict()
    cases = [
        ("q-learning", q, base, 0.8),
        ("dqn", net, {**base, "hidden": [8]}, 0.9),
        ("deterministic", argmax_policy(pg), {**base, "pg_config": pg_cfg}, 1.0),
        ("deterministic", ConstantPolicy(3, 1), base, 1.0),
    ]
    for i, (kind, policy, config, expl) in enumerate(cases):
        path = save_baseline(str(tmp_path / f"{kind}{i}.pt"), kind, policy, config)
        agent = Agent.load(path)
        assert agent.name == kind and agent.rounds == 5 and agent.context == 1
        assert _same_policy(agent.policy, policy, 1)
        moves = [agent.act(None)] + [agent.act(o) for o in (0, 1, 2, 0)]
        assert all(0 <= m < 3 for m in moves)
        result = checkpoint_exploitability(path)
        assert result.exact and result.value == pytest.approx(expl, abs=1e-6)


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="epsilon"):
        BaselineConfig(epsilon=1.5)
    with pytest.raises(ValueError, match="unknown opponent"):
        BaselineConfig(opponent="nobody")
    with pytest.raises(ValueError, match="rounds"):
        BaselineConfig(rounds=0)
    with pytest.raises(ValueError, match="unknown baseline kind"):
        save_baseline(str(tmp_path / "x.pt"), "sarsa", ConstantPolicy(3), {"game": "rps", "rounds": 3, "context": 1, "counts": False})
    with pytest.raises(ValueError, match="outside"):
        ConstantPolicy(3, 3)
