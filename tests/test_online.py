"""The online agent: policy gradient over experts within one match."""

import math

import numpy as np
import pytest
import torch

from policygrad.engine import Engine
from policygrad.online import OnlineAgent


def play(agent, opponent, rounds, seed=0):
    engine = Engine(opponent, n=1, rounds=rounds, context=0, seed=seed)
    engine.reset()
    agent.reset(seed)
    last, rewards = None, []
    for _ in range(rounds):
        move = agent.act(last)
        assert math.isclose(sum(agent.last_probs), 1.0, abs_tol=1e-9) and min(agent.last_probs) >= 0
        _, r, _, info = engine.step(torch.tensor([move]))
        last = int(info["opponent_move"][0])
        rewards.append(float(r[0]))
    return np.array(rewards)


@pytest.mark.parametrize("opponent", ["constant", "cycle", "mirror", "beat-last", "win-stay-lose-shift"])
def test_it_learns_to_beat_simple_opponents_within_a_match(opponent):
    r = play(OnlineAgent(), opponent, 300)
    assert r[100:].mean() > 0.85, r[100:].mean()


def test_against_uniform_random_it_cannot_win_or_lose_significantly():
    r = np.concatenate([play(OnlineAgent(), "mixed", 300, seed=s) for s in range(4)])
    se = r.std() / math.sqrt(len(r))
    assert abs(r.mean()) < 4 * se + 1e-9


def test_same_seed_same_play_and_the_logits_stay_bounded():
    a, b = OnlineAgent(), OnlineAgent()
    assert np.array_equal(play(a, "frequency", 100, seed=3), play(b, "frequency", 100, seed=3))
    assert np.abs(a.theta).max() <= a.bound()


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay must be in"):
        OnlineAgent(decay=1.0)
    agent = OnlineAgent()
    agent.act(None)
    with pytest.raises(ValueError, match="last_opponent_move must be a move in 0..2"):
        agent.act(5)
