"""pi(a | s; theta): stochastic policies as torch modules, and the deterministic / epsilon-soft views.

Legend: N matches, T rounds, A actions, F features, H hidden units.

Every policy maps observations to *log*-probabilities (log-softmax of logits), two ways:

* ``step(obs_NF, hidden) -> (logp_NA, hidden)``: one round, to act;
* ``sequence(obs_NTF) -> logp_NTA``: a whole batch of matches at once, with autograd, to learn.

Both give the same numbers. Feed-forward policies ignore ``hidden`` (it stays ``None``).
"""

from __future__ import annotations

import torch
from torch import nn

from . import encoding
from .engine import sample

__all__ = [
    "MLPPolicy",
    "TabularPolicy",
    "GRUPolicy",
    "DeterministicView",
    "EpsilonSoftView",
    "ValueNet",
    "make_policy",
    "POLICY_KINDS",
    "entropy",
    "sample_actions",
]

POLICY_KINDS = ("mlp", "tabular", "gru")


def entropy(logp_NA: torch.Tensor) -> torch.Tensor:
    """H(pi) = -sum_a pi(a) log pi(a), [N] (0 log 0 taken as 0)."""
    p = logp_NA.exp()
    return -torch.where(p > 0, p * logp_NA, torch.zeros_like(p)).sum(-1)


def sample_actions(logp_NA: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One action per row drawn from pi = exp(logp): [N] long."""
    return sample(logp_NA.detach().exp(), generator)


class _FeedForward(nn.Module):
    recurrent = False

    def initial_state(self, n: int):
        return None

    def step(self, obs_NF: torch.Tensor, hidden=None):
        return torch.log_softmax(self.logits(obs_NF), dim=-1), None

    def sequence(self, obs_NTF: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits(obs_NTF), dim=-1)


class MLPPolicy(_FeedForward):
    """Softmax over an MLP's logits: pi(a|s) = exp(f_theta(s)_a) / sum_b exp(f_theta(s)_b).

    The last layer starts at zero, so the policy starts uniform.
    """

    def __init__(self, obs_size: int, num_actions: int, hidden: tuple[int, ...] = (64,)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = obs_size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Tanh()]
            width = h
        head = nn.Linear(width, num_actions)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        self.net = nn.Sequential(*layers, head)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


class TabularPolicy(_FeedForward):
    """One row of logits per context of the last K rounds, (A^2 + 1)^K rows, all zero at the start
    (uniform). The context is read back from the observation's one-hot block."""

    def __init__(self, num_actions: int, context: int) -> None:
        super().__init__()
        self.num_actions, self.context = num_actions, context
        self.table = nn.Parameter(torch.zeros(encoding.num_contexts(num_actions, context), num_actions))

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        lead = obs.shape[:-1]
        ctx = encoding.context_from_obs(obs, self.num_actions, self.context).reshape(lead.numel(), self.context)
        return self.table[encoding.context_index(ctx, self.num_actions)].reshape(*lead, self.num_actions)


class GRUPolicy(nn.Module):
    """A GRU over the per-round features, then a linear softmax head: pi(a | h_t), h_t = GRU(h_{t-1}, s_t).
    The head starts at zero, so the policy starts uniform."""

    recurrent = True

    def __init__(self, obs_size: int, num_actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.gru = nn.GRU(obs_size, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_actions)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def initial_state(self, n: int) -> torch.Tensor:
        p = self.head.weight
        return torch.zeros(1, n, self.gru.hidden_size, dtype=p.dtype, device=p.device)

    def step(self, obs_NF: torch.Tensor, hidden: torch.Tensor | None = None):
        if hidden is None:
            hidden = self.initial_state(obs_NF.shape[0])
        out, hidden = self.gru(obs_NF.unsqueeze(1), hidden)
        return torch.log_softmax(self.head(out.squeeze(1)), dim=-1), hidden

    def sequence(self, obs_NTF: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(obs_NTF, self.initial_state(obs_NTF.shape[0]))
        return torch.log_softmax(self.head(out), dim=-1)


class _View(nn.Module):
    """A policy read another way; it shares (does not copy) the wrapped policy's parameters."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy
        self.recurrent = policy.recurrent

    def initial_state(self, n: int):
        return self.policy.initial_state(n)

    def step(self, obs_NF, hidden=None):
        logp, hidden = self.policy.step(obs_NF, hidden)
        return self.transform(logp), hidden

    def sequence(self, obs_NTF):
        return self.transform(self.policy.sequence(obs_NTF))

    def greedy(self, logp: torch.Tensor) -> torch.Tensor:
        """One-hot of the most likely action (the lowest index on ties)."""
        return torch.nn.functional.one_hot(logp.argmax(-1), logp.shape[-1]).to(logp.dtype)


class DeterministicView(_View):
    """The argmax of a policy: pi(a|s) = 1 for a = argmax_b pi_theta(b|s)."""

    def transform(self, logp):
        return self.greedy(logp).log()


class EpsilonSoftView(_View):
    """The epsilon-soft (epsilon-greedy) form of a policy: eps / A + (1 - eps) 1[a = argmax]."""

    def __init__(self, policy: nn.Module, epsilon: float) -> None:
        super().__init__(policy)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon

    def transform(self, logp):
        return (self.epsilon / logp.shape[-1] + (1 - self.epsilon) * self.greedy(logp)).log()


def make_policy(kind: str, obs_size: int, num_actions: int, context: int, hidden: tuple[int, ...] = (64,)) -> nn.Module:
    """A fresh policy of ``kind`` (``mlp``, ``tabular`` or ``gru``) for this observation layout."""
    if kind == "mlp":
        return MLPPolicy(obs_size, num_actions, tuple(hidden))
    if kind == "tabular":
        return TabularPolicy(num_actions, context)
    if kind == "gru":
        return GRUPolicy(obs_size, num_actions, hidden[0] if hidden else 64)
    raise ValueError(f"unknown policy {kind!r}; allowed: {', '.join(POLICY_KINDS)}")


class ValueNet(nn.Module):
    """The critic V_phi(s): an MLP from the observation to one number (the expected reward-to-go)."""

    def __init__(self, obs_size: int, hidden: tuple[int, ...] = (64,)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = obs_size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Tanh()]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[..., F] -> [...]."""
        return self.net(obs).squeeze(-1)
