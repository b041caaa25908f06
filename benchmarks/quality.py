"""Quality at equal time: policygrad's defaults against Stable-Baselines3 A2C and PPO, beside the exact ceiling.

For each opponent (T = 100 rounds, the observation of policygrad's default config: the last
``context`` rounds, the round fraction and both players' move frequencies), each method trains
for a budget of 60 s; its policy is also copied at 10 s of the same run. Every policy is then
played with the *same* evaluator (policygrad's batched engine, ``--matches`` matches, sampling
from the policy: SB3's ``deterministic=False``) and the table gives the mean reward per round
over ``--seeds`` seeds, beside the exact optimum (``policygrad optimum``) where it is computable,
and the percentage of the optimum.

* policygrad: ``TrainConfig`` defaults (only opponent, rounds and seed set), one process;
* policygrad-gru: the same with ``policy = "gru"``, a recurrent policy over the whole match
  (its input is the same observation; its state can hold what a window of 5 rounds cannot);
* A2C, PPO: SB3 defaults (``MlpPolicy``), through our Gymnasium env
  ``policygrad/RockPaperScissors-v0`` with the same opponent, T, context and counts, in a
  ``DummyVecEnv`` of ``--sb3-envs`` copies (SB3's default is 1).

Every run is a separate process with ``torch.set_num_threads(1)``; ``--jobs`` of them run at once.
The budget clock is the process's CPU time by default (``--clock cpu``): on a machine shared with
other jobs, wall time measures the neighbours more than the method, and CPU time of a
single-threaded process equals wall time on an idle core. ``--clock wall`` uses wall time.
Time spent checkpointing at 10 s is not counted.

Usage::

    python benchmarks/quality.py                  # the full table (7 opponents x 3 seeds x 4 methods)
    python benchmarks/quality.py --quick          # frequency only, 1 seed, budgets 3 s and 10 s
    python benchmarks/quality.py --json out.json  # also write every run's numbers

Needs the ``bench`` extra (``pip install -e .[bench]``: stable-baselines3).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
from policygrad.files import atomic_write_text  # noqa: E402

ROUNDS = 100
MEMBERS = ["frequency", "markov:order=1", "markov:order=2", "pattern", "win-stay-lose-shift", "q-learner"]
OPPONENTS = MEMBERS + ["mix:of=[" + "|".join(MEMBERS) + "]"]
METHODS = ("policygrad", "policygrad-gru", "a2c", "ppo")
POLICYGRAD_POLICY = {"policygrad": "mlp", "policygrad-gru": "gru"}  # the policy network of each policygrad method
OPTIMUM_CACHE = os.path.join(HERE, "results", f"optimum_T{ROUNDS}.json")


def _clock(kind: str):
    return time.process_time if kind == "cpu" else time.perf_counter


# -- one run per process -------------------------------------------------------------------------


class _SB3Policy:
    """An SB3 actor-critic's policy read as a policygrad policy (``step`` -> log-probabilities)."""

    recurrent = False

    def __init__(self, sb3_policy) -> None:
        import torch

        self.sb3 = sb3_policy.to("cpu").eval()
        self._p = torch.nn.Parameter(torch.zeros(()))

    def parameters(self):
        return iter([self._p])

    def initial_state(self, n: int):
        return None

    def step(self, obs_NF, hidden=None):
        import torch

        with torch.no_grad():
            dist = self.sb3.get_distribution(obs_NF.float())
            return torch.log_softmax(dist.distribution.logits, dim=-1).to(self._p.dtype), None


def _evaluate(policy, opponent: str, context: int, counts: bool, matches: int, seed: int) -> float:
    from policygrad.evaluate import evaluate_policy

    return evaluate_policy(policy, opponent, ROUNDS, context, counts, matches=matches, seed=seed).mean


