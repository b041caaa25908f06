"""What the seed argues against: epsilon-greedy Q-learning, DQN and deterministic policies.

Legend: N matches, T rounds, A actions, F features, C contexts ((A^2 + 1)^K of them).

They train against the same opponents through the same engine as the policy-gradient agent, and
their trained forms are policy modules like any other (``step``, ``sequence``, ``initial_state``,
log-probabilities out), so rollouts, evaluation, the exact exploitability and
:class:`policygrad.Agent` treat them exactly like a policy-gradient policy:

* ``q-learning``: a table Q[C, A] over the context of the last K rounds, updated online in the
  batched matches, Q(s, a) <- Q(s, a) + alpha (r + gamma max_b Q(s', b) - Q(s, a)), acting
  epsilon-greedily; its trained form is epsilon-soft: eps / A + (1 - eps) 1[a = argmax Q(s, .)].
* ``dqn``: an MLP Q_w over the same observations (context one-hots, round fraction), a replay
  buffer, a target network synced every ``target_every`` updates, Huber loss on
  r + gamma max_b Q_target(s', b) (Mnih et al. 2015), epsilon decayed linearly; trained form
  epsilon-soft at the final epsilon.
* ``deterministic``: the argmax of a trained policy-gradient policy, or a fixed pure strategy.

Greedy ties go to the lowest index (as ``np.argmax`` and :class:`~policygrad.policies.DeterministicView`),
so every trained form is exactly epsilon-soft (or deterministic), in every state.

The trained forms (:class:`~policygrad.policies.QTablePolicy`, :class:`~policygrad.policies.QNetPolicy`,
:class:`~policygrad.policies.ConstantPolicy`, :func:`~policygrad.policies.argmax_policy`) live in
:mod:`policygrad.policies`; :func:`policygrad.checkpoint.save_baseline` writes them (kinds
``q-learning``, ``dqn``, ``deterministic``) and :func:`policygrad.checkpoint.load_trained` (or
:meth:`policygrad.Agent.load`) reads them. :mod:`policygrad.compare` pits them against the
policy-gradient agent.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass

import torch

from . import encoding
from .engine import Engine
from .games import make_game
from .opponents import make_opponent
from .opponents.whitebox import attach_policy
from .policies import QNetPolicy, QTablePolicy, sample_actions

__all__ = ["BaselineConfig", "train_q_learning", "train_dqn"]


@dataclass(frozen=True)
class BaselineConfig:
    """One baseline training run (the same opponent, game and observation layout as ``train``)."""

    opponent: str = "frequency"
    """opponent spec (see `policygrad opponents`)"""
    game: str = "rps"
    """the game"""
    rounds: int = 20
    """T, rounds per match"""
    context: int = 1
    """K, past rounds the agent sees"""
    counts: bool = False
    """add the running move frequencies to the observation (DQN only; the table ignores them)"""
    iterations: int = 150
    """batches of N matches played (and learned from, online)"""
    batch: int = 64
    """N, matches per iteration"""
    seed: int = 0
    """seed of every generator"""
    epsilon: float = 0.1
    """exploration rate (DQN: the final one) and the trained form's epsilon"""
    epsilon_start: float = 1.0
    """DQN: the exploration rate at the start, decayed linearly to ``epsilon``"""
    decay_fraction: float = 0.5
    """DQN: the fraction of iterations over which epsilon decays"""
    alpha: float = 0.1
    """Q-learning step size"""
    gamma: float = 0.9
    """discount of the next state's value"""
    lr: float = 1e-3
    """DQN: Adam learning rate"""
    hidden: tuple = (64,)
    """DQN: hidden layer sizes"""
    buffer: int = 50_000
    """DQN: replay buffer capacity, in transitions"""
    minibatch: int = 64
    """DQN: transitions per gradient step (one step per round played)"""
    target_every: int = 100
    """DQN: gradient steps between target-network syncs"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for name in ("rounds", "iterations", "batch", "buffer", "minibatch", "target_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.context, int) or not 0 <= self.context <= 4:
            raise ValueError(f"context must be an integer in 0..4, got {self.context!r}")
        for name in ("epsilon", "epsilon_start", "decay_fraction", "alpha", "gamma"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        make_game(self.game)
        make_opponent(self.opponent)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# -- training through the engine ---------------------------------------------------------------------


def _engine(cfg: BaselineConfig, policy) -> Engine:
    engine = Engine(cfg.opponent, n=cfg.batch, rounds=cfg.rounds, context=cfg.context, game=cfg.game, counts=cfg.counts, seed=cfg.seed)
    attach_policy(engine.opponent, policy, cfg.context, cfg.counts, cfg.rounds)  # a white-box opponent best-responds to the current policy
    return engine


@torch.no_grad()
def train_q_learning(cfg: BaselineConfig, progress=None) -> tuple[QTablePolicy, dict]:
    """Epsilon-greedy tabular Q-learning over the context, online in N batched matches.

    Per round, every match's transition (s, a, r, s') updates its table entry; the N updates of one
    round to the same (s, a) are averaged: Q(s,a) += alpha * mean(r + gamma max_b Q(s', b) - Q(s,a)).
    The last round's target has no bootstrap. Returns (trained epsilon-soft policy, report).
    """
    torch.manual_seed(cfg.seed)
    game = make_game(cfg.game)
    a_num = game.num_actions
    policy = QTablePolicy(a_num, cfg.context, cfg.epsilon)
    engine = _engine(cfg, policy)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    t0, rewards = time.perf_counter(), []
    q = policy.table.data
    for it in range(cfg.iterations):
        obs = engine.reset()
        total = torch.zeros(cfg.batch)
        done = False
        while not done:
            s = policy.state_index(obs)
            a = sample_actions(policy.step(obs)[0], gen)
            obs, r, done, _ = engine.step(a)
            total += r
            s2 = policy.state_index(obs)
            target = r.double() + (0.0 if done else cfg.gamma * q[s2].max(1).values.double())
            flat = s * a_num + a
            td = torch.zeros(q.numel(), dtype=torch.float64).index_add_(0, flat, target - q.view(-1)[flat].double())
            n = torch.zeros(q.numel(), dtype=torch.float64).index_add_(0, flat, torch.ones_like(target))
            q.view(-1).add_((cfg.alpha * td / n.clamp(min=1)).to(q.dtype))
        rewards.append(float(total.mean()) / cfg.rounds)
        if progress:
            progress(it + 1)
    return policy.eval(), {"kind": "q-learning", "seconds": time.perf_counter() - t0, "reward_per_round": rewards}


def train_dqn(cfg: BaselineConfig, progress=None) -> tuple[QNetPolicy, dict]:
    """DQN over the engine's observations: epsilon-greedy play in N batched matches, every
    transition into a replay buffer, one gradient step per round on a minibatch, target network.

    loss = Huber(Q_w(s, a) - (r + gamma (1 - done) max_b Q_target(s', b))). Returns (trained
    epsilon-soft policy at the final epsilon, report).
    """
    torch.manual_seed(cfg.seed)
    game = make_game(cfg.game)
    a_num = game.num_actions
    f = encoding.feature_size(a_num, cfg.context, cfg.counts)
    policy = QNetPolicy(f, a_num, cfg.hidden, cfg.epsilon_start)
    target = copy.deepcopy(policy.net).requires_grad_(False)
    opt = torch.optim.Adam(policy.net.parameters(), lr=cfg.lr)
    engine = _engine(cfg, policy)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    cap = cfg.buffer
    buf_s, buf_s2 = torch.zeros(cap, f), torch.zeros(cap, f)
    buf_a, buf_r, buf_d = torch.zeros(cap, dtype=torch.long), torch.zeros(cap), torch.zeros(cap)
    size, pos, updates = 0, 0, 0
    decay_iters = max(1, int(cfg.decay_fraction * cfg.iterations))
    t0, rewards = time.perf_counter(), []
    for it in range(cfg.iterations):
        policy.epsilon = cfg.epsilon + (cfg.epsilon_start - cfg.epsilon) * max(0.0, 1.0 - it / decay_iters)
        obs = engine.reset()
        total = torch.zeros(cfg.batch)
        done = False
        while not done:
            with torch.no_grad():
                a = sample_actions(policy.step(obs)[0], gen)
            obs2, r, done, _ = engine.step(a)
            total += r
            idx = (pos + torch.arange(cfg.batch)) % cap
            buf_s[idx], buf_a[idx], buf_r[idx], buf_s2[idx], buf_d[idx] = obs, a, r, obs2, float(done)
            pos, size = (pos + cfg.batch) % cap, min(cap, size + cfg.batch)
            obs = obs2
            j = torch.randint(0, size, (min(cfg.minibatch, size),), generator=gen)
            with torch.no_grad():
                y = buf_r[j] + cfg.gamma * (1 - buf_d[j]) * target(buf_s2[j]).max(1).values
            q_sa = policy.q(buf_s[j]).gather(1, buf_a[j].unsqueeze(1)).squeeze(1)
            loss = torch.nn.functional.smooth_l1_loss(q_sa, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"dqn: non-finite loss ({float(loss)}) at iteration {it + 1}")
            opt.zero_grad()
            loss.backward()
            opt.step()
            updates += 1
            if updates % cfg.target_every == 0:
                target.load_state_dict(policy.net.state_dict())
        rewards.append(float(total.mean()) / cfg.rounds)
        if progress:
            progress(it + 1)
    policy.epsilon = cfg.epsilon
    return policy.eval(), {"kind": "dqn", "seconds": time.perf_counter() - t0, "reward_per_round": rewards}
