"""Stochastic gradient ascent on V(S0; theta): REINFORCE and actor-critic, one readable path.

Each iteration plays N matches (the seed's m trajectories), forms the surrogate of the chosen
estimator, and takes one step Delta theta = alpha * g (SGD; Adam as an option):

    loss = -surrogate(Psi - b) - ent_coef(i) * entropy + vf_coef * (V_phi(S_t) - G_t)^2

The entropy weight ent_coef(i) is held, then annealed to 0 (``ent_anneal``): the policy explores, then may settle.

A run directory holds ``config.toml``, ``metrics.csv`` (a row per iteration), TensorBoard events,
``checkpoint.pt`` (atomic, the last good one) and ``report.json``. A stopped run resumes to exactly
the parameters an uninterrupted run would reach: every generator's state is in the checkpoint.

A run folder belongs to one run. While :func:`train` writes it, it holds the folder's lock
(:class:`policygrad.files.RunLock`, the ``.policygrad-run`` marker); a second writer is refused. A
new run goes only into a missing or empty folder; a folder that is not empty is refused unless the
caller resumes it or writes over it (``overwrite``: policygrad's own files, :data:`RUN_FILES`, are
removed, every other file is kept). The first checkpoint is written at iteration 0, before any
metric row, and temp files a killed writer left are removed at the next start.

SIGINT, SIGTERM and SIGHUP stop a run between iterations: the iteration under way finishes, and the
checkpoint holds the state at its end, so the resumed run is the uninterrupted one, bit for bit. A
second signal stops at once and keeps the last checkpoint saved before it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch

from . import encoding
from .checkpoint import game_record, load_checkpoint, save_checkpoint
from .config import TrainConfig, dump_toml
from .deprecated import moved
from .files import RUN_MARKER, TEMP_PREFIX, RunLock, atomic_write_text, name_part, remove_temp_files, run_maker
from .engine import Engine
from .estimators import discounted_returns, entropy_bonus, policy_objective, value_loss
from .games import make_game
from .limits import check_training
from .opponents.whitebox import attach_policy
from .optimum import optimum
from .policies import make_critic, make_policy
from .rollout import rollout, score
from .stats import standard_error

__all__ = ["Trainer", "TrainResult", "NonFiniteLossError", "train", "default_run_dir", "METRIC_FIELDS", "RUN_FILES"]

# The files policygrad writes in a run folder (TensorBoard's event files too: EVENTS_PREFIX); writing
# over a folder removes these names only.
RUN_FILES = ("config.toml", "metrics.csv", "checkpoint.pt", "report.json", "learning_curve.png", "action_probs.png", "simplex.png")
EVENTS_PREFIX = "events.out.tfevents."
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


def check_fits(config: TrainConfig, run_dir: str | None = None) -> None:
    """Refuse (:class:`~policygrad.limits.TooLargeError`) a run whose model, batch or checkpoint would not fit
    (memory, the checkpoint cap, the free disk space in ``run_dir``): before anything is built or computed."""
    a = make_game(config.game).num_actions
    features = encoding.feature_size(a, config.context, config.counts) + (4 * a if config.uses_gaps else 0)  # + ModeGaps.extra
    check_training(
        config.policy, features, a, config.context, config.hidden, config.batch, config.rounds, config.uses_critic, config.optimizer == "adam", run_dir
    )


class Trainer:
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

    def save(self) -> str | None:
        if self.run_dir is None:
            return None
        path = save_checkpoint(os.path.join(self.run_dir, "checkpoint.pt"), self.state())
        self.saved_iteration = self.iteration
        if self.on_save is not None:
            self.on_save(path, self.iteration)
        return path

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


class _StopOnSignals:
    """For the duration of a ``with``: SIGINT, SIGTERM and SIGHUP ask the run to stop.

    The first signal only sets ``received`` (the loop stops between iterations); a second one raises
    KeyboardInterrupt at once. Installed only in the main thread (Python runs handlers there), and
    not over a signal that is ignored (``nohup`` ignores SIGHUP: the run keeps going); the previous
    handlers come back on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal's number
        self._previous: dict = {}

    def __enter__(self) -> "_StopOnSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}


