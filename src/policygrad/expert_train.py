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
import csv
import io
import os
import random
import time
from dataclasses import asdict, dataclass, fields
from typing import Callable, Sequence

import torch

from .checkpoint import FORMAT, VERSION, game_record, load_checkpoint
from .engine import Engine
from .estimators import discounted_returns, entropy_bonus, leave_one_out_mean, surrogate
from .expert_policy import ExpertMixturePolicy
from .expert_population import random_population, random_spec
from .experts import ExpertFeatures
from .files import atomic_write, atomic_write_text
from .games import make_game
from .opponents import make_opponent
from .tensors import sample

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
    "EXPERT_KIND",
]

EXPERT_KIND = "expert-mixture"
IMMEDIATE = ("sampled", "expected")  # the immediate reward's term in the gradient (ExpertTrainConfig.immediate)


@dataclass(frozen=True)
class ExpertTrainConfig:
    """The recipe of an expert-mixture run (``agents/expert-meta.toml``)."""

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
    immediate: str = "sampled"
    """the immediate reward's term: "sampled" (REINFORCE with the baseline E_pi[M[A, O_t]]) or "expected"
    (the gradient of E_pi[M[A, O_t]] itself, sum_a grad pi(a | S_t) M[a, O_t]: the agent's own draw integrated out)."""

    def __post_init__(self) -> None:
        for name in ("rounds", "batch", "iterations", "hidden", "members", "chunk", "snapshot_every", "snapshots"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("mind_reader", "switch", "past_selves"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a share in [0, 1], got {getattr(self, name)!r}")
        if self.mind_reader + self.past_selves > 1:
            raise ValueError(f"mind_reader + past_selves must be at most 1 (shares of the matches), got {self.mind_reader} + {self.past_selves}")
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
    def from_dict(cls, data: dict) -> "ExpertTrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown expert training keys {unknown}; allowed: {', '.join(sorted(known))}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


# -- play -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpertBatch:
    """N matches of T rounds, with every round's features kept for the gradient.

    ``moves`` [T, N, J] int8, ``feats`` [T, N, J, F], ``glob`` [T, N, G], ``actions``,
    ``opponent_moves`` [N, T] long, ``rewards`` [N, T], ``probs`` [N, T, A] (the policy's, detached),
    ``mind_read`` [N] bool (the matches the mind reader played), ``past_self`` [N] bool (those a snapshot played).
    """

    moves: torch.Tensor
    feats: torch.Tensor
    glob: torch.Tensor
    actions: torch.Tensor
    opponent_moves: torch.Tensor
    rewards: torch.Tensor
    probs: torch.Tensor
    mind_read: torch.Tensor
    past_self: torch.Tensor


@torch.no_grad()
def play(
    policy: ExpertMixturePolicy,
    population: str,
    n: int,
    rounds: int,
    seed: int,
    game: str = "rps",
    switch_to: str | None = None,
    switch: float = 0.0,
    mind_reader: float = 0.0,
    rotate: bool = False,
    selves: Sequence[ExpertMixturePolicy] = (),
    past_selves: float = 0.0,
    least_order: int = -1,
) -> ExpertBatch:
    """Play N matches of ``policy`` against ``population`` (an opponent spec), with the variations of the module docstring.

    Args:
        policy: the policy.
        population: the opponent spec (a ``mix`` draws one member per match).
        n, rounds: N and T.
        seed: seeds the engines, the agent's draws, the switches, rotations and the mind reader.
        switch_to: the spec a switching match changes to (None: no switch).
        switch: the share of matches that switch, each at a round uniform in [T/4, 3T/4).
        mind_reader: the share of matches the mind reader plays.
        rotate: rotate each match's opponent moves by a uniform r.
        selves: frozen earlier versions of the policy (snapshots).
        past_selves: the share of matches (apart from the mind reader's) that a snapshot, uniform among ``selves``,
            plays: it keeps its own features of the match with the roles swapped (its moves are the
            opponent's, the agent's are its opponent's) and samples its move from its own probabilities,
            before the round and apart from the agent's draw; rotated like the others.
        least_order: the agent's (and the snapshots') least-frequent predictors (:class:`~policygrad.experts.ExpertFeatures`).
    """
    g = make_game(game)
    a_num = g.num_actions
    gen = torch.Generator().manual_seed(int(seed) * 7919 + 17)
    engines = [Engine(make_opponent(population), n=n, rounds=rounds, context=0, game=g, seed=seed)]
    if switch_to is not None:
        engines.append(Engine(make_opponent(switch_to), n=n, rounds=rounds, context=0, game=g, seed=seed + 1))
    for e in engines:
        e.reset()
    switch_at = torch.full((n,), rounds)
    if switch_to is not None and switch > 0:
        moves_at = torch.randint(rounds // 4, max(3 * rounds // 4, rounds // 4 + 1), (n,), generator=gen)
        switch_at = torch.where(torch.rand(n, generator=gen) < switch, moves_at, switch_at)
    share = torch.rand(n, generator=gen)
    mind_read = share < mind_reader
    rotation = torch.randint(a_num, (n,), generator=gen) if rotate else torch.zeros(n, dtype=torch.long)
    past_self = (share >= mind_reader) & (share < mind_reader + past_selves) if selves else torch.zeros(n, dtype=torch.bool)
    mine = past_self.nonzero().squeeze(1)  # the snapshots' matches
    who = torch.randint(len(selves), (len(mine),), generator=gen) if len(mine) else mine
    mirror = ExpertFeatures(len(mine), rounds, g, least_order=least_order) if len(mine) else None  # the match from the snapshots' side
    features = ExpertFeatures(n, rounds, g, least_order=least_order)
    moves_T, feats_T, glob_T, probs_T, actions_T, opp_T, rewards_T = [], [], [], [], [], [], []
    for t in range(rounds):
        moves, feats, glob = features.features()
        probs = policy(moves, feats, glob).exp()
        actions = sample(probs, gen)
        drawn = [sample(e.opponent_probs.to(torch.float32), gen) for e in engines]
        o = drawn[0] if len(drawn) == 1 else torch.where(t < switch_at, drawn[0], drawn[1])
        o = features.orbit[o, rotation]
        reader = sample(g.best_responses(probs), gen)  # the best reply to the agent's probabilities of this round
        o = torch.where(mind_read, reader, o)
        if mirror is not None:
            m_moves, m_feats, m_glob = mirror.features()
            self_probs = torch.empty(len(mine), a_num)
            for k, snapshot in enumerate(selves):
                at = who == k
                if bool(at.any()):
                    self_probs[at] = snapshot(m_moves[at], m_feats[at], m_glob[at]).exp()
            o[mine] = features.orbit[sample(self_probs, gen), rotation[mine]]
            mirror.update(o[mine], actions[mine])
        reward = None
        for e in engines:
            _, r, _, _ = e.step_forced(actions, o)
            reward = r if reward is None else reward
        features.update(actions, o)
        moves_T.append(moves.to(torch.int8))
        feats_T.append(feats)
        glob_T.append(glob)
        probs_T.append(probs)
        actions_T.append(actions)
        opp_T.append(o)
        rewards_T.append(reward)
    return ExpertBatch(
        torch.stack(moves_T),
        torch.stack(feats_T),
        torch.stack(glob_T),
        torch.stack(actions_T, 1),
        torch.stack(opp_T, 1),
        torch.stack(rewards_T, 1).to(torch.float32),
        torch.stack(probs_T, 1),
        mind_read,
        past_self,
    )


# -- learning ---------------------------------------------------------------------------------------


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


class ExpertTrainer:
    """Holds the policy, the optimiser and the generators of one run; :meth:`step` is one iteration."""

    def __init__(self, config: ExpertTrainConfig) -> None:
        self.config = config
        self.game = make_game(config.game)
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        probe = ExpertFeatures(1, 1, self.game)
        self.policy = ExpertMixturePolicy(probe.num_features, probe.num_global, self.game.num_actions, config.hidden)
        if config.init:
            start, _ = load_expert(config.init)
            if start.hidden != config.hidden:
                raise ValueError(f"init {config.init} has hidden width {start.hidden}, but the recipe asks hidden = {config.hidden}; allowed: the same width")
            self.policy.load_state_dict(start.state_dict())
        self.selves: list[ExpertMixturePolicy] = []  # frozen snapshots, the oldest first
        self._snapshot()
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.rng = random.Random(config.seed)
        self.iteration = 0
        self.payoff = self.game.payoff.to(torch.float32)

    def _snapshot(self) -> None:
        """Keep a frozen copy of the policy (at most ``snapshots``, the oldest dropped)."""
        if self.config.past_selves > 0:
            self.selves = (self.selves + [copy.deepcopy(self.policy).requires_grad_(False).eval()])[-self.config.snapshots :]

    def heldout(self) -> dict:
        """Reward per round of the current policy against the held-out population: always the same
        2 * members opponents (``heldout_seed``), ``heldout_batch`` fresh matches each call, no mind reader."""
        cfg = self.config
        pop = random_population(random.Random(cfg.heldout_seed), 2 * cfg.members)
        n, seed = cfg.heldout_batch or cfg.batch, cfg.heldout_seed + self.iteration
        batch = play(self.policy, pop, n, cfg.rounds, seed, cfg.game, rotate=cfg.rotate, least_order=cfg.least_order)
        return {"heldout_reward": float(batch.rewards.mean())}

    def step(self) -> dict:
        """Play N matches, take one gradient step; returns the iteration's metrics."""
        cfg = self.config
        t0 = time.perf_counter()
        if cfg.population:
            population = switch_to = cfg.population
        else:
            population, switch_to = random_population(self.rng, cfg.members), random_population(self.rng, cfg.members)
        seed = cfg.seed * 1_000_000 + self.iteration
        variations = (switch_to, cfg.switch, cfg.mind_reader, cfg.rotate, self.selves, cfg.past_selves)
        batch = play(self.policy, population, cfg.batch, cfg.rounds, seed, cfg.game, *variations, least_order=cfg.least_order)
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
        return {
            "iteration": self.iteration,
            "reward": _per_round(batch.rewards, population_only),
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


# -- checkpoints ------------------------------------------------------------------------------------


def save_expert(path: str, policy: ExpertMixturePolicy, config: ExpertTrainConfig, iteration: int) -> str:
    """Write the policy's weights and recipe (atomic; loads with ``weights_only=True``)."""
    payload = {"format": FORMAT, "version": VERSION, "game": game_record(make_game(config.game)), "kind": EXPERT_KIND, "config": config.to_dict()}
    shape = {"num_features": policy.num_features, "num_global": policy.num_global, "num_actions": policy.num_actions, "hidden": policy.hidden}
    payload.update(iteration=iteration, shape=shape, policy=policy.state_dict())
    return atomic_write(path, lambda tmp: torch.save(payload, tmp), suffix=".pt")


def load_expert(path: str) -> tuple[ExpertMixturePolicy, ExpertTrainConfig]:
    """The policy and recipe of a file written by :func:`save_expert` (or a run directory holding ``expert.pt``)."""
    data = load_checkpoint(os.path.join(path, "expert.pt") if os.path.isdir(path) else path)
    if data.get("kind") != EXPERT_KIND:
        raise ValueError(f"{path} is not an expert-mixture checkpoint (its kind is {data.get('kind')!r}; allowed: {EXPERT_KIND!r})")
    shape = data["shape"]
    policy = ExpertMixturePolicy(shape["num_features"], shape["num_global"], shape["num_actions"], shape["hidden"])
    policy.load_state_dict(data["policy"])
    return policy.eval(), ExpertTrainConfig.from_dict(data["config"])


METRICS = [
    "iteration", "reward", "heldout_reward", "mind_reader", "mind_reader_take", "past_self", "entropy", "uniform_weight", "uniform_weight_reader", "grad_norm", "seconds", "play_seconds",
]  # fmt: skip


def train_expert(config: ExpertTrainConfig, run_dir: str | None = None, progress: Callable[[dict], None] | None = None) -> ExpertTrainer:
    """Train for ``config.iterations`` iterations; write ``metrics.csv`` and ``expert.pt`` to ``run_dir`` (atomic, at each evaluation and at the end)."""
    trainer = ExpertTrainer(config)
    rows: list[dict] = []

    def save() -> None:
        if run_dir is None:
            return
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=METRICS, restval="")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(os.path.join(run_dir, "metrics.csv"), text.getvalue())
        save_expert(os.path.join(run_dir, "expert.pt"), trainer.policy, config, trainer.iteration)

    while trainer.iteration < config.iterations:
        row = trainer.step()
        evaluate = config.eval_every and (trainer.iteration % config.eval_every == 0 or trainer.iteration == config.iterations)
        if evaluate:
            row.update(trainer.heldout())
        rows.append(row)
        if evaluate:
            save()
        if progress:
            progress(row)
    save()
    return trainer
