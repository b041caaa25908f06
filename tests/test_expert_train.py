"""Training the expert-mixture agent: copies of earlier versions in the population, the expected immediate term, fine-tuning, reproducibility."""

from __future__ import annotations

import json
import os

import pytest
import torch

from policygrad.expert_policy import ExpertMixturePolicy
from policygrad.expert_train import ExpertTrainConfig, ExpertTrainer, advantages, play, reader_take, save_expert
from policygrad.experts import ExpertFeatures

PAYOFF = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]])


class Greedy(ExpertMixturePolicy):
    """A frozen policy made deterministic: all its mass on the move its mixture likes best (so its play can be checked move by move)."""

    def forward(self, moves_NJ, feats_NJF, glob_NG):
        probs = super().forward(moves_NJ, feats_NJF, glob_NG).exp()
        onehot = torch.nn.functional.one_hot(probs.argmax(-1), self.num_actions).to(probs.dtype)
        return onehot.clamp_min(torch.finfo(probs.dtype).tiny).log()


def _random_policy(cls, seed: int, std: float = 1.0) -> ExpertMixturePolicy:
    torch.manual_seed(seed)
    probe = ExpertFeatures(1, 1)
    policy = cls(probe.num_features, probe.num_global, 3, hidden=8)
    for p in policy.parameters():
        torch.nn.init.normal_(p, std=std)
    return policy.requires_grad_(False).eval()


def test_a_snapshot_plays_what_the_frozen_policy_plays_from_its_side_of_the_history():
    """Every move of a past-self match is the snapshot's own choice on the history with the roles swapped."""
    snapshots = [_random_policy(Greedy, 1), _random_policy(Greedy, 2)]
    agent = _random_policy(ExpertMixturePolicy, 3, std=0.3)
    n, rounds = 12, 40
    batch = play(agent, "mixed", n, rounds, seed=4, selves=snapshots, past_selves=0.7, mind_reader=0.2)
    assert batch.past_self.sum() >= 4 and not bool((batch.past_self & batch.mind_read).any())
    for i in batch.past_self.nonzero().squeeze(1).tolist():
        theirs, mine = batch.opponent_moves[i], batch.actions[i]
        side = ExpertFeatures(1, rounds)  # the snapshot's view: its moves are the opponent's, the agent's are its opponent's
        replies = {k: [] for k in range(len(snapshots))}
        for t in range(rounds):
            view = side.features()
            for k, snapshot in enumerate(snapshots):
                replies[k].append(int(snapshot(*view).exp().argmax()))
            side.update(theirs[t : t + 1], mine[t : t + 1])
        played = [k for k, r in replies.items() if r == theirs.tolist()]
        assert played, f"match {i}: its moves are not those of any snapshot from its side"
        assert replies[0] != replies[1]  # the two snapshots play differently: the comparison picks one


def test_without_snapshots_play_is_unchanged_and_the_shares_are_disjoint():
    agent = _random_policy(ExpertMixturePolicy, 3, std=0.3)
    plain = play(agent, "cycle", 16, 20, seed=9, mind_reader=0.25, rotate=True)
    none = play(agent, "cycle", 16, 20, seed=9, mind_reader=0.25, rotate=True, selves=[], past_selves=0.5)
    torch.testing.assert_close(plain.opponent_moves, none.opponent_moves)
    torch.testing.assert_close(plain.actions, none.actions)
    assert not none.past_self.any()
    with_selves = play(agent, "cycle", 16, 20, seed=9, mind_reader=0.25, rotate=True, selves=[_random_policy(Greedy, 1)], past_selves=0.5)
    torch.testing.assert_close(with_selves.mind_read, plain.mind_read)  # the same matches for the mind reader
    assert with_selves.past_self.any() and not (with_selves.past_self & with_selves.mind_read).any()


