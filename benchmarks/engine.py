"""Engine throughput: agent-steps per second for every opponent, beside Gymnasium's SyncVectorEnv.

Speed: for every registered opponent (default parameters, plus ``markov:order=2``; white-box
opponents, which need the agent's policy, are left out; ``mix`` draws its default members,
``frequency``, ``markov`` and ``pattern``) and N in {1, 1024, 65536}: T = 100 rounds,
context 1, RPS. One timed run is ``engine.reset(seed)`` followed by T calls of ``engine.step``; the
agent is uniformly random, its moves drawn with ``torch.randint`` before the clock starts. The
figure is N * T / (median wall-clock time over the repeats, 5 by default); a short untimed warm-up
precedes them. At the largest N, whose figures the targets are about, the repeats are interleaved
across opponents (repeat 1 of every opponent, then repeat 2, ...): a slow spell of a shared host
then costs one repeat of several opponents, which their medians drop, not every repeat of one.
The ``cpu`` column divides by the process's CPU time instead: on a machine shared with other work
(the load average is printed) it is what the engine does with the CPU time it gets.

Threads: one by default (``--threads``; 0 keeps torch's choice). A step is a chain of about 10-40
operations on tensors of N numbers; a second thread halves each of them but adds a barrier per
operation, and when other processes keep the CPUs busy, waiting at those barriers for a thread that
is not running costs milliseconds per operation (measured: 30-50 times slower at N = 65536).

Beside it, in the same process: ``gymnasium.vector.SyncVectorEnv`` over 8 copies of
``gymnasium.make("policygrad/RockPaperScissors-v0", opponent=spec, rounds=T, context=1)``, timed
the same way (reset, then T steps with pre-drawn actions): 8 * T / median time. The ratio column is
the engine at the largest N over SyncVectorEnv.

Memory: one fresh subprocess per N (1024, 16384, 65536, 262144) runs every opponent once, for 20
rounds (the batched state does not grow with T; the same peaks at T = 5, 20 and 100). Before each
opponent it resets the kernel's record of the peak resident set (``echo 5 > /proc/self/clear_refs``,
Linux) and afterwards reports ``VmHWM - VmRSS`` from ``/proc/self/status``: the peak of extra
resident memory that the reset and the steps needed, torch's allocations included (tracemalloc
does not see those). The subprocess runs with ``MALLOC_MMAP_THRESHOLD_=65536``, so freed tensors
go back to the system and each opponent's peak is its own. Where clear_refs is not available it falls back to
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the whole subprocess, minus the resident memory
before the first engine. Memory linear in N shows as equal bytes per match between consecutive N.

Usage::

    .venv/bin/python benchmarks/engine.py            # the full tables, 2-3 minutes on 2 cores
    .venv/bin/python benchmarks/engine.py --quick    # 1 repeat, T = 20, memory up to N = 65536: ~30 s
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

DEFAULT_NS = (1, 1024, 65536)
MEMORY_NS = (1024, 16384, 65536, 262144)
GYM_COPIES = 8
TARGETS = {"stateless": 50e6, "markov:order=2": 15e6, "q-learner": 15e6}  # agent-steps/s at N = 65536


def plays_alone(spec: str) -> bool:
    """Whether an engine against ``spec`` runs without an agent's policy attached (white-box
    opponents, such as ``best-response`` and ``mind-reader``, refuse to start without one)."""
    from policygrad.engine import Engine

    try:
        Engine(spec, n=1, rounds=1).reset(0)
    except ValueError:
        return False
    return True


def opponent_specs() -> list[str]:
    from policygrad.opponents import REGISTRY

    # white-box opponents need the agent's policy: not part of this benchmark
    specs = [name for name in REGISTRY if plays_alone(name)]
    specs.insert(specs.index("markov") + 1, "markov:order=2")
    return specs


def target_for(spec: str) -> float | None:
    """The issue's throughput target for ``spec`` at N = 65536: stateless opponents (those that
    ignore the agent) 50M/s, markov:order=2 and q-learner 15M/s."""
    from policygrad.opponents import REGISTRY

    if spec in TARGETS:
        return TARGETS[spec]
    cls = REGISTRY.get(spec)
    if cls is not None and not cls.adaptive:
        return TARGETS["stateless"]
    return None


def engine_runner(spec: str, n: int, rounds: int, seed: int = 0):
    """A warmed-up engine against ``spec`` and a function ``run(r)`` that times one repeat, reset
    (seed + r) + ``rounds`` steps, and returns its (wall-clock, CPU time of this process) seconds."""
    from policygrad.engine import Engine

    engine = Engine(spec, n=n, rounds=rounds, context=1, seed=seed)
    moves_TN = torch.randint(0, engine.num_actions, (rounds, n), generator=torch.Generator().manual_seed(seed))
    engine.reset(seed)  # warm-up: a few rounds, untimed
    for t in range(min(rounds, 5)):
        engine.step(moves_TN[t])

    def run(r: int) -> tuple[float, float]:
        start, cpu_start = time.perf_counter(), time.process_time()
        engine.reset(seed + r)
        for t in range(rounds):
            engine.step(moves_TN[t])
        return time.perf_counter() - start, time.process_time() - cpu_start

    return run


def time_interleaved(specs: list[str], n: int, rounds: int, repeats: int, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Median seconds of reset + ``rounds`` steps for ``n`` matches against each spec: (wall-clock,
    CPU time of this process). The repeats are interleaved: repeat 1 of every opponent, then
    repeat 2 of every opponent, and so on. A slow spell of a shared host then falls on one repeat
    of several opponents, which the median drops, instead of on every repeat of one."""
    runners = {spec: engine_runner(spec, n, rounds, seed) for spec in specs}
    times: dict[str, list[tuple[float, float]]] = {spec: [] for spec in specs}
    for r in range(repeats):
        for spec in specs:
            times[spec].append(runners[spec](r))
    return {spec: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for spec, t in times.items()}


