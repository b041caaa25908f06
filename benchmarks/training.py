"""Training throughput and time to 90% of the best reward: policygrad beside Stable-Baselines3 A2C and PPO.

One game for everyone: RPS against ``mixed:probs=0.5,0.3,0.2`` (rock 0.5, paper 0.3, scissors
0.2, independent of the history), T = 20 rounds a match, observation context k = 2 with the move
frequencies (policygrad's default layout, F = 25). The best reward is 0.3 a round (always paper:
0.5 - 0.2); 90% of it is 0.27.

**Throughput** (agent-steps per second, rollout + update). policygrad: ``Trainer.step()`` of the
default config (MLP 64 tanh, GAE actor-critic, Adam) at large batches N matches x T rounds, torch
threads 1 and 2; one untimed warm-up step, then ``--repeats`` timed steps; figure N * T / median
step time; the best cell is reported. Stable-Baselines3: ``model.learn(S)`` on the Gymnasium env
``policygrad/RockPaperScissors-v0`` (same opponent, rounds, context, counts), after an untimed
warm-up ``learn``; figure S / median time. A2C with its defaults (one env, n_steps 5), A2C on a
``DummyVecEnv`` of 8 envs, PPO with its defaults (one env, n_steps 2048); SB3 at the torch thread
count that was faster for it. The timed runs of all methods are interleaved repeat by repeat, so
that load from other jobs on the machine falls on all of them alike; ratios are of medians.

**Time to 90%.** Each method trains from scratch (seed 0; policygrad: the default config with
rounds = 20; SB3: defaults) and is evaluated every ``--eval-every`` seconds of its own training
wall time by one shared evaluator: 200 matches of T = 20 rounds in policygrad's engine (the same
opponent draws for every evaluation: common random numbers), the agent sampling from its policy;
the figure is the mean reward per round. The clock counts model construction and training (evaluation is paused out; one-time imports are
done before any clock starts);
the time to 90% is the training time at the first evaluation scoring >= 0.27. A method that has not
reached it by ``--budget`` seconds (or, for policygrad, by the config's last iteration) is reported
as not reached.

Usage (needs the optional extra ``bench``: ``.venv/bin/pip install -e '.[bench]'``)::

    .venv/bin/python benchmarks/training.py            # the full table: 16 minutes on 2 heavily shared cores
    .venv/bin/python benchmarks/training.py --quick    # one batch size, short budgets: a few minutes
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import warnings

import torch

OPPONENT = "mixed:probs=0.5,0.3,0.2"
ROUNDS = 20
CONTEXT = 2
COUNTS = True
BEST = 0.3  # always paper: 0.5 * (+1) + 0.3 * 0 + 0.2 * (-1)
TARGET = 0.9 * BEST
EVAL_MATCHES = 200
THROUGHPUT_TARGET = 200.0


# -- the shared evaluator ---------------------------------------------------------------------------
class Evaluator:
    """Expected reward per round of a policy over EVAL_MATCHES x ROUNDS matches, the same draws each call.

    ``probs(obs_NF float32 tensor) -> [N, A]`` is the agent's policy at the observations. Each round
    the evaluator adds sum_a,o pi(a|s) M[a, o] q(o) (q: the opponent's distribution for that round),
    the reward expected at the state reached, then samples the agent's move from pi with its own
    generator (seeded the same every call) and plays it. Rao-Blackwellised: the noise of the
    agent's and the opponent's draws in the reward itself is gone, that of the states visited stays.
    """

    def __init__(self, seed: int = 12345) -> None:
        from policygrad.engine import Engine

        self.engine = Engine(OPPONENT, n=EVAL_MATCHES, rounds=ROUNDS, context=CONTEXT, counts=COUNTS)
        self.payoff = self.engine.game.payoff  # [A, A] float64
        self.seed = seed

    @torch.no_grad()
    def __call__(self, probs) -> float:
        obs = self.engine.reset(self.seed)
        gen = torch.Generator().manual_seed(self.seed + 1)
        total = torch.zeros(EVAL_MATCHES, dtype=torch.float64)
        for _ in range(ROUNDS):
            pi_NA = probs(obs).double()
            total += ((pi_NA @ self.payoff) * self.engine.opponent_probs.double()).sum(1)
            obs, _, _, _ = self.engine.step(torch.multinomial(pi_NA, 1, generator=gen).squeeze(1))
        return float(total.mean()) / ROUNDS


def policygrad_probs(policy):
    def probs(obs_NF):
        logp, _ = policy.step(obs_NF.to(next(policy.parameters()).dtype), None)
        return logp.exp()

    return probs


def sb3_probs(model):
    def probs(obs_NF):
        return model.policy.get_distribution(obs_NF.to(model.device)).distribution.probs.cpu()

    return probs


# -- throughput --------------------------------------------------------------------------------------
def pg_config(**overrides):
    from policygrad.config import TrainConfig

    kw = dict(opponent=OPPONENT, rounds=ROUNDS, context=CONTEXT, counts=COUNTS, tensorboard=False)
    kw.update(overrides)
    return TrainConfig(**kw)


class PGThroughput:
    """policygrad's Trainer at one (N, T, threads): ``timed()`` returns the seconds of one step."""

    def __init__(self, n: int, t: int, threads: int) -> None:
        from policygrad.train import Trainer

        self.n, self.t, self.threads = n, t, threads
        self.trainer = Trainer(pg_config(batch=n, rounds=t, threads=threads, iterations=1_000_000))
        self.steps = n * t
        torch.set_num_threads(threads)
        self.trainer.step()  # warm-up

    def timed(self) -> float:
        torch.set_num_threads(self.threads)
        t0 = time.perf_counter()
        self.trainer.step()
        return time.perf_counter() - t0


def make_sb3(algo: str, n_envs: int, seed: int = 0):
    import gymnasium as gym
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    import policygrad  # noqa: F401  registers the env

    kwargs = dict(opponent=OPPONENT, rounds=ROUNDS, context=CONTEXT, counts=COUNTS)
    if n_envs == 1:
        env = gym.make("policygrad/RockPaperScissors-v0", **kwargs)
    else:
        env = DummyVecEnv([lambda: Monitor(gym.make("policygrad/RockPaperScissors-v0", **kwargs)) for _ in range(n_envs)])
        env.seed(seed)
    cls = {"a2c": A2C, "ppo": PPO}[algo]
    return cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0)


