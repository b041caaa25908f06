"""Training: runs you can trust (resume equals uninterrupted, bad input stops early, files are whole)."""

import json
import os

import pytest
import torch

from policygrad import Agent
from policygrad.cli import main
from policygrad.config import TrainConfig
from policygrad.checkpoint import load_policy
from policygrad.train import NonFiniteLossError, Trainer, train

TINY = dict(opponent="frequency", rounds=5, context=1, batch=16, iterations=6, checkpoint_every=2, tensorboard=False, hidden=(8,))


def params(path):
    policy, _, data = load_policy(path)
    return torch.cat([p.detach().reshape(-1) for p in policy.parameters()]), data


@pytest.mark.parametrize("policy,estimator", [("mlp", "gae"), ("gru", "reward-to-go"), ("tabular", "total-return")])
def test_resumed_run_ends_with_exactly_the_parameters_of_an_uninterrupted_one(tmp_path, policy, estimator):
    cfg = TrainConfig(
        **{
            **TINY,
            "policy": policy,
            "estimator": estimator,
            "baseline": "per-round" if estimator != "gae" else "value",
            "opponent": "mix:of=[frequency|q-learner]",
        }
    )
    whole = train(cfg, str(tmp_path / "whole"), with_optimum=False)
    assert not whole.interrupted and whole.iterations == 6
    part = train(cfg, str(tmp_path / "part"), stop_after=3, with_optimum=False)  # stopped like Ctrl-C
    assert part.interrupted and part.iterations == 3
    assert not os.path.exists(tmp_path / "part" / "report.json")
    resumed = train(cfg, str(tmp_path / "part"), resume=True, with_optimum=False)
    assert resumed.iterations == 6
    a, data_a = params(str(tmp_path / "whole"))
    b, data_b = params(str(tmp_path / "part"))
    assert torch.equal(a, b)
    assert data_a["iteration"] == data_b["iteration"] == 6
    with open(tmp_path / "whole" / "metrics.csv") as f1, open(tmp_path / "part" / "metrics.csv") as f2:
        rows1 = [r.split(",")[:6] for r in f1.read().splitlines()]
        rows2 = [r.split(",")[:6] for r in f2.read().splitlines()]
    assert rows1 == rows2  # same rewards, entropies, gradient norms, row for row


def test_same_seed_same_numbers_and_run_dir_contents(tmp_path):
    cfg = TrainConfig(**{**TINY, "tensorboard": True})
    r1 = train(cfg, str(tmp_path / "a"), with_optimum=False)
    r2 = train(cfg, str(tmp_path / "b"), with_optimum=False)
    assert r1.reward_per_round == r2.reward_per_round
    files = set(os.listdir(tmp_path / "a"))
    assert {"config.toml", "metrics.csv", "checkpoint.pt", "report.json"} <= files
    assert any(f.startswith("events.out.tfevents") for f in files)
    header = open(tmp_path / "a" / "metrics.csv").readline().strip().split(",")
    assert header[:10] == ["iteration", "agent_steps", "reward_per_round", "reward_se", "entropy", "grad_norm", "loss_v", "lr", "ent_coef", "seconds"]
    report = json.load(open(tmp_path / "a" / "report.json"))
    assert report["iterations"] == 6 and report["config"]["opponent"] == "frequency"
    data = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    assert data["iteration"] == 6 and data["config"]["rounds"] == 5


def test_training_beats_a_biased_opponent(tmp_path):
    # rock 50%, paper 30%, scissors 20%: the best reply (always paper) earns 0.5 - 0.2 = 0.3 per round
    cfg = TrainConfig(opponent="mixed:probs=0.5,0.3,0.2", rounds=20, iterations=40, tensorboard=False)
    train(cfg, str(tmp_path / "run"), with_optimum=False)
    from policygrad.evaluate import evaluate_checkpoint

    stats = evaluate_checkpoint(str(tmp_path / "run"), "mixed:probs=0.5,0.3,0.2", matches=2000, seed=1)
    assert stats.mean >= 0.9 * 0.3, stats
    assert stats.mean <= 0.3 + stats.ci95  # never above the ceiling beyond its interval


