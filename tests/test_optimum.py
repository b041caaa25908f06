"""The exact ceiling (policygrad.optimum): closed forms, the full-history referee, open-loop bounds,
bad input, the CLI."""

import itertools
import json
import math

import pytest
import torch

from policygrad import cli
from policygrad.games import make_game
from policygrad.opponents import REGISTRY, make_opponent
from policygrad.opponents.mix import Mix
from policygrad.optimum import _solve, brute_force_optimum, optimum
from policygrad.tensors import unique_rows


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # the levels are small tensors: one thread is faster, and much faster on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def standalone(name: str) -> bool:
    """Whether a registered opponent plays from its spec alone (``best-response`` needs the agent's
    policy attached first; it is tested on its own below)."""
    try:
        make_opponent(name).reset(1, make_game("rps"), None, torch.float64)
    except ValueError as e:
        assert "attach" in str(e)
        return False
    return True


# every registered opponent at its defaults, plus variants that change what the state holds
SPECS = [name for name in sorted(REGISTRY) if standalone(name)] + [
    "constant:move=2",
    "mixed:probs=0.5,0.3,0.2",
    "cycle:period=2,offset=1",
    "win-stay-lose-shift:tie=stay",
    "frequency:decay=0.8",
    "markov:order=2",
    "markov:decay=0.5",
    "pattern:max-period=2",
    "exploiter:context=0",
    "q-learner:context=0,epsilon=0.3",
    "pg-learner:context=0",
    "mix:of=[constant|beat-last],weights=1,3",
    "mix:of=[mixed:probs=0.5,0.3,0.2|mix:of=[frequency|cycle]]",
]
# opponents whose play depends on the agent's moves only (never on their own random draws), so
# that knowing the opponent's past moves is worth nothing: open loop = closed loop
AGENT_DRIVEN = [
    "constant",
    "constant:move=2",
    "mixed",
    "mixed:probs=0.5,0.3,0.2",
    "cycle",
    "cycle:period=2,offset=1",
    "mirror",
    "beat-last",
    "frequency",
    "frequency:decay=0.8",
    "markov",
    "markov:order=2",
    "pattern",
]


def close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)


# -- closed forms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rounds", [1, 2, 7, 50])
def test_closed_forms(rounds):
    # a constant or cyclic opponent is beaten every round: 1 per round
    assert optimum("constant", rounds).value_per_round == 1.0
    assert optimum("constant:move=2", rounds).value_per_round == 1.0
    assert optimum("cycle", rounds).value_per_round == 1.0
    # mixed 0.5/0.3/0.2: paper scores 0.5 - 0.2 = 0.3 (rock 0.2 - 0.3, scissors 0.3 - 0.5)
    assert close(optimum("mixed:probs=0.5,0.3,0.2", rounds).value_per_round, 0.3)
    # uniform: every move scores 0
    assert optimum("mixed", rounds).value_per_round == 0.0
    # reactive opponents play uniformly in round 1 (0 in expectation) and predictably after it,
    # so the agent plays what beats their reply from round 2 on: (T - 1) / T
    for spec in ("beat-last", "mirror", "win-stay-lose-shift", "win-stay-lose-shift:tie=stay"):
        assert close(optimum(spec, rounds).value_per_round, (rounds - 1) / rounds), spec


def test_closed_forms_other_games():
    # weighted RPS 1,2,3: paper beats rock and pays weights[paper] = 2
    assert optimum("constant", 5, game="weighted-rps:weights=1,2,3").value_per_round == 2.0
    assert optimum("constant:move=4", 5, game="rpsls").value_per_round == 1.0
    assert close(optimum("beat-last", 4, game="rpsls").value_per_round, 3 / 4)


