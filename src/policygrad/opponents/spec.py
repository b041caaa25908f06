"""Opponent spec strings: ``name:key=value,...``, lists of specs in brackets, one parser for them.

Ground floor: imports nothing of the package. The registry (:mod:`policygrad.opponents.registry`)
looks the name up; :class:`~policygrad.opponents.base.Param` reads each value.
"""

from __future__ import annotations

__all__ = ["parse_spec", "split_top_level", "MAX_SPEC_DEPTH"]

MAX_SPEC_DEPTH = 16  # brackets nested in one spec (mix:of=[mix:of=[...]]): deeper is refused with a message, not a RecursionError


def split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside square brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"markov:order=2,decay=0.9"`` -> ``("markov", {"order": "2", "decay": "0.9"})``.

    A comma-separated piece without ``=`` continues the previous value, so lists read
    naturally: ``mixed:probs=0.5,0.3,0.2``. Brackets nest specs: ``mix:of=[frequency|markov:order=2]``.
    """
    depth = deepest = 0
    for ch in spec:
        depth += (ch == "[") - (ch == "]")
        deepest = max(deepest, depth)
    if deepest > MAX_SPEC_DEPTH:
        raise ValueError(f"opponent spec {_short(spec)} nests {deepest} levels of brackets; allowed: at most {MAX_SPEC_DEPTH}")
    name, _, rest = spec.strip().partition(":")
    params: dict[str, str] = {}
    last = None
    for piece in split_top_level(rest, ",") if rest.strip() else []:
        key, eq, value = piece.partition("=")
        if eq and key.strip() and "[" not in key:
            last = key.strip()
            if last in params:
                raise ValueError(f"{name}: parameter '{last}' given twice in {spec!r}")
            params[last] = value.strip()
        elif last is not None:
            params[last] += "," + piece.strip()
        else:
            raise ValueError(f"bad opponent spec {spec!r}: expected name:key=value,...")
    return name.strip(), params


def _short(text: str, limit: int = 80) -> str:
    """``repr(text)``, its middle left out past ``limit`` characters (a message stays one readable line)."""
    return repr(text) if len(text) <= limit else repr(text[: limit // 2]) + " ... " + repr(text[-limit // 4 :])
