"""Players of one match, move by move: a trained :class:`Agent`, and every other kind of :class:`Player`.

A *player* is anything that plays one match move by move (the :class:`Player` protocol):
``reset(seed)``, then ``act(last_opponent_move) -> move`` each round, with ``last_probs`` the
distribution it drew the move from. The tournament, ``play`` and ``export`` take players by name
through :func:`make_player`, which resolves:

* a name of :data:`PLAYERS` (``uniform``, ``online``, ``meta``, ``meta-raw``, ``meta-gru``, ``meta-gru-raw``; colleagues add theirs:
  ``PLAYERS["mine"] = factory``, a callable ``factory(game) -> player``, or a ``"module:attribute"``
  string imported on first use);
* a checkpoint file or run directory (:meth:`Agent.load`, any kind of :mod:`policygrad.checkpoint`);
* any opponent spec (``markov:order=2``, ``roshambo:bot=iocainebot``): the opponent in the
  agent's seat (:class:`OpponentPlayer`), handy for a tournament without trained agents.

:class:`Agent` keeps its own history (the last k rounds, the move counts, the round) and builds
each observation with the same :mod:`policygrad.encoding` as training, so it plays exactly the
policy it was trained with. In a match longer than the training horizon T the round feature t / T
is capped at 1: from round T on the agent sees the observation of "the last round" of training.
"""

from __future__ import annotations

import importlib
import inspect
import os
from typing import Any, Callable, Protocol

import torch

from . import encoding
from .checkpoint import load_checkpoint, load_trained
from .expert_agent import ExpertAgent, expert_meta_player
from .expert_train import EXPERT_KIND, expert_file
from .games import Game, make_game
from .online import OnlineAgent
from .opponents import EXTERNAL, REGISTRY, make_opponent
from .opponents.spec import split_top_level
from .safety import SafePolicy
from .tensors import sample

__all__ = ["Agent", "Player", "PLAYERS", "OpponentPlayer", "make_player", "split_names", "META_CHECKPOINT", "META_SAFETY"]


class Agent:
    """Plays one match at a time: ``reset(seed)``, then ``act(last_opponent_move) -> move`` each round.

    Args:
        policy: a policy of :mod:`policygrad.policies` (``step`` and ``initial_state``).
        game: the game it plays.
        context: k, the rounds of history its observation shows.
        counts: whether its observation holds the running move frequencies.
        rounds: T of training (the denominator of the round feature).
    """

    def __init__(self, policy, game="rps", context: int = 1, counts: bool = False, rounds: int = 100, name: str = "agent") -> None:
        self.policy = policy
        self.game = make_game(game)
        self.context, self.counts, self.rounds, self.name = context, counts, rounds, name
        self.last_probs: list[float] | None = None
        self.reset()

    @classmethod
    def load(cls, path: str, safety: float | None = None) -> "Agent | ExpertAgent":
        """The agent of a checkpoint written by ``policygrad train`` (or a baseline of ``policygrad compare``), or
        an :class:`~policygrad.expert_agent.ExpertAgent` for an expert-mixture file (``policygrad.expert_train``, the shipped ``meta``).

        ``safety``: play it through :class:`policygrad.safety.SafePolicy` with a budget of that many
        points (the expected score of any match is then at least ``-safety``); None plays it as trained.
        """
        if load_checkpoint(expert_file(path)).get("kind") == EXPERT_KIND:  # the expert-mixture agent (`meta`) plays its own history
            return ExpertAgent.load(path, safety=safety)
        trained = load_trained(path)
        policy, name = trained.policy, trained.name
        if safety is not None:
            if trained.kind != "policy":
                raise ValueError(f"safety applies to policy-gradient checkpoints; {path} holds a '{trained.kind}' agent")
            policy, name = SafePolicy(policy, trained.game, trained.context, safety), f"{name}+safe({safety:g})"
        return cls(policy, trained.game, trained.context, trained.counts, trained.rounds, name=name)

    def reset(self, seed: int | None = None) -> None:
        """Start a new match (``seed`` seeds the agent's own draws)."""
        self.generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        self.t = 0
        self.ctx = encoding.empty_context(1, self.context)
        self.move_counts = torch.zeros(1, 2, self.game.num_actions) if self.counts else None
        self.hidden = self.policy.initial_state(1)
        self.my_last: int | None = None

    def observation(self) -> torch.Tensor:
        """[1, F]: what the policy sees before this round."""
        return encoding.encode(self.ctx, self.game.num_actions, self.t / self.rounds, self.move_counts)

    @torch.no_grad()
    def act(self, last_opponent_move: int | None = None) -> int:
        """This round's move, given the opponent's move of the previous round (None in round 1)."""
        a_num = self.game.num_actions
        if self.my_last is not None:
            if last_opponent_move is None or not 0 <= int(last_opponent_move) < a_num:
                raise ValueError(f"last_opponent_move must be a move in 0..{a_num - 1} after round 1, got {last_opponent_move!r}")
            o = int(last_opponent_move)
            self.ctx = encoding.record_round(self.ctx, self.move_counts, torch.tensor([self.my_last]), torch.tensor([o]), a_num)
            self.t += 1
        obs = self.observation().to(next(self.policy.parameters()).dtype)
        logp, self.hidden = self.policy.step(obs, self.hidden)
        probs = logp.exp()
        self.last_probs = probs[0].tolist()
        move = int(sample(probs, self.generator)[0])
        self.my_last = move
        return move


