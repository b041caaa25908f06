"""The ``policygrad`` command. Only this module parses arguments and prints."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import __version__

# No markup: what is printed holds opponent specs such as ``mix:of=[frequency|markov]``, paths and
# messages, whose brackets are text, not styles; the few styles are given as styles.
console = Console(width=None if Console().is_terminal else 120, markup=False)
# every error and notice goes to stderr, so that ``--json > out.json`` keeps stdout pure JSON
err_console = Console(stderr=True, markup=False, highlight=False)

DESCRIPTION = """\
Policy gradient for repeated zero-sum matrix games (rock-paper-scissors and kin): train stochastic
policies that adaptive opponents cannot exploit, check every gradient estimator against the exact
gradient, and measure what a perfect opponent takes (exploitability) or the best any agent can get
(optimum). Start with `policygrad demo`; `policygrad COMMAND --help` shows each command's options."""


def cmd_opponents(args) -> int:
    from ..opponents import describe_opponents
    from ..opponents.external import install_hint

    rows = describe_opponents()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="opponents (spec: name:key=value,...)")
    table.add_column("name", style="bold")
    table.add_column("what it does")
    table.add_column("parameters (default; allowed)")
    for r in rows:
        params = "\n".join(f"{p['name']}={p['default']} ({p['allowed']})" for p in r["parameters"]) or "-"
        what = r["description"] + (f"\nOutside bot: {r['usage']}. The extra {r['extra']}: {install_hint(r['extra'])}" if r["outside"] else "")
        table.add_row(r["name"], what, params)
    console.print(table)
    return 0


