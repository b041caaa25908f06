"""``policygrad export``: a registered player or a checkpoint as a self-contained agent file."""

from __future__ import annotations

from dataclasses import dataclass

from ..export import PLAYER_EXPORTS, export_kaggle
from ..files import check_writable_file
from .common import add_options, console, defaults_of, from_args, option, path_arg, seed_arg

TARGETS = ("kaggle",)
_LIB = defaults_of(export_kaggle)


@dataclass(frozen=True)
class ExportOptions:
    target: str = option(help="kaggle: agent(observation, configuration) for the Kaggle rps environment", positional=True, choices=TARGETS)
    agent: str = option(
        help=f"a registered player ({', '.join(PLAYER_EXPORTS)}), or a checkpoint.pt (policy or expert mixture) or its run directory",
        positional=True,
        type=path_arg,
    )
    out: str = option(help="the agent file to write, e.g. agent.py", short="-o", metavar="FILE", type=path_arg)
    seed: int | None = option(_LIB.seed, "seed of the agent's NumPy generator each match (default: fresh entropy)", type=seed_arg)


def cmd_export(args) -> int:
    o = from_args(ExportOptions, args)
    check_writable_file(o.out, "-o/--out")
    written = export_kaggle(o.agent, o.out, seed=o.seed)
    console.print(f"wrote {written}: a NumPy-only agent(observation, configuration) for the Kaggle rps environment", highlight=False)
    return 0


def register(sub) -> None:
    p = sub.add_parser("export", help="write a registered player or a checkpoint as a self-contained agent file (kaggle: NumPy only)")
    add_options(p, ExportOptions)
    p.set_defaults(func=cmd_export)
