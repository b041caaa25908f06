"""Stochastic gradient ascent on V(S0; theta): REINFORCE and actor-critic, one readable path.

Each iteration plays N matches (the seed's m trajectories), forms the surrogate of the chosen
estimator, and takes one step Delta theta = alpha * g (SGD; Adam as an option):

    loss = -surrogate(Psi - b) - ent_coef(i) * entropy + vf_coef * (V_phi(S_t) - G_t)^2

The entropy weight ent_coef(i) is held, then annealed to 0 (``ent_anneal``): the policy explores
while it searches and is free to become deterministic before the run ends.

A run directory holds ``config.toml``, ``metrics.csv`` (a row per iteration), TensorBoard events,
``checkpoint.pt`` (atomic, the last good one) and ``report.json``. A stopped run resumes to exactly
the parameters an uninterrupted run would reach: every generator's state is in the checkpoint.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass

import torch

from . import encoding
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, dump_toml
from .files import atomic_write_text
from .engine import Engine
from .estimators import discounted_returns, entropy_bonus, policy_objective, value_loss
from .games import make_game
from .policies import make_critic, make_policy
from .rollout import rollout, score

__all__ = ["Trainer", "TrainResult", "NonFiniteLossError", "train", "METRIC_FIELDS"]

METRIC_FIELDS = ["iteration", "agent_steps", "reward_per_round", "reward_se", "entropy", "grad_norm", "loss_v", "lr", "ent_coef", "seconds", "optimum"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class TrainResult:
    run_dir: str | None
    iterations: int
    reward_per_round: float  # of the last iteration's batch
    seconds: float
    interrupted: bool
    report: dict


def _schedule(name: str, total: int):
    if name == "constant":
        return lambda i: 1.0
    if name == "linear":
        return lambda i: max(0.0, 1.0 - i / total)
    return lambda i: 0.5 * (1.0 + math.cos(math.pi * min(i, total) / total))


class Trainer:
    """Holds the policy, critic, optimiser and generators of one run; :meth:`run` trains it."""

    def __init__(self, config: TrainConfig, run_dir: str | None = None, optimum: float | None = None) -> None:
        self.config, self.run_dir = config, run_dir
        self.game = make_game(config.game)
        a = self.game.num_actions
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)  # parameter initialisation only; play uses explicit generators
        self.engine = Engine(config.opponent, n=config.batch, rounds=config.rounds, context=config.context, game=self.game, counts=config.counts, seed=config.seed)
        self.policy = make_policy(config.policy, self.engine.obs_size, a, config.context, config.hidden, config.uses_gaps, config.rounds)
        if hasattr(self.engine.opponent, "attach"):  # a white-box opponent (best-response) reads the policy
            self.engine.opponent.attach(self.policy, config.context, config.counts, config.rounds)
        self.critic = make_critic(self.engine.obs_size, a, config.context, config.hidden, config.uses_gaps, config.rounds) if config.uses_critic else None
        params = list(self.policy.parameters()) + (list(self.critic.parameters()) if self.critic else [])
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=config.lr)
        else:
            self.optimizer = torch.optim.SGD(params, lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _schedule(config.lr_schedule, config.iterations))
        self.agent_generator = torch.Generator().manual_seed(config.seed + 1)
        self.iteration = 0
        self.optimum = optimum

    # -- checkpoints ------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "kind": "policy",
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "game": {"name": self.game.name, "payoff": self.game.payoff, "actions": list(self.game.actions)},
            "obs_size": self.engine.obs_size,
            "policy": self.policy.state_dict(),
            "critic": self.critic.state_dict() if self.critic else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"last_epoch": self.scheduler.last_epoch},
            "rng": {"engine": self.engine.generator.get_state(), "agent": self.agent_generator.get_state()},
        }

    def load_state(self, data: dict) -> None:
        self.policy.load_state_dict(data["policy"])
        if self.critic is not None:
            self.critic.load_state_dict(data["critic"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.scheduler.last_epoch = data["scheduler"]["last_epoch"]
        for group, lr0 in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = lr0 * self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)
        self.engine.generator.set_state(data["rng"]["engine"])
        self.agent_generator.set_state(data["rng"]["agent"])
        self.iteration = int(data["iteration"])

    def save(self) -> str | None:
        if self.run_dir is None:
            return None
        return save_checkpoint(os.path.join(self.run_dir, "checkpoint.pt"), self.state())

    # -- one step of gradient ascent --------------------------------------------------------------
    def step(self) -> dict:
        """Play N matches, take one gradient step; returns this iteration's metrics."""
        cfg = self.config
        t0 = time.perf_counter()
        batch = score(self.policy, rollout(self.policy, self.engine, generator=self.agent_generator))
        rewards = batch.rewards.to(batch.logp.dtype)
        values = self.critic(batch.obs) if self.critic else None
        baseline = cfg.baseline if cfg.estimator != "gae" else "none"
        loss_pi = -policy_objective(batch.logp, rewards, cfg.estimator, baseline, cfg.gamma, values, cfg.lam, cfg.normalize_advantages)
        ent = entropy_bonus(batch.logp_all)
        loss_v = value_loss(values, discounted_returns(rewards, cfg.gamma)) if self.critic else torch.zeros(())
        ent_weight = cfg.ent_weight(self.iteration)
        loss = loss_pi - ent_weight * ent + cfg.vf_coef * loss_v
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite loss ({float(loss.detach())}) at iteration {self.iteration + 1}; the run stopped and the last good checkpoint "
                f"(iteration {self.iteration}) is kept" + (f" in {self.run_dir}" if self.run_dir else "")
            )
        self.optimizer.zero_grad()
        loss.backward()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf"))
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        self.iteration += 1
        per_round = batch.rewards.double().mean(1)
        probs = batch.logp_all.detach().exp().mean((0, 1))
        row = {
            "iteration": self.iteration,
            "agent_steps": self.iteration * cfg.batch * cfg.rounds,
            "reward_per_round": float(per_round.mean()),
            "reward_se": float(per_round.std()) / math.sqrt(len(per_round)) if len(per_round) > 1 else float("nan"),
            "entropy": float(ent.detach()) / cfg.rounds,  # mean entropy per round
            "grad_norm": float(grad_norm),
            "loss_v": float(loss_v.detach()),
            "lr": lr,
            "ent_coef": ent_weight,
            "seconds": time.perf_counter() - t0,
            "optimum": "" if self.optimum is None else self.optimum,
        }
        row.update({f"p_{name}": float(p) for name, p in zip(self.game.actions, probs)})
        return row


