"""Sweeps: many training runs from one file, run on Ray Tune (grids, random search, ASHA, PBT).

A sweep file (TOML) names a base training config, a search space over any of its fields, the seeds,
the metric, and a scheduler::

    trainer = "policy"            # what each trial trains: policy (policygrad train) or expert-mixture
    config = "meta.toml"          # optional: a config file of that trainer, relative to this file
    seeds = [0, 1, 2]             # or a count: 3 -> 0, 1, 2
    metric = "reward_per_round"   # a column of metrics.csv; mode "max" or "min"
    scheduler = "asha"            # none, asha (stop bad cells early) or pbt (population-based training)

    [base]                        # the trainer's config fields, over the config file's
    iterations = 200

    [space]                       # a dimension per config field
    opponent = { grid = ["frequency", "markov:order=2"] }   # every value
    lr = { loguniform = [1e-4, 0.1] }                         # drawn: `samples` draws per grid point
    ent_coef = { uniform = [0.0, 0.2] }
    policy = { choice = ["mlp", "gru"] }

A *cell* is one point of the space (a value for each dimension): the grid's product, crossed with
``samples`` draws of the random dimensions (drawn here, from ``sample_seed``, so every seed of a cell
trains the same values and a resumed sweep draws the same cells). A *trial* is a cell with a seed: a
normal run directory ``OUT/runs/NNN__KEY=VALUE__seed=S`` (config.toml, metrics.csv, checkpoint.pt,
report.json) that ``policygrad evaluate/plot/exploitability`` and :meth:`policygrad.Agent.load`
read as they are.

Everything is checked here, before Ray starts: every key, every value of every cell (each trial's
:class:`~policygrad.config.TrainConfig` is built), each range's ends, the scheduler and its
settings. The run itself is :func:`run_sweep` (Ray Tune, :mod:`policygrad.sweep_tune`); the results table
and figures are :mod:`policygrad.sweep_results`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import random
from dataclasses import dataclass

from .config import load_toml, read_config
from .distributed import import_ray, ray_session
from .files import RUN_MARKER, RunLock, atomic_write_text, check_writable_dir, name_part
from .limits import check_seed
from .opponents import outside_code
from .opponents.external import MissingExtraError
from .sweep_results import collect, plot_sweep, write_results
from .trainers import TRAINERS, trainer_of

try:  # Ray Tune runs the trials: the optional extra `ray` (run_sweep says how to install it)
    from .sweep_tune import EXPERIMENT, run_tune
except MissingExtraError:
    EXPERIMENT, run_tune = "ray", None

__all__ = ["SweepSpec", "Dimension", "Trial", "SweepResult", "load_sweep", "sweep_from_dict", "run_sweep", "SCHEDULERS", "DOMAINS", "METRICS", "TRAINERS"]

SCHEDULERS = ("none", "asha", "pbt")
DOMAINS = ("grid", "choice", "uniform", "loguniform")
METRICS = TRAINERS["policy"].metrics  # numeric columns of a policy run's metrics.csv (an expert-mixture run's: TRAINERS)
MODES = ("max", "min")
_TOP = ("trainer", "config", "seeds", "metric", "mode", "scheduler", "samples", "sample_seed", "max_failures", "report_seconds", "base", "space", "asha", "pbt")
_ASHA = {"grace_period": None, "reduction_factor": 2.0}
_PBT = {"perturbation_interval": None, "quantile_fraction": 0.25, "resample_probability": 0.25, "mutations": None, "synch": False}


@dataclass(frozen=True)
class Dimension:
    """One swept field: ``grid`` and ``choice`` list values, ``uniform`` and ``loguniform`` give [low, high]."""

    key: str
    kind: str
    values: tuple

    @property
    def random(self) -> bool:
        return self.kind != "grid"

    def draw(self, rng: random.Random):
        if self.kind == "choice":
            return self.values[rng.randrange(len(self.values))]
        low, high = self.values
        if self.kind == "uniform":
            return rng.uniform(low, high)
        return math.exp(rng.uniform(math.log(low), math.log(high)))

    def clip(self, value):
        """A PBT perturbation kept inside the dimension's range (``uniform``, ``loguniform``)."""
        if self.kind in ("uniform", "loguniform"):
            return min(max(value, self.values[0]), self.values[1])
        return value


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: a cell (its index and swept values) and a seed; ``name`` is its run folder."""

    name: str
    cell: int
    seed: int
    values: dict


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep file. ``cells`` are the points of the space, ``trials`` every cell with every seed."""

    source: str
    base: dict
    space: tuple
    seeds: tuple
    metric: str = "reward_per_round"
    mode: str = "max"
    scheduler: str = "none"
    samples: int = 1
    sample_seed: int = 0
    max_failures: int = 3
    report_seconds: float = 5.0
    asha: dict | None = None
    pbt: dict | None = None
    cells: tuple = ()
    trials: tuple = ()
    trainer: str = "policy"

    def config(self, values: dict, seed: int):
        """The config (:class:`TrainConfig`, or the trainer's) of the cell with ``values`` and ``seed``."""
        return TRAINERS[self.trainer].config.from_dict({**self.base, **values, "seed": seed}, source=self.source)

    def dimension(self, key: str) -> Dimension:
        return next(d for d in self.space if d.key == key)

    @property
    def max_iterations(self) -> int:
        return max(self.config(c, self.seeds[0]).iterations for c in self.cells)

    def to_dict(self) -> dict:
        """The sweep as plain data (stored as OUT/sweep.json; a resumed sweep must match it)."""
        return {
            "source": os.path.abspath(self.source), "base": _plain(self.base), "space": [{"key": d.key, d.kind: _plain(list(d.values))} for d in self.space],
            "seeds": list(self.seeds), "metric": self.metric, "mode": self.mode, "scheduler": self.scheduler, "samples": self.samples,
            "sample_seed": self.sample_seed, "max_failures": self.max_failures, "report_seconds": self.report_seconds, "asha": self.asha, "pbt": self.pbt,
            "cells": [_plain(c) for c in self.cells], "trials": [t.name for t in self.trials],
        } | ({"trainer": self.trainer} if self.trainer != "policy" else {})  # fmt: skip


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def load_sweep(path: str) -> SweepSpec:
    """Read and check a sweep file; one clear error naming the bad key or value, before any work."""
    return sweep_from_dict(load_toml(path), path)


