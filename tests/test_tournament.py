"""Tournaments: players, matches, forfeits that do not stop the tournament, the leaderboard, JSON, plot."""

from __future__ import annotations

import importlib.util
import json
import math
import os

import pytest
import torch

from policygrad import cli
from policygrad.safety import SafePolicy
from policygrad.agent import META_SAFETY, PLAYERS, OpponentPlayer, make_player, split_names
from policygrad.tournament import play_match, run_tournament, suite

HAS_SPIEL = importlib.util.find_spec("pyspiel") is not None
HAS_KAGGLE = importlib.util.find_spec("kaggle_environments") is not None
needs_spiel = pytest.mark.skipif(not HAS_SPIEL, reason="open_spiel is not installed: pip install 'policygrad[roshambo]'")


class Crasher:
    """A player that raises in round 3."""

    last_probs = None

    def reset(self, seed=None):
        self.t = 0

    def act(self, last_opponent_move=None):
        self.t += 1
        if self.t == 3:
            raise RuntimeError("boom in round 3")
        return 0


class Cheater(Crasher):
    """A player that plays a move outside the game in round 2."""

    def act(self, last_opponent_move=None):
        self.t += 1
        return 7 if self.t == 2 else 0


def test_players_resolve_names(tmp_path, monkeypatch):
    p = make_player("uniform")
    p.reset(0)
    assert p.act() in (0, 1, 2) and p.last_probs == pytest.approx([1 / 3] * 3)
    paper = make_player("constant:move=1")
    paper.reset(0)
    assert [paper.act(m) for m in (None, 0, 2, 1)] == [1, 1, 1, 1]
    beat = make_player("beat-last")  # an opponent in the agent's seat reacts to the other side's moves
    beat.reset(0)
    beat.act()
    assert beat.act(0) == 1 and beat.act(1) == 2 and beat.last_probs == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"unknown agent 'nobody': not a registered player \(uniform.*\), not a checkpoint file, and not an opponent spec"):
        make_player("nobody")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        make_player(str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="last_opponent_move must be a move in 0..2"):
        beat.act(5)
    online = make_player("online")  # registered lazily as "policygrad.online:OnlineAgent"
    online.reset(1)
    assert type(online).__name__ == "OnlineAgent" and online.act() in (0, 1, 2)
    with monkeypatch.context() as m:
        m.chdir(tmp_path)  # the meta agent ships inside the package: it loads from any folder
        meta = make_player("meta-gru")
        meta.reset(0)
        assert meta.act() in (0, 1, 2) and abs(sum(meta.last_probs) - 1) < 1e-6
        assert isinstance(meta.policy, SafePolicy) and meta.policy.epsilon == META_SAFETY  # played safely
        raw = make_player("meta-gru-raw")
        assert not isinstance(raw.policy, SafePolicy) and raw.policy is not meta.policy.policy
    assert split_names("uniform,markov:order=2,decay=0.9,mixed:probs=0.5,0.3,0.2,beat-last") == [
        "uniform", "markov:order=2,decay=0.9", "mixed:probs=0.5,0.3,0.2", "beat-last"
    ]  # fmt: skip


def test_registered_players_callable_or_import_string(monkeypatch):
    monkeypatch.setitem(PLAYERS, "paper", lambda game: OpponentPlayer("constant:move=1", game))
    monkeypatch.setitem(PLAYERS, "scissors", lambda: OpponentPlayer("constant:move=2"))  # no game argument
    monkeypatch.setitem(PLAYERS, "by-path", "policygrad.tournament:OpponentPlayer")  # imported on first use: OpponentPlayer(game)
    assert isinstance(make_player("paper"), OpponentPlayer)
    r = play_match("paper", "constant:move=0", rounds=50, seed=0)
    assert r == {"agent": "paper", "opponent": "constant:move=0", "seed": 0, "total": 50.0, "rounds_played": 50, "forfeit": None, "error": None}
    assert play_match("scissors", "constant:move=0", rounds=10, seed=0)["total"] == -10.0


