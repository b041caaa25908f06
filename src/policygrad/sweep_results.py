"""The results of a sweep, read from its run folders: a table per cell, the best cell, figures.

Every number comes from the trials' own ``metrics.csv`` (what ``policygrad plot`` reads), so the
table can be rebuilt from the folders at any time; Tune adds only each trial's state (finished,
stopped early by ASHA, failed with its error, or not finished when the sweep was stopped).

Per cell, over its seeds: the mean final reward per round (the last iteration's batch) with the
half-width of its 95% interval (Student's t: :func:`policygrad.stats.interval`), its fraction of
the exact optimum where the optimum was cheap to compute (the ``optimum`` column of metrics.csv),
the sweep's metric when it is another one, and the training seconds per trial.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os

from .config import load_toml
from .files import atomic_write_text
from .plots import plt, read_metrics, save_figure
from .stats import interval

__all__ = ["collect", "write_results", "plot_sweep", "STATUSES"]

STATUSES = ("done", "stopped", "failed", "unfinished")  # stopped: by ASHA, early; unfinished: the sweep was stopped first


def _trial_row(spec, trial, run_dir: str, state: dict | None) -> dict:
    row = {"run": trial.name, "cell": trial.cell, "seed": trial.seed, "values": dict(trial.values), "run_dir": run_dir,
           "iteration": 0, "reward_per_round": None, spec.metric: None, "optimum": None, "seconds": 0.0,
           "status": "unfinished", "error": None, "failures": 0, "exploits": []}  # fmt: skip
    try:
        m = read_metrics(run_dir)
    except (FileNotFoundError, ValueError):  # not started, or failed before its first iteration
        m = None
    if m:
        row.update(iteration=int(m["iteration"][-1]), reward_per_round=m["reward_per_round"][-1], seconds=sum(m["seconds"]))
        measured = [v for v in m[spec.metric] if not math.isnan(v)]  # the last measured (a held-out reward is measured every few iterations)
        row[spec.metric] = measured[-1] if measured else None
        opt = m.get("optimum", [math.nan])[-1]  # the expert trainer has no exact ceiling
        row["optimum"] = None if math.isnan(opt) else opt
    pbt_log = os.path.join(run_dir, "pbt.log")
    if os.path.exists(pbt_log):  # PBT copied a better run's checkpoint here: the run now trains with that run's values, perturbed
        with open(pbt_log) as fh:
            row["exploits"] = [line.rstrip("\n") for line in fh if line.strip()]
        final = load_toml(os.path.join(run_dir, "config.toml"))
        row["final_values"] = {k: final[k] for k in trial.values}
    target = spec.config(trial.values, trial.seed).iterations
    if state is not None:
        row["failures"] = state["failures"]
        if state["status"] == "ERROR":
            row["status"], row["error"] = "failed", state["error"] or "failed"
        elif state["status"] == "TERMINATED":
            row["status"] = "done" if row["iteration"] >= target else "stopped"
    elif os.path.exists(os.path.join(run_dir, "report.json")) and row["iteration"] >= target:
        row["status"] = "done"
    return row


def collect(spec, out: str, states: dict[str, dict]) -> dict:
    """The sweep's results: ``{"trials": [...], "cells": [...], "best": cell, "counts": {...}}``.

    ``states``: Tune's state of each trial by trial id (:func:`policygrad.sweep_tune.run_tune`).
    """
    runs = os.path.join(out, "runs")
    by_name: dict[str, dict] = {}
    for trial_id, state in states.items():
        index_file = os.path.join(runs, ".trials", trial_id)
        if os.path.exists(index_file):
            with open(index_file) as fh:
                by_name[fh.read().strip()] = state
        elif state.get("index") is not None:
            by_name[spec.trials[state["index"]].name] = state
    trials = [_trial_row(spec, t, os.path.join(runs, t.name), by_name.get(t.name)) for t in spec.trials]
    cells = []
    for i, values in enumerate(spec.cells):
        rows = [r for r in trials if r["cell"] == i]
        scored = [r for r in rows if r["reward_per_round"] is not None and r["status"] in ("done", "stopped")]
        cell = {"cell": i, "values": dict(values), "trials": len(rows), **{s: sum(r["status"] == s for r in rows) for s in STATUSES},
                "reward_per_round": None, "ci95": None, "optimum_fraction": None, spec.metric: None, "seconds": None,
                "iteration": max((r["iteration"] for r in rows), default=0)}  # fmt: skip
        if scored:
            cell["reward_per_round"], ci = interval([r["reward_per_round"] for r in scored])
            cell["ci95"] = None if math.isnan(ci) else ci
            measured = [r[spec.metric] for r in scored if r[spec.metric] is not None]
            cell[spec.metric] = sum(measured) / len(measured) if measured else None
            optima = [r["optimum"] for r in scored if r["optimum"]]
            if len(optima) == len(scored):
                cell["optimum_fraction"] = cell["reward_per_round"] / (sum(optima) / len(optima))
            cell["seconds"] = sum(r["seconds"] for r in scored) / len(scored)
        cells.append(cell)
    sign = 1 if spec.mode == "max" else -1
    finished = [c for c in cells if c[spec.metric] is not None and c["done"]] or [c for c in cells if c[spec.metric] is not None]
    best = max(finished, key=lambda c: sign * c[spec.metric]) if finished else None
    counts = {s: sum(r["status"] == s for r in trials) for s in STATUSES}
    return {"metric": spec.metric, "mode": spec.mode, "scheduler": spec.scheduler, "keys": [d.key for d in spec.space],
            "counts": counts, "best": best, "cells": cells, "trials": trials}  # fmt: skip


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return str(v)


def write_results(results: dict, out: str) -> list[str]:
    """``OUT/results.json`` (everything) and ``OUT/results.csv`` (a row per cell), atomically."""
    keys, metric = results["keys"], results["metric"]
    columns = [
        "cell",
        *keys,
        "trials",
        *STATUSES,
        "reward_per_round",
        "ci95",
        "optimum_fraction",
        *([metric] if metric != "reward_per_round" else []),
        "seconds",
        "iteration",
    ]
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    for c in results["cells"]:
        row = []
        for k in columns:
            v = c["values"][k] if k in keys else c[k]
            row.append("" if v is None else _fmt(v) if k in keys else v)
        writer.writerow(row)
    paths = [os.path.join(out, "results.json"), os.path.join(out, "results.csv")]
    atomic_write_text(paths[0], json.dumps(results, indent=2) + "\n")
    atomic_write_text(paths[1], text.getvalue())
    return paths


def _label(values: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in values.items()) or "base config"


def plot_sweep(spec, results: dict, out: str) -> list[str]:
    """``OUT/plots/learning_curves.png`` (reward per round against iteration: a line per cell, the
    mean over its seeds, each seed faint) and ``OUT/plots/final_vs_KEY.png`` for each swept key
    (each trial's final reward per round, and each cell's mean with its 95% interval)."""
    folder = os.path.join(out, "plots")
    paths = []
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = plt.get_cmap("tab10" if len(results["cells"]) <= 10 else "viridis")
    for c in results["cells"]:
        color = colors(c["cell"] % 10 if len(results["cells"]) <= 10 else c["cell"] / max(1, len(results["cells"]) - 1))
        curves = []
        for r in results["trials"]:
            if r["cell"] == c["cell"] and r["reward_per_round"] is not None:
                m = read_metrics(r["run_dir"])
                curves.append((m["iteration"], m["reward_per_round"]))
                ax.plot(m["iteration"], m["reward_per_round"], color=color, alpha=0.2, lw=0.8)
        if curves:
            longest = max(curves, key=lambda xy: len(xy[0]))[0]
            mean = [sum(ys[i] for _, ys in curves if i < len(ys)) / sum(1 for _, ys in curves if i < len(ys)) for i in range(len(longest))]
            ax.plot(longest, mean, color=color, lw=1.8, label=_label(c["values"]))
    ax.set_xlabel("iteration")
    ax.set_ylabel("reward per round (batch mean)")
    ax.set_title(f"sweep: {len(results['cells'])} cells x {len(spec.seeds)} seeds ({spec.scheduler})")
    if len(results["cells"]) <= 12:
        ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    paths.append(save_figure(fig, os.path.join(folder, "learning_curves.png")))
    for d in spec.space:
        fig, ax = plt.subplots(figsize=(6.0, 4.0))
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (c["values"][d.key] for c in results["cells"]))
        labels = list(dict.fromkeys(_fmt(c["values"][d.key]) for c in results["cells"]))

        def x_of(v, numeric=numeric, labels=labels):
            return v if numeric else labels.index(_fmt(v))

        for r in results["trials"]:
            if r["reward_per_round"] is not None:
                ax.plot(x_of(r["values"][d.key]), r["reward_per_round"], "o", color="0.6", ms=3, alpha=0.7)
        for c in results["cells"]:
            if c["reward_per_round"] is not None:
                ax.errorbar(x_of(c["values"][d.key]), c["reward_per_round"], yerr=c["ci95"] or 0, fmt="s", color="C0", capsize=3, ms=5)
        xs = [c["values"][d.key] for c in results["cells"]]
        if numeric and (d.kind == "loguniform" or (min(xs) > 0 and max(xs) / min(xs) > 50)):  # a wide positive range: a log axis
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
        ax.set_xlabel(d.key)
        ax.set_ylabel("final reward per round")
        ax.set_title(f"final reward per round against {d.key} (grey: trials; blue: cell mean, 95% interval)", fontsize=9)
        ax.grid(True, alpha=0.3)
        paths.append(save_figure(fig, os.path.join(folder, f"final_vs_{d.key}.png")))
    return paths