def cmd_demo(args) -> int:
    """The main job: train against an adaptive opponent, evaluate, print a table, write the plots."""
    import os

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..config import TrainConfig
    from ..evaluate import evaluate_checkpoint, play_opponents
    from ..files import check_writable_dir, run_maker
    from ..plots import plot_run
    from ..train import train

    run_dir = os.path.join(args.out, "run")  # --out '' is refused by its parser
    check_writable_dir(args.out, "--out")
    # demo writes over a run it made (its own files only), never anything else
    made_by_demo = run_maker(run_dir) == "demo"
    if not made_by_demo and os.path.isdir(run_dir) and os.listdir(run_dir):
        raise FileExistsError(f"{run_dir} holds files that policygrad demo did not make; demo writes only over a run it made: move them or choose another --out")
    steps = {} if args.iterations is None else {"iterations": args.iterations}
    config = TrainConfig(opponent=args.opponent, rounds=args.rounds, seed=args.seed, tensorboard=False, **steps)
    console.print(Text.assemble(("1. train", "bold"), " an MLP policy by policy gradient against ", (args.opponent, "bold"), f" ({args.rounds}-round matches)"))
    with Progress(TextColumn("train"), BarColumn(), TextColumn("it {task.completed}/{task.total}"), TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("train", total=config.iterations, stats="")
        result = train(config, run_dir, progress=lambda r: bar.update(task, completed=r["iteration"], stats=f"reward/round {r['reward_per_round']:+.3f}"), overwrite=made_by_demo, made_by="demo")
    if result.interrupted:
        console.print(f"interrupted: checkpoint saved after {result.iterations} iterations; run dir: {run_dir}")
        return 130
    optimum = result.report.get("optimum")
    console.print(f"   trained in {result.seconds:.1f} s" + (f"; exact optimum against {args.opponent}: {optimum:.4f} per round" if optimum is not None else ""))
    console.print(Text.assemble(("2. evaluate", "bold"), " the trained agent and a uniformly random agent against adaptive opponents"))
    table = Table(title=f"reward per round ({args.matches} matches x {args.rounds} rounds, 95% interval)")
    for col in ("opponent", "trained agent", "uniform random"):
        table.add_column(col, justify="right" if col != "opponent" else "left")
    for opp in [args.opponent] + [o for o in ("markov:order=1", "pattern", "win-stay-lose-shift", "mixed:probs=0.5,0.3,0.2") if o != args.opponent]:
        s = evaluate_checkpoint(run_dir, opp, matches=args.matches, seed=args.seed + 1)
        u = play_opponents("mixed", opp, matches=args.matches, rounds=args.rounds, seed=args.seed + 1)
        table.add_row(opp + (" (trained against)" if opp == args.opponent else ""), f"{s.mean:+.3f} ± {s.ci95:.3f}", f"{u.mean:+.3f} ± {u.ci95:.3f}")
    console.print(table)
    console.print(Text("3. plots", "bold"))
    for path in plot_run([run_dir], args.out):
        console.print(f"   wrote {path}")
    return 0


def _seed(text: str) -> int:
    """A seed: an integer in 0..2^32-1, the one rule of every command."""
    from ..limits import MAX_SEED

    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed, an integer in 0..{MAX_SEED}, got {text!r}")
    return value


def _at_least(low: int):
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _finite(text: str) -> float:
    """A finite number (no nan, no inf)."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _path(text: str) -> str:
    """A path: any non-empty text (an empty one would silently mean the current folder or a default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a non-empty path, got {text!r}")
    return text


def _refuse_with_resume(args) -> None:
    """``train --resume RUN_DIR`` takes the run's own config.toml: refuse options it would ignore."""
    from dataclasses import fields

    from ..config import TrainConfig

    import os

    from ..config import load_toml

    given = ["--" + f.name.replace("_", "-") for f in fields(TrainConfig) if f.name != "opponent" and getattr(args, f.name, None) is not None]
    given += [flag for flag, value in (("--config", args.config), ("--run-dir", args.run_dir)) if value is not None]
    cfg_path = os.path.join(args.resume, "config.toml")
    if args.opponent is not None and os.path.isfile(cfg_path):  # --opponent only to trust the run's own (outside-code) opponent
        stored = load_toml(cfg_path).get("opponent")
        if not isinstance(stored, str) or args.opponent.strip() != stored.strip():
            given.append(f"--opponent {args.opponent} (the run's opponent is {stored!r}; name it only to trust its outside code)")
    if given:
        raise ValueError(
            f"--resume continues the run in {args.resume} with its own config.toml; it cannot take {', '.join(given)} "
            "(start a new run with --run-dir to change them)"
        )


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x.replace("_", "")) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def cmd_gradcheck(args) -> int:
    from rich.progress import Progress

    from ..files import check_writable_file
    from ..gradcheck import gradcheck
    from ..plots import plot_gradcheck

    if args.plot:
        check_writable_file(args.plot, "--plot")
    estimators = tuple(e.strip() for e in args.estimators.split(","))
    with Progress(console=console, transient=True, disable=args.json or args.quiet or not console.is_terminal) as bar:
        task = bar.add_task("gradcheck", total=len(args.samples) * args.repeats)
        report = gradcheck(
            args.opponent, args.rounds, args.context, args.policy, args.samples, estimators, args.repeats, args.seed, args.game,
            progress=lambda i, n: bar.update(task, completed=i),
        )
    if args.plot:
        plot_gradcheck(report, args.plot)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    console.print(
        f"exact V(S0) = {report.exact_value:.6f} (total over {report.rounds} rounds), |grad V| = {report.exact_grad_norm:.6f}"
    )
    table = Table(title=f"estimators vs the exact gradient ({report.repeats} repeats each)")
    for col in ("estimator", "m", "rel. error ± se", "cosine", "per-sample var", "bias z", "unbiased"):
        table.add_column(col, justify="right" if col not in ("estimator",) else "left")
    for r in report.rows:
        table.add_row(
            r.estimator, f"{r.samples:,}", f"{r.rel_error_mean:.4f} ± {r.rel_error_se:.4f}", f"{r.cosine_mean:.4f}",
            f"{r.per_sample_variance:.3g}", f"{r.bias_z:.2f}", "yes" if r.within_4se else "NO",
        )
    console.print(table)
    if args.plot:
        console.print(f"plot: {args.plot}")
    return 0


def cmd_optimum(args) -> int:
    import torch

    from ..optimum import optimum

    if args.threads < 1:
        raise ValueError(f"--threads must be an integer >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    from rich.progress import Progress

    with Progress(console=console, transient=True, disable=args.json or not console.is_terminal) as bar:
        task = bar.add_task("optimum", total=args.rounds)

        def show(done: int, total: int, states: int) -> None:
            bar.update(task, completed=done, description=f"optimum: {states:,} states after {done - 1} rounds")

        result = optimum(args.opponent, args.rounds, args.game, max_states=args.max_states, progress=show)
    if args.json:
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


def _train_config(args):
    """Defaults <- --config FILE.toml <- explicit command-line options, checked before any work."""
    from dataclasses import fields

    from ..config import TrainConfig, load_toml
    from ..opponents import refuse_outside_code

    data = {}
    if args.config:
        stored = TrainConfig.from_dict(load_toml(args.config), source=args.config)
        if args.opponent is None:  # the file's opponent would run: a stored file may not ask for outside code (issue 17)
            refuse_outside_code(stored.opponent, args.config)
        data.update(stored.to_dict())
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            data[f.name] = value
    return TrainConfig.from_dict(data)


def cmd_train(args) -> int:
    import os

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..config import read_config
    from ..files import check_writable_dir, run_maker
    from ..train import default_run_dir, train

    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite exclude each other: --resume continues the run in RUN_DIR, --overwrite starts a new one in --run-dir")
    if args.resume:
        _refuse_with_resume(args)
    if args.resume:
        run_dir = args.resume
        cfg_path = os.path.join(run_dir, "config.toml")
        if not os.path.exists(cfg_path):
            if run_maker(run_dir) is not None:  # killed between taking the folder and writing its config
                raise FileNotFoundError(f"no run to resume in {run_dir}: it stopped before writing config.toml; start it again with --run-dir {run_dir}")
            raise FileNotFoundError(f"no run to resume in {run_dir} (config.toml missing)")
        # a stored config may not run outside code unless the person names the same opponent again (issue 17)
        config = read_config(cfg_path, trusted_opponent=args.opponent)
    else:
        config = _train_config(args)
        run_dir = args.run_dir if args.run_dir is not None else default_run_dir(config)
    columns = (TextColumn("[bold]train"), BarColumn(), TextColumn("it {task.completed}/{task.total}"), TextColumn("{task.fields[stats]}"), TimeElapsedColumn())
    check_writable_dir(run_dir, "run folder")  # a file in the way, a read-only folder: one line before any work
    with Progress(*columns, console=console, disable=args.quiet or not console.is_terminal) as bar:
        task = bar.add_task("train", total=config.iterations, stats="")

        def progress(row):
            bar.update(task, completed=row["iteration"], stats=f"reward/round {row['reward_per_round']:+.3f}  entropy {row['entropy']:.3f}")

        result = train(config, run_dir, resume=bool(args.resume), progress=progress, overwrite=args.overwrite)
    r = result.report
    status = "interrupted: checkpoint saved" if result.interrupted else "done"
    console.print(f"{status} after {result.iterations} iterations in {r['seconds']:.1f} s; run dir: {run_dir}")
    if r["reward_per_round"] is not None:
        gap = f" (optimum {r['optimum']:.4f})" if r.get("optimum") is not None else ""
        console.print(f"last batch: reward per round {r['reward_per_round']:+.4f} ± {1.96 * r['reward_se']:.4f}{gap}")
    return 130 if result.interrupted else 0


def cmd_evaluate(args) -> int:
    from ..evaluate import evaluate_checkpoint

    stats = evaluate_checkpoint(args.checkpoint, args.opponent, args.matches, args.seed)
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "opponent": args.opponent, **stats.to_dict()}, indent=2))
        return 0
    console.print(
        f"vs {args.opponent}: {stats.mean:+.4f} ± {stats.ci95:.4f} reward per round (95%, {stats.matches} matches x {stats.rounds} rounds); "
        f"wins/ties/losses {stats.wins}/{stats.ties}/{stats.losses}"
    )
    return 0


