"""The Ray Tune side of ``policygrad sweep``: each trial a normal training run, reported to Tune.

Imports Ray (the optional extra ``ray``): importing this module without it raises
:class:`~policygrad.opponents.external.MissingExtraError` saying how to install it.

A trial (:func:`_trial`, in a Ray worker) trains its run folder ``OUT/runs/NAME`` with
:func:`policygrad.train.train` (or, for ``trainer = "expert-mixture"``,
:func:`policygrad.expert_train.train_expert`: the same run folder, :mod:`policygrad.run_folder`). The trainer writes ``checkpoint.pt`` (atomic) every
``checkpoint_every`` iterations and at the end; a checkpoint is reported to Tune with the
iteration's metrics when it is the last, when it is the first at or past a scheduler's milestone
(ASHA's rungs, PBT's perturbations), or when ``report_seconds`` (5 s) have passed since the last
report (each report costs Tune's loop milliseconds of CPU: measured in benchmarks/sweep.py). Under
PBT the report carries a Tune checkpoint, a copy of that ``checkpoint.pt`` with ``source.json``
(which run, which iteration), for PBT to hand to other trials. So:

* ASHA and PBT decide at the same iterations however fast a trial runs (their time unit is the
  trainer's ``iteration``);
* a trial whose worker dies is started again by Tune (``max_failures``) and resumes its run folder
  from its last ``checkpoint.pt``, bit for bit (the run folders lie on storage every node sees);
* PBT's exploit hands a trial the Tune checkpoint of a better one: the trial copies that
  ``checkpoint.pt`` over its own, writes its new config (the better one's values, perturbed; its own
  seed, so that the population's members keep their own streams where a trainer seeds play by
  iteration, as the expert mixture does), and says so in its ``pbt.log`` (and ``sweep.log``), then
  trains on from there;
* ``--resume`` restores the experiment (``OUT/ray``): finished trials stay finished.

A trial keeps its run folder whatever config PBT gives it: the folder's name is recorded under
``OUT/runs/.trials/TRIAL_ID`` at the trial's first start.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import shutil
import socket
import tempfile
import time
import uuid
from typing import Callable

from .distributed import import_ray

ray = import_ray("policygrad sweep")
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining  # noqa: E402

from .config import dump_toml, load_toml  # noqa: E402
from .expert_train import METRICS as EXPERT_METRICS  # noqa: E402
from .files import RunDirInUseError, RunLock, atomic_write, atomic_write_text, run_maker  # noqa: E402
from .train import METRIC_FIELDS  # noqa: E402
from .trainers import TRAINERS  # noqa: E402

__all__ = ["run_tune", "TRIALS_INDEX", "EXPERIMENT"]

TRIALS_INDEX = ".trials"  # OUT/runs/.trials/TRIAL_ID holds the trial's run folder name
EXPERIMENT = "ray"  # Tune's experiment folder: OUT/ray
_SINK: Callable[[dict], None] | None = None  # the driver's progress display (a module global: Tune pickles its callbacks)
_LOCK_WAIT_S = 60.0  # a trial restarted at once may find its previous worker still holding the run folder


# -- in the worker: one trial ----------------------------------------------------------------------


def _log(run_dir: str, line: str, name: str = "sweep.log") -> None:
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, name), "a") as fh:  # appended lines: a kill loses at most the last
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def _own_name(runs: str, trial_id: str, first_name: str) -> str:
    """This trial's run folder name: recorded at its first start, kept whatever PBT's exploits do to its config."""
    path = os.path.join(runs, TRIALS_INDEX, trial_id)
    if os.path.exists(path):
        with open(path) as fh:
            return fh.read().strip()
    atomic_write_text(path, first_name + "\n")
    return first_name


def _last_row(run_dir: str) -> dict:
    """The last row of metrics.csv, a blank cell holding the column's last value (a metric measured
    every few iterations, as the expert trainer's held-out reward, is reported at every checkpoint)."""
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as fh:
        last: dict = {}
        for row in csv.DictReader(fh):
            last.update({k: v for k, v in row.items() if v not in ("", None)})
    return last


def _numbers(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):  # the optimum column is blank where no exact ceiling was computed
            continue
    return out


