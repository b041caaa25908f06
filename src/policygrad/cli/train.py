"""``policygrad train``, ``demo`` and ``plot``: a training run, the main job, and a run's figures."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..config import TrainConfig, load_toml, read_config
from ..evaluate import evaluate_checkpoint, play_opponents
from ..expert_train import EXPERT_KIND, ExpertTrainConfig
from ..files import check_writable_dir, run_maker
from ..opponents import refuse_outside_code
from ..stats import half_width
from ..train import default_run_dir, train
from ..trainers import TRAINERS, trainer_of
from .common import add_options, at_least, console, from_args, option, path_arg, seed_arg

# -- train --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainRun:
    """Where ``train`` runs and how; what it trains is a :class:`~policygrad.config.TrainConfig`, or the
    :class:`~policygrad.expert_train.ExpertTrainConfig` of a ``--config`` file that says ``trainer = "expert-mixture"``."""

    config: str | None = option(
        None,
        'read options from a TOML file (command-line options win; a file saying trainer = "expert-mixture", as agents/expert-meta.toml, '
        "trains the expert-mixture agent; default: none)",
        metavar="FILE.toml",
        type=path_arg,
    )
    run_dir: str | None = option(
        None,
        "where config, metrics, events, checkpoint and report go (default runs/OPPONENT__ESTIMATOR__SEED__TIME-RANDOM, "
        "the spec made file-name safe; a new run needs a missing or empty folder)",
        metavar="DIR",
        type=path_arg,
    )
    resume: str | None = option(
        None, "continue the run in RUN_DIR from its checkpoint (a run stopped before its first checkpoint restarts from iteration 0; default: a new run)",
        metavar="RUN_DIR", type=path_arg,
    )  # fmt: skip
    overwrite: bool = option(
        False, "start a new run in a --run-dir that is not empty: policygrad's files there are replaced, other files kept (default: refuse)"
    )
    quiet: bool = option(False, "no progress bar")


def _refuse_with_resume(args, run: TrainRun) -> None:
    """``train --resume RUN_DIR`` takes the run's own config.toml: refuse options it would ignore."""
    given = ["--" + f.name.replace("_", "-") for f in fields(TrainConfig) if f.name != "opponent" and getattr(args, f.name) is not None]
    given += [flag for flag, value in (("--config", run.config), ("--run-dir", run.run_dir)) if value is not None]
    cfg_path = os.path.join(run.resume, "config.toml")
    if args.opponent is not None and os.path.isfile(cfg_path):  # --opponent only to trust the run's own (outside-code) opponent
        stored = load_toml(cfg_path).get("opponent")
        if not isinstance(stored, str) or args.opponent.strip() != stored.strip():
            given.append(f"--opponent {args.opponent} (the run's opponent is {stored!r}; name it only to trust its outside code)")
    if given:
        raise ValueError(
            f"--resume continues the run in {run.resume} with its own config.toml; it cannot take {', '.join(given)} "
            "(start a new run with --run-dir to change them)"
        )


def _expert_recipe(path: str, args, resume: bool) -> ExpertTrainConfig:
    """An expert-mixture recipe (a file saying ``trainer = "expert-mixture"``) <- the options given that are its settings."""
    data = load_toml(path)
    known = [g.name for g in fields(ExpertTrainConfig)]
    given = {} if resume else {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}  # --resume: refused already
    for name, value in given.items():
        if name not in known:
            raise ValueError(f"--{name.replace('_', '-')} is not a setting of the expert-mixture recipe {path}; allowed: {', '.join(known)}")
        data[name] = value
    config = ExpertTrainConfig.from_dict(data, source=path)
    if config.population:  # a stored file may not ask for outside code (issue 17)
        refuse_outside_code(config.population, path, args.opponent)
    return config