def test_checkpoint_agent_plays_a_tournament(tmp_path):
    from policygrad.config import TrainConfig
    from policygrad.train import train

    cfg = TrainConfig(opponent="constant:move=0", rounds=5, context=1, batch=16, iterations=3, tensorboard=False, hidden=(8,))
    train(cfg, str(tmp_path / "run"), with_optimum=False)
    agent = make_player(str(tmp_path / "run"))
    agent.reset(0)
    assert agent.act() in (0, 1, 2) and len(agent.last_probs) == 3
    result = run_tournament([str(tmp_path / "run"), "uniform"], ["constant:move=0"], rounds=20, seeds=2, jobs=1)
    assert [e["agent"] for e in result.leaderboard] != [] and all(p["completed"] == 2 for p in result.pairs)


def test_forfeits_do_not_stop_the_tournament(monkeypatch, tmp_path):
    monkeypatch.setitem(PLAYERS, "crasher", Crasher)
    monkeypatch.setitem(PLAYERS, "cheater", Cheater)
    raiser = tmp_path / "raiser.py"
    raiser.write_text("def agent(observation, configuration):\n    if observation.step == 4:\n        raise KeyError('no such move')\n    return 0\n")
    dies = tmp_path / "dies.py"  # kills the whole worker process in round 3
    dies.write_text("import os\ndef agent(observation, configuration):\n    if observation.step == 2:\n        os._exit(3)\n    return 0\n")
    agents = ["constant:move=1", "crasher", "cheater"]
    opponents = ["constant:move=0", f"kaggle:path={raiser}", f"kaggle:path={dies}"]
    result = run_tournament(agents, opponents, rounds=30, seeds=2, jobs=2)
    assert len(result.matches) == 3 * 3 * 2

    paper = result.pair("constant:move=1", "constant:move=0")  # paper beats rock every round
    assert paper["mean"] == 1.0 and paper["ci95"] == 0.0 and (paper["wins"], paper["draws"], paper["losses"]) == (2, 0, 0)
    raised = result.pair("constant:move=1", f"kaggle:path={raiser}")
    assert raised["mean"] is None and raised["forfeits"] == 2 and raised["wins"] == 2  # the bot forfeits: a win
    assert raised["errors"] == [f"BotError: kaggle:path={raiser} failed in round 5: KeyError: 'no such move'"]
    died = result.pair("constant:move=1", f"kaggle:path={dies}")
    assert died["forfeits"] == 2 and died["wins"] == died["losses"] == 0  # which side killed the process is unknown
    assert "the process playing this match died" in died["errors"][0]
    crash = result.pair("crasher", "constant:move=0")
    assert crash["mean"] is None and crash["losses"] == 2 and crash["errors"] == ["RuntimeError: boom in round 3"]
    assert {m["rounds_played"] for m in result.matches if m["agent"] == "crasher" and m["opponent"] == "constant:move=0"} == {2}
    cheat = result.pair("cheater", "constant:move=0")
    assert cheat["errors"] == ["ValueError: the agent played 7 in round 2; allowed: an int in 0..2"]

    board = {e["agent"]: e for e in result.leaderboard}
    assert result.leaderboard[0]["agent"] == "constant:move=1" and result.leaderboard[0]["rank"] == 1
    assert board["constant:move=1"]["mean"] == 1.0 and board["constant:move=1"]["scored"] == 1
    assert board["crasher"]["mean"] is None and board["crasher"]["forfeits"] == 6


