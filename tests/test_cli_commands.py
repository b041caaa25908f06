"""The commands no other test runs to the end, in-process through ``main(argv)``: opponents, gradcheck,
demo and plot, with tiny settings and assertions on what they print and write."""

import json

import pytest

from policygrad.cli import main
from policygrad.opponents import OPPONENTS


def test_opponents_json_lists_every_registered_opponent_with_its_parameters(capsys):
    assert main(["opponents", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in rows]
    assert [cls.name for cls in OPPONENTS] == names[: len(OPPONENTS)]
    markov = rows[names.index("markov")]
    assert {p["name"] for p in markov["parameters"]} >= {"order", "decay"}
    assert all(isinstance(r["adaptive"], bool) for r in rows[: len(OPPONENTS)])


def test_opponents_table(capsys):
    assert main(["opponents"]) == 0
    out = capsys.readouterr().out
    assert "markov" in out and "win-stay-lose-shift" in out and "roshambo" in out


def test_gradcheck_json_finds_every_estimator_unbiased_with_errors_falling_with_m(tmp_path, capsys):
    plot = tmp_path / "g.png"
    argv = [
        "gradcheck",
        "--rounds",
        "2",
        "--samples",
        "200,20000",
        "--repeats",
        "8",
        "--estimators",
        "total-return,reward-to-go",
        "--json",
        "--plot",
        str(plot),
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["rows"]
    assert {(r["estimator"], r["samples"]) for r in rows} == {(e, m) for e in ("total-return", "reward-to-go") for m in (200, 20000)}
    for r in rows:
        assert abs(r["bias_z"]) < 4, r  # unbiased: the mean estimate within 4 standard errors of the exact gradient
    for e in ("total-return", "reward-to-go"):
        small, large = (next(r for r in rows if r["estimator"] == e and r["samples"] == m) for m in (200, 20000))
        assert large["rel_error_mean"] < small["rel_error_mean"] / 4  # 1/sqrt(m): 100x the samples, ~10x less error
    assert report["exact_grad_norm"] > 0 and plot.stat().st_size > 1000


def test_demo_trains_evaluates_and_plots_and_runs_again(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--rounds", "10", "--iterations", "20", "--matches", "20"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "frequency (trained against)" in text and "uniform random" in text
    for name in ("learning_curve.png", "action_probs.png", "simplex.png"):
        assert (out / name).stat().st_size > 1000
    assert (out / "run" / "checkpoint.pt").exists()
    assert main(argv) == 0  # a second demo writes over the run it made


def test_plot_writes_three_figures_of_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--rounds", "5", "--iterations", "4", "--batch", "16", "--no-tensorboard", "--quiet", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["plot", str(run), "--out", str(tmp_path / "figs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith("wrote ") for line in lines)
    for line in lines:
        assert (tmp_path / "figs" / line.rsplit("/", 1)[1]).stat().st_size > 1000


@pytest.mark.parametrize("missing", ["nothing-here"])
def test_plot_of_a_missing_run_is_one_line(tmp_path, capsys, missing):
    assert main(["plot", str(tmp_path / missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and missing in err and len(err.strip().splitlines()) == 1