def run_policygrad(opponent: str, seed: int, budgets: tuple[float, ...], clock: str, matches: int, policy: str = "mlp") -> dict:
    from policygrad.config import TrainConfig
    from policygrad.train import Trainer

    cfg = TrainConfig(opponent=opponent, rounds=ROUNDS, seed=seed, policy=policy, tensorboard=False)
    now = _clock(clock)
    trainer = Trainer(cfg)
    snaps, pending, paused = {}, sorted(budgets), 0.0
    start = now()
    while trainer.iteration < cfg.iterations and pending:
        trainer.step()
        used = now() - start - paused
        while pending and used >= pending[0]:
            t0 = now()
            snaps[pending.pop(0)] = (copy.deepcopy(trainer.policy), trainer.iteration, used)
            paused += now() - t0
    used = now() - start - paused
    for b in pending:  # finished inside the budget: the final policy is what the budget reached
        snaps[b] = (trainer.policy, trainer.iteration, used)
    out = {}
    for b, (pol, it, u) in snaps.items():
        out[str(b)] = {
            "reward": _evaluate(pol.eval(), opponent, cfg.context, cfg.counts, matches, 10_000 + seed),
            "iterations": it,
            "agent_steps": it * cfg.batch * cfg.rounds,
            "seconds": u,
        }
    return out


