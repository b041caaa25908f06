"""Outside bots as opponents: the RoShamBo competition bots (OpenSpiel) and Kaggle-style agents.

Legend: N matches, A actions.

These adapters satisfy the :class:`~policygrad.opponents.base.Opponent` contract on an
*unbatched* path: N matches are N separate bot instances, stepped one by one in Python. Each
``probs()`` is the one-hot [N, A] of the move every bot has chosen from the history of earlier
rounds; ``update`` tells each bot both moves of the round. They play Rock-Paper-Scissors only
(0 rock, 1 paper, 2 scissors in OpenSpiel, Kaggle and here alike).

* ``roshambo:bot=iocainebot`` -- one of the 43 bots of the 1999 International RoShamBo
  Programming Competition (and Greenberg, winner of 2000), shipped inside the ``open-spiel``
  wheel: ``pip install 'policygrad[roshambo]'``. A bot is an OpenSpiel ``Bot`` that reads the
  history of a ``repeated_game(stage_game=matrix_rps())`` state, the bot as player 0.
* ``kaggle:path=FILE.py`` -- an agent of the Kaggle RPS competition, ``agent(observation,
  configuration) -> int``: the last function the file defines (or ``function=NAME``), the file run
  afresh for every match. ``kaggle:agent=NAME`` is a built-in agent of ``kaggle-environments``
  (``pip install 'policygrad[kaggle]'``).

Building an opponent runs nothing: a Kaggle file is only read and compiled (a syntax error, or a
file without the function, is refused at once); it runs when a match starts (``reset``). A spec
read from a stored file is checked with ``check_params`` (the parameters alone: no file read, no
module imported), and ``kaggle:path`` is the one spec that ``runs_outside_code`` (see
:func:`policygrad.opponents.refuse_outside_code`).

Randomness: both kinds of bot draw from process-wide generators (C's ``random()``, Python's
``random`` and NumPy's global state); ``reset`` seeds them from one draw of the engine's
generator, so the same seed gives the same play, as for every other opponent.

A bot that raises, or returns something that is not a move, stops the match with a
:class:`BotError` naming the bot, the round and the cause (a tournament records it as a forfeit).
Branching a history (``select``, used by exact analysis) is not possible for an outside bot.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import numbers
import os
import random
import runpy
import sys
import types
from typing import Any, Callable

import numpy
import torch

from .base import Opponent, Param

__all__ = [
    "Roshambo",
    "Kaggle",
    "EXTERNAL_OPPONENTS",
    "BotError",
    "MissingExtraError",
    "install_hint",
    "roshambo_bot_names",
    "kaggle_agent_names",
    "with_rounds",
]

RPS_MOVES = ("rock", "paper", "scissors")


class BotError(RuntimeError):
    """An outside bot raised an exception or returned something that is not a move."""


class MissingExtraError(RuntimeError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def install_hint(extra: str) -> str:
    """How to install an optional extra, for a pip install and for a checkout of the repository:
    ``pip install 'policygrad[roshambo]' (in a checkout: .venv/bin/pip install -e '.[roshambo]')``."""
    return f"pip install 'policygrad[{extra}]' (in a checkout: .venv/bin/pip install -e '.[{extra}]')"


class Text(Param):
    """A free-text parameter (a bot name, a file path)."""

    def allowed(self) -> str:
        return self.help

    def parse(self, owner: str, raw: Any) -> str:
        if not isinstance(raw, str):
            raise ValueError(f"{owner}: bad value {raw!r} for parameter '{self.name}'; allowed: {self.allowed()}")
        return raw.strip()


def _pyspiel():
    try:
        import pyspiel
    except ImportError as e:
        raise MissingExtraError(f"roshambo bots need OpenSpiel, which is not installed ({e}); install it with: {install_hint('roshambo')}") from None
    return pyspiel


_KAGGLE_PACKAGE = "_policygrad_kaggle_rps"


def _kaggle_builtin_agents() -> dict[str, Callable]:
    """A fresh copy (its own globals) of kaggle-environments' RPS agents, ``{name: agent}``.

    The agents' file is run directly: importing ``kaggle_environments`` itself loads every one of
    its environments (seconds, and noise on the terminal)."""
    spec = importlib.util.find_spec("kaggle_environments")  # finds the package without running it
    folder = os.path.join(list(spec.submodule_search_locations or [""])[0], "envs", "rps") if spec else ""
    if not os.path.isfile(os.path.join(folder, "agents.py")):
        raise MissingExtraError(f"kaggle built-in agents need kaggle-environments, which is not installed; install it with: {install_hint('kaggle')}")
    if _KAGGLE_PACKAGE not in sys.modules:  # a stand-in package, so that agents.py's "from .utils import" works
        package = types.ModuleType(_KAGGLE_PACKAGE)
        package.__path__ = [folder]
        sys.modules[_KAGGLE_PACKAGE] = package
    module_spec = importlib.util.spec_from_file_location(f"{_KAGGLE_PACKAGE}.agents", os.path.join(folder, "agents.py"))
    assert module_spec is not None and module_spec.loader is not None, "a .py path always has a spec with a loader"
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return dict(module.agents)


def roshambo_bot_names() -> list[str]:
    """The names of the RoShamBo competition bots OpenSpiel ships (43 of them)."""
    return list(_pyspiel().roshambo_bot_names())


def kaggle_agent_names() -> list[str]:
    """The built-in RPS agents of kaggle-environments (``rock``, ``copy_opponent``, ``statistical``, ...)."""
    return list(_kaggle_builtin_agents())


def _seed_everything(generator: torch.Generator | None) -> int:
    """One draw from the engine's generator seeds the process-wide generators the bots use."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    random.seed(seed)
    numpy.random.seed(seed)
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.srandom(seed)
        libc.srand(seed)
    except (OSError, AttributeError):  # pragma: no cover - not a POSIX libc
        pass
    return seed


