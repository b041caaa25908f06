"""Self-play: two policy-gradient learners against each other, and how their policies move.

Legend: A actions, I iterations.

Each player holds a stateless softmax policy x = softmax(theta) (player 0) and y (player 1) over the
A moves of a symmetric zero-sum game M. Each iteration both update at once from their payoff
vectors q_0 = M y (the expected reward of each of player 0's moves against y) and q_1 = -M^T x:

* ``gradient``, plain simultaneous gradient ascent on the logits (the policy gradient theorem with
  Q = q): theta <- theta + eta * x * (q - x.q). In RPS the pair circles the equilibrium (and slowly
  spirals out): the last iterate never converges; its running *average* does (slowly).
* ``entropy``, entropy-regularised mirror ascent (magnetic mirror descent with a fixed uniform
  magnet rho): x <- x^(1/(1+alpha eta)) rho^(alpha eta/(1+alpha eta)) exp(eta q/(1+alpha eta)), normalised.
  Its last iterate converges to the alpha-quantal-response equilibrium: the Nash equilibrium in RPS
  (uniform), a biased point in weighted RPS.
* ``mmd``, magnetic mirror descent whose magnet follows the policy (rho <- rho^(1-beta) x^beta,
  normalised): the same update, but the regularisation fades towards the current play, so the last
  iterate converges to the Nash equilibrium itself, in RPS and in weighted RPS.

Sokota, Kroer et al., "A Unified Approach to Reinforcement Learning, Quantal Response Equilibria,
and Two-Player Zero-Sum Games", ICLR 2023 (MMD); Mertikopoulos, Papadimitriou, Piliouras,
"Cycles in adversarial regularized learning", SODA 2018 (why plain gradient ascent circles).

Feedback: ``exact`` uses the expected payoff vectors; ``sampled`` plays ``rounds`` rounds per
iteration in the PettingZoo env (:func:`policygrad.envs.parallel_env`, context 0) and replaces
each q by its importance-weighted estimate q_hat(a) = mean_t r_t 1[a_t = a] / x(a), so the
``gradient`` update is exactly REINFORCE, mean_t r_t (onehot(a_t) - x).

Exploitability of the pair: (max_a (M y)_a + max_o (M x)_o) / 2, the mean of what a best
response takes from each (per round; 0 exactly at a Nash equilibrium).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch

from .deprecated import moved
from .envs import parallel_env
from .equilibrium import follow_magnet, mirror_step, nash_equilibrium, pair_exploitability
from .games import make_game
from .limits import check_seed, check_size
from .tensors import sample

# pair_exploitability and nash_equilibrium live in policygrad.equilibrium; they stay importable from here
__all__ = ["SelfPlayConfig", "SelfPlayResult", "selfplay", "pair_exploitability", "nash_equilibrium", "METHODS"]

METHODS = ("gradient", "entropy", "mmd")
_DEFAULT_INIT = ((0.6, 0.3, 0.1), (0.2, 0.5, 0.3))
_ITERATION_BYTES = 1024
"""What one iteration keeps (both policies and two exploitabilities, as tensors and floats): measured 885 bytes."""
FEEDBACK = ("exact", "sampled")


@dataclass(frozen=True)
class SelfPlayConfig:
    """One self-play run."""

    game: str = "rps"
    """the symmetric zero-sum game"""
    method: str = "mmd"
    """gradient (plain simultaneous gradient ascent), entropy (fixed uniform magnet) or mmd (moving magnet)"""
    iterations: int = 2000
    """simultaneous updates"""
    lr: float = 0.1
    """eta, the step size"""
    alpha: float = 0.5
    """entropy / mmd: the regularisation weight"""
    magnet_rate: float = 0.05
    """mmd: beta, how fast the magnet follows the policy"""
    feedback: str = "exact"
    """exact (expected payoffs) or sampled (rounds played in the PettingZoo env)"""
    rounds: int = 10
    """sampled feedback: rounds played per iteration"""
    seed: int = 0
    """seed of the sampled play"""
    init: tuple = _DEFAULT_INIT
    """the two starting policies (empty: uniform); one row of A probabilities per player (the default,
    made for 3 actions, becomes x proportional to (A, ..., 1) and y to (1, ..., A) in a game of A != 3)"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "init", tuple(tuple(float(v) for v in row) for row in self.init))
        if self.method not in METHODS:
            raise ValueError(f"unknown self-play method {self.method!r}; allowed: {', '.join(METHODS)}")
        if self.feedback not in FEEDBACK:
            raise ValueError(f"unknown feedback {self.feedback!r}; allowed: {', '.join(FEEDBACK)}")
        for name in ("iterations", "rounds"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("lr", "alpha", "magnet_rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        check_seed("seed", self.seed)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        if not 0 <= self.magnet_rate <= 1:
            raise ValueError(f"magnet_rate must be in [0, 1], got {self.magnet_rate!r}")
        a = make_game(self.game).num_actions
        if self.init == _DEFAULT_INIT and a != 3:  # a non-uniform start for any number of actions
            up = [float(i + 1) for i in range(a)]
            object.__setattr__(self, "init", (tuple(v / sum(up) for v in reversed(up)), tuple(v / sum(up) for v in up)))
        if self.init:
            if len(self.init) != 2 or any(len(r) != a or min(r) <= 0 or abs(sum(r) - 1) > 1e-6 for r in self.init):
                raise ValueError(f"init must be two rows of {a} positive probabilities summing to 1, got {self.init!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["init"] = [list(r) for r in self.init]
        return d


@dataclass(frozen=True)
class SelfPlayResult:
    """A self-play run: the policies and the exploitability at every iteration (iteration 0: the start)."""

    config: SelfPlayConfig
    policies: torch.Tensor  # [I + 1, 2, A] float64: (x, y) after each iteration
    exploitability: torch.Tensor  # [I + 1]: of the last iterate (x_i, y_i)
    average_exploitability: torch.Tensor  # [I + 1]: of the running average of the iterates
    nash: torch.Tensor  # [A]: the game's equilibrium (symmetric)
    reward: float  # sampled feedback: player 0's mean reward per round in the env (nan for exact)
    seconds: float

    @property
    def final(self) -> float:
        return float(self.exploitability[-1])

    @property
    def final_average(self) -> float:
        return float(self.average_exploitability[-1])

    def summary(self) -> dict:
        it = self.config.iterations
        marks = sorted({i for i in (0, 10, 100, 1000, it) if i <= it})
        return {
            "method": self.config.method,
            "game": make_game(self.config.game).name,
            "feedback": self.config.feedback,
            "iterations": it,
            "exploitability_last": self.final,
            "exploitability_average": self.final_average,
            "exploitability_at": {str(i): float(self.exploitability[i]) for i in marks},
            "average_at": {str(i): float(self.average_exploitability[i]) for i in marks},
            "last_policies": self.policies[-1].tolist(),
            "nash": self.nash.tolist(),
            "reward_per_round": self.reward,
            "seconds": self.seconds,
            "config": self.config.to_dict(),
        }


def selfplay(config: SelfPlayConfig, progress=None) -> SelfPlayResult:
    """Run two learners against each other (see the module docstring); ``progress(i)`` per iteration."""
    cfg = config
    game = make_game(cfg.game)
    a_num = game.num_actions
    sampled = cfg.rounds * 2 * (8 * a_num + 16) if cfg.feedback == "sampled" else 0  # one match's stacked draws
    check_size(f"self-play over {cfg.iterations:,} iterations", float(cfg.iterations) * _ITERATION_BYTES + sampled, hint="Use fewer iterations")
    m = game.payoff.to(torch.float64)
    if cfg.init:
        x, y = (torch.tensor(r, dtype=torch.float64) for r in cfg.init)
        x, y = x / x.sum(), y / y.sum()
    else:
        x = y = torch.full((a_num,), 1.0 / a_num, dtype=torch.float64)
    theta_x, theta_y = x.log(), y.log()
    rho_x = rho_y = torch.full((a_num,), 1.0 / a_num, dtype=torch.float64)
    env = None
    if cfg.feedback == "sampled":
        env = parallel_env(rounds=cfg.rounds, context=0, game=game)
        gen = torch.Generator().manual_seed(cfg.seed)
    t0 = time.perf_counter()
    policies = [torch.stack([x, y])]
    sum_x, sum_y = x.clone(), y.clone()
    expl = [pair_exploitability(m, x, y)]
    avg = [expl[0]]
    rewards: list[float] = []
    for i in range(cfg.iterations):
        if env is None:
            q_x, q_y = m @ y, -(m.T @ x)
        else:
            q_x, q_y, r = _play(env, x, y, cfg.rounds, gen, a_num)
            rewards.append(r)
        if cfg.method == "gradient":
            # grad_theta x.q = x * (q - x.q): the policy gradient of a softmax policy
            theta_x = theta_x + cfg.lr * x * (q_x - x @ q_x)
            theta_y = theta_y + cfg.lr * y * (q_y - y @ q_y)
            x, y = torch.softmax(theta_x, 0), torch.softmax(theta_y, 0)
        else:
            x, y = mirror_step(x, q_x, rho_x, cfg.lr, cfg.alpha), mirror_step(y, q_y, rho_y, cfg.lr, cfg.alpha)
            if cfg.method == "mmd":
                rho_x, rho_y = follow_magnet(rho_x, x, cfg.magnet_rate), follow_magnet(rho_y, y, cfg.magnet_rate)
        sum_x, sum_y = sum_x + x, sum_y + y
        policies.append(torch.stack([x, y]))
        expl.append(pair_exploitability(m, x, y))
        avg.append(pair_exploitability(m, sum_x / (i + 2), sum_y / (i + 2)))
        if progress:
            progress(i + 1)
    return SelfPlayResult(
        cfg,
        torch.stack(policies),
        torch.tensor(expl, dtype=torch.float64),
        torch.tensor(avg, dtype=torch.float64),
        nash_equilibrium(game),
        sum(rewards) / len(rewards) if rewards else float("nan"),
        time.perf_counter() - t0,
    )


def _play(env, x: torch.Tensor, y: torch.Tensor, rounds: int, gen: torch.Generator, a_num: int):
    """Play one match in the PettingZoo env; importance-weighted estimates of both payoff vectors
    q_hat(a) = mean_t r_t 1[a_t = a] / pi(a), and player 0's reward per round."""
    env.reset()
    q_x = torch.zeros(a_num, dtype=torch.float64)
    q_y = torch.zeros(a_num, dtype=torch.float64)
    total = 0.0
    moves = sample(torch.stack([x, y]).repeat(rounds, 1), gen).view(rounds, 2)
    for t in range(rounds):
        a0, a1 = int(moves[t, 0]), int(moves[t, 1])
        _, rew, _, _, _ = env.step({"player_0": a0, "player_1": a1})
        q_x[a0] += rew["player_0"] / float(x[a0])
        q_y[a1] += rew["player_1"] / float(y[a1])
        total += rew["player_0"]
    return q_x / rounds, q_y / rounds, total / rounds


__getattr__ = moved(__name__, {"plot_selfplay": "policygrad.plots:plot_selfplay"})
