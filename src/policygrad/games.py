"""Symmetric zero-sum matrix games: the rules every other module reads.

A game is an A x A payoff matrix ``M`` where ``M[a, o]`` is the agent's reward when the agent plays
``a`` and the opponent plays ``o``. Zero-sum and symmetric means the opponent, seen from its own
side, faces the same matrix, so ``M[o, a] = -M[a, o]``: the matrix is antisymmetric.

Moves are ints (Kaggle's convention for RPS): 0 rock, 1 paper, 2 scissors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Game", "rps", "rpsls", "weighted_rps", "from_matrix", "make_game", "GAME_NAMES"]


@dataclass(frozen=True, eq=False)
class Game:
    """A symmetric zero-sum A x A matrix game.

    Attributes:
        name: a spec string that rebuilds the game with :func:`make_game`.
        payoff: float64 tensor [A, A], ``payoff[a, o]`` is the agent's reward.
        actions: the move names, A of them.
    """

    name: str
    payoff: torch.Tensor
    actions: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.payoff, torch.Tensor):
            raise TypeError(f"payoff must be a torch tensor, got {type(self.payoff).__name__}; use from_matrix for lists")
        if self.payoff.dtype.is_complex or self.payoff.dtype == torch.bool:
            raise TypeError(f"payoff must be a real-valued matrix, got dtype {self.payoff.dtype}")
        m = self.payoff.detach().to(torch.float64)
        object.__setattr__(self, "payoff", m)
        if m.dim() != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"payoff matrix must be square A x A, got shape {tuple(m.shape)}")
        if m.shape[0] < 2:
            raise ValueError(f"a game needs at least 2 actions, got {m.shape[0]}")
        if not torch.isfinite(m).all():
            raise ValueError("payoff matrix has a non-finite entry")
        if not torch.allclose(m, -m.T, atol=1e-12):
            raise ValueError(f"payoff matrix must be zero-sum and symmetric (antisymmetric: M[a, o] == -M[o, a]); got {m.tolist()}")
        if len(self.actions) != m.shape[0]:
            raise ValueError(f"{len(self.actions)} action names for a {m.shape[0]}-action game")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Game):
            return NotImplemented
        return self.name == other.name and self.actions == other.actions and torch.equal(self.payoff, other.payoff)

    def __hash__(self) -> int:
        return hash((self.name, self.actions))

    @property
    def num_actions(self) -> int:
        """A, the number of moves."""
        return self.payoff.shape[0]

    def best_responses(self, dist_NA: torch.Tensor) -> torch.Tensor:
        """Uniform mixture over the best responses to a distribution over the other player's moves.

        Args:
            dist_NA: [N, A] probabilities (or weights) of the other player's move.
        Returns:
            [N, A] probabilities, spread evenly over every move that maximises expected payoff.
        """
        # value[n, b] = sum_o M[b, o] dist[n, o], computed as M @ dist^T so that the result keeps
        # the layout of dist (contiguous over N when dist's memory has the match index innermost)
        value_NA = (self.payoff @ dist_NA.to(self.payoff.dtype).T).T
        best = (value_NA >= value_NA.amax(dim=1, keepdim=True) - 1e-9).to(dist_NA.dtype)
        return best / best.sum(dim=1, keepdim=True)

    def beats(self) -> torch.Tensor:
        """[A] long: for each move, the reply that scores best against it (the lowest index on ties)."""
        return self.payoff.argmax(dim=0)

    def rotations(self) -> torch.Tensor:
        """[A + 1, A] long: ``out[b, r] = beats^r(b)``, rotation r of a reply b (the in-match experts'
        second-guessing); the last row, -1 throughout, stands for "no move"."""
        beats = self.beats().tolist()
        out = torch.full((self.num_actions + 1, self.num_actions), -1, dtype=torch.long)
        for b in range(self.num_actions):
            y = b
            for r in range(self.num_actions):
                out[b, r], y = y, beats[y]
        return out

    def move_index(self, name: str | int) -> int:
        """A move by index or (case-insensitive) name, checked."""
        if isinstance(name, int) or str(name).isdigit():
            i = int(name)
            if not 0 <= i < self.num_actions:
                raise ValueError(f"move {i} is outside 0..{self.num_actions - 1}")
            return i
        names = [a.lower() for a in self.actions]
        if str(name).lower() not in names:
            raise ValueError(f"unknown move {name!r}; allowed: {', '.join(self.actions)}")
        return names.index(str(name).lower())


def _cyclic(beats: list[tuple[int, int]], weights: list[float], a: int) -> torch.Tensor:
    m = torch.zeros(a, a, dtype=torch.float64)
    for winner, loser in beats:
        m[winner, loser] = weights[winner]
        m[loser, winner] = -weights[winner]
    return m


def rps() -> Game:
    """Rock-Paper-Scissors: +1 win, 0 tie, -1 loss."""
    return weighted_rps((1.0, 1.0, 1.0), name="rps")


def weighted_rps(weights: tuple[float, float, float] | list[float], name: str | None = None) -> Game:
    """RPS where a win with move i pays ``weights[i]`` (and the loser loses as much).

    Its Nash equilibrium is not uniform unless the weights are equal: the equilibrium plays
    each move in proportion to the weight of the move it beats (rock ~ w_scissors, ...).
    """
    w = [float(x) for x in weights]
    if len(w) != 3 or any(not x > 0 for x in w):
        raise ValueError(f"weighted-rps needs 3 positive weights, got {weights!r}")
    m = _cyclic([(1, 0), (2, 1), (0, 2)], w, 3)  # paper beats rock, scissors paper, rock scissors
    spec = name or "weighted-rps:weights=" + ",".join(f"{x:g}" for x in w)
    return Game(spec, m, ("rock", "paper", "scissors"))


def rpsls() -> Game:
    """Rock-Paper-Scissors-Lizard-Spock: each move beats two and loses to two."""
    # 0 rock, 1 paper, 2 scissors, 3 lizard, 4 spock
    beats = [(0, 2), (0, 3), (1, 0), (1, 4), (2, 1), (2, 3), (3, 1), (3, 4), (4, 0), (4, 2)]
    return Game("rpsls", _cyclic(beats, [1.0] * 5, 5), ("rock", "paper", "scissors", "lizard", "spock"))


def from_matrix(matrix, actions: tuple[str, ...] | None = None) -> Game:
    """Any antisymmetric payoff matrix (a list of rows or a tensor) as a game."""
    try:
        m = torch.as_tensor(matrix, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"payoff matrix must be a square A x A table of numbers, got {matrix!r} ({e})") from None
    if m.dim() != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"payoff matrix must be square A x A, got shape {tuple(m.shape)}")
    names = actions or tuple(f"m{i}" for i in range(m.shape[0]))
    rows = ";".join(",".join(f"{x:g}" for x in row) for row in m.tolist())
    return Game(f"matrix:rows={rows}", m, tuple(names))


GAME_NAMES = ("rps", "rpsls", "weighted-rps:weights=W1,W2,W3", "matrix:rows=a,b,c;d,e,f;g,h,i")


def make_game(spec: "str | Game | list | torch.Tensor" = "rps") -> Game:
    """Build a game from a spec string: ``rps``, ``rpsls``, ``weighted-rps:weights=1,2,3``,
    ``matrix:rows=0,-1,1;1,0,-1;-1,1,0``; a :class:`Game` as it is; a payoff matrix (a list of
    rows or a tensor) through :func:`from_matrix`."""
    if isinstance(spec, Game):
        return spec
    if isinstance(spec, (list, tuple, torch.Tensor)):
        return from_matrix(spec)
    name, _, rest = str(spec).partition(":")
    name = name.strip().lower()
    if name == "rps" and not rest:
        return rps()
    if name == "rpsls" and not rest:
        return rpsls()
    key, _, value = rest.partition("=")
    try:
        if name == "weighted-rps" and key.strip() == "weights":
            return weighted_rps([float(x) for x in value.split(",")])
        if name == "matrix" and key.strip() == "rows":
            return from_matrix([[float(x) for x in row.split(",")] for row in value.split(";")])
    except ValueError as e:
        raise ValueError(f"bad game spec {spec!r}: {e}") from None
    raise ValueError(f"unknown game {spec!r}; allowed: {', '.join(GAME_NAMES)}")
