"""Equilibria of symmetric zero-sum matrix games, and how far a pair of policies is from one.

Legend: A actions.

* :func:`nash_equilibrium`: a symmetric Nash equilibrium sigma* (the game's value is 0: the matrix
  is antisymmetric), found by magnetic mirror descent in self-play (Sokota, Kroer et al., ICLR 2023):

      x' ∝ exp((log x + alpha eta log rho + eta q) / (1 + alpha eta)),   rho' ∝ rho^(1 - beta) x^beta

  with q = M x, the payoff of each move against x itself. Uniform in RPS and RPSLS; in weighted RPS
  each move in proportion to the weight of the move it beats.
* :func:`pair_exploitability`: (max_a (M y)_a + max_o (M x)_o) / 2, the mean reward per round a best
  response takes from each of two policies x and y (0 exactly at a Nash equilibrium).

The safe-play wrapper (:mod:`policygrad.safety`) falls back to sigma*; self-play
(:mod:`policygrad.selfplay`) measures its iterates with :func:`pair_exploitability` and steps with
the same :func:`mirror_step` and :func:`follow_magnet`.
"""

from __future__ import annotations

import torch

from .games import Game, make_game

__all__ = ["nash_equilibrium", "pair_exploitability", "mirror_step", "follow_magnet"]


def pair_exploitability(payoff: torch.Tensor, x_A: torch.Tensor, y_A: torch.Tensor) -> float:
    """(max_a (M y)_a + max_o (M x)_o) / 2: the mean reward per round a best response takes from each."""
    m = payoff.to(torch.float64)
    return float(((m @ y_A.double()).max() + (m @ x_A.double()).max()) / 2)


def nash_equilibrium(game: Game | str, iterations: int = 20000) -> torch.Tensor:
    """[A] float64: a symmetric Nash equilibrium of the game, by magnetic mirror descent in self-play
    (closed form for weighted RPS: each move in proportion to the weight of the move it beats)."""
    g = make_game(game)
    m = g.payoff
    x = torch.full((g.num_actions,), 1.0 / g.num_actions, dtype=torch.float64)
    rho = x.clone()
    for _ in range(iterations):
        x = mirror_step(x, m @ x, rho, 0.2, 0.5)
        rho = follow_magnet(rho, x, 0.05)
        if float((m @ x).max()) < 1e-13:
            break
    return x


def mirror_step(x: torch.Tensor, q: torch.Tensor, rho: torch.Tensor, lr: float, alpha: float) -> torch.Tensor:
    """x' ∝ exp((log x + alpha lr log rho + lr q) / (1 + alpha lr)): one magnetic mirror descent step."""
    return torch.softmax((x.log() + alpha * lr * rho.log() + lr * q) / (1 + alpha * lr), 0)


def follow_magnet(rho: torch.Tensor, x: torch.Tensor, beta: float) -> torch.Tensor:
    """rho' ∝ rho^(1 - beta) x^beta: the magnet moves towards the policy."""
    return torch.softmax((1 - beta) * rho.log() + beta * x.log(), 0)