def _report(run: str, path: str, iteration: int, row: dict, metric: str, copy: bool) -> None:
    """Tell Tune about a checkpoint the trainer wrote: the iteration's metrics, and (``copy``, for
    PBT, which hands checkpoints between trials) a Tune checkpoint holding a copy of
    ``checkpoint.pt`` and ``source.json``."""
    metrics = {**_numbers(row), "iteration": iteration, "run": run}
    if not copy:  # the run folder's own checkpoint.pt is what a trial started again resumes from
        tune.report(metrics)
        return
    tmp = tempfile.mkdtemp(prefix="policygrad-report-")
    try:
        shutil.copyfile(path, os.path.join(tmp, "checkpoint.pt"))
        source = {"run": run, "iteration": iteration, metric: metrics.get(metric), "id": uuid.uuid4().hex}
        with open(os.path.join(tmp, "source.json"), "w") as fh:
            json.dump(source, fh)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _adopt(run_dir: str, folder: str, source: dict, config, metric: str) -> None:
    """PBT's exploit: the checkpoint of a better run (in ``folder``) replaces this run's own."""
    old = {}
    if os.path.exists(os.path.join(run_dir, "config.toml")):
        old = load_toml(os.path.join(run_dir, "config.toml"))
    own = _numbers(_last_row(run_dir)).get(metric) if os.path.exists(os.path.join(run_dir, "metrics.csv")) else None
    atomic_write(os.path.join(run_dir, "checkpoint.pt"), lambda tmp: shutil.copyfile(os.path.join(folder, "checkpoint.pt"), tmp), suffix=".pt")
    atomic_write_text(os.path.join(run_dir, "config.toml"), dump_toml(config.to_dict()))
    new = config.to_dict()
    changes = ", ".join(f"{k} {old[k]!r} -> {v!r}" for k, v in new.items() if k in old and old[k] != v) or "no hyperparameter changed"
    theirs = source.get(metric)
    line = (
        f"iteration {source['iteration']}: copied the checkpoint of {source['run']} (iteration {source['iteration']}, {metric} "
        f"{theirs:+.4f}) over this run's ({metric} {'n/a' if own is None else f'{own:+.4f}'}); {changes} [checkpoint {source['id']}]"
    )
    _log(run_dir, line, "pbt.log")
    _log(run_dir, "PBT exploit: " + line)


def _adopted(run_dir: str, source: dict) -> bool:
    path = os.path.join(run_dir, "pbt.log")
    return os.path.exists(path) and f"[checkpoint {source['id']}]" in open(path).read()


