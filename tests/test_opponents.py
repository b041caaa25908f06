"""Opponents: exact behaviour of each one (sequences worked out by hand in the comments), the
registry and its errors, and one contract test run over the whole registry.

Moves: 0 rock, 1 paper, 2 scissors. Paper beats rock, scissors beats paper, rock beats scissors.
"""

import importlib
import math
import sys

import pytest
import torch

from policygrad.engine import Engine
from policygrad.games import make_game
from policygrad.opponents import OPPONENTS, REGISTRY, WhiteBox, attach_policy, check_spec, describe_opponents, make_opponent, split_specs
from policygrad.opponents.fixed import Constant
from policygrad.opponents.mix import Mix
from policygrad.opponents.predictive import Markov
from policygrad.opponents.spec import parse_spec
from policygrad.opponents.whitebox import BestResponse, MindReader, PolicyOpponent
from policygrad.policies import GRUPolicy, TabularPolicy
from policygrad.tensors import TableRows, batched_zeros, match_last, sample

R, P, S = 0, 1, 2
UNIFORM = [1 / 3, 1 / 3, 1 / 3]
ROCK, PAPER, SCISSORS = [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]


def play(spec, agent, forced=None, n=1, game="rps", dtype=torch.float64, seed=0):
    """Play one agent sequence (the same in all n matches) against ``spec``.

    ``forced``: the opponent's moves to force with step_forced (None: drawn by the engine).
    Returns (opponent moves [T] of match 0, agent rewards [N, T], opponent probs [T, A] of match 0).
    """
    e = Engine(spec, n=n, rounds=len(agent), context=1, game=game, dtype=dtype, seed=seed)
    e.reset()
    opp, rewards, probs = [], [], []
    for t, a in enumerate(agent):
        a_N = torch.full((n,), a, dtype=torch.long)
        if forced is None:
            _, r, _, info = e.step(a_N)
        else:
            _, r, _, info = e.step_forced(a_N, torch.full((n,), forced[t], dtype=torch.long))
        opp.append(int(info["opponent_move"][0]))
        rewards.append(r)
        probs.append(info["opponent_probs"][0])
    return opp, torch.stack(rewards, 1), torch.stack(probs)


def cycle(t_rounds, step=1):
    """The agent cycles rock, paper, scissors (step=1) or rock, scissors, paper (step=-1)."""
    return [(step * t) % 3 for t in range(t_rounds)]


def assert_probs(probs_TA, expected_rows):
    assert torch.allclose(probs_TA, torch.tensor(expected_rows, dtype=probs_TA.dtype), atol=1e-12), probs_TA


# -- opponents that ignore the agent ------------------------------------------------------------------


def test_constant():
    opp, r, probs = play("constant:move=2", [R, P, S, R])
    assert opp == [S, S, S, S]
    assert r[0].tolist() == [1, -1, 0, 1]  # rock beats scissors, paper loses, tie, rock wins
    assert_probs(probs, [SCISSORS] * 4)
    assert play("constant:move=4", [0, 1], game="rpsls")[0] == [4, 4]


def test_mixed_plays_its_fixed_distribution():
    _, _, probs = play("mixed:probs=0.2,0.3,0.5", [R] * 3)
    assert_probs(probs, [[0.2, 0.3, 0.5]] * 3)
    _, _, probs = play("mixed", [R] * 2, game="rpsls")
    assert_probs(probs, [[0.2] * 5] * 2)


def test_cycle():
    assert play("cycle", [R] * 7)[0] == [0, 1, 2, 0, 1, 2, 0]
    assert play("cycle:offset=1", [R] * 4)[0] == [1, 2, 0, 1]
    assert play("cycle:period=2", [R] * 5)[0] == [0, 1, 0, 1, 0]
    assert play("cycle:period=5", [R] * 6, game="rpsls")[0] == [0, 1, 2, 3, 4, 0]


@pytest.mark.parametrize("spec", ["constant:move=1", "mixed:probs=0.1,0.6,0.3", "cycle"])
def test_non_adaptive_opponents_ignore_the_agent(spec):
    assert not REGISTRY[parse_spec(spec)[0]].adaptive
    agent1 = torch.randint(0, 3, (8,), generator=torch.Generator().manual_seed(0)).tolist()
    agent2 = torch.randint(0, 3, (8,), generator=torch.Generator().manual_seed(1)).tolist()
    assert torch.equal(play(spec, agent1)[2], play(spec, agent2)[2])


# -- reactive opponents -----------------------------------------------------------------------------------


def test_mirror_against_cycle():
    # Mirror copies the agent's last move. Against R, P, S, R, ... it plays the move the agent just
    # left, which the agent's next move beats (P beats R, S beats P, R beats S): +1 from round 2.
    # Round 1 has no last round: uniform.
    opp, r, probs = play("mirror", cycle(9), n=4)
    assert opp[1:] == cycle(9)[:-1]
    assert torch.equal(r[:, 1:], torch.ones(4, 8, dtype=r.dtype))
    assert_probs(probs[:3], [UNIFORM, ROCK, PAPER])
    # Against the reverse cycle R, S, P, ... the last move beats the next one: -1 from round 2.
    _, r, _ = play("mirror", cycle(9, -1), n=4)
    assert torch.equal(r[:, 1:], -torch.ones(4, 8, dtype=r.dtype))


