"""Milliseconds a move of the exported Kaggle files of the registered players (``policygrad export kaggle NAME``).

For each player (``online``, ``meta``, ``meta-raw``, and the shipped GRU checkpoint ``meta-gru-raw``'s file for
comparison) the file is exported with a seed and executed as the Kaggle environment executes it (``exec`` of its
text, the last callable is ``agent``). It then plays 1000-round matches against a few library opponents
(``mixed``, ``markov:order=2``, ``online``), several seeds; each call ``agent(observation, configuration)`` is timed
with ``time.perf_counter``, the opponent's reply computed outside the clock. Printed per player: the median, 90th
and 99th percentile and the largest time of a move over all the calls, the first call of a match (which resets
the history, including online's n-gram count tables) and the time to execute the file (import NumPy excluded).
The target (issue 20): under 5 ms a move (median). The load average is printed: the machine may be shared.

Usage::

    .venv/bin/python benchmarks/kaggle_export.py              # 3 seeds x 3 opponents x 1000 rounds: about 15 s
    .venv/bin/python benchmarks/kaggle_export.py --seeds 1 --rounds 300
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from policygrad.agent import META_CHECKPOINT, OpponentPlayer, make_player
from policygrad.export import export_kaggle

PLAYERS = {"online": "online", "meta": "meta", "meta-raw": "meta-raw", "meta-gru-raw": META_CHECKPOINT}
OPPONENTS = ("mixed", "markov:order=2", "online")


def _execute(path: str) -> tuple[dict, float]:
    """The file's namespace, as kaggle_environments.agent.get_last_callable makes it, and the seconds it took."""
    text = open(path).read()
    start = time.perf_counter()
    ns: dict = {}
    exec(compile(text, path, "exec"), ns)
    return ns, time.perf_counter() - start


def bench(name: str, source: str, seeds: int, rounds: int, folder: str) -> dict:
    calls, firsts = [], []
    load = 0.0
    for seed in range(seeds):
        ns, load = _execute(export_kaggle(source, os.path.join(folder, f"{name}_{seed}.py"), seed=seed))
        agent = ns["agent"]
        for kind in OPPONENTS:
            opp = make_player("online") if kind == "online" else OpponentPlayer(kind)
            opp.reset(seed + 100)
            last_opp = last_mine = None
            for step in range(rounds):
                t0 = time.perf_counter()
                move = agent({"step": step, "lastOpponentAction": last_opp}, {"signs": 3})
                dt = time.perf_counter() - t0
                (firsts if step == 0 else calls).append(dt)
                last_opp, last_mine = opp.act(last_mine), move
    ms = np.array(calls) * 1e3
    return {
        "median": float(np.median(ms)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "first": float(np.median(firsts) * 1e3),
        "load": load * 1e3,
        "moves": len(calls) + len(firsts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--players", default=",".join(PLAYERS), help=f"comma-separated, of {', '.join(PLAYERS)}")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.seeds} seeds x {len(OPPONENTS)} opponents x {args.rounds} rounds")
    print(f"{'player':<14}{'median ms':>10}{'p90':>8}{'p99':>8}{'max':>8}{'first':>8}{'exec file':>11}{'moves':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.players.split(","):
            r = bench(name, PLAYERS[name], args.seeds, args.rounds, folder)
            print(
                f"{name:<14}{r['median']:>10.3f}{r['p90']:>8.3f}{r['p99']:>8.3f}{r['max']:>8.2f}{r['first']:>8.2f}{r['load']:>11.1f}{r['moves']:>8}",
                flush=True,
            )
    print("target: under 5 ms a move (median)")


if __name__ == "__main__":
    main()