def time_gym(spec: str, rounds: int, repeats: int, copies: int = GYM_COPIES, seed: int = 0) -> float | None:
    """Median seconds of reset + ``rounds`` steps of SyncVectorEnv over ``copies`` single envs;
    None when the Gymnasium env is not available."""
    try:
        import gymnasium
        import numpy as np

        import policygrad  # noqa: F401  registers policygrad/RockPaperScissors-v0
    except ImportError:
        return None
    env_id = "policygrad/RockPaperScissors-v0"
    if env_id not in gymnasium.registry:
        return None
    envs = gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make(env_id, opponent=spec, rounds=rounds, context=1) for _ in range(copies)])
    actions_TN = np.random.default_rng(seed).integers(0, envs.single_action_space.n, size=(rounds, copies))
    envs.reset(seed=seed)
    for t in range(min(rounds - 1, 5)):
        envs.step(actions_TN[t])
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        envs.reset(seed=seed + r)
        for t in range(rounds):
            envs.step(actions_TN[t])
        times.append(time.perf_counter() - start)
    envs.close()
    return statistics.median(times)


# -- memory, in a fresh subprocess per N ----------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def memory_worker(n: int, rounds: int, specs: list[str]) -> dict:
    """Peak extra resident memory (KiB) of reset + ``rounds`` steps, for each spec, at this N."""
    import gc
    import resource

    from policygrad.engine import Engine

    out: dict = {"n": n, "method": "clear_refs", "kib": {}}
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _status_kib("VmHWM")
    except OSError:
        out["method"] = "ru_maxrss"
    warm = Engine("constant", n=1, rounds=2, context=1)  # lazy initialisation inside torch, outside the figures
    warm.reset(0)
    warm.step(torch.zeros(1, dtype=torch.long))
    del warm
    base = _status_kib("VmRSS") if out["method"] == "clear_refs" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for spec in specs:
        engine = Engine(spec, n=n, rounds=rounds, context=1, seed=0)
        moves_TN = torch.randint(0, engine.num_actions, (rounds, n), generator=torch.Generator().manual_seed(0))
        gc.collect()
        if out["method"] == "clear_refs":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            before = _status_kib("VmRSS")
        engine.reset(0)
        for t in range(rounds):
            engine.step(moves_TN[t])
        if out["method"] == "clear_refs":
            out["kib"][spec] = _status_kib("VmHWM") - before
        del engine, moves_TN
        gc.collect()
    if out["method"] == "ru_maxrss":
        out["kib"]["(all)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    return out


def measure_memory(n: int, rounds: int, specs: list[str], threads: int) -> dict:
    # a fixed mmap threshold: freed tensors go back to the system, so each opponent's peak is
    # its own and not memory an earlier one left mapped
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-worker", str(n), "--rounds", str(rounds)]
    cmd += ["--opponents", "|".join(specs)] if specs else []
    cmd += ["--threads", str(threads)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the report ------------------------------------------------------------------------------------------


def rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:8.1f}M"
    return f"{x / 1e3:8.1f}k"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 repeat and T = 20: a quick look")
    p.add_argument("--rounds", type=int, default=None, help="T, rounds per match (default 100; 20 with --quick)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 5; 1 with --quick)")
    p.add_argument("--n", default=",".join(map(str, DEFAULT_NS)), help="comma-separated N values")
    p.add_argument("--opponents", default="", help="'|'-separated specs (default: every registered one)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1; 0: torch's own choice)")
    p.add_argument("--no-gym", action="store_true", help="skip the SyncVectorEnv comparison")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument(
        "--memory-n", default=None, help="comma-separated N values for the memory table (default 1024,16384,65536,262144; without 262144 with --quick)"
    )
    p.add_argument("--memory-rounds", type=int, default=None, help="rounds per memory run (default 20, 5 with --quick; the peak does not depend on T)")
    p.add_argument("--memory-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    rounds = args.rounds or (20 if args.quick else 100)
    repeats = args.repeats or (1 if args.quick else 5)
    specs = [s for s in args.opponents.split("|") if s] if args.opponents else opponent_specs()
    if args.memory_worker is not None:
        print(json.dumps(memory_worker(args.memory_worker, rounds, specs)))
        return 0
    ns = [int(x) for x in args.n.split(",")]
    big = max(ns)

    print(
        f"policygrad engine benchmark: T={rounds} rounds, context 1, RPS, uniformly random agent, "
        f"median of {repeats} (reset + T steps; at N={big} interleaved across opponents)"
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.machine()}, load average {os.getloadavg()[0]:.1f} "
        "(other processes share the CPUs when it is above 0)"
    )
    print()
    head = f"{'opponent':22s}" + "".join(f"{'N=' + str(n):>10s}" for n in ns)
    if not args.no_gym:
        head += f"{'Sync x' + str(GYM_COPIES):>10s}{'ratio':>9s}"
    head += f"{'target':>9s}{'cpu N=' + str(big):>14s}"
    print("agent-steps per second (wall clock)")
    print(head)
    print("-" * len(head))
    results: dict = {}
    print(f"(timing N={big}: {repeats} interleaved passes over {len(specs)} opponents first)", file=sys.stderr, flush=True)
    largest = time_interleaved(specs, big, rounds, repeats)  # the target figures: repeats interleaved
    for spec in specs:
        line = f"{spec:22s}"
        results[spec] = {}
        for n in ns:
            if n == big:
                seconds, cpu_seconds = largest[spec]
            else:
                seconds, _ = time_interleaved([spec], n, rounds, repeats if n > 1 else max(repeats, 5))[spec]
            results[spec][n] = n * rounds / seconds
            line += f"{rate(results[spec][n]):>10s}"
        cpu_rate = big * rounds / cpu_seconds
        if not args.no_gym:
            seconds = time_gym(spec, rounds, repeats if repeats > 1 else 1)
            if seconds is None:
                line += f"{'n/a':>10s}{'':>9s}"
            else:
                g = GYM_COPIES * rounds / seconds
                results[spec]["gym"] = g
                line += f"{rate(g):>10s}{results[spec][big] / g:>8.0f}x"
        target = target_for(spec) if big == 65536 else None
        if target is not None:
            ok = "ok  " if results[spec][big] >= target else "MISS"
            line += f"{rate(target):>9s} {ok}"
        else:
            line += " " * 14
        line += f"{rate(cpu_rate):>9s}"
        print(line, flush=True)
    print(f"(cpu: N * T over the CPU time of the process, all threads; load average now {os.getloadavg()[0]:.1f})")

    if not args.no_memory:
        mem_ns = sorted(int(x) for x in args.memory_n.split(",")) if args.memory_n else list(MEMORY_NS[:-1] if args.quick else MEMORY_NS)
        mem_rounds = args.memory_rounds or (5 if args.quick else 20)
        mem = {n: measure_memory(n, mem_rounds, specs, args.threads) for n in mem_ns}
        print()
        print(f"peak extra resident memory of reset + {mem_rounds} steps, MiB (fresh subprocess per N), and bytes per match")
        pairs = list(zip(mem_ns[:-1], mem_ns[1:]))[1:]  # the slope between consecutive large N
        head = f"{'opponent':22s}" + "".join(f"{'N=' + str(n):>10s}" for n in mem_ns)
        head += "".join(f"{f'B/match {lo}-{hi}':>22s}" for lo, hi in pairs)
        print(head)
        print("-" * len(head))
        for name in mem[mem_ns[0]]["kib"]:
            kib = [mem[n]["kib"][name] for n in mem_ns]
            line = f"{name:22s}" + "".join(f"{k / 1024:10.1f}" for k in kib)
            for lo, hi in pairs:
                line += f"{(mem[hi]['kib'][name] - mem[lo]['kib'][name]) * 1024 / (hi - lo):22.0f}"
            print(line)
        method = ", ".join(sorted({m["method"] for m in mem.values()}))
        print(f"(method: {method}, resolution one 4 KiB page; memory linear in N shows as equal bytes per match")
        print(" between consecutive N)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
