"""Settings of `online` compared on a test field, paired by seed: the last check of a change.

A change to :class:`policygrad.online.OnlineAgent` is judged off the fields first
(`benchmarks/online_variants.py`); this script then plays the default agent and each variant (a set of
``OnlineAgent`` keyword arguments, registered as the player ``online-NAME``) against a whole suite in
one tournament, the same seeds for all, and prints each agent's mean and the paired difference of
each variant from the default: over the field (mean and standard error over the seeds of the
field's mean), and the opponents where it differs most. ``--json FILE`` keeps the tournament.

Usage::

    .venv/bin/python benchmarks/online_field.py --variant 'no-lane={"frequency_option": false}' --suite roshambo --seeds 20
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from online_variants import parse_variants  # the script beside this one

from policygrad.agent import PLAYERS
from policygrad.files import atomic_write_text
from policygrad.online import OnlineAgent
from policygrad.tournament import SUITES, run_tournament, suite


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--variant",
        action="append",
        required=True,
        metavar='NAME={"lr": [...], ...}',
        help="a variant: a name and OnlineAgent's keyword arguments as JSON (repeatable)",
    )
    p.add_argument("--suite", default="roshambo", choices=SUITES)
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--rounds", type=int, default=1000)
    p.add_argument("--show", type=int, default=5, help="opponents shown at each end of the differences")
    p.add_argument("--json", metavar="FILE", help="write the whole tournament here")
    args = p.parse_args(argv)
    names = ["online"]
    for name, kwargs in parse_variants(p, args.variant).items():
        player = f"online-{name}"
        PLAYERS[player] = lambda game, kwargs=kwargs, player=player: OnlineAgent(game, name=player, **kwargs)  # the workers fork: they see it
        names.append(player)
    result = run_tournament(names, suite(args.suite), rounds=args.rounds, seeds=args.seeds)
    if args.json:
        atomic_write_text(args.json, json.dumps(result.to_dict(), indent=1))
    totals = {(m["agent"], m["opponent"], m["seed"]): m["total"] / m["rounds_played"] for m in result.matches if m["total"] is not None}
    # the pairs: opponents with every match scored for every agent (a forfeit leaves a pair out)
    opponents = [o for o in result.opponents if all((a, o, s) in totals for a in names for s in range(args.seeds))]
    if len(opponents) < len(result.opponents):
        print(f"left out of the differences (a forfeit): {', '.join(o for o in result.opponents if o not in opponents)}")
    for row in result.leaderboard:
        print(
            f"{row['agent']}: {row['mean']:+.4f} ± {row['ci95']:.4f} per round, W/D/L {row['wins']}/{row['draws']}/{row['losses']}, worst {row['worst_opponent']} ({row['worst_mean']:+.3f})"
        )
    for player in names[1:]:
        diff = np.array([[totals[(player, o, s)] - totals[("online", o, s)] for s in range(args.seeds)] for o in opponents])  # [opponents, seeds]
        field = diff.mean(axis=0)
        print(f"\n{player} - online: {field.mean():+.4f} (se {field.std(ddof=1) / np.sqrt(args.seeds):.4f}) over the field")
        per = diff.mean(axis=1)
        se = diff.std(axis=1, ddof=1) / np.sqrt(args.seeds)
        order = np.argsort(per)
        for i in list(order[: args.show]) + list(order[-args.show :]):
            print(f"  {opponents[i]}: {per[i]:+.3f} (se {se[i]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
