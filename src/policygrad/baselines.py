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

Checkpoints: :func:`save_baseline` writes them with :func:`policygrad.checkpoint.save_checkpoint`
(kinds ``q-learning``, ``dqn``, ``deterministic``); :func:`agent_from_checkpoint` loads them.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass

import torch
from torch import nn

from . import encoding
from .checkpoint import save_checkpoint
from .distributed import check_backend, ray_session, run_tasks
from .engine import Engine
from .files import name_part
from .games import make_game
from .opponents.whitebox import attach_policy
from .policies import DeterministicView, mlp, sample_actions
from .stats import interval  # the comparison's intervals; importable from here as before

__all__ = [
    "BaselineConfig",
    "QTablePolicy",
    "QNetPolicy",
    "ConstantPolicy",
    "train_q_learning",
    "train_dqn",
    "argmax_policy",
    "save_baseline",
    "agent_from_checkpoint",
    "policy_from_checkpoint",
    "BASELINE_KINDS",
    "CompareSettings",
    "compare",
    "plot_compare",
    "interval",
    "AGENT_NAMES",
]

BASELINE_KINDS = ("q-learning", "dqn", "deterministic")


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
        from .opponents import make_opponent

        make_opponent(self.opponent)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# -- the trained forms: policy modules --------------------------------------------------------------


def _eps_soft_logp(q_NA: torch.Tensor, epsilon: float) -> torch.Tensor:
    """log(eps / A + (1 - eps) * 1[a = argmax_b Q(s, b)]), [..., A] (the lowest index on ties, as np.argmax)."""
    greedy = torch.nn.functional.one_hot(q_NA.argmax(-1), q_NA.shape[-1]).to(q_NA.dtype)
    return (epsilon / q_NA.shape[-1] + (1 - epsilon) * greedy).log()


class QTablePolicy(nn.Module):
    """Epsilon-soft policy of a Q table over the context of the last K rounds (no round feature).

    ``table``: [C, A] action values; ``epsilon``: the exploration rate (0: greedy, deterministic)."""

    recurrent = False

    def __init__(self, num_actions: int, context: int, epsilon: float = 0.1) -> None:
        super().__init__()
        self.num_actions, self.context, self.epsilon = num_actions, context, float(epsilon)
        self.table = nn.Parameter(torch.zeros(encoding.num_contexts(num_actions, context), num_actions), requires_grad=False)

    def state_index(self, obs: torch.Tensor) -> torch.Tensor:
        """[...] long context index of observations [..., F]."""
        lead = obs.shape[:-1]
        ctx = encoding.context_from_obs(obs, self.num_actions, self.context).reshape(lead.numel(), self.context)
        return encoding.context_index(ctx, self.num_actions).reshape(lead)

    def q(self, obs: torch.Tensor) -> torch.Tensor:
        return self.table[self.state_index(obs)]

    def initial_state(self, n: int):
        return None

    def step(self, obs_NF: torch.Tensor, hidden=None):
        return _eps_soft_logp(self.q(obs_NF), self.epsilon), None

    def sequence(self, obs_NTF: torch.Tensor) -> torch.Tensor:
        return _eps_soft_logp(self.q(obs_NTF), self.epsilon)


class QNetPolicy(nn.Module):
    """Epsilon-soft policy of a Q network: an MLP from the observation [..., F] to Q(s, .) [..., A]."""

    recurrent = False

    def __init__(self, obs_size: int, num_actions: int, hidden: tuple[int, ...] = (64,), epsilon: float = 0.1) -> None:
        super().__init__()
        self.net = mlp(obs_size, tuple(hidden), num_actions, nn.ReLU)
        self.epsilon = float(epsilon)

    def q(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)

    def initial_state(self, n: int):
        return None

    def step(self, obs_NF: torch.Tensor, hidden=None):
        return _eps_soft_logp(self.q(obs_NF).detach(), self.epsilon), None

    def sequence(self, obs_NTF: torch.Tensor) -> torch.Tensor:
        return _eps_soft_logp(self.q(obs_NTF).detach(), self.epsilon)


