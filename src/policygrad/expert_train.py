"""Train the expert-mixture policy by policy gradient across a population of opponents.

Legend: N matches, T rounds, J experts, F features per expert, G global features, A actions.

Each iteration plays N matches of T rounds (the seed's m trajectories) of the policy
:class:`~policygrad.expert_policy.ExpertMixturePolicy` against a population drawn afresh from the
library's families with random parameters (:func:`random_spec`), in the batched engine, with:

* **rotations**: each match's opponent move is rotated by r (o -> beats^r(o)): no fixed bias of a family pays;
* **switching**: a share of the matches changes opponent at a random round (a second population);
* **a mind reader**: a share of the matches is played by the white-box best reply to the agent's
  own probabilities of the round, which punishes any predictability at once;
* **past selves**: a share is played by a frozen snapshot of the policy (one every ``snapshot_every``
  iterations, the last ``snapshots`` kept), from its own side of the match.

The outside bots (RoShamBo, Kaggle) are never in training: they are the test.

**The estimator** is the score-function estimate of the seed, ``mean_i sum_t log pi(A_t | S_t) (Psi_t - b_t)``
(:func:`policygrad.estimators.surrogate`), with the discounted reward-to-go Psi_t = G_t and the baseline

    b_t = sum_a pi(a | S_t) M[a, O_t] + gamma * mean_{other matches} G_{t+1}

The opponent's move O_t of round t is drawn from the history before the round, independently of the
agent's move A_t (simultaneous moves), so b_t, a function of S_t and O_t, leaves the estimate
unbiased: E[grad log pi(A_t | S_t) b(S_t, O_t)] = E_O[b E_A[grad log pi]] = 0. With ``immediate =
"expected"`` the immediate term r_t - b_t is replaced by its mean over the agent's draw, the gradient
of sum_a pi(a | S_t) M[a, O_t] itself (against the mind reader, whose O_t is the best reply to pi, it is
the gradient of minus the reader's take, by Danskin's theorem): no sampling noise from the agent's own draw.

log pi is recomputed from the kept features with autograd, in chunks of rounds; one Adam step per iteration.
"""

from __future__ import annotations

import copy
import os
import random
import time
from dataclasses import asdict, dataclass, fields
from typing import Callable

import torch

from .checkpoint import game_record, load_checkpoint, save_checkpoint
from .config import check_field
from .estimators import discounted_returns, entropy_bonus, leave_one_out_mean, surrogate
from .expert_play import ExpertBatch, play
from .expert_policy import ExpertMixturePolicy
from .expert_population import random_population, random_spec
from .experts import HORIZONS, ExpertFeatures
from .predictors import check_ties
from .games import make_game
from .run_folder import RunCheckpoints, TrainResult, run_training

__all__ = [
    "ExpertTrainConfig",
    "random_spec",
    "random_population",
    "ExpertBatch",
    "play",
    "ExpertTrainer",
    "train_expert",
    "save_expert",
    "load_expert",
    "expert_file",
    "EXPERT_KIND",
]

EXPERT_KIND = "expert-mixture"
IMMEDIATE = ("sampled", "expected")  # the immediate reward's term in the gradient (ExpertTrainConfig.immediate)


