"""The batched engine and the observation encoding: shapes, exact observations and rewards,
simultaneous moves, determinism, and one clear error for each kind of bad input."""

import inspect

import pytest
import torch

from policygrad import encoding
from policygrad.engine import Engine, check_moves, inverse_cdf, sample
from policygrad.games import make_game
from policygrad.opponents import REGISTRY, Opponent, attach_policy, make_opponent
from policygrad.policies import TabularPolicy


def moves(*xs):
    return torch.tensor(xs, dtype=torch.long)


# -- shapes and the observation ---------------------------------------------------------------------


@pytest.mark.parametrize("game, a", [("rps", 3), ("rpsls", 5)])
@pytest.mark.parametrize("context", [0, 1, 3])
@pytest.mark.parametrize("counts", [False, True])
def test_shapes(game, a, context, counts):
    e = Engine("mixed", n=4, rounds=3, context=context, game=game, counts=counts)
    f = context * a * a + 1 + (2 * a if counts else 0)
    assert e.obs_size == f == encoding.feature_size(a, context, counts)
    obs = e.reset(0)
    assert obs.shape == (4, f) and obs.dtype == torch.float32
    assert torch.equal(obs, torch.zeros(4, f))  # round 1: empty context, round fraction 0, no counts
    assert e.opponent_probs.shape == (4, a)
    obs, r, done, info = e.step(torch.zeros(4, dtype=torch.long))
    assert obs.shape == (4, f) and r.shape == (4,) and done is False
    assert set(info) == {"opponent_move", "opponent_probs", "round"}
    assert info["opponent_move"].shape == (4,) and info["opponent_move"].dtype == torch.long
    assert info["opponent_probs"].shape == (4, a) and info["round"] == 1


def test_observation_context_two_exact():
    # RPS, K = 2, T = 4. Agent plays rock, paper, scissors; opponent forced paper, paper, rock.
    # pair = a * 3 + o: round 1 (0, 1) -> 1, round 2 (1, 1) -> 4, round 3 (2, 0) -> 6.
    # Layout: [older pair one-hot (9) | newer pair one-hot (9) | t / T].
    e = Engine("constant", n=1, rounds=4, context=2)
    obs0 = e.reset(0)
    assert torch.equal(obs0, torch.zeros(1, 19))
    expected = []
    for older, newer, frac in [(None, 1, 0.25), (1, 4, 0.5), (4, 6, 0.75)]:
        row = torch.zeros(19)
        if older is not None:
            row[older] = 1
        row[9 + newer] = 1
        row[18] = frac
        expected.append(row)
    got = []
    for a, o in [(0, 1), (1, 1), (2, 0)]:
        obs, _, _, _ = e.step_forced(moves(a), moves(o))
        got.append(obs[0])
    for g, x in zip(got, expected):
        assert torch.equal(g, x)
    assert encoding.context_from_obs(got[-1].unsqueeze(0), 3, 2).tolist() == [[4, 6]]
    assert encoding.context_from_obs(got[0].unsqueeze(0), 3, 2).tolist() == [[-1, 1]]


def test_observation_counts_are_running_frequencies():
    # Agent rock, rock, paper; opponent forced scissors, rock, rock. K = 0, so the observation is
    # [t / T, agent freq (3), opponent freq (3)].
    e = Engine("constant", n=1, rounds=3, context=0, counts=True)
    assert torch.equal(e.reset(0), torch.zeros(1, 7))
    rows = [e.step_forced(moves(a), moves(o))[0][0] for a, o in [(0, 2), (0, 0), (1, 0)]]
    third = 1 / 3
    assert torch.allclose(rows[0], torch.tensor([third, 1, 0, 0, 0, 0, 1]))
    assert torch.allclose(rows[1], torch.tensor([2 * third, 1, 0, 0, 0.5, 0, 0.5]))
    assert torch.allclose(rows[2], torch.tensor([1, 2 * third, third, 0, 2 * third, 0, third]))


def test_encoding_helpers():
    assert encoding.num_contexts(3, 2) == 100  # (9 + 1)^2, empty slots included
    ctx = torch.tensor([[-1, -1], [-1, 4], [3, 8]])
    # base 10, empty = digit 0, oldest slot most significant: (0,0) -> 0, (0,5) -> 5, (4,9) -> 49
    assert encoding.context_index(ctx, 3).tolist() == [0, 5, 49]
    assert encoding.push_context(ctx, moves(1, 2, 0)).tolist() == [[-1, 1], [4, 2], [8, 0]]
    assert encoding.context_index(torch.zeros(2, 0, dtype=torch.long), 3).tolist() == [0, 0]
    obs = encoding.encode(ctx, 3, torch.tensor([0.0, 0.5, 2.0]))
    assert obs[:, 18].tolist() == [0.0, 0.5, 1.0]  # the round fraction is capped at 1
    assert torch.equal(encoding.context_from_obs(obs, 3, 2), ctx)


