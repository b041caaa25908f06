"""The registered `meta` (issue 20): the expert-mixture network played through the safe-play guard by default,
loadable with Agent.load; the earlier GRU under `meta-gru`."""

import numpy as np
import pytest

from policygrad.agent import Agent, make_player
from policygrad.expert_agent import EXPERT_META_CHECKPOINT, EXPERT_META_SAFETY, ExpertAgent
from policygrad.games import make_game
from policygrad.safety import SafeBudget, SafePolicy


def _mind_reader_match(agent, rounds: int, seed: int = 0) -> float:
    """sum_t q_t . M[:, o_t] with o_t the best reply to the agent's own probabilities q_t of the round (chosen before its draw)."""
    m = make_game("rps").payoff.double().numpy()
    agent.reset(seed)
    total, o = 0.0, None
    for _ in range(rounds):
        agent.act(o)
        q = np.asarray(agent.last_probs)
        o = int(np.argmin(q @ m))
        total += float(q @ m[:, o])
    return total


def test_meta_is_the_expert_network_guarded_and_meta_raw_unguarded():
    meta, raw, gru = make_player("meta"), make_player("meta-raw"), make_player("meta-gru")
    assert isinstance(meta, ExpertAgent) and meta.guard is not None and meta.guard.epsilon == EXPERT_META_SAFETY
    assert isinstance(raw, ExpertAgent) and raw.guard is None
    assert isinstance(gru.policy, SafePolicy) and not isinstance(make_player("meta-gru-raw").policy, SafePolicy)


def test_the_guard_bounds_what_a_mind_reader_takes_and_the_raw_network_loses_more():
    """Against the white-box best reply, the guarded agent's expected score of a match is >= -epsilon (the budget
    bound, exact: it holds match by match in expectation over the agent's draws); unguarded it loses far more."""
    rounds = 400
    guarded = _mind_reader_match(make_player("meta"), rounds)
    raw = _mind_reader_match(make_player("meta-raw"), rounds)
    assert guarded >= -EXPERT_META_SAFETY - 1e-9
    assert -0.05 * rounds < raw <= guarded + 1e-9  # unguarded it loses no less; since agents/expert-meta-tune.toml about 0.011 a round here (0.08 before)


def test_safe_budget_rule():
    m = make_game("rps").payoff.double().numpy()
    guard = SafeBudget(m, np.full(3, 1 / 3), epsilon=0.5)
    q = guard.mix([1.0, 0.0, 0.0])  # risk 1 > budget 0.5: half the pure move, half uniform
    assert np.allclose(q, [0.5 + 1 / 6, 1 / 6, 1 / 6])
    guard.observe(2)  # rock vs scissors: B += q . M[:, 2] = 0.5
    assert guard.budget == pytest.approx(1.0)
    assert np.allclose(guard.mix([1.0, 0.0, 0.0]), [1.0, 0.0, 0.0])
    guard.observe(1)  # rock vs paper: B += -1 -> 0
    assert guard.budget == pytest.approx(0.0)
    assert np.allclose(guard.mix([0.2, 0.5, 0.3]), np.full(3, 1 / 3))
    with pytest.raises(ValueError, match="epsilon"):
        SafeBudget(m, np.full(3, 1 / 3), epsilon=float("inf"))


def test_agent_load_reads_the_expert_file_and_its_run_directory(tmp_path):
    import shutil

    agent = Agent.load(EXPERT_META_CHECKPOINT, safety=3.0)
    assert isinstance(agent, ExpertAgent) and agent.guard is not None and agent.guard.epsilon == 3.0
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(EXPERT_META_CHECKPOINT, run / "expert.pt")
    again = Agent.load(str(run))
    assert isinstance(again, ExpertAgent) and again.guard is None
    agent, again = Agent.load(EXPERT_META_CHECKPOINT), Agent.load(str(run))
    agent.reset(4), again.reset(4)
    moves = [(agent.act(o), again.act(o)) for o in [None, 0, 1, 2, 2, 1, 0, 0]]
    assert all(a == b for a, b in moves)


def test_exploitability_of_registered_players_by_the_mind_reader():
    """`policygrad exploitability NAME`: a player that is no torch policy is measured by the mind reader (equal
    to the hand-written match above, match by match); a guarded one also carries its budget's bound."""
    from policygrad.exploitability import checkpoint_exploitability, mind_reader_exploitability

    rounds = 60
    meta = checkpoint_exploitability("meta", rounds=rounds, matches=2, seed=5)
    by_hand = [-_mind_reader_match(make_player("meta"), rounds, seed) / rounds for seed in (5, 6)]
    assert meta.value == pytest.approx(np.mean(by_hand), abs=1e-12) and not meta.exact
    assert meta.bound == pytest.approx(EXPERT_META_SAFETY / rounds) and checkpoint_exploitability("meta-raw", rounds=rounds, matches=2).bound is None
    uniform = mind_reader_exploitability(make_player("uniform"), rounds=20, matches=2)
    assert uniform.value == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="safety applies to a checkpoint"):
        checkpoint_exploitability("meta", safety=2.0)
    with pytest.raises(ValueError, match="matches must be an integer >= 1, got 0"):
        mind_reader_exploitability(make_player("online"), matches=0)


def test_exploitability_command_takes_a_player_name(capsys):
    import json

    from policygrad.cli import main

    assert main(["exploitability", "meta", "--rounds", "30", "--matches", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["checkpoint"] == "meta" and out["rounds"] == 30 and out["bound"] == pytest.approx(EXPERT_META_SAFETY / 30)
    assert 0 <= out["value"] <= 1


def test_evaluate_plays_the_expert_network_as_the_library_player_does():
    """`policygrad evaluate` of an expert-mixture file plays it batched in torch (policygrad.expert_play); its
    mean over 64 matches agrees, within 4 combined standard errors, with `meta-raw` (the same network,
    NumPy, one match at a time) over 24 matches of the same length against the same opponent."""
    from policygrad.evaluate import evaluate_expert
    from policygrad.tournament import play_match

    batched = evaluate_expert(EXPERT_META_CHECKPOINT, "frequency", matches=64, seed=0)
    rounds = batched.rounds  # the horizon it was trained for (its last stage's)
    alone = np.array([play_match("meta-raw", "frequency", rounds=rounds, seed=seed)["total"] / rounds for seed in range(24)])
    se = alone.std(ddof=1) / np.sqrt(len(alone))
    assert rounds == 600 and batched.mean > 0.4  # the network reads frequency
    assert abs(batched.mean - alone.mean()) < 4 * np.hypot(batched.se, se), (batched.mean, alone.mean(), batched.se, se)
    assert evaluate_expert(EXPERT_META_CHECKPOINT, "constant", matches=8, seed=1).mean > 0.9
