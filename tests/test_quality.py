"""Quality of the default training: it reaches the exact ceiling where that is easy, and never beats it.

The ceiling against ``mixed:probs=0.5,0.3,0.2`` is 0.3 per round (always paper: 0.5 - 0.2), a closed
form; against ``frequency`` and ``win-stay-lose-shift`` it is :func:`policygrad.optimum.optimum`.
The large benchmarks (T = 100, every opponent, against Stable-Baselines3) live in
``benchmarks/quality.py``.
"""

from __future__ import annotations

import pytest
import torch

from policygrad.config import TrainConfig
from policygrad.evaluate import evaluate_policy
from policygrad.optimum import optimum
from policygrad.policies import ModeGaps, make_critic, make_policy
from policygrad.train import Trainer, train


def _trained(config: TrainConfig):
    trainer = Trainer(config)
    while trainer.iteration < config.iterations:
        trainer.step()
    return trainer.policy


def test_defaults_reach_90_percent_of_the_mixed_ceiling_in_a_small_budget():
    # only the opponent, T and a budget of 40 iterations (a few seconds) are set: everything else is a default,
    # the entropy bonus's hold-then-anneal included (it reaches 0 at iteration 36)
    cfg = TrainConfig(opponent="mixed:probs=0.5,0.3,0.2", rounds=20, iterations=40, seed=0, tensorboard=False)
    policy = _trained(cfg)
    stats = evaluate_policy(policy, cfg.opponent, cfg.rounds, cfg.context, cfg.counts, matches=2000, seed=7)
    assert stats.mean >= 0.9 * 0.3, stats


@pytest.mark.parametrize("opponent", ["frequency", "win-stay-lose-shift"])
def test_a_trained_policy_never_beats_the_exact_optimum(opponent):
    rounds = 8
    ceiling = optimum(opponent, rounds).value_per_round
    cfg = TrainConfig(opponent=opponent, rounds=rounds, iterations=15, batch=128, seed=1, tensorboard=False)
    policy = _trained(cfg)
    stats = evaluate_policy(policy, opponent, rounds, cfg.context, cfg.counts, matches=4000, seed=3)
    assert stats.mean <= ceiling + stats.ci95, (stats, ceiling)
    assert stats.mean > 0.2  # and it did learn something, so the bound is not vacuous


def test_mode_gaps_are_integer_gaps_to_the_most_frequent_move():
    # agent counts (3, 1, 3), opponent (0, 5, 2) after t = 7 rounds of T = 10, context K = 1
    a, k, rounds = 3, 1, 10
    f = 9 * k + 1 + 2 * a
    obs = torch.zeros(f)
    obs[9] = 7 / rounds
    obs[10:13] = torch.tensor([3.0, 1.0, 3.0]) / 7
    obs[13:16] = torch.tensor([0.0, 5.0, 2.0]) / 7
    layer = ModeGaps(a, k, rounds, f)
    assert torch.equal(layer.gaps(obs), torch.tensor([[0.0, 2.0, 0.0], [5.0, 0.0, 3.0]]))
    out = layer(obs.unsqueeze(0))
    assert out.shape == (1, f + layer.extra)
    assert torch.equal(out[0, :f], obs)
    assert torch.allclose(out[0, f : f + 6], torch.exp(-torch.tensor([0.0, 2.0, 0.0, 5.0, 0.0, 3.0])))


def test_mode_gaps_need_counts_and_the_horizon():
    with pytest.raises(ValueError, match="count features"):
        ModeGaps(3, 1, 10, 10)
    with pytest.raises(ValueError, match="rounds"):
        make_policy("mlp", 16, 3, 1, (8,), gaps=True)
    pi = make_policy("gru", 16, 3, 1, (8,), gaps=True, rounds=10)
    obs = torch.rand(4, 5, 16)
    h = pi.initial_state(4)
    steps = []
    for t in range(5):
        logp, h = pi.step(obs[:, t], h)
        steps.append(logp)
    assert torch.allclose(torch.stack(steps, 1), pi.sequence(obs), atol=1e-6)
    assert make_critic(16, 3, 1, (8,), gaps=True, rounds=10)(obs).shape == (4, 5)


def test_gaps_need_counts_to_apply():
    assert TrainConfig().uses_gaps
    assert not TrainConfig(counts=False).uses_gaps
    assert not TrainConfig(policy="tabular").uses_gaps


def test_checkpoint_of_a_gaps_policy_loads(tmp_path):
    from policygrad.checkpoint import load_policy

    cfg = TrainConfig(opponent="frequency", rounds=5, iterations=2, batch=8, tensorboard=False)
    train(cfg, run_dir=str(tmp_path / "run"), with_optimum=False)
    policy, loaded, _ = load_policy(str(tmp_path / "run"))
    assert loaded.uses_gaps and isinstance(policy.features, ModeGaps)