@pytest.mark.parametrize("a, k", [(3, 0), (3, 1), (3, 2), (3, 3), (3, 4), (5, 2), (5, 3)])
def test_encode_matches_a_plain_loop(a, k):
    # (3, 4) and (5, 3) have more than 4096 contexts: the slot-by-slot path; the others: one table.
    n = 50
    g = torch.Generator().manual_seed(k)
    ctx = torch.randint(-1, a * a, (n, k), generator=g)
    counts = torch.randint(0, 4, (n, 2, a), generator=g).double()
    counts[:, 1] = counts[:, 1].flip(1)
    counts[:, 0, 0] += 1  # at least one round played
    frac = torch.rand(n, generator=g) * 1.5
    obs = encoding.encode(ctx, a, frac, counts)
    expected = torch.zeros(n, k * a * a + 1 + 2 * a)
    for i in range(n):
        for j in range(k):
            if ctx[i, j] >= 0:
                expected[i, j * a * a + ctx[i, j]] = 1
        expected[i, k * a * a] = min(float(frac[i]), 1.0)
        expected[i, k * a * a + 1 :] = (counts[i] / counts[i, 0].sum()).reshape(-1)
    assert obs.dtype == torch.float32
    assert torch.allclose(obs, expected)
    assert torch.equal(encoding.context_from_obs(obs, a, k), ctx)
    out = torch.empty(n, k * a * a + 1)
    assert encoding.encode(ctx, a, 0.25, out_NF=out) is out
    assert (out[:, k * a * a] == 0.25).all()


# -- rewards, rounds and done -----------------------------------------------------------------------


def test_rewards_are_the_payoff_of_each_pair():
    # all 9 pairs of RPS at once: row a, column o of [[0,-1,1],[1,0,-1],[-1,1,0]]
    e = Engine("constant", n=9, rounds=1, context=0)
    e.reset(0)
    a = torch.arange(9) // 3
    o = torch.arange(9) % 3
    _, r, done, info = e.step_forced(a, o)
    assert r.tolist() == [0, -1, 1, 1, 0, -1, -1, 1, 0]
    assert done is True and info["round"] == 1
    assert torch.equal(info["opponent_move"], o)


def test_weighted_rewards_and_float64():
    e = Engine("constant", n=3, rounds=2, context=1, game="weighted-rps:weights=1,2,3", dtype=torch.float64)
    e.reset(0)
    # paper beats rock pays 2, scissors beats paper pays 3, rock loses to paper -2
    _, r, _, info = e.step_forced(moves(1, 2, 0), moves(0, 1, 1))
    assert r.dtype == torch.float64 and r.tolist() == [2.0, 3.0, -2.0]
    assert info["opponent_probs"].dtype == torch.float64  # the opponent computes in the engine's dtype


def test_one_round_match_and_errors_after_the_end():
    e = Engine("mixed", n=2, rounds=1, context=1)
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        e.step(moves(0, 0))
    e.reset(0)
    _, _, done, _ = e.step(moves(0, 1))
    assert done is True
    with pytest.raises(RuntimeError, match="the match is over after 1 rounds; call reset"):
        e.step(moves(0, 1))
    e.reset()
    assert e.step(moves(0, 1))[2] is True


def test_done_only_after_t_rounds():
    e = Engine("cycle", n=1, rounds=5, context=0)
    e.reset(0)
    dones = [e.step(moves(0))[2] for _ in range(5)]
    assert dones == [False, False, False, False, True]


# -- simultaneous moves -----------------------------------------------------------------------------


def test_probs_takes_no_argument():
    # The API itself: the opponent's distribution is a function of its state only; the agent's move
    # is passed to update(), which the engine calls after drawing the opponent's move.
    for cls in REGISTRY.values():
        params = inspect.signature(cls.probs).parameters
        assert list(params) == ["self"], cls.name


