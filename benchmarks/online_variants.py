"""Settings of `online` compared off the test fields: paired by seed, on opponents of the library only.

A change to :class:`policygrad.online.OnlineAgent` is judged here before the RoShamBo and Kaggle fields
(the test) see it. Each variant is a set of keyword arguments of ``OnlineAgent``; the default agent is
the baseline. Two sets of opponents, 1000-round matches:

* ``weak bias``: i.i.d. opponents with a slight bias (``mixed:probs=0.38,0.33,0.29`` and four more), whose
  best static reply takes 0.09 to 0.25 a round: a steady edge hidden in the noise of the experts' rewards;
* ``population``: ``--members`` opponents drawn by :func:`policygrad.expert_population.random_spec`
  (the library's families with random parameters; ``--population-seed``), one match each.

The figure is the exact expected reward of the agent's play, round by round (probs . M[:, o], which
removes the noise of its own draw), and for each variant its paired difference from the baseline:
mean and standard error over the matches, and the worst single match.

Usage::

    .venv/bin/python benchmarks/online_variants.py --variant 'six={"lr": [2.0, 1.0, 0.5, 0.3, 0.6, 0.15], "decay": [0.5, 0.8, 0.9, 0.95, 0.98, 0.99]}'
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from multiprocessing import Pool

import numpy as np
import torch
from online_layers import layer_rewards  # the script beside this one

from policygrad.expert_population import random_spec
from policygrad.online import OnlineAgent

WEAK = ("mixed:probs=0.38,0.33,0.29", "mixed:probs=0.4,0.3,0.3", "mixed:probs=0.3,0.42,0.28", "mixed:probs=0.45,0.3,0.25", "mixed:probs=0.25,0.25,0.5")


def expected_reward(task: tuple[dict, str, int, int]) -> float:
    """The mean exact expected reward per round of one match of ``OnlineAgent(**settings)`` against ``opponent``."""
    settings, opponent, seed, rounds = task
    torch.set_num_threads(1)
    return layer_rewards(opponent, rounds, seed, settings)["final"]


def parse_variants(parser: argparse.ArgumentParser, texts: list[str]) -> dict[str, dict]:
    """``--variant NAME=JSON`` values: name -> ``OnlineAgent``'s keyword arguments (bad settings stop here, before any match)."""
    variants = {}
    for text in texts:
        name, sep, settings = text.partition("=")
        if not sep or not name:
            parser.error(f"--variant must be NAME=JSON, got {text!r}")
        variants[name] = json.loads(settings)
        OnlineAgent(**variants[name])
    return variants


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar='NAME={"lr": [...], ...}',
        help="a variant: a name and OnlineAgent's keyword arguments as JSON (repeatable)",
    )
    p.add_argument("--members", type=int, default=60, help="opponents of the random population")
    p.add_argument("--population-seed", type=int, default=7)
    p.add_argument("--weak-seeds", type=int, default=8, help="matches against each weakly biased opponent")
    p.add_argument("--rounds", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    variants: dict[str, dict] = {"default": {}, **parse_variants(p, args.variant)}
    rng = random.Random(args.population_seed)
    sets = {
        "weak bias": [(o, s) for o in WEAK for s in range(args.weak_seeds)],
        "population": [(random_spec(rng), s) for s in range(args.members)],
    }
    tasks = [(settings, o, s, args.rounds) for settings in variants.values() for pairs in sets.values() for o, s in pairs]
    with Pool(args.jobs) as pool:
        flat = iter(pool.map(expected_reward, tasks, chunksize=2))
    results = {name: {key: np.array([next(flat) for _ in pairs]) for key, pairs in sets.items()} for name in variants}
    print("| variant | " + " | ".join(f"{key}: mean | paired difference (se) | worst match" for key in sets) + " |")
    print("|---|" + "---:|---:|---:|" * len(sets))
    for name, res in results.items():
        cells = []
        for key, r in res.items():
            d = r - results["default"][key]
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            cells.append(f"{r.mean():+.4f} | {d.mean():+.4f} ({se:.4f}) | {d.min():+.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