def default_run_dir(config: TrainConfig) -> str:
    """``runs/OPPONENT__ESTIMATOR__SEED__TIME``: the spec made file-name safe, the time to the
    millisecond plus 6 random hex digits, so that runs started together do not share a folder (and
    should two names ever meet, the second run finds the folder locked or not empty and stops)."""
    ms = round(time.time() * 1000)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(ms // 1000)) + f".{ms % 1000:03d}-{secrets.token_hex(3)}"
    return os.path.join("runs", f"{name_part(config.opponent)}__{config.estimator}__{config.seed}__{stamp}")


def _ours(name: str) -> bool:
    """A file name policygrad writes in a run folder."""
    return name in RUN_FILES or name.startswith(EVENTS_PREFIX)


def _claim(run_dir: str, ours: bool, resume: bool, overwrite: bool) -> str:
    """What to do with ``run_dir``: ``"new"`` (a missing or empty folder, or one written over),
    ``"resume"`` (from its checkpoint) or ``"restart"`` (a run of ours stopped before its first
    checkpoint: from iteration 0); raises when the folder may not be written.

    ``ours``: the folder held policygrad's run marker before this call.
    """
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise NotADirectoryError(f"{run_dir} is a file, not a folder; a run needs a folder")
    names = sorted(n for n in os.listdir(run_dir) if n != RUN_MARKER and not n.startswith(TEMP_PREFIX)) if os.path.isdir(run_dir) else []
    if resume:
        if "checkpoint.pt" in names:
            return "resume"
        if ours:
            return "restart"
        raise FileNotFoundError(
            f"nothing to resume in {run_dir}: it holds no checkpoint.pt and is not a run folder policygrad made; start a new run there with --overwrite, or in another --run-dir"
        )
    if not names or overwrite:
        return "new"
    if "checkpoint.pt" in names:
        raise FileExistsError(
            f"{run_dir} already holds a run; use --resume {run_dir} to continue it, --overwrite to start it again, or choose another --run-dir"
        )
    if ours:
        raise FileExistsError(
            f"{run_dir} holds a run stopped before its first checkpoint; use --resume {run_dir} to restart it from iteration 0, --overwrite, or choose another --run-dir"
        )
    shown = ", ".join(repr(n) for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise FileExistsError(
        f"{run_dir} is not empty ({shown}) and is not a policygrad run folder; choose another --run-dir, or use --overwrite "
        f"to write the run there (it replaces only policygrad's files: {', '.join(RUN_FILES)}, TensorBoard events; other files are kept)"
    )


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
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: resume continues the run in the folder, overwrite starts a new one there")
    if run_dir is not None and not run_dir:
        raise ValueError("run_dir is an empty path; give a folder (or None to write nothing)")
    if resume and run_dir is None:
        raise ValueError("resume needs run_dir, the folder of the run to continue")
    with _StopOnSignals() as stop:
        ours = run_dir is not None and run_maker(run_dir) is not None
        if run_dir is not None and not ours:
            _claim(run_dir, False, resume, overwrite)  # refuse a folder that is not ours before writing anything in it
        check_fits(config, run_dir)  # before the optimum, which can take minutes for a long match
        optimum = _optimum_or_none(config) if with_optimum else None
        trainer = Trainer(config, run_dir, optimum)  # checks the opponent against the game: before the folder is made
        trainer.on_save = on_save
        if run_dir is None:
            return _run(trainer, None, None, stop, progress, stop_after)
        with RunLock(run_dir) as lock:
            action = _claim(run_dir, not lock.created, resume, overwrite)
            remove_temp_files(run_dir)  # a killed writer's; no one else writes here while we hold the lock
            if action == "resume":
                trainer.load_state(load_checkpoint(run_dir, game=trainer.game))
            else:  # new, or restart: nothing of an earlier attempt is kept but its maker
                for name in os.listdir(run_dir):
                    if _ours(name):
                        os.remove(os.path.join(run_dir, name))
                if action == "new":
                    lock.mark(made_by)
                atomic_write_text(os.path.join(run_dir, "config.toml"), dump_toml(config.to_dict()))
            return _run(trainer, run_dir, action, stop, progress, stop_after)


def _run(trainer: Trainer, run_dir: str | None, action: str | None, stop: _StopOnSignals, progress, stop_after: int | None) -> TrainResult:
    """The loop of :func:`train`, in a prepared (and locked) run folder or none."""
    config = trainer.config
    fieldnames = METRIC_FIELDS + [f"p_{name}" for name in trainer.game.actions]
    metrics_path = os.path.join(run_dir, "metrics.csv") if run_dir else None
    if metrics_path and action == "resume":
        _truncate_metrics(metrics_path, trainer.iteration)
    t_start = time.perf_counter()
    interrupted, row, done_here = False, None, 0
    fh = open(metrics_path, "a", newline="") if metrics_path else None
    writer = None
    try:
        out = csv.DictWriter(fh, fieldnames=fieldnames) if fh else None
        if out and fh.tell() == 0:
            out.writeheader()
            fh.flush()
        if run_dir and trainer.saved_iteration is None:
            trainer.save()  # the first checkpoint, at iteration 0: a folder of ours always resumes
        writer = _tensorboard(run_dir) if (run_dir and config.tensorboard) else None
        while trainer.iteration < config.iterations:
            if stop.received is not None or (stop_after is not None and done_here >= stop_after):
                interrupted = True
                break
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
    finally:
        if fh:
            fh.close()
        if writer:
            writer.close()
    if run_dir and trainer.saved_iteration != trainer.iteration:
        trainer.save()  # the last completed iteration (never a half-done one)
    report = {
        "config": config.to_dict(),
        "iterations": trainer.iteration,
        "interrupted": interrupted,
        "reward_per_round": None if row is None else row["reward_per_round"],
        "reward_se": None if row is None else row["reward_se"],
        "entropy": None if row is None else row["entropy"],
        "optimum": trainer.optimum,
        "seconds": time.perf_counter() - t_start,
    }
    if run_dir and not interrupted:
        atomic_write_text(os.path.join(run_dir, "report.json"), json.dumps(report, indent=2) + "\n")
    final = float("nan") if report["reward_per_round"] is None else report["reward_per_round"]  # a reward of exactly 0.0 stays 0.0
    return TrainResult(run_dir, trainer.iteration, final, report["seconds"], interrupted, report)


def _truncate_metrics(path: str, iteration: int) -> None:
    """Keep the header and the whole rows of iterations 1..``iteration``: the resumed run replays the
    rest exactly. A row cut short by a kill mid-write has too few fields and goes too."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0][:1] != ["iteration"]:
        atomic_write_text(path, "")  # no whole header: the loop writes one
        return
    header = rows[0]
    kept = [r for r in rows[1:] if len(r) == len(header) and r[0].isdigit() and 1 <= int(r[0]) <= iteration]
    text = io.StringIO()
    csv.writer(text).writerows([header] + kept)  # csv's \r\n, as DictWriter writes the rows
    atomic_write_text(path, text.getvalue())


def _tensorboard(run_dir: str):
    from torch.utils.tensorboard import SummaryWriter  # a dependency, imported when a run asks for it (slow to import)

    return SummaryWriter(log_dir=run_dir)


__getattr__ = moved(__name__, {"load_policy": "policygrad.checkpoint:load_policy"})
