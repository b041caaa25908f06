"""pi(a | s; theta): stochastic policies as torch modules, and the deterministic / epsilon-soft views.

Legend: N matches, T rounds, A actions, F features, H hidden units.

Every policy maps observations to *log*-probabilities (log-softmax of logits), two ways:

* ``step(obs_NF, hidden) -> (logp_NA, hidden)``: one round, to act;
* ``sequence(obs_NTF) -> logp_NTA``: a whole batch of matches at once, with autograd, to learn.

Both give the same numbers. Feed-forward policies ignore ``hidden`` (it stays ``None``).
:class:`Policy` is that contract as a Protocol; every policy class says whether it is
``recurrent`` (whether ``hidden`` carries anything), and callers read the attribute, never a default.

The trained forms of the seed's counter-examples are policies too, so rollouts, evaluation and the
exact exploitability treat them like any other: :class:`QTablePolicy` and :class:`QNetPolicy`
(epsilon-soft in the greedy action of a Q table or network, trained by :mod:`policygrad.qlearning`),
:class:`ConstantPolicy` (a pure strategy) and :func:`argmax_policy` (the argmax of a trained policy).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from . import encoding
from .tensors import sample

__all__ = [
    "Policy",
    "MLPPolicy",
    "TabularPolicy",
    "ModeGaps",
    "WithFeatures",
    "GRUPolicy",
    "DeterministicView",
    "EpsilonSoftView",
    "ValueNet",
    "make_policy",
    "make_critic",
    "POLICY_KINDS",
    "entropy",
    "sample_actions",
    "QTablePolicy",
    "QNetPolicy",
    "ConstantPolicy",
    "argmax_policy",
]

POLICY_KINDS = ("mlp", "tabular", "gru")


@runtime_checkable
class Policy(Protocol):
    """What every policy is, to the modules that play, score or analyse it (``isinstance`` checks it).

    Attributes:
        recurrent: True when ``hidden`` carries state from round to round (a GRU, the safe-play
            budget), so the policy's play depends on more than the observation: rollouts take the
            plain path, and the exact best response refuses it (its state is not the context).
    """

    recurrent: bool

    def initial_state(self, n: int) -> torch.Tensor | None:
        """The hidden state before the first round of N matches (None for a feed-forward policy)."""
        ...

    def step(self, obs_NF: torch.Tensor, hidden: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One round: (log pi(. | s) [N, A], the next hidden state)."""
        ...

    def sequence(self, obs_NTF: torch.Tensor) -> torch.Tensor:
        """Whole matches at once, with autograd: log pi [N, T, A] (the same numbers as ``step``)."""
        ...


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

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, obs_NF: torch.Tensor, hidden=None):
        return torch.log_softmax(self.logits(obs_NF), dim=-1), None

    def sequence(self, obs_NTF: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.logits(obs_NTF), dim=-1)


def mlp(in_size: int, hidden: tuple[int, ...], out_size: int, activation=nn.Tanh) -> nn.Sequential:
    """Linear layers of the given widths with ``activation`` between them: in -> hidden... -> out."""
    layers: list[nn.Module] = []
    width = in_size
    for h in hidden:
        layers += [nn.Linear(width, h), activation()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, out_size))


class MLPPolicy(_FeedForward):
    """Softmax over an MLP's logits: pi(a|s) = exp(f_theta(s)_a) / sum_b exp(f_theta(s)_b).

    The last layer starts at zero, so the policy starts uniform.
    """

    def __init__(self, obs_size: int, num_actions: int, hidden: tuple[int, ...] = (64,)) -> None:
        super().__init__()
        self.net = mlp(obs_size, tuple(hidden), num_actions)
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

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

    recurrent: bool  # the wrapped policy's, set in __init__
    policy: Any  # the wrapped policy: an nn.Module that is a Policy, which no one static type says

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy
        self.recurrent = bool(policy.recurrent)

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


def make_policy(
    kind: str,
    obs_size: int,
    num_actions: int,
    context: int,
    hidden: tuple[int, ...] = (64,),
    gaps: bool = False,
    rounds: int | None = None,
) -> nn.Module:
    """A fresh policy of ``kind`` (``mlp``, ``tabular`` or ``gru``) for this observation layout.

    With ``gaps`` (an observation with count features, over a match of ``rounds`` rounds) an ``mlp``
    or ``gru`` reads the observation through :class:`ModeGaps` (a tabular policy reads the context
    only, so ``gaps`` does not change it).
    """
    if kind not in POLICY_KINDS:
        raise ValueError(f"unknown policy {kind!r}; allowed: {', '.join(POLICY_KINDS)}")
    if kind == "tabular":
        return TabularPolicy(num_actions, context)
    features = ModeGaps(num_actions, context, rounds, obs_size) if gaps else None
    width = obs_size + (features.extra if features is not None else 0)
    if kind == "mlp":
        policy: nn.Module = MLPPolicy(width, num_actions, tuple(hidden))
    else:
        policy = GRUPolicy(width, num_actions, hidden[0] if hidden else 64)
    return WithFeatures(features, policy) if features is not None else policy