def _config(**overrides) -> ExpertTrainConfig:
    base = dict(
        rounds=20, batch=12, iterations=4, hidden=8, members=4, past_selves=0.4, mind_reader=0.3, snapshot_every=2, snapshots=2, eval_every=1, heldout_batch=2
    )
    return ExpertTrainConfig(**{**base, **overrides})


def test_snapshots_are_frozen_copies_taken_every_k_iterations_and_the_oldest_goes():
    trainer = ExpertTrainer(_config())
    first = trainer.selves[0]
    assert len(trainer.selves) == 1 and all(not p.requires_grad for p in first.parameters())
    start = {k: v.clone() for k, v in first.state_dict().items()}
    counts = []
    for _ in range(5):
        trainer.step()
        counts.append(len(trainer.selves))
    assert counts == [1, 2, 2, 2, 2]  # iteration 0, 2 and 4 snapshotted, at most 2 kept
    assert first not in trainer.selves  # the oldest went
    for k, v in first.state_dict().items():  # and it never moved while the policy trained
        torch.testing.assert_close(v, start[k])
    assert any(not torch.equal(a, b) for a, b in zip(trainer.policy.parameters(), first.parameters()))  # the policy did move


def test_a_seeded_run_is_reproducible():
    def run(seed: int) -> tuple[list[dict], list[torch.Tensor]]:
        trainer = ExpertTrainer(_config(seed=seed, immediate="expected"))
        rows = []
        for _ in range(3):
            row = trainer.step()
            row.update(trainer.heldout())
            rows.append({k: v for k, v in row.items() if "seconds" not in k})
        return rows, [p.detach().clone() for p in trainer.policy.parameters()]

    rows_a, params_a = run(0)
    rows_b, params_b = run(0)
    assert repr(rows_a) == repr(rows_b)  # nan-safe equality
    assert all(row["reward_per_round"] == row["reward_per_round"] and row["past_self"] == row["past_self"] for row in rows_a)  # every kind of match was played
    for a, b in zip(params_a, params_b):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    rows_c, _ = run(1)
    assert repr(rows_c) != repr(rows_a)


def test_expected_immediate_term_is_the_mean_of_the_sampled_one_over_the_agents_draw():
    """With gamma = 0, E_A[(M[A, o] - E_pi M[., o]) grad log pi(A)] = grad sum_a pi(a) M[a, o]: the two estimators agree in expectation."""
    policy = _random_policy(ExpertMixturePolicy, 5, std=0.5).requires_grad_(True)
    batch = play(policy, "cycle", 4, 6, seed=1)
    assert torch.count_nonzero(advantages(batch, PAYOFF, 0.0, immediate=False)) == 0  # gamma 0: no future term left
    moves, feats, glob = batch.moves.long(), batch.feats, batch.glob
    logp_all = policy(moves, feats, glob)  # [T, N, A]
    cols = PAYOFF[:, batch.opponent_moves.T].permute(1, 2, 0)  # [T, N, A]
    expected = torch.autograd.grad((logp_all.exp() * cols).sum(), list(policy.parameters()), retain_graph=True)
    probs = logp_all.exp().detach()
    mean = (probs * cols).sum(-1, keepdim=True)
    # the sampled estimator's expectation, summed over every action a with weight pi(a)
    sampled = torch.autograd.grad((probs * (cols - mean) * logp_all).sum(), list(policy.parameters()))
    for e, s in zip(expected, sampled):
        torch.testing.assert_close(e, s, atol=1e-5, rtol=1e-4)
    assert max(float(e.abs().max()) for e in expected) > 1e-3  # not a comparison of zeros


def test_reader_take_is_what_the_best_reply_earns():
    policy = _random_policy(ExpertMixturePolicy, 5, std=0.5)
    batch = play(policy, "mixed", 256, 30, seed=2, mind_reader=1.0)
    take = reader_take(batch, PAYOFF)
    per_match = batch.rewards.double().mean(1)
    se = float(per_match.std()) / 16
    assert take > 0.02  # a random policy is readable
    assert abs(take + float(per_match.mean())) < 4 * se  # the agent's sampled reward against the reader is -take on average