def _optimum_or_none(config: TrainConfig) -> float | None:
    """The exact ceiling per round when it is cheap to compute, else None."""
    try:
        from .optimum import optimum
    except ImportError:
        return None
    try:
        return optimum(config.opponent, config.rounds, config.game, max_states=200_000).value_per_round
    except (ValueError, NotImplementedError, MemoryError):
        return None


def train(config: TrainConfig, run_dir: str | None = None, resume: bool = False, progress=None, stop_after: int | None = None, with_optimum: bool = True) -> TrainResult:
    """Train a policy by stochastic gradient ascent.

    Args:
        config: the run's configuration (checked at construction).
        run_dir: where config, metrics, events, checkpoint and report go (None: nothing written).
        resume: continue the run in ``run_dir`` from its checkpoint (its config.toml wins).
        progress: ``progress(row)`` called after each iteration (the CLI's progress bar).
        stop_after: stop (as Ctrl-C would) after this many iterations of this call; for tests.
        with_optimum: compute the exact ceiling for the ``optimum`` column when it is cheap.
    """
    optimum = _optimum_or_none(config) if with_optimum else None
    trainer = Trainer(config, run_dir, optimum)
    if resume:
        data = load_checkpoint(run_dir, game=trainer.game)
        trainer.load_state(data)
    elif run_dir is not None:
        if os.path.exists(os.path.join(run_dir, "checkpoint.pt")):
            raise FileExistsError(f"{run_dir} already holds a run; use --resume to continue it or choose another --run-dir")
        os.makedirs(run_dir, exist_ok=True)
        atomic_write_text(os.path.join(run_dir, "config.toml"), dump_toml(config.to_dict()))
    writer = _tensorboard(run_dir) if (run_dir and config.tensorboard) else None
    metrics_path = os.path.join(run_dir, "metrics.csv") if run_dir else None
    if metrics_path and resume:
        _truncate_metrics(metrics_path, trainer.iteration)
    fieldnames = METRIC_FIELDS + [f"p_{name}" for name in trainer.game.actions]
    t_start = time.perf_counter()
    interrupted, row, done_here = False, None, 0
    fh = open(metrics_path, "a", newline="") if metrics_path else None
    try:
        out = csv.DictWriter(fh, fieldnames=fieldnames) if fh else None
        if out and fh.tell() == 0:
            out.writeheader()
        while trainer.iteration < config.iterations:
            if stop_after is not None and done_here >= stop_after:
                raise KeyboardInterrupt
            row = trainer.step()
            done_here += 1
            if out:
                out.writerow(row)
                fh.flush()
            if writer:
                for key in ("reward_per_round", "entropy", "grad_norm", "loss_v", "lr"):
                    writer.add_scalar(key, row[key], row["agent_steps"])
            if progress:
                progress(row)
            if trainer.iteration % config.checkpoint_every == 0:
                trainer.save()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if fh:
            fh.close()
        if writer:
            writer.close()
    trainer.save()  # the last completed iteration (never a half-done one)
    report = {
        "config": config.to_dict(),
        "iterations": trainer.iteration,
        "interrupted": interrupted,
        "reward_per_round": None if row is None else row["reward_per_round"],
        "reward_se": None if row is None else row["reward_se"],
        "entropy": None if row is None else row["entropy"],
        "optimum": optimum,
        "seconds": time.perf_counter() - t_start,
    }
    if run_dir and not interrupted:
        atomic_write_text(os.path.join(run_dir, "report.json"), json.dumps(report, indent=2) + "\n")
    return TrainResult(run_dir, trainer.iteration, report["reward_per_round"] or float("nan"), report["seconds"], interrupted, report)