# -- every other player, and players by name ------------------------------------------------------


class Player(Protocol):
    """Plays one match at a time: ``reset(seed)``, then ``act(last_opponent_move) -> move``."""

    last_probs: list[float] | None

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, last_opponent_move: int | None = None) -> int: ...


class OpponentPlayer:
    """An opponent of the library in the agent's seat, as a :class:`Player` (one match, N = 1).

    Its ``probs()`` is read from the opponent's own perspective: its own moves are this player's
    moves, the "agent" it reacts to is the other side. Its moves are drawn from its own generator.
    """

    def __init__(self, spec: str, game: str | Game = "rps") -> None:
        self.opponent = make_opponent(spec)
        self.game = make_game(game)
        self.name = spec
        self.last_probs: list[float] | None = None
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self.generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        self.opponent.reset(1, self.game, self.generator, torch.float64)
        self.my_last: int | None = None
        self.last_probs = None

    def act(self, last_opponent_move: int | None = None) -> int:
        a_num = self.game.num_actions
        if self.my_last is not None:
            if last_opponent_move is None or not 0 <= int(last_opponent_move) < a_num:
                raise ValueError(f"last_opponent_move must be a move in 0..{a_num - 1} after round 1, got {last_opponent_move!r}")
            self.opponent.update(torch.tensor([self.my_last]), torch.tensor([int(last_opponent_move)]))
        probs_1A = self.opponent.probs()
        self.last_probs = probs_1A[0].tolist()
        self.my_last = int(sample(probs_1A, self.generator)[0])
        return self.my_last


META_CHECKPOINT = os.path.join(os.path.dirname(__file__), "data", "meta.pt")


META_SAFETY = 10.0  # points a match may risk (policygrad.safety): no opponent's expected take exceeds this


def _meta_agent(game: Game, safety: float | None = META_SAFETY):
    """The meta-trained recurrent agent shipped with the package: ``policygrad train --config
    agents/meta.toml`` (a GRU trained by policy gradient across a population of opponents), played
    safely (:class:`policygrad.safety.SafePolicy`, a budget of :data:`META_SAFETY` points)."""
    return Agent.load(META_CHECKPOINT, safety=safety)


# name -> factory(game) -> Player, or "module:attribute" of such a factory (imported on first use)
PLAYERS: dict[str, Callable[..., Any] | str] = {
    "uniform": lambda game="rps": OpponentPlayer("mixed", game),
    "online": OnlineAgent,
    "meta": expert_meta_player,  # a network trained by policy gradient to weigh online's predictors, played safely (docs/expert-meta.md)
    "meta-raw": lambda game="rps": expert_meta_player(game, safety=None),  # the same network as trained, unguarded
    "meta-gru": _meta_agent,  # the earlier GRU (agents/meta.toml), played safely
    "meta-gru-raw": lambda game="rps": _meta_agent(game, safety=None),  # the same GRU as trained, unguarded
}


def _factory(entry: Callable[..., Any] | str) -> Callable[..., Any]:
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        return getattr(importlib.import_module(module), attr)
    return entry


def make_player(name: str, game: str | Game = "rps"):
    """A :class:`Player` from a registered name, a checkpoint path or an opponent spec (see the module docstring)."""
    game = make_game(game)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"an agent must be a non-empty name, got {name!r}; allowed: {', '.join(PLAYERS)}, a checkpoint path or an opponent spec")
    name = name.strip()
    if name in PLAYERS:
        factory = _factory(PLAYERS[name])
        takes_game = bool(inspect.signature(factory).parameters) if callable(factory) else False
        player = factory(game) if takes_game else factory()
    elif os.path.exists(name):
        player = Agent.load(name)
    elif name.endswith((".pt", "/")) or os.sep in name and ":" not in name:
        raise FileNotFoundError(f"no checkpoint at {name!r}")
    else:
        try:
            player = OpponentPlayer(name, game)
        except ValueError as e:
            raise ValueError(
                f"unknown agent {name!r}: not a registered player ({', '.join(PLAYERS)}), not a checkpoint file, and not an opponent spec ({e})"
            ) from None
    player_game = getattr(player, "game", None)
    if isinstance(player_game, Game) and player_game != game:
        raise ValueError(f"agent {name!r} plays {player_game.name}, not {game.name}")
    return player


def split_names(text: str) -> list[str]:
    """Split a comma-separated list of agents or opponent specs whose own parameters may hold commas.

    A piece starts a new name when it is a registered player, an existing path, or begins with an
    opponent's name; anything else continues the previous one:
    ``"uniform,markov:order=2,decay=0.9,mixed:probs=0.5,0.3,0.2"`` -> three names."""
    names: list[str] = []
    for piece in split_top_level(text, ","):
        piece = piece.strip()
        if not piece:
            continue
        head = piece.split(":", 1)[0]
        starts = piece in PLAYERS or os.path.exists(piece) or ((head in REGISTRY or head in EXTERNAL) and (":" in piece or "=" not in piece))
        if names and not starts:
            names[-1] += "," + piece
        else:
            names.append(piece)
    if not names:
        raise ValueError(f"expected a comma-separated list of names, got {text!r}")
    return names