class Spy(Opponent):
    """Records the order of calls: probs before the round, update with both moves after it."""

    name = "spy"

    def _reset(self, generator) -> None:
        self.log = []

    def probs(self):
        self.log.append(("probs", self.t))
        return self.uniform()

    def update(self, own_moves, agent_moves) -> None:
        self.log.append(("update", self.t, agent_moves.tolist()))
        super().update(own_moves, agent_moves)


def test_opponent_fixes_its_distribution_before_the_agent_moves():
    spy = Spy()
    e = Engine(spy, n=2, rounds=3, context=1)
    e.reset(0)
    assert spy.log == [("probs", 0)]  # round 1's distribution exists before any step call
    fixed = e.opponent_probs
    e.step(moves(2, 1))
    assert spy.log == [("probs", 0), ("update", 0, [2, 1]), ("probs", 1)]
    e.step(moves(0, 0))
    e.step(moves(1, 1))
    # the last round ends the match: no probs call after the final update
    assert spy.log[-2:] == [("probs", 2), ("update", 2, [1, 1])]
    assert torch.equal(fixed, torch.full((2, 3), 1 / 3))


def build(spec):
    """An opponent from its spec; a white-box one (``attach_policy`` reaches it) reads a fixed tabular policy."""
    return attach_policy(make_opponent(spec), TabularPolicy(3, 1), context=1, counts=False, rounds=5)


@pytest.mark.parametrize("spec", sorted(REGISTRY))
def test_the_current_move_cannot_change_the_opponents_move(spec):
    # Two engines with the same seed and the same history; in round 4 the agents differ.
    # The opponent's probabilities and its drawn move in round 4 are identical.
    n = 64
    g = torch.Generator().manual_seed(1)
    history = torch.randint(0, 3, (3, n), generator=g)
    e1, e2 = Engine(build(spec), n=n, rounds=5, seed=3), Engine(build(spec), n=n, rounds=5, seed=3)
    e1.reset(), e2.reset()
    for t in range(3):
        e1.step(history[t]), e2.step(history[t])
    a = torch.randint(0, 3, (n,), generator=g)
    _, r1, _, i1 = e1.step(a)
    _, r2, _, i2 = e2.step((a + 1) % 3)
    assert torch.equal(i1["opponent_probs"], i2["opponent_probs"])
    assert torch.equal(i1["opponent_move"], i2["opponent_move"])


def test_the_engine_does_not_alias_the_callers_move_tensor():
    e = Engine("mirror", n=3, rounds=3, context=1)
    e.reset(0)
    a = moves(0, 1, 2)
    e.step(a)
    a.fill_(1)  # the caller reuses its buffer
    assert e.opponent.state()["last_agent"].tolist() == [0, 1, 2]
    assert e.opponent_probs.argmax(1).tolist() == [0, 1, 2]


# -- determinism -----------------------------------------------------------------------------------


def play(engine, agent_NT, seed=None):
    engine.reset(seed)
    out = []
    for t in range(agent_NT.shape[1]):
        obs, r, _, info = engine.step(agent_NT[:, t])
        out.append((obs, r, info["opponent_move"], info["opponent_probs"]))
    return [torch.stack(x) for x in zip(*out)]


def test_same_seed_same_play_and_reset_replays():
    agent = torch.randint(0, 3, (32, 10), generator=torch.Generator().manual_seed(0))
    a = play(Engine("mixed", n=32, rounds=10, seed=5), agent)
    b = play(Engine("mixed", n=32, rounds=10, seed=5), agent)
    e = Engine("mixed", n=32, rounds=10, seed=99)
    play(e, agent)
    c = play(e, agent, seed=5)  # reset(seed) re-seeds: the same as a fresh engine with that seed
    for x, y, z in zip(a, b, c):
        assert torch.equal(x, y) and torch.equal(x, z)
    d = play(Engine("mixed", n=32, rounds=10, seed=6), agent)
    assert not torch.equal(a[2], d[2])  # another seed, other draws


# -- sampling ---------------------------------------------------------------------------------------


def test_inverse_cdf_never_picks_a_zero_probability_move():
    probs = torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.3, 0.3, 0.3]])
    # u = 0 used to pick move 0 of the first row; u just below 1 must not pick the zero move 2
    # of the second row; the last row sums to 0.9 and u * 0.9 < 0.9 keeps the draw inside it.
    for u in (0.0, 0.5, 1 - 2**-24):
        got = inverse_cdf(probs, torch.full((4, 1), u))
        assert got[0] == 1 and got[1] in (0, 1) and got[2] == 2
    assert inverse_cdf(probs, torch.zeros(4, 1)).tolist() == [1, 0, 2, 0]
    assert inverse_cdf(probs, torch.full((4, 1), 0.5)).tolist() == [1, 1, 2, 1]


