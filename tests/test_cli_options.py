"""The command line's flags come from dataclasses (issue 18, the face floor): ``add_options`` makes
them, ``from_args`` rebuilds the dataclass, and no command restates a library default by hand."""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass, fields

import pytest

from policygrad.compare import CompareSettings
from policygrad.cli import build_parser, main, measure, opponents, theory, train
from policygrad.cli import export as export_cli
from policygrad.cli.common import HelpFormatter, add_options, at_least, field_helps, from_args, option, path_arg
from policygrad.config import TrainConfig
from policygrad.evaluate import evaluate_checkpoint
from policygrad.gradcheck import gradcheck
from policygrad.selfplay import SelfPlayConfig
from policygrad.tournament import run_tournament


@dataclass(frozen=True)
class Toy:
    name: str = option(help="a required name")
    where: str = option(help="a folder", positional=True, type=path_arg)
    rounds: int = option(4, "T", type=at_least(1))
    lr: float = 0.5
    """the step size"""
    policy: str = option("mlp", "which policy", choices=("mlp", "gru"))
    sizes: tuple = (64, 32)
    """hidden sizes"""
    anneal: tuple = option((0.6, 0.9), "two fractions")
    counts: bool = option(True, "read counts")
    json: bool = option(False, "print JSON")
    game: tuple = option(("rps", "weighted-rps:weights=1,2,3"), "a game (repeat for several)", append=True)


class Strict(argparse.ArgumentParser):
    def error(self, message):  # the message itself instead of usage and exit 2
        raise ValueError(message)


def toy_parser(**kw) -> argparse.ArgumentParser:
    p = Strict(prog="toy", formatter_class=HelpFormatter)
    add_options(p, Toy, **kw)
    return p


def test_flags_take_type_default_help_and_choices_from_the_fields():
    p = toy_parser()
    args = p.parse_args(["here", "--name", "x"])
    assert from_args(Toy, args) == Toy(name="x", where="here")
    args = p.parse_args(["d", "--name", "y", "--rounds", "1_000", "--lr", "0.25", "--policy", "gru", "--sizes", "8,4",
                         "--anneal", "0.5,1", "--no-counts", "--json", "--game", "rps", "--game", "rpsls"])  # fmt: skip
    toy = from_args(Toy, args)
    assert toy == Toy(name="y", where="d", rounds=1000, lr=0.25, policy="gru", sizes=(8, 4), anneal=(0.5, 1.0), counts=False, json=True, game=("rps", "rpsls"))
    assert isinstance(toy.anneal[1], float) and isinstance(toy.sizes[0], int)
    help_text = " ".join(p.format_help().split())
    for piece in ("a required name", "T (default: 4)", "the step size (default: 0.5)", "{mlp,gru}", "hidden sizes (comma-separated) (default: 64,32)",
                  "read counts (default: on)", "--counts, --no-counts", "a game (repeat for several) (default: rps and weighted-rps:weights=1,2,3)"):  # fmt: skip
        assert piece in help_text, piece
    assert "print JSON (default" not in help_text  # a flag is off unless given


@pytest.mark.parametrize(
    "argv,needle",
    [(["--rounds", "0"], "expected an integer >= 1, got '0'"), (["--lr", "nan"], "expected a finite number, got 'nan'"),
     (["--sizes", "8,x"], "expected comma-separated integers"), (["--policy", "cnn"], "invalid choice: 'cnn'"), ([], "--name")],
)  # fmt: skip
def test_bad_values_are_refused_by_the_parser(argv, needle):
    with pytest.raises(ValueError, match=needle):
        toy_parser().parse_args(["d", *(["--name", "x"] if argv else []), *argv])


def test_unset_leaves_every_flag_none_and_says_the_default_in_its_help():
    p = toy_parser(unset=True, skip=("name",), rename={"lr": "step"})
    args = p.parse_args(["d"])
    assert (args.rounds, args.lr, args.policy, args.sizes, args.counts, args.json) == (None,) * 6
    assert p.parse_args(["d", "--step", "2"]).lr == 2.0 and not hasattr(args, "name")
    help_text = " ".join(p.format_help().split())
    assert "T (default: 4)" in help_text and "--step LR" in help_text and "print JSON (default: off)" in help_text


