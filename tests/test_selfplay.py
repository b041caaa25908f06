"""Self-play: plain simultaneous gradient ascent circles the equilibrium, MMD's last iterate converges
to the Nash equilibrium (also where it is not uniform), and the pair's exploitability is exact."""

from __future__ import annotations

import json

import pytest
import torch

from policygrad.cli import main
from policygrad.equilibrium import nash_equilibrium, pair_exploitability
from policygrad.exploitability import exploitability
from policygrad.games import make_game
from policygrad.policies import TabularPolicy
from policygrad.selfplay import SelfPlayConfig, selfplay

torch.set_num_threads(1)

GAMES = ["rps", "weighted-rps:weights=1,2,3"]


@pytest.mark.parametrize("game", GAMES)
def test_mmd_converges_in_the_last_iterate_and_gradient_ascent_does_not(game):
    mmd = selfplay(SelfPlayConfig(game=game, method="mmd", iterations=2000))
    plain = selfplay(SelfPlayConfig(game=game, method="gradient", iterations=2000))
    assert mmd.final < 0.01
    assert torch.allclose(mmd.policies[-1, 0], mmd.nash, atol=1e-3) and torch.allclose(mmd.policies[-1, 1], mmd.nash, atol=1e-3)
    # gradient ascent circles: its last iterate stays far from the equilibrium the whole second half
    assert plain.exploitability[1000:].min() > 0.1
    # ... while its average policy is much closer than its last iterate
    assert plain.final_average < plain.final / 4


def test_entropy_regularisation_finds_the_qre_not_the_nash_equilibrium():
    rps = selfplay(SelfPlayConfig(game="rps", method="entropy", iterations=1000))
    weighted = selfplay(SelfPlayConfig(game="weighted-rps:weights=1,2,3", method="entropy", iterations=1000))
    assert rps.final < 1e-6  # the QRE of RPS is uniform, the Nash equilibrium
    assert weighted.final > 0.05  # biased towards uniform: not the Nash equilibrium
    assert float((weighted.exploitability[-100:] - weighted.final).abs().max()) < 1e-6  # but it has converged


def test_nash_equilibrium_of_weighted_rps_has_its_closed_form():
    # each move in proportion to the weight of the move it beats: rock ~ w_scissors, paper ~ w_rock, ...
    nash = nash_equilibrium("weighted-rps:weights=1,2,3")
    assert torch.allclose(nash, torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64) / 6, atol=1e-6)


def test_pair_exploitability_matches_the_dynamic_programming():
    game = make_game("weighted-rps:weights=1,2,3")
    x = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    y = torch.tensor([0.6, 0.1, 0.3], dtype=torch.float64)
    singles = []
    for p in (x, y):
        policy = TabularPolicy(3, 0)
        with torch.no_grad():
            policy.table.copy_(p.log().float().unsqueeze(0))
        singles.append(exploitability(policy, game, 1, 0).value)
    assert pair_exploitability(game.payoff, x, y) == pytest.approx(sum(singles) / 2, abs=1e-6)


def test_sampled_feedback_plays_in_the_pettingzoo_env():
    r = selfplay(SelfPlayConfig(method="gradient", feedback="sampled", iterations=20, rounds=5, seed=3))
    again = selfplay(SelfPlayConfig(method="gradient", feedback="sampled", iterations=20, rounds=5, seed=3))
    assert torch.equal(r.policies, again.policies)  # same seed, same play
    assert -1 <= r.reward <= 1 and not torch.equal(r.policies[0], r.policies[-1])
    assert torch.allclose(r.policies.sum(-1), torch.ones(21, 2, dtype=torch.float64))


def test_bad_config():
    with pytest.raises(ValueError, match="unknown self-play method"):
        SelfPlayConfig(method="fictitious")
    with pytest.raises(ValueError, match="init"):
        SelfPlayConfig(init=((0.5, 0.5), (0.2, 0.3, 0.5)))
    with pytest.raises(ValueError, match="feedback"):
        SelfPlayConfig(feedback="oracle")


def test_cli_selfplay(tmp_path, capsys):
    assert main(["selfplay", "--iterations", "50", "--methods", "gradient,mmd", "--json", "--plot", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["game"], r["method"]) for r in out["runs"]] == [(g, m) for g in GAMES for m in ("gradient", "mmd")]
    assert all(r["exploitability_last"] >= 0 for r in out["runs"])
    assert (tmp_path / "selfplay_simplex.png").exists() and (tmp_path / "selfplay_exploitability.png").exists()
    assert main(["selfplay", "--methods", "nope"]) == 2
