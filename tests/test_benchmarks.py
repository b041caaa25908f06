"""The benchmark scripts still run: tiny settings, in-process (the figures themselves are not tested)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_engine_benchmark_times_every_opponent_that_plays_alone(capsys):
    engine = _load("engine")
    specs = engine.opponent_specs()
    assert "mix" in specs and "markov:order=2" in specs  # mix plays its default members
    assert "best-response" not in specs and "mind-reader" not in specs  # they need the agent's policy
    threads = torch.get_num_threads()
    try:
        assert engine.main(["--quick", "--n", "1,8", "--opponents", "constant|q-learner", "--no-gym", "--no-memory"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "constant" in out and "q-learner" in out and "N=8" in out


def test_interleaved_timing_gives_one_median_per_opponent():
    engine = _load("engine")
    times = engine.time_interleaved(["constant", "pattern"], n=4, rounds=3, repeats=3)
    assert set(times) == {"constant", "pattern"}
    assert all(wall > 0 and cpu >= 0 for wall, cpu in times.values())


def test_quality_table_reads_the_stored_runs():
    quality = _load("quality")
    stored = json.loads((BENCHMARKS / "results" / "quality_T100.json").read_text())
    table = quality.table(stored["runs"], list(stored["optima"]), stored["budgets"], stored["optima"], seeds=3)
    rows = table.splitlines()
    assert rows[0].startswith("| opponent | optimum | policygrad 10 s | policygrad-gru 10 s | a2c 10 s")
    assert len(rows) == 2 + len(stored["optima"])
    assert "n=" not in table  # every method has its 3 seeds for every opponent


def test_online_layers_orders_the_layers_against_a_fixed_cycle(capsys):
    """Against a cycle every layer learns it: the best expert in hindsight is at least the best option, which is
    at least the second layer's play (a mixture of the options), and the final play trails the second layer's."""
    layers = _load("online_layers")
    r = layers.layer_rewards("cycle", rounds=60, seed=0)
    assert r["best expert"] >= r["best option"] >= r["second layer"] >= r["final"] > 0.3
    assert layers.main(["--opponents", "cycle", "--rounds", "30", "--seeds", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[2].startswith("| cycle | +")