def test_fine_tuning_starts_from_the_file_and_checks_its_width(tmp_path):
    policy = _random_policy(ExpertMixturePolicy, 7)
    path = save_expert(str(tmp_path / "start.pt"), policy, ExpertTrainConfig(hidden=8), 5)
    trainer = ExpertTrainer(_config(init=path))
    for a, b in zip(trainer.policy.parameters(), policy.parameters()):
        torch.testing.assert_close(a.detach(), b)
    with pytest.raises(ValueError, match="has hidden width 8, but the recipe asks hidden = 16"):
        ExpertTrainer(_config(init=path, hidden=16))
    with pytest.raises(FileNotFoundError, match=r"init = '.*missing': checkpoint not found: .*; train the run it names first"):
        ExpertTrainer(_config(init=str(tmp_path / "missing")))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(mind_reader=0.6, past_selves=0.5), r"mind_reader \+ past_selves must be at most 1"),
        (dict(immediate="exact"), "immediate must be one of sampled, expected, got 'exact'"),
        (dict(past_selves=1.5), r"past_selves must be a share in \[0, 1\], got 1.5"),
        (dict(snapshot_every=0), "snapshot_every must be an integer >= 1, got 0"),
        (dict(heldout_batch=-1), "heldout_batch must be an integer >= 0"),
        (dict(least_order=-2), "least_order must be an integer >= -1"),
        (dict(ties="last"), "ties must be one of first, best, got 'last'"),
    ],
)
def test_config_refuses_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        _config(**overrides)


@pytest.mark.parametrize("ties", ["first", "best"])
def test_least_order_and_ties_reach_training_play_and_the_loaded_agent(tmp_path, ties):
    """A recipe with least_order = 0 trains on online's 369 experts (123 predictors), and the file it writes
    loads as an agent whose NumPy predictors are the same, with the recipe's replies to tied counts (moves
    equal to the torch features', round by round)."""
    from policygrad.agent import Agent

    trainer = ExpertTrainer(_config(least_order=0, ties=ties, iterations=1))
    trainer.step()
    path = save_expert(str(tmp_path / "least.pt"), trainer.policy, trainer.config, 1)
    agent = Agent.load(path)
    predictors = agent.player.scores.predictors
    assert predictors.least_order == 0 and predictors.ties == ties and agent.player.scores.num_experts == 369
    batch = play(trainer.policy, "frequency", 1, 30, seed=3, **trainer.config.features)
    assert batch.moves.shape[-1] == 369
    scores = agent.player.scores
    scores.reset()
    for t in range(30):
        moves, _, _ = scores.features()
        assert torch.equal(torch.as_tensor(moves).to(torch.int8), batch.moves[t, 0]), t
        scores.update(int(batch.actions[0, t]), int(batch.opponent_moves[0, t]))


def _metrics(run_dir) -> list[dict]:
    import csv

    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if "seconds" not in k} for row in csv.DictReader(fh)]


