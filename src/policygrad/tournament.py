"""Tournaments: every agent against every opponent, one match per seed, in parallel processes.

An *agent* is anything that plays one match move by move (the :class:`Player` protocol, as
:class:`policygrad.Agent`): ``reset(seed)``, then ``act(last_opponent_move) -> move`` each round,
with ``last_probs`` the distribution it drew the move from. :func:`make_player` resolves a name:

* a name of :data:`PLAYERS` (``uniform``; colleagues add theirs: ``PLAYERS["online"] = factory``,
  a callable ``factory(game) -> player``, or a ``"module:attribute"`` string imported on first use);
* a checkpoint file or run directory (:meth:`policygrad.Agent.load`);
* any opponent spec (``markov:order=2``, ``roshambo:bot=iocainebot``): the opponent in the
  agent's seat (:class:`OpponentPlayer`), handy for a tournament without trained agents.

An *opponent* is an opponent spec, played through the engine with N = 1 (outside bots are told the
match length, see :func:`policygrad.opponents.external.with_rounds`). Each (agent, opponent,
seed) match is independent: a process pool plays them (``jobs`` processes), or Ray, one task a match
(``backend="ray"``, :mod:`policygrad.distributed`: the same results), and an exception of
either side ends that match as a *forfeit* of that side, recorded with its error message; the
tournament goes on.

Scores are the agent's: mean reward per round of a pair over its completed matches, with its
standard error ``se`` and a 95% interval over seeds (Student's t for S - 1 degrees of freedom, as
:func:`policygrad.evaluate.match_stats`: 4.30 se for 3 seeds); an agent's mean is the average of its
pair means over the field, its standard error combines the pairs' standard errors
(sqrt(sum se^2) / pairs) and its interval takes the t quantile for the degrees of freedom of all
the pairs together (sum of S - 1). A forfeit counts as a loss of the side that forfeited (and a win of the other) in
wins/draws/losses, and leaves no reward in the means; an agent without one completed match has no
mean and no rank (``rank`` None: unranked, listed after the ranked agents), whatever its forfeit wins. A match whose process died (a bot that
crashed the interpreter) is replayed alone; if it kills its process again it is a forfeit of
unknown side (``"crash"``), counted in neither wins nor losses.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol

import torch

from .distributed import check_backend, ray_session, run_tasks
from .engine import Engine, sample
from .evaluate import match_stats
from .games import Game, make_game
from .limits import check_seed, check_size
from .opponents import make_opponent
from .stats import average_se, half_width

__all__ = [
    "Player",
    "PLAYERS",
    "OpponentPlayer",
    "make_player",
    "play_match",
    "run_tournament",
    "suite",
    "SUITES",
    "split_names",
    "Tournament",
    "plot_tournament",
]


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


MAX_ROUNDS = 1_000_000
"""The most rounds a tournament match may have: the longest match an outside bot is told of
(``kaggle:rounds``; a RoShamBo bot takes at most 100,000): already minutes of play per match, at about 0.1 ms a round."""
_MATCH_BYTES = 1024
"""What one match holds in memory until the tournament ends: its task, its record and its future."""

META_CHECKPOINT = os.path.join(os.path.dirname(__file__), "data", "meta.pt")


META_SAFETY = 10.0  # points a match may risk (policygrad.safety): no opponent's expected take exceeds this


def _meta_agent(game: Game, safety: float | None = META_SAFETY):
    """The meta-trained recurrent agent shipped with the package: ``policygrad train --config
    agents/meta.toml`` (a GRU trained by policy gradient across a population of opponents), played
    safely (:class:`policygrad.safety.SafePolicy`, a budget of :data:`META_SAFETY` points)."""
    from .agent import Agent

    return Agent.load(META_CHECKPOINT, safety=safety)


# name -> factory(game) -> Player, or "module:attribute" of such a factory (imported on first use)
PLAYERS: dict[str, Callable[..., Any] | str] = {
    "uniform": lambda game="rps": OpponentPlayer("mixed", game),
    "online": "policygrad.online:OnlineAgent",
    "meta": _meta_agent,
    "meta-raw": lambda game="rps": _meta_agent(game, safety=None),  # the same GRU as trained, unguarded
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
        from .agent import Agent

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
    from .opponents import EXTERNAL, REGISTRY
    from .opponents.base import split_top_level

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


# -- the matches ----------------------------------------------------------------------------------


class MoveTimeout(Exception):
    """A side took longer than the move time limit."""


def _timer(seconds: float | None) -> Callable[[float], None]:
    """``arm(s)`` starts (s > 0) or stops (s = 0) a real-time alarm that raises :class:`MoveTimeout`
    in Python code (a no-op without a limit)."""
    if not seconds:
        return lambda s: None

    def fire(signum, frame):
        raise MoveTimeout(f"no move within the limit of {seconds:g} s")

    signal.signal(signal.SIGALRM, fire)
    return lambda s: signal.setitimer(signal.ITIMER_REAL, s)


def play_match(agent: str, opponent: str, rounds: int, seed: int, game: str = "rps", move_timeout: float | None = None) -> dict:
    """One match of ``rounds`` rounds: the agent (a :func:`make_player` name) against an opponent spec.

    ``move_timeout`` (seconds) limits each side's time per round (as Kaggle's ``actTimeout``); a
    side that exceeds it forfeits. It interrupts Python code only (a loop inside a C extension runs
    on), and only on the main thread of a POSIX process (where a tournament's workers play).

    Returns ``{agent, opponent, seed, total, rounds_played, forfeit, error}``; ``total`` is the
    agent's summed reward (None after a forfeit), ``forfeit`` is None, ``"agent"`` or ``"opponent"``.
    """
    timed = bool(move_timeout) and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    old_handler = signal.getsignal(signal.SIGALRM) if timed else None
    try:
        return _play_match(agent, opponent, rounds, seed, game, move_timeout if timed else None)
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL if old_handler is None else old_handler)


def _play_match(agent: str, opponent: str, rounds: int, seed: int, game: str, move_timeout: float | None) -> dict:
    from .opponents.external import with_rounds

    record = {"agent": agent, "opponent": opponent, "seed": seed, "total": None, "rounds_played": 0, "forfeit": None, "error": None}
    arm = _timer(move_timeout)
    limit = move_timeout or 0.0

    def forfeit(side: str, e: BaseException) -> dict:
        record["forfeit"], record["error"] = side, f"{type(e).__name__}: {e}"
        return record

    try:
        player = make_player(agent, game)
        player.reset(seed)
    except Exception as e:  # noqa: BLE001 - the agent's failure is its forfeit
        return forfeit("agent", e)
    try:
        engine = Engine(with_rounds(make_opponent(opponent), rounds), n=1, rounds=rounds, context=0, game=game, seed=seed)
        arm(limit)
        try:
            engine.reset()  # the opponent's first move is asked here
        finally:
            arm(0)
    except Exception as e:  # noqa: BLE001
        return forfeit("opponent", e)
    a_num = engine.num_actions
    total, last = 0.0, None
    for t in range(rounds):
        try:
            arm(limit)
            try:
                move = player.act(last)
            finally:
                arm(0)
            if isinstance(move, bool) or not isinstance(move, int) or not 0 <= move < a_num:
                raise ValueError(f"the agent played {move!r} in round {t + 1}; allowed: an int in 0..{a_num - 1}")
        except Exception as e:  # noqa: BLE001
            return forfeit("agent", e)
        try:
            arm(limit)
            try:
                _, reward, _, info = engine.step(torch.tensor([move]))  # the opponent's next move is asked here
            finally:
                arm(0)
        except Exception as e:  # noqa: BLE001
            return forfeit("opponent", e)
        total += float(reward[0])
        last = int(info["opponent_move"][0])
        record["rounds_played"] = t + 1
    record["total"] = total
    return record


def _init_worker() -> None:
    torch.set_num_threads(1)  # one process per core; no oversubscription


def _play_task(task: tuple) -> dict:
    return play_match(*task)


def _crash_record(task: tuple, e: BaseException) -> dict:
    agent, opponent, _, seed = task[:4]
    return {"agent": agent, "opponent": opponent, "seed": seed, "total": None, "rounds_played": 0, "forfeit": "crash",
            "error": f"the process playing this match died ({type(e).__name__}: {e})"}  # fmt: skip


def _run_tasks(tasks: list[tuple], jobs: int, progress: Callable[[int, int], None] | None) -> list[dict]:
    done: dict[int, dict] = {}

    def report() -> None:
        if progress:
            progress(len(done), len(tasks))

    if jobs <= 1:
        for i, task in enumerate(tasks):
            done[i] = _play_task(task)
            report()
        return [done[i] for i in range(len(tasks))]
    broken: list[int] = []
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), initializer=_init_worker)
    try:
        futures = {pool.submit(_play_task, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            i = futures[future]
            try:
                done[i] = future.result()
            except BrokenProcessPool:
                broken.append(i)
                continue
            report()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    for i in sorted(broken):  # a worker died (a bot crashed the interpreter): replay each alone to find the culprit
        with ProcessPoolExecutor(max_workers=1, initializer=_init_worker) as alone:
            try:
                done[i] = alone.submit(_play_task, tasks[i]).result()
            except BrokenProcessPool as e:
                done[i] = _crash_record(tasks[i], e)
        report()
    return [done[i] for i in range(len(tasks))]


# -- the results ----------------------------------------------------------------------------------


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


@dataclass
class Tournament:
    """The outcome of :func:`run_tournament`: the leaderboard, one row per pair, and every match."""

    game: str
    rounds: int
    seeds: list[int]
    agents: list[str]
    opponents: list[str]
    leaderboard: list[dict] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)
    matches: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def pair(self, agent: str, opponent: str) -> dict:
        return next(p for p in self.pairs if p["agent"] == agent and p["opponent"] == opponent)

    @property
    def forfeits(self) -> list[dict]:
        return [m for m in self.matches if m["forfeit"]]


def _summarise(agents: list[str], opponents: list[str], matches: list[dict], rounds: int) -> tuple[list[dict], list[dict]]:
    pairs = []
    for agent in agents:
        for opponent in opponents:
            ms = [m for m in matches if m["agent"] == agent and m["opponent"] == opponent]
            totals = [m["total"] for m in ms if m["forfeit"] is None]
            lost = sum(m["forfeit"] == "agent" for m in ms)
            won = sum(m["forfeit"] == "opponent" for m in ms)
            row = {"agent": agent, "opponent": opponent, "mean": None, "ci95": None, "se": None, "matches": len(ms), "completed": len(totals),
                   "wins": won, "draws": 0, "losses": lost, "forfeits": len(ms) - len(totals),
                   "errors": sorted({m["error"] for m in ms if m["error"]})}  # fmt: skip
            if totals:
                s = match_stats(torch.tensor(totals, dtype=torch.float64), rounds)
                row.update(mean=s.mean, ci95=_num(s.ci95), se=_num(s.se), wins=won + s.wins, draws=s.ties, losses=lost + s.losses)
            pairs.append(row)
    board = []
    for agent in agents:
        rows = [p for p in pairs if p["agent"] == agent]
        scored = [p for p in rows if p["mean"] is not None]
        entry = {"agent": agent, "mean": None, "ci95": None, "se": None, "opponents": len(rows), "scored": len(scored),
                 "wins": sum(p["wins"] for p in rows), "draws": sum(p["draws"] for p in rows),
                 "losses": sum(p["losses"] for p in rows), "forfeits": sum(p["forfeits"] for p in rows),
                 "worst_opponent": None, "worst_mean": None}  # fmt: skip
        if scored:
            entry["mean"] = sum(p["mean"] for p in scored) / len(scored)
            if all(p["se"] is not None for p in scored):  # the field is fixed: combine the pairs' standard errors
                entry["se"] = average_se([p["se"] for p in scored])
                entry["ci95"] = half_width(entry["se"], sum(p["completed"] - 1 for p in scored))
            worst = min(scored, key=lambda p: p["mean"])
            entry["worst_opponent"], entry["worst_mean"] = worst["opponent"], worst["mean"]
        board.append(entry)
    # an agent with no completed match has no score: unranked (rank None), below every agent that played
    board.sort(key=lambda e: -math.inf if e["mean"] is None else e["mean"], reverse=True)
    for rank, entry in enumerate(board, start=1):
        entry["rank"] = rank if entry["mean"] is not None else None
    return board, pairs


def run_tournament(
    agents: list[str],
    opponents: list[str],
    rounds: int = 1000,
    seeds: int = 3,
    game: str = "rps",
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    move_timeout: float | None = None,
    backend: str = "local",
    address: str | None = None,
) -> Tournament:
    """Every agent against every opponent, ``seeds`` matches of ``rounds`` rounds each (seeds 0..S-1).

    Names are checked before any match is played (an unknown agent or opponent, a missing extra,
    a missing file stop with one clear error); failures during play are forfeits.

    Args:
        agents: :func:`make_player` names.
        opponents: opponent specs (``policygrad opponents``, ``roshambo:bot=NAME``, ``kaggle:path=FILE``).
        rounds: T, rounds per match (>= 1).
        seeds: S, matches per pair (>= 1).
        game: the game's spec.
        jobs: worker processes (default: the number of CPUs; 1 plays in this process).
        progress: called with (matches done, matches in all).
        move_timeout: seconds a side may take per round before it forfeits (None: no limit); see :func:`play_match`.
        backend: ``"local"`` (a process pool of ``jobs`` processes) or ``"ray"`` (one Ray task per
            match, :mod:`policygrad.distributed`; a local Ray of ``jobs`` CPUs unless ``address``
            names a cluster). The same seeds give the same JSON on either.
        address: the Ray cluster to join (``ray start --head`` elsewhere); ray backend only.
    """
    check_backend(backend, address)
    for what, value in (("rounds", rounds), ("seeds", seeds)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    if rounds > MAX_ROUNDS:
        raise ValueError(f"rounds must be at most {MAX_ROUNDS:,} per match (the longest match an outside bot is told of), got {rounds:,}")
    check_seed("the last seed (seeds - 1)", seeds - 1)
    if jobs is None:
        jobs = os.cpu_count() or 1
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    agents, opponents = list(agents), list(opponents)
    for what, names in (("agents", agents), ("opponents", opponents)):
        if not names:
            raise ValueError(f"a tournament needs at least one of its {what}")
        if len(set(names)) != len(names):
            raise ValueError(f"{what} given twice: {sorted({n for n in names if names.count(n) > 1})}")
    g = make_game(game)
    for name in agents:
        make_player(name, g)
    for spec in opponents:
        make_opponent(spec).check_game(g)
    if move_timeout is not None and not (isinstance(move_timeout, (int, float)) and move_timeout > 0):
        raise ValueError(f"move_timeout must be a number of seconds > 0, got {move_timeout!r}")
    n_matches = len(agents) * len(opponents) * seeds
    check_size(f"a tournament of {n_matches:,} matches", n_matches * _MATCH_BYTES, hint="Use fewer seeds, agents or opponents")
    tasks = [(a, o, rounds, s, g.name, move_timeout) for a in agents for o in opponents for s in range(seeds)]
    if backend == "ray":
        with ray_session(address, None if address else jobs, "tournament --backend ray"):
            matches = run_tasks(play_match, tasks, progress, on_crash=_crash_record)
    else:
        matches = _run_tasks(tasks, jobs, progress)
    board, pairs = _summarise(agents, opponents, matches, rounds)
    return Tournament(g.name, rounds, list(range(seeds)), agents, opponents, board, pairs, matches)


def _roshambo() -> list[str]:
    from .opponents.external import roshambo_bot_names

    return [f"roshambo:bot={name}" for name in roshambo_bot_names()]


def _kaggle() -> list[str]:
    from .opponents.external import kaggle_agent_names

    return [f"kaggle:agent={name}" for name in kaggle_agent_names()]


SUITES: dict[str, Callable[[], list[str]]] = {"roshambo": _roshambo, "kaggle": _kaggle}


def suite(name: str) -> list[str]:
    """The opponent specs of a named field: ``roshambo`` (the 43 competition bots) or ``kaggle``
    (kaggle-environments' built-in RPS agents). A missing extra is a clear error naming it."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; allowed: {', '.join(SUITES)}")
    return SUITES[name]()


def plot_tournament(result: Tournament, path: str) -> str:
    """A heat map of the mean reward per round of every (agent, opponent) pair, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .plots import save_figure

    grid = np.full((len(result.agents), len(result.opponents)), np.nan)
    for p in result.pairs:
        if p["mean"] is not None:
            grid[result.agents.index(p["agent"]), result.opponents.index(p["opponent"])] = p["mean"]
    scale = float(make_game(result.game).payoff.abs().max())
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(result.opponents) + 3), max(2.5, 0.45 * len(result.agents) + 2)))
    cmap = plt.get_cmap("RdBu").with_extremes(bad="0.75")  # grey: forfeited pairs
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-scale, vmax=scale, aspect="auto")
    ax.set_xticks(
        range(len(result.opponents)), [o.split("=", 1)[-1] if o.startswith(("roshambo:", "kaggle:")) else o for o in result.opponents], rotation=90, fontsize=8
    )
    ax.set_yticks(range(len(result.agents)), result.agents, fontsize=9)
    if len(result.opponents) <= 20 and grid.size <= 200:  # numbers in the cells while they fit
        for (i, j), v in np.ndenumerate(grid):
            dark = not np.isnan(v) and abs(v) > 0.6 * scale
            ax.text(j, i, "F" if np.isnan(v) else f"{v:+.2f}", ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_title(f"mean reward per round of the agent ({result.rounds} rounds x {len(result.seeds)} seeds; grey/F: forfeit)")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    return save_figure(fig, path)