def _check_move(value: Any, who: str, round_: int, num_actions: int = 3) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) < num_actions:
        raise BotError(f"{who} returned {value!r} in round {round_ + 1}; allowed: an int in 0..{num_actions - 1}")
    return int(value)


def with_rounds(opponent: Opponent, rounds: int) -> Opponent:
    """``opponent`` told the match length ``rounds``: a RoShamBo bot built for at least that many
    throws, a Kaggle agent told ``episodeSteps = rounds + 1`` (unless its spec set a length)."""
    if isinstance(opponent, Roshambo) and rounds > opponent.rounds:
        return Roshambo(**{**opponent.config, "rounds": rounds})
    if isinstance(opponent, Kaggle) and opponent.config["rounds"] == 1000 and rounds != 1000:
        return Kaggle(**{**opponent.config, "rounds": rounds})
    return opponent


class _PerMatch(Opponent):
    """An outside bot per match, looped in Python: each subclass gives ``_move(i)``, match i's move."""

    _probs: torch.Tensor | None  # this round's one-hot [N, A], None until asked
    _moves: torch.Tensor  # this round's moves [N]

    def _move(self, i: int) -> int:
        raise NotImplementedError

    @classmethod
    def check_params(cls, values) -> None:
        """The parameters alone: no bot is looked up, no file read, no module imported."""
        cls.parse_params(values)

    def check_game(self, game) -> None:
        if tuple(a.lower() for a in game.actions) != RPS_MOVES:
            raise ValueError(f"{self.name}: outside bots play rock, paper, scissors only; got the game {game.name} with moves {', '.join(game.actions)}")

    def probs(self) -> torch.Tensor:
        return self.next_move()[0]

    def next_move(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(one-hot probs [N, A], moves [N]): every bot's move, asked once per round."""
        if self._probs is None:
            moves = torch.tensor([self._move(i) for i in range(self.n)], dtype=torch.long)
            self._probs, self._moves = self.one_hot(moves), moves
        return self._probs.clone(), self._moves.clone()

    def select(self, index_M: torch.Tensor) -> None:
        raise NotImplementedError(f"{self.spec}: an outside bot cannot branch a history (exact analysis needs a batched opponent)")


class Roshambo(_PerMatch):
    """A bot of the 1999 International RoShamBo Programming Competition, run by OpenSpiel.

    Darse Billings' competition (https://webdocs.cs.ualberta.ca/~darse/rsbpc.html): dummy bots
    (rockbot, rotatebot, ...) and strong predictors (iocainebot, greenberg, ...). Each match gets
    its own ``pyspiel.make_roshambo_bot(0, bot, rounds)``, stepped on a repeated-RPS state.
    """

    name = "roshambo"
    bot: str
    rounds: int
    params = (
        Text("bot", "text", "", "a bot name of pyspiel.roshambo_bot_names(), e.g. iocainebot"),
        # fewer than the competition's 1000 throws crashes some bots (memory errors in their C code)
        Param("rounds", "int", 1000, "the longest match the bot is built for (num_throws, at least the competition's 1000)", 1000, 100_000),
    )
    memory_depth = float("inf")
    stochastic = True
    adaptive = True

    @classmethod
    def check_params(cls, values) -> None:
        if not cls.parse_params(values)["bot"]:
            raise ValueError("roshambo: give bot=NAME, a bot of pyspiel.roshambo_bot_names() (e.g. iocainebot)")

    def check(self) -> None:
        names = roshambo_bot_names()
        if self.bot not in names:
            raise ValueError(f"roshambo: unknown bot {self.bot!r}; allowed: {', '.join(names)}")

    def _reset(self, generator) -> None:
        pyspiel = _pyspiel()
        self._game = pyspiel.load_game(f"repeated_game(stage_game=matrix_rps(),num_repetitions={self.rounds})")
        _seed_everything(generator)
        self._bots = [pyspiel.make_roshambo_bot(0, self.bot, self.rounds) for _ in range(self.n)]
        self._states = [self._game.new_initial_state() for _ in range(self.n)]
        self._probs = None

    def _move(self, i: int) -> int:
        if self.t >= self.rounds:
            raise BotError(f"roshambo:bot={self.bot} is built for {self.rounds} rounds; use roshambo:bot={self.bot},rounds=N for longer matches")
        try:
            move = self._bots[i].step(self._states[i])
        except Exception as e:  # noqa: BLE001 - any failure of the bot is its forfeit
            raise BotError(f"roshambo:bot={self.bot} failed in round {self.t + 1}: {type(e).__name__}: {e}") from e
        return _check_move(move, f"roshambo:bot={self.bot}", self.t)

    def update(self, own_moves: torch.Tensor, agent_moves: torch.Tensor) -> None:
        for state, o, a in zip(self._states, own_moves.tolist(), agent_moves.tolist()):
            state.apply_actions([o, a])  # the bot is player 0
        self._probs = None
        super().update(own_moves, agent_moves)


class Observation(dict):
    """A dict whose keys read as attributes too, like kaggle-environments' ``Struct``."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


class Kaggle(_PerMatch):
    """An agent of the Kaggle Rock-Paper-Scissors competition: ``agent(observation, configuration) -> int``.

    https://www.kaggle.com/competitions/rock-paper-scissors. ``observation`` holds ``step`` (0 in
    the first round), ``lastOpponentAction`` (the agent's previous move; absent in round 1) and
    ``reward`` (the bot's running score); ``configuration`` holds ``signs`` (3) and
    ``episodeSteps`` (rounds + 1). A file's agent is the last function it defines, or
    ``function=NAME``; the file is run in a fresh namespace for every match.
    """

    name = "kaggle"
    path: str
    agent: str
    function: str
    rounds: int
    params = (
        Text("path", "text", "", "the path of a Python file that defines agent(observation, configuration)"),
        Text("agent", "text", "", "a built-in agent of kaggle-environments, e.g. copy_opponent"),
        Text("function", "text", "", "the name of the agent function in the file (default: the last function defined)"),
        Param("rounds", "int", 1000, "the match length the agent is told (episodeSteps - 1)", 1, 1_000_000),
    )
    memory_depth = float("inf")
    stochastic = True
    adaptive = True

    @classmethod
    def check_params(cls, values) -> None:
        _one_source(cls.parse_params(values))

    @classmethod
    def runs_outside_code(cls, values) -> bool:
        return bool(str(values.get("path", "")).strip())

    def check(self) -> None:
        _one_source(self.config)
        if self.agent:
            names = kaggle_agent_names()
            if self.agent not in names:
                raise ValueError(f"kaggle: unknown built-in agent {self.agent!r}; allowed: {', '.join(names)}")
        else:
            self._compile()  # syntax errors and a file without a function show up now, not mid-tournament

    def _compile(self) -> None:
        """The file exists, compiles, and defines a function (with ``function=NAME``: binds NAME).
        Nothing in it runs: it is parsed and compiled, not executed."""
        try:
            with open(self.path, "rb") as fh:
                source = fh.read()
        except OSError as e:
            raise ValueError(f"kaggle: no agent file {self.path!r} ({e.strerror or type(e).__name__})") from None
        try:
            tree = ast.parse(source, filename=self.path)
            compile(tree, self.path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as e:  # ValueError: null bytes, on some Pythons
            where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
            raise ValueError(f"kaggle: {self.path} is not valid Python{where}: {type(e).__name__}: {e.msg if isinstance(e, SyntaxError) else e}") from None
        nodes = list(ast.walk(tree))
        if self.function:
            bound = {n.name for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
            bound |= {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            bound |= {(a.asname or a.name).split(".")[0] for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
            if self.function not in bound:
                raise ValueError(f"kaggle: {self.path} defines no function {self.function!r}")
        elif not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) for n in nodes):
            raise ValueError(f"kaggle: {self.path} defines no function; expected agent(observation, configuration)")

    @property
    def label(self) -> str:
        return f"kaggle:agent={self.agent}" if self.agent else f"kaggle:path={self.path}"

    def _load(self) -> Callable:
        """The agent function, from a fresh run of its file (or a fresh copy of the built-ins)."""
        if self.agent:
            return _kaggle_builtin_agents()[self.agent]
        path = os.path.abspath(self.path)
        try:
            namespace = runpy.run_path(path, run_name="__kaggle_agent__")
        except Exception as e:  # noqa: BLE001
            raise BotError(f"{self.label}: loading the file failed: {type(e).__name__}: {e}") from e
        if self.function:
            fn = namespace.get(self.function)
            if not callable(fn):
                raise ValueError(f"kaggle: {self.path} defines no function {self.function!r}")
            return fn
        defined = [v for v in namespace.values() if inspect.isfunction(v) and v.__code__.co_filename == path]
        if not defined:
            raise ValueError(f"kaggle: {self.path} defines no function; expected agent(observation, configuration)")
        return defined[-1]

    def _reset(self, generator) -> None:
        _seed_everything(generator)
        self._agents = [self._load() for _ in range(self.n)]
        self._config = Observation(signs=self.num_actions, episodeSteps=self.rounds + 1, tieRewardThreshold=20, actTimeout=1, agentTimeout=60)
        self._last_agent: list[int] | None = None
        self._score = [0.0] * self.n
        self._probs = None

    def _move(self, i: int) -> int:
        score = self._score[i]
        obs = Observation(step=self.t, reward=int(score) if score.is_integer() else score, remainingOverageTime=60)
        if self._last_agent is not None:
            obs["lastOpponentAction"] = self._last_agent[i]
        try:
            move = self._agents[i](obs, Observation(self._config))
        except Exception as e:  # noqa: BLE001 - any failure of the bot is its forfeit
            raise BotError(f"{self.label} failed in round {self.t + 1}: {type(e).__name__}: {e}") from e
        return _check_move(move, self.label, self.t, self.num_actions)

    def update(self, own_moves: torch.Tensor, agent_moves: torch.Tensor) -> None:
        own, agent = own_moves.tolist(), agent_moves.tolist()
        for i in range(self.n):
            self._score[i] += float(self.game.payoff[own[i], agent[i]])  # the bot's own reward
        self._last_agent = agent
        self._probs = None
        super().update(own_moves, agent_moves)


def _one_source(config: dict) -> None:
    if bool(config["path"]) == bool(config["agent"]):
        raise ValueError("kaggle: give exactly one of path=FILE.py or agent=NAME")


EXTERNAL_OPPONENTS: tuple[type[Opponent], ...] = (Roshambo, Kaggle)