def _truncate_metrics(path: str, iteration: int) -> None:
    """Drop metric rows past the checkpoint's iteration (they are replayed exactly on resume)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= iteration] if rows else []
    atomic_write_text(path, "".join(",".join(r) + "\n" for r in kept))


def _tensorboard(run_dir: str):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # pragma: no cover - tensorboard is a dependency
        return None
    return SummaryWriter(log_dir=run_dir)


def load_policy(path: str):
    """(policy, config, checkpoint dict) of a trained checkpoint."""
    data = load_checkpoint(path)
    if data.get("kind") != "policy":
        raise ValueError(f"{path} holds a '{data.get('kind')}' agent, not a policy-gradient policy")
    missing = [key for key in ("config", "policy") if key not in data]
    if missing:
        raise ValueError(f"checkpoint {path} has no {' and no '.join(missing)}; a policy checkpoint holds its config and its policy's weights")
    config = TrainConfig.from_dict(data["config"], source=path)  # data only: the training opponent is checked, never built
    game = make_game(config.game)
    obs_size = encoding.feature_size(game.num_actions, config.context, config.counts)
    gaps = config.uses_gaps and "gaps" in data["config"]  # checkpoints from before the option had none
    policy = make_policy(config.policy, obs_size, game.num_actions, config.context, config.hidden, gaps, config.rounds)
    try:
        policy.load_state_dict(data["policy"])
    except (RuntimeError, TypeError, AttributeError) as e:  # torch lists every mismatched tensor, over many lines
        detail = (str(e).strip().splitlines() or [""])[-1].strip()
        raise ValueError(f"checkpoint {path}: its weights do not fit the {config.policy} policy its config describes ({detail})") from None
    return policy.eval(), config, data
