"""What every command of the ``policygrad`` command line shares: the consoles, the argument types,
the help formatter, and :func:`add_options`, which makes a command's flags from a frozen dataclass.

A command's options live in one dataclass: the library's own where it has one (``TrainConfig``,
``CompareSettings``, ``SelfPlayConfig``), otherwise a small one in the command's module whose
fields are declared with :func:`option`. Each field gives a flag its name, type, default, help and
checks once; the handler rebuilds the dataclass from the parsed arguments with :func:`from_args`.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import math
import textwrap
from collections.abc import Callable
from dataclasses import MISSING, field, fields
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

from rich.console import Console

from ..limits import MAX_SEED

__all__ = [
    "console", "err_console", "HelpFormatter", "says_default", "option", "add_options", "from_args", "defaults_of", "field_helps",
    "seed_arg", "seeds_arg", "path_arg", "at_least", "integer", "finite", "ints", "floats", "names", "shown", "GAME_HELP", "OPPONENT_HELP",
]  # fmt: skip

# No markup: what is printed holds opponent specs such as ``mix:of=[frequency|markov]``, paths and
# messages, whose brackets are text, not styles; the few styles are given as styles.
console = Console(width=None if Console().is_terminal else 120, markup=False)
# every error and notice goes to stderr, so that ``--json > out.json`` keeps stdout pure JSON
err_console = Console(stderr=True, markup=False, highlight=False)

GAME_HELP = "rps, rpsls, weighted-rps:weights=1,2,3, matrix:rows=..."
OPPONENT_HELP = "opponent spec (see `policygrad opponents`)"


# -- argument types: each refuses a bad value with one line naming it -------------------------------------


def seed_arg(text: str) -> int:
    """A seed: an integer in 0..2^32-1, the one rule of every command."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed, an integer in 0..{MAX_SEED}, got {text!r}")
    return value


def at_least(low: int) -> Callable[[str], int]:
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


