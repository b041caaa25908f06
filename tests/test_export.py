"""`policygrad export kaggle`: the NumPy-only agent file reproduces the trained policy, and plays the
real Kaggle ``rps`` environment (kaggle-environments, the optional extra ``kaggle``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from policygrad import Agent
from policygrad.agent import make_player
from policygrad.checkpoint import load_checkpoint, save_checkpoint
from policygrad.cli import main
from policygrad.config import TrainConfig
from policygrad.export import export_kaggle, kaggle_payoff, kaggle_source
from policygrad.train import train

# (policy, hidden, context, counts): every policy kind, several observation layouts
SETUPS = {
    "mlp": ("mlp", (8, 8), 2, True),
    "mlp-k0": ("mlp", (8,), 0, False),
    "tabular": ("tabular", (8,), 2, False),
    "tabular-counts": ("tabular", (8,), 1, True),
    "gru": ("gru", (8,), 1, True),
}
ROUNDS = 10  # T of training; the matches below run past it (the round feature is capped at 1)


def _checkpoint(root, name: str) -> str:
    """A tiny trained run, its policy weights then replaced by N(0, 1) draws so pi is far from uniform."""
    kind, hidden, context, counts = SETUPS[name]
    run_dir = str(root / name)
    cfg = TrainConfig(
        policy=kind, hidden=hidden, context=context, counts=counts, rounds=ROUNDS, iterations=2, batch=16, opponent="frequency", tensorboard=False
    )
    train(cfg, run_dir, with_optimum=False)
    data = load_checkpoint(run_dir)
    gen = torch.Generator().manual_seed(7)
    data["policy"] = {k: torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in data["policy"].items()}
    return save_checkpoint(f"{run_dir}/checkpoint.pt", data)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {name: _checkpoint(root, name) for name in SETUPS}


def _load(path: str, name: str = "exported_agent"):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", list(SETUPS))
def test_exported_probabilities_equal_agent(checkpoints, tmp_path, name):
    """Move by move over 3 T rounds of one history, pi of the file equals pi of policygrad.Agent."""
    path = export_kaggle(checkpoints[name], str(tmp_path / "agent.py"), seed=5)
    mod = _load(path, f"exported_{name.replace('-', '_')}")
    ref = Agent.load(checkpoints[name])
    ref.reset(0)
    rng = np.random.default_rng(11)
    mine, theirs, worst, spread = [], [], 0.0, 0.0
    opp = None
    for step in range(3 * ROUNDS):
        move = mod.agent({"step": step, "lastOpponentAction": opp}, {"signs": 3})
        assert type(move) is int and 0 <= move < 3  # Kaggle rejects anything but a Python int
        ref.act(opp)
        ref.my_last = move  # the same history for both: the file's move
        want = np.array(ref.last_probs)
        worst = max(worst, float(np.abs(mod.last_probs - want).max()))
        spread = max(spread, float(want.max() - want.min()))
        # the pure function of the history gives the same numbers and leaves the match alone
        np.testing.assert_allclose(mod.probabilities(mine, theirs), mod.last_probs, rtol=0, atol=1e-12)
        mine.append(move)
        opp = int(rng.integers(3))
        theirs.append(opp)
    # float32 torch against float64 NumPy from the same float32 weights and the same float32 features
    assert worst < 2e-6, worst
    assert spread > 0.2  # the random weights make pi far from uniform, so the comparison means something


def test_exported_file_needs_only_numpy(checkpoints, tmp_path):
    """The file runs in a fresh interpreter where torch and policygrad cannot be imported."""
    path = export_kaggle(checkpoints["gru"], str(tmp_path / "agent.py"), seed=1)
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['policygrad'] = None\n"
        f"ns = {{}}; exec(compile(open({path!r}).read(), 'agent.py', 'exec'), ns)\n"
        "print([ns['agent']({'step': s, 'lastOpponentAction': s % 3 if s else None}, {'signs': 3}) for s in range(12)])\n"
        "assert [v for v in ns.values() if callable(v)][-1] is ns['agent']  # Kaggle calls the last callable\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    moves = eval(out.stdout)
    assert len(moves) == 12 and set(moves) <= {0, 1, 2}


def test_seed_reproduces_a_match_and_step_zero_resets(checkpoints, tmp_path):
    mod = _load(export_kaggle(checkpoints["mlp"], str(tmp_path / "agent.py"), seed=3), "exported_seeded")

    def match():
        out, opp = [], None
        for step in range(15):
            out.append(mod.agent({"step": step, "lastOpponentAction": opp}, {"signs": 3}))
            opp = (step * 7) % 3
        return out

    first = match()
    assert match() == first  # step 0 resets history, GRU state and generator


def test_bad_input(checkpoints, tmp_path):
    mod = _load(export_kaggle(checkpoints["mlp"], str(tmp_path / "agent.py")), "exported_bad")
    with pytest.raises(ValueError, match="3 signs"):
        mod.agent({"step": 0}, {"signs": 5})
    mod.agent({"step": 0}, {"signs": 3})
    with pytest.raises(ValueError, match="0..2"):
        mod.agent({"step": 1, "lastOpponentAction": 3}, {"signs": 3})
    with pytest.raises(ValueError, match="seed"):
        kaggle_source(checkpoints["mlp"], seed=-1)
    with pytest.raises(FileNotFoundError):
        kaggle_source(str(tmp_path / "missing.pt"))


def test_kaggle_payoff_is_rps():
    """Kaggle's get_score for 3 signs is RPS with rock 0, paper 1, scissors 2."""
    from policygrad.games import make_game

    assert np.array_equal(kaggle_payoff(3), make_game("rps").payoff.numpy())