def _table(data: dict, name: str, source: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"{source}: [{name}] must be a table, got {value!r}")
    return value


def _unknown(keys, allowed, where: str, source: str) -> None:
    for key in keys:
        if key not in allowed:
            raise ValueError(f"{source}: unknown key '{key}' in {where}; allowed: {', '.join(allowed)}")


def _number(value, what: str, source: str, low: float | None = None, high: float | None = None, integer: bool = False, low_open: bool = False):
    kinds = (int,) if integer else (int, float)
    bad = isinstance(value, bool) or not isinstance(value, kinds) or (isinstance(value, float) and not math.isfinite(value))
    if not bad and low is not None:
        bad = value <= low if low_open else value < low
    if not bad and high is not None:
        bad = value > high
    if bad:
        rng = " and ".join(s for s in ((f"> {low}" if low_open else f">= {low}") if low is not None else "", f"<= {high}" if high is not None else "") if s)
        raise ValueError(f"{source}: {what} must be {'an integer' if integer else 'a number'}{' ' + rng if rng else ''}, got {value!r}")
    return value


def _dimension(key: str, raw, source: str, known: dict) -> Dimension:
    if key not in known:
        raise ValueError(f"{source}: unknown key '{key}' in [space]; allowed: any training field ({', '.join(known)}) but seed (seeds = [...])")
    if key == "seed":
        raise ValueError(f"{source}: seed is not a [space] dimension; give the seeds as seeds = [0, 1, 2] (or a count)")
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in DOMAINS:
        raise ValueError(
            f"{source}: [space] {key} must be one of {{ grid = [...] }}, {{ choice = [...] }}, {{ uniform = [low, high] }}, {{ loguniform = [low, high] }}, got {raw!r}"
        )
    kind, values = next(iter(raw.items()))
    if not isinstance(values, list) or not values:
        raise ValueError(f"{source}: [space] {key} = {{ {kind} = ... }} needs a non-empty list, got {values!r}")
    if kind in ("grid", "choice"):
        return Dimension(key, kind, tuple(values))
    ftype = known[key].type if isinstance(known[key].type, str) else known[key].type.__name__
    if ftype != "float":
        raise ValueError(f"{source}: [space] {key} takes {ftype} values, and {kind} draws real numbers; list its values with grid = [...] or choice = [...]")
    if len(values) != 2:
        raise ValueError(f"{source}: [space] {key} = {{ {kind} = [low, high] }} needs two numbers, got {values!r}")
    low, high = (_number(v, f"[space] {key} {kind} bound", source) for v in values)
    if not low < high:
        raise ValueError(f"{source}: [space] {key} = {{ {kind} = [{low}, {high}] }} needs low < high")
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"{source}: [space] {key} = {{ loguniform = [{low}, {high}] }} needs low > 0 (a log scale)")
    return Dimension(key, kind, (float(low), float(high)))


