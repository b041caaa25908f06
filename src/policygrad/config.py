"""Run configuration: one frozen dataclass, checked before any work starts, saved beside the metrics.

Only the CLI parses argv; this module reads and writes TOML and checks every value.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, fields
from typing import Any

from .estimators import parse_estimator
from .games import make_game
from .limits import MAX_SEED
from .opponents.registry import check_spec, refuse_outside_code

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["TrainConfig", "load_toml", "read_config", "dump_toml", "OPTIMIZERS", "SCHEDULES"]

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Defaults are tuned to work without changes."""

    opponent: str = dataclasses.field(default="frequency", metadata={"help": "opponent spec (see `policygrad opponents`)"})
    game: str = dataclasses.field(default="rps", metadata={"help": "rps, rpsls, weighted-rps:weights=a,b,c, matrix:rows=..."})
    rounds: int = dataclasses.field(default=100, metadata={"help": "T, rounds per match", "low": 1})
    context: int = dataclasses.field(default=5, metadata={"help": "k, past rounds the policy sees", "low": 0, "high": 8})
    counts: bool = dataclasses.field(default=True, metadata={"help": "add both players' running move frequencies to the observation"})
    gaps: bool = dataclasses.field(
        default=True,
        metadata={
            "help": "policy and critic also read each player's count gap to its most frequent move, exp(-gap) and exp(-gap/4) (mlp and gru; only with counts)"
        },
    )
    policy: str = dataclasses.field(default="mlp", metadata={"help": "mlp, tabular or gru", "choices": ("mlp", "tabular", "gru")})
    hidden: tuple = dataclasses.field(default=(64,), metadata={"help": "hidden layer sizes (gru: the first is the state size)"})
    estimator: str = dataclasses.field(
        default="gae", metadata={"help": "total-return, reward-to-go, q-form or gae", "choices": ("total-return", "reward-to-go", "q-form", "gae")}
    )
    baseline: str = dataclasses.field(
        default="value",
        metadata={"help": "none, batch-mean, per-round or value (gae always uses the value)", "choices": ("none", "batch-mean", "per-round", "value")},
    )
    gamma: float = dataclasses.field(default=1.0, metadata={"help": "discount", "low": 0.0, "high": 1.0})
    lam: float = dataclasses.field(default=0.9, metadata={"help": "GAE lambda", "low": 0.0, "high": 1.0})
    normalize_advantages: bool = dataclasses.field(default=True, metadata={"help": "scale advantages to zero mean, unit spread per batch"})
    ent_coef: float = dataclasses.field(
        default=0.1,
        metadata={"help": "entropy bonus weight per round: each round's entropy against that round's advantage (a bonus: it raises entropy)", "low": 0.0},
    )
    ent_anneal: tuple = dataclasses.field(
        default=(0.6, 0.9),
        metadata={"help": "fractions of the run: the bonus is ent_coef until the first, then falls linearly to 0 at the second (1,1: constant)", "item": float},
    )
    vf_coef: float = dataclasses.field(default=0.5, metadata={"help": "critic loss weight", "low": 0.0})
    optimizer: str = dataclasses.field(default="adam", metadata={"help": "adam, or sgd (the seed's plain update)", "choices": OPTIMIZERS})
    lr: float = dataclasses.field(default=0.02, metadata={"help": "learning rate alpha", "low_open": 0.0, "high": 10.0})
    lr_schedule: str = dataclasses.field(default="constant", metadata={"help": "constant, linear (to 0) or cosine", "choices": SCHEDULES})
    max_grad_norm: float = dataclasses.field(default=1.0, metadata={"help": "gradient clipping (0: off)", "low": 0.0})
    iterations: int = dataclasses.field(default=250, metadata={"help": "gradient steps", "low": 1})
    batch: int = dataclasses.field(default=256, metadata={"help": "N, matches per iteration", "low": 1})
    seed: int = dataclasses.field(default=0, metadata={"help": "seed of every generator", "low": 0, "high": MAX_SEED})
    checkpoint_every: int = dataclasses.field(default=25, metadata={"help": "iterations between checkpoints", "low": 1})
    tensorboard: bool = dataclasses.field(default=True, metadata={"help": "write TensorBoard events"})
    threads: int = dataclasses.field(default=1, metadata={"help": "torch CPU threads (0: torch's default); small batches run fastest on 1", "low": 0})

    def __post_init__(self) -> None:
        for name in ("hidden", "ent_anneal"):  # TOML and JSON give lists
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        for f in fields(self):
            check_field(f, getattr(self, f.name))
            _check_tuple(f.name, getattr(self, f.name))
        make_game(self.game)
        check_spec(self.opponent)  # a data check: builds no outside bot, so a loaded config runs nothing
        parse_estimator(self.estimator)

    @property
    def uses_gaps(self) -> bool:
        """The policy reads the mode-gap features: asked for, with count features to read them from."""
        return self.gaps and self.counts and self.policy != "tabular"

    def ent_weight(self, iteration: int) -> float:
        """The entropy bonus weight at ``iteration`` (0-based): ent_coef, annealed linearly to 0 over ent_anneal."""
        start, end = self.ent_anneal
        x = iteration / self.iterations
        if x <= start:
            return self.ent_coef
        if x >= end:
            return 0.0
        return self.ent_coef * (end - x) / (end - start)

    @property
    def uses_critic(self) -> bool:
        """Actor-critic when the advantage needs a learned V(s)."""
        return self.estimator == "gae" or self.baseline == "value"

    def to_dict(self) -> dict:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainConfig":
        if not isinstance(data, dict):
            raise ValueError(f"{source}: a config must be a table of settings, got a {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"{source}: unknown key '{key}'; allowed: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}