def test_plain_sgd_reinforce_learns_too(tmp_path):
    cfg = TrainConfig(
        opponent="constant",
        rounds=10,
        estimator="total-return",
        baseline="none",
        optimizer="sgd",
        lr=0.5,
        normalize_advantages=False,
        counts=False,
        iterations=30,
        batch=64,
        tensorboard=False,
        lr_schedule="constant",
    )
    res = train(cfg, None, with_optimum=False)
    assert res.reward_per_round > 0.8  # paper beats the constant rock


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"rounds": 0}, "rounds=0 is out of range; allowed: >= 1"),
        ({"lr": -1.0}, "lr=-1.0 is out of range; allowed: > 0.0"),
        ({"gamma": 1.5}, "gamma=1.5 is out of range; allowed: >= 0.0 and <= 1.0"),
        ({"estimator": "ppo"}, "estimator='ppo' is not allowed; allowed: total-return"),
        ({"opponent": "nobody"}, "unknown opponent 'nobody'; allowed: constant"),
        ({"opponent": "markov:order=9"}, "bad value '9' for parameter 'order'"),
        ({"policy": "cnn"}, "policy='cnn' is not allowed"),
        ({"batch": 2.5}, "batch must be an integer, got 2.5"),
        ({"hidden": (0,)}, "hidden must be a non-empty list of positive integers"),
        ({"ent_anneal": (0.9, 0.6)}, "ent_anneal must be two fractions start,end with 0 <= start <= end <= 1, got "),
        ({"ent_anneal": (0.5,)}, "ent_anneal must be two fractions"),
        ({"ent_anneal": 0.5}, "ent_anneal must be a list, got 0.5"),
    ],
)
def test_bad_config_values_are_named_with_what_is_allowed(overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        TrainConfig(**overrides)


def test_entropy_bonus_is_held_then_annealed_to_zero(tmp_path):
    cfg = TrainConfig(ent_coef=10.0, ent_anneal=[0.6, 0.9], iterations=10)  # a list, as TOML gives it
    assert cfg.ent_anneal == (0.6, 0.9)
    weights = [cfg.ent_weight(i) for i in range(10)]
    assert weights[:7] == [10.0] * 7  # i / n <= 0.6
    assert weights[7] == pytest.approx(10.0 * (0.9 - 0.7) / 0.3) and weights[8] == pytest.approx(10.0 * (0.9 - 0.8) / 0.3)
    assert weights[9] == 0.0
    assert [TrainConfig(ent_anneal=(1.0, 1.0), iterations=4).ent_weight(i) for i in range(4)] == [TrainConfig().ent_coef] * 4
    # the weight each iteration used is logged, and the command line takes the fractions
    assert (
        main(
            [
                "train",
                *"--opponent constant --rounds 4 --batch 8 --iterations 4 --hidden 8 --no-tensorboard --quiet --ent-coef 2 --ent-anneal 0.25,0.75".split(),
                "--run-dir",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    rows = list(__import__("csv").DictReader(open(tmp_path / "r" / "metrics.csv")))
    assert [float(r["ent_coef"]) for r in rows] == [2.0, 2.0, 1.0, 0.0]
    assert "ent_anneal = [0.25, 0.75]" in (tmp_path / "r" / "config.toml").read_text()


def test_unknown_key_in_config_file_and_cli_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('opponent = "frequency"\nlearning_rate = 0.1\n')
    assert main(["train", "--config", str(bad), "--run-dir", str(tmp_path / "r"), "--quiet"]) == 2
    assert "unknown key 'learning_rate'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "r")  # nothing started
    assert main(["train", "--rounds", "-3", "--run-dir", str(tmp_path / "r"), "--quiet"]) == 2
    assert "rounds=-3 is out of range" in capsys.readouterr().err


def test_config_file_with_command_line_override(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('opponent = "constant"\nrounds = 4\niterations = 3\nbatch = 8\ntensorboard = false\nhidden = [8]\n')
    assert main(["train", "--config", str(cfg), "--iterations", "2", "--run-dir", str(tmp_path / "r"), "--quiet"]) == 0
    saved = (tmp_path / "r" / "config.toml").read_text()
    assert "iterations = 2" in saved and 'opponent = "constant"' in saved and "rounds = 4" in saved


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    cfg = TrainConfig(**TINY)
    train(cfg, str(tmp_path / "r"), with_optimum=False)
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    assert main(["train", "--opponent", "frequency", "--run-dir", str(tmp_path / "r"), "--quiet"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before


def test_default_run_dir_name_is_shell_safe(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [
        "train",
        "--opponent",
        "mix:of=[constant|constant:move=1]",
        "--rounds",
        "3",
        "--iterations",
        "1",
        "--batch",
        "4",
        "--hidden",
        "4",
        "--no-tensorboard",
        "--quiet",
    ]
    assert main(argv) == 0
    (run,) = os.listdir(tmp_path / "runs")
    assert run.startswith("mix_of=_constant_constant_move=1___gae__0__"), run
    assert (tmp_path / "runs" / run / "checkpoint.pt").exists()


def test_a_parameter_that_does_not_fit_the_game_stops_before_the_run_folder_is_made(tmp_path, capsys):
    assert main(["train", "--opponent", "mixed:probs=0.5,0.5", "--run-dir", str(tmp_path / "r"), "--quiet"]) == 2
    assert "mixed: probs=[0.5, 0.5] must be 3 non-negative numbers summing to 1" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_cli_prints_a_bracketed_spec_as_it_is(tmp_path, capsys):
    # rich markup would read "[frequency|constant]" as a style and drop it ("vs mix:of=: ...")
    train(TrainConfig(**TINY), str(tmp_path / "r"), with_optimum=False)
    assert main(["evaluate", str(tmp_path / "r"), "--opponent", "mix:of=[frequency|constant]", "--matches", "20"]) == 0
    assert "vs mix:of=[frequency|constant]: " in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "r"), "--opponent", "mix:of=[frequency|nobody]"]) == 2
    assert "error: unknown opponent 'nobody'" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_corrupt_truncated_or_foreign_checkpoints_get_one_clear_message(tmp_path, damage, capsys):
    train(TrainConfig(**TINY), str(tmp_path / "r"), with_optimum=False)
    path = tmp_path / "r" / "checkpoint.pt"
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
        expected = "corrupt or truncated"
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
        expected = "corrupt or truncated"
    else:
        torch.save({"weights": torch.zeros(3)}, path)
        expected = "not a policygrad checkpoint"
    assert main(["evaluate", str(path), "--opponent", "frequency"]) == 2
    assert expected in capsys.readouterr().err


def test_checkpoint_from_another_game_is_refused(tmp_path):
    train(TrainConfig(**TINY), str(tmp_path / "r"), with_optimum=False)
    from policygrad.checkpoint import load_checkpoint
    from policygrad.games import rpsls

    with pytest.raises(ValueError, match="trained on game 'rps', not 'rpsls'"):
        load_checkpoint(str(tmp_path / "r"), game=rpsls())


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = TrainConfig(**TINY)
    trainer = Trainer(cfg, str(tmp_path))
    trainer.step()
    trainer.save()
    good = (tmp_path / "checkpoint.pt").read_bytes()
    with torch.no_grad():
        next(trainer.policy.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="non-finite loss .* at iteration 2; .*last good checkpoint \\(iteration 1\\)"):
        trainer.step()
    assert (tmp_path / "checkpoint.pt").read_bytes() == good


def test_nan_loss_names_the_checkpoint_on_disk_not_the_last_iteration(tmp_path, monkeypatch):
    import policygrad.train as train_module

    calls, real = [], train_module.entropy_bonus

    def entropy_nan_at_iteration_4(logp_all):
        calls.append(1)
        return real(logp_all) * (float("nan") if len(calls) == 4 else 1.0)

    monkeypatch.setattr(train_module, "entropy_bonus", entropy_nan_at_iteration_4)
    with pytest.raises(NonFiniteLossError, match=r"at iteration 4; the run stopped and the last good checkpoint \(iteration 2\) is kept in "):
        train(TrainConfig(**TINY), str(tmp_path / "r"), with_optimum=False)  # checkpoint_every 2
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["iteration"] == 2
    with pytest.raises(NonFiniteLossError, match="no checkpoint was written"):
        calls.clear()
        train(TrainConfig(**TINY), None, with_optimum=False)


def test_agent_plays_the_trained_policy_move_by_move(tmp_path):
    cfg = TrainConfig(**{**TINY, "context": 2})
    train(cfg, str(tmp_path / "r"), with_optimum=False)
    agent = Agent.load(str(tmp_path / "r"))
    policy, _, _ = load_policy(str(tmp_path / "r"))
    from policygrad.engine import Engine

    # the agent's probabilities at each round equal the policy's on the engine's observation
    engine = Engine("cycle", n=1, rounds=5, context=2, counts=True, seed=0)
    obs = engine.reset()
    agent.reset(seed=3)
    last = None
    for _ in range(12):  # longer than the 5 training rounds: the round feature is capped at 1
        move = agent.act(last)
        if engine.t < 5:
            expected = policy.step(obs, None)[0].exp()[0]
            assert torch.allclose(torch.tensor(agent.last_probs), expected, atol=1e-6)
            obs, _, _, info = engine.step(torch.tensor([move]))
            last = int(info["opponent_move"][0])
        else:
            last = 0
        assert move in (0, 1, 2)
    with pytest.raises(ValueError, match="last_opponent_move must be a move in 0..2"):
        agent.act(7)