def test_beat_last_against_cycle():
    # Beat-last plays what beats the agent's last move. Against R, P, S, ... that is exactly the
    # agent's next move: a tie every round from round 2.
    opp, r, probs = play("beat-last", cycle(9), n=4)
    assert opp[1:] == cycle(9)[1:]
    assert torch.equal(r[:, 1:], torch.zeros(4, 8, dtype=r.dtype))
    assert_probs(probs[:4], [UNIFORM, PAPER, SCISSORS, ROCK])
    # Against R, S, P, ...: after R it plays P, the agent plays S and wins: +1 from round 2.
    _, r, _ = play("beat-last", cycle(9, -1), n=4)
    assert torch.equal(r[:, 1:], torch.ones(4, 8, dtype=r.dtype))


def test_win_stay_lose_shift_sequence():
    # Round 1 forced to rock, then the opponent's own rule (shift = play what beats the agent's last):
    # round  agent  opp  result for opp          next opp
    #   1     R      R    tie   -> shift         beats(R) = P
    #   2     R      P    win   -> stay          P
    #   3     P      P    tie   -> shift         beats(P) = S
    #   4     P      S    win   -> stay          S
    #   5     S      S    tie   -> shift         beats(S) = R
    #   6     P      R    loss  -> shift         beats(P) = S
    #   7     R      S    loss  -> shift         beats(R) = P
    #   8     S      P    loss  -> shift         beats(S) = R
    agent = [R, R, P, P, S, P, R, S]
    expected_opp = [R, P, P, S, S, R, S, P]
    opp, r, _ = _wsls("win-stay-lose-shift", agent)
    assert opp == expected_opp
    assert r[0].tolist() == [0, -1, 0, -1, 0, 1, 1, 1]
    # tie=stay: ties keep the move.
    # round  agent  opp  result for opp          next opp
    #   1     R      R    tie   -> stay          R
    #   2     R      R    tie   -> stay          R
    #   3     P      R    loss  -> shift         beats(P) = S
    #   4     P      S    win   -> stay          S
    #   5     S      S    tie   -> stay          S
    #   6     P      S    win   -> stay          S
    #   7     R      S    loss  -> shift         beats(R) = P
    #   8     S      P    loss
    opp, r, _ = _wsls("win-stay-lose-shift:tie=stay", agent)
    assert opp == [R, R, R, S, S, S, S, P]
    assert r[0].tolist() == [0, 0, 1, -1, 0, -1, 1, 1]


def _wsls(spec, agent):
    """Force round 1's opponent move to rock; after that the opponent is deterministic."""
    e = Engine(spec, n=1, rounds=len(agent), dtype=torch.float64)
    e.reset(0)
    opp, rewards = [], []
    for t, a in enumerate(agent):
        if t == 0:
            _, r, _, info = e.step_forced(torch.tensor([a]), torch.tensor([R]))
        else:
            assert e.opponent_probs.max() == 1  # one-hot: no randomness after round 1
            _, r, _, info = e.step(torch.tensor([a]))
        opp.append(int(info["opponent_move"]))
        rewards.append(float(r))
    return opp, torch.tensor([rewards]), None


# -- predictive opponents -----------------------------------------------------------------------------------


def test_frequency_against_always_rock():
    # Fictitious play: after round 1 rock is the agent's most frequent move, so it plays paper from
    # round 2 on and the agent scores -1 per round from then. Round 1 (no data): uniform.
    opp, r, probs = play("frequency", [R] * 10, n=8)
    assert opp[1:] == [P] * 9
    assert torch.equal(r[:, 1:], -torch.ones(8, 9, dtype=r.dtype))
    assert_probs(probs, [UNIFORM] + [PAPER] * 9)


def test_frequency_ties_and_decay():
    # After R, P the counts tie (1, 1, 0): the prediction is 50/50 R/P, whose best response is paper
    # (expected payoff: rock -1/2, paper +1/2, scissors 0).
    assert_probs(play("frequency", [R, P, R])[2], [UNIFORM, PAPER, PAPER])
    # After R, R, P: counts (2, 1, 0) -> beat rock -> paper. With decay 0.4 the counts are
    # (1) -> (1.4) -> (0.56, 1, 0): paper is the mode -> scissors.
    assert_probs(play("frequency", [R, R, P, R])[2][3:], [PAPER])
    assert_probs(play("frequency:decay=0.4", [R, R, P, R])[2][3:], [SCISSORS])
    # decay 0: only the last move counts.
    assert_probs(play("frequency:decay=0", [R, R, P, S, R])[2][1:], [PAPER, PAPER, SCISSORS, ROCK])