def _check_config(spec: SweepSpec, values: dict, seed: int, where: str):
    try:
        config = spec.config(values, seed)
    except ValueError as e:
        raise ValueError(f"{spec.source}: {where}: {str(e).removeprefix(spec.source + ': ')}") from None
    opponent = getattr(config, TRAINERS[spec.trainer].opponent)
    code = outside_code(opponent) if opponent else []
    if code:
        raise ValueError(
            f"{spec.source}: {where}: the opponent {opponent!r} would run outside code ({', '.join(code)}); a sweep file may not run code: train against it with policygrad train --opponent"
        )
    if spec.metric == "heldout_reward" and (not config.eval_every or config.checkpoint_every % config.eval_every):
        raise ValueError(
            f"{spec.source}: {where}: the metric heldout_reward is measured every eval_every = {config.eval_every} iterations, and a trial reports at its checkpoints "
            f"(checkpoint_every = {config.checkpoint_every}); allowed: eval_every >= 1 dividing checkpoint_every"
        )
    return config


def _cell_name(index: int, values: dict, seed: int) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    tag = "__".join(f"{k}={name_part(fmt(v))}" for k, v in values.items())[:120].rstrip("_")
    return f"{index:03d}" + (f"__{tag}" if tag else "") + f"__seed={seed}"