def test_a_stopped_run_resumes_bit_for_bit_and_its_folder_is_the_agent(tmp_path):
    """The run folder of :func:`train_expert` follows `policygrad train`'s rules: stopped after 2 of 5
    iterations and resumed, it writes the uninterrupted run's metrics and weights exactly (the
    population generator, Adam and the past selves are in the checkpoint), and the folder loads as the agent."""
    from policygrad.agent import Agent
    from policygrad.expert_agent import ExpertAgent
    from policygrad.expert_train import load_expert, train_expert

    cfg = _config(iterations=5, past_selves=0.3, snapshot_every=1, snapshots=2, checkpoint_every=1, eval_every=2, heldout_batch=2)
    whole = train_expert(cfg, str(tmp_path / "whole"))
    assert not whole.interrupted and whole.iterations == 5
    part = train_expert(cfg, str(tmp_path / "part"), stop_after=2)
    assert part.interrupted and part.iterations == 2 and not (tmp_path / "part" / "report.json").exists()
    with pytest.raises(FileExistsError, match="already holds a run; use --resume"):
        train_expert(cfg, str(tmp_path / "part"))
    resumed = train_expert(cfg, str(tmp_path / "part"), resume=True)
    assert resumed.iterations == 5 and resumed.reward_per_round == whole.reward_per_round
    rows = _metrics(tmp_path / "whole")
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4, 5] and [r["heldout_reward"] != "" for r in rows] == [False, True, False, True, True]
    assert _metrics(tmp_path / "part") == rows
    (a, _), (b, config) = load_expert(str(tmp_path / "whole")), load_expert(str(tmp_path / "part"))
    assert config == cfg
    for x, y in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert isinstance(Agent.load(str(tmp_path / "part")), ExpertAgent)
    from policygrad.export import kaggle_source

    folder, file = kaggle_source(str(tmp_path / "part"), seed=0), kaggle_source(str(tmp_path / "part" / "checkpoint.pt"), seed=0)
    assert "PLAYER = 'part'" in folder and folder.replace("PLAYER = 'part'", "PLAYER = 'checkpoint.pt'") == file  # the run folder exports its checkpoint


