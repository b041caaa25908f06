"""The opponent registry: spec strings to opponent objects, and the checks of a stored spec.

``make_opponent("markov:order=2,decay=0.9")`` builds one; ``OPPONENTS`` is the explicit list;
groups are filters over the metadata (``adaptive``, ``stochastic``, ``memory_depth``). A ``mix``'s
members are built here and handed to :class:`~policygrad.opponents.mix.Mix`, so the families never
reach up to the registry.

A spec read from a stored file (a checkpoint's config, a run's ``config.toml``) is data:
``check_spec`` checks it without building outside bots, and ``outside_code`` lists the parts that
would run code from a file (``kaggle:path=FILE.py``, at any depth of a mix), which only a person may
ask for (``refuse_outside_code``).
"""

from __future__ import annotations

import shlex

from .base import Opponent, OutsideCodeError, Param
from .external import EXTERNAL_OPPONENTS  # outside bots (optional extras), unbatched: not in OPPONENTS
from .fixed import Constant, Cycle, Mixed
from .learning import PGLearner, QLearner
from .mix import Mix
from .predictive import Exploiter, Frequency, Markov, Pattern
from .reactive import BeatLast, Mirror, WinStayLoseShift
from .spec import parse_spec, split_top_level
from .whitebox import BestResponse, MindReader

OPPONENTS: tuple[type[Opponent], ...] = (
    Constant,
    Mixed,
    Cycle,
    Mirror,
    BeatLast,
    WinStayLoseShift,
    Frequency,
    Markov,
    Pattern,
    Exploiter,
    QLearner,
    PGLearner,
    Mix,
    BestResponse,
    MindReader,
)
REGISTRY: dict[str, type[Opponent]] = {cls.name: cls for cls in OPPONENTS}
EXTERNAL: dict[str, type[Opponent]] = {cls.name: cls for cls in EXTERNAL_OPPONENTS}

__all__ = [
    "Opponent",
    "Param",
    "OPPONENTS",
    "REGISTRY",
    "make_opponent",
    "describe_opponents",
    "split_specs",
    "adaptive_names",
    "check_spec",
    "outside_code",
    "refuse_outside_code",
    "OutsideCodeError",
    "EXTERNAL",
]


def _lookup(spec: object) -> tuple[type[Opponent], dict[str, str]]:
    """(class, raw parameters) of a spec string; one clear error for anything else."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"opponent spec must be a non-empty string, got {spec!r}; allowed: {', '.join(REGISTRY)}")
    name, params = parse_spec(spec)
    if name in EXTERNAL:
        return EXTERNAL[name], params
    if name not in REGISTRY:
        raise ValueError(f"unknown opponent '{name}'; allowed: {', '.join(REGISTRY)}; outside bots: roshambo:bot=NAME, kaggle:path=FILE.py")
    return REGISTRY[name], params


def make_opponent(spec: "str | Opponent") -> Opponent:
    """An opponent from a spec string (``name`` or ``name:key=value,...``), or the object itself.

    Building runs nothing: an outside bot's file is only checked (it exists, it compiles, it defines
    a function) and runs when a match starts (``reset``)."""
    if isinstance(spec, Opponent):
        return spec
    cls, params = _lookup(spec)
    if cls is Mix:  # its members are built here, then handed over
        members = [make_opponent(s) for s in Mix.parse_params(params)["of"]]
        return Mix(members, **params)
    return cls(**params)


def check_spec(spec: str) -> None:
    """Check a spec's syntax and parameters as :func:`make_opponent` would, building no outside bot:
    no file is read, no module imported, no code run, at any depth of a mix. Checks of a spec read
    from a stored file (a checkpoint, a config) use this."""
    cls, params = _lookup(spec)
    cls.check_params(params)
    for p in cls.params:  # a mix's members, at any depth
        if p.kind == "specs":
            for member in p.parse(cls.name, params.get(p.name, p.default)):
                check_spec(member)


def outside_code(spec: str) -> list[str]:
    """The parts of ``spec`` that would run code from a file: itself, or members of a mix at any
    depth, that are ``kaggle:path=FILE.py``; empty for everything else (the families' opponents,
    the RoShamBo bots and Kaggle's built-in agents run only the installed packages)."""
    cls, params = _lookup(spec)
    found = [spec.strip()] if cls.runs_outside_code(params) else []
    for p in cls.params:
        if p.kind == "specs":
            for member in p.parse(cls.name, params.get(p.name, p.default)):
                found += outside_code(member)
    return found


def refuse_outside_code(spec: str, source: str, named: str | None = None) -> None:
    """Raise :class:`OutsideCodeError` when ``spec``, read from the stored file ``source``, would run
    outside code, unless ``named``, the spec a person gave on the command line or in Python, is the
    same spec (then they asked for it)."""
    code = outside_code(spec)
    if code and (named is None or named.strip() != spec.strip()):
        raise OutsideCodeError(
            f"{source} names the opponent {spec!r}, which would run outside code ({', '.join(code)}); a stored file may not run code: "
            f"if you trust that code, name the opponent yourself: --opponent {shlex.quote(spec.strip())}",
            spec,
            code,
            source,
        )


# how an outside bot is named, and the optional extra that brings it
_OUTSIDE_USAGE = {
    "roshambo": ("roshambo:bot=NAME (NAME: one of the 43 competition bots; all of them: policygrad tournament --suite roshambo)", "roshambo"),
    "kaggle": (
        "kaggle:path=FILE.py (your agent file, run as you name it; no extra needed) or kaggle:agent=NAME (a built-in agent of kaggle-environments, which the extra installs)",
        "kaggle",
    ),
}


def describe_opponents() -> list[dict]:
    """Every opponent: the registered ones, then the outside bots (``outside``: True, with ``usage``,
    how a spec names one, and ``extra``, the optional extra that installs what it runs); each with
    its name, description, metadata and parameters with defaults."""
    out = []
    for cls in OPPONENTS + EXTERNAL_OPPONENTS:
        usage, extra = _OUTSIDE_USAGE.get(cls.name, (None, None))
        out.append(
            {
                "name": cls.name,
                "description": cls.description(),
                "adaptive": cls.adaptive,
                "stochastic": cls.stochastic,
                "memory_depth": cls.memory_depth if cls.memory_depth != float("inf") else "inf",
                "parameters": [
                    {"name": p.name, "default": list(p.default) if isinstance(p.default, tuple) else p.default, "allowed": p.allowed(), "help": p.help}
                    for p in cls.params
                ],
                "outside": cls in EXTERNAL_OPPONENTS,
                "usage": usage,
                "extra": extra,
            }
        )
    return out


def adaptive_names() -> list[str]:
    """The names of the opponents that adapt to the agent (a filter over the metadata)."""
    return [cls.name for cls in OPPONENTS if cls.adaptive]


def split_specs(text: str) -> list[str]:
    """Split a comma-separated list of opponent specs whose own parameters may hold commas:
    ``"frequency,markov:order=2,decay=0.9,mixed:probs=0.5,0.3,0.2"`` -> three specs. A piece
    starts a new spec when it begins with a registered name; anything else continues the last one."""
    specs: list[str] = []
    for piece in split_top_level(text, ","):
        piece = piece.strip()
        head = piece.split(":", 1)[0]
        if (head in REGISTRY or head in EXTERNAL) and (":" in piece or "=" not in piece):
            specs.append(piece)
        elif specs:
            specs[-1] += "," + piece
        else:
            raise ValueError(f"unknown opponent '{head}' in {text!r}; allowed: {', '.join(REGISTRY)}")
    return specs