def sweep_from_dict(data: dict, source: str = "sweep") -> SweepSpec:
    """A :class:`SweepSpec` from a sweep file's data (``source``: its path, for messages and the
    relative ``config`` path)."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a sweep file is a table of settings, got {type(data).__name__}")
    _unknown(data, _TOP, "the sweep file", source)
    path, recipe = None, {}
    if "config" in data:
        if not isinstance(data["config"], str) or not data["config"]:
            raise ValueError(f"{source}: config must be the path of a training config file, got {data['config']!r}")
        path = os.path.join(os.path.dirname(source), data["config"])
        recipe = load_toml(path)
    own = trainer_of(recipe, str(path))  # the config file's own tag (an expert-mixture recipe says so)
    trainer = trainer_of(data, source) if "trainer" in data else own
    if path is not None and own != trainer:
        raise ValueError(f"{source}: trainer = {trainer!r}, but its config file {path} is a recipe of the trainer {own!r}")
    kind = TRAINERS[trainer]
    base: dict = {}
    if path is not None:
        base = (read_config(path) if trainer == "policy" else kind.config.from_dict(recipe, source=path)).to_dict()
    extra = _table(data, "base", source)
    _unknown(extra, list(kind.fields), "[base]", source)
    base.update(extra)
    base.pop("seed", None)  # seeds = [...] gives every trial's
    space = tuple(_dimension(k, v, source, kind.fields) for k, v in _table(data, "space", source).items())
    twice = [k for k in space if k.key in extra]
    if twice:
        raise ValueError(f"{source}: {twice[0].key} is in both [base] and [space]; keep it in one")
    seeds = data.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        _number(seeds, "seeds (a count)", source, 1, 10_000, integer=True)
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds:
        raise ValueError(f"{source}: seeds must be a count or a non-empty list of seeds, got {seeds!r}")
    for s in seeds:
        check_seed(f"{source}: each seed", s)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{source}: seeds must differ, got {seeds!r}")
    metric, mode, scheduler = data.get("metric", "reward_per_round"), data.get("mode", "max"), data.get("scheduler", "none")
    for what, value, allowed in (("metric", metric, kind.metrics), ("mode", mode, MODES), ("scheduler", scheduler, SCHEDULERS)):
        if value not in allowed:
            raise ValueError(f"{source}: unknown {what} {value!r}; allowed: {', '.join(allowed)}")
    samples = _number(data.get("samples", 1), "samples", source, 1, 100_000, integer=True)
    if samples > 1 and not any(d.random for d in space):
        raise ValueError(f"{source}: samples = {samples} draws the random dimensions (choice, uniform, loguniform), and [space] has none")
    sample_seed = check_seed(f"{source}: sample_seed", data.get("sample_seed", 0))
    max_failures = _number(data.get("max_failures", 3), "max_failures", source, 0, 100, integer=True)
    report_seconds = float(_number(data.get("report_seconds", 5.0), "report_seconds", source, 0, 3600))
    for name, defaults in (("asha", _ASHA), ("pbt", _PBT)):
        if name in data and scheduler != name:
            raise ValueError(f'{source}: [{name}] is set but scheduler = {scheduler!r}; set scheduler = "{name}" or remove [{name}]')
        _unknown(_table(data, name, source), list(defaults), f"[{name}]", source)
    spec = SweepSpec(source, base, space, tuple(seeds), metric, mode, scheduler, samples, sample_seed, max_failures, report_seconds, trainer=trainer)
    # the cells: the grid's product, each with `samples` draws of the random dimensions
    grid = [d for d in space if not d.random]
    drawn = [d for d in space if d.random]
    rng = random.Random(sample_seed)
    cells = []
    for point in itertools.product(*(d.values for d in grid)):
        for _ in range(samples if drawn else 1):
            values = dict(zip((d.key for d in grid), point)) | {d.key: d.draw(rng) for d in drawn}
            cells.append({d.key: values[d.key] for d in space})  # in the file's order
    if not cells:
        cells = [{}]
    for d in drawn:  # a range's ends must be values the field takes
        if d.kind in ("uniform", "loguniform"):
            for end in d.values:
                _check_config(spec, {d.key: end}, seeds[0], f"[space] {d.key} bound {end}")
    trials = []
    for i, values in enumerate(cells):
        for seed in seeds:
            _check_config(spec, values, seed, f"cell {i} ({', '.join(f'{k}={v!r}' for k, v in values.items()) or 'the base config'}), seed {seed}")
            trials.append(Trial(_cell_name(i, values, seed), i, seed, values))
    spec = SweepSpec(
        source, base, space, tuple(seeds), metric, mode, scheduler, samples, sample_seed, max_failures, report_seconds,
        cells=tuple(cells), trials=tuple(trials), trainer=trainer,
    )  # fmt: skip
    configs = [spec.config(c, seeds[0]) for c in cells]
    if scheduler == "asha":
        asha = {**_ASHA, **_table(data, "asha", source)}
        if asha["grace_period"] is None:
            asha["grace_period"] = max(1, min(c.checkpoint_every for c in configs))
        _number(asha["grace_period"], "[asha] grace_period (iterations)", source, 1, spec.max_iterations, integer=True)
        _number(asha["reduction_factor"], "[asha] reduction_factor", source, 1, 100, low_open=True)
        spec = dataclasses.replace(spec, asha=asha)
    if scheduler == "pbt":
        pbt = {**_PBT, **_table(data, "pbt", source)}
        every = {c.checkpoint_every for c in configs}
        if pbt["perturbation_interval"] is None:
            pbt["perturbation_interval"] = max(every)
        interval = _number(pbt["perturbation_interval"], "[pbt] perturbation_interval (iterations)", source, 1, spec.max_iterations, integer=True)
        if any(interval % e for e in every):
            raise ValueError(
                f"{source}: [pbt] perturbation_interval = {interval} must be a multiple of checkpoint_every ({', '.join(map(str, sorted(every)))}): PBT copies checkpoints"
            )
        _number(pbt["quantile_fraction"], "[pbt] quantile_fraction", source, 0, 0.5, low_open=True)
        _number(pbt["resample_probability"], "[pbt] resample_probability", source, 0, 1)
        if not isinstance(pbt["synch"], bool):
            raise ValueError(f"{source}: [pbt] synch must be true (every trial waits at each perturbation) or false, got {pbt['synch']!r}")
        mutations = pbt["mutations"] if pbt["mutations"] is not None else [d.key for d in space if d.key in ("lr", "ent_coef")]
        if not isinstance(mutations, list) or not mutations or any(m not in [d.key for d in space] for m in mutations):
            raise ValueError(
                f'{source}: [pbt] mutations must list [space] keys that PBT perturbs, e.g. ["lr", "ent_coef"], got {mutations!r}; [space] has: {", ".join(d.key for d in space) or "nothing"}'
            )
        if len(trials) < 2:
            raise ValueError(f"{source}: PBT needs a population of at least 2 trials (cells x seeds), got {len(trials)}")
        spec = dataclasses.replace(spec, pbt={**pbt, "mutations": list(mutations)})
    return spec


# -- running it -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` did: the results (:func:`policygrad.sweep_results.collect`), the files
    it wrote, and whether it was stopped before every trial ended (resume it with ``resume=True``)."""

    out: str
    results: dict
    paths: list
    interrupted: bool