@pytest.mark.parametrize(
    "spec, agent, first_exploited",
    [
        # order 1 against R, P, S, ...: the transitions R->P, P->S, S->R are seen in rounds 2, 3, 4;
        # round 5 follows R again, so from round 5 it predicts each next move and beats it.
        ("markov", cycle(12), 5),
        # order 2 against R, R, P, P, ...: the four contexts RR, RP, PP, PR are first seen in rounds
        # 3-6 (each followed by one fixed move) and recur from round 7.
        ("markov:order=2", [R, R, P, P] * 3, 7),
        # order 3 against the same: contexts RRP, RPP, PPR, PRR first seen in rounds 4-7, recur from 8.
        ("markov:order=3", [R, R, P, P] * 3, 8),
    ],
)
def test_markov_learns_the_agents_transitions(spec, agent, first_exploited):
    opp, r, probs = play(spec, agent, n=4)
    k = first_exploited - 1
    assert_probs(probs[:k], [UNIFORM] * k)  # unseen context: the prediction is flat, the reply uniform
    assert opp[k:] == [(a + 1) % 3 for a in agent[k:]]  # beats the agent's actual move
    assert torch.equal(r[:, k:], -torch.ones(4, len(agent) - k, dtype=r.dtype))


def test_markov_decay_forgets_old_transitions():
    # Agent R, P, R, P, R, S, R: after R it played P, P, then S. In round 8 the context is R.
    # No decay: row R = (0, 2, 1) -> predicts P -> scissors.
    # decay 0.1 (applied to row R whenever it is updated): (0,1,0) -> (0,1.1,0) -> (0,0.11,1)
    # -> predicts S -> rock.
    agent = [R, P, R, P, R, S, R, R]
    assert_probs(play("markov", agent)[2][7:], [SCISSORS])
    assert_probs(play("markov:decay=0.1", agent)[2][7:], [ROCK])


def test_pattern():
    # Against R, P, S, ... with repeats=2 the period 3 is confirmed once 6 moves are in (the windows
    # for periods 1 and 2 never repeat): round 7 on, it predicts the move 3 rounds back and beats it.
    opp, r, probs = play("pattern", cycle(12), n=2)
    assert_probs(probs[:6], [UNIFORM] * 6)
    assert torch.equal(r[:, 6:], -torch.ones(2, 6, dtype=r.dtype))
    # Always rock: period 1 is confirmed after 2 rounds -> paper from round 3.
    opp, r, probs = play("pattern", [R] * 6)
    assert_probs(probs, [UNIFORM, UNIFORM] + [PAPER] * 4)
    # repeats=3 needs 9 moves: exploited from round 10. max-period=2 never sees a period-3 cycle.
    _, r, probs = play("pattern:repeats=3", cycle(12))
    assert_probs(probs[:9], [UNIFORM] * 9)
    assert r[0, 9:].tolist() == [-1, -1, -1]
    _, _, probs = play("pattern:max-period=2", cycle(12))
    assert_probs(probs, [UNIFORM] * 12)


@pytest.mark.parametrize("max_period, repeats", [(4, 2), (3, 3), (1, 2)])
def test_pattern_matches_the_window_definition(max_period, repeats):
    # The oracle, match by match: the shortest p <= max-period whose cycle fills the last p * repeats
    # moves (each block of p equal to the last one) predicts the move p rounds back; it is beaten.
    # The agents mostly repeat the move `lag` rounds back, so cycles of every period show up and break.
    n, rounds, g = 300, 40, torch.Generator().manual_seed(max_period * 10 + repeats)
    lag = torch.randint(1, max_period + 2, (n,), generator=g)
    opp = make_opponent(f"pattern:max-period={max_period},repeats={repeats}")
    opp.reset(n, make_game("rps"), dtype=torch.float64)
    history: list[list[int]] = [[] for _ in range(n)]
    predicted_any = 0
    for t in range(rounds):
        probs = opp.probs()
        for i in range(n):
            h, want = history[i], None
            for p in range(max_period, 0, -1):
                w = h[len(h) - p * repeats :]
                if len(h) >= p * repeats and all(w[j] == w[j % p + (repeats - 1) * p] for j in range(len(w))):
                    want = h[-p]
            expected = torch.full((3,), 1 / 3, dtype=torch.float64) if want is None else torch.eye(3, dtype=torch.float64)[(want + 1) % 3]
            assert torch.allclose(probs[i], expected), (t, i, h, want)
            predicted_any += want is not None
        moves = [
            h[-int(lag[i])] if len(h) >= lag[i] and torch.rand(1, generator=g) < 0.85 else int(torch.randint(0, 3, (1,), generator=g))
            for i, h in enumerate(history)
        ]
        for i, m in enumerate(moves):
            history[i].append(m)
        opp.update(torch.zeros(n, dtype=torch.long), torch.tensor(moves))
    assert predicted_any > n * rounds // 3  # the check saw predictions, not only flat replies


def test_exploiter_best_responds_to_the_empirical_distribution():
    # context=0: counts after R, R, R, S, S are (3, 0, 2). Expected payoff of each reply:
    # rock 0*3 - 1*0 + 1*2 = 2, paper 3 - 2 = 1, scissors -3 -> rock. Frequency (which beats the
    # mode, rock) plays paper here.
    agent = [R, R, R, S, S, R]
    assert_probs(play("exploiter:context=0", agent)[2][5:], [ROCK])
    assert_probs(play("frequency", agent)[2][5:], [PAPER])


