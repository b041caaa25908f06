"""Gradient benchmarks: the exact gradient's wall time, and sampled rollout + backward throughput.

    .venv/bin/python benchmarks/gradient.py            # T = 5 exact (T = 6 if it fits ~30 s); N = 65,536 x T = 100
    .venv/bin/python benchmarks/gradient.py --quick    # T = 4 exact; N = 8,192 x T = 50
    .venv/bin/python benchmarks/gradient.py --threads 0   # torch's own thread count (default: 1)
    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/gradient.py   # (or --thp) huge pages for big tensors
    .venv/bin/python benchmarks/gradient.py --malloc-keep  # glibc keeps freed memory: no page faults on reuse

(a) ``policygrad.exact.exact_gradient`` of an MLP policy against ``frequency`` (both methods,
    enumeration and the theorem's recursion), median wall time of a few runs.
(b) One sampled policy-gradient step of the MLP policy against ``frequency``:
    ``rollout`` (N matches of T rounds, context 1), ``score``, ``policy_objective`` (reward-to-go)
    and ``backward``, median of ``--repeats`` runs, in agent-steps per second (N * T per step),
    split between rollout and score + objective + backward. Target: 3 million agent-steps/s.

Prints figures and ratios; asserts nothing (speed targets live here, not in the tests).

One step at N = 65,536 and T = 100 allocates about 0.8 GB of fresh tensors (the Batch: obs alone is
262 MB). Tensors above 32 MB come from mmap, so every step page-faults them in again, and on a small
virtual machine that costs as much as the arithmetic. ``--thp`` (PyTorch's THP_MEM_ALLOC_ENABLE:
2 MB pages for big tensors) and ``--malloc-keep`` (glibc: no mmap, no trimming, so freed memory is
reused) show the step without most of that cost.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

TARGET = 3_000_000  # agent-steps per second through rollout + score + backward


def _median_time(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _policy(torch, obs_size: int, seed: int = 0):
    from policygrad.policies import MLPPolicy

    torch.manual_seed(seed)
    pi = MLPPolicy(obs_size, 3, (64,))
    with torch.no_grad():  # a generic theta, not the uniform start
        for p in pi.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return pi


def bench_exact(torch, rounds_list: list[int], repeats: int, budget_s: float) -> list[tuple]:
    from policygrad import encoding
    from policygrad.exact import exact_gradient

    pi = _policy(torch, encoding.feature_size(3, 1))
    rows = []
    for rounds in rounds_list:
        for method in ("enumerate", "theorem"):
            prev = [r for r in rows if r[1] == method]
            if prev:  # 9x the histories per extra round, and one more round each
                estimate = prev[-1][2] * 9 ** (rounds - prev[-1][0]) * rounds / prev[-1][0]
                if estimate > budget_s:
                    rows.append((rounds, method, math.nan, f"skipped: about {estimate:.0f} s per run (> {budget_s:.0f} s)"))
                    continue
            med, times = _median_time(lambda rounds=rounds, method=method: exact_gradient(pi, "frequency", rounds, 1, method=method), repeats)
            rows.append((rounds, method, med, " ".join(f"{t:.2f}" for t in times)))
            print(f"  exact T={rounds} {method}: {med:.2f} s", file=sys.stderr, flush=True)
    return rows


def bench_throughput(torch, n: int, rounds: int, repeats: int) -> dict:
    from policygrad.engine import Engine
    from policygrad.estimators import policy_objective
    from policygrad.rollout import rollout, score

    engine = Engine("frequency", n=n, rounds=rounds, context=1)
    pi = _policy(torch, engine.obs_size)
    phases = {"rollout": [], "score": [], "objective": [], "backward": [], "total": [], "cpu": []}
    for r in range(repeats + 1):  # the first run warms up and is not counted
        pi.zero_grad(set_to_none=True)
        cpu0, t0 = time.process_time(), time.perf_counter()
        batch = rollout(pi, engine, seed=r)
        t1 = time.perf_counter()
        scored = score(pi, batch)
        t2 = time.perf_counter()
        loss = -policy_objective(scored.logp, scored.rewards, "reward-to-go")
        t3 = time.perf_counter()
        loss.backward()
        t4, cpu4 = time.perf_counter(), time.process_time()
        del batch, scored, loss
        if r:
            for key, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0, cpu4 - cpu0)):
                phases[key].append(value)
            print(f"  N={n} T={rounds} run {r}: {t4 - t0:.2f} s", file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in phases.items()}
    med["runs"] = phases["total"]
    med["fast_path"] = rollout(pi, Engine("frequency", n=n, rounds=1, context=1), seed=0).distinct is not None
    return med


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run: exact T = 4, N = 8,192 x T = 50")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a busy shared machine a second OpenMP thread waits for a free core at every op; 0: torch's choice)",
    )
    parser.add_argument("--thp", action="store_true", help="set THP_MEM_ALLOC_ENABLE=1 (huge pages for tensors >= 2 MB)")
    parser.add_argument("--malloc-keep", action="store_true", help="glibc mallopt: M_MMAP_MAX = 0, M_TRIM_THRESHOLD = 4 GB (freed memory is kept and reused)")
    parser.add_argument("--skip-exact", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    if args.thp:
        if "torch" in sys.modules:
            raise SystemExit("--thp must be set before torch is imported")
        os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
    if args.malloc_keep:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
        if not (mallopt(-4, 0) and mallopt(-1, 4 << 30)):  # M_MMAP_MAX, M_TRIM_THRESHOLD
            raise SystemExit("--malloc-keep: mallopt refused (not glibc?)")
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    n, rounds = (8192, 50) if args.quick else (65536, 100)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}, malloc-keep {'on' if args.malloc_keep else 'off'}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    if not args.skip_exact:
        rows = bench_exact(torch, [4] if args.quick else [5, 6], args.repeats, budget_s=30.0)
        print("\n(a) exact gradient, MLP (64 hidden) vs frequency, context 1, float64")
        print(f"{'T':>3}  {'histories':>10}  {'method':<10}  {'median s':>9}  runs (s)")
        for r, method, med, note in rows:
            print(f"{r:>3}  {9**r:>10,}  {method:<10}  {med:>9.2f}  {note}")

    if not args.skip_throughput:
        m = bench_throughput(torch, n, rounds, args.repeats)
        steps = n * rounds
        back = m["score"] + m["objective"] + m["backward"]
        rate = steps / m["total"]
        print(f"\n(b) sampled gradient, MLP (64 hidden) vs frequency, N = {n:,} matches x T = {rounds} rounds = {steps:,} agent-steps")
        print(f"    distinct-observation fast path: {'yes' if m['fast_path'] else 'no'}; median of {args.repeats} runs")
        print(f"{'phase':<32}  {'median s':>9}  {'share':>6}  {'agent-steps/s':>14}")
        for name, sec in (
            ("rollout", m["rollout"]),
            ("score (log pi with autograd)", m["score"]),
            ("policy_objective reward-to-go", m["objective"]),
            ("backward", m["backward"]),
            ("score + objective + backward", back),
            ("total", m["total"]),
        ):
            print(f"{name:<32}  {sec:>9.3f}  {sec / m['total']:>6.0%}  {steps / sec:>14,.0f}")
        print(f"throughput {rate / 1e6:.2f} M agent-steps/s; target {TARGET / 1e6:.0f} M: ratio {rate / TARGET:.2f} ({'met' if rate >= TARGET else 'missed'})")
        print(f"(CPU time: {steps / m['cpu'] / 1e6:.2f} M agent-steps per CPU-second, all threads; load average now {os.getloadavg()[0]:.1f})")
        if torch.get_num_threads() > 1 and os.getloadavg()[0] > (os.cpu_count() or 1):
            print("(a busy machine: with more threads than free cores, --threads 1 runs faster)")
        print("runs (s): " + " ".join(f"{t:.2f}" for t in m["runs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