def cmd_tournament(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..files import check_writable_file
    from ..tournament import plot_tournament, run_tournament, split_names, suite

    if args.plot:
        check_writable_file(args.plot, "--plot")
    opponents = split_names(args.opponents) if args.opponents else []
    for name in args.suite or []:
        opponents += [o for o in suite(name) if o not in opponents]
    if not opponents:
        raise ValueError("no opponents: give --opponents SPEC,... and/or --suite roshambo|kaggle")
    columns = (TextColumn("[bold]tournament"), BarColumn(), MofNCompleteColumn(), TextColumn("matches"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=args.json or args.quiet or not console.is_terminal) as bar:
        task = bar.add_task("tournament", total=None)
        result = run_tournament(
            split_names(args.agents), opponents, args.rounds, args.seeds, args.game, args.jobs,
            progress=lambda done, total: bar.update(task, completed=done, total=total), move_timeout=args.move_timeout,
            backend=args.backend, address=args.address,
        )
    if args.plot:
        plot_tournament(result, args.plot)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0

    def fmt(mean, ci95):
        return "forfeit" if mean is None else f"{mean:+.3f}" + (f" ± {ci95:.3f}" if ci95 is not None else "")

    table = Table(title=f"leaderboard: mean reward per round over the field ({len(result.opponents)} opponents, {result.rounds} rounds x {len(result.seeds)} seeds, 95% interval)")
    for col in ("rank", "agent", "mean", "W/D/L", "forfeits", "worst opponent"):
        table.add_column(col, justify="right" if col in ("rank", "mean", "W/D/L", "forfeits") else "left")
    for e in result.leaderboard:
        worst = f"{e['worst_opponent']} ({e['worst_mean']:+.3f})" if e["worst_opponent"] else "-"
        rank = "-" if e["rank"] is None else str(e["rank"])  # no completed match: unranked
        table.add_row(rank, e["agent"], fmt(e["mean"], e["ci95"]), f"{e['wins']}/{e['draws']}/{e['losses']}", str(e["forfeits"]), worst)
    console.print(table)
    pairs = Table(title="mean reward per round of each agent (columns) against each opponent (rows)")
    pairs.add_column("opponent")
    for agent in result.agents:
        pairs.add_column(agent, justify="right")
    for opp in result.opponents:
        pairs.add_row(opp, *(fmt(result.pair(a, opp)["mean"], result.pair(a, opp)["ci95"]) for a in result.agents))
    console.print(pairs)
    for p in result.pairs:
        if p["forfeits"]:
            console.print(f"{p['agent']} vs {p['opponent']}: {p['forfeits']} of {p['matches']} matches forfeited: {'; '.join(p['errors'])}", highlight=False)
    if args.plot:
        console.print(f"heat map: {args.plot}")
    return 0


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
    from ..games import make_game
    from ..tournament import make_player

    game = make_game(args.game)
    player = make_player(args.agent, game)
    player.reset(args.seed)
    names = game.actions
    hint = ", ".join(names) + " (or a prefix: " + "/".join(n[0] if [m[0] for m in names].count(n[0]) == 1 else n[:2] for n in names) + f"; or 0-{len(names) - 1})"
    out = sys.stdout
    out.write(f"You play {game.name} against {args.agent}. Type {hint}; Ctrl-D ends the game.\n")
    played = wins = ties = losses = 0
    score = 0.0
    last = None
    try:
        while args.rounds is None or played < args.rounds:
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


def cmd_plot(args) -> int:
    from ..files import check_writable_dir
    from ..plots import plot_run

    out = check_writable_dir(args.out or args.run_dirs[0], "--out" if args.out else "the first run folder (the default --out)")
    for path in plot_run(args.run_dirs, out):
        console.print(f"wrote {path}")
    return 0


def cmd_export(args) -> int:
    from ..export import export_kaggle
    from ..files import check_writable_file

    check_writable_file(args.out, "-o/--out")
    path = export_kaggle(args.checkpoint, args.out, seed=args.seed)
    console.print(f"wrote {path}: a NumPy-only agent(observation, configuration) for the Kaggle rps environment", highlight=False)
    return 0


def _add_train_options(p) -> None:
    from dataclasses import fields

    from ..config import TrainConfig

    helps = TrainConfig.help()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = f.type
        if kind == "bool":
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=f"{helps[f.name]} (default: {'on' if f.default else 'off'})")
        elif kind == "tuple":
            parse = _floats if f.metadata.get("item") is float else _ints
            p.add_argument(flag, dest=f.name, type=parse, default=None, help=helps[f.name] + f" (comma-separated; default {','.join(map(str, f.default))})")
        else:
            p.add_argument(flag, dest=f.name, type={"int": int, "float": _finite, "str": str}[kind], default=None, help=f"{helps[f.name]} (default {f.default})")


def cmd_exploitability(args) -> int:
    from ..exploitability import checkpoint_exploitability

    result = checkpoint_exploitability(args.checkpoint, max_states=args.max_states, safety=args.safety, iterations=args.iterations, seed=args.seed)
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, **result.to_dict()}, indent=2))
        return 0
    label = "exact" if result.exact else f"APPROXIMATE (a lower bound, ± {result.ci95:.4f})"
    console.print(
        f"exploitability of {args.checkpoint}: {result.value:.4f} per round over {result.rounds} rounds ({label}; {result.method}"
        + (f", {result.states:,} states" if result.exact else "") + f", {result.seconds:.1f} s)",
        highlight=False,
    )
    return 0


