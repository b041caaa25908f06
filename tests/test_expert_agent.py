"""The expert-mixture agent: batched expert features, the learned mixture policy, its training and its player."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from policygrad.expert_agent import EXPERT_META_CHECKPOINT, ExpertAgent, expert_meta_player
from policygrad.expert_policy import ExpertMixturePolicy, expert_onehots
from policygrad.checkpoint import FORMAT, VERSION
from policygrad.expert_train import EXPERT_KIND, ExpertTrainConfig, ExpertTrainer, advantages, load_expert, play, random_population, random_spec, save_expert
from policygrad.expert_match import ExpertScores
from policygrad.experts import EVIDENCE_DECAY, HORIZONS, ExpertFeatures
from policygrad.games import make_game
from policygrad.online import OnlineAgent
from policygrad.opponents import make_opponent
from policygrad.predictors import Predictors
from policygrad.stats import mean_se


def _histories(n: int, rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Biased random moves (contexts repeat, so the n-grams and the repeats have something to find)."""
    rng = np.random.default_rng(seed)
    mine = rng.choice(3, (n, rounds), p=[0.5, 0.3, 0.2])
    theirs = (mine + rng.choice(3, (n, rounds), p=[0.6, 0.25, 0.15])) % 3
    theirs[0, rounds // 2 :] = np.tile([0, 1, 2], rounds)[: rounds - rounds // 2]  # a cycle half-way: long repeats
    return mine, theirs


@pytest.mark.parametrize("least_order, ties, predictors", [(-1, "first", 117), (0, "first", 123), (0, "best", 123)])
def test_features_equal_online_agents_experts_match_by_match(least_order, ties, predictors):
    """Every predictor of every match, every round, equals OnlineAgent's; the reward averages equal a per-match loop."""
    n, rounds = 3, 160
    mine, theirs = _histories(n, rounds, 0)
    features = ExpertFeatures(n, rounds, least_order=least_order, ties=ties)
    agents = [OnlineAgent(least_order=least_order, ties=ties) for _ in range(n)]
    for agent in agents:
        agent.reset(0)
    assert features.num_predictors == agents[0].num_predictors == predictors and features.num_experts == agents[0].num_experts
    horizons = features.horizons.double().numpy()
    avg = np.zeros((n, features.num_experts, len(horizons)))
    own = np.zeros((n, len(horizons)))
    payoff = agents[0].payoff
    for t in range(rounds):
        moves, feats, glob = features.features()
        for i, agent in enumerate(agents):
            ref_moves = agent.orbit[agent.predictions()].ravel()
            np.testing.assert_array_equal(moves[i].numpy(), ref_moves, err_msg=f"match {i}, round {t}")
        np.testing.assert_allclose(feats[..., :-1].numpy(), avg, atol=1e-5)
        np.testing.assert_array_equal(feats[..., -1].numpy(), (moves >= 0).numpy())
        np.testing.assert_allclose(glob[:, : len(horizons)].numpy(), own, atol=1e-5)
        np.testing.assert_allclose(glob[:, len(horizons) : 2 * len(horizons)].numpy(), avg.max(1), atol=1e-5)
        for i, agent in enumerate(agents):
            col = payoff[:, theirs[i, t]]
            r = np.where(moves[i].numpy() >= 0, col[moves[i].clamp(min=0).numpy()], col.mean())
            avg[i] = horizons * avg[i] + (1 - horizons) * r[:, None]
            own[i] = horizons * own[i] + (1 - horizons) * col[mine[i, t]]
            agent.predictors.push(int(mine[i, t]), int(theirs[i, t]))
        features.update(torch.from_numpy(mine[:, t]), torch.from_numpy(theirs[:, t]))
    assert (moves >= 0).float().mean() > 0.8  # late in the match most experts have a move (not a vacuous comparison)


def test_numpy_features_of_one_match_equal_the_batched_torch_features():
    """expert_match.ExpertScores (NumPy, one match: what ExpertAgent and an exported Kaggle file play with) gives
    ExpertFeatures' expert moves exactly and its features to float32 rounding, match by match, round by round."""
    n, rounds = 2, 400
    mine, theirs = _histories(n, rounds, 1)
    features = ExpertFeatures(n, rounds)
    game = make_game("rps")
    scores = [ExpertScores(Predictors(game.payoff.numpy(), game.beats().numpy(), game.rotations().numpy()), HORIZONS, EVIDENCE_DECAY) for _ in range(n)]
    worst = 0.0
    for t in range(rounds):
        moves, feats, glob = features.features()
        for i, score in enumerate(scores):
            m, f, g = score.features()
            np.testing.assert_array_equal(m, moves[i].numpy(), err_msg=f"match {i}, round {t}")
            worst = max(worst, float(np.abs(f - feats[i].double().numpy()).max()), float(np.abs(g - glob[i].double().numpy()).max()))
            score.update(int(mine[i, t]), int(theirs[i, t]))
        features.update(torch.from_numpy(mine[:, t]), torch.from_numpy(theirs[:, t]))
    assert worst < 1e-5, worst
    assert np.abs(glob[:, :-1].numpy()).max() > 0.1  # the averages moved away from zero: not a vacuous comparison


def test_features_check_their_arguments_and_order():
    with pytest.raises(ValueError, match="rounds must be an integer >= 1, got 0"):
        ExpertFeatures(2, 0)
    with pytest.raises(ValueError, match=r"horizons must be decays in \[0, 1\)"):
        ExpertFeatures(2, 5, horizons=(0.5, 1.0))
    f = ExpertFeatures(1, 2)
    with pytest.raises(RuntimeError, match="call features\\(\\) before update\\(\\)"):
        f.update(torch.tensor([0]), torch.tensor([1]))
    for _ in range(2):
        f.features()
        f.update(torch.tensor([0]), torch.tensor([1]))
    f.features()
    with pytest.raises(RuntimeError, match="the history holds 2 rounds"):
        f.update(torch.tensor([0]), torch.tensor([1]))


def test_policy_is_a_distribution_and_the_mixture_of_its_experts():
    torch.manual_seed(0)
    policy = ExpertMixturePolicy(7, 13, 3, hidden=8)
    for p in policy.parameters():  # away from the zero start
        torch.nn.init.normal_(p, std=1.0)
    moves = torch.randint(-1, 3, (4, 5, 30))  # [N, T, J], -1: no move
    feats, glob = torch.randn(4, 5, 30, 7), torch.randn(4, 5, 13)
    logp = policy(moves, feats, glob)
    assert logp.shape == (4, 5, 3)
    probs = logp.exp()
    assert torch.all(probs >= 0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, 5))
    w = policy.weights(feats, glob)
    expected = (w[..., :-1, None] * expert_onehots(moves, 3)).sum(-2) + w[..., -1:] / 3
    torch.testing.assert_close(probs, expected)
    # per round, the same numbers as a whole batch
    torch.testing.assert_close(policy(moves[:, 2], feats[:, 2], glob[:, 2]), logp[:, 2])
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 5))
    # at the start (output layers zero) every expert weighs the same, and half the play is uniform
    fresh = ExpertMixturePolicy(7, 13, 3, hidden=8)
    torch.testing.assert_close(fresh.weights(feats, glob), torch.cat([torch.full((4, 5, 30), 0.5 / 30), torch.full((4, 5, 1), 0.5)], -1))
    with pytest.raises(ValueError, match="features of width 6 and 13, but the policy reads 7 per expert and 13 global"):
        policy(moves, feats[..., :6], glob)