def test_leaderboard_numbers():
    # uniform vs two fixed opponents, 4 seeds: pair means are the per-round averages of each match,
    # the agent's mean their average, its interval the pairs' standard errors combined
    result = run_tournament(["uniform", "cycle"], ["constant:move=0", "mixed:probs=0.5,0.3,0.2"], rounds=100, seeds=4, jobs=1)
    for pair in result.pairs:
        totals = torch.tensor([m["total"] for m in result.matches if m["agent"] == pair["agent"] and m["opponent"] == pair["opponent"]], dtype=torch.float64)
        per_round = totals / 100
        assert pair["mean"] == pytest.approx(float(per_round.mean()))
        assert pair["se"] == pytest.approx(float(per_round.std()) / 2)
        assert pair["ci95"] == pytest.approx(3.1824 * pair["se"])  # Student's t, 3 degrees of freedom, not 1.96
        assert pair["wins"] + pair["draws"] + pair["losses"] == 4
    for entry in result.leaderboard:
        rows = [p for p in result.pairs if p["agent"] == entry["agent"]]
        assert entry["mean"] == pytest.approx(sum(p["mean"] for p in rows) / 2)
        # the pairs' standard errors combined (not their t half-widths), t for 2 x 3 degrees of freedom
        assert entry["se"] == pytest.approx(math.sqrt(sum(p["se"] ** 2 for p in rows)) / 2)
        assert entry["ci95"] == pytest.approx(2.4469 * entry["se"])
        worst = min(rows, key=lambda p: p["mean"])
        assert entry["worst_opponent"] == worst["opponent"]
    cycle = result.pair("cycle", "constant:move=0")  # rock, paper, scissors, ... against rock: 0, +1, -1, ...
    assert cycle["mean"] == 0.0 and cycle["ci95"] == 0.0 and cycle["draws"] == 4
    # the same seeds give the same tournament, in processes or not
    again = run_tournament(["uniform", "cycle"], ["constant:move=0", "mixed:probs=0.5,0.3,0.2"], rounds=100, seeds=4, jobs=2)
    assert again.matches == result.matches


def test_bad_tournaments_stop_before_any_match(tmp_path):
    with pytest.raises(ValueError, match="unknown agent 'nobody'"):
        run_tournament(["nobody"], ["frequency"], rounds=10, seeds=1)
    with pytest.raises(ValueError, match="unknown opponent 'nobody'"):
        run_tournament(["uniform"], ["nobody"], rounds=10, seeds=1)
    with pytest.raises(ValueError, match="rounds must be an integer >= 1, got 0"):
        run_tournament(["uniform"], ["frequency"], rounds=0)
    with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
        run_tournament(["uniform"], ["frequency"], rounds=5, jobs=0)
    with pytest.raises(ValueError, match="opponents given twice"):
        run_tournament(["uniform"], ["frequency", "frequency"], rounds=5)
    with pytest.raises(ValueError, match="outside bots play rock, paper, scissors only; got the game rpsls"):
        (tmp_path / "rock.py").write_text("def agent(observation, configuration):\n    return 0\n")
        run_tournament(["uniform"], [f"kaggle:path={tmp_path / 'rock.py'}"], rounds=5, game="rpsls")
    with pytest.raises(ValueError, match="unknown suite 'chess'; allowed: roshambo, kaggle"):
        suite("chess")