def test_rejects_a_game_kaggle_scores_differently(tmp_path):
    run_dir = str(tmp_path / "rpsls")
    train(TrainConfig(game="rpsls", iterations=1, batch=8, rounds=4, tensorboard=False), run_dir, with_optimum=False)
    with pytest.raises(ValueError, match="Kaggle rps environment scores"):
        kaggle_source(run_dir)


def test_cli_export(checkpoints, tmp_path, capsys):
    out = tmp_path / "cli_agent.py"
    assert main(["export", "kaggle", checkpoints["tabular"], "-o", str(out), "--seed", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    mod = _load(str(out), "exported_cli")
    assert mod.SEED == 2 and mod.POLICY == "tabular"
    assert main(["export", "kaggle", str(tmp_path / "nope.pt"), "-o", str(tmp_path / "x.py")]) == 2
    assert "'" + str(tmp_path / "nope.pt") + "' is neither an exportable player nor a checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "onnx", checkpoints["tabular"], "-o", str(out)])


# -- the real Kaggle environment ---------------------------------------------------------------------

BUILTIN = ["rock", "paper", "scissors", "copy_opponent", "reactionary", "counter_reactionary", "statistical"]


def _kaggle():
    return pytest.importorskip(
        "kaggle_environments",
        reason="kaggle-environments is not installed (optional extra: pip install -e '.[kaggle]'; .ci/run installs it)",
    )


@pytest.mark.parametrize("name", ["mlp", "tabular", "gru"])
def test_plays_the_kaggle_rps_environment(checkpoints, tmp_path, name):
    """Full matches against every built-in agent: no invalid move, no error, every round played."""
    kaggle = _kaggle()
    path = export_kaggle(checkpoints[name], str(tmp_path / "agent.py"), seed=0)
    steps_n = 30
    assert set(BUILTIN) <= set(kaggle.make("rps").agents)
    for opponent in BUILTIN:
        env = kaggle.make("rps", configuration={"episodeSteps": steps_n})
        steps = env.run([path, opponent])
        assert len(steps) == steps_n, opponent
        assert [s.status for s in steps[-1]] == ["DONE", "DONE"], (opponent, steps[-1])
        moves = [steps[i][1].observation.lastOpponentAction for i in range(1, steps_n)]
        assert all(isinstance(m, int) and 0 <= m < 3 for m in moves), (opponent, moves)


@pytest.mark.parametrize("name", ["online", "meta"])
def test_registered_players_play_the_kaggle_rps_environment_as_the_library_plays(tmp_path, name):
    """The exported `online` and `meta` in the real environment against every built-in agent: every round played, and
    the moves the environment recorded are the library player's own for the same seed and the same opponent moves."""
    kaggle = _kaggle()
    path = export_kaggle(name, str(tmp_path / "agent.py"), seed=5)
    steps_n, payoff = 150, kaggle_payoff(3)
    lib = make_player(name)
    for opponent in BUILTIN:
        env = kaggle.make("rps", configuration={"episodeSteps": steps_n})
        steps = env.run([path, opponent])
        assert len(steps) == steps_n and [s.status for s in steps[-1]] == ["DONE", "DONE"], (opponent, steps[-1])
        mine = [steps[i][1].observation.lastOpponentAction for i in range(1, steps_n)]  # the file's move of round i - 1
        theirs = [steps[i][0].observation.lastOpponentAction for i in range(1, steps_n)]
        lib.reset(5)
        assert [lib.act(None)] + [lib.act(o) for o in theirs[:-1]] == mine, opponent
        score = sum(payoff[a, o] for a, o in zip(mine, theirs))
        assert steps[-1][0].reward == score  # the environment scored the moves we replayed
        if opponent in ("rock", "paper", "scissors", "copy_opponent"):  # exploitable: both players beat them soundly
            assert score > 0.6 * steps_n, (opponent, score)


def test_kaggle_environment_applies_the_moves(tmp_path, checkpoints):
    """A table that always plays paper beats the built-in `rock` every round: 49 of 49 in 50 steps."""
    kaggle = _kaggle()
    data = load_checkpoint(checkpoints["tabular"])
    table = torch.zeros_like(data["policy"]["table"])
    table[:, 1] = 50.0  # pi(paper) = 1 - 2e-22
    data["policy"] = {"table": table}
    ckpt = save_checkpoint(str(tmp_path / "paper.pt"), data)
    path = export_kaggle(ckpt, str(tmp_path / "paper_agent.py"), seed=0)
    env = kaggle.make("rps", configuration={"episodeSteps": 50})
    steps = env.run([path, "rock"])
    assert [s.reward for s in steps[-1]] == [49, -49]
    env = kaggle.make("rps", configuration={"episodeSteps": 50})
    steps = env.run(["scissors", path])
    assert [s.reward for s in steps[-1]] == [49, -49]