def _train_config(args, run: TrainRun) -> TrainConfig | ExpertTrainConfig:
    """Defaults <- --config FILE.toml <- explicit command-line options, checked before any work."""
    data = {}
    if run.config and trainer_of(load_toml(run.config), run.config) == EXPERT_KIND:
        return _expert_recipe(run.config, args, resume=False)
    if run.config:
        stored = TrainConfig.from_dict(load_toml(run.config), source=run.config)
        if args.opponent is None:  # the file's opponent would run: a stored file may not ask for outside code (issue 17)
            refuse_outside_code(stored.opponent, run.config)
        data.update(stored.to_dict())
    for f in fields(TrainConfig):
        value = getattr(args, f.name)
        if value is not None:
            data[f.name] = value
    return TrainConfig.from_dict(data)


def cmd_train(args) -> int:
    run = from_args(TrainRun, args)
    if run.resume and run.overwrite:
        raise ValueError("--resume and --overwrite exclude each other: --resume continues the run in RUN_DIR, --overwrite starts a new one in --run-dir")
    if run.resume:
        _refuse_with_resume(args, run)
        run_dir = run.resume
        cfg_path = os.path.join(run_dir, "config.toml")
        if not os.path.exists(cfg_path):
            if run_maker(run_dir) is not None:  # killed between taking the folder and writing its config
                raise FileNotFoundError(f"no run to resume in {run_dir}: it stopped before writing config.toml; start it again with --run-dir {run_dir}")
            raise FileNotFoundError(f"no run to resume in {run_dir} (config.toml missing)")
        # a stored config may not run outside code unless the person names the same opponent again (issue 17)
        expert = trainer_of(load_toml(cfg_path), cfg_path) == EXPERT_KIND
        config = _expert_recipe(cfg_path, args, resume=True) if expert else read_config(cfg_path, trusted_opponent=args.opponent)
    else:
        config = _train_config(args, run)
        run_dir = run.run_dir if run.run_dir is not None else default_run_dir(config)
    columns = (TextColumn("[bold]train"), BarColumn(), TextColumn("it {task.completed}/{task.total}"), TextColumn("{task.fields[stats]}"), TimeElapsedColumn())
    check_writable_dir(run_dir, "run folder")  # a file in the way, a read-only folder: one line before any work
    with Progress(*columns, console=console, disable=run.quiet or not console.is_terminal) as bar:
        task = bar.add_task("train", total=config.iterations, stats="")

        def progress(row):
            bar.update(task, completed=row["iteration"], stats=f"reward/round {row['reward_per_round']:+.3f}  entropy {row['entropy']:.3f}")

        result = TRAINERS[getattr(config, "trainer", "policy")].run(config, run_dir, resume=bool(run.resume), progress=progress, overwrite=run.overwrite)
    r = result.report
    status = "interrupted: checkpoint saved" if result.interrupted else "done"
    console.print(f"{status} after {result.iterations} iterations in {r['seconds']:.1f} s; run dir: {run_dir}")
    if r["reward_per_round"] is not None:
        gap = f" (optimum {r['optimum']:.4f})" if r.get("optimum") is not None else ""
        se = f" ± {half_width(r['reward_se'], config.batch - 1):.4f}" if r.get("reward_se") is not None else ""
        console.print(f"last batch: reward per round {r['reward_per_round']:+.4f}{se}{gap}")
    return 130 if result.interrupted else 0


# -- demo ---------------------------------------------------------------------------------------------------

DEMO_FIELD = ("markov:order=1", "pattern", "win-stay-lose-shift", "mixed:probs=0.5,0.3,0.2")
"""The opponents the demo's agent meets besides the one it trained against."""


@dataclass(frozen=True)
class DemoOptions:
    opponent: str = option("frequency", "the adaptive opponent the agent trains against")
    rounds: int = option(50, "T, rounds per match", type=at_least(1))
    iterations: int = option(TrainConfig.iterations, "gradient steps (as many as train's)", type=at_least(1))
    matches: int = option(500, "evaluation matches per opponent", type=at_least(1))
    seed: int = option(0, "seed of training and evaluation", type=seed_arg)
    out: str = option("demo-out", "folder for the run and its plots", type=path_arg)


