"""The expert-mixture agent (issue 20): train it, play it in the RoShamBo / Kaggle tournaments, measure what a mind reader takes.

The agent is :class:`policygrad.expert_agent.ExpertAgent`: a small network trained by policy
gradient (:mod:`policygrad.expert_train`) that weighs the in-match experts of ``online``
(:mod:`policygrad.experts`) by their recent scores. It is registered at run time as the player
``expert-meta`` (the library's player registry is left as it is).

Usage::

    .venv/bin/python benchmarks/expert_meta.py train --config agents/expert-meta.toml --run-dir runs/expert-meta
    .venv/bin/python benchmarks/expert_meta.py tournament --weights runs/expert-meta --suite roshambo --seeds 5 --agents expert-meta,online
    .venv/bin/python benchmarks/expert_meta.py exploit --weights runs/expert-meta --rounds 1000 --matches 32 --profile
    .venv/bin/python benchmarks/expert_meta.py heldout --weights runs/expert-meta --matches 48 --rounds 1000
    .venv/bin/python benchmarks/expert_meta.py curve --metrics runs/expert-meta/metrics.csv --out docs/img/expert-meta-curve.png

``tournament`` prints the leaderboard (mean reward per round over the field, 95% interval, the worst
opponent, the bots significantly ahead) and writes the whole result as JSON with ``--json FILE``.
``exploit`` plays the agent against the mind reader (the best reply to its own probabilities, each
round) and prints the mean reward per round the reader takes, with its standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

import torch

from policygrad import tournament
from policygrad.config import load_toml
from policygrad.expert_agent import EXPERT_META_CHECKPOINT, ExpertAgent
from policygrad.expert_population import random_population
from policygrad.expert_train import ExpertTrainConfig, load_expert, play, train_expert
from policygrad.files import atomic_write_text
from policygrad.games import make_game
from policygrad.plots import plot_expert_curve
from policygrad.stats import mean_se


def register(weights: str, name: str = "expert-meta") -> None:
    """Add the agent of ``weights`` to the player registry of this process (and of the pool's forked workers)."""
    tournament.PLAYERS[name] = lambda game="rps": ExpertAgent.load(weights, game)


def cmd_train(args) -> int:
    if args.resume:  # the run folder's own recipe, continued from its last checkpoint
        config = ExpertTrainConfig.from_dict(load_toml(os.path.join(args.run_dir, "config.toml")))
    else:
        config = ExpertTrainConfig.from_dict(load_toml(args.config))
    if args.iterations:
        config = ExpertTrainConfig.from_dict({**config.to_dict(), "iterations": args.iterations})

    def progress(row: dict) -> None:
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)

    result = train_expert(config, args.run_dir, resume=args.resume, progress=progress, overwrite=args.overwrite)
    state = "stopped (resume it with --resume)" if result.interrupted else "trained"
    print(f"{state} at iteration {result.iterations} ({result.seconds:.0f} s this call); the agent: {os.path.join(args.run_dir, 'checkpoint.pt')}")
    return 0


def cmd_tournament(args) -> int:
    torch.set_num_threads(1)
    register(args.weights)
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    opponents = tournament.suite(args.suite)
    t0 = time.perf_counter()
    result = tournament.run_tournament(agents, opponents, rounds=args.rounds, seeds=args.seeds, jobs=args.jobs)
    print(f"{len(result.matches)} matches, {args.rounds} rounds x {args.seeds} seeds, in {time.perf_counter() - t0:.0f} s")
    for entry in result.leaderboard:
        ahead = [p for p in result.pairs if p["agent"] == entry["agent"] and p["mean"] is not None and p["ci95"] is not None and p["mean"] + p["ci95"] < 0]
        print(
            f"{entry['rank']}. {entry['agent']}: {entry['mean']:+.4f} +- {entry['ci95']:.4f} over {entry['scored']} bots, "
            f"W/D/L {entry['wins']}/{entry['draws']}/{entry['losses']}, worst {entry['worst_opponent']} ({entry['worst_mean']:+.3f}), "
            f"significantly ahead: {len(ahead)} " + ", ".join(f"{p['opponent'].split('=')[-1]} {p['mean']:+.3f}" for p in ahead)
        )
    if args.json:
        atomic_write_text(args.json, json.dumps(result.to_dict(), indent=1) + "\n")
    return 0