def test_help_comes_from_metadata_or_the_docstring_under_the_field():
    assert field_helps(Toy)["lr"] == "the step size" and field_helps(Toy)["rounds"] == "T"
    assert field_helps(CompareSettings)["rounds"] == "T, rounds per match"
    assert field_helps(TrainConfig)["lam"] == "GAE lambda"
    assert field_helps(SelfPlayConfig)["init"].startswith("the two starting policies (empty: uniform); one row")  # two lines joined


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


# every command's dataclasses: each of its flags is one of their fields (sweep keeps its own flags)
SOURCES = {
    "train": (TrainConfig, train.TrainRun), "demo": (train.DemoOptions,), "plot": (train.PlotOptions,),
    "evaluate": (measure.EvaluateOptions,), "exploitability": (measure.ExploitabilityOptions,),
    "tournament": (measure.TournamentOptions,), "play": (measure.PlayOptions,),
    "gradcheck": (theory.GradcheckOptions,), "optimum": (theory.OptimumOptions,),
    "selfplay": (SelfPlayConfig, theory.SelfPlayRuns), "compare": (CompareSettings, theory.CompareRun),
    "export": (export_cli.ExportOptions,), "opponents": (opponents.OpponentsOptions,),
}  # fmt: skip


def test_every_flag_of_every_command_is_a_dataclass_field():
    commands = subparsers()
    assert set(commands) - set(SOURCES) == {"sweep"}
    for name, classes in SOURCES.items():
        dests = {a.dest for a in commands[name]._actions if a.dest != "help"}
        names = {f.name for cls in classes for f in fields(cls)}
        assert dests <= names, (name, dests - names)
        assert len(dests) >= 1


def test_the_commands_defaults_are_the_librarys():
    compare_args = parse(["compare"])
    settings = from_args(
        CompareSettings, compare_args, opponents=theory._spec_list(compare_args.opponents), eval_opponents=theory._spec_list(compare_args.eval_opponents)
    )
    assert settings == CompareSettings()
    selfplay_args = parse(["selfplay"])
    assert from_args(SelfPlayConfig, selfplay_args, skip=("game", "method", "init")) == SelfPlayConfig()
    assert from_args(theory.SelfPlayRuns, selfplay_args).methods == ("gradient", "entropy", "mmd")
    train_args = parse(["train"])
    assert all(getattr(train_args, f.name) is None for f in fields(TrainConfig))  # --config and --resume see what was given
    assert parse(["demo"]).iterations == TrainConfig().iterations
    library = {n: p.default for n, p in inspect.signature(gradcheck).parameters.items()}
    options = from_args(theory.GradcheckOptions, parse(["gradcheck"]))
    assert all(getattr(options, f) == library[f] for f in ("opponent", "rounds", "context", "policy", "samples", "estimators", "repeats", "seed", "game"))
    evaluate = from_args(measure.EvaluateOptions, parse(["evaluate", "run", "--opponent", "frequency"]))
    assert (evaluate.matches, evaluate.seed) == (inspect.signature(evaluate_checkpoint).parameters["matches"].default, 0)
    tournament = from_args(measure.TournamentOptions, parse(["tournament", "--agents", "uniform"]))
    signature = inspect.signature(run_tournament).parameters
    assert (tournament.rounds, tournament.seeds, tournament.jobs, tournament.suite) == (signature["rounds"].default, signature["seeds"].default, None, ())


def test_an_unknown_opponent_in_a_list_is_the_commands_error_not_a_usage_error(capsys):
    assert main(["compare", "--opponents", "nobody,frequency", "--quiet"]) == 2  # split in the handler, inside the error boundary
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: unknown opponent 'nobody' in 'nobody,frequency'; allowed: ") and err.count("\n") == 1