def _check_tuple(name: str, value) -> None:
    """TrainConfig's two list fields: the hidden widths and the entropy anneal's start and end."""
    if name == "hidden" and (not value or any(not isinstance(h, int) or isinstance(h, bool) or h < 1 for h in value)):
        raise ValueError(f"hidden must be a non-empty list of positive integers, got {list(value)!r}")
    if name == "ent_anneal" and not (
        len(value) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value) and 0.0 <= value[0] <= value[1] <= 1.0
    ):
        raise ValueError(f"ent_anneal must be two fractions start,end with 0 <= start <= end <= 1, got {list(value)!r}")


def check_field(f, value) -> None:
    """One clear error when ``value`` is not of dataclass field ``f``'s type, or outside its metadata's range or choices."""
    meta, name = f.metadata, f.name
    ftype = f.type if isinstance(f.type, str) else f.type.__name__
    expected: Any = {"int": int, "float": (int, float), "bool": bool, "str": str, "tuple": tuple}[ftype]
    if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
        kind = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string", "tuple": "a list"}[ftype]
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    bounds = [
        f">= {meta['low']}" if "low" in meta else "",
        f"> {meta['low_open']}" if "low_open" in meta else "",
        f"<= {meta['high']}" if "high" in meta else "",
    ]
    allowed = " and ".join(b for b in bounds if b)
    if isinstance(value, float) and not math.isfinite(value):  # inf passes every bound below; NaN fails none of them
        raise ValueError(f"{name} must be a finite number, got {value!r}" + (f"; allowed: {allowed}" if allowed else ""))
    if "choices" in meta and value not in meta["choices"]:
        raise ValueError(f"{name}={value!r} is not allowed; allowed: {', '.join(meta['choices'])}")
    if ("low" in meta and value < meta["low"]) or ("low_open" in meta and not value > meta["low_open"]) or ("high" in meta and value > meta["high"]):
        raise ValueError(f"{name}={value!r} is out of range; allowed: {allowed}")


def load_toml(path: str) -> dict:
    """A TOML file as a dict, or one clear error naming the file."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a TOML file: byte {e.start} is not UTF-8 text ({e.object[e.start : e.start + 1]!r})") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None


def read_config(path: str, trusted_opponent: str | None = None) -> TrainConfig:
    """The TrainConfig of a TOML file (a run's ``config.toml``, a ``--config`` file), checked: reading it runs nothing.

    A stored file is not trusted to run code: when its opponent would run outside code
    (``kaggle:path=FILE.py``, alone or in a mix at any depth), it raises
    :class:`~policygrad.opponents.OutsideCodeError`, unless ``trusted_opponent``, the spec the person
    named on the command line or in Python, is that same spec.
    """
    config = TrainConfig.from_dict(load_toml(path), source=path)
    refuse_outside_code(config.opponent, path, trusted_opponent)
    return config


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump_toml(data: dict) -> str:
    """A flat dict as TOML text."""
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in data.items())
