"""Where `online` loses against an opponent: the expected reward of each of its layers' play.

Each round, once the opponent's move o is revealed, the script takes the exact expected reward
(q . M[:, o]) of the play of each layer of :class:`policygrad.online.OnlineAgent` (its module docstring):

* ``final``: the agent's play (the third layer's mix of the second layer's play and uniform);
* ``second layer``: the second layer's play, before the third layer mixes uniform in;
* ``best option``: the second layer's best option in hindsight (a scorer's softmax or its greedy play);
* ``best expert``: the best single expert in hindsight (a predictor at one rotation), over the match.

The gaps say which layer costs what: third (final vs second layer), second (second layer vs best
option), first (best option vs best expert, the regret of choosing among the 369 experts under noise).
An expert's reward in hindsight assumes the opponent would have played the same moves, which an
opponent that reads the agent would not: the best expert is an upper mark, not a target.

Usage::

    .venv/bin/python benchmarks/online_layers.py --opponents roshambo:bot=textbot,roshambo:bot=flatbot3 --rounds 1000 --seeds 5
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from policygrad.engine import Engine
from policygrad.online import OnlineAgent
from policygrad.opponents import make_opponent
from policygrad.opponents.registry import split_specs
from policygrad.opponents.external import with_rounds

LAYERS = ("final", "second layer", "best option", "best expert")


def layer_rewards(opponent: str, rounds: int, seed: int, settings: dict | None = None) -> dict[str, float]:
    """The mean expected reward per round of each layer's play in one match of ``online`` (``OnlineAgent(**settings)``) against ``opponent``."""
    agent = OnlineAgent(**(settings or {}))
    agent.reset(seed)
    engine = Engine(with_rounds(make_opponent(opponent), rounds), n=1, rounds=rounds, context=0, seed=seed)
    engine.reset()
    final, second, options, experts, last = [], [], [], [], None
    for _ in range(rounds):
        move = agent.act(last)
        _, _, _, info = engine.step(torch.tensor([move]))
        last = int(info["opponent_move"][0])
        col = agent.payoff[:, last]
        final.append(float(np.asarray(agent.last_probs) @ col))
        second.append(float(agent.mixture @ col))
        options.append(agent.options @ col)
        experts.append(agent.experts @ col)
    best_option, best_expert = float(np.mean(options, 0).max()), float(np.mean(experts, 0).max())
    return dict(zip(LAYERS, (float(np.mean(final)), float(np.mean(second)), best_option, best_expert)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--opponents",
        default="roshambo:bot=textbot,roshambo:bot=flatbot3",
        help="opponent specs, comma-separated (a spec's own commas stay with it: mixed:probs=0.4,0.3,0.3)",
    )
    p.add_argument("--rounds", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    print(f"| opponent | {' | '.join(LAYERS)} | first layer's gap |")
    print("|---|" + "---:|" * (len(LAYERS) + 1))
    for opponent in split_specs(args.opponents):
        rows = [layer_rewards(opponent, args.rounds, seed) for seed in range(args.seeds)]
        mean = {k: float(np.mean([r[k] for r in rows])) for k in LAYERS}
        print(f"| {opponent} | " + " | ".join(f"{mean[k]:+.3f}" for k in LAYERS) + f" | {mean['best expert'] - mean['best option']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
