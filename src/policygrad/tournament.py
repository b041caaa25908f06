"""Tournaments: every agent against every opponent, one match per seed, in parallel processes.

An *agent* is a :class:`policygrad.agent.Player` named as :func:`policygrad.agent.make_player`
resolves it (a registered name of :data:`policygrad.agent.PLAYERS`, a checkpoint, or an opponent
spec in the agent's seat); ``Player``, ``PLAYERS``, ``make_player``, ``OpponentPlayer`` and
``split_names`` are importable from here too. ``plot_tournament`` lives in :mod:`policygrad.plots`.

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

import math
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch

from .deprecated import moved
from .agent import PLAYERS, OpponentPlayer, Player, make_player, split_names
from .distributed import check_backend, ray_session, run_tasks
from .engine import Engine
from .evaluate import match_stats
from .games import make_game
from .limits import check_seed, check_size
from .opponents import make_opponent
from .opponents.external import kaggle_agent_names, roshambo_bot_names, with_rounds
from .stats import average_se, half_width

__all__ = [
    "Player",  # from policygrad.agent, where players live
    "PLAYERS",
    "OpponentPlayer",
    "make_player",
    "play_match",
    "run_tournament",
    "suite",
    "SUITES",
    "split_names",
    "Tournament",
]


MAX_ROUNDS = 1_000_000
"""The most rounds a tournament match may have: the longest match an outside bot is told of
(``kaggle:rounds``; a RoShamBo bot takes at most 100,000): already minutes of play per match, at about 0.1 ms a round."""
_MATCH_BYTES = 1024
"""What one match holds in memory until the tournament ends: its task, its record and its future."""

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
    return [f"roshambo:bot={name}" for name in roshambo_bot_names()]


def _kaggle() -> list[str]:
    return [f"kaggle:agent={name}" for name in kaggle_agent_names()]


SUITES: dict[str, Callable[[], list[str]]] = {"roshambo": _roshambo, "kaggle": _kaggle}


def suite(name: str) -> list[str]:
    """The opponent specs of a named field: ``roshambo`` (the 43 competition bots) or ``kaggle``
    (kaggle-environments' built-in RPS agents). A missing extra is a clear error naming it."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; allowed: {', '.join(SUITES)}")
    return SUITES[name]()


__getattr__ = moved(
    __name__,
    {
        "plot_tournament": "policygrad.plots:plot_tournament",
        "META_CHECKPOINT": "policygrad.agent:META_CHECKPOINT",
        "META_SAFETY": "policygrad.agent:META_SAFETY",
    },
)