class SB3Throughput:
    """``model.learn(steps)`` of one SB3 model: ``timed()`` returns its seconds."""

    def __init__(self, algo: str, n_envs: int, steps: int, threads: int) -> None:
        self.algo, self.n_envs, self.steps, self.threads = algo, n_envs, steps, threads
        torch.set_num_threads(threads)
        self.model = make_sb3(algo, n_envs)
        self.model.learn(min(steps, 2048 if algo == "ppo" else 500))  # warm-up

    def timed(self) -> float:
        torch.set_num_threads(self.threads)
        t0 = time.perf_counter()
        self.model.learn(self.steps, reset_num_timesteps=False)
        return time.perf_counter() - t0


def interleaved(runners: dict, repeats: int) -> dict:
    """{name: median steps/s}, every runner timed once per repeat, in turn."""
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, r in runners.items():
            times[name].append(r.timed())
    return {name: runners[name].steps / statistics.median(ts) for name, ts in times.items()}


# -- time to 90% --------------------------------------------------------------------------------------
class Clock:
    """Training wall time with evaluations paused out; ``due()`` when the next evaluation is due."""

    def __init__(self, every: float) -> None:
        self.every, self.start, self.paused, self.next_eval = every, time.perf_counter(), 0.0, every

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def due(self) -> bool:
        return self.elapsed() >= self.next_eval


def evaluate_now(clock: Clock, evaluator: Evaluator, act, log: list) -> float:
    t_train = clock.elapsed()
    t0 = time.perf_counter()
    score = evaluator(act)
    clock.paused += time.perf_counter() - t0
    clock.next_eval = t_train + clock.every
    log.append((t_train, score))
    return score


def pg_time_to_target(evaluator: Evaluator, every: float, budget: float, threads: int) -> dict:
    from policygrad.train import Trainer

    torch.set_num_threads(threads)
    cfg = pg_config(threads=threads)  # the default config, rounds = 20
    log: list = []
    clock = Clock(every)
    trainer = Trainer(cfg)
    reached = None
    while trainer.iteration < cfg.iterations and clock.elapsed() < budget:
        trainer.step()
        if clock.due() or trainer.iteration == cfg.iterations:
            if evaluate_now(clock, evaluator, policygrad_probs(trainer.policy), log) >= TARGET:
                reached = log[-1][0]
                break
    return {"reached": reached, "steps": trainer.iteration * cfg.batch * cfg.rounds, "log": log}


def sb3_time_to_target(algo: str, evaluator: Evaluator, every: float, budget: float, threads: int) -> dict:
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(threads)
    log: list = []
    state = {"reached": None, "steps": 0}

    class Eval(BaseCallback):
        def _on_step(self) -> bool:
            state["steps"] = self.num_timesteps
            if clock.due():
                if evaluate_now(clock, evaluator, sb3_probs(self.model), log) >= TARGET:
                    state["reached"] = log[-1][0]
                    return False
            return clock.elapsed() < budget

    clock = Clock(every)
    model = make_sb3(algo, 1)
    model.learn(10**9, callback=Eval())
    return {"reached": state["reached"], "steps": state["steps"], "log": log}


