"""`policygrad export kaggle PLAYER` for the registered players `online`, `meta` and `meta-raw`: the NumPy-only file
plays the library player's moves, move by move, for the same history and seed (and an expert-mixture file exports too)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from policygrad.agent import Agent, OpponentPlayer, make_player
from policygrad.cli import main
from policygrad.expert_agent import EXPERT_META_CHECKPOINT, EXPERT_META_SAFETY
from policygrad.export import PLAYER_EXPORTS, export_kaggle, kaggle_source
from policygrad.games import make_game

torch.set_num_threads(1)
PLAYERS = ["online", "meta", "meta-raw"]
ROUNDS = 1000
M = make_game("rps").payoff.double().numpy()


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _opponent(kind: str, seed: int):
    """(reply(last agent move, agent's probabilities this round) -> this round's opponent move), for each kind of opponent."""
    if kind == "reader":  # the white-box best reply to the probabilities the agent draws from: it drives the guard's budget down
        return lambda _last, probs: int(np.argmin(np.asarray(probs) @ M))
    player = make_player("online") if kind == "online" else OpponentPlayer(kind)
    player.reset(seed)
    return lambda last, _probs: player.act(last)


def _match(mod, lib, kind: str, seed: int, rounds: int = ROUNDS) -> tuple[int, int]:
    """Play the file and the library player side by side against one opponent; assert equal moves and probabilities
    every round. Returns (the agent's total score, the rounds in which the guard held back: budget below epsilon)."""
    lib.reset(seed)
    reply = _opponent(kind, seed + 100)
    last_opp, last_mine, score, guarded = None, None, 0, 0
    for step in range(rounds):
        move = mod.agent({"step": step, "lastOpponentAction": last_opp}, {"signs": 3})
        assert type(move) is int  # Kaggle takes a Python int only
        assert move == lib.act(last_opp), (kind, seed, step)
        assert mod._PLAYER.last_probs == lib.last_probs, (kind, seed, step)  # bit for bit: the same code on the same numbers
        guard = mod._PLAYER.guard if hasattr(mod._PLAYER, "guard") else None
        guarded += guard is not None and guard.budget < guard.epsilon
        opp = reply(last_mine, lib.last_probs)
        score += int(M[move, opp])
        last_opp, last_mine = opp, move
    return score, guarded


@pytest.mark.parametrize("name", PLAYERS)
def test_the_exported_players_moves_equal_the_library_players(tmp_path, name):
    """1000-round matches, 2 seeds, against an adaptive predictor, a random player, online, and a white-box reader."""
    for seed in (0, 7):
        mod = _load(export_kaggle(name, str(tmp_path / f"{name}_{seed}.py"), seed=seed), f"exported_{name.replace('-', '_')}_{seed}")
        lib = make_player(name)
        assert mod.SEED == seed and mod.PLAYER == name
        results = {kind: _match(mod, lib, kind, seed) for kind in ("markov:order=2", "mixed", "online", "reader")}
        if name == "meta":
            # the guard is in the file, and it works: the reader takes at most epsilon in expectation, and the budget bound it
            assert mod.SAFETY == EXPERT_META_SAFETY and results["reader"][1] > 0
        if name == "meta-raw":
            assert mod.SAFETY is None
        assert results["markov:order=2"][0] > 100, results  # it plays to win (online and meta beat this predictor clearly)


def test_the_file_needs_only_numpy(tmp_path):
    """Both kinds of player files run in a fresh interpreter where torch and policygrad cannot be imported."""
    for name in ("online", "meta"):
        path = export_kaggle(name, str(tmp_path / f"{name}.py"), seed=1)
        code = (
            "import sys; sys.modules['torch'] = None; sys.modules['policygrad'] = None\n"
            f"ns = {{}}; exec(compile(open({path!r}).read(), 'agent.py', 'exec'), ns)\n"
            "print([ns['agent']({'step': s, 'lastOpponentAction': s % 3 if s else None}, {'signs': 3}) for s in range(30)])\n"
            "assert [v for v in ns.values() if callable(v)][-1] is ns['agent']  # Kaggle calls the last callable\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        moves = eval(out.stdout)
        lib = make_player(name)
        lib.reset(1)
        assert moves == [lib.act(s % 3 if s else None) for s in range(30)]


def test_step_zero_starts_a_new_match_with_the_seed(tmp_path):
    mod = _load(export_kaggle("meta", str(tmp_path / "agent.py"), seed=3), "exported_meta_reset")

    def match():
        out, opp = [], None
        for step in range(40):
            out.append(mod.agent({"step": step, "lastOpponentAction": opp}, {"signs": 3}))
            opp = (step * 7) % 3
        return out

    first = match()
    assert match() == first
    with pytest.raises(ValueError, match="last_opponent_move must be a move in 0..2"):
        mod.agent({"step": 1, "lastOpponentAction": 3}, {"signs": 3})
    with pytest.raises(ValueError, match="this agent plays 3 signs"):
        mod.agent({"step": 0}, {"signs": 5})


def test_an_expert_mixture_file_exports_unguarded_as_agent_load_plays_it(tmp_path):
    mod = _load(export_kaggle(EXPERT_META_CHECKPOINT, str(tmp_path / "agent.py"), seed=2), "exported_expert_file")
    assert mod.SAFETY is None and mod.PLAYER == "expert-meta.pt"
    _match(mod, Agent.load(EXPERT_META_CHECKPOINT), "markov:order=2", 2, rounds=200)


def test_a_name_that_is_neither_a_player_nor_a_file(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="'meta-gru' is neither an exportable player nor a checkpoint .*allowed: online, meta, meta-raw"):
        kaggle_source("meta-gru")
    assert main(["export", "kaggle", "nobody", "-o", str(tmp_path / "x.py")]) == 2
    assert "allowed: " + ", ".join(PLAYER_EXPORTS) in capsys.readouterr().err
    assert not (tmp_path / "x.py").exists()
    assert main(["export", "kaggle", "online", "-o", str(tmp_path / "online.py"), "--seed", "4"]) == 0
    assert "wrote" in capsys.readouterr().out and _load(str(tmp_path / "online.py"), "exported_cli_online").SEED == 4
