"""Stochastic gradient ascent on V(S0; theta): REINFORCE and actor-critic, one readable path.

Each iteration plays N matches (the seed's m trajectories), forms the surrogate of the chosen
estimator, and takes one step Delta theta = alpha * g (SGD; Adam as an option):

    loss = -surrogate(Psi - b) - ent_coef(i) * entropy + vf_coef * (V_phi(S_t) - G_t)^2

The entropy weight ent_coef(i) is held, then annealed to 0 (``ent_anneal``): the policy explores, then may settle.

A run directory holds ``config.toml``, ``metrics.csv`` (a row per iteration), TensorBoard events,
``checkpoint.pt`` and ``report.json``; the folder's rules (a lock, resume bit for bit, signals) are
:mod:`policygrad.run_folder`'s, shared with the expert-mixture trainer.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from typing import Callable

import torch

from . import encoding
from .checkpoint import game_record
from .config import TrainConfig
from .deprecated import moved
from .files import name_part
from .engine import Engine
from .estimators import discounted_returns, entropy_bonus, policy_objective, value_loss
from .games import make_game
from .limits import check_training
from .opponents.whitebox import attach_policy
from .optimum import optimum
from .policies import make_critic, make_policy
from .rollout import rollout, score
from .run_folder import RunCheckpoints, RUN_FILES, TrainResult, run_training
from .stats import standard_error

__all__ = ["Trainer", "TrainResult", "NonFiniteLossError", "train", "default_run_dir", "METRIC_FIELDS", "RUN_FILES"]

METRIC_FIELDS = ["iteration", "agent_steps", "reward_per_round", "reward_se", "entropy", "grad_norm", "loss_v", "lr", "ent_coef", "seconds", "optimum"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def _schedule(name: str, total: int):
    if name == "constant":
        return lambda i: 1.0
    if name == "linear":
        return lambda i: max(0.0, 1.0 - i / total)
    return lambda i: 0.5 * (1.0 + math.cos(math.pi * min(i, total) / total))


def check_fits(config: TrainConfig, run_dir: str | None = None) -> None:
    """Refuse (:class:`~policygrad.limits.TooLargeError`) a run whose model, batch or checkpoint would not fit
    (memory, the checkpoint cap, the free disk space in ``run_dir``): before anything is built or computed."""
    a = make_game(config.game).num_actions
    features = encoding.feature_size(a, config.context, config.counts) + (4 * a if config.uses_gaps else 0)  # + ModeGaps.extra
    check_training(
        config.policy, features, a, config.context, config.hidden, config.batch, config.rounds, config.uses_critic, config.optimizer == "adam", run_dir
    )


class Trainer(RunCheckpoints):
    """Holds the policy, critic, optimiser and generators of one run; :meth:`run` trains it."""

    def __init__(self, config: TrainConfig, run_dir: str | None = None, optimum: float | None = None) -> None:
        self.config, self.run_dir = config, run_dir
        self.game = make_game(config.game)
        a = self.game.num_actions
        check_fits(config, run_dir)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)  # parameter initialisation only; play uses explicit generators
        self.engine = Engine(
            config.opponent, n=config.batch, rounds=config.rounds, context=config.context, game=self.game, counts=config.counts, seed=config.seed
        )
        self.policy = make_policy(config.policy, self.engine.obs_size, a, config.context, config.hidden, config.uses_gaps, config.rounds)
        attach_policy(self.engine.opponent, self.policy, config.context, config.counts, config.rounds)  # a white-box opponent (best-response) reads the policy
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
        self.saved_iteration: int | None = None  # the iteration of the checkpoint this trainer wrote or read last
        self.on_save: Callable[[str, int], None] | None = None  # called with (path, iteration) after each checkpoint is written
        self.fieldnames = METRIC_FIELDS + [f"p_{name}" for name in self.game.actions]  # the columns of metrics.csv

    # -- checkpoints ------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "kind": "policy",
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "game": game_record(self.game),
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
        self.saved_iteration = self.iteration

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
            kept = (
                f"the last good checkpoint (iteration {self.saved_iteration}) is kept in {self.run_dir}"
                if self.saved_iteration is not None
                else "no checkpoint was written"
            )
            raise NonFiniteLossError(f"non-finite loss ({float(loss.detach())}) at iteration {self.iteration + 1}; the run stopped and {kept}")
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
            "reward_se": standard_error(per_round),
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
        return optimum(config.opponent, config.rounds, config.game, max_states=200_000).value_per_round
    except (ValueError, NotImplementedError, MemoryError):
        return None


def default_run_dir(config) -> str:
    """``runs/OPPONENT__ESTIMATOR__SEED__TIME`` (``runs/TRAINER__SEED__TIME`` for another trainer's
    recipe, as the expert mixture's): the spec made file-name safe, the time to the millisecond plus
    6 random hex digits, so that runs started together do not share a folder (and should two names
    ever meet, the second run finds the folder locked or not empty and stops)."""
    ms = round(time.time() * 1000)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(ms // 1000)) + f".{ms % 1000:03d}-{secrets.token_hex(3)}"
    what = f"{name_part(config.opponent)}__{config.estimator}" if isinstance(config, TrainConfig) else config.trainer
    return os.path.join("runs", f"{what}__{config.seed}__{stamp}")


def train(
    config: TrainConfig,
    run_dir: str | None = None,
    resume: bool = False,
    progress=None,
    stop_after: int | None = None,
    with_optimum: bool = True,
    overwrite: bool = False,
    made_by: str = "train",
    on_save: Callable[[str, int], None] | None = None,
) -> TrainResult:
    """Train a policy by stochastic gradient ascent.

    Args:
        config: the run's configuration (checked at construction).
        run_dir: where config, metrics, events, checkpoint and report go (None: nothing written).
            A new run needs a missing or empty folder (see ``resume`` and ``overwrite``); the folder
            is locked while the run writes it (:class:`policygrad.files.RunDirInUseError` for a
            second writer).
        resume: continue the run in ``run_dir`` from its checkpoint (the CLI reads ``config`` from
            the folder's config.toml); a run of ours stopped before its first checkpoint restarts
            from iteration 0.
        progress: ``progress(row)`` called after each iteration (the CLI's progress bar).
        stop_after: stop (as a signal would) after this many iterations of this call; for tests.
        with_optimum: compute the exact ceiling for the ``optimum`` column when it is cheap.
        overwrite: start a new run in a folder that is not empty: policygrad's files there
            (:data:`RUN_FILES`, TensorBoard events) are removed first, every other file is kept.
        made_by: the command named in the folder's marker (``policygrad demo`` writes over only a
            run it made).
        on_save: ``on_save(path, iteration)`` called after each checkpoint is written (a sweep's
            trial reports it to Ray Tune: :mod:`policygrad.sweep`).

    SIGINT, SIGTERM and SIGHUP (in the main thread) stop the run after the iteration under way and
    save it: the result says ``interrupted``. A second signal raises KeyboardInterrupt at once,
    keeping the last checkpoint saved before it.
    """

    def make() -> Trainer:
        check_fits(config, run_dir)  # before the optimum, which can take minutes for a long match
        return Trainer(config, run_dir, _optimum_or_none(config) if with_optimum else None)

    return run_training(make, config, run_dir, resume, progress, stop_after, overwrite, made_by, on_save)


__getattr__ = moved(__name__, {"load_policy": "policygrad.checkpoint:load_policy"})