def test_exploiter_conditions_on_the_last_round():
    # context=1, opponent forced to rock. Agent R, P, R, P: round 2's context (R, R) is new; round
    # 3's (P, R) is new; round 4's (R, R) was followed by P in round 2 -> beats P -> scissors.
    _, _, probs = play("exploiter", [R, P, R, P], forced=[R] * 4)
    assert_probs(probs, [UNIFORM, UNIFORM, UNIFORM, SCISSORS])
    # context=0 pools the rounds: counts (2, 1, 0) before round 4 -> paper.
    _, _, probs = play("exploiter:context=0", [R, P, R, P], forced=[R] * 4)
    assert_probs(probs[3:], [PAPER])


# -- learning opponents ------------------------------------------------------------------------------


def test_q_learner_context_0_by_hand():
    # One state; Q(o) <- Q(o) + alpha (r + gamma max Q - Q(o)); r = M[own, agent]. alpha 0.5.
    # gamma 0, epsilon 0:
    #   round 1: own R, agent S, r = +1: Q_R = 0.5 -> greedy rock
    #   round 2: own R, agent P, r = -1: Q_R = 0.5 + 0.5 (-1 - 0.5) = -0.25 -> P and S tie at 0
    #   round 3: own S, agent P, r = +1: Q_S = 0.5 -> scissors
    spec = "q-learner:context=0,epsilon=0,alpha=0.5,gamma=0"
    _, _, probs = play(spec, [S, P, P, R], forced=[R, R, S, R])
    assert_probs(probs, [UNIFORM, ROCK, [0, 0.5, 0.5], SCISSORS])
    # gamma 0.5, epsilon 0.3 (probs = 0.3/3 + 0.7 greedy):
    #   round 1: target 1 + 0.5 * 0 -> Q_R = 0.5
    #   round 2: target -1 + 0.5 * 0.5 = -0.75 -> Q_R = 0.5 + 0.5 (-0.75 - 0.5) = -0.125
    spec = "q-learner:context=0,epsilon=0.3,alpha=0.5,gamma=0.5"
    e = Engine(spec, n=1, rounds=3, dtype=torch.float64)
    e.reset(0)
    e.step_forced(torch.tensor([S]), torch.tensor([R]))
    assert_probs(e.opponent_probs, [[0.8, 0.1, 0.1]])
    e.step_forced(torch.tensor([P]), torch.tensor([R]))
    assert e.opponent.table[0, 0].tolist() == [-0.125, 0, 0]
    assert_probs(e.opponent_probs, [[0.1, 0.45, 0.45]])


def test_q_learner_context_1_updates_the_state_it_acted_in():
    # States: 0 empty, 1 + (3 a + o) after a round. alpha 0.5, gamma 0.5, epsilon 0.
    #   round 1 in state 0: own R, agent S (r +1), next state 1 + 6 = 7: Q[0, R] = 0.5 (1 + 0) = 0.5
    #   round 2 in state 7: own R, agent P (r -1), next state 1 + 3 = 4: Q[7, R] = -0.5
    #   round 3 in state 4: own R, agent S (r +1), next state 7, max Q[7] = 0: Q[4, R] = 0.5
    #   round 4 in state 7: Q[7] = (-0.5, 0, 0) -> paper and scissors tie
    spec = "q-learner:context=1,epsilon=0,alpha=0.5,gamma=0.5"
    e = Engine(spec, n=1, rounds=4, dtype=torch.float64)
    e.reset(0)
    for a in (S, P, S):
        e.step_forced(torch.tensor([a]), torch.tensor([R]))
    q = e.opponent.table[0]
    assert q.shape == (10, 3)
    assert q[0].tolist() == [0.5, 0, 0] and q[7].tolist() == [-0.5, 0, 0] and q[4].tolist() == [0.5, 0, 0]
    assert q.abs().sum() == 1.5
    assert_probs(e.opponent_probs, [[0, 0.5, 0.5]])


def test_pg_learner_by_hand():
    # theta <- theta + lr (r - b) (onehot(own) - pi); b <- b + rate (r - b). lr 1, rate 0.5, context 0.
    #   round 1: pi uniform, own R, agent S, r = +1, b = 0: theta = (2/3, -1/3, -1/3); b = 0.5
    #            pi = softmax(theta) = (e, 1, 1) / (e + 2)
    #   round 2: own P, agent P, r = 0: theta -= 0.5 (onehot(P) - pi); b = 0.25
    spec = "pg-learner:context=0,lr=1,baseline-rate=0.5"
    e = Engine(spec, n=1, rounds=3, dtype=torch.float64)
    e.reset(0)
    e.step_forced(torch.tensor([S]), torch.tensor([R]))
    pi = [math.e / (math.e + 2), 1 / (math.e + 2), 1 / (math.e + 2)]
    assert_probs(e.opponent_probs, [pi])
    assert e.opponent.baseline.tolist() == [0.5]
    e.step_forced(torch.tensor([P]), torch.tensor([P]))
    theta = [2 / 3 + 0.5 * pi[0], -1 / 3 - 0.5 * (1 - pi[1]), -1 / 3 + 0.5 * pi[2]]
    z = sum(math.exp(x) for x in theta)
    assert_probs(e.opponent_probs, [[math.exp(x) / z for x in theta]])
    assert e.opponent.baseline.tolist() == [0.25]


