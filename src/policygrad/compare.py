"""The seed's claim as an experiment: ``policygrad compare``.

Every agent (policy gradient; epsilon-greedy Q-learning and DQN, :mod:`policygrad.qlearning`; the
deterministic argmax of the policy-gradient policy) trains against every opponent with every
seed, through the same engine; then each trained agent is measured: its reward per round against
adaptive opponents, and its exact exploitability (:mod:`policygrad.exploitability`). The seed
argues that against an opponent that adapts, a stochastic policy trained by policy gradient loses
least; this module measures it. ``plot_compare`` is in :mod:`policygrad.plots`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass

import torch

from .checkpoint import game_record, save_baseline, save_checkpoint
from .config import TrainConfig
from .distributed import check_backend, ray_session, run_tasks
from .evaluate import evaluate_policy
from .exploitability import exploitability
from .files import name_part
from .games import make_game
from .opponents import make_opponent
from .policies import argmax_policy
from .qlearning import BaselineConfig, train_dqn, train_q_learning
from .stats import interval
from .train import Trainer

__all__ = ["CompareSettings", "compare", "AGENT_NAMES", "DEFAULT_OPPONENTS", "PG_SETTINGS"]


AGENT_NAMES = ("pg", "q-learning", "dqn", "deterministic")
DEFAULT_OPPONENTS = ("best-response", "frequency", "markov", "exploiter")


@dataclass(frozen=True)
class CompareSettings:
    """The settings of ``policygrad compare``; the defaults finish in a few minutes on 2 cores."""

    opponents: tuple = DEFAULT_OPPONENTS
    """the opponents every agent trains against"""
    agents: tuple = AGENT_NAMES
    """pg, q-learning, dqn, deterministic (the argmax of the pg policy trained with the same seed)"""
    seeds: tuple = (0, 1, 2)
    """one training run per seed"""
    eval_opponents: tuple = ()
    """the adaptive opponents each trained agent then meets (empty: the training opponents plus best-response, frequency, markov, exploiter)"""
    game: str = "rps"
    rounds: int = 20
    """T, rounds per match"""
    context: int = 1
    """K, past rounds every agent sees"""
    iterations: int = 100
    """batches of matches each agent trains on"""
    batch: int = 64
    """N, matches per batch"""
    matches: int = 500
    """evaluation matches per (agent, evaluation opponent, seed)"""

    def __post_init__(self) -> None:
        for name in ("opponents", "agents", "seeds", "eval_opponents"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        bad = [a for a in self.agents if a not in AGENT_NAMES]
        if bad or not self.agents:
            raise ValueError(f"unknown agent(s) {', '.join(bad) or '(none given)'}; allowed: {', '.join(AGENT_NAMES)}")
        if not self.opponents:
            raise ValueError("compare needs at least one training opponent")
        if not self.seeds or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be non-negative integers, got {list(self.seeds)}")
        for name in ("rounds", "iterations", "batch", "matches"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        for spec in self.opponents + self.eval_opponents:
            make_opponent(spec)
        make_game(self.game)

    @property
    def evaluation_opponents(self) -> tuple:
        if self.eval_opponents:
            return self.eval_opponents
        return tuple(dict.fromkeys(self.opponents + DEFAULT_OPPONENTS))

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


PG_SETTINGS = {
    "policy": "mlp", "hidden": (64,), "estimator": "gae", "baseline": "value", "gamma": 1.0, "lam": 0.9, "normalize_advantages": True,
    "ent_coef": 0.00015, "vf_coef": 0.5, "optimizer": "adam", "lr": 0.01, "lr_schedule": "linear", "max_grad_norm": 1.0,
}  # fmt: skip


def _train_pg(s: CompareSettings, opponent: str, seed: int):
    # the trainer's actor-critic, with its hyperparameters pinned so the comparison does not move when the defaults do
    cfg = TrainConfig(
        opponent=opponent,
        game=s.game,
        rounds=s.rounds,
        context=s.context,
        counts=False,
        iterations=s.iterations,
        batch=s.batch,
        seed=seed,
        tensorboard=False,
        **PG_SETTINGS,
    )
    trainer = Trainer(cfg)
    for _ in range(cfg.iterations):
        trainer.step()
    return trainer.policy.eval(), cfg


def _evaluate(policy, spec: str, s: CompareSettings, seed: int):
    # evaluate_policy attaches a white-box opponent (best-response) to the policy
    return evaluate_policy(policy, spec, s.rounds, s.context, False, s.game, s.matches, seed=10_000 + seed)


def _train_one(s: CompareSettings, name: str, opponent: str, seed: int) -> tuple:
    """One training run of :func:`compare`: (trained policy, seconds, its config as a dict)."""
    t0 = time.perf_counter()
    if name == "pg":
        policy, pg_cfg = _train_pg(s, opponent, seed)
        extra = {"pg_config": pg_cfg.to_dict()}
    else:
        bcfg = BaselineConfig(opponent=opponent, game=s.game, rounds=s.rounds, context=s.context, iterations=s.iterations, batch=s.batch, seed=seed)
        policy, _ = (train_q_learning if name == "q-learning" else train_dqn)(bcfg)
        extra = bcfg.to_dict()
    return policy, time.perf_counter() - t0, extra


def compare(
    settings: CompareSettings, progress=None, save_dir: str | None = None, backend: str = "local", address: str | None = None, cpus: int | None = None
) -> dict:
    """Train every agent against every opponent with every seed, then measure each trained agent:
    reward per round against each evaluation opponent and its exact exploitability.

    Args:
        settings: what to train and measure.
        progress: ``progress(done, total, label)`` after each training run.
        save_dir: write each trained agent as ``{agent}__{opponent}__{seed}.pt`` (loadable by
            :meth:`policygrad.Agent.load`).
        backend: ``"local"`` (here, one run after another) or ``"ray"`` (one Ray task per training
            run, :mod:`policygrad.distributed`; the measures then run here): the same numbers.
        address: the Ray cluster to join (ray backend; default: a local Ray of ``cpus`` CPUs).
    Returns:
        ``{"settings", "entries": [...], "seconds"}``; one entry per (agent, training opponent) with
        ``agent``, ``opponent``, ``exploitability`` (mean over seeds) and its 95% interval,
        ``reward`` ({evaluation opponent: {"mean", "ci95"}}), ``train_seconds`` and ``per_seed``.
    """
    s = settings
    check_backend(backend, address)
    t_start = time.perf_counter()
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the first optimizer imports torch._dynamo: not in a run's time
    trained = [a for a in ("pg", "q-learning", "dqn") if a in s.agents or (a == "pg" and "deterministic" in s.agents)]
    total, done = len(s.opponents) * len(s.seeds) * len(trained), 0
    runs: dict[tuple[str, str], list[dict]] = {}
    on_ray = None  # the ray backend: every training run first, one Ray task each, then the same measures here
    if backend == "ray":
        items = [(s, name, opponent, seed) for opponent in s.opponents for seed in s.seeds for name in trained]
        with ray_session(address, cpus, "compare --backend ray"):
            trained_runs = run_tasks(_train_one, items, progress=lambda d, n: progress(d, n, "training runs on Ray") if progress else None)
        on_ray = {item[1:]: run for item, run in zip(items, trained_runs)}
    for opponent in s.opponents:
        for seed in s.seeds:
            policies = {}
            for name in trained:
                if on_ray is not None:
                    policies[name] = on_ray[(name, opponent, seed)]
                    continue
                policies[name] = _train_one(s, name, opponent, seed)
                done += 1
                if progress:
                    progress(done, total, f"{name} vs {opponent}, seed {seed}")
            if "deterministic" in s.agents:
                pg_policy, pg_seconds, extra = policies["pg"]
                policies["deterministic"] = (argmax_policy(pg_policy), pg_seconds, extra)
            for name in s.agents:
                policy, seconds, extra = policies[name]
                expl = exploitability(policy, s.game, s.rounds, s.context, False)
                rewards = {spec: _evaluate(policy, spec, s, seed) for spec in s.evaluation_opponents}
                runs.setdefault((name, opponent), []).append(
                    {"seed": seed, "exploitability": expl.value, "train_seconds": seconds, "reward": {k: v.to_dict() for k, v in rewards.items()}}
                )
                if save_dir:
                    path = os.path.join(save_dir, f"{name}__{name_part(opponent)}__{seed}.pt")
                    if name == "pg":
                        _save_pg(path, policy, extra["pg_config"], s)
                    else:
                        config = {
                            "game": s.game,
                            "rounds": s.rounds,
                            "context": s.context,
                            "counts": False,
                            **({"pg_config": extra["pg_config"]} if name == "deterministic" else extra),
                        }
                        save_baseline(path, name, policy, config)
    entries = []
    for (name, opponent), per_seed in runs.items():
        expl_mean, expl_ci = interval([r["exploitability"] for r in per_seed], 0.0)
        reward = {}
        for spec in s.evaluation_opponents:
            means = [r["reward"][spec]["mean"] for r in per_seed]
            m, ci = interval(means, per_seed[0]["reward"][spec]["ci95"])
            reward[spec] = {"mean": m, "ci95": ci}
        entries.append(
            {
                "agent": name,
                "opponent": opponent,
                "exploitability": expl_mean,
                "exploitability_ci95": expl_ci,
                "exploitability_exact": True,
                "reward": reward,
                "train_seconds": sum(r["train_seconds"] for r in per_seed) / len(per_seed),
                "per_seed": per_seed,
            }
        )
    return {"settings": s.to_dict(), "evaluation_opponents": list(s.evaluation_opponents), "entries": entries, "seconds": time.perf_counter() - t_start}


def _save_pg(path: str, policy, cfg_dict: dict, s: CompareSettings) -> str:
    payload = {"kind": "policy", "config": cfg_dict, "iteration": int(cfg_dict["iterations"]), "game": game_record(s.game), "policy": policy.state_dict()}
    return save_checkpoint(path, payload)
