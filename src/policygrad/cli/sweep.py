"""``policygrad sweep``: many training runs from a sweep file on Ray Tune (``policygrad[ray]``)."""

from __future__ import annotations

import json
import os

from rich.table import Table

from .common import at_least, console, path_arg


def cmd_sweep(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..sweep import load_sweep, run_sweep

    if args.address and args.cpus:
        raise ValueError("--cpus sizes the local Ray; with --address the cluster's own CPUs run the trials: drop one of them")
    spec = load_sweep(args.sweep)  # every key and value checked before Ray starts
    out = args.out if args.out is not None else os.path.join("sweeps", os.path.splitext(os.path.basename(args.sweep))[0])
    columns = (TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("trials  {task.fields[stats]}", markup=False), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=args.quiet or args.json) as bar:
        task = bar.add_task("sweep", total=len(spec.trials), stats="")

        def progress(s: dict) -> None:
            best = f"best {spec.metric} {s['best'][0]:+.4f} ({s['best'][1]})" if s["best"] else ""
            bar.update(task, completed=s["done"] + s["failed"], stats=f"running {s['running']}, failed {s['failed']}  {best}")

        result = run_sweep(spec, out, args.address, args.cpus, args.resume, progress)
    r = result.results
    if args.json:
        print(json.dumps(r, indent=2))
        return 130 if result.interrupted else 0
    metric = r["metric"]
    optimum = any(c["optimum_fraction"] is not None for c in r["cells"])  # an exact ceiling known (policy runs against cheap opponents)
    table = Table(title=f"sweep {args.sweep}: final reward per round, mean over seeds with its 95% interval ({spec.scheduler}; {out})")
    for col in (
        "cell",
        *r["keys"],
        "trials",
        "reward/round",
        *(["of optimum"] if optimum else []),
        *([metric] if metric != "reward_per_round" else []),
        "train s",
        "status",
    ):
        table.add_column(col, justify="left" if col in r["keys"] or col == "status" else "right")
    for c in r["cells"]:
        mean = "-" if c["reward_per_round"] is None else f"{c['reward_per_round']:+.4f}" + (f" ± {c['ci95']:.4f}" if c["ci95"] is not None else "")
        frac = [] if not optimum else ["-" if c["optimum_fraction"] is None else f"{c['optimum_fraction']:.1%}"]
        extra = [] if metric == "reward_per_round" else ["-" if c[metric] is None else f"{c[metric]:.4g}"]
        status = ", ".join(f"{c[s]} {s}" for s in ("stopped", "failed", "unfinished") if c[s]) or "done"
        best = " *" if r["best"] is not None and c["cell"] == r["best"]["cell"] else ""
        values = [str(c["values"][k]) for k in r["keys"]]
        table.add_row(
            f"{c['cell']}{best}", *values, f"{c['done']}/{c['trials']}", mean, *frac, *extra, "-" if c["seconds"] is None else f"{c['seconds']:.1f}", status
        )
    console.print(table)
    if r["best"] is not None:
        b = r["best"]
        console.print(
            f"best cell ({spec.mode} {metric}): {b['cell']} "
            + (", ".join(f"{k}={v}" for k, v in b["values"].items()) or "(the base config)")
            + f": {b[metric]:+.4f}"
        )
    for t in r["trials"]:
        if t["status"] == "failed":
            console.print(f"failed: {t['run']}: {t['error']}")
    console.print(
        f"trials: {', '.join(f'{n} {s}' for s, n in r['counts'].items() if n)}; results: {', '.join(result.paths[:2])}; plots: {os.path.join(out, 'plots')}"
    )
    if result.interrupted:
        console.print(f"stopped: resume with policygrad sweep {args.sweep} --out {out} --resume")
        return 130
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="many training runs from a sweep file on Ray Tune: grids, random search, ASHA, PBT (pip install 'policygrad[ray]')")
    p.add_argument("sweep", metavar="SWEEP.toml", type=path_arg, help="the sweep file: base config, [space], seeds, metric, scheduler (docs/sweeps.md)")
    p.add_argument(
        "--out",
        metavar="DIR",
        type=path_arg,
        default=None,
        help="the sweep's folder: a run folder per trial, results, plots (default: sweeps/NAME of the sweep file)",
    )
    p.add_argument("--address", metavar="ADDR", default=None, help="the Ray cluster to join, e.g. HEAD_IP:6379 (default: a local Ray started and stopped here)")
    p.add_argument("--cpus", type=at_least(1), default=None, help="CPUs of the local Ray: trials at once (default: the number of CPUs)")
    p.add_argument(
        "--resume", action="store_true", help="finish the sweep stopped in --out: finished trials are kept, the others resume from their checkpoints"
    )
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)