def cmd_demo(args) -> int:
    """The main job: train against an adaptive opponent, evaluate, print a table, write the plots."""
    from ..plots import plot_run  # matplotlib: loaded when a figure is drawn, not for --help

    o = from_args(DemoOptions, args)
    run_dir = os.path.join(o.out, "run")  # --out '' is refused by its parser
    check_writable_dir(o.out, "--out")
    # demo writes over a run it made (its own files only), never anything else
    made_by_demo = run_maker(run_dir) == "demo"
    if not made_by_demo and os.path.isdir(run_dir) and os.listdir(run_dir):
        raise FileExistsError(
            f"{run_dir} holds files that policygrad demo did not make; demo writes only over a run it made: move them or choose another --out"
        )
    config = TrainConfig(opponent=o.opponent, rounds=o.rounds, seed=o.seed, iterations=o.iterations, tensorboard=False)
    console.print(Text.assemble(("1. train", "bold"), " an MLP policy by policy gradient against ", (o.opponent, "bold"), f" ({o.rounds}-round matches)"))
    with Progress(
        TextColumn("train"),
        BarColumn(),
        TextColumn("it {task.completed}/{task.total}"),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("train", total=config.iterations, stats="")
        result = train(
            config,
            run_dir,
            progress=lambda r: bar.update(task, completed=r["iteration"], stats=f"reward/round {r['reward_per_round']:+.3f}"),
            overwrite=made_by_demo,
            made_by="demo",
        )
    if result.interrupted:
        console.print(f"interrupted: checkpoint saved after {result.iterations} iterations; run dir: {run_dir}")
        return 130
    optimum = result.report.get("optimum")
    console.print(f"   trained in {result.seconds:.1f} s" + (f"; exact optimum against {o.opponent}: {optimum:.4f} per round" if optimum is not None else ""))
    console.print(Text.assemble(("2. evaluate", "bold"), " the trained agent and a uniformly random agent against adaptive opponents"))
    table = Table(title=f"reward per round ({o.matches} matches x {o.rounds} rounds, 95% interval)")
    for col in ("opponent", "trained agent", "uniform random"):
        table.add_column(col, justify="right" if col != "opponent" else "left")
    for opp in [o.opponent] + [x for x in DEMO_FIELD if x != o.opponent]:
        s = evaluate_checkpoint(run_dir, opp, matches=o.matches, seed=o.seed + 1)
        u = play_opponents("mixed", opp, matches=o.matches, rounds=o.rounds, seed=o.seed + 1)
        table.add_row(opp + (" (trained against)" if opp == o.opponent else ""), f"{s.mean:+.3f} ± {s.ci95:.3f}", f"{u.mean:+.3f} ± {u.ci95:.3f}")
    console.print(table)
    console.print(Text("3. plots", "bold"))
    for written in plot_run([run_dir], o.out):
        console.print(f"   wrote {written}")
    return 0


# -- plot ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlotOptions:
    run_dirs: tuple = option(help="run folders written by policygrad train", positional=True, nargs="+", metavar="RUN_DIR", type=path_arg)
    out: str | None = option(None, "where the PNGs go (default: the first run dir)", metavar="DIR", type=path_arg)


def cmd_plot(args) -> int:
    from ..plots import plot_run

    o = from_args(PlotOptions, args)
    out = check_writable_dir(o.out or o.run_dirs[0], "--out" if o.out else "the first run folder (the default --out)")
    for written in plot_run(list(o.run_dirs), out):
        console.print(f"wrote {written}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job: train against an adaptive opponent, evaluate, table, plots")
    add_options(p, DemoOptions)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a policy by stochastic gradient ascent")
    add_options(p, TrainConfig, unset=True)  # unset: a flag given stays apart from one not given (--config, --resume)
    add_options(p, TrainRun)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("plot", help="learning curve, action probabilities and simplex of runs")
    add_options(p, PlotOptions)
    p.set_defaults(func=cmd_plot)