def _seeds(text: str) -> tuple[int, ...]:
    """``3`` -> seeds 0, 1, 2; ``4,7`` -> seeds 4 and 7."""
    from ..limits import MAX_SEED

    values = _ints(text)
    if len(values) == 1 and "," not in text:
        if not 1 <= values[0] <= MAX_SEED + 1:
            raise argparse.ArgumentTypeError(f"--seeds needs a count in 1..{MAX_SEED + 1} or a comma-separated list, got {text!r}")
        return tuple(range(values[0]))
    bad = [v for v in values if not 0 <= v <= MAX_SEED]
    if bad:
        raise argparse.ArgumentTypeError(f"seeds must be integers in 0..{MAX_SEED}, got {bad[0]} in {text!r}")
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"seeds must differ (a repeated seed repeats the same run and shrinks the interval for nothing), got {twice[0]} twice in {text!r}")
    return values


def cmd_compare(args) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..baselines import CompareSettings, compare, plot_compare
    from ..evaluate import check_evaluation
    from ..files import check_writable_dir
    from ..opponents import split_specs

    if args.save:
        check_writable_dir(args.save, "--save")
    if args.plot:
        check_writable_dir(args.plot, "--plot")
    kwargs = {"opponents": tuple(split_specs(args.opponents)), "agents": tuple(a.strip() for a in args.agents.split(",")), "seeds": args.seeds}
    if args.eval_opponents:
        kwargs["eval_opponents"] = tuple(split_specs(args.eval_opponents))
    for name in ("game", "rounds", "context", "iterations", "batch", "matches"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    settings = CompareSettings(**kwargs)
    check_evaluation(settings.matches, settings.rounds, settings.context, False, settings.game)  # before minutes of training
    columns = (TextColumn("[bold]compare"), BarColumn(), TextColumn("{task.completed}/{task.total} {task.fields[label]}", markup=False), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=args.json or args.quiet or not console.is_terminal) as bar:
        task = bar.add_task("compare", total=None, label="")
        report = compare(
            settings, progress=lambda done, total, label: bar.update(task, completed=done, total=total, label=label), save_dir=args.save,
            backend=args.backend, address=args.address, cpus=args.jobs,
        )
    if args.plot:
        import os

        report["plot"] = plot_compare(report, os.path.join(args.plot, "compare.png"))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    evals = report["evaluation_opponents"]
    table = Table(title=f"reward per round of the trained agent (mean over seeds {list(settings.seeds)}, 95% interval; T={settings.rounds}, k={settings.context})")
    for col in ("agent", "trained vs", "exploitability", *evals, "train s"):
        table.add_column(col, justify="left" if col in ("agent", "trained vs") else "right")
    for e in report["entries"]:
        cells = [f"{e['reward'][v]['mean']:+.3f} ± {e['reward'][v]['ci95']:.3f}" for v in evals]
        table.add_row(e["agent"], e["opponent"], f"{e['exploitability']:.3f} ± {e['exploitability_ci95']:.3f}", *cells, f"{e['train_seconds']:.1f}")
    console.print(table)
    console.print(f"exploitability: exact (dynamic programming), reward per round a best-responding opponent takes; {report['seconds']:.0f} s in all")
    if args.plot:
        console.print(f"plot: {report['plot']}")
    return 0


def cmd_sweep(args) -> int:
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..sweep import load_sweep, run_sweep

    if args.address and args.cpus:
        raise ValueError("--cpus sizes the local Ray; with --address the cluster's own CPUs run the trials: drop one of them")
    spec = load_sweep(args.sweep)  # every key and value checked before Ray starts
    out = args.out if args.out is not None else os.path.join("sweeps", os.path.splitext(os.path.basename(args.sweep))[0])
    columns = (TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("trials  {task.fields[stats]}", markup=False), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=args.quiet or args.json) as bar:
        task = bar.add_task("sweep", total=len(spec.trials), stats="")

        def progress(s: dict) -> None:
            best = f"best {spec.metric} {s['best'][0]:+.4f} ({s['best'][1]})" if s["best"] else ""
            bar.update(task, completed=s["done"] + s["failed"], stats=f"running {s['running']}, failed {s['failed']}  {best}")

        result = run_sweep(spec, out, args.address, args.cpus, args.resume, progress)
    r = result.results
    if args.json:
        print(json.dumps(r, indent=2))
        return 130 if result.interrupted else 0
    metric = r["metric"]
    table = Table(title=f"sweep {args.sweep}: final reward per round, mean over seeds with its 95% interval ({spec.scheduler}; {out})")
    for col in ("cell", *r["keys"], "trials", "reward/round", "of optimum", *([metric] if metric != "reward_per_round" else []), "train s", "status"):
        table.add_column(col, justify="left" if col in r["keys"] or col == "status" else "right")
    for c in r["cells"]:
        mean = "-" if c["reward_per_round"] is None else f"{c['reward_per_round']:+.4f}" + (f" ± {c['ci95']:.4f}" if c["ci95"] is not None else "")
        frac = "-" if c["optimum_fraction"] is None else f"{c['optimum_fraction']:.1%}"
        extra = [] if metric == "reward_per_round" else ["-" if c[metric] is None else f"{c[metric]:.4g}"]
        status = ", ".join(f"{c[s]} {s}" for s in ("stopped", "failed", "unfinished") if c[s]) or "done"
        best = " *" if r["best"] is not None and c["cell"] == r["best"]["cell"] else ""
        values = [str(c["values"][k]) for k in r["keys"]]
        table.add_row(f"{c['cell']}{best}", *values, f"{c['done']}/{c['trials']}", mean, frac, *extra, "-" if c["seconds"] is None else f"{c['seconds']:.1f}", status)
    console.print(table)
    if r["best"] is not None:
        b = r["best"]
        console.print(f"best cell ({spec.mode} {metric}): {b['cell']} " + (", ".join(f"{k}={v}" for k, v in b["values"].items()) or "(the base config)") + f": {b[metric]:+.4f}")
    for t in r["trials"]:
        if t["status"] == "failed":
            console.print(f"failed: {t['run']}: {t['error']}")
    console.print(f"trials: {', '.join(f'{n} {s}' for s, n in r['counts'].items() if n)}; results: {', '.join(result.paths[:2])}; plots: {os.path.join(out, 'plots')}")
    if result.interrupted:
        console.print(f"stopped: resume with policygrad sweep {args.sweep} --out {out} --resume")
        return 130
    return 0


def cmd_selfplay(args) -> int:
    import os

    from ..selfplay import SelfPlayConfig, plot_selfplay, selfplay

    from ..files import check_writable_dir
    from ..games import make_game

    games = args.game or ["rps", "weighted-rps:weights=1,2,3"]
    methods = [m.strip() for m in args.methods.split(",")]
    configs = [
        SelfPlayConfig(game=game, method=method, iterations=args.iterations, lr=args.lr, alpha=args.alpha, magnet_rate=args.magnet_rate, feedback=args.feedback, rounds=args.rounds, seed=args.seed)
        for game in games for method in methods
    ]  # fmt: skip
    if args.plot:
        check_writable_dir(args.plot, "--plot")
        for game in games:
            if make_game(game).num_actions != 3:
                raise ValueError(f"--plot draws the simplex of a 3-action game; {game} has {make_game(game).num_actions} actions (drop --plot for it)")
    results = [selfplay(cfg) for cfg in configs]
    plots = plot_selfplay(results, os.path.join(args.plot, "selfplay_simplex.png"), os.path.join(args.plot, "selfplay_exploitability.png")) if args.plot else []
    if args.json:
        print(json.dumps({"runs": [r.summary() for r in results], "plots": plots}, indent=2))
        return 0
    table = Table(title=f"self-play: exploitability of the pair (reward per round a best response takes), {args.feedback} feedback")
    for col in ("game", "method", "it 100", "it 1000", f"last (it {args.iterations})", "average policy"):
        table.add_column(col, justify="left" if col in ("game", "method") else "right")
    for r in results:
        e = r.exploitability
        table.add_row(r.config.game, r.config.method, *(f"{float(e[i]):.2e}" if i < len(e) else "-" for i in (100, 1000)), f"{r.final:.2e}", f"{r.final_average:.2e}")
    console.print(table)
    for path in plots:
        console.print(f"wrote {path}")
    return 0


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, ``(default: 4)``, unless it says it already; flags
    (off unless given), required options and options whose help says what their absence means are left as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.required or not action.option_strings or action.nargs == 0 or action.default in (None, argparse.SUPPRESS):
            return text
        value = ",".join(map(str, action.default)) if isinstance(action.default, (tuple, list)) else action.default
        return f"{text} (default: {str(value).replace('%', '%%')})".lstrip()


def _add_backend_options(p: argparse.ArgumentParser, unit: str) -> None:
    """--backend local|ray and --address, for the commands that run on Ray (``policygrad[ray]``)."""
    p.add_argument("--backend", choices=("local", "ray"), default="local", help=f"local: this machine's processes; ray: {unit} (pip install 'policygrad[ray]')")
    p.add_argument("--address", metavar="ADDR", default=None, help="--backend ray: the Ray cluster to join, e.g. HEAD_IP:6379 (default: a local Ray started and stopped here)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policygrad", description=DESCRIPTION, formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"policygrad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("opponents", help="list every opponent with its parameters")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_opponents)

    p = sub.add_parser("gradcheck", help="every estimator against the exact gradient")
    p.add_argument("--opponent", default="frequency", help="opponent spec (see `policygrad opponents`)")
    p.add_argument("--rounds", type=_at_least(1), default=4, help="T, rounds per match (exact enumeration: T <= 6)")
    p.add_argument("--context", type=_at_least(0), default=1, help="k, past rounds in the observation (0..T)")
    p.add_argument("--policy", default="mlp", choices=("mlp", "tabular", "gru"), help="the policy whose gradient is checked")
    p.add_argument("--game", default="rps", help="rps, rpsls, weighted-rps:weights=1,2,3, matrix:rows=...")
    p.add_argument("--samples", type=_ints, default=(100, 1000, 10000, 100000), help="comma-separated m values")
    p.add_argument("--estimators", default="total-return,reward-to-go,total-return+batch-mean,reward-to-go+per-round,reward-to-go+value,q-form", help="comma-separated estimators")
    p.add_argument("--repeats", type=_at_least(2), default=20, help="independent estimates per (estimator, m)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the policy's parameters and of the sampled matches")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE", type=_path, help="write error against m as a PNG (default: no plot)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser("optimum", help="the exact best expected reward per round any agent can get against an opponent")
    p.add_argument("--opponent", required=True, help="opponent spec (see `policygrad opponents`)")
    p.add_argument("--rounds", type=_at_least(1), required=True, help="T, rounds per match (>= 1)")
    p.add_argument("--game", default="rps", help="rps, rpsls, weighted-rps:weights=1,2,3, matrix:rows=...")
    p.add_argument("--max-states", type=_at_least(1), default=2_000_000, help="refuse when one round holds more distinct states")
    p.add_argument("--threads", type=_at_least(1), default=1, help="torch threads (the levels are small tensors: 1 is usually fastest)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_optimum)

    p = sub.add_parser("train", help="train a policy by stochastic gradient ascent")
    _add_train_options(p)
    p.add_argument("--config", metavar="FILE.toml", type=_path, help="read options from a TOML file (command-line options win; default: none)")
    p.add_argument("--run-dir", metavar="DIR", type=_path, help="where config, metrics, events, checkpoint and report go (default runs/OPPONENT__ESTIMATOR__SEED__TIME-RANDOM, the spec made file-name safe; a new run needs a missing or empty folder)")
    p.add_argument("--resume", metavar="RUN_DIR", type=_path, help="continue the run in RUN_DIR from its checkpoint (a run stopped before its first checkpoint restarts from iteration 0; default: a new run)")
    p.add_argument("--overwrite", action="store_true", help="start a new run in a --run-dir that is not empty: policygrad's files there are replaced, other files kept (default: refuse)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="play a checkpoint against an opponent")
    p.add_argument("checkpoint", type=_path, help="checkpoint.pt or its run directory")
    p.add_argument("--opponent", required=True, help="opponent spec (see `policygrad opponents`)")
    p.add_argument("--matches", type=_at_least(1), default=1000, help="matches played (the rounds per match are the checkpoint's)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of both sides' draws")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="write a checkpoint as a self-contained agent file (kaggle: NumPy only)")
    p.add_argument("target", choices=("kaggle",), help="kaggle: agent(observation, configuration) for the Kaggle rps environment")
    p.add_argument("checkpoint", type=_path, help="checkpoint.pt or its run directory")
    p.add_argument("-o", "--out", required=True, metavar="FILE", type=_path, help="the agent file to write, e.g. agent.py")
    p.add_argument("--seed", type=_seed, default=None, help="seed of the agent's NumPy generator each match (default: fresh entropy)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("plot", help="learning curve, action probabilities and simplex of runs")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", type=_path, help="run folders written by policygrad train")
    p.add_argument("--out", metavar="DIR", type=_path, help="where the PNGs go (default: the first run dir)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("demo", help="the main job: train against an adaptive opponent, evaluate, table, plots")
    p.add_argument("--opponent", default="frequency", help="the adaptive opponent the agent trains against")
    p.add_argument("--rounds", type=_at_least(1), default=50, help="T, rounds per match")
    p.add_argument("--iterations", type=_at_least(1), default=None, help="gradient steps (default: the trainer's, 250)")
    p.add_argument("--matches", type=_at_least(1), default=500, help="evaluation matches per opponent")
    p.add_argument("--seed", type=_seed, default=0, help="seed of training and evaluation")
    p.add_argument("--out", default="demo-out", type=_path, help="folder for the run and its plots")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("tournament", help="every agent against every opponent: leaderboard, JSON, heat map")
    p.add_argument("--agents", required=True, help="comma-separated: registered players (uniform, ...), checkpoint paths or opponent specs")
    p.add_argument("--opponents", help="comma-separated opponent specs, e.g. frequency,roshambo:bot=iocainebot,kaggle:path=agent.py (default: none; give --opponents and/or --suite)")
    p.add_argument("--suite", action="append", choices=("roshambo", "kaggle"), help="add a field of outside bots (repeatable; default: none)")
    p.add_argument("--rounds", type=_at_least(1), default=1000, help="rounds per match (at most 1,000,000)")
    p.add_argument("--seeds", type=_at_least(1), default=3, help="matches per (agent, opponent) pair, seeds 0..S-1")
    p.add_argument("--game", default="rps", help="rps, rpsls, weighted-rps:weights=1,2,3, matrix:rows=...")
    p.add_argument("--jobs", type=_at_least(1), default=None, help="worker processes (default: the number of CPUs; 1: no subprocesses)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE", type=_path, help="write a heat map PNG (default: no heat map)")
    p.add_argument("--move-timeout", type=_finite, default=None, metavar="SECONDS", help="a side slower than this in a round forfeits the match (default: no limit)")
    _add_backend_options(p, "one Ray task per match")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_tournament)

    p = sub.add_parser("play", help="play rock, paper or scissors against an agent in the terminal")
    p.add_argument("agent", nargs="?", default="uniform", help="a checkpoint, a registered player or an opponent spec (default uniform)")
    p.add_argument("--rounds", type=_at_least(1), default=None, help="stop after N rounds (default: until Ctrl-D)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the agent's draws")
    p.add_argument("--game", default="rps", help="rps, rpsls, weighted-rps:weights=1,2,3, matrix:rows=...")
    p.set_defaults(func=cmd_play)
    p = sub.add_parser("exploitability", help="how much a perfect adaptive opponent takes from a checkpoint's agent, per round")
    p.add_argument("checkpoint", type=_path, help="checkpoint.pt (policy-gradient or baseline) or its run directory")
    p.add_argument("--max-states", type=_at_least(1), default=2_000_000, help="above this many states in one round, fall back to the approximate method")
    p.add_argument("--iterations", type=_at_least(1), default=300, help="approximate method (recurrent policies): the best-response learner's iterations")
    p.add_argument("--safety", type=_finite, default=None, metavar="EPS", help="measure the agent played safely with a budget of EPS points (policygrad.safety; default: as trained)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the approximate method's learner and evaluation")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_exploitability)

    p = sub.add_parser("compare", help="policy gradient vs Q-learning, DQN and deterministic policies: reward against adaptive opponents and exact exploitability")
    p.add_argument("--opponents", default="best-response,frequency,markov,exploiter", help="comma-separated opponent specs every agent trains against")
    p.add_argument("--agents", default="pg,q-learning,dqn,deterministic", help="comma-separated: pg, q-learning, dqn, deterministic (argmax of pg)")
    p.add_argument("--seeds", type=_seeds, default=(0, 1, 2), help="a count S (seeds 0..S-1) or a comma-separated list (default 3)")
    p.add_argument("--eval-opponents", default=None, help="opponents each trained agent meets (default: the training ones plus best-response, frequency, markov, exploiter)")
    p.add_argument("--game", default=None, help="default rps")
    p.add_argument("--rounds", type=_at_least(1), default=None, help="T (default 20)")
    p.add_argument("--context", type=_at_least(0), default=None, help="k (default 1)")
    p.add_argument("--iterations", type=_at_least(1), default=None, help="training batches per agent (default 100)")
    p.add_argument("--batch", type=_at_least(1), default=None, help="matches per batch (default 64)")
    p.add_argument("--matches", type=_at_least(1), default=None, help="evaluation matches (default 500)")
    p.add_argument("--save", metavar="DIR", type=_path, help="write every trained agent as a checkpoint (Agent.load reads them; default: not saved)")
    _add_backend_options(p, "one Ray task per training run")
    p.add_argument("--jobs", type=_at_least(1), default=None, help="--backend ray without --address: CPUs of the local Ray (default: the number of CPUs)")
    p.add_argument("--plot", metavar="DIR", type=_path, help="write DIR/compare.png (default: no plot)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sweep", help="many training runs from a sweep file on Ray Tune: grids, random search, ASHA, PBT (pip install 'policygrad[ray]')")
    p.add_argument("sweep", metavar="SWEEP.toml", type=_path, help="the sweep file: base config, [space], seeds, metric, scheduler (docs/sweeps.md)")
    p.add_argument("--out", metavar="DIR", type=_path, default=None, help="the sweep's folder: a run folder per trial, results, plots (default: sweeps/NAME of the sweep file)")
    p.add_argument("--address", metavar="ADDR", default=None, help="the Ray cluster to join, e.g. HEAD_IP:6379 (default: a local Ray started and stopped here)")
    p.add_argument("--cpus", type=_at_least(1), default=None, help="CPUs of the local Ray: trials at once (default: the number of CPUs)")
    p.add_argument("--resume", action="store_true", help="finish the sweep stopped in --out: finished trials are kept, the others resume from their checkpoints")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("selfplay", help="two policy-gradient learners against each other: gradient ascent circles, MMD converges")
    p.add_argument("--game", action="append", help="a game (repeat for several; default rps and weighted-rps:weights=1,2,3)")
    p.add_argument("--methods", default="gradient,entropy,mmd", help="comma-separated: gradient, entropy, mmd")
    p.add_argument("--iterations", type=_at_least(1), default=2000, help="simultaneous updates of both players")
    p.add_argument("--lr", type=_finite, default=0.1, help="eta, the step size")
    p.add_argument("--alpha", type=_finite, default=0.5, help="entropy / mmd regularisation weight")
    p.add_argument("--magnet-rate", type=_finite, default=0.05, help="mmd: how fast the magnet follows the policy")
    p.add_argument("--feedback", default="exact", choices=("exact", "sampled"), help="exact expected payoffs, or rounds played in the PettingZoo env")
    p.add_argument("--rounds", type=_at_least(1), default=10, help="sampled feedback: rounds per iteration")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the sampled play")
    p.add_argument("--plot", metavar="DIR", type=_path, help="write DIR/selfplay_simplex.png and DIR/selfplay_exploitability.png (default: no plots)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_selfplay)
    for command in sub.choices.values():  # every sub-command's help shows its defaults
        command.formatter_class = _HelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, RuntimeError, OSError, MemoryError) as e:
        # one line on stderr, the message verbatim: no markup (``[kaggle]`` is text, not a style), no wrapping
        err_console.print(Text.assemble(("error:", "red"), " ", _one_line(e)), soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


def _one_line(e: BaseException) -> str:
    """An error as one line: an OSError of the system as ``PATH: reason`` (not ``[Errno 13] ...``),
    a MemoryError as what it is, anything else its message with line breaks joined."""
    if isinstance(e, OSError) and e.strerror and e.filename is not None:
        text = f"{e.filename}: {e.strerror}" + (f" (with {e.filename2})" if e.filename2 is not None else "")
    elif isinstance(e, MemoryError):
        text = "out of memory" + (f" ({e})" if str(e) else "") + "; use smaller sizes (matches, rounds, batch, hidden layers)"
    else:
        text = str(e) or type(e).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
