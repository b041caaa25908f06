"""`policygrad compare` and `policygrad exploitability`: the JSON names agent, training opponent,
exploitability and the reward against each evaluation opponent; the saved agents load; and trained
against best-response, policy gradient ends nearly unexploitable while Q-learning and DQN do not."""

from __future__ import annotations

import json
import os

import pytest
import torch

from policygrad.agent import Agent
from policygrad.compare import CompareSettings, compare
from policygrad.cli import main

torch.set_num_threads(1)

AGENTS = ["pg", "q-learning", "dqn", "deterministic"]


def test_cli_compare_json_and_saved_agents(tmp_path, capsys):
    argv = ["compare", "--opponents", "best-response,markov:order=2", "--agents", ",".join(AGENTS), "--seeds", "1",
            "--rounds", "4", "--iterations", "3", "--batch", "8", "--matches", "20", "--json", "--save", str(tmp_path / "agents"),
            "--plot", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    evals = report["evaluation_opponents"]
    assert evals == ["best-response", "markov:order=2", "frequency", "markov", "exploiter"]
    assert sorted((e["agent"], e["opponent"]) for e in report["entries"]) == sorted((a, o) for a in AGENTS for o in ("best-response", "markov:order=2"))
    for e in report["entries"]:
        assert 0 <= e["exploitability"] <= 1 + 1e-9 and e["exploitability_exact"]
        assert set(e["reward"]) == set(evals)
        assert all(-1 <= r["mean"] <= 1 and r["ci95"] >= 0 for r in e["reward"].values())
        assert e["train_seconds"] > 0 and len(e["per_seed"]) == 1
        if e["agent"] == "deterministic":
            assert e["exploitability"] == pytest.approx(1.0)
        if e["agent"] in ("q-learning", "dqn"):
            assert e["exploitability"] == pytest.approx(0.9, abs=1e-6)  # epsilon-soft, epsilon = 0.1
    assert os.path.exists(report["plot"])
    saved = sorted(os.listdir(tmp_path / "agents"))
    assert len(saved) == 8
    for name in saved:
        agent = Agent.load(str(tmp_path / "agents" / name))
        assert agent.rounds == 4 and 0 <= agent.act(None) < 3
    # policygrad exploitability CHECKPOINT agrees with the table
    entry = next(e for e in report["entries"] if e["agent"] == "pg" and e["opponent"] == "best-response")
    assert main(["exploitability", str(tmp_path / "agents" / "pg__best-response__0.pt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["exact"] and out["value"] == pytest.approx(entry["exploitability"], abs=1e-9)
    assert main(["exploitability", str(tmp_path / "agents" / "q-learning__markov_order=2__0.pt")]) == 0
    assert "0.9000" in capsys.readouterr().out


def test_trained_against_best_response_pg_is_nearly_unexploitable_and_the_baselines_are_not():
    s = CompareSettings(opponents=("best-response",), agents=("pg", "q-learning", "dqn"), seeds=(0,), rounds=10, iterations=60, batch=32,
                        matches=50, eval_opponents=("best-response",))  # fmt: skip
    entries = {e["agent"]: e for e in compare(s)["entries"]}
    assert entries["pg"]["exploitability"] < 0.05
    assert entries["q-learning"]["exploitability"] > 0.5 and entries["dqn"]["exploitability"] > 0.5
    # against the best response, the agent's reward is minus its exploitability
    for e in entries.values():
        assert e["reward"]["best-response"]["mean"] == pytest.approx(-e["exploitability"], abs=4 * e["reward"]["best-response"]["ci95"] / 1.96 + 0.02)


def test_bad_input(capsys):
    assert main(["compare", "--agents", "pg,sarsa"]) == 2
    assert "sarsa" in capsys.readouterr().err
    assert main(["compare", "--opponents", "nobody"]) == 2
    assert main(["exploitability", "/nonexistent/checkpoint.pt"]) == 2
    with pytest.raises(SystemExit):
        main(["compare", "--seeds", "0"])


def test_gradient_play_on_exploitability_from_a_biased_start():
    # the policy starts uniform in `compare`; here it starts 0.6 exploitable and must get below 0.05
    from policygrad.config import TrainConfig
    from policygrad.exploitability import exploitability
    from policygrad.train import Trainer

    # the small constant bonus and decaying step of the comparison's pinned settings, not the trainer's defaults
    cfg = TrainConfig(
        opponent="best-response", rounds=10, context=1, counts=False, iterations=80, batch=64, tensorboard=False, ent_coef=0.0003, lr_schedule="linear"
    )
    trainer = Trainer(cfg)
    with torch.no_grad():
        trainer.policy.net[-1].bias.copy_(torch.tensor([1.5, 0.0, -0.5]))
        trainer.policy.net[-1].weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    start = exploitability(trainer.policy, "rps", 10, 1).value
    for _ in range(cfg.iterations):
        trainer.step()
    assert start > 0.5
    assert exploitability(trainer.policy, "rps", 10, 1).value < 0.05