def _train_waiting(run: Callable, config, run_dir: str, **kwargs):
    """``run`` (:func:`policygrad.train.train` or the trainer's), waiting up to a minute for the run folder's lock (a previous worker of this trial may still be ending)."""
    deadline = time.monotonic() + _LOCK_WAIT_S
    while True:
        try:
            return run(config, run_dir, **kwargs)
        except RunDirInUseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _trial(params: dict, plan: dict) -> None:
    """One trial, in a Ray worker: train the run folder, reporting each checkpoint to Tune."""
    point = params["t"]
    cell, _, first_name = plan["trials"][point["trial"]]  # after a PBT exploit: the better trial's cell
    runs = os.path.join(plan["out"], "runs")
    trial_id = tune.get_context().get_trial_id()
    name = _own_name(runs, trial_id, first_name)
    seed = next(s for _, s, n in plan["trials"] if n == name)  # the trial's own seed, whatever config PBT hands it
    run_dir = os.path.join(runs, name)
    values = {**plan["cells"][cell], **{k: point[k] for k in plan["mutations"]}}
    config = TRAINERS[plan["trainer"]].config.from_dict({**plan["base"], **values, "seed": seed}, source=f"sweep trial {name}")
    run = TRAINERS[plan["trainer"]].run
    metric = plan["metric"]
    if run_maker(run_dir) is None:
        if os.path.isdir(run_dir) and os.listdir(run_dir):
            run(config, run_dir)  # a folder that is not a run of ours: train says why it may not be written (the trial fails)
        with RunLock(run_dir) as lock:  # a new run: the folder is taken (and marked) before its logs are written
            lock.mark("sweep")
    _log(run_dir, f"start: trial {trial_id}, pid {os.getpid()} on {socket.gethostname()}")
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            with open(os.path.join(folder, "source.json")) as fh:
                source = json.load(fh)
            if source["run"] != name and not _adopted(run_dir, source):
                _adopt(run_dir, folder, source, config, metric)
            elif not os.path.exists(os.path.join(run_dir, "checkpoint.pt")):  # a node that does not see the run folder
                atomic_write(os.path.join(run_dir, "checkpoint.pt"), lambda tmp: shutil.copyfile(os.path.join(folder, "checkpoint.pt"), tmp), suffix=".pt")
    last: dict = {}
    copy = bool(plan["mutations"])  # PBT
    due = list(plan["milestones"])  # the iterations where the scheduler decides: reported whatever the time
    clock = {"last": time.monotonic()}

    def on_save(path: str, iteration: int) -> None:
        # the first checkpoint comes before any metric; the last is reported once train() has written
        # report.json (Tune may stop a trial at its last report: ASHA at max_t); in between, a
        # checkpoint is reported at a scheduler's milestone, or report_seconds after the last report
        if not 0 < iteration < config.iterations:
            return
        milestone = bool(due) and iteration >= due[0]
        if milestone or time.monotonic() - clock["last"] >= plan["report_seconds"]:
            _report(name, path, iteration, last or _last_row(run_dir), metric, copy)
            clock["last"] = time.monotonic()
            while due and due[0] <= iteration:
                due.pop(0)

    if os.path.exists(os.path.join(run_dir, "checkpoint.pt")):
        _log(run_dir, "resuming from its checkpoint")
    result = _train_waiting(run, config, run_dir, resume=True, progress=last.update, on_save=on_save)
    _log(run_dir, f"done: iteration {result.iterations}")
    _report(name, os.path.join(run_dir, "checkpoint.pt"), result.iterations, _last_row(run_dir), metric, copy)


# -- in the driver: the experiment ----------------------------------------------------------------


def _dirname(trial) -> str:
    return f"trial_{trial.trial_id}"


def _clip(bounds: dict, config: dict) -> dict:
    """PBT's perturbations (x 0.8, x 1.2) kept inside each dimension's range."""
    point = config["t"]
    for key, (low, high) in bounds.items():
        point[key] = min(max(point[key], low), high)
    return config


def _error_line(trial) -> str | None:
    path = trial.error_file
    if not path or not os.path.exists(path):
        return None
    lines = [line.strip() for line in open(path).read().splitlines() if line.strip()]
    return lines[-1] if lines else "failed"


def _statuses(trials) -> dict[str, dict]:
    out = {}
    for trial in trials:
        result = trial.last_result or {}
        out[trial.trial_id] = {
            "status": trial.status, "run": result.get("run"), "index": trial.config["t"]["trial"] if "t" in trial.config else None,
            "iteration": result.get("iteration"), "metrics": {k: v for k, v in result.items() if k in METRIC_FIELDS or k in EXPERT_METRICS or k.startswith("p_")},
            "failures": trial.num_failures, "error": _error_line(trial) if trial.status == "ERROR" else None,
        }  # fmt: skip
    return out


class _Progress(tune.Callback):
    """Sends the trials' states to the driver's display (:data:`_SINK`) at every event."""

    def __init__(self, metric: str, mode: str) -> None:
        self.metric, self.mode = metric, mode

    def _update(self, trials) -> None:
        if _SINK is None:
            return
        counts = {s: sum(1 for t in trials if t.status == s) for s in ("TERMINATED", "RUNNING", "ERROR", "PENDING", "PAUSED")}
        scored = [(t.last_result.get(self.metric), t.last_result.get("run")) for t in trials if t.last_result and t.last_result.get(self.metric) is not None]
        best = (max if self.mode == "max" else min)(scored) if scored else None
        _SINK({"total": len(trials), "done": counts["TERMINATED"], "running": counts["RUNNING"], "failed": counts["ERROR"],
               "waiting": counts["PENDING"] + counts["PAUSED"], "best": best})  # fmt: skip

    def on_trial_start(self, iteration, trials, trial, **info):
        self._update(trials)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._update(trials)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._update(trials)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._update(trials)


