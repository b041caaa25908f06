"""``policygrad evaluate``, ``exploitability``, ``tournament`` and ``play``: measure a trained agent."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..distributed import BACKENDS
from ..evaluate import evaluate_checkpoint
from ..exploitability import approximate_exploitability, checkpoint_exploitability
from ..files import check_writable_file
from ..games import make_game
from ..agent import make_player, split_names
from ..plots import plot_tournament
from ..tournament import SUITES, run_tournament, suite
from .common import GAME_HELP, OPPONENT_HELP, add_options, at_least, console, defaults_of, from_args, option, path_arg, seed_arg

ADDRESS_HELP = "--backend ray: the Ray cluster to join, e.g. HEAD_IP:6379 (default: a local Ray started and stopped here)"

# -- evaluate -----------------------------------------------------------------------------------------------

_EVALUATE = defaults_of(evaluate_checkpoint)


@dataclass(frozen=True)
class EvaluateOptions:
    checkpoint: str = option(help="checkpoint.pt or its run directory", positional=True, type=path_arg)
    opponent: str = option(help=OPPONENT_HELP)
    matches: int = option(_EVALUATE.matches, "matches played (the rounds per match are the checkpoint's)", type=at_least(1))
    seed: int = option(_EVALUATE.seed, "seed of both sides' draws", type=seed_arg)
    json: bool = option(False, "print one JSON object")


def cmd_evaluate(args) -> int:
    o = from_args(EvaluateOptions, args)
    stats = evaluate_checkpoint(o.checkpoint, o.opponent, o.matches, o.seed)
    if o.json:
        print(json.dumps({"checkpoint": o.checkpoint, "opponent": o.opponent, **stats.to_dict()}, indent=2))
        return 0
    console.print(
        f"vs {o.opponent}: {stats.mean:+.4f} ± {stats.ci95:.4f} reward per round (95%, {stats.matches} matches x {stats.rounds} rounds); "
        f"wins/ties/losses {stats.wins}/{stats.ties}/{stats.losses}"
    )
    return 0


# -- exploitability -----------------------------------------------------------------------------------------

_EXPLOITABILITY, _APPROXIMATE = defaults_of(checkpoint_exploitability), defaults_of(approximate_exploitability)


@dataclass(frozen=True)
class ExploitabilityOptions:
    checkpoint: str = option(
        help="checkpoint.pt (policy-gradient or baseline), its run directory, or a registered player (online, meta, meta-raw, ...)",
        positional=True,
        type=path_arg,
    )
    max_states: int = option(_EXPLOITABILITY.max_states, "above this many states in one round, fall back to the approximate method", type=at_least(1))
    iterations: int = option(_APPROXIMATE.iterations, "approximate method (recurrent policies): the best-response learner's iterations", type=at_least(1))
    safety: float | None = option(
        _EXPLOITABILITY.safety, "measure the agent played safely with a budget of EPS points (policygrad.safety; default: as trained)", metavar="EPS"
    )
    seed: int = option(_APPROXIMATE.seed, "seed of the approximate method's learner and evaluation", type=seed_arg)
    rounds: int = option(_EXPLOITABILITY.rounds, "a player that is no torch policy (online, meta): rounds of each mind-reader match", type=at_least(1))
    matches: int = option(_EXPLOITABILITY.matches, "a player that is no torch policy: mind-reader matches", type=at_least(1))
    json: bool = option(False, "print one JSON object")


def cmd_exploitability(args) -> int:
    o = from_args(ExploitabilityOptions, args)
    result = checkpoint_exploitability(
        o.checkpoint, max_states=o.max_states, safety=o.safety, rounds=o.rounds, matches=o.matches, iterations=o.iterations, seed=o.seed
    )
    if o.json:
        print(json.dumps({"checkpoint": o.checkpoint, **result.to_dict()}, indent=2))
        return 0
    label = "exact" if result.exact else f"APPROXIMATE (a lower bound, ± {result.ci95:.4f})"
    console.print(
        f"exploitability of {o.checkpoint}: {result.value:.4f} per round over {result.rounds} rounds ({label}; {result.method}"
        + (f", {result.states:,} states" if result.exact else "")
        + f", {result.seconds:.1f} s)"
        + ("" if result.bound is None else f"; at most {result.bound:.4f} per round against any opponent (the safe-play budget)"),
        highlight=False,
    )
    return 0


# -- tournament ---------------------------------------------------------------------------------------------

_TOURNAMENT = defaults_of(run_tournament)


@dataclass(frozen=True)
class TournamentOptions:
    # the two lists are split in the handler (split_names knows players, paths and specs): a bad name is one error line
    agents: str = option(help="comma-separated: registered players (uniform, ...), checkpoint paths or opponent specs")
    opponents: str | None = option(
        None, "comma-separated opponent specs, e.g. frequency,roshambo:bot=iocainebot,kaggle:path=agent.py (default: none; give --opponents and/or --suite)"
    )
    suite: tuple = option((), "add a field of outside bots (repeatable)", append=True, choices=tuple(SUITES))
    rounds: int = option(_TOURNAMENT.rounds, "rounds per match (at most 1,000,000)", type=at_least(1))
    seeds: int = option(_TOURNAMENT.seeds, "matches per (agent, opponent) pair, seeds 0..S-1", type=at_least(1))
    game: str = option(_TOURNAMENT.game, GAME_HELP)
    jobs: int | None = option(_TOURNAMENT.jobs, "worker processes (default: the number of CPUs; 1: no subprocesses)", type=at_least(1))
    json: bool = option(False, "print one JSON object")
    plot: str | None = option(None, "write a heat map PNG (default: no heat map)", metavar="FILE", type=path_arg)
    move_timeout: float | None = option(
        _TOURNAMENT.move_timeout, "a side slower than this in a round forfeits the match (default: no limit)", metavar="SECONDS"
    )
    backend: str = option(_TOURNAMENT.backend, "local: this machine's processes; ray: one Ray task per match (pip install 'policygrad[ray]')", choices=BACKENDS)
    address: str | None = option(_TOURNAMENT.address, ADDRESS_HELP, metavar="ADDR")
    quiet: bool = option(False, "no progress bar")


def _fmt(mean, ci95) -> str:
    return "forfeit" if mean is None else f"{mean:+.3f}" + (f" ± {ci95:.3f}" if ci95 is not None else "")


def cmd_tournament(args) -> int:
    o = from_args(TournamentOptions, args)
    if o.plot:
        check_writable_file(o.plot, "--plot")
    opponents = split_names(o.opponents) if o.opponents else []
    for name in o.suite:
        opponents += [x for x in suite(name) if x not in opponents]
    if not opponents:
        raise ValueError("no opponents: give --opponents SPEC,... and/or --suite roshambo|kaggle")
    columns = (TextColumn("[bold]tournament"), BarColumn(), MofNCompleteColumn(), TextColumn("matches"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=o.json or o.quiet or not console.is_terminal) as bar:
        task = bar.add_task("tournament", total=None)
        result = run_tournament(
            split_names(o.agents), opponents, o.rounds, o.seeds, o.game, o.jobs,
            progress=lambda done, total: bar.update(task, completed=done, total=total), move_timeout=o.move_timeout,
            backend=o.backend, address=o.address,
        )  # fmt: skip
    if o.plot:
        plot_tournament(result, o.plot)
    if o.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    title = f"leaderboard: mean reward per round over the field ({len(result.opponents)} opponents, {result.rounds} rounds x {len(result.seeds)} seeds, 95% interval)"
    table = Table(title=title)
    for col in ("rank", "agent", "mean", "W/D/L", "forfeits", "worst opponent"):
        table.add_column(col, justify="right" if col in ("rank", "mean", "W/D/L", "forfeits") else "left")
    for e in result.leaderboard:
        worst = f"{e['worst_opponent']} ({e['worst_mean']:+.3f})" if e["worst_opponent"] else "-"
        rank = "-" if e["rank"] is None else str(e["rank"])  # no completed match: unranked
        table.add_row(rank, e["agent"], _fmt(e["mean"], e["ci95"]), f"{e['wins']}/{e['draws']}/{e['losses']}", str(e["forfeits"]), worst)
    console.print(table)
    pairs = Table(title="mean reward per round of each agent (columns) against each opponent (rows)")
    pairs.add_column("opponent")
    for agent in result.agents:
        pairs.add_column(agent, justify="right")
    for opp in result.opponents:
        pairs.add_row(opp, *(_fmt(result.pair(a, opp)["mean"], result.pair(a, opp)["ci95"]) for a in result.agents))
    console.print(pairs)
    for p in result.pairs:
        if p["forfeits"]:
            console.print(f"{p['agent']} vs {p['opponent']}: {p['forfeits']} of {p['matches']} matches forfeited: {'; '.join(p['errors'])}", highlight=False)
    if o.plot:
        console.print(f"heat map: {o.plot}")
    return 0


# -- play ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayOptions:
    agent: str = option("uniform", "a checkpoint, a registered player or an opponent spec", positional=True)
    rounds: int | None = option(None, "stop after N rounds (default: until Ctrl-D)", type=at_least(1))
    seed: int = option(0, "seed of the agent's draws", type=seed_arg)
    game: str = option("rps", GAME_HELP)


def parse_move(text: str, game) -> int:
    """A move typed by a person: its name, a unique prefix of it (r, p, s), or its number."""
    word = text.strip().lower()
    if not word:
        raise ValueError("empty line")
    if word.isdigit():
        return game.move_index(word)
    names = [a.lower() for a in game.actions]
    if word in names:
        return names.index(word)
    matches = [i for i, name in enumerate(names) if name.startswith(word)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(f"{text.strip()!r} could be {' or '.join(names[i] for i in matches)}")
    raise ValueError(f"unknown move {text.strip()!r}")


def cmd_play(args) -> int:
    o = from_args(PlayOptions, args)
    game = make_game(o.game)
    player = make_player(o.agent, game)
    player.reset(o.seed)
    names = game.actions
    hint = (
        ", ".join(names) + " (or a prefix: " + "/".join(n[0] if [m[0] for m in names].count(n[0]) == 1 else n[:2] for n in names) + f"; or 0-{len(names) - 1})"
    )
    out = sys.stdout
    out.write(f"You play {game.name} against {o.agent}. Type {hint}; Ctrl-D ends the game.\n")
    played = wins = ties = losses = 0
    score = 0.0
    last = None
    try:
        while o.rounds is None or played < o.rounds:
            agent_move = player.act(last)  # fixed before the person's move is read
            probs = player.last_probs
            while True:
                out.write(f"round {played + 1}, your move: ")
                out.flush()
                line = sys.stdin.readline()
                if not line:
                    raise EOFError
                try:
                    move = parse_move(line, game)
                    break
                except ValueError as e:
                    out.write(f"{e}; type {hint}\n")
            reward = float(game.payoff[move, agent_move])
            played += 1
            score += reward
            wins, ties, losses = wins + (reward > 0), ties + (reward == 0), losses + (reward < 0)
            verdict = "you win" if reward > 0 else "you lose" if reward < 0 else "tie"
            out.write(f"agent played {names[agent_move]}: {verdict}. score {score:+g} (you {wins}, agent {losses}, ties {ties})\n")
            if probs is not None:
                out.write("agent's probabilities: " + ", ".join(f"{n} {p:.2f}" for n, p in zip(names, probs)) + "\n")
            last = move
    except (EOFError, KeyboardInterrupt):
        out.write("\n")
    out.write(f"game over after {played} rounds: you won {wins}, tied {ties}, lost {losses}; your score {score:+g}\n")
    out.flush()
    return 0


def register(sub) -> None:
    for name, options, handler, text in (
        ("evaluate", EvaluateOptions, cmd_evaluate, "play a checkpoint against an opponent"),
        ("exploitability", ExploitabilityOptions, cmd_exploitability, "how much a perfect adaptive opponent takes from a checkpoint's agent, per round"),
        ("tournament", TournamentOptions, cmd_tournament, "every agent against every opponent: leaderboard, JSON, heat map"),
        ("play", PlayOptions, cmd_play, "play rock, paper or scissors against an agent in the terminal"),
    ):
        p = sub.add_parser(name, help=text)
        add_options(p, options)
        p.set_defaults(func=handler)