@pytest.mark.parametrize("spec", ["q-learner:context=0", "q-learner", "q-learner:context=2,epsilon=0"])
def test_q_learner_row_kept_after_learning_equals_the_table(spec):
    # after each update the Q-learner keeps Q(s', .) patched with the entry it wrote; the
    # distribution it gives must be the one read back from the table
    e = Engine(spec, n=64, rounds=40, seed=0)
    e.reset()
    g = torch.Generator().manual_seed(1)
    for _ in range(39):
        e.step(torch.randint(0, 3, (64,), generator=g))
        kept = e.opponent.probs()
        e.opponent._here_row = None
        assert torch.equal(e.opponent.probs(), kept)


def test_pg_softmax_is_the_softmax_and_ignores_the_batch_around_a_match():
    from policygrad.opponents.learning import softmax

    x_AN = torch.randn(5, 300, generator=torch.Generator().manual_seed(0))
    full = softmax(x_AN.t())
    assert torch.allclose(full, torch.softmax(x_AN.t(), dim=1), atol=1e-6)
    for start, n in [(0, 1), (3, 7), (10, 17), (50, 33)]:  # other batch sizes and layouts, same bits
        assert torch.equal(softmax(x_AN[:, start : start + n].contiguous().t()), full[start : start + n])
        assert torch.equal(softmax(x_AN[:, start : start + n].t().contiguous()), full[start : start + n])


def test_learners_exploit_a_biased_agent():
    # Against an agent that always plays rock, both learners end up playing paper almost always.
    for spec in ("q-learner", "pg-learner"):
        _, r, _ = play(spec, [R] * 100, n=256, dtype=torch.float32, seed=1)
        assert r[:, -20:].mean() < -0.8, spec


# -- mix --------------------------------------------------------------------------------------------------


def test_mix_draws_one_member_per_match():
    n = 4000
    e = Engine("mix:of=[constant:move=0|constant:move=1],weights=1,3", n=n, rounds=3, seed=0)
    e.reset()
    first = e.step(torch.full((n,), S))[3]["opponent_move"]
    for _ in range(2):  # each match keeps its member
        assert torch.equal(e.step(torch.full((n,), S))[3]["opponent_move"], first)
    share = float((first == 1).double().mean())
    assert abs(share - 0.75) < 5 * math.sqrt(0.75 * 0.25 / n)  # 5 standard errors
    assert torch.equal(first, e.opponent.member_of)  # member i is constant:move=i
    assert make_opponent("mix:of=[constant:move=0|constant:move=1],weights=1,0").components()[1][0] == 0


def test_the_registry_builds_a_mixs_members_and_a_mix_takes_built_ones():
    nested = make_opponent("mix:of=[frequency|mix:of=[constant:move=2|markov:order=2]],weights=1,3")
    assert [m.spec for m in nested.members] == ["frequency", "mix:of=[constant:move=2|markov:order=2]"]
    assert [m.spec for m in nested.members[1].members] == ["constant:move=2", "markov:order=2"]
    assert [w for w, _ in nested.components()] == [0.25, 0.75]
    # built members, in Python: their specs are the mix's own, so the spec rebuilds it
    mix = Mix([Constant(move=1), Markov(order=2)], weights=(1, 2))
    assert mix.spec == "mix:of=[constant:move=1|markov:order=2],weights=1,2"
    assert make_opponent(mix.spec).config == mix.config
    with pytest.raises(TypeError, match="give its members"):
        Mix(of=["frequency"])
    with pytest.raises(TypeError, match="must be an Opponent, got str"):
        Mix(["frequency"])
    with pytest.raises(ValueError, match="2 members for of=\\['frequency'\\], which names 1"):
        Mix([Constant(), Markov()], of=["frequency"])


def test_a_stored_mix_spec_is_checked_member_by_member_without_building():
    check_spec("mix:of=[frequency|mix:of=[cycle|markov:order=2]]")  # fine
    with pytest.raises(ValueError, match="unknown opponent 'nobody'"):
        check_spec("mix:of=[frequency|mix:of=[cycle|nobody]]")
    with pytest.raises(ValueError, match="markov: bad value '0' for parameter 'order'"):
        check_spec("mix:of=[frequency|mix:of=[cycle|markov:order=0]]")


def test_attach_policy_reaches_white_box_opponents_at_any_depth_of_a_mix():
    policy = TabularPolicy(3, 1)
    plain = make_opponent("frequency")
    assert attach_policy(plain, policy, 1, False, 5) is plain and not isinstance(plain, WhiteBox)
    mix = make_opponent("mix:of=[frequency|mix:of=[mind-reader|best-response]]")
    assert isinstance(mix, WhiteBox) and attach_policy(mix, policy, 2, False, 7) is mix
    reader, best = mix.members[1].members
    assert isinstance(reader, MindReader) and isinstance(best, BestResponse)
    assert (reader.policy, reader.context, reader.rounds) == (policy, 2, 7)
    assert (best.policy, best.context, best.counts, best.rounds) == (policy, 2, False, 7)
    with pytest.raises(ValueError, match="recurrent"):  # the exact best response refuses a recurrent policy, through the mix too
        attach_policy(mix, GRUPolicy(10, 3), 1, False, 5)