def _first_difference(a, b, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    return None if a == b else path


def run_sweep(spec: SweepSpec, out: str, address: str | None = None, cpus: int | None = None, resume: bool = False, progress=None) -> SweepResult:
    """Run every trial of ``spec`` on Ray Tune, then write the results table and figures in ``out``.

    Args:
        spec: a checked sweep (:func:`load_sweep`).
        out: the sweep's folder: ``runs/`` (a run folder per trial), ``ray/`` (Tune's experiment),
            ``sweep.json``, ``results.csv``, ``results.json``, ``plots/``. A new sweep needs a missing
            or empty folder; on a cluster, a folder every node sees at the same path.
        address: the Ray cluster to join (``ray start --head`` elsewhere); None: a local Ray of
            ``cpus`` CPUs (None: all), started here and shut down at the end.
        resume: finish the sweep stopped in ``out`` (Tune's restore): finished trials are kept, the
            others resume from their last checkpoints. The sweep file must be the one it started with.
        progress: ``progress(summary)`` at every trial event: ``total``, ``done``, ``running``,
            ``failed``, ``waiting`` and ``best`` (value, run) so far.

    Ctrl-C stops the sweep cleanly (Tune saves its state; the result says ``interrupted``).
    """
    check_writable_dir(out, "--out")
    import_ray("policygrad sweep")  # Ray, the optional extra: a clear error without it, before any folder is made
    stored = os.path.join(out, "sweep.json")
    plan = spec.to_dict()
    if resume:
        if not os.path.exists(stored) or not os.path.isdir(os.path.join(out, EXPERIMENT)):
            raise FileNotFoundError(f"no sweep to resume in {out}: it holds no sweep.json and {EXPERIMENT}/; start it without --resume")
        with open(stored) as fh:
            before = json.load(fh)
        before.pop("source", None)
        differs = _first_difference(before, {k: v for k, v in json.loads(json.dumps(plan)).items() if k != "source"})
        if differs:
            raise ValueError(
                f"{spec.source} is not the sweep that {out} holds: '{differs}' differs; resume with the same sweep file, or start a new sweep in another --out"
            )
    elif os.path.isdir(out) and [n for n in os.listdir(out) if n != RUN_MARKER]:
        what = "holds a sweep; add --resume to finish it" if os.path.exists(stored) else "is not empty"
        raise FileExistsError(f"{out} {what}, or choose another --out")
    with RunLock(out) as lock:  # one sweep writes a folder at a time
        lock.mark("sweep")
        with ray_session(address, cpus, "policygrad sweep"):  # first: a cluster that cannot be joined leaves no half-made sweep
            if not resume:
                atomic_write_text(stored, json.dumps(plan, indent=2) + "\n")
                if os.path.exists(spec.source):  # the file as written, beside the checked plan
                    with open(spec.source) as fh:
                        atomic_write_text(os.path.join(out, "sweep.toml"), fh.read())
            states = run_tune(spec, os.path.abspath(out), resume, progress)
        results = collect(spec, out, states)
        paths = write_results(results, out) + plot_sweep(spec, results, out)
    return SweepResult(out, results, paths, results["counts"]["unfinished"] > 0)
