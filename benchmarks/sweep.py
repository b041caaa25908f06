"""Ray's cost per trial: a sweep on Ray Tune against the same training runs in a plain loop.

The runs: ``policygrad train`` of RPS against ``frequency`` (T = 20 rounds, N = 64 matches a batch,
MLP 32, k = 1, checkpoints every 25 iterations), seeds 0..k-1, iterations chosen so that one run
takes about ``--short`` and ``--long`` seconds on this machine (calibrated first).

* **Overhead per trial.** The plain loop calls :func:`policygrad.train.train` for each seed, one
  after another, each writing its run folder. The sweep runs the same seeds as trials of one sweep
  on a local Ray of 1 CPU (one trial at a time, so the two do the same work in sequence), timed
  around Tune's part (:func:`policygrad.sweep_tune.run_tune`: scheduling, worker start-up and reuse,
  each checkpoint's report and copy to Tune's storage, Tune's state snapshots); Ray's start-up
  (once per sweep, a few seconds) and the results table and figures (once per sweep) are timed
  apart. Each sweep starts its worker process once (Python, torch, policygrad: seconds) and reuses
  it for every trial (Tune's ``reuse_actors``): that cost is shared by the sweep's trials, as it is
  in a real sweep of many. The loop and the sweep alternate repeat by repeat, so load from other
  jobs falls on both; figure: the median over repeats of (sweep time - loop time) / trials, and the
  ratio of medians. A trial reports to Tune at most every ``report_seconds`` (5 s) and at its end; the
  driver's CPU time per trial (this process: Tune's loop) is printed beside.
* **Scaling 1 -> 2 workers.** The short trials (``--trials`` of them) on a local Ray of 1 CPU and
  of 2 CPUs: trials per minute, and the speed-up.
* **The scheduler's cost per trial.** Trials of one iteration (nothing to train) on 2 CPUs: the
  sweep's time per trial is what Tune adds around a trial, whatever its length.

Usage (needs the optional extra ``ray``)::

    .venv/bin/python benchmarks/sweep.py              # 2 s and 30 s trials: about 10 minutes
    .venv/bin/python benchmarks/sweep.py --quick      # 0.5 s trials only: about a minute
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

from policygrad.config import TrainConfig
from policygrad.distributed import ray_session
from policygrad.sweep import sweep_from_dict
from policygrad.train import train

BASE = {"opponent": "frequency", "rounds": 20, "batch": 64, "hidden": [32], "context": 1, "tensorboard": False, "checkpoint_every": 25}


def config(iterations: int, seed: int = 0) -> TrainConfig:
    return TrainConfig.from_dict({**BASE, "iterations": iterations, "seed": seed})


def calibrate(seconds: float, folder: str) -> int:
    """Iterations for a run of about ``seconds`` (a run of 100, after a warm-up run of 20)."""
    train(config(20), os.path.join(folder, "warm"))
    t0 = time.perf_counter()
    train(config(100), os.path.join(folder, "calibrate"))
    per_iteration = (time.perf_counter() - t0) / 100
    return max(1, round(seconds / per_iteration))


def plain_loop(iterations: int, seeds: list[int], folder: str) -> float:
    t0 = time.perf_counter()
    for seed in seeds:
        train(config(iterations, seed), os.path.join(folder, f"seed={seed}"))
    return time.perf_counter() - t0


def reports(out: str) -> int:
    """The reports the trials of a sweep made to Tune (a line each in Tune's result.json)."""
    total = 0
    for name in os.listdir(os.path.join(out, "ray")):
        path = os.path.join(out, "ray", name, "result.json")
        if os.path.exists(path):
            with open(path) as fh:
                total += sum(1 for line in fh if line.strip())
    return total


DRIVER: dict[str, float] = {}  # the driver's (this process's) CPU seconds per trial, and reports per trial, of the last sweep


def tune_sweep(iterations: int, seeds: list[int], folder: str) -> tuple[float, float]:
    """(seconds of Tune's part, seconds of the results table and figures) for the seeds as one sweep;
    the driver's CPU seconds per trial and the reports per trial go to ``DRIVER``."""
    from policygrad.sweep_results import collect, plot_sweep, write_results
    from policygrad.sweep_tune import run_tune

    spec = sweep_from_dict({"base": {**BASE, "iterations": iterations}, "seeds": seeds, "max_failures": 0}, "benchmark sweep")
    out = os.path.abspath(folder)
    t0, cpu0 = time.perf_counter(), time.process_time()
    states = run_tune(spec, out, False)
    t1 = time.perf_counter()
    n = reports(out)
    DRIVER["per_trial"], DRIVER["reports"] = (time.process_time() - cpu0) / len(seeds), n / len(seeds)
    results = collect(spec, out, states)
    write_results(results, out)
    plot_sweep(spec, results, out)
    assert results["counts"]["done"] == len(seeds), results["counts"]
    return t1 - t0, time.perf_counter() - t1


def overhead(seconds: float, trials: int, repeats: int, root: str) -> dict:
    iterations = calibrate(seconds, os.path.join(root, "calibration"))
    seeds = list(range(trials))
    loops, sweeps, tails, driver, count = [], [], [], [], []
    with ray_session(cpus=1) as _:
        for r in range(repeats):
            loops.append(plain_loop(iterations, seeds, os.path.join(root, f"loop{r}")))
            sweep_s, tail_s = tune_sweep(iterations, seeds, os.path.join(root, f"sweep{r}"))
            sweeps.append(sweep_s)
            tails.append(tail_s)
            driver.append(DRIVER["per_trial"])
            count.append(DRIVER["reports"])
            print(
                f"  {seconds:g} s trials, repeat {r + 1}: loop {loops[-1]:.1f} s, sweep {sweeps[-1]:.1f} s (+ results and figures {tail_s:.1f} s)", flush=True
            )
    loop_m, sweep_m = statistics.median(loops), statistics.median(sweeps)
    per_trial = statistics.median([(s - lp) / trials for s, lp in zip(sweeps, loops)])
    return {"seconds": seconds, "iterations": iterations, "trials": trials, "loop_per_trial": loop_m / trials, "sweep_per_trial": sweep_m / trials,
            "overhead_per_trial": per_trial, "ratio": sweep_m / loop_m, "tail": statistics.median(tails), "reports": statistics.median(count),
            "driver_ms": 1000 * statistics.median(driver)}  # fmt: skip


def throughput(iterations: int, trials: int, cpus: int, root: str) -> float:
    with ray_session(cpus=cpus) as _:
        seconds, _tail = tune_sweep(iterations, list(range(trials)), os.path.join(root, f"cpus{cpus}"))
    return trials / seconds * 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=float, default=2.0, help="seconds of a short trial")
    parser.add_argument("--long", type=float, default=30.0, help="seconds of a long trial (0: skip)")
    parser.add_argument("--trials", type=int, default=8, help="short trials per sweep")
    parser.add_argument("--long-trials", type=int, default=4, help="long trials per sweep")
    parser.add_argument("--repeats", type=int, default=3, help="loop/sweep pairs of the short trials")
    parser.add_argument("--long-repeats", type=int, default=1, help="loop/sweep pairs of the long trials")
    parser.add_argument("--quick", action="store_true", help="0.5 s trials, 4 per sweep, 2 repeats, no long trials")
    args = parser.parse_args(argv)
    if args.quick:
        args.short, args.long, args.trials, args.repeats = 0.5, 0.0, 4, 2
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="policygrad-bench-sweep-") as root:
        rows.append(overhead(args.short, args.trials, args.repeats, os.path.join(root, "short")))
        if args.long:
            rows.append(overhead(args.long, args.long_trials, args.long_repeats, os.path.join(root, "long")))
        print("\noverhead of Ray Tune per trial (local Ray of 1 CPU, trials one at a time; medians):")
        print(
            f"{'trial':>8} {'iterations':>10} {'trials':>6} {'loop s/trial':>12} {'sweep s/trial':>13} {'overhead s/trial':>16} {'sweep/loop':>10} {'reports/trial':>13} {'driver CPU ms/trial':>19} {'table+plots s':>13}"
        )
        for r in rows:
            print(
                f"{r['seconds']:>7g}s {r['iterations']:>10} {r['trials']:>6} {r['loop_per_trial']:>12.2f} {r['sweep_per_trial']:>13.2f} {r['overhead_per_trial']:>16.2f} {r['ratio']:>10.3f} {r['reports']:>13g} {r['driver_ms']:>19.0f} {r['tail']:>13.1f}"
            )
        short_iterations = rows[0]["iterations"]
        one = throughput(short_iterations, args.trials, 1, os.path.join(root, "scale"))
        two = throughput(short_iterations, args.trials, 2, os.path.join(root, "scale"))
        print(f"\nscaling ({args.trials} trials of {args.short:g} s): 1 worker {one:.1f} trials/min, 2 workers {two:.1f} trials/min: x{two / one:.2f}")
        empty = 16
        with ray_session(cpus=2) as _:
            seconds, _tail = tune_sweep(1, list(range(empty)), os.path.join(root, "empty"))
        print(
            f"the scheduler's cost: {empty} trials of 1 iteration on 2 CPUs in {seconds:.1f} s: {seconds / empty * 2:.2f} s per trial per worker; "
            f"driver CPU {1000 * DRIVER['per_trial']:.0f} ms per trial (one report each)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