def test_frequency_by_hand():
    # Round 1: counts are 0, the opponent plays uniformly: 0. Round 2: it beats the agent's move m,
    # the agent wins with the move that beats that reply. Round 3: counts tie between two moves, the
    # reply to that tie is unique, the agent wins again. T = 3: total 2. Round 4 after two wins:
    # counts tie three ways (uniform reply, 0); no other line does better (tie or lose in round 3
    # to break the symmetry gives 2 or 1), so T = 4: total 2.
    assert close(optimum("frequency", 3).total_value, 2.0)
    assert close(optimum("frequency", 4).total_value, 2.0)
    # the DP continues the pattern, one 0 every three rounds: floor(2T/3)
    for rounds in (5, 6, 7, 20, 31):
        assert close(optimum("frequency", rounds).total_value, (2 * rounds) // 3), rounds


def test_population_hides_its_member():
    # rock or paper, 50/50: round 1 paper scores 0.5 (scissors 0, rock -0.5); the agent then knows
    # which one it meets and wins every later round: (T - 0.5) / T. An open-loop sequence cannot
    # learn it: 0.5 per round.
    for rounds in (1, 2, 5):
        r = optimum("mix:of=[constant:move=0|constant:move=1]", rounds)
        assert close(r.value_per_round, (rounds - 0.5) / rounds)
        assert "posterior" in r.state
    assert close(open_loop_best("mix:of=[constant:move=0|constant:move=1]", 4), 0.5)
    # weights move the prior: 1:3 for paper -> scissors scores 0.75 - 0.25 = 0.5 in round 1
    assert close(optimum("mix:of=[constant:move=0|constant:move=1],weights=1,3", 2).total_value, 0.5 + 1.0)
    # identical members: the same as one of them
    assert optimum("mix:of=[constant|constant]", 6).value_per_round == 1.0


# -- the referee: full-history expectimax ----------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_equals_full_history_expectimax(spec):
    for rounds in (1, 2, 3, 4):
        b = brute_force_optimum(spec, rounds)
        assert close(optimum(spec, rounds).value_per_round, b), (spec, rounds)
        assert close(_solve(spec, rounds, compact=False).value_per_round, b), (spec, rounds)


@pytest.mark.parametrize("spec", ["frequency", "markov", "markov:order=2", "pattern", "win-stay-lose-shift", "q-learner", "mix", "exploiter:context=0"])
def test_equals_full_history_expectimax_five_rounds(spec):
    assert close(optimum(spec, 5).value_per_round, brute_force_optimum(spec, 5))


@pytest.mark.parametrize("game", ["rpsls", "weighted-rps:weights=1,2,3"])
@pytest.mark.parametrize("spec", ["frequency", "markov", "pattern", "win-stay-lose-shift", "q-learner", "exploiter", "mix"])
def test_equals_full_history_expectimax_other_games(spec, game):
    rounds = 3 if game == "rpsls" else 4
    assert close(optimum(spec, rounds, game=game).value_per_round, brute_force_optimum(spec, rounds, game=game))


@pytest.mark.parametrize("spec,rounds", [("frequency", 30), ("markov", 11), ("mix:of=[mixed:probs=0.5,0.3,0.2|frequency|beat-last]", 9), ("mix", 7)])
def test_compact_states_change_nothing_but_the_count(spec, rounds):
    compact, plain = optimum(spec, rounds), _solve(spec, rounds, compact=False)
    assert close(compact.value_per_round, plain.value_per_round)
    assert compact.states_total <= plain.states_total


# -- open-loop sequences: a lower bound, exact when the opponent's moves carry no information -------


def open_loop_best(spec: str, rounds: int, game="rps") -> float:
    """The best expected reward per round of a fixed sequence of agent moves (all A^T of them),
    by its own enumeration of the opponent's moves, weighted by member for a population."""
    g = make_game(game)
    a_n = g.num_actions
    opponent = make_opponent(spec)

    def flatten(opp, w):
        return [p for wi, m in opp.components() for p in flatten(m, w * wi)] if isinstance(opp, Mix) else [(w, opp)]

    comps = flatten(opponent, 1.0)
    seqs = torch.tensor(list(itertools.product(range(a_n), repeat=rounds)), dtype=torch.long)  # [Q, T]
    q_n = len(seqs)
    seq_R = torch.arange(q_n)  # which sequence each row (sequence, opponent history) follows
    weight_RK = torch.tensor([[w for w, _ in comps]], dtype=torch.float64).repeat(q_n, 1)
    for _, m in comps:
        m.reset(q_n, g, None, torch.float64)
    value_Q = torch.zeros(q_n, dtype=torch.float64)
    for t in range(rounds):
        probs_RKA = torch.stack([m.probs() for _, m in comps], dim=1)
        a_R = seqs[seq_R, t]
        joint_RA = torch.einsum("rk,rka->ra", weight_RK, probs_RKA)
        value_Q.index_add_(0, seq_R, (joint_RA * g.payoff[a_R]).sum(dim=1))
        branch = torch.arange(len(seq_R)).repeat_interleave(a_n)
        o_B = torch.arange(a_n).repeat(len(seq_R))
        for _, m in comps:
            m.select(branch)
            m.update(o_B, a_R[branch])
        weight_RK = weight_RK[branch] * probs_RKA[branch, :, o_B]
        seq_R = seq_R[branch]
    return float(value_Q.max()) / rounds


@pytest.mark.parametrize("spec", SPECS)
def test_open_loop_is_a_lower_bound(spec):
    rounds = 4
    best = optimum(spec, rounds).value_per_round
    sequence = open_loop_best(spec, rounds)
    if spec in AGENT_DRIVEN:
        assert close(best, sequence)
    else:
        assert best >= sequence - 1e-12


def test_white_box_opponent():
    from policygrad.policies import ConstantPolicy

    # the best response to "always rock" plays paper in every context: the agent wins every round
    opp = make_opponent("best-response").attach(ConstantPolicy(3, 0), 1, False, 4)
    assert optimum(opp, 4).value_per_round == 1.0
    assert brute_force_optimum(opp, 4) == 1.0
    assert opp.policy is not None and not hasattr(opp, "n")  # the caller's object is untouched
    with pytest.raises(ValueError, match="attach the agent's policy"):
        optimum("best-response", 4)


# -- results, limits, bad input --------------------------------------------------------------------


def test_result_fields_and_json():
    r = optimum("frequency", 100)
    assert close(r.total_value, 66.0) and close(r.value_per_round, 0.66)
    assert (r.opponent, r.rounds, r.game) == ("frequency", 100, "rps")
    assert len(r.states_per_level) == 100 and r.states_per_level[0] == 1
    assert r.states_max == max(r.states_per_level) and r.states_total == sum(r.states_per_level)
    assert "counts" in r.state and r.seconds > 0
    d = json.loads(json.dumps(r.to_dict()))
    assert d["value_per_round"] == r.value_per_round and d["states_per_level"] == list(r.states_per_level)
    # constant, mixed and cycle ignore the agent: one state per round
    assert optimum("cycle", 30).states_per_level == (1,) * 30


def test_progress_reports_every_level():
    calls = []
    r = optimum("frequency", 12, progress=lambda done, total, states: calls.append((done, total, states)))
    assert calls == [(t + 1, 12, n) for t, n in enumerate(r.states_per_level)]


def test_caller_opponent_is_not_touched():
    opp = make_opponent("frequency")
    opp.reset(4, make_game("rps"))
    counts = opp.counts.clone()
    assert close(optimum(opp, 4).total_value, 2.0)
    assert opp.n == 4 and torch.equal(opp.counts, counts)


@pytest.mark.parametrize("rounds", [0, -3, 2.5, True, "5", None])
def test_bad_rounds(rounds):
    with pytest.raises(ValueError, match=r"rounds must be an integer >= 1, got " + repr(rounds).replace("(", r"\(")):
        optimum("frequency", rounds)


def test_bad_opponent_and_game():
    with pytest.raises(ValueError, match="unknown opponent 'nope'"):
        optimum("nope", 3)
    with pytest.raises(ValueError, match="unknown game"):
        optimum("frequency", 3, game="chess")
    with pytest.raises(ValueError, match="max_states must be an integer >= 1"):
        optimum("frequency", 3, max_states=0)


def test_opponent_that_cannot_branch_is_refused():
    class Unbranchable(type(make_opponent("constant"))):
        def select(self, index_M):
            raise NotImplementedError("an outside bot cannot branch a history")

    for solve in (optimum, brute_force_optimum):
        with pytest.raises(ValueError, match="optimum needs an opponent that can branch a history"):
            solve(Unbranchable(), 3)


def test_too_large_is_refused_with_the_numbers():
    with pytest.raises(ValueError, match=r"too large after \d+ rounds: distinct states [\d,]+ \(about [\d.]+ GiB\); limit max_states=1,000"):
        optimum("q-learner", 10, max_states=1000)
    with pytest.raises(ValueError, match=r"too large after \d+ rounds: branching into the next round needs histories [\d,]+ .*limit max_bytes=100,000"):
        optimum("pattern", 10, max_bytes=100_000)
    with pytest.raises(ValueError, match="brute_force_optimum: rounds=9"):
        brute_force_optimum("frequency", 9)


def test_unique_rows_is_exact_deduplication():
    g = torch.Generator().manual_seed(0)
    longs = torch.randint(-1, 3, (5000, 4), generator=g)
    floats = torch.randint(0, 3, (5000, 2), generator=g).double() * 0.1 + torch.randint(0, 2, (5000, 1), generator=g) * 1e-17
    ints_as_float = torch.randint(0, 2**50, (5000, 1), generator=g).double()
    for cols in ([longs], [floats], [longs, floats], [longs[:, :2], ints_as_float], [longs, torch.zeros(5000, 0)]):
        ids, n = unique_rows(cols, 5000)
        _, ref = torch.unique(torch.cat([c.double() for c in cols], dim=1), dim=0, return_inverse=True)
        assert n == int(ref.max()) + 1
        # the same partition: a bijection between ids and ref
        pairs = torch.unique(torch.stack([ids, ref], 1), dim=0)
        assert len(pairs) == n
    assert unique_rows([torch.zeros(7, 0)], 7)[1] == 1


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_optimum(capsys):
    assert cli.main(["optimum", "--opponent", "beat-last", "--rounds", "10"]) == 0
    out = capsys.readouterr().out
    assert "optimum vs beat-last over 10 rounds" in out and "0.9000 per round (total 9.00)" in out
    assert cli.main(["optimum", "--opponent", "mixed:probs=0.5,0.3,0.2", "--rounds", "3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert close(d["value_per_round"], 0.3) and d["states_per_level"] == [1, 1, 1]
    with pytest.raises(SystemExit) as stop:  # refused by the parser, before any work
        cli.main(["optimum", "--opponent", "frequency", "--rounds", "0"])
    assert stop.value.code == 2 and "--rounds: expected an integer >= 1, got '0'" in capsys.readouterr().err
    # a spec in brackets is printed as it is (no console markup), threads are restored by the fixture
    assert cli.main(["optimum", "--opponent", "mix:of=[constant|constant:move=1]", "--rounds", "4", "--threads", "1"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "mix:of=[constant|constant:move=1]" in out and "0.8750 per round" in out and "posterior" in out
    with pytest.raises(SystemExit) as stop:
        cli.main(["optimum", "--opponent", "frequency", "--rounds", "3", "--threads", "0"])
    assert stop.value.code == 2 and "--threads: expected an integer >= 1, got '0'" in capsys.readouterr().err