def test_random_population_is_the_librarys_families_only():
    rng = random.Random(3)
    specs = [random_spec(rng) for _ in range(300)]
    for spec in specs:
        make_opponent(spec)  # builds: a valid spec of a registered family
        assert not spec.startswith(("roshambo", "kaggle", "mind-reader", "best-response"))
    assert len({s.split(":")[0] for s in specs}) == 12
    assert random_population(random.Random(1), 4) == random_population(random.Random(1), 4)


def test_baseline_removes_the_agents_own_draw_and_keeps_the_level():
    """b_t = E_pi[M[A, O_t]]: with gamma = 0 the advantage is r_t - E_pi[r_t | O_t], zero on average over the agent's draw."""
    policy = ExpertMixturePolicy(7, 13, 3)
    batch = play(policy, "mixed:probs=0.6,0.2,0.2", 8, 10, seed=0)
    payoff = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]])
    adv = advantages(batch, payoff, 0.0)
    expected = (batch.probs * payoff[:, batch.opponent_moves].permute(1, 2, 0)).sum(-1)
    torch.testing.assert_close(adv, batch.rewards - expected)
    torch.testing.assert_close(expected, torch.zeros(8, 10), atol=1e-6, rtol=0)  # the fresh policy is uniform: nothing to expect


def _score(policy, seed: int) -> tuple[float, float]:
    batch = play(policy, "cycle", 64, 40, seed=seed)
    return mean_se(batch.rewards.double().mean(1))