def test_a_run_folder_that_is_not_ours_is_refused(tmp_path):
    from policygrad.expert_train import train_expert

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty .* and is not a policygrad run folder"):
        train_expert(_config(iterations=1), str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_policygrad_train_runs_and_resumes_an_expert_mixture_recipe(tmp_path, capsys):
    """A --config file saying trainer = "expert-mixture" is trained by train_expert: its settings may be
    overridden by the options that are its own, the others are refused, and --resume reads the run's config.toml."""
    from policygrad.cli import main
    from policygrad.config import load_toml
    from policygrad.expert_agent import ExpertAgent
    from policygrad.agent import Agent

    recipe = tmp_path / "recipe.toml"
    recipe.write_text('trainer = "expert-mixture"\nrounds = 10\nbatch = 4\niterations = 3\nhidden = 8\nmembers = 3\neval_every = 3\ncheckpoint_every = 1\n')
    run = tmp_path / "run"
    assert main(["train", "--config", str(recipe), "--run-dir", str(run), "--lr", "0.05", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "done after 3 iterations" in out and "last batch: reward per round" in out
    stored = load_toml(str(run / "config.toml"))
    assert stored["trainer"] == "expert-mixture" and stored["lr"] == 0.05 and stored["rounds"] == 10
    assert len(_metrics(run)) == 3 and isinstance(Agent.load(str(run)), ExpertAgent)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0  # nothing left to train: the same run, whole
    assert "done after 3 iterations" in capsys.readouterr().out and len(_metrics(run)) == 3
    assert main(["evaluate", str(run), "--opponent", "constant", "--matches", "70", "--json"]) == 0  # 2 chunks of play (64 + 6)
    stats = json.loads(capsys.readouterr().out)
    assert stats["matches"] == 70 and stats["rounds"] == 10 and -1 <= stats["mean"] <= 1 and stats["wins"] + stats["ties"] + stats["losses"] == 70
    assert main(["evaluate", str(run), "--opponent", "mind-reader"]) == 2
    assert "meets the mind reader through policygrad exploitability" in " ".join(capsys.readouterr().err.split())
    assert main(["plot", str(run)]) == 0 and (run / "learning_curve.png").stat().st_size > 10_000  # the expert trainer's curve
    assert main(["train", "--config", str(recipe), "--run-dir", str(tmp_path / "other"), "--estimator", "gae", "--quiet"]) == 2
    assert "--estimator is not a setting of the expert-mixture recipe" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "other").exists()
    from policygrad.train import default_run_dir

    assert default_run_dir(ExpertTrainConfig(seed=3)).startswith(os.path.join("runs", "expert-mixture__3__"))


def test_widen_adds_a_horizon_whose_inputs_start_at_zero_so_the_play_is_the_same(tmp_path):
    """A policy trained on 6 reward horizons, widened to 7 (0.998 added): on the 7-horizon features of a match it
    gives exactly the probabilities the original gives on the same match's 6-horizon features; training starts there."""
    from policygrad.expert_train import widen
    from policygrad.experts import HORIZONS

    policy = _random_policy(ExpertMixturePolicy, 11, std=0.5)
    more = (*HORIZONS, 0.998)
    wide = widen(policy, HORIZONS, more)
    assert (wide.num_features, wide.num_global) == (8, 15) and widen(policy, HORIZONS, HORIZONS) is policy
    narrow, broad = ExpertFeatures(2, 40), ExpertFeatures(2, 40, horizons=more)
    gen = torch.Generator().manual_seed(0)
    for t in range(40):
        a, b = narrow.features(), broad.features()
        if t > 0:
            assert not torch.equal(b[1][..., 6], torch.zeros_like(b[1][..., 6]))  # the new average moves...
        torch.testing.assert_close(wide(*b), policy(*a))  # ...and changes nothing until trained
        me, them = torch.randint(3, (2,), generator=gen), torch.randint(3, (2,), generator=gen)
        narrow.update(me, them)
        broad.update(me, them)
    path = save_expert(str(tmp_path / "six.pt"), policy, ExpertTrainConfig(hidden=8), 1)
    trainer = ExpertTrainer(_config(init=path, horizons=list(more)))
    assert trainer.config.horizons == more and trainer.policy.num_features == 8
    with pytest.raises(ValueError, match=r"init reads the horizons .* not all among the recipe's \[0.5, 0.9\]"):
        ExpertTrainer(_config(init=path, horizons=[0.5, 0.9]))


def test_horizons_reach_the_loaded_agent_and_bad_ones_are_refused(tmp_path):
    from policygrad.agent import Agent

    trainer = ExpertTrainer(_config(horizons=[0.9, 0.999], iterations=1))
    trainer.step()
    path = save_expert(str(tmp_path / "two.pt"), trainer.policy, trainer.config, 1)
    agent = Agent.load(path)
    assert agent.player.scores.horizons.tolist() == [0.9, 0.999]
    for bad in ([], [0.5, 1.0], ["x"]):
        with pytest.raises(ValueError, match="horizons must be a non-empty list of decays in"):
            _config(horizons=bad)
    with pytest.raises(ValueError, match=r"slight_bias must be a share in \[0, 1\], got 2"):
        _config(slight_bias=2)


def test_slight_bias_draws_near_uniform_iid_opponents_and_changes_nothing_at_zero():
    import hashlib
    import random

    from policygrad.expert_population import random_population, random_spec

    def mixed(slight):
        rng = random.Random(5)
        specs = [random_spec(rng, slight) for _ in range(400)]
        return specs, [[float(x) for x in s.split("=")[1].split(",")] for s in specs if s.startswith("mixed")]

    _, lopsided = mixed(0.0)
    # at 0 the shipped recipe's held-out population is the one drawn before slight_bias existed (its digest then)
    held_out = random_population(random.Random(1_000_003), 48)
    assert hashlib.sha256(held_out.encode()).hexdigest()[:16] == "a19af05e1f6bd078"
    assert sum(min(p) < 0.1 for p in lopsided) > len(lopsided) / 2  # mostly lopsided
    specs, slight = mixed(1.0)
    assert len(slight) == len(specs) and all(0.1 < x < 0.6 for p in slight for x in p)  # all i.i.d., each probability near 1/3
    specs, slight = mixed(0.25)
    assert 0.25 < len(slight) / len(specs) < 0.25 + 1 / 12 + 0.06  # a quarter, and the mixed family's own share of the rest
