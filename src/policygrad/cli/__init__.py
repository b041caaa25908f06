"""The ``policygrad`` command: the top parser, the sub-commands of each module, and the one error boundary.

Only this package parses arguments and prints. Each command module (:mod:`.train`, :mod:`.measure`,
:mod:`.theory`, :mod:`.sweep`, :mod:`.export`, :mod:`.opponents`) registers its sub-commands next
to their handlers; their flags are made from the options dataclasses by
:func:`policygrad.cli.common.add_options`. A module imports at its top what its parser needs and
the handlers' work; figures (matplotlib) load when a figure is drawn, Ray when a command runs on it.
"""

from __future__ import annotations

import argparse

from rich.text import Text

from .. import __version__
from . import export, measure, opponents, sweep, theory, train
from .common import HelpFormatter, console, err_console
from .measure import parse_move

__all__ = ["main", "build_parser", "parse_move", "console", "err_console"]

DESCRIPTION = """\
Policy gradient for repeated zero-sum matrix games (rock-paper-scissors and kin): train stochastic
policies that adaptive opponents cannot exploit, check every gradient estimator against the exact
gradient, and measure what a perfect opponent takes (exploitability) or the best any agent can get
(optimum). Start with `policygrad demo`; `policygrad COMMAND --help` shows each command's options."""

COMMAND_MODULES = (train, measure, theory, sweep, export, opponents)
"""In the order ``policygrad --help`` lists their commands."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policygrad", description=DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"policygrad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    for command in sub.choices.values():  # every sub-command's help shows its defaults
        command.formatter_class = HelpFormatter
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