def make_critic(obs_size: int, num_actions: int, context: int, hidden: tuple[int, ...] = (64,), gaps: bool = False, rounds: int | None = None) -> nn.Module:
    """A fresh critic V_phi(s) ([..., F] -> [...]), reading the same features as :func:`make_policy`'s policy."""
    if not gaps:
        return ValueNet(obs_size, hidden)
    features = ModeGaps(num_actions, context, rounds, obs_size)
    return nn.Sequential(features, ValueNet(obs_size + features.extra, hidden))


class ModeGaps(nn.Module):
    """Count features on a scale that does not shrink with t: each player's gap to its most frequent move.

    The observation's count block holds frequencies c_i / t, whose differences shrink like 1/t: late
    in a match one move more is a change of 0.01, which a small tanh network resolves badly. From the
    frequencies and the round fraction t / T this layer recovers the integer counts,
    c_i = round(f_i * (t / T) * T), and appends, for each player and move,

        g_i = max_j c_j - c_i        (0 for the most frequent moves, ties included)
        features exp(-g_i / s) for each scale s in ``scales``  (default 1 and 4)

    that is 1 at the mode, 0.37 one move behind, and so on, whatever t is. Which moves lead the
    counts, and by how much, is what a fictitious-play or n-gram opponent acts on; the frequencies
    themselves stay in the observation. No parameters; no gradient flows into the observation.

    Legend: F observation features, A actions, K context rounds, T rounds per match.

    Args:
        num_actions: A.
        context: K (the count block starts after the K * A^2 one-hot block and the round fraction).
        rounds: T, the horizon the observation's round fraction is relative to.
        obs_size: F; it must be the width of an observation with count features.
        scales: the length scales s of the exp(-g / s) features.
    """

    def __init__(self, num_actions: int, context: int, rounds: int | None, obs_size: int, scales: tuple[float, ...] = (1.0, 4.0)) -> None:
        super().__init__()
        if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
            raise ValueError(f"mode gaps need the match length: rounds must be an integer >= 1, got {rounds!r}")
        if obs_size != encoding.feature_size(num_actions, context, True):
            raise ValueError(
                f"mode gaps read the count features, but an observation of width {obs_size} has none "
                f"(with counts it is {encoding.feature_size(num_actions, context, True)} for A={num_actions}, K={context}); use counts=true or gaps=false"
            )
        self.num_actions, self.context, self.rounds, self.scales = num_actions, context, rounds, tuple(scales)
        self.start = context * num_actions**2  # index of the round fraction; the counts follow it

    @property
    def extra(self) -> int:
        """How many features the layer appends: 2 players x A moves x len(scales)."""
        return 2 * self.num_actions * len(self.scales)

    def gaps(self, obs: torch.Tensor) -> torch.Tensor:
        """[..., 2, A]: g = max_j c_j - c_i for (agent, opponent) counts, as floats."""
        a = self.num_actions
        t = obs[..., self.start : self.start + 1] * self.rounds  # rounds played, [..., 1]
        freq = obs[..., self.start + 1 : self.start + 1 + 2 * a].unflatten(-1, (2, a))
        counts = (freq * t.unsqueeze(-1)).round()
        return counts.amax(-1, keepdim=True) - counts

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[..., F] -> [..., F + extra]: the observation with the gap features appended."""
        g = self.gaps(obs.detach()).flatten(-2)
        return torch.cat([obs] + [torch.exp(-g / s) for s in self.scales], dim=-1)


class WithFeatures(nn.Module):
    """A policy that reads the observation through a feature layer: pi(a | s) = pi'(a | phi(s)).

    Same interface as the wrapped policy (``step``, ``sequence``, ``initial_state``, ``recurrent``).
    """

    recurrent: bool  # the wrapped policy's, set in __init__
    policy: Any  # the wrapped policy: an nn.Module that is a Policy, which no one static type says

    def __init__(self, features: nn.Module, policy: nn.Module) -> None:
        super().__init__()
        self.features, self.policy = features, policy
        self.recurrent = bool(policy.recurrent)

    def initial_state(self, n: int):
        return self.policy.initial_state(n)

    def step(self, obs_NF: torch.Tensor, hidden=None):
        return self.policy.step(self.features(obs_NF), hidden)

    def sequence(self, obs_NTF: torch.Tensor) -> torch.Tensor:
        return self.policy.sequence(self.features(obs_NTF))


class ValueNet(nn.Module):
    """The critic V_phi(s): an MLP from the observation to one number (the expected reward-to-go)."""

    def __init__(self, obs_size: int, hidden: tuple[int, ...] = (64,)) -> None:
        super().__init__()
        self.net = mlp(obs_size, tuple(hidden), 1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[..., F] -> [...]."""
        return self.net(obs).squeeze(-1)


# -- the trained forms of the seed's counter-examples (policygrad.qlearning, policygrad.compare) ------


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
