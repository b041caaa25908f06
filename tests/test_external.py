"""Outside bots as opponents: real RoShamBo competition bots (OpenSpiel) and Kaggle agents, full matches.

The roshambo tests need the ``roshambo`` extra (open_spiel), the built-in Kaggle agents the
``kaggle`` extra (kaggle-environments); each skips with the install command when it is missing.
Kaggle agent *files* need nothing extra.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from policygrad.engine import Engine
from policygrad.games import make_game
from policygrad.opponents import REGISTRY, make_opponent, split_specs
from policygrad.opponents.external import BotError, MissingExtraError, with_rounds

HAS_SPIEL = importlib.util.find_spec("pyspiel") is not None
HAS_KAGGLE = importlib.util.find_spec("kaggle_environments") is not None
needs_spiel = pytest.mark.skipif(not HAS_SPIEL, reason="open_spiel is not installed: pip install 'policygrad[roshambo]'")
needs_kaggle = pytest.mark.skipif(not HAS_KAGGLE, reason="kaggle-environments is not installed: pip install 'policygrad[kaggle]'")

T = 1000  # the competition's match length


def play(spec, agent_moves_T, seed=0, n=1):
    """A full match through the engine: the agent plays ``agent_moves_T`` ([T] long, the same in
    every one of n matches). Returns (opponent moves [T, n], agent's rewards [T, n])."""
    rounds = len(agent_moves_T)
    e = Engine(spec, n=n, rounds=rounds, context=0, seed=seed)
    e.reset()
    own, rewards = [], []
    for t in range(rounds):
        _, r, done, info = e.step(agent_moves_T[t].repeat(n))
        own.append(info["opponent_move"])
        rewards.append(r)
    assert done
    return torch.stack(own), torch.stack(rewards)


def random_moves(rounds, seed=0):
    return torch.randint(0, 3, (rounds,), generator=torch.Generator().manual_seed(seed))


# -- RoShamBo competition bots ------------------------------------------------------------------------


@needs_spiel
def test_rockbot_plays_rock_for_a_full_match_and_paper_beats_it():
    own, rewards = play("roshambo:bot=rockbot", torch.ones(T, dtype=torch.long))  # the agent plays paper
    assert (own == 0).all()  # OpenSpiel's 0 is rock, as ours
    assert float(rewards.sum()) == T


@needs_spiel
def test_copybot_sees_the_history_we_feed_it():
    # copybot (1999 field) plays the move that beats the opponent's previous move: checking it over
    # a full match checks that every round's history reaches the bot, in our move convention
    agent = random_moves(T, seed=1)
    own, _ = play("roshambo:bot=copybot", agent, n=2)
    beats = torch.tensor([1, 2, 0])  # paper beats rock, scissors paper, rock scissors
    assert torch.equal(own[1:, 0], beats[agent[:-1]])
    assert torch.equal(own[:, 0], own[:, 1])


@needs_spiel
def test_iocainebot_exploits_a_predictable_agent_over_a_full_match():
    agent = torch.arange(T) % 3  # rock, paper, scissors, rock, ...
    _, rewards = play("roshambo:bot=iocainebot", agent, n=3)
    per_round = rewards.double().mean(0)
    assert (per_round < -0.9).all(), per_round  # the 1999 winner reads a cycle almost at once


@needs_spiel
def test_greenberg_against_a_random_agent_is_even():
    _, rewards = play("roshambo:bot=greenberg", random_moves(T, seed=2))
    assert abs(float(rewards.double().mean())) < 4 / T**0.5  # 4 standard errors of a fair coin game


@needs_spiel
def test_stochastic_bots_replay_with_the_same_seed_and_differ_with_another():
    agent = random_moves(200, seed=3)
    a, _ = play("roshambo:bot=randbot", agent, seed=5, n=2)
    b, _ = play("roshambo:bot=randbot", agent, seed=5, n=2)
    c, _ = play("roshambo:bot=randbot", agent, seed=6, n=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[:, 0], a[:, 1])  # N matches are N bots


@needs_spiel
def test_roshambo_contract_and_limits():
    opp = make_opponent("roshambo:bot=iocainebot")
    assert opp.spec == "roshambo:bot=iocainebot" and "roshambo" not in REGISTRY  # beside the batched registry
    g = torch.Generator().manual_seed(0)
    opp.reset(4, make_game("rps"), g, torch.float64)
    p = opp.probs()
    assert p.dtype == torch.float64 and p.shape == (4, 3) and torch.equal(p.sum(1), torch.ones(4, dtype=torch.float64))
    assert torch.equal(opp.probs(), p)  # asking twice asks the bots once
    with pytest.raises(NotImplementedError, match="cannot branch"):
        opp.select(torch.tensor([0, 0]))
    with pytest.raises(ValueError, match=r"roshambo: unknown bot 'nobody'; allowed: actr_lag2_decay, .*iocainebot"):
        make_opponent("roshambo:bot=nobody")
    with pytest.raises(ValueError, match="rock, paper, scissors only"):
        Engine("roshambo:bot=rockbot", game="rpsls").reset()
    e = Engine("roshambo:bot=rockbot", n=1, rounds=1001)
    e.reset()
    for _ in range(999):
        e.step(torch.tensor([0]))
    with pytest.raises(BotError, match=r"built for 1000 rounds; use roshambo:bot=rockbot,rounds=N"):
        e.step(torch.tensor([0]))  # the 1001st move would overflow the bot's history
    with pytest.raises(ValueError, match=r"'rounds'; allowed: an integer in \[1000, 100000\]"):
        make_opponent("roshambo:bot=rockbot,rounds=30")  # shorter histories crash some of the C bots
    assert with_rounds(make_opponent("roshambo:bot=rockbot"), 2000).rounds == 2000
    assert with_rounds(make_opponent("roshambo:bot=rockbot"), 30).rounds == 1000
    assert with_rounds(make_opponent("roshambo:bot=rockbot,rounds=3000"), 2000).rounds == 3000
    assert with_rounds(make_opponent("kaggle:agent=rock"), 30).rounds == 30 if HAS_KAGGLE else True
    assert split_specs("roshambo:bot=rockbot,frequency,roshambo:bot=copybot,rounds=2000") == [
        "roshambo:bot=rockbot", "frequency", "roshambo:bot=copybot,rounds=2000"
    ]  # fmt: skip


def test_missing_open_spiel_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspiel", None)  # import pyspiel now raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'policygrad\[roshambo\]'"):
        make_opponent("roshambo:bot=rockbot")