def run_sb3(method: str, opponent: str, seed: int, budgets: tuple[float, ...], clock: str, matches: int, n_envs: int, context: int, counts: bool) -> dict:
    import gymnasium as gym
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import policygrad.envs  # noqa: F401  (registers policygrad/RockPaperScissors-v0)

    torch.set_num_threads(1)
    env = make_vec_env(
        lambda: gym.make("policygrad/RockPaperScissors-v0", opponent=opponent, rounds=ROUNDS, context=context, counts=counts),
        n_envs=n_envs,
        seed=seed,
    )
    model = (A2C if method == "a2c" else PPO)("MlpPolicy", env, seed=seed, device="cpu", verbose=0)
    now = _clock(clock)

    class Budget(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.pending, self.snaps, self.paused = sorted(budgets), {}, 0.0

        def _on_training_start(self) -> None:
            self.start = now()

        def _on_step(self) -> bool:
            used = now() - self.start - self.paused
            while self.pending and used >= self.pending[0]:
                t0 = now()
                self.snaps[self.pending.pop(0)] = (copy.deepcopy(self.model.policy), self.num_timesteps, used)
                self.paused += now() - t0
            return bool(self.pending)

    cb = Budget()
    model.learn(total_timesteps=10**12, callback=cb)
    out = {}
    for b, (pol, steps, u) in cb.snaps.items():
        out[str(b)] = {"reward": _evaluate(_SB3Policy(pol), opponent, context, counts, matches, 10_000 + seed), "agent_steps": steps, "seconds": u}
    return out


def run_one(method: str, opponent: str, seed: int, budgets, clock: str, matches: int, n_envs: int) -> dict:
    import torch

    from policygrad.config import TrainConfig

    torch.set_num_threads(1)
    defaults = TrainConfig(opponent=opponent, rounds=ROUNDS, seed=seed)
    t0 = time.perf_counter()
    if method in POLICYGRAD_POLICY:
        res = run_policygrad(opponent, seed, tuple(budgets), clock, matches, POLICYGRAD_POLICY[method])
    else:
        res = run_sb3(method, opponent, seed, tuple(budgets), clock, matches, n_envs, defaults.context, defaults.counts)
    return {"method": method, "opponent": opponent, "seed": seed, "budgets": res, "wall_s": time.perf_counter() - t0}


# -- the exact ceiling ---------------------------------------------------------------------------


def optimum_of(opponent: str, recompute: bool = False) -> float | None:
    """The exact optimum per round over T = 100, cached in benchmarks/results (None: not computable)."""
    cache = {}
    if os.path.exists(OPTIMUM_CACHE):
        with open(OPTIMUM_CACHE) as fh:
            cache = json.load(fh)
    if opponent in cache and not recompute:
        return cache[opponent]["value_per_round"]
    from policygrad.optimum import optimum

    try:
        r = optimum(opponent, ROUNDS)
        entry = {"value_per_round": r.value_per_round, "states_total": r.states_total, "seconds": r.seconds}
    except (ValueError, MemoryError, NotImplementedError) as e:
        entry = {"value_per_round": None, "why": str(e).splitlines()[0]}
    cache[opponent] = entry
    atomic_write_text(OPTIMUM_CACHE, json.dumps(cache, indent=2, sort_keys=True))
    return entry["value_per_round"]


# -- the table -----------------------------------------------------------------------------------


def _short(opponent: str) -> str:
    return "mix of the 6" if opponent.startswith("mix:") else opponent


def table(runs: list[dict], opponents, budgets, optima: dict, seeds: int | None = None) -> str:
    """A Markdown table: per opponent and budget, each method's mean ± sd over seeds (n=... where fewer than ``seeds``)."""
    head = "| opponent | optimum | " + " | ".join(f"{m} {b:g} s" for b in budgets for m in METHODS) + " |"
    lines = [head, "|" + "---|" * (2 + len(budgets) * len(METHODS))]
    for opp in opponents:
        opt = optima.get(opp)
        cells = [_short(opp), "n/a" if opt is None else f"{opt:.3f}"]
        for b in budgets:
            for m in METHODS:
                vals = [r["budgets"][str(b)]["reward"] for r in runs if r["opponent"] == opp and r["method"] == m and str(b) in r["budgets"]]
                if not vals:
                    cells.append("-")
                    continue
                mean = sum(vals) / len(vals)
                sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
                pct = f" ({100 * mean / opt:.0f}%)" if opt else ""
                short = f" n={len(vals)}" if seeds and len(vals) < seeds else ""
                cells.append(f"{mean:.3f} ±{sd:.3f}{pct}{short}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _done_runs(path: str | None, budgets, clock: str) -> list[dict]:
    """The runs already in ``path`` (for ``--resume``); they must have been made with the same budgets and clock."""
    if not path:
        raise SystemExit("--resume needs --json FILE: the file whose runs are kept")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        old = json.load(fh)
    if sorted(old["budgets"]) != budgets or old["clock"] != clock:
        raise SystemExit(f"--resume: {path} has budgets {old['budgets']} on the {old['clock']} clock, not {budgets} on the {clock} clock")
    return old["runs"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="frequency only, 1 seed, budgets 3 s and 10 s")
    ap.add_argument("--opponents", nargs="*", help="opponent specs (default: the seven of the table)")
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", type=float, nargs="*", default=[10.0, 60.0], help="seconds; the largest is each run's length")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu", help="what a budget second is (see the module docstring)")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (each single-threaded)")
    ap.add_argument("--matches", type=int, default=1000, help="evaluation matches per policy")
    ap.add_argument("--sb3-envs", type=int, default=1, help="parallel env copies of A2C/PPO (DummyVecEnv)")
    ap.add_argument("--json", help="write every run's numbers here (atomically, after each run)")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in --json and do only the missing ones")
    ap.add_argument("--recompute-optimum", action="store_true", help="recompute the cached optima")
    args = ap.parse_args(argv)
    opponents = args.opponents or OPPONENTS
    budgets, seeds = sorted(args.budgets), args.seeds
    if args.quick:
        opponents, budgets, seeds = args.opponents or ["frequency"], [3.0, 10.0], 1
    optima = {o: optimum_of(o, args.recompute_optimum) for o in opponents}
    runs = _done_runs(args.json, budgets, args.clock) if args.resume else []
    done = {(r["method"], r["opponent"], r["seed"]) for r in runs}
    jobs = [(m, o, s) for s in range(seeds) for o in opponents for m in args.methods if (m, o, s) not in done]
    print(f"{len(done)} runs kept from {args.json}; " if args.resume else "", end="", file=sys.stderr)
    print(f"{len(jobs)} runs of {max(budgets):g} s ({args.clock} clock), {args.jobs} at a time", file=sys.stderr, flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs, max_tasks_per_child=1) as pool:
        futs = {pool.submit(run_one, m, o, s, budgets, args.clock, args.matches, args.sb3_envs): (m, o, s) for m, o, s in jobs}
        for f in as_completed(futs):
            r = f.result()
            runs.append(r)
            print(
                f"  {r['method']:10s} {_short(r['opponent']):22s} seed {r['seed']}: "
                + ", ".join(f"{b} s -> {v['reward']:.3f} ({v['agent_steps']:,} steps)" for b, v in r["budgets"].items()),
                file=sys.stderr,
                flush=True,
            )
            if args.json:
                atomic_write_text(args.json, json.dumps({"optima": optima, "budgets": budgets, "clock": args.clock, "runs": runs}, indent=1))
    print(
        f"reward per round (mean ± sd over {seeds} seed{'s' if seeds > 1 else ''}, {args.matches} evaluation matches each; "
        f"T = {ROUNDS}; {args.clock} clock), % of the exact optimum"
    )
    print(table(runs, opponents, budgets, optima, seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