def test_sample_frequencies_match_the_probabilities():
    n = 200_000
    p = torch.tensor([0.2, 0.5, 0.3])
    x = sample(p.expand(n, 3), torch.Generator().manual_seed(0))
    freq = torch.bincount(x, minlength=3).double() / n
    se = (p.double() * (1 - p.double()) / n).sqrt()
    assert ((freq - p.double()).abs() < 5 * se).all()  # 5 standard errors


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ([0, 1], TypeError, r"agent moves must be a torch tensor of integers with shape \[2\], got list"),
        (torch.tensor([0.0, 1.0]), TypeError, "agent moves must have an integer dtype, got torch.float32"),
        (torch.tensor([True, False]), TypeError, "integer dtype, got torch.bool"),
        (moves(0, 1, 2), ValueError, r"agent moves must have shape \[2\] \(one per match\), got \[3\]"),
        (moves(0, 1).unsqueeze(1), ValueError, r"shape \[2\] \(one per match\), got \[2, 1\]"),
        (torch.tensor(1), ValueError, r"shape \[2\] \(one per match\), got \[\]"),
        (moves(0, 3), ValueError, r"agent move 3 is outside 0\.\.2"),
        (moves(-1, 0), ValueError, r"agent move -1 is outside 0\.\.2"),
    ],
)
def test_bad_agent_moves(bad, error, message):
    e = Engine("mixed", n=2, rounds=3)
    e.reset(0)
    with pytest.raises(error, match=message):
        e.step(bad)
    assert e.t == 0  # nothing happened
    e.step(moves(0, 1))  # the engine still works


def test_bad_forced_opponent_moves_name_the_opponent():
    e = Engine("mixed", n=2, rounds=3)
    e.reset(0)
    with pytest.raises(ValueError, match=r"opponent move 3 is outside 0\.\.2"):
        e.step_forced(moves(0, 1), moves(0, 3))
    with pytest.raises(ValueError, match=r"opponent moves must have shape \[2\]"):
        e.step_forced(moves(0, 1), moves(0))


def test_rpsls_accepts_moves_up_to_four():
    e = Engine("mixed", n=2, rounds=3, game="rpsls")
    e.reset(0)
    e.step(moves(3, 4))
    with pytest.raises(ValueError, match=r"agent move 5 is outside 0\.\.4"):
        e.step(moves(5, 0))


def test_check_moves_accepts_every_integer_dtype():
    for dt in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
        out = check_moves(torch.tensor([0, 2], dtype=dt), 2, 3)
        assert out.dtype == torch.long and out.tolist() == [0, 2]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n must be an integer >= 1, got 0"),
        ({"n": 2.0}, "n must be an integer >= 1, got 2.0"),
        ({"n": True}, "n must be an integer >= 1, got True"),
        ({"rounds": 0}, "rounds must be an integer >= 1, got 0"),
        ({"context": -1}, "context must be an integer >= 0, got -1"),
        ({"game": "go"}, "unknown game 'go'"),
        ({"opponent": "nobody"}, "unknown opponent 'nobody'; allowed: constant, mixed"),
        ({"opponent": "markov:order=4"}, r"markov: bad value '4' for parameter 'order'; allowed: an integer in \[1, 3\]"),
    ],
)
def test_bad_engine_arguments(kwargs, message):
    args = {"opponent": "mixed", **kwargs}
    with pytest.raises(ValueError, match=message):
        Engine(**args)


def test_engine_accepts_an_opponent_object():
    opp = make_opponent("constant:move=2")
    e = Engine(opp, n=2, rounds=2)
    assert e.opponent is opp
    e.reset(0)
    assert e.step(moves(0, 1))[3]["opponent_move"].tolist() == [2, 2]


def test_game_objects_are_accepted():
    g = make_game("rpsls")
    e = Engine("mixed", n=1, game=g)
    assert e.game is g and e.num_actions == 5


def test_the_sampling_helpers_live_in_tensors_and_stay_importable_from_the_engine():
    import policygrad.engine as engine
    from policygrad import tensors

    assert (engine.sample, engine.inverse_cdf, engine.check_moves) == (tensors.sample, tensors.inverse_cdf, tensors.check_moves)
    with pytest.warns(DeprecationWarning, match="policygrad.tensors.as_count"):
        assert engine.as_count is tensors.as_count
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        engine.nothing  # noqa: B018