@dataclass(frozen=True)
class ExpertTrainConfig:
    """The recipe of an expert-mixture run (``agents/expert-meta.toml``)."""

    trainer: str = "expert-mixture"
    """the tag that tells ``policygrad train`` and ``policygrad sweep`` a recipe of this trainer (a file without it is a ``TrainConfig``)."""
    game: str = "rps"
    rounds: int = 200
    """T, rounds per training match."""
    batch: int = 64
    """N, matches per iteration."""
    iterations: int = 300
    lr: float = 0.01
    """Adam's step size."""
    gamma: float = 0.8
    """discount of the reward-to-go (how far a move's consequences are credited)."""
    ent_coef: float = 0.0
    """entropy bonus per round."""
    hidden: int = 32
    members: int = 24
    """opponents in each iteration's population (drawn afresh each iteration)."""
    population: str = ""
    """a fixed opponent spec to train against instead of the random populations ("": random)."""
    mind_reader: float = 0.15
    """share of the matches played by the mind reader."""
    switch: float = 0.3
    """share of the matches whose opponent switches at a random round."""
    rotate: bool = True
    """rotate each match's opponent moves by a random r."""
    max_grad_norm: float = 1.0
    chunk: int = 25
    """rounds per backward chunk (memory)."""
    eval_every: int = 25
    """iterations between evaluations on the held-out population (0: never)."""
    checkpoint_every: int = 25
    """iterations between checkpoints of a run folder (``checkpoint.pt``; and one at the end)."""
    heldout_batch: int = 0
    """matches of each held-out evaluation (0: ``batch``); a few, so that it can run every iteration."""
    heldout_seed: int = 1_000_003
    """the seed of the held-out population (never drawn in training: a different stream)."""
    seed: int = 0
    threads: int = 1
    past_selves: float = 0.0
    """share of the matches played by a frozen earlier version of the agent (from its own side of the match)."""
    snapshot_every: int = 10
    """iterations between snapshots of the policy (the first at iteration 0)."""
    snapshots: int = 8
    """the most snapshots kept (the oldest goes first)."""
    init: str = ""
    """start from the weights of this expert-mixture file or run directory ("": from scratch)."""
    least_order: int = -1
    """the agent's predictors also give each side's least frequent move in the n-gram tables up to this order (-1: none)."""
    horizons: tuple = HORIZONS
    """the decays of each expert's reward averages, the network's features (a list, each in [0, 1))."""
    ties: str = "first"
    """how a predictor replies to tied counts (:class:`~policygrad.predictors.Predictors`): "first" (as earlier
    releases) or "best" (the best reply to the uniform distribution over the tied moves, as ``online``)."""
    slight_bias: float = 0.0
    """share of the population's opponents that are i.i.d. with a slight bias (:func:`random_spec`; 0: as earlier releases)."""
    immediate: str = "sampled"
    """the immediate reward's term: "sampled" (REINFORCE with the baseline E_pi[M[A, O_t]]) or "expected"
    (the gradient of E_pi[M[A, O_t]] itself, sum_a grad pi(a | S_t) M[a, O_t]: the agent's own draw integrated out)."""

    def __post_init__(self) -> None:
        if isinstance(self.horizons, list):  # TOML gives a list
            object.__setattr__(self, "horizons", tuple(self.horizons))
        for f in fields(self):
            check_field(f, getattr(self, f.name))
        if self.trainer != EXPERT_KIND:
            raise ValueError(f"trainer must be {EXPERT_KIND!r} in an expert-mixture recipe, got {self.trainer!r}")
        for name in ("rounds", "batch", "iterations", "hidden", "members", "chunk", "snapshot_every", "snapshots", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.horizons or not all(isinstance(h, (int, float)) and not isinstance(h, bool) and 0 <= h < 1 for h in self.horizons):
            raise ValueError(f"horizons must be a non-empty list of decays in [0, 1), got {list(self.horizons)!r}")
        for name in ("mind_reader", "switch", "past_selves", "slight_bias"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a share in [0, 1], got {getattr(self, name)!r}")
        if self.mind_reader + self.past_selves > 1:
            raise ValueError(f"mind_reader + past_selves must be at most 1 (shares of the matches), got {self.mind_reader} + {self.past_selves}")
        check_ties(self.ties)
        if self.immediate not in IMMEDIATE:
            raise ValueError(f"immediate must be one of {', '.join(IMMEDIATE)}, got {self.immediate!r}")
        if not isinstance(self.heldout_batch, int) or isinstance(self.heldout_batch, bool) or self.heldout_batch < 0:
            raise ValueError(f"heldout_batch must be an integer >= 0 (0: batch), got {self.heldout_batch!r}")
        if isinstance(self.least_order, bool) or not isinstance(self.least_order, int) or self.least_order < -1:
            raise ValueError(f"least_order must be an integer >= -1 (-1: no least-frequent predictors), got {self.least_order!r}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    @classmethod
    def from_dict(cls, data: dict, source: str = "expert recipe") -> "ExpertTrainConfig":
        if not isinstance(data, dict):
            raise ValueError(f"{source}: a recipe must be a table of settings, got a {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown expert training keys {unknown}; allowed: {', '.join(sorted(known))}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def features(self) -> dict:
        """The settings of the network's features (:class:`~policygrad.experts.ExpertFeatures`), as trained:
        ``least_order``, ``horizons``, ``ties``; keyword arguments of :func:`~policygrad.expert_play.play` and
        :class:`~policygrad.expert_agent.ExpertAgent`."""
        return dict(least_order=self.least_order, horizons=self.horizons, ties=self.ties)


# -- learning ---------------------------------------------------------------------------------------


def widen(policy: ExpertMixturePolicy, horizons: tuple, to: tuple) -> ExpertMixturePolicy:
    """``policy``, trained on the reward averages at ``horizons``, as a policy that reads those at ``to``
    (each of ``horizons`` among them): the weights of a new horizon's inputs are zero, so it plays the same
    until training gives them weight. Features per expert: [averages..., has a move]; global: [own averages...,
    best expert's averages..., evidence] (:class:`~policygrad.experts.ExpertFeatures`)."""
    if tuple(horizons) == tuple(to):
        return policy
    if not set(horizons) <= set(to):
        raise ValueError(f"init reads the horizons {list(horizons)}, which are not all among the recipe's {list(to)}; allowed: the same or more")
    k = len(to)
    at = [list(to).index(x) for x in horizons]
    cols = {"expert_in.weight": at + [k], "global_in.weight": at + [k + i for i in at] + [2 * k], "uniform.0.weight": at + [k + i for i in at] + [2 * k]}
    wide = ExpertMixturePolicy(k + 1, 2 * k + 1, policy.num_actions, policy.hidden)
    state = policy.state_dict()
    for name, where in cols.items():
        w = torch.zeros_like(wide.state_dict()[name])
        w[:, where] = state[name]
        state[name] = w
    wide.load_state_dict(state)
    return wide


def advantages(batch: ExpertBatch, payoff: torch.Tensor, gamma: float, immediate: bool = True) -> torch.Tensor:
    """Psi_t - b_t [N, T]: the reward-to-go minus the baseline of the module docstring (without the
    immediate reward's r_t - E_pi[M[A, O_t]] when ``immediate`` is False: the "expected" term takes its place)."""
    rewards = batch.rewards
    returns = discounted_returns(rewards, gamma)  # G_t
    next_returns = torch.cat([returns[:, 1:], torch.zeros_like(returns[:, :1])], 1)  # G_{t+1}
    future = gamma * (next_returns - leave_one_out_mean(next_returns))
    if not immediate:
        return future
    expected = (batch.probs * payoff[:, batch.opponent_moves].permute(1, 2, 0)).sum(-1)  # sum_a pi(a|S_t) M[a, O_t]
    return rewards - expected + future


def reader_take(batch: ExpertBatch, payoff: torch.Tensor) -> float:
    """The mind reader's exact expected take per round in its matches, mean_t max_o -sum_a pi(a | S_t) M[a, o] (nan: none)."""
    take = (-(batch.probs @ payoff)).amax(-1)  # [N, T]
    return _per_round(take, batch.mind_read)


def _per_round(values_NT: torch.Tensor, mask_N: torch.Tensor) -> float:
    return float(values_NT[mask_N].mean()) if bool(mask_N.any()) else float("nan")


class ExpertTrainer(RunCheckpoints):
    """Holds the policy, the optimiser and the generators of one run; :meth:`step` is one iteration.

    A trainer of :func:`policygrad.run_folder.run_training`: :meth:`save` writes the whole state
    (weights, Adam, the population generator, the snapshots) to ``run_dir/checkpoint.pt``, which
    :meth:`load_state` resumes bit for bit, and which :func:`load_expert` (so ``Agent.load`` and
    ``policygrad export``) reads as the agent."""

    def __init__(self, config: ExpertTrainConfig, run_dir: str | None = None) -> None:
        self.config, self.run_dir = config, run_dir
        self.game = make_game(config.game)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        probe = ExpertFeatures(1, 1, self.game, horizons=config.horizons)
        self.policy = ExpertMixturePolicy(probe.num_features, probe.num_global, self.game.num_actions, config.hidden)
        if config.init:
            try:
                start, before = load_expert(config.init)
            except FileNotFoundError as e:
                raise FileNotFoundError(f"init = {config.init!r}: {e}; train the run it names first (the recipe's comments say which)") from None
            if start.hidden != config.hidden:
                raise ValueError(f"init {config.init} has hidden width {start.hidden}, but the recipe asks hidden = {config.hidden}; allowed: the same width")
            self.policy.load_state_dict(widen(start, before.horizons, config.horizons).state_dict())
        self.selves: list[ExpertMixturePolicy] = []  # frozen snapshots, the oldest first
        self._snapshot()
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.rng = random.Random(config.seed)
        self.iteration = 0
        self.payoff = self.game.payoff.to(torch.float32)
        self.saved_iteration: int | None = None  # the iteration of the checkpoint written or read last
        self.on_save: Callable[[str, int], None] | None = None  # called with (path, iteration) after each checkpoint is written
        self.fieldnames = METRICS

    def _snapshot(self) -> None:
        """Keep a frozen copy of the policy (at most ``snapshots``, the oldest dropped)."""
        if self.config.past_selves > 0:
            self.selves = (self.selves + [self._frozen_copy()])[-self.config.snapshots :]

    def _frozen_copy(self) -> ExpertMixturePolicy:
        return copy.deepcopy(self.policy).requires_grad_(False).eval()

    # -- checkpoints ------------------------------------------------------------------------------
    def state(self) -> dict:
        version, internal, gauss = self.rng.getstate()
        return {
            **_weights(self.policy, self.config, self.iteration),
            "optimizer": self.optimizer.state_dict(),
            "rng": {"population": [version, list(internal), gauss]},
            "selves": [s.state_dict() for s in self.selves],
        }

    def load_state(self, data: dict) -> None:
        self.policy.load_state_dict(data["policy"])
        self.optimizer.load_state_dict(data["optimizer"])
        version, internal, gauss = data["rng"]["population"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.selves = [self._frozen_copy() for _ in data["selves"]]
        for snapshot, weights in zip(self.selves, data["selves"]):
            snapshot.load_state_dict(weights)
        self.iteration = self.saved_iteration = int(data["iteration"])

    def heldout(self) -> dict:
        """Reward per round of the current policy against the held-out population: always the same
        2 * members opponents (``heldout_seed``), ``heldout_batch`` fresh matches each call, no mind reader."""
        cfg = self.config
        pop = random_population(random.Random(cfg.heldout_seed), 2 * cfg.members, cfg.slight_bias)
        n, seed = cfg.heldout_batch or cfg.batch, cfg.heldout_seed + self.iteration
        batch = play(self.policy, pop, n, cfg.rounds, seed, cfg.game, rotate=cfg.rotate, **cfg.features)
        return {"heldout_reward": float(batch.rewards.mean())}

    def step(self) -> dict:
        """Play N matches, take one gradient step; returns the iteration's metrics (with the held-out
        reward every ``eval_every`` iterations and at the last)."""
        cfg = self.config
        t0 = time.perf_counter()
        if cfg.population:
            population = switch_to = cfg.population
        else:
            population, switch_to = (random_population(self.rng, cfg.members, cfg.slight_bias) for _ in range(2))
        seed = cfg.seed * 1_000_000 + self.iteration
        variations = (switch_to, cfg.switch, cfg.mind_reader, cfg.rotate, self.selves, cfg.past_selves)
        batch = play(self.policy, population, cfg.batch, cfg.rounds, seed, cfg.game, *variations, **cfg.features)
        t_play = time.perf_counter() - t0
        expected = cfg.immediate == "expected"
        adv = advantages(batch, self.payoff, cfg.gamma, immediate=not expected)  # [N, T]
        columns = self.payoff[:, batch.opponent_moves].permute(1, 2, 0)  # [N, T, A] M[., O_t]
        self.optimizer.zero_grad()
        ent_total = 0.0
        for start in range(0, cfg.rounds, cfg.chunk):
            stop = min(start + cfg.chunk, cfg.rounds)
            logp_all = self.policy(batch.moves[start:stop].long(), batch.feats[start:stop], batch.glob[start:stop]).transpose(0, 1)  # [N, C, A]
            logp = logp_all.gather(-1, batch.actions[:, start:stop, None]).squeeze(-1)
            ent = entropy_bonus(logp_all)
            objective = surrogate(logp, adv[:, start:stop]) + cfg.ent_coef * ent
            if expected:  # sum_t E_pi[M[A, O_t]], differentiated through pi
                objective = objective + (logp_all.exp() * columns[:, start:stop]).sum((1, 2)).mean()
            loss = -objective / cfg.rounds
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss ({float(loss)}) at iteration {self.iteration + 1}")
            loss.backward()
            ent_total += float(ent.detach())
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf"))
        with torch.no_grad():
            last = min(cfg.rounds, 64)
            lam = self.policy.weights(batch.feats[-last:], batch.glob[-last:])[..., -1].T  # [N, last]
        self.optimizer.step()
        self.iteration += 1
        if self.iteration % cfg.snapshot_every == 0:
            self._snapshot()
        population_only = ~(batch.mind_read | batch.past_self)
        row = {
            "iteration": self.iteration,
            "reward_per_round": _per_round(batch.rewards, population_only),
            "mind_reader": _per_round(batch.rewards, batch.mind_read),
            "mind_reader_take": reader_take(batch, self.payoff),
            "past_self": _per_round(batch.rewards, batch.past_self),
            "uniform_weight_reader": _per_round(lam, batch.mind_read),
            "entropy": ent_total / cfg.rounds,
            "uniform_weight": _per_round(lam, population_only),
            "grad_norm": float(grad_norm),
            "seconds": time.perf_counter() - t0,
            "play_seconds": t_play,
        }
        if cfg.eval_every and (self.iteration % cfg.eval_every == 0 or self.iteration == cfg.iterations):
            row.update(self.heldout())
        return row


# -- checkpoints ------------------------------------------------------------------------------------


def _weights(policy: ExpertMixturePolicy, config: ExpertTrainConfig, iteration: int) -> dict:
    """What the agent needs: its kind, recipe, game, network shape and weights."""
    shape = {"num_features": policy.num_features, "num_global": policy.num_global, "num_actions": policy.num_actions, "hidden": policy.hidden}
    game = game_record(make_game(config.game))
    return {"kind": EXPERT_KIND, "config": config.to_dict(), "game": game, "iteration": iteration, "shape": shape, "policy": policy.state_dict()}


def save_expert(path: str, policy: ExpertMixturePolicy, config: ExpertTrainConfig, iteration: int) -> str:
    """Write the policy's weights and recipe alone (atomic; loads with ``weights_only=True``): the shipped agent's file."""
    return save_checkpoint(path, _weights(policy, config, iteration))


def expert_file(path: str) -> str:
    """The expert-mixture file of ``path``: the path itself, or in a run directory its ``checkpoint.pt``
    (``expert.pt`` in a run directory of an earlier release)."""
    if os.path.isdir(path):
        older = os.path.join(path, "expert.pt")
        return older if os.path.isfile(older) and not os.path.isfile(os.path.join(path, "checkpoint.pt")) else os.path.join(path, "checkpoint.pt")
    return path


def load_expert(path: str) -> tuple[ExpertMixturePolicy, ExpertTrainConfig]:
    """The policy and recipe of a file written by :func:`save_expert` or a training run's checkpoint (or its run directory)."""
    data = load_checkpoint(expert_file(path))
    if data.get("kind") != EXPERT_KIND:
        raise ValueError(f"{path} is not an expert-mixture checkpoint (its kind is {data.get('kind')!r}; allowed: {EXPERT_KIND!r})")
    shape = data["shape"]
    policy = ExpertMixturePolicy(shape["num_features"], shape["num_global"], shape["num_actions"], shape["hidden"])
    policy.load_state_dict(data["policy"])
    return policy.eval(), ExpertTrainConfig.from_dict(data["config"])


METRICS = [
    "iteration", "reward_per_round", "heldout_reward", "mind_reader", "mind_reader_take", "past_self", "entropy", "uniform_weight", "uniform_weight_reader", "grad_norm", "seconds", "play_seconds",
]  # fmt: skip


def train_expert(
    config: ExpertTrainConfig,
    run_dir: str | None = None,
    resume: bool = False,
    progress: Callable[[dict], None] | None = None,
    stop_after: int | None = None,
    overwrite: bool = False,
    on_save: Callable[[str, int], None] | None = None,
) -> TrainResult:
    """Train for ``config.iterations`` iterations in ``run_dir`` (None: nothing written): ``config.toml``,
    ``metrics.csv`` (a row per iteration), ``checkpoint.pt`` every ``checkpoint_every`` iterations and at
    the end, ``report.json``. The folder's rules are :func:`policygrad.train.train`'s (:mod:`policygrad.run_folder`):
    ``resume`` continues a stopped run bit for bit, a signal stops it after the iteration under way."""
    return run_training(lambda: ExpertTrainer(config, run_dir), config, run_dir, resume, progress, stop_after, overwrite, "expert_train", on_save)
