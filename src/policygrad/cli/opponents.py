"""``policygrad opponents``: every opponent of the registry with its parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.table import Table

from ..opponents import describe_opponents
from ..opponents.external import install_hint
from .common import add_options, console, from_args, option


@dataclass(frozen=True)
class OpponentsOptions:
    json: bool = option(False, "print a JSON list")


def cmd_opponents(args) -> int:
    o = from_args(OpponentsOptions, args)
    rows = describe_opponents()
    if o.json:
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


def register(sub) -> None:
    p = sub.add_parser("opponents", help="list every opponent with its parameters")
    add_options(p, OpponentsOptions)
    p.set_defaults(func=cmd_opponents)