def test_short_training_beats_an_exploitable_opponent():
    """A few policy-gradient steps against a cycle raise the reward from ~0 (the uniform mixture) well above it."""
    config = ExpertTrainConfig(
        rounds=40, batch=16, iterations=8, lr=0.05, hidden=8, population="cycle", mind_reader=0.0, switch=0.0, rotate=False, eval_every=0
    )
    trainer = ExpertTrainer(config)
    before, se_before = _score(trainer.policy, 99)
    for _ in range(config.iterations):
        trainer.step()
    after, se_after = _score(trainer.policy, 99)
    assert abs(before) < 4 * se_before + 0.02
    assert after - before > 4 * math.hypot(se_before, se_after) and after > 0.3


def test_agent_plays_its_policy_and_round_trips_through_a_file(tmp_path):
    torch.manual_seed(1)
    policy = ExpertMixturePolicy(7, 13, 3, hidden=8)
    for p in policy.parameters():
        torch.nn.init.normal_(p, std=0.5)
    path = save_expert(str(tmp_path / "expert.pt"), policy, ExpertTrainConfig(hidden=8), 3)
    loaded, config = load_expert(path)
    assert config.hidden == 8
    agent = ExpertAgent.load(path)
    agent.reset(7)
    features = ExpertFeatures(1, 50)
    last = None
    for t in range(30):
        move = agent.act(last)
        moves, feats, glob = features.features()
        np.testing.assert_allclose(agent.last_probs, loaded(moves, feats, glob).exp()[0].tolist(), atol=1e-6)
        last = t % 3
        features.update(torch.tensor([move]), torch.tensor([last]))
    torch.save({"format": FORMAT, "version": VERSION, "kind": "policy"}, str(tmp_path / "other.pt"))
    with pytest.raises(ValueError, match="is not an expert-mixture checkpoint"):
        load_expert(str(tmp_path / "other.pt"))
    torch.save({"kind": EXPERT_KIND}, str(tmp_path / "untagged.pt"))
    with pytest.raises(ValueError, match="not a policygrad checkpoint"):
        load_expert(str(tmp_path / "untagged.pt"))


def test_the_shipped_agent_loads_and_exploits_a_cycle_and_falls_back_against_the_mind_reader():
    """The shipped weights (agents/expert-meta.toml): a cycle is read within a 100-round match; a mind reader takes far less than from pure play (1 a round)."""
    agent = expert_meta_player()
    policy, config = load_expert(EXPERT_META_CHECKPOINT)
    features = dict(least_order=config.least_order, horizons=config.horizons)  # as trained
    cycle = play(policy, "cycle", 16, 100, seed=5, **features).rewards.double().mean(1)
    mean, se = mean_se(cycle)
    assert mean - 4 * se > 0.7
    reader = play(policy, "mixed", 16, 200, seed=5, mind_reader=1.0, **features).rewards.double().mean(1)
    mean, se = mean_se(reader)
    assert mean + 4 * se > -0.15  # measured -0.08 per round over 1000-round matches (benchmarks/expert_meta.py exploit)
    agent.reset(0)
    moves = [agent.act(None)] + [agent.act(t % 3) for t in range(20)]
    assert all(0 <= m < 3 for m in moves) and abs(sum(agent.last_probs) - 1) < 1e-6