def _milestones(spec) -> list[float]:
    """The iterations at which the scheduler decides: ASHA's rungs, PBT's perturbations."""
    top = spec.max_iterations
    if spec.scheduler == "asha":
        grace, rf = spec.asha["grace_period"], spec.asha["reduction_factor"]
        return [grace * rf**k for k in range(int(math.log(top / grace) / math.log(rf) + 1)) if grace * rf**k <= top]
    if spec.scheduler == "pbt":
        return list(range(spec.pbt["perturbation_interval"], top + 1, spec.pbt["perturbation_interval"]))
    return []


def _plan(spec, out: str) -> dict:
    mutations = spec.pbt["mutations"] if spec.scheduler == "pbt" else []
    return {
        "out": out, "trainer": spec.trainer, "base": spec.base, "cells": [dict(c) for c in spec.cells], "metric": spec.metric, "mutations": mutations,
        "trials": [(t.cell, t.seed, t.name) for t in spec.trials], "milestones": _milestones(spec), "report_seconds": spec.report_seconds,
    }  # fmt: skip


def _scheduler(spec):
    if spec.scheduler == "asha":
        return ASHAScheduler(
            time_attr="iteration", max_t=spec.max_iterations, grace_period=spec.asha["grace_period"], reduction_factor=spec.asha["reduction_factor"]
        )
    if spec.scheduler == "pbt":
        mutations, bounds = {}, {}
        for key in spec.pbt["mutations"]:
            d = spec.dimension(key)
            if d.kind == "uniform":
                mutations[key], bounds[key] = tune.uniform(*d.values), d.values
            elif d.kind == "loguniform":
                mutations[key], bounds[key] = tune.loguniform(*d.values), d.values
            else:
                mutations[key] = list(d.values)
        return PopulationBasedTraining(
            time_attr="iteration", perturbation_interval=spec.pbt["perturbation_interval"], hyperparam_mutations={"t": mutations},
            quantile_fraction=spec.pbt["quantile_fraction"], resample_probability=spec.pbt["resample_probability"],
            custom_explore_fn=functools.partial(_clip, bounds), synch=spec.pbt["synch"],
        )  # fmt: skip
    return FIFOScheduler()


def run_tune(spec, out: str, resume: bool, progress: Callable[[dict], None] | None = None) -> dict[str, dict]:
    """Run (or, with ``resume``, restore and finish) the sweep's trials on the open Ray session;
    returns each trial's state ``{trial_id: {status, run, index, iteration, metrics, failures, error}}``
    (status: TERMINATED, ERROR, or PENDING/RUNNING/PAUSED when the sweep was stopped)."""
    global _SINK
    plan = _plan(spec, out)
    cpus = max(1, max(spec.config(c, spec.seeds[0]).threads for c in spec.cells))
    trainable = tune.with_resources(tune.with_parameters(_trial, plan=plan), {"cpu": cpus})
    experiment = os.path.join(out, EXPERIMENT)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own tables off (verbose=0): the caller shows progress
    _SINK = progress
    try:
        if resume:
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True)
        else:
            mutations = plan["mutations"]
            points = [{"trial": i, **{k: spec.cells[t.cell][k] for k in mutations}} for i, t in enumerate(spec.trials)]
            tuner = tune.Tuner(
                trainable,
                param_space={"t": tune.grid_search(points)},
                tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, scheduler=_scheduler(spec), trial_dirname_creator=_dirname, reuse_actors=True),
                run_config=tune.RunConfig(
                    name=EXPERIMENT, storage_path=out, verbose=0, callbacks=[_Progress(spec.metric, spec.mode)],
                    failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                    # PBT's checkpoints are all kept: an exploit may copy any trial's latest (a few
                    # hundred KB each; num_to_keep would also force a snapshot of Tune's state per save)
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
                ),
            )  # fmt: skip
        tuner.fit()
    finally:
        _SINK = None
    # the trials as Tune saved them (before its clean-up stops the running ones): what a resume continues
    return _statuses(tune.ExperimentAnalysis(experiment).trials)