def integer(text: str) -> int:
    """Any integer (``1_000`` too); its range is the dataclass's to check."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def finite(text: str) -> float:
    """A finite number (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def path_arg(text: str) -> str:
    """A path: any non-empty text (an empty one would silently mean the current folder or a default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a non-empty path, got {text!r}")
    return text


def ints(text: str) -> tuple[int, ...]:
    """Comma-separated integers: ``100,1000``."""
    try:
        return tuple(int(x.replace("_", "")) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def floats(text: str) -> tuple[float, ...]:
    """Comma-separated numbers: ``0.6,0.9``."""
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def names(text: str) -> tuple[str, ...]:
    """Comma-separated names without commas of their own: ``pg,dqn``."""
    return tuple(x.strip() for x in text.split(","))


def seeds_arg(text: str) -> tuple[int, ...]:
    """``3`` -> seeds 0, 1, 2; ``4,7`` -> seeds 4 and 7."""
    values = ints(text)
    if len(values) == 1 and "," not in text:
        if not 1 <= values[0] <= MAX_SEED + 1:
            raise argparse.ArgumentTypeError(f"--seeds needs a count in 1..{MAX_SEED + 1} or a comma-separated list, got {text!r}")
        return tuple(range(values[0]))
    bad = [v for v in values if not 0 <= v <= MAX_SEED]
    if bad:
        raise argparse.ArgumentTypeError(f"seeds must be integers in 0..{MAX_SEED}, got {bad[0]} in {text!r}")
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise argparse.ArgumentTypeError(
            f"seeds must differ (a repeated seed repeats the same run and shrinks the interval for nothing), got {twice[0]} twice in {text!r}"
        )
    return values


# -- help -------------------------------------------------------------------------------------------------


def shown(value: Any) -> str:
    """A default as ``--help`` shows it: ``on``/``off``, ``64,32``, ``none`` for an empty list."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) or "none"
    return str(value)


def says_default(text: str) -> bool:
    """Whether a help text already says what the option's absence means: ``(default: ...)``, ``...; default ...``."""
    return "(default" in text or "; default" in text


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, ``(default: 4)``, unless it says it already; flags
    (off unless given), required options and options whose help says what their absence means are left as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if says_default(text) or action.required or not action.option_strings or action.nargs == 0 or action.default in (None, argparse.SUPPRESS):
            return text
        return f"{text} (default: {shown(action.default).replace('%', '%%')})".lstrip()


# -- flags from a dataclass --------------------------------------------------------------------------------


def option(
    default: Any = MISSING,
    help: str = "",
    *,
    type: Callable[[str], Any] | None = None,
    choices: tuple | None = None,
    metavar: str | None = None,
    positional: bool = False,
    nargs: str | None = None,
    short: str | None = None,
    append: bool = False,
) -> Any:
    """A field of a command's options dataclass: its default and help once, and how its flag reads.

    Args:
        default: the value when the flag is not given; none: the option is required.
        help: one line for ``--help`` (the default is added to it).
        type: the argparse type that reads and checks the text (default: from the annotation).
        choices: the values allowed.
        metavar: the placeholder in ``--help``.
        positional: an argument without a flag (``nargs`` as argparse's).
        short: a one-letter alias, e.g. ``-o``.
        append: a repeatable flag, its values collected in a tuple.
    """
    meta = {"help": help, "type": type, "choices": choices, "metavar": metavar, "positional": positional, "nargs": nargs, "short": short, "append": append}
    return field(default=default, metadata={k: v for k, v in meta.items() if v is not None and v is not False and v != ""})


def field_helps(cls: type) -> dict[str, str]:
    """Each field's help: its ``help`` metadata, else the docstring written under it in the class."""
    docs: dict[str, str] = {}
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (a frozen app): the metadata alone
        tree = None
    if tree is not None:
        body = tree.body[0].body  # type: ignore[attr-defined]
        for stmt, after in pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(after.value.value.split())
    return {f.name: f.metadata.get("help") or docs.get(f.name, "") for f in fields(cls)}


def _kind(f) -> str:
    """The annotation's first type as a word: ``int | None`` -> ``int``."""
    name = f.type if isinstance(f.type, str) else f.type.__name__
    return name.split("|")[0].split("[")[0].strip()


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    skip: tuple[str, ...] = (),
    rename: dict[str, str] | None = None,
    override: dict[str, dict[str, Any]] | None = None,
    unset: bool = False,
) -> None:
    """Add one flag per field of the frozen dataclass ``cls`` to ``parser``.

    The flag is ``--field-name`` (``rename`` maps a field to another name), its dest the field's
    name; its type comes from the annotation (int, a finite float, str, a comma-separated tuple of
    the default's items; a bool is ``--x/--no-x``, or a plain ``--x`` when off by default), its
    default and choices from the field, its help from :func:`field_helps`. ``override`` replaces
    what a field's :func:`option` would say (``{"rounds": {"type": at_least(1)}}``) for a library
    dataclass that does not speak argparse.

    Args:
        unset: every flag defaults to None and its help names the dataclass default: a value not
            given stays distinguishable from one given (``train --config`` layers them).
    """
    helps = field_helps(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        meta = {**f.metadata, **(override or {}).get(f.name, {})}
        kind, required = _kind(f), f.default is MISSING
        text = meta.get("help") or helps[f.name]
        kw: dict[str, Any] = {}
        if kind == "bool":
            flip = unset or f.default is True
            kw["action"] = argparse.BooleanOptionalAction if flip else "store_true"
            kw["default"] = None if unset else f.default
            text += f" (default: {shown(f.default)})" if flip else ""
        else:
            one_value = meta.get("append") or "nargs" in meta  # a value per flag or per word, not a list in one
            kw["type"] = meta.get("type") or (None if one_value else _type_of(kind, f))
            if kind == "tuple" and not one_value and "comma" not in text:
                text += " (comma-separated)"
            # argparse shows a flag's default itself (HelpFormatter); the others are said here
            says = unset or required or one_value or meta.get("positional")
            kw["default"] = None if says else f.default
            if says and not required and f.default is not None and not says_default(text):
                # a repeated flag's values are whole specs, which may hold commas: joined with "and"
                text += f" (default: {' and '.join(f.default) or 'none' if meta.get('append') else shown(f.default)})"
            for key in ("choices", "metavar", "nargs"):
                if key in meta:
                    kw[key] = meta[key]
            if meta.get("append"):
                kw["action"] = "append"
        kw["help"] = text
        if meta.get("positional"):
            if not required and "nargs" not in meta:
                kw["nargs"] = "?"
            parser.add_argument(f.name, **kw)
            continue
        flag = "--" + (rename or {}).get(f.name, f.name).replace("_", "-")
        flags = [meta["short"], flag] if "short" in meta else [flag]
        parser.add_argument(*flags, dest=f.name, required=required, **kw)


def _type_of(kind: str, f) -> Callable[[str], Any] | None:
    if kind == "int":
        return integer
    if kind == "float":
        return finite
    if kind == "tuple":  # the items' type: the metadata's ``item``, else the default's first item's
        item = f.metadata.get("item") or (type(f.default[0]) if isinstance(f.default, tuple) and f.default else str)
        return {int: ints, float: floats}.get(item, names)
    return None  # str: as typed


def from_args(cls: type, args: argparse.Namespace, skip: tuple[str, ...] = (), **given: Any):
    """The dataclass ``cls`` from parsed arguments: a flag left unset (None) takes the field's
    default, a repeated flag's list becomes a tuple, ``given`` values win; the dataclass checks them."""
    values = {}
    for f in fields(cls):
        value = given[f.name] if f.name in given else None if f.name in skip else getattr(args, f.name)
        if value is not None:
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def defaults_of(func: Callable) -> SimpleNamespace:
    """The keyword defaults of a library function, so that a command's options restate none of them."""
    return SimpleNamespace(**{n: p.default for n, p in inspect.signature(func).parameters.items() if p.default is not p.empty})
