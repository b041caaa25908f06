"""pi(a | s; theta) as a learned mixture of in-match experts: a small network weighs each expert by its recent scores.

Legend: N matches (any leading dimensions: [N] or [N, T]), J experts, F features per expert,
G global features, A actions, H hidden units.

The observation s of a round is, for each expert j, its proposed move m_j and its features f_j
(its decayed recent rewards, :mod:`policygrad.experts`), and the global features g (the agent's own
recent rewards, the best expert's, the evidence). One network, shared by every expert, scores
each expert from (f_j, g), and a softmax over the J scores weighs the experts; a second network
sets, from g, the share lambda of *uniform* play (online's third layer, learned):

    w = softmax(score_theta(f_1, g), ..., score_theta(f_J, g)),   lambda = sigmoid(u_theta(g))
    pi(a | s; theta) = (1 - lambda) sum_j w_j 1[m_j = a] + lambda / A    (an expert with no move plays uniformly)

The uniform share sits outside the experts' softmax so that its gradient does not vanish with the
number of experts: given the opponent's move o, d pi . M[:, o] / d lambda = -(sum_j w_j M[m_j, o]),
so whenever the experts' play loses (an opponent that reads the agent), the gradient raises lambda.

The scorer is permutation-equivariant over the experts (the same weights for each), so it has few
parameters, works for any number of experts, and learns *how to weigh a predictor from its record*,
not which predictor to trust: across a population of opponents, by policy gradient
(:mod:`policygrad.expert_train`). With the output layers at zero it starts as the uniform mixture of
the experts, half of it uniform play.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ExpertMixturePolicy", "expert_onehots"]


def expert_onehots(moves_NJ: torch.Tensor, num_actions: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[..., J, A]: each expert's move one-hot, the uniform row for an expert without a move (-1)."""
    onehot = torch.nn.functional.one_hot(moves_NJ.clamp(min=0).long(), num_actions).to(dtype)
    return torch.where((moves_NJ >= 0)[..., None], onehot, torch.full_like(onehot, 1.0 / num_actions))


class ExpertMixturePolicy(nn.Module):
    """The learned mixture of experts and uniform play (see the module docstring).

    Args:
        num_features: F, the features of each expert.
        num_global: G, the global features.
        num_actions: A.
        hidden: H, the hidden width of the scorer and of the uniform option's network.
    """

    recurrent = False

    def __init__(self, num_features: int, num_global: int, num_actions: int, hidden: int = 32) -> None:
        super().__init__()
        for name, value in (("num_features", num_features), ("num_global", num_global), ("num_actions", num_actions), ("hidden", hidden)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.num_features, self.num_global, self.num_actions, self.hidden = num_features, num_global, num_actions, hidden
        self.expert_in = nn.Linear(num_features, hidden)
        self.global_in = nn.Linear(num_global, hidden, bias=False)
        self.expert_out = nn.Linear(hidden, 1)
        uniform_out = nn.Linear(hidden, 1)
        self.uniform = nn.Sequential(nn.Linear(num_global, hidden), nn.Tanh(), uniform_out)
        for layer in (self.expert_out, uniform_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def weights(self, feats_NJF: torch.Tensor, glob_NG: torch.Tensor) -> torch.Tensor:
        """[..., J + 1]: the weights of the experts, (1 - lambda) w_j, then lambda, the share of uniform play."""
        h = torch.tanh(self.expert_in(feats_NJF) + self.global_in(glob_NG).unsqueeze(-2))  # [..., J, H]
        w = torch.softmax(self.expert_out(h).squeeze(-1), -1)  # [..., J]
        lam = torch.sigmoid(self.uniform(glob_NG))  # [..., 1]
        return torch.cat([(1 - lam) * w, lam], -1)

    def forward(self, moves_NJ: torch.Tensor, feats_NJF: torch.Tensor, glob_NG: torch.Tensor) -> torch.Tensor:
        """log pi(. | s), [..., A]: from the expert moves [..., J] (long, -1: none), features [..., J, F], global [..., G]."""
        if feats_NJF.shape[-1] != self.num_features or glob_NG.shape[-1] != self.num_global:
            raise ValueError(
                f"features of width {feats_NJF.shape[-1]} and {glob_NG.shape[-1]}, but the policy reads {self.num_features} per expert and {self.num_global} global"
            )
        w = self.weights(feats_NJF, glob_NG)
        onehot = expert_onehots(moves_NJ, self.num_actions, w.dtype)  # [..., J, A]
        probs = (w[..., :-1, None] * onehot).sum(-2) + w[..., -1:] / self.num_actions
        return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()
