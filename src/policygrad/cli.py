"""The ``policygrad`` command. Only this module parses arguments and prints."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from . import __version__

console = Console()


def cmd_opponents(args) -> int:
    from .opponents import describe_opponents

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
        table.add_row(r["name"], r["description"], params)
    console.print(table)
    return 0


def cmd_demo(args) -> int:
    from .evaluate import play_opponents

    agents = ["mixed", "constant", "cycle", "frequency"]
    opponents = ["frequency", "markov:order=2", "pattern", "q-learner"]
    table = Table(title=f"reward per round of the row player ({args.matches} matches x {args.rounds} rounds, 95% interval)")
    table.add_column("agent \\ opponent")
    for o in opponents:
        table.add_column(o, justify="right")
    for a in agents:
        cells = []
        for o in opponents:
            s = play_opponents(a, o, matches=args.matches, rounds=args.rounds, seed=args.seed)
            cells.append(f"{s.mean:+.3f} ± {s.ci95:.3f}")
        table.add_row(a, *cells)
    console.print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policygrad", description=__doc__)
    parser.add_argument("--version", action="version", version=f"policygrad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("opponents", help="list every opponent with its parameters")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_opponents)

    p = sub.add_parser("demo", help="the main job: a table of matches")
    p.add_argument("--matches", type=int, default=256)
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