# -- Kaggle agents -------------------------------------------------------------------------------------

BEAT_LAST = """
import random
calls = 0  # module state: a fresh namespace per match starts it at 0

def helper(x):
    return x

def agent(observation, configuration):
    global calls
    assert observation.step == calls, (observation.step, calls)
    assert configuration.signs == 3 and configuration.episodeSteps == EPISODE_STEPS
    calls += 1
    if observation.step == 0:
        assert "lastOpponentAction" not in observation
        return random.randrange(configuration.signs)
    return (observation.lastOpponentAction + 1) % configuration.signs  # beat the agent's last move
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_kaggle_file_agent_plays_a_full_match(tmp_path):
    path = write(tmp_path, "beat_last.py", BEAT_LAST.replace("EPISODE_STEPS", str(T + 1)))
    agent = random_moves(T, seed=4)
    own, rewards = play(f"kaggle:path={path}", agent, n=2)
    beats = torch.tensor([1, 2, 0])
    assert torch.equal(own[1:, 0], beats[agent[:-1]]) and torch.equal(own[1:, 1], beats[agent[:-1]])
    # and once more with the same opponent object: each match runs the file afresh (calls == 0)
    opp = make_opponent(f"kaggle:path={path}")
    for _ in range(2):
        e = Engine(opp, n=1, rounds=10, context=0)
        e.reset()
        for t in range(10):
            e.step(agent[t : t + 1])


def test_kaggle_reward_is_the_bots_own(tmp_path):
    path = write(
        tmp_path,
        "rock.py",
        "seen = []\ndef agent(observation, configuration):\n    seen.append(observation.reward)\n    if observation.step == 5:\n        assert seen == [0, 1, 2, 3, 4, 5], seen\n    return 0\n",
    )
    _, rewards = play(f"kaggle:path={path},rounds=6", torch.full((6,), 2, dtype=torch.long))  # agent: scissors
    assert float(rewards.sum()) == -6


@pytest.mark.parametrize(
    "body, message",
    [
        ("return 3", r"kaggle:path=.*bad\.py returned 3 in round 1; allowed: an int in 0\.\.2"),
        ("return None", r"returned None in round 1"),
        ("return 1.0", r"returned 1\.0 in round 1"),
        ("return 0 if observation.step < 4 else 1 // 0", r"bad\.py failed in round 5: ZeroDivisionError: integer division or modulo by zero"),
    ],
)
def test_kaggle_agent_errors_are_clear(tmp_path, body, message):
    path = write(tmp_path, "bad.py", f"def agent(observation, configuration):\n    {body}\n")
    with pytest.raises(BotError, match=message):
        play(f"kaggle:path={path}", torch.zeros(10, dtype=torch.long))


def test_kaggle_bad_specs(tmp_path):
    with pytest.raises(ValueError, match="kaggle: no agent file '/no/such.py'"):
        make_opponent("kaggle:path=/no/such.py")
    with pytest.raises(ValueError, match="give exactly one of path=FILE.py or agent=NAME"):
        make_opponent("kaggle")
    empty = write(tmp_path, "empty.py", "x = 1\n")
    with pytest.raises(ValueError, match="defines no function"):
        make_opponent(f"kaggle:path={empty}")
    broken = write(tmp_path, "broken.py", "def agent(:\n")
    with pytest.raises(ValueError, match=r"broken\.py is not valid Python \(line 1\): SyntaxError: invalid syntax"):
        make_opponent(f"kaggle:path={broken}")  # compiled, not run: refused before any match
    outside = write(tmp_path, "outside.py", "def agent(o, c):\n    return 0\nreturn 1\n")
    with pytest.raises(ValueError, match=r"outside\.py is not valid Python \(line 3\): SyntaxError: 'return' outside function"):
        make_opponent(f"kaggle:path={outside}")  # an error of compile(), which ast.parse alone accepts
    one = write(tmp_path, "one.py", "def first(o, c):\n    return 1\n")
    with pytest.raises(ValueError, match=r"kaggle: .*one\.py defines no function 'third'"):
        make_opponent(f"kaggle:path={one},function=third")
    with pytest.raises(ValueError, match=r"kaggle: no agent file .*\(Is a directory\)"):
        make_opponent(f"kaggle:path={tmp_path}")
    raises = write(tmp_path, "raises.py", "raise RuntimeError('boom')\ndef agent(o, c):\n    return 0\n")
    opp = make_opponent(f"kaggle:path={raises}")  # building it runs nothing; playing runs the file
    with pytest.raises(BotError, match=r"loading the file failed: RuntimeError: boom"):
        play(opp, torch.zeros(3, dtype=torch.long))
    two = write(tmp_path, "two.py", "def first(o, c):\n    return 1\ndef second(o, c):\n    return 2\n")
    assert (play(f"kaggle:path={two}", torch.zeros(3, dtype=torch.long))[0] == 2).all()  # the last function
    assert (play(f"kaggle:path={two},function=first", torch.zeros(3, dtype=torch.long))[0] == 1).all()


@needs_kaggle
def test_kaggle_builtin_agents_play_full_matches():
    agent = random_moves(T, seed=5)
    own, _ = play("kaggle:agent=copy_opponent", agent, n=2)
    assert torch.equal(own[1:, 0], agent[:-1]) and torch.equal(own[1:, 1], agent[:-1])  # copies our last move
    own, rewards = play("kaggle:agent=paper", agent)
    assert (own == 1).all()
    own, _ = play("kaggle:agent=reactionary", agent, n=3)  # module globals: one fresh copy per match
    assert torch.equal(own[1:, 0], own[1:, 1]) and torch.equal(own[1:, 1], own[1:, 2])
    with pytest.raises(BotError, match="kaggle:agent=statistical returned None in round 1"):
        play("kaggle:agent=statistical", agent)  # Kaggle's own example returns None on step 0
    with pytest.raises(ValueError, match="unknown built-in agent 'nobody'; allowed: rock, paper"):
        make_opponent("kaggle:agent=nobody")


def test_missing_kaggle_environments_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kaggle_environments" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"pip install 'policygrad\[kaggle\]'"):
        make_opponent("kaggle:agent=rock")