def test_the_old_white_box_module_warns_and_gives_the_same_classes():
    sys.modules.pop("policygrad.opponents.best_response", None)
    with pytest.warns(DeprecationWarning, match="policygrad.opponents.whitebox"):
        old = importlib.import_module("policygrad.opponents.best_response")
    assert (old.BestResponse, old.MindReader, old.PolicyOpponent) == (BestResponse, MindReader, PolicyOpponent)


# -- the batched-table helper ------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["match-first", "match-last"])
def test_table_rows_agree_with_fancy_indexing(layout):
    n, s_n, a = 7, 4, 3
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, s_n, a, generator=g)
    table = x.clone() if layout == "match-first" else match_last(x)
    assert torch.equal(table, x)
    rows = torch.arange(n)
    s = torch.randint(0, s_n, (n,), generator=g)
    o = torch.randint(0, a, (n,), generator=g)
    at = TableRows(table, rows, s)
    assert torch.equal(at.get(), x[rows, s])
    assert torch.equal(at.get_at(o), x[rows, s, o])
    v = torch.randn(n, generator=g)
    at.set_at(o, v)
    x[rows, s, o] = v
    assert torch.equal(table, x)
    w = torch.randn(n, a, generator=g)
    at.set(w)
    x[rows, s] = w
    assert torch.equal(table, x)
    # the kept rows: get_at after get reads them; a write drops them; mirror follows a write made elsewhere
    at = TableRows(table, rows, s)
    assert torch.equal(at.get(), x[rows, s]) and torch.equal(at.get_at(o), x[rows, s, o])
    at.set_at(o, v + 1)
    x[rows, s, o] = v + 1
    assert torch.equal(at.get(), x[rows, s]) and torch.equal(at.get_at(o), x[rows, s, o])
    s2 = torch.where(torch.arange(n) % 2 == 0, s, (s + 1) % s_n)  # half the matches share the row
    other = TableRows(table, rows, s2)
    other.get()
    at.set_at(o, v - 1)
    x[rows, s, o] = v - 1
    other.mirror(s2 == s, o, v - 1)
    assert torch.equal(other.get(), x[rows, s2]) and torch.equal(other.get_at(o), x[rows, s2, o])
    assert batched_zeros(n, s_n, a).shape == (n, s_n, a)
    with pytest.raises(ValueError, match="dense"):
        TableRows(torch.zeros(n, s_n, 2 * a)[:, :, ::2], rows, s)


@pytest.mark.parametrize("game", ["rps", "rpsls", "weighted-rps:weights=1,2,3", "matrix:rows=0,2,-1,1;-2,0,3,0;1,-3,0,-1;-1,0,1,0"])
def test_set_tables_equal_the_generic_formulas(game):
    # the per-set tables read at each round must give what modes() and beat() compute directly
    g = make_game(game)
    fast, slow = make_opponent("frequency"), make_opponent("frequency")
    slow.SET_TABLE_MAX_ACTIONS = 0  # no tables: the generic formulas
    fast.reset(200, g, None, torch.float64)
    slow.reset(200, g, None, torch.float64)
    assert fast._beat_AK is not None and slow._beat_AK is None
    w = torch.randint(0, 3, (200, g.num_actions), generator=torch.Generator().manual_seed(0)).double()  # many ties
    assert torch.equal(fast.modes(w), slow.modes(w))
    assert torch.equal(fast.beat_modes(w), slow.beat(slow.modes(w)))
    sets = fast.argmax_set(w)
    assert torch.equal(fast.beat_set(sets), slow.beat_set(sets))
    assert torch.equal(fast.beat_set(sets), slow.beat(slow.modes(w)))


# -- the registry and its errors --------------------------------------------------------------------------


def test_registry_lists_every_opponent():
    # the opponents the issue asks for, in this order, first in the registry
    assert list(REGISTRY)[:13] == [
        "constant", "mixed", "cycle", "mirror", "beat-last", "win-stay-lose-shift", "frequency",
        "markov", "pattern", "exploiter", "q-learner", "pg-learner", "mix",
    ]  # fmt: skip
    rows = describe_opponents()
    assert [row["name"] for row in rows] == list(REGISTRY) + ["roshambo", "kaggle"]  # the outside bots last
    for cls in OPPONENTS:
        assert cls.description() and not cls.description().startswith(" ")
        assert cls.memory_depth >= 0 and isinstance(cls.stochastic, bool) and isinstance(cls.adaptive, bool)


def test_specs_round_trip():
    assert make_opponent("markov:order=2,decay=0.9").spec == "markov:order=2,decay=0.9"
    assert make_opponent("markov").spec == "markov"
    for spec in ["mixed:probs=0.2,0.3,0.5", "mix:of=[frequency|markov:order=2],weights=1,2", "win-stay-lose-shift:tie=stay"]:
        opp = make_opponent(spec)
        assert opp.spec == spec and make_opponent(opp.spec).config == opp.config
    opp = make_opponent("pattern:max-period=3")
    assert opp.max_period == 3 and opp.repeats == 2
    assert split_specs("frequency,markov:order=2,decay=0.9,mixed:probs=0.5,0.3,0.2") == [
        "frequency", "markov:order=2,decay=0.9", "mixed:probs=0.5,0.3,0.2"
    ]  # fmt: skip


