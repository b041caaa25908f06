"""``policygrad gradcheck``, ``optimum``, ``selfplay`` and ``compare``: the theory's checks and the seed's claim."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..compare import CompareSettings, compare
from ..plots import plot_compare, plot_selfplay
from ..config import TrainConfig
from ..distributed import BACKENDS
from ..evaluate import check_evaluation
from ..files import check_writable_dir, check_writable_file
from ..games import make_game
from ..gradcheck import gradcheck
from ..opponents import split_specs
from ..optimum import DEFAULT_MAX_STATES, optimum
from ..selfplay import FEEDBACK, METHODS, SelfPlayConfig, selfplay
from .common import GAME_HELP, OPPONENT_HELP, add_options, at_least, console, defaults_of, from_args, names, option, path_arg, seed_arg, seeds_arg

# -- gradcheck ----------------------------------------------------------------------------------------------

_GRADCHECK = defaults_of(gradcheck)
_POLICIES = next(f.metadata["choices"] for f in fields(TrainConfig) if f.name == "policy")


@dataclass(frozen=True)
class GradcheckOptions:
    opponent: str = option(_GRADCHECK.opponent, OPPONENT_HELP)
    rounds: int = option(_GRADCHECK.rounds, "T, rounds per match (exact enumeration: T <= 6)", type=at_least(1))
    context: int = option(_GRADCHECK.context, "k, past rounds in the observation (0..T)", type=at_least(0))
    policy: str = option(_GRADCHECK.policy, "the policy whose gradient is checked", choices=_POLICIES)
    game: str = option(_GRADCHECK.game, GAME_HELP)
    samples: tuple = option(_GRADCHECK.samples, "comma-separated m values")
    estimators: tuple = option(_GRADCHECK.estimators, "comma-separated estimators", type=names)
    repeats: int = option(_GRADCHECK.repeats, "independent estimates per (estimator, m)", type=at_least(2))
    seed: int = option(_GRADCHECK.seed, "seed of the policy's parameters and of the sampled matches", type=seed_arg)
    json: bool = option(False, "print one JSON object")
    plot: str | None = option(None, "write error against m as a PNG (default: no plot)", metavar="FILE", type=path_arg)
    quiet: bool = option(False, "no progress bar")


def cmd_gradcheck(args) -> int:
    from ..plots import plot_gradcheck  # matplotlib: loaded when a figure is drawn, not for --help

    o = from_args(GradcheckOptions, args)
    if o.plot:
        check_writable_file(o.plot, "--plot")
    with Progress(console=console, transient=True, disable=o.json or o.quiet or not console.is_terminal) as bar:
        task = bar.add_task("gradcheck", total=len(o.samples) * o.repeats)
        report = gradcheck(
            o.opponent, o.rounds, o.context, o.policy, o.samples, o.estimators, o.repeats, o.seed, o.game,
            progress=lambda i, n: bar.update(task, completed=i),
        )  # fmt: skip
    if o.plot:
        plot_gradcheck(report, o.plot)
    if o.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    console.print(f"exact V(S0) = {report.exact_value:.6f} (total over {report.rounds} rounds), |grad V| = {report.exact_grad_norm:.6f}")
    table = Table(title=f"estimators vs the exact gradient ({report.repeats} repeats each)")
    for col in ("estimator", "m", "rel. error ± se", "cosine", "per-sample var", "bias z", "unbiased"):
        table.add_column(col, justify="right" if col not in ("estimator",) else "left")
    for r in report.rows:
        table.add_row(
            r.estimator, f"{r.samples:,}", f"{r.rel_error_mean:.4f} ± {r.rel_error_se:.4f}", f"{r.cosine_mean:.4f}",
            f"{r.per_sample_variance:.3g}", f"{r.bias_z:.2f}", "yes" if r.within_4se else "NO",
        )  # fmt: skip
    console.print(table)
    if o.plot:
        console.print(f"plot: {o.plot}")
    return 0


# -- optimum ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimumOptions:
    opponent: str = option(help=OPPONENT_HELP)
    rounds: int = option(help="T, rounds per match (>= 1)", type=at_least(1))
    game: str = option(defaults_of(optimum).game, GAME_HELP)
    max_states: int = option(DEFAULT_MAX_STATES, "refuse when one round holds more distinct states", type=at_least(1))
    threads: int = option(1, "torch threads (the levels are small tensors: 1 is usually fastest)", type=at_least(1))
    json: bool = option(False, "print one JSON object")


def cmd_optimum(args) -> int:
    o = from_args(OptimumOptions, args)
    torch.set_num_threads(o.threads)
    with Progress(console=console, transient=True, disable=o.json or not console.is_terminal) as bar:
        task = bar.add_task("optimum", total=o.rounds)

        def show(done: int, total: int, states: int) -> None:
            bar.update(task, completed=done, description=f"optimum: {states:,} states after {done - 1} rounds")

        result = optimum(o.opponent, o.rounds, o.game, max_states=o.max_states, progress=show)
    if o.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    console.print(
        f"optimum vs {result.opponent} over {result.rounds} rounds ({result.game}): "
        f"{result.value_per_round:.4f} per round (total {result.total_value:.2f}), "
        f"{result.state}, {result.states_total:,} states (largest round {result.states_max:,}), "
        f"{result.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    return 0


# -- selfplay -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SelfPlayRuns:
    """Which self-play runs (every game with every method) and where their results go; each run's
    settings are a :class:`~policygrad.selfplay.SelfPlayConfig`."""

    game: tuple = option(("rps", "weighted-rps:weights=1,2,3"), "a game (repeat for several)", append=True)
    methods: tuple = option(METHODS, "comma-separated: " + ", ".join(METHODS))
    plot: str | None = option(None, "write DIR/selfplay_simplex.png and DIR/selfplay_exploitability.png (default: no plots)", metavar="DIR", type=path_arg)
    json: bool = option(False, "print one JSON object")


def cmd_selfplay(args) -> int:
    runs = from_args(SelfPlayRuns, args)
    configs = [from_args(SelfPlayConfig, args, skip=("game", "method", "init"), game=game, method=method) for game in runs.game for method in runs.methods]
    if runs.plot:
        check_writable_dir(runs.plot, "--plot")
        for game in runs.game:
            if make_game(game).num_actions != 3:
                raise ValueError(f"--plot draws the simplex of a 3-action game; {game} has {make_game(game).num_actions} actions (drop --plot for it)")
    results = [selfplay(cfg) for cfg in configs]
    plots = plot_selfplay(results, os.path.join(runs.plot, "selfplay_simplex.png"), os.path.join(runs.plot, "selfplay_exploitability.png")) if runs.plot else []
    if runs.json:
        print(json.dumps({"runs": [r.summary() for r in results], "plots": plots}, indent=2))
        return 0
    first = configs[0]  # every run shares the settings but its game and method
    table = Table(title=f"self-play: exploitability of the pair (reward per round a best response takes), {first.feedback} feedback")
    for col in ("game", "method", "it 100", "it 1000", f"last (it {first.iterations})", "average policy"):
        table.add_column(col, justify="left" if col in ("game", "method") else "right")
    for r in results:
        e = r.exploitability
        table.add_row(
            r.config.game, r.config.method, *(f"{float(e[i]):.2e}" if i < len(e) else "-" for i in (100, 1000)), f"{r.final:.2e}", f"{r.final_average:.2e}"
        )
    console.print(table)
    for written in plots:
        console.print(f"wrote {written}")
    return 0


# -- compare ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareRun:
    """Where ``compare`` runs and what it writes; what it trains and measures is a :class:`CompareSettings`."""

    save: str | None = option(None, "write every trained agent as a checkpoint (Agent.load reads them; default: not saved)", metavar="DIR", type=path_arg)
    backend: str = option(
        defaults_of(compare).backend, "local: this machine's processes; ray: one Ray task per training run (pip install 'policygrad[ray]')", choices=BACKENDS
    )
    address: str | None = option(
        None, "--backend ray: the Ray cluster to join, e.g. HEAD_IP:6379 (default: a local Ray started and stopped here)", metavar="ADDR"
    )
    jobs: int | None = option(None, "--backend ray without --address: CPUs of the local Ray (default: the number of CPUs)", type=at_least(1))
    plot: str | None = option(None, "write DIR/compare.png (default: no plot)", metavar="DIR", type=path_arg)
    json: bool = option(False, "print one JSON object")
    quiet: bool = option(False, "no progress bar")


_COMPARE_FLAGS = {
    # opponent lists are split in the handler (the registry knows where a spec ends): an unknown one is an error line
    "opponents": {"type": str},
    "eval_opponents": {"type": str},
    "agents": {"type": names},
    "seeds": {"type": seeds_arg, "help": "a count S (seeds 0..S-1) or a comma-separated list; one training run per seed"},
    "game": {"help": GAME_HELP},
    "rounds": {"type": at_least(1)},
    "context": {"type": at_least(0)},
    "iterations": {"type": at_least(1)},
    "batch": {"type": at_least(1)},
    "matches": {"type": at_least(1)},
}


def _spec_list(value) -> tuple:
    return tuple(split_specs(value)) if isinstance(value, str) else value


def cmd_compare(args) -> int:
    run = from_args(CompareRun, args)
    if run.save:
        check_writable_dir(run.save, "--save")
    if run.plot:
        check_writable_dir(run.plot, "--plot")
    settings = from_args(CompareSettings, args, opponents=_spec_list(args.opponents), eval_opponents=_spec_list(args.eval_opponents))
    check_evaluation(settings.matches, settings.rounds, settings.context, False, settings.game)  # before minutes of training
    columns = (TextColumn("[bold]compare"), BarColumn(), TextColumn("{task.completed}/{task.total} {task.fields[label]}", markup=False), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=run.json or run.quiet or not console.is_terminal) as bar:
        task = bar.add_task("compare", total=None, label="")
        report = compare(
            settings, progress=lambda done, total, label: bar.update(task, completed=done, total=total, label=label), save_dir=run.save,
            backend=run.backend, address=run.address, cpus=run.jobs,
        )  # fmt: skip
    if run.plot:
        report["plot"] = plot_compare(report, os.path.join(run.plot, "compare.png"))
    if run.json:
        print(json.dumps(report, indent=2))
        return 0
    evals = report["evaluation_opponents"]
    table = Table(
        title=f"reward per round of the trained agent (mean over seeds {list(settings.seeds)}, 95% interval; T={settings.rounds}, k={settings.context})"
    )
    for col in ("agent", "trained vs", "exploitability", *evals, "train s"):
        table.add_column(col, justify="left" if col in ("agent", "trained vs") else "right")
    for e in report["entries"]:
        cells = [f"{e['reward'][v]['mean']:+.3f} ± {e['reward'][v]['ci95']:.3f}" for v in evals]
        table.add_row(e["agent"], e["opponent"], f"{e['exploitability']:.3f} ± {e['exploitability_ci95']:.3f}", *cells, f"{e['train_seconds']:.1f}")
    console.print(table)
    console.print(f"exploitability: exact (dynamic programming), reward per round a best-responding opponent takes; {report['seconds']:.0f} s in all")
    if run.plot:
        console.print(f"plot: {report['plot']}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("gradcheck", help="every estimator against the exact gradient")
    add_options(p, GradcheckOptions)
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("optimum", help="the exact best expected reward per round any agent can get against an opponent")
    add_options(p, OptimumOptions)
    p.set_defaults(func=cmd_optimum)

    p = sub.add_parser("selfplay", help="two policy-gradient learners against each other: gradient ascent circles, MMD converges")
    add_options(p, SelfPlayRuns)
    add_options(p, SelfPlayConfig, skip=("game", "method", "init"), override={
        "iterations": {"type": at_least(1)}, "rounds": {"type": at_least(1)}, "seed": {"type": seed_arg}, "feedback": {"choices": FEEDBACK},
    })  # fmt: skip
    p.set_defaults(func=cmd_selfplay)

    p = sub.add_parser(
        "compare", help="policy gradient vs Q-learning, DQN and deterministic policies: reward against adaptive opponents and exact exploitability"
    )
    add_options(p, CompareSettings, override=_COMPARE_FLAGS)
    add_options(p, CompareRun)
    p.set_defaults(func=cmd_compare)