# -- report -------------------------------------------------------------------------------------------
def rate(x: float) -> str:
    return f"{x:,.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one batch size, 2 repeats, short budgets")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per method (default 3; quick 2)")
    p.add_argument("--eval-every", type=float, default=0.25, help="seconds of training between evaluations")
    p.add_argument("--budget", type=float, default=None, help="seconds of training before a method counts as not reaching 90%% (default 150; quick 45)")
    p.add_argument(
        "--sb3-threads",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=(1,),
        help="torch threads for SB3, comma-separated (default 1: its small nets run fastest on one thread)",
    )
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-time", action="store_true")
    args = p.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    try:
        import stable_baselines3
    except ImportError:
        print("stable-baselines3 is not installed: .venv/bin/pip install -e '.[bench]'", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    repeats = args.repeats or (2 if args.quick else 3)
    budget = args.budget or (45.0 if args.quick else 150.0)
    grid = [(4096, 20)] if args.quick else [(4096, 20), (16384, 20), (65536, 20), (4096, 100)]
    sb3_steps = 1000 if args.quick else 3000
    print(f"policygrad training benchmark: RPS vs {OPPONENT}, T={ROUNDS}, context {CONTEXT}, counts {COUNTS}")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, stable-baselines3 {stable_baselines3.__version__}, "
        f"{torch.get_num_threads()} default torch threads, {repeats} repeats{' (quick)' if args.quick else ''}"
    )

    if not args.skip_throughput:
        runners = {}
        for threads in (1, 2):
            for n, t in grid:
                runners[f"policygrad N={n} T={t} threads={threads}"] = PGThroughput(n, t, threads)
        for threads in args.sb3_threads:
            runners[f"SB3 A2C (1 env, defaults) threads={threads}"] = SB3Throughput("a2c", 1, sb3_steps, threads)
            runners[f"SB3 A2C (DummyVecEnv 8) threads={threads}"] = SB3Throughput("a2c", 8, sb3_steps * 2, threads)
            runners[f"SB3 PPO (1 env, defaults) threads={threads}"] = SB3Throughput("ppo", 1, max(sb3_steps, 2048), threads)
        results = interleaved(runners, repeats)
        del runners
        print("\nthroughput: agent-steps per second, rollout + update (median of the repeats)")
        width = max(len(k) for k in results)
        for name, r in results.items():
            print(f"  {name:<{width}}  {rate(r):>12}")
        best = lambda prefix: max((v, k) for k, v in results.items() if k.startswith(prefix))  # noqa: E731
        pg, a2c, a2c8, ppo = best("policygrad"), best("SB3 A2C (1 env"), best("SB3 A2C (Dummy"), best("SB3 PPO")
        print(f"\n  best policygrad: {rate(pg[0])} steps/s ({pg[1]})")
        for label, (v, k) in (("A2C (1 env)", a2c), ("A2C (8 envs)", a2c8), ("PPO", ppo)):
            print(f"  policygrad / {label:<12} = {pg[0] / v:8.0f}x   ({k}: {rate(v)} steps/s)")
        ok = pg[0] / a2c[0] >= THROUGHPUT_TARGET
        print(f"  target: >= {THROUGHPUT_TARGET:.0f}x A2C's default throughput: {'met' if ok else 'NOT met'}")

    if not args.skip_time:
        print(
            f"\ntime to 90% of the best reward ({TARGET:.2f} a round; evaluated every {args.eval_every:g} s of training on "
            f"{EVAL_MATCHES} matches; budget {budget:g} s)"
        )
        evaluator = Evaluator()
        # one-time process costs out of the clocks: the first torch optimiser imports torch._dynamo
        # (seconds), and each library's modules load once
        pg_config()
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        make_sb3("a2c", 1), make_sb3("ppo", 1)
        rows = []
        for name, fn in (
            ("policygrad (default config, rounds=20)", lambda: pg_time_to_target(evaluator, args.eval_every, budget, 1)),
            ("SB3 A2C (defaults)", lambda: sb3_time_to_target("a2c", evaluator, args.eval_every, budget, 1)),
            ("SB3 PPO (defaults)", lambda: sb3_time_to_target("ppo", evaluator, args.eval_every, budget, 1)),
        ):
            res = fn()
            best_score = max((s for _, s in res["log"]), default=float("nan"))
            rows.append((name, res))
            when = f"{res['reached']:7.2f} s" if res["reached"] is not None else f"> {budget:g} s (not reached)"
            print(f"  {name:<40} {when:>24}   {res['steps']:>10,} agent-steps, {len(res['log'])} evaluations, best {best_score:+.3f}")
        pg_t = rows[0][1]["reached"]
        for name, res in rows[1:]:
            other = res["reached"]
            if pg_t is None:
                print(f"  policygrad did not reach 90%: no ratio against {name}")
            elif other is None:
                print(f"  {name} / policygrad: > {budget / pg_t:.0f}x (it did not reach 90% within {budget:g} s)")
            else:
                print(f"  {name} / policygrad: {other / pg_t:.1f}x")
        faster = pg_t is not None and all(r["reached"] is None or r["reached"] > pg_t for _, r in rows[1:])
        print(f"  target: policygrad reaches 90% first in wall time: {'met' if faster else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