class ConstantPolicy(nn.Module):
    """A fixed pure strategy: always ``move``."""

    recurrent = False

    def __init__(self, num_actions: int, move: int = 0) -> None:
        super().__init__()
        if not 0 <= int(move) < num_actions:
            raise ValueError(f"move {move} is outside 0..{num_actions - 1}")
        self.move = int(move)
        self.onehot = nn.Parameter(torch.nn.functional.one_hot(torch.tensor(self.move), num_actions).float(), requires_grad=False)

    def initial_state(self, n: int):
        return None

    def step(self, obs_NF: torch.Tensor, hidden=None):
        return self.sequence(obs_NF), None

    def sequence(self, obs: torch.Tensor) -> torch.Tensor:
        return self.onehot.log().to(obs.dtype).expand(*obs.shape[:-1], -1)


def argmax_policy(policy: nn.Module) -> DeterministicView:
    """The deterministic form of a trained policy-gradient policy: pi(a|s) = 1[a = argmax_b pi_theta(b|s)]."""
    return DeterministicView(policy).eval()


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


# -- checkpoints -----------------------------------------------------------------------------------------


def save_baseline(path: str, kind: str, policy: nn.Module, config: dict) -> str:
    """Write a baseline's trained form as a checkpoint of ``kind`` (q-learning, dqn, deterministic).

    ``config`` holds at least ``game``, ``rounds``, ``context``, ``counts``; a deterministic argmax
    of a policy-gradient policy also holds ``pg_config`` (the TrainConfig dict of its source)."""
    if kind not in BASELINE_KINDS:
        raise ValueError(f"unknown baseline kind {kind!r}; allowed: {', '.join(BASELINE_KINDS)}")
    game = make_game(config["game"])
    payload = {
        "kind": kind,
        "config": dict(config),
        "iteration": int(config.get("iterations", 0)),
        "game": {"name": game.name, "payoff": game.payoff, "actions": list(game.actions)},
    }
    if kind == "q-learning":
        payload["q_table"] = policy.table.detach().clone()
        payload["config"]["epsilon"] = policy.epsilon
    elif kind == "dqn":
        payload["qnet"] = policy.net.state_dict()
        payload["config"]["epsilon"] = policy.epsilon
    elif isinstance(policy, ConstantPolicy):
        payload["config"]["source"], payload["config"]["move"] = "constant", policy.move
    elif isinstance(policy, DeterministicView):
        if "pg_config" not in config:
            raise ValueError("a deterministic view of a policy needs config['pg_config'] (the TrainConfig dict of its source)")
        payload["config"]["source"] = "pg-argmax"
        payload["policy"] = policy.policy.state_dict()
    else:
        raise TypeError(f"a deterministic baseline is a ConstantPolicy or a DeterministicView, got {type(policy).__name__}")
    return save_checkpoint(path, payload)


def policy_from_checkpoint(data: dict) -> nn.Module:
    """The trained policy module of a baseline checkpoint dict."""
    kind, cfg = data.get("kind"), data.get("config", {})
    game = make_game(cfg.get("game", "rps"))
    a_num = game.num_actions
    if kind == "q-learning":
        policy = QTablePolicy(a_num, int(cfg["context"]), float(cfg["epsilon"]))
        policy.table.data.copy_(data["q_table"])
        return policy.eval()
    if kind == "dqn":
        f = encoding.feature_size(a_num, int(cfg["context"]), bool(cfg["counts"]))
        policy = QNetPolicy(f, a_num, tuple(cfg["hidden"]), float(cfg["epsilon"]))
        policy.net.load_state_dict(data["qnet"])
        return policy.eval()
    if kind == "deterministic":
        if cfg.get("source") == "constant":
            return ConstantPolicy(a_num, int(cfg["move"])).eval()
        from .config import TrainConfig
        from .policies import make_policy

        pg = TrainConfig.from_dict(cfg["pg_config"], source="checkpoint")
        gaps = pg.uses_gaps and "gaps" in cfg["pg_config"]  # as train.load_policy: older configs had none
        base = make_policy(pg.policy, encoding.feature_size(a_num, pg.context, pg.counts), a_num, pg.context, pg.hidden, gaps, pg.rounds)
        base.load_state_dict(data["policy"])
        return argmax_policy(base)
    raise ValueError(f"checkpoint holds a '{kind}' agent; baselines are {', '.join(BASELINE_KINDS)}")


