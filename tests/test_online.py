"""The online agent: policy gradient over experts within one match."""

import math

import numpy as np
import pytest
import torch

from policygrad.engine import Engine
from policygrad.online import OnlineAgent


def play(agent, opponent, rounds, seed=0):
    engine = Engine(opponent, n=1, rounds=rounds, context=0, seed=seed, game=agent.game)
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


def test_other_games_too():
    r = play(OnlineAgent("rpsls"), "cycle:period=5", 200)  # rock-paper-scissors-lizard-spock: 5 rotations per predictor
    assert r[100:].mean() > 0.85, r[100:].mean()


def test_against_uniform_random_it_cannot_win_or_lose_significantly():
    r = np.concatenate([play(OnlineAgent(), "mixed", 300, seed=s) for s in range(4)])
    se = r.std() / math.sqrt(len(r))
    assert abs(r.mean()) < 4 * se + 1e-9


def test_same_seed_same_play_and_the_logits_stay_bounded():
    a, b = OnlineAgent(), OnlineAgent()
    assert np.array_equal(play(a, "frequency", 100, seed=3), play(b, "frequency", 100, seed=3))
    assert not np.array_equal(play(a, "mixed", 100, seed=3), play(b, "mixed", 100, seed=4))
    for logits in (a.theta, a.phi, a.psi):  # every layer
        assert np.abs(logits).max() <= a.bound()
    assert a.theta.shape == (7, a.num_experts) and a.num_experts == 369 and a.phi.shape == (16,)


@pytest.mark.parametrize("opponent, floor", [("markov:order=2", 0.45), ("frequency", 0.45), ("pattern", 0.15)])
def test_it_beats_adaptive_predictors_of_the_library(opponent, floor):
    # opponents that model the agent's moves: its experts that predict its own moves reply to them
    # (4 matches: one 300-round match scatters by about 0.05 around its mean, pattern's by more)
    r = np.concatenate([play(OnlineAgent(), opponent, 300, seed=s) for s in range(4)])
    assert r.mean() > floor, r.mean()


def test_an_opponent_that_sees_its_probabilities_takes_almost_nothing():
    # a white-box opponent best-responds to the very distribution the agent draws from: any
    # preference costs the agent, and the layers above the experts pull its play toward uniform
    payoff = OnlineAgent().payoff
    agent, rng = OnlineAgent(), np.random.default_rng(0)
    agent.reset(0)
    last, conceded = None, []
    for _ in range(300):
        agent.act(last)
        value = -(np.array(agent.last_probs) @ payoff)  # the opponent's expected payoff of each move
        conceded.append(value.max())
        last = int(rng.choice(np.flatnonzero(value >= value.max() - 1e-12)))
    conceded = np.array(conceded)
    assert conceded.mean() < 0.02 and conceded[100:].max() < 0.03, (conceded.mean(), conceded[100:].max())  # the old one-layer agent: 0.16, 0.46
    assert agent.safety[1] > 0.5  # the third layer leans on its uniform option


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay must be in"):
        OnlineAgent(decay=1.0)
    with pytest.raises(ValueError, match="decay must be in"):
        OnlineAgent(safety_decay=1.0)
    with pytest.raises(ValueError, match="lr and decay must have one value or the same number"):
        OnlineAgent(lr=(1.0, 2.0), decay=(0.5, 0.9, 0.99))
    assert OnlineAgent(lr=0.5, decay=(0.9, 0.99)).lr.tolist() == [0.5, 0.5]
    agent = OnlineAgent()
    agent.act(None)
    with pytest.raises(ValueError, match="last_opponent_move must be a move in 0..2"):
        agent.act(5)