def test_cli_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "heat.png"
    argv = ["tournament", "--agents", "uniform,constant:move=1", "--opponents", "constant:move=0,markov:order=2,decay=0.9",
            "--rounds", "50", "--seeds", "3", "--jobs", "2", "--json", "--plot", str(plot)]  # fmt: skip
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["agent"] for e in data["leaderboard"]] == ["constant:move=1", "uniform"]
    assert all({"agent", "mean", "ci95", "wins", "draws", "losses", "worst_opponent"} <= set(e) for e in data["leaderboard"])
    assert len(data["pairs"]) == 4 and all({"agent", "opponent", "mean", "ci95"} <= set(p) for p in data["pairs"])
    assert data["opponents"] == ["constant:move=0", "markov:order=2,decay=0.9"] and data["seeds"] == [0, 1, 2]
    assert os.path.getsize(plot) > 1000
    assert cli.main(["tournament", "--agents", "uniform", "--opponents", "frequency", "--rounds", "20", "--seeds", "2", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "leaderboard" in out and "uniform" in out and "frequency" in out
    assert cli.main(["tournament", "--agents", "uniform"]) == 2
    assert "no opponents" in capsys.readouterr().err


@needs_spiel
def test_roshambo_suite_runs_every_bot(capsys):
    argv = ["tournament", "--suite", "roshambo", "--agents", "uniform,constant:move=0", "--rounds", "30", "--seeds", "1", "--jobs", "2", "--json"]
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["opponents"]) == 43 and "roshambo:bot=iocainebot" in data["opponents"]
    assert len(data["pairs"]) == 86 and not [m for m in data["matches"] if m["forfeit"]]
    rock = {p["opponent"]: p["mean"] for p in data["pairs"] if p["agent"] == "constant:move=0"}
    assert rock["roshambo:bot=rockbot"] == 0.0 and rock["roshambo:bot=iocainebot"] < -0.5


def test_kaggle_suite_runs_or_names_the_extra(capsys):
    argv = ["tournament", "--suite", "kaggle", "--agents", "constant:move=0", "--rounds", "20", "--seeds", "1", "--jobs", "1", "--json"]
    if not HAS_KAGGLE:
        assert cli.main(argv) == 2
        assert "pip install 'policygrad[kaggle]'" in capsys.readouterr().err
        return
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    means = {p["opponent"]: p["mean"] for p in data["pairs"]}
    assert means["kaggle:agent=paper"] == -1.0 and means["kaggle:agent=scissors"] == 1.0 and means["kaggle:agent=rock"] == 0.0
    assert means["kaggle:agent=statistical"] is None  # it returns None on step 0: a forfeit, recorded


@needs_spiel
def test_outside_bots_replay_the_same_in_processes_or_not():
    # the bots' process-wide generators are seeded at every match's reset: where a match runs does not matter
    opponents = ["roshambo:bot=iocainebot", "roshambo:bot=randbot", "roshambo:bot=phasenbott"]
    one = run_tournament(["uniform", "online"], opponents, rounds=200, seeds=2, jobs=1)
    two = run_tournament(["uniform", "online"], opponents, rounds=200, seeds=2, jobs=2)
    assert one.matches == two.matches and len({m["total"] for m in one.matches}) > 3


class Sleeper(Crasher):
    """A player that stalls in round 4."""

    def act(self, last_opponent_move=None):
        import time

        self.t += 1
        if self.t == 4:
            time.sleep(60)
        return 0


def test_a_side_over_the_move_time_limit_forfeits(monkeypatch, tmp_path):
    monkeypatch.setitem(PLAYERS, "sleeper", Sleeper)
    loops = tmp_path / "loops.py"
    loops.write_text("def agent(observation, configuration):\n    while observation.step == 2:\n        pass\n    return 0\n")
    result = run_tournament(["constant:move=1", "sleeper"], ["constant:move=0", f"kaggle:path={loops}"], rounds=20, seeds=1, jobs=2, move_timeout=0.5)
    looped = result.pair("constant:move=1", f"kaggle:path={loops}")
    assert looped["forfeits"] == 1 and looped["wins"] == 1
    assert "failed in round 3: MoveTimeout: no move within the limit of 0.5 s" in looped["errors"][0]
    slept = result.pair("sleeper", "constant:move=0")
    assert slept["losses"] == 1 and slept["errors"] == ["MoveTimeout: no move within the limit of 0.5 s"]
    assert result.pair("constant:move=1", "constant:move=0")["mean"] == 1.0  # the others play on
    # in this process too, and the alarm is put back afterwards
    import signal

    before = signal.getsignal(signal.SIGALRM)
    assert play_match("sleeper", "constant:move=0", 10, 0, "rps", 0.3)["forfeit"] == "agent"
    assert signal.getsignal(signal.SIGALRM) == before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with pytest.raises(ValueError, match="move_timeout must be a number of seconds > 0, got -1"):
        run_tournament(["uniform"], ["frequency"], rounds=5, move_timeout=-1)