def agent_from_checkpoint(data: dict):
    """A :class:`policygrad.agent.Agent` playing a baseline checkpoint's trained policy."""
    from .agent import Agent

    cfg = data.get("config", {})
    policy = policy_from_checkpoint(data)
    return Agent(policy, cfg["game"], int(cfg["context"]), bool(cfg["counts"]), int(cfg["rounds"]), name=str(data["kind"]))


# -- the comparison: every agent against every opponent, several seeds ------------------------------------

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
        from .opponents import make_opponent

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
    from .config import TrainConfig
    from .train import Trainer

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
    from .evaluate import evaluate_policy  # it attaches a white-box opponent (best-response) to the policy

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
    import os

    from .exploitability import exploitability

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
    game = make_game(s.game)
    payload = {
        "kind": "policy",
        "config": cfg_dict,
        "iteration": int(cfg_dict["iterations"]),
        "game": {"name": game.name, "payoff": game.payoff, "actions": list(game.actions)},
        "policy": policy.state_dict(),
    }
    return save_checkpoint(path, payload)


def plot_compare(report: dict, path: str) -> str:
    """Two panels: exact exploitability per agent and training opponent (bars with 95% intervals),
    and the reward per round of each trained agent against each evaluation opponent (a heat map)."""
    from .plots import plt, save_figure

    entries = report["entries"]
    agents = list(dict.fromkeys(e["agent"] for e in entries))
    opponents = list(dict.fromkeys(e["opponent"] for e in entries))
    evals = report["evaluation_opponents"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 0.3 * len(entries) + 3), gridspec_kw={"width_ratios": [1, 1.2], "wspace": 0.55})
    width = 0.8 / len(agents)
    for i, agent in enumerate(agents):
        xs, ys, es = [], [], []
        for j, opp in enumerate(opponents):
            e = next((e for e in entries if e["agent"] == agent and e["opponent"] == opp), None)
            if e:
                xs.append(j + (i - (len(agents) - 1) / 2) * width)
                ys.append(e["exploitability"])
                es.append(e["exploitability_ci95"])
        ax1.bar(xs, ys, width, yerr=es, capsize=2, label=agent)
    ax1.set_xticks(range(len(opponents)))
    ax1.set_xticklabels(opponents, rotation=20, fontsize=8)
    ax1.set_xlabel("trained against")
    ax1.set_ylabel("exact exploitability (reward per round)")
    ax1.set_ylim(0, 1.15)
    ax1.axhline(0, color="k", lw=0.8)
    ax1.legend(fontsize=8, ncol=len(agents), loc="upper center")
    ax1.grid(True, axis="y", alpha=0.3)
    grid = [[e["reward"][v]["mean"] for v in evals] for e in entries]
    im = ax2.imshow(grid, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            ax2.text(c, r, f"{v:+.2f}", ha="center", va="center", fontsize=7)
    ax2.set_xticks(range(len(evals)))
    ax2.set_xticklabels(evals, rotation=20, fontsize=8)
    ax2.set_yticks(range(len(entries)))
    ax2.set_yticklabels([f"{e['agent']} @ {e['opponent']}" for e in entries], fontsize=8)
    ax2.set_xlabel("evaluated against")
    fig.colorbar(im, ax=ax2, label="agent's reward per round")
    fig.suptitle(f"T={report['settings']['rounds']}, k={report['settings']['context']}, seeds {report['settings']['seeds']}")
    return save_figure(fig, path)