def cmd_exploit(args) -> int:
    torch.set_num_threads(1)
    policy, config = load_expert(args.weights)
    batch = play(policy, "mixed", args.matches, args.rounds, args.seed, config.game, mind_reader=1.0, **config.features)
    mean, se = mean_se(batch.rewards.double().mean(1))
    print(
        f"mind reader vs the agent, {args.matches} matches x {args.rounds} rounds: the agent scores {mean:+.4f} +- {se:.4f} (se) per round; the reader takes {-mean:.4f}"
    )
    if args.profile:  # where the take comes from: the exact take max_o -pi . M[:, o] and the uniform share lambda, by window of rounds
        take = (-(batch.probs @ make_game(config.game).payoff.to(torch.float32))).amax(-1)  # [N, T]
        with torch.no_grad():
            lam = torch.cat([policy.weights(batch.feats[s : s + 100], batch.glob[s : s + 100])[..., -1] for s in range(0, args.rounds, 100)]).T
        edges = [e for e in (0, 10, 25, 50, 100, 150, 300, 500, 750, 1000) if e < args.rounds] + [args.rounds]
        print(f"exact take {float(take.mean()):.4f} per round; share of it in the first 150 rounds {float(take[:, :150].sum() / take.sum()):.2f}")
        for a, b in zip(edges, edges[1:]):
            print(
                f"rounds {a:4d}-{b:4d}: take {float(take[:, a:b].mean()):.4f}, uniform share lambda {float(lam[:, a:b].mean()):.3f}, max pi {float(batch.probs[:, a:b].amax(-1).mean()):.3f}"
            )
    return 0


def cmd_heldout(args) -> int:
    """Reward per round against the recipe's held-out population (2 x members opponents from heldout_seed), one match each, long matches."""
    torch.set_num_threads(1)
    policy, config = load_expert(args.weights)
    slight = config.slight_bias if args.slight_bias is None else args.slight_bias
    pop = random_population(random.Random(config.heldout_seed), 2 * config.members, slight)
    batch = play(policy, pop, args.matches, args.rounds, config.heldout_seed, config.game, rotate=config.rotate, **config.features)
    mean, se = mean_se(batch.rewards.double().mean(1))
    print(f"held-out population (slight_bias {slight}), {args.matches} matches x {args.rounds} rounds: {mean:+.4f} +- {se:.4f} (se) per round")
    return 0


def cmd_curve(args) -> int:
    print(plot_expert_curve(args.metrics, args.out))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the agent from a recipe")
    t.add_argument("--config", help="the recipe (TOML); not with --resume, which reads the run folder's config.toml")
    t.add_argument("--run-dir", required=True)
    t.add_argument("--resume", action="store_true", help="continue the stopped run in --run-dir from its last checkpoint")
    t.add_argument("--overwrite", action="store_true", help="start the run again in a --run-dir that holds one")
    t.add_argument("--iterations", type=int, default=0, help="override the recipe's iterations (0: keep)")
    t.set_defaults(run=cmd_train)
    r = sub.add_parser("tournament", help="play the agent (and others) against a suite")
    r.add_argument("--weights", default=EXPERT_META_CHECKPOINT, help="the agent's file (default: the shipped one)")
    r.add_argument("--suite", default="roshambo", choices=sorted(tournament.SUITES))
    r.add_argument("--agents", default="expert-meta")
    r.add_argument("--rounds", type=int, default=1000)
    r.add_argument("--seeds", type=int, default=5)
    r.add_argument("--jobs", type=int, default=1)
    r.add_argument("--json", default="")
    r.set_defaults(run=cmd_tournament)
    e = sub.add_parser("exploit", help="what the mind reader takes from the agent")
    e.add_argument("--weights", default=EXPERT_META_CHECKPOINT, help="the agent's file (default: the shipped one)")
    e.add_argument("--rounds", type=int, default=1000)
    e.add_argument("--matches", type=int, default=32)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--profile", action="store_true", help="also print the take and the uniform share by window of rounds")
    e.set_defaults(run=cmd_exploit)
    h = sub.add_parser("heldout", help="reward per round against the recipe's held-out population")
    h.add_argument("--weights", default=EXPERT_META_CHECKPOINT, help="the agent's file (default: the shipped one)")
    h.add_argument("--slight-bias", type=float, default=None, help="the population's share of slightly biased opponents (default: the recipe's)")
    h.add_argument("--rounds", type=int, default=1000)
    h.add_argument("--matches", type=int, default=48)
    h.set_defaults(run=cmd_heldout)
    c = sub.add_parser("curve", help="the learning-curve figure of a run's metrics.csv")
    c.add_argument("--metrics", default="benchmarks/results/expert_meta_metrics.csv")
    c.add_argument("--out", default="docs/img/expert-meta-curve.png")
    c.set_defaults(run=cmd_curve)
    args = p.parse_args(argv)
    if args.run is cmd_train and (args.config is None) == (not args.resume):
        p.error("train needs --config FILE for a new run, or --resume to continue the one in --run-dir (not both)")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