ALL = ", ".join(REGISTRY)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nobody", f"unknown opponent 'nobody'; allowed: {ALL}"),
        ("", f"opponent spec must be a non-empty string, got ''; allowed: {ALL}"),
        (42, "opponent spec must be a non-empty string, got 42"),
        ("markov:foo=1", "markov: unknown parameter 'foo'; allowed: order, decay"),
        ("cycle:move=1", "cycle: unknown parameter 'move'; allowed: period, offset"),
        ("mirror:tie=stay", "mirror: unknown parameter 'tie'; allowed: none"),
        ("markov:order=4", r"markov: bad value '4' for parameter 'order'; allowed: an integer in \[1, 3\]"),
        ("markov:order=0", r"allowed: an integer in \[1, 3\]"),
        ("markov:order=1.5", r"bad value '1.5' for parameter 'order'; allowed: an integer in \[1, 3\]"),
        ("frequency:decay=1.5", r"frequency: bad value '1.5' for parameter 'decay'; allowed: a number in \[0, 1\]"),
        ("frequency:decay=nan", r"allowed: a number in \[0, 1\]"),
        ("frequency:decay=x", r"allowed: a number in \[0, 1\]"),
        ("q-learner:epsilon=-0.1", r"q-learner: bad value '-0.1' for parameter 'epsilon'; allowed: a number in \[0, 1\]"),
        ("q-learner:context=3", r"allowed: an integer in \[0, 2\]"),
        ("pg-learner:lr=-1", r"allowed: a number in \[0, 100\]"),
        ("pattern:max-period=0", r"'max-period'; allowed: an integer in \[1, 20\]"),
        ("pattern:repeats=1", r"'repeats'; allowed: an integer in \[2, 5\]"),
        ("exploiter:context=-1", r"allowed: an integer in \[0, 2\]"),
        ("constant:move=-1", r"allowed: an integer in \[0, inf\]"),
        ("cycle:period=0", r"allowed: an integer in \[1, inf\]"),
        ("win-stay-lose-shift:tie=maybe", "bad value 'maybe' for parameter 'tie'; allowed: one of shift, stay"),
        ("mixed:probs=0.5,x,0.5", r"allowed: numbers in \[0, 1\]"),
        ("mixed:probs=-0.5,1,0.5", r"allowed: numbers in \[0, 1\]"),
        ("mix:of=[frequency|nobody]", "unknown opponent 'nobody'"),
        ("mix:of=[frequency|markov],weights=1", r"mix: weights=\[1.0\] must be 2 non-negative numbers"),
        ("mix:of=[frequency|markov],weights=0,0", "not all 0"),
        ("markov:order=2,order=3", "markov: parameter 'order' given twice"),
        ("mixed:probs=0.5,0.3,0.3", r"mixed: probs=\[0.5, 0.3, 0.3\] must be non-negative numbers summing to 1"),
        ("markov:2", "bad opponent spec 'markov:2': expected name:key=value"),
    ],
)
def test_bad_specs_list_what_is_allowed(spec, message):
    with pytest.raises(ValueError, match=message):
        make_opponent(spec)


@pytest.mark.parametrize(
    "spec, game, message",
    [
        ("constant:move=3", "rps", r"constant: move 3 is outside 0\.\.2"),
        ("cycle:period=4", "rps", r"cycle: period 4 is outside 1\.\.3"),
        ("mixed:probs=0.5,0.5", "rps", r"mixed: probs=\[0.5, 0.5\] must be 3 non-negative numbers summing to 1"),
        ("mixed:probs=0.2,0.2,0.2,0.2,0.2", "rps", "must be 3"),
    ],
)
def test_parameters_that_depend_on_the_game_are_checked_before_any_play(spec, game, message):
    with pytest.raises(ValueError, match=message):  # when the engine is built
        Engine(spec, n=2, game=game)
    with pytest.raises(ValueError, match=message):  # and by a reset of the opponent itself
        make_opponent(spec).reset(2, make_game(game))
    with pytest.raises(ValueError, match=message):  # and inside a mix
        Engine(f"mix:of=[frequency|{spec}]", n=2, game=game)


# -- the contract, over the whole registry ------------------------------------------------------------------

EXTRA = [
    "constant:move=1",
    "mixed:probs=0.2,0.3,0.5",
    "cycle:period=2,offset=1",
    "win-stay-lose-shift:tie=stay",
    "frequency:decay=0.9",
    "markov:order=2",
    "markov:order=3,decay=0.5",
    "pattern:max-period=3,repeats=3",
    "exploiter:context=2",
    "exploiter:context=0",
    "q-learner:context=2",
    "q-learner:context=0,epsilon=0",
    "pg-learner:context=0",
    "mix:of=[mirror|q-learner|cycle],weights=1,2,1",
]
CONTRACT = [(name, "rps") for name in REGISTRY] + [(spec, "rps") for spec in EXTRA] + [(name, "rpsls") for name in REGISTRY]
N, T = 12, 9