def test_it_beats_a_noisy_opponent_that_keeps_its_counts_flat():
    """Half the time the opponent plays its least played move (ties at random), else a uniform one: its
    frequencies stay flat and its n-grams near uniform. The least-frequent predictors (least_order=0)
    read it; the agent without them (least_order=-1) takes clearly less."""

    def against_flat(agent, rounds=1000, seed=0):
        rng, counts = np.random.default_rng(seed), np.zeros(3)
        agent.reset(seed)
        last, rewards = None, []
        for _ in range(rounds):
            move = agent.act(last)
            last = int(rng.choice(np.flatnonzero(counts == counts.min()))) if rng.random() < 0.5 else int(rng.integers(3))
            counts[last] += 1
            rewards.append(float(agent.payoff[move, last]))
        return np.array(rewards)

    with_least = np.concatenate([against_flat(OnlineAgent(), seed=s) for s in range(3)])
    without = np.concatenate([against_flat(OnlineAgent(least_order=-1), seed=s) for s in range(3)])
    se = math.sqrt(with_least.var() / len(with_least) + without.var() / len(without))
    assert with_least.mean() - without.mean() > 3 * se, (with_least.mean(), without.mean(), se)  # 0.250 and 0.130, se 0.021


def against_biased(agent, probs, seed, rounds=1000):
    """The mean exact expected reward per round (probs . M[:, o]) against an i.i.d. opponent playing ``probs``."""
    rng = np.random.default_rng(1000 + seed)
    agent.reset(seed)
    last, taken = None, 0.0
    for _ in range(rounds):
        agent.act(last)
        last = int(rng.choice(3, p=probs))
        taken += float(np.asarray(agent.last_probs) @ agent.payoff[:, last])
    return taken / rounds


def paired_gain(settings, baseline, matches=12):
    """Mean and standard error of the paired difference, settings minus baseline, over slightly biased matches."""
    gain = []
    for s in range(matches):
        probs = np.roll([0.45, 0.3, 0.25] if s % 2 == 0 else [0.4, 0.3, 0.3], s)
        gain.append(against_biased(OnlineAgent(**settings), probs, s) - against_biased(OnlineAgent(**baseline), probs, s))
    return float(np.mean(gain)), float(np.std(gain, ddof=1) / math.sqrt(len(gain)))


def test_the_whole_match_scorer_finds_a_weak_steady_bias():
    """An i.i.d. opponent with a slight bias (one move 0.4 or 0.45): its best static reply takes 0.1 to 0.2 a
    round, an edge the 100-round scorers lose among 369 experts' noise. The seventh scorer (Hedge over the
    whole match) adds to the exact expected reward of every round, paired by seed against the agent
    without it (both without the frequency option, which finds the same edge): 0.028 a round, se 0.007 over 12 matches."""
    six = dict(lr=(2.0, 1.0, 0.5, 0.3, 0.6, 0.15), decay=(0.5, 0.8, 0.9, 0.95, 0.98, 0.99))
    assert OnlineAgent().lr.tolist()[:6] == list(six["lr"]) and OnlineAgent().decay.tolist()[:6] == list(six["decay"])
    mean, se = paired_gain(dict(frequency_option=False), dict(six, frequency_option=False))
    assert mean > 3 * se, (mean, se)


def test_the_frequency_option_finds_a_weak_steady_bias_sooner():
    """The reply to the opponent's move frequencies as a second-layer option of its own: chosen among 16
    options instead of 369 experts, a slight bias's edge stands out of the noise sooner. Paired by seed
    against the agent without it, over the same 12 matches: 0.027 a round, se 0.005."""
    mean, se = paired_gain({}, dict(frequency_option=False))
    assert mean > 3 * se, (mean, se)


def test_the_frequency_option_plays_the_reply_to_the_most_frequent_move():
    # rock 5 times, then paper 3 times: counted over the match (or decayed by 0.95 a round) rock leads and the
    # reply is paper; decayed by 0.6, paper leads and the reply is scissors. The lane reads the largest decay.
    for decays, reply in (((1.0, 0.9, 0.6), 1), ((0.6, 0.95), 1), ((0.6,), 2)):
        agent = OnlineAgent(count_decays=decays)
        assert agent.num_options == 16 and OnlineAgent(frequency_option=False).num_options == 15
        agent.reset(0)
        last = None
        for them in [0, 0, 0, 0, 0, 1, 1, 1]:
            agent.act(last)
            last = them
        agent.act(last)
        np.testing.assert_array_equal(agent.options[-1], np.eye(3)[reply], err_msg=f"count_decays {decays}")
    with pytest.raises(ValueError, match="frequency_option must be True or False, got 'no'"):
        OnlineAgent(frequency_option="no")


def test_least_frequent_predictors_come_after_the_n_grams_and_change_nothing_else():
    a, b = OnlineAgent(least_order=-1), OnlineAgent()
    extra = b.num_predictors - a.num_predictors
    assert extra == 2 * 3  # both sides, 3 count decays, the order-0 table
    n_grams = 2 * 3 * len(a.predictors.tables)
    rng = np.random.default_rng(1)
    a.reset(0)
    b.reset(0)
    for t in range(80):
        pa, pb = a.predictions(), b.predictions()
        np.testing.assert_array_equal(np.delete(pb, np.arange(n_grams, n_grams + extra)), pa, err_msg=f"round {t}")
        me, them = (int(x) for x in rng.integers(0, 3, 2))
        a.predictors.push(me, them)
        b.predictors.push(me, them)
    with pytest.raises(ValueError, match="least_order must be an integer in -1..orders"):
        OnlineAgent(least_order=7)


def _predictions_along(agent, mine, theirs):
    """[T, P] the agent's predictions before each round of the given history."""
    agent.reset(0)
    out = []
    for me, them in zip(mine, theirs):
        out.append(agent.predictions())
        agent.predictors.push(int(me), int(them))
    return np.array(out)


def test_best_tie_replies_do_not_depend_on_how_the_moves_are_numbered():
    """Renaming the moves by the rotation x -> beats(x) (rock -> paper -> scissors -> rock) keeps RPS as it
    is, so a predictor that reads the history, not the labels, renames its replies the same way. With
    ties = "best" every predictor does (the constant aside); with "first" the replies to tied counts
    follow the move order and break it."""
    rng = np.random.default_rng(4)
    mine, theirs = rng.integers(0, 3, 200), rng.choice(3, 200, p=[0.5, 0.25, 0.25])
    renamed = {}
    for ties in ("best", "first"):
        plain = _predictions_along(OnlineAgent(ties=ties), mine, theirs)[:, :-1]  # the last predictor: the constant move
        turned = _predictions_along(OnlineAgent(ties=ties), (mine + 1) % 3, (theirs + 1) % 3)[:, :-1]
        renamed[ties] = np.where(plain >= 0, (plain + 1) % 3, -1) == turned
    assert renamed["best"].all()
    assert not renamed["first"].all() and renamed["first"].mean() > 0.8, renamed["first"].mean()


def test_best_tie_replies_on_a_crafted_history():
    """The opponent has played rock and scissors once each, paper twice: its least played moves are rock
    and scissors. "first" takes rock and replies paper (0 against the tied pair); "best" replies rock,
    which ties rock and beats scissors. Its most played move, paper, is unique: scissors either way."""
    least = 2 * 3 * len(OnlineAgent().predictors.tables)  # the first least-frequent predictor: the opponent's, count decay 1
    for ties, reply in (("best", 0), ("first", 1)):
        agent = OnlineAgent(ties=ties)
        agent.reset(0)
        for me, them in ((0, 0), (0, 1), (0, 2), (0, 1)):
            agent.predictions()
            agent.predictors.push(me, them)
        p = agent.predictions()
        assert p[least] == reply and p[0] == 2, (ties, p[least], p[0])
    with pytest.raises(ValueError, match="ties must be one of first, best, got 'last'"):
        OnlineAgent(ties="last")