def build(spec, game):
    """``make_opponent(spec)``; a white-box opponent (which reads the agent's policy, a mix's
    white-box members too) gets a fixed non-uniform tabular policy over the last round."""
    g = make_game(game)
    policy = TabularPolicy(g.num_actions, 1)
    with torch.no_grad():
        policy.table.copy_(torch.randn(policy.table.shape, generator=torch.Generator().manual_seed(0)))
    return attach_policy(make_opponent(spec), policy, context=1, counts=False, rounds=T)


def drive(opp, n, game, seed, agent_NT, dtype=torch.float32):
    """Reset ``opp`` and play it against ``agent_NT`` ([n, T] moves), drawing its moves with a
    generator seeded ``seed``. Returns (probs [T, n, A], own moves [T, n])."""
    g = torch.Generator().manual_seed(seed)
    opp.reset(n, game, g, dtype)
    probs, own = [], []
    for t in range(agent_NT.shape[1]):
        p = opp.probs().clone()
        o = sample(p, g)
        opp.update(o, agent_NT[:, t].clone())
        probs.append(p)
        own.append(o)
    return torch.stack(probs), torch.stack(own)


def agent_moves(n, t, a, seed=0):
    return torch.randint(0, a, (n, t), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("spec, game", CONTRACT)
def test_contract(spec, game):
    g = make_game(game)
    a = g.num_actions
    agent = agent_moves(N, T, a)

    # probabilities: [N, A], non-negative, summing to 1, in the requested dtype; probs() is pure
    for dtype in (torch.float32, torch.float64):
        opp = build(spec, game)
        gen = torch.Generator().manual_seed(0)
        opp.reset(N, g, gen, dtype)
        for t in range(T):
            p = opp.probs()
            assert p.shape == (N, a) and p.dtype == dtype
            assert (p >= 0).all()
            assert torch.allclose(p.sum(1), torch.ones(N, dtype=dtype), atol=1e-6)
            assert torch.equal(opp.probs(), p)  # asking twice changes nothing
            p_again, moves = opp.next_move()  # the optional shortcut agrees with probs()
            assert torch.equal(p_again, p)
            if moves is not None:
                assert moves.shape == (N,) and moves.dtype == torch.long
                assert torch.equal(torch.nn.functional.one_hot(moves, a).to(dtype), p)
            opp.update(sample(p, gen), agent[:, t].clone())

    # same seed, same play
    p1, o1 = drive(build(spec, game), N, g, 7, agent)
    p2, o2 = drive(build(spec, game), N, g, 7, agent)
    assert torch.equal(p1, p2) and torch.equal(o1, o2)

    # reset behaves like fresh, even after a match with another N
    used = build(spec, game)
    drive(used, N + 5, g, 3, agent_moves(N + 5, T, a, seed=1))
    p3, o3 = drive(used, N, g, 7, agent)
    assert torch.equal(p1, p3) and torch.equal(o1, o3)

    # the current move cannot change the opponent's probabilities: two engines with the same
    # history and seed; the agents' moves differ in the last round
    e1, e2 = Engine(build(spec, game), n=N, rounds=T, game=g, seed=5), Engine(build(spec, game), n=N, rounds=T, game=g, seed=5)
    e1.reset(), e2.reset()
    for t in range(T - 1):
        e1.step(agent[:, t]), e2.step(agent[:, t])
    before = e1.opponent_probs.clone()
    i1 = e1.step(agent[:, -1])[3]
    i2 = e2.step((agent[:, -1] + 1) % a)[3]
    assert torch.equal(i1["opponent_probs"], before) and torch.equal(i2["opponent_probs"], before)
    assert torch.equal(i1["opponent_move"], i2["opponent_move"])

    # state()/select(): selected matches play on exactly like the matches they were taken from
    opp = build(spec, game)
    gen = torch.Generator().manual_seed(0)
    opp.reset(N, g, gen)
    for t in range(4):
        opp.update(sample(opp.probs(), gen), agent[:, t].clone())
    p = opp.probs()
    state = {k: v.clone() for k, v in opp.state().items()}
    index = torch.tensor([3, 3, 0, 11, 5, 3, 7])
    twin = build(spec, game)  # the same history again, then select
    gen = torch.Generator().manual_seed(0)
    twin.reset(N, g, gen)
    for t in range(4):
        twin.update(sample(twin.probs(), gen), agent[:, t].clone())
    twin.select(index)
    assert twin.n == len(index)
    assert torch.equal(twin.probs(), p[index])
    for name in type(opp).state_names:
        assert torch.equal(twin.state()[name], state[name][index]), name
    for t in range(4, T):
        own = sample(opp.probs(), gen)
        opp.update(own, agent[:, t].clone())
        twin.update(own[index], agent[index, t].clone())
        assert torch.equal(twin.probs(), opp.probs()[index])


def test_contract_covers_the_registry():
    assert {parse_spec(spec)[0] for spec, _ in CONTRACT} == set(REGISTRY)
