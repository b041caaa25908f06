"""Run folders and interrupts under fire: real signals and kills at random moments, two writers at
once, folders that are not ours (issue 17, items 2, 3, 4, 6, 9).

The reference is always the same run never stopped: a stopped and resumed run must end with the same
parameters, tensor for tensor (``torch.equal``), and the same metric rows, one per iteration.
"""

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import torch

from policygrad.checkpoint import load_checkpoint
from policygrad.cli import main
from policygrad.config import TrainConfig
from policygrad.files import RUN_MARKER, RunDirInUseError, RunLock, run_maker
from policygrad.train import default_run_dir, train

CLI = [sys.executable, "-m", "policygrad.cli"]
# ~11 ms per iteration on an idle core: a run of 120 iterations trains for ~1.3 s after ~3 s of start
SMALL = "--opponent frequency --batch 32 --rounds 10 --hidden 16 --seed 3 --no-tensorboard --quiet".split()
TINY = dict(opponent="frequency", rounds=5, context=1, batch=16, iterations=6, checkpoint_every=2, tensorboard=False, hidden=(8,))


def _metric_rows(run_dir) -> list[dict]:
    """The rows of metrics.csv, after checking that it has exactly one header."""
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as fh:
        lines = list(csv.reader(fh))
    assert sum(1 for r in lines if r[:1] == ["iteration"]) == 1 and lines[0][0] == "iteration"
    return [dict(zip(lines[0], r)) for r in lines[1:]]


def _checkpoint(run_dir) -> dict:
    return torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)


def _assert_same_run(whole, other, iterations):
    a, b = _checkpoint(whole), _checkpoint(other)
    assert a["iteration"] == b["iteration"] == iterations
    for part in ("policy", "critic"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    rows_a, rows_b = _metric_rows(whole), _metric_rows(other)
    assert [int(r["iteration"]) for r in rows_b] == list(range(1, iterations + 1))  # one row per iteration
    drop = ("seconds",)  # wall-clock time is the only column that may differ
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows_a] == [{k: v for k, v in r.items() if k not in drop} for r in rows_b]


def _start(argv, cwd):
    return subprocess.Popen(CLI + ["train", *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_lock(run_dir, proc, timeout=120.0):
    """Wait until ``proc`` holds the run folder's lock: it is in ``train()``, about to train."""
    marker, end = os.path.join(run_dir, RUN_MARKER), time.monotonic() + timeout
    while not (os.path.exists(marker) and f"pid = {proc.pid}\n" in open(marker).read()):
        assert proc.poll() is None, f"the run ended before it took the lock: {proc.communicate()[0]}"
        assert time.monotonic() < end, f"{run_dir} was not locked"
        time.sleep(0.002)


def _moment(rng, whole) -> float:
    """A random moment within the first 15% of a run's training time (measured on the run ``whole``),
    so that four of them in a row land before the run ends, on a slow machine or a fast one."""
    with open(os.path.join(whole, "report.json")) as fh:
        return rng.uniform(0.0, 0.15) * json.load(fh)["seconds"]


def _temp_files(run_dir):
    return [n for n in os.listdir(run_dir) if n.startswith(".tmp-")]


# -- interrupts are exact ---------------------------------------------------------------------------


def test_sigint_sigterm_sighup_at_random_moments_then_resume_equal_the_uninterrupted_run(tmp_path, capsys):
    n = 120
    argv = SMALL + ["--iterations", str(n), "--checkpoint-every", "25"]
    assert main(["train", *argv, "--run-dir", str(tmp_path / "whole")]) == 0
    run = str(tmp_path / "part")
    rng = random.Random(17)
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGINT]
    for i, sig in enumerate(signals):  # four real signals, each at a random moment of training
        proc = _start(argv + ["--run-dir", run] if i == 0 else ["--resume", run, "--quiet"], tmp_path)
        _wait_for_lock(run, proc)
        time.sleep(_moment(rng, tmp_path / "whole"))
        proc.send_signal(sig)
        out = proc.communicate(timeout=120)[0]
        assert proc.returncode == 130, (sig, out)
        assert "interrupted: checkpoint saved" in out
        # the last completed iteration is saved, with the state from its end: nothing is lost
        assert _checkpoint(run)["iteration"] == len(_metric_rows(run)) < n
        assert not os.path.exists(os.path.join(run, "report.json"))
    assert main(["train", "--resume", run, "--quiet"]) == 0  # in-process: one interpreter start less
    _assert_same_run(str(tmp_path / "whole"), run, n)


def test_sigkill_at_random_moments_even_during_checkpoint_writes_leaves_a_folder_that_resumes(tmp_path, capsys):
    n = 120
    argv = SMALL + ["--iterations", str(n), "--checkpoint-every", "1"]  # a checkpoint write every iteration
    assert main(["train", *argv, "--run-dir", str(tmp_path / "whole")]) == 0
    run = str(tmp_path / "part")
    rng = random.Random(5)
    for i in range(3):
        # a folder killed before its config.toml was written holds no run yet: it is started again
        started = os.path.exists(os.path.join(run, "config.toml"))
        proc = _start(["--resume", run, "--quiet"] if started else argv + ["--run-dir", run], tmp_path)
        # the first kill lands as the run starts (config, first checkpoint), the others at random
        _wait_for_lock(run, proc)
        time.sleep(0.0 if i == 0 else _moment(rng, tmp_path / "whole"))
        proc.kill()
        proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL
        if os.path.exists(os.path.join(run, "checkpoint.pt")):  # loadable, or absent: the run restarts from 0
            assert load_checkpoint(run)["iteration"] <= len(_metric_rows(run))
    orphan = os.path.join(run, ".tmp-killed.pt")  # what a kill in the middle of torch.save leaves
    with open(orphan, "wb") as fh:
        fh.write(b"half a checkpoint")
    assert main(["train", "--resume", run, "--quiet"]) == 0
    assert _temp_files(run) == []
    _assert_same_run(str(tmp_path / "whole"), run, n)


class _Killed(BaseException):
    """Stands for SIGKILL in-process: no handler, no ``finally`` of ours cleans up after it."""


def test_a_kill_during_the_first_checkpoint_write_leaves_a_run_that_resume_restarts_from_zero(tmp_path, monkeypatch, capsys):
    whole, run = str(tmp_path / "whole"), str(tmp_path / "r")
    train(TrainConfig(**TINY), whole)  # with the optimum column, as the command line writes it

    def dies_mid_write(path, payload):
        fd, _ = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".pt")
        os.write(fd, b"half")
        os.close(fd)
        raise _Killed

    monkeypatch.setattr("policygrad.run_folder.save_checkpoint", dies_mid_write)
    with pytest.raises(_Killed):
        train(TrainConfig(**TINY), run, with_optimum=False)
    monkeypatch.undo()
    assert not os.path.exists(os.path.join(run, "checkpoint.pt")) and len(_temp_files(run)) == 1
    assert _metric_rows(run) == []
    # a plain rerun is refused (the folder holds a run), --resume restarts it from iteration 0
    assert main(["train", "--run-dir", run, "--opponent", "frequency", "--quiet"]) == 2
    assert "holds a run stopped before its first checkpoint; use --resume" in "".join(capsys.readouterr())
    assert main(["train", "--resume", run, "--quiet"]) == 0
    assert _temp_files(run) == []
    _assert_same_run(whole, run, 6)


def test_a_signal_stops_after_the_iteration_under_way_and_the_old_handlers_come_back(tmp_path):
    received = []
    previous = signal.signal(signal.SIGTERM, lambda s, f: received.append(s))  # a regression must not kill pytest
    try:
        before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

        def progress(row):
            if row["iteration"] == 3:
                os.kill(os.getpid(), signal.SIGTERM)

        result = train(TrainConfig(**TINY), str(tmp_path / "r"), progress=progress, with_optimum=False)
        assert result.interrupted and result.iterations == 3 and received == []
        assert _checkpoint(tmp_path / "r")["iteration"] == 3 and len(_metric_rows(tmp_path / "r")) == 3
        assert {s: signal.getsignal(s) for s in before} == before
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_second_signal_stops_at_once_and_keeps_the_last_saved_checkpoint(tmp_path):
    whole, run = str(tmp_path / "whole"), str(tmp_path / "r")
    train(TrainConfig(**TINY), whole, with_optimum=False)

    def progress(row):
        if row["iteration"] == 3:  # checkpoint_every 2: the last one saved is at iteration 2
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**TINY), run, progress=progress, with_optimum=False)
    assert _checkpoint(run)["iteration"] == 2
    train(TrainConfig(**TINY), run, resume=True, with_optimum=False)
    _assert_same_run(whole, run, 6)


def test_an_ignored_signal_stays_ignored_and_train_runs_outside_the_main_thread(tmp_path):
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:

        def progress(row):
            if row["iteration"] == 2:
                os.kill(os.getpid(), signal.SIGHUP)

        result = train(TrainConfig(**TINY), str(tmp_path / "r"), progress=progress, with_optimum=False)
        assert not result.interrupted and result.iterations == 6
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    results = []
    worker = threading.Thread(target=lambda: results.append(train(TrainConfig(**TINY), str(tmp_path / "t"), with_optimum=False)))
    worker.start()
    worker.join()
    assert [r.iterations for r in results] == [6]


# -- a run folder belongs to one run ------------------------------------------------------------------


def test_two_concurrent_runs_into_one_folder_one_refused_one_complete(tmp_path, capsys):
    run = str(tmp_path / "r")
    argv = SMALL + ["--iterations", "300"]  # ~3 s: long enough for three attempts to meet it
    first = _start(argv + ["--run-dir", run], tmp_path)
    _wait_for_lock(run, first)
    for second in (argv + ["--run-dir", run], argv + ["--run-dir", run, "--overwrite"], ["--resume", run, "--quiet"]):
        assert main(["train", *second]) == 2
        assert f"{run} is in use by pid {first.pid}" in "".join(capsys.readouterr())
    out = first.communicate(timeout=120)[0]
    assert first.returncode == 0, out
    assert _checkpoint(run)["iteration"] == 300
    assert [int(r["iteration"]) for r in _metric_rows(run)] == list(range(1, 301))
    with RunLock(run):  # free again once the run ended
        pass
    with RunLock(run):
        with pytest.raises(RunDirInUseError, match=f"in use by pid {os.getpid()}"):
            RunLock(run).__enter__()


def test_a_foreign_folder_is_refused_untouched_and_overwrite_keeps_the_users_other_files(tmp_path, capsys):
    run = tmp_path / "mine"
    run.mkdir()
    user = {"config.toml": b"my own config\n", "metrics.csv": b"a,b\n1,2\n", "report.json": b"{}", "notes.txt": b"keep me\n"}
    for name, data in user.items():
        (run / name).write_bytes(data)
    argv = [
        "train",
        "--opponent",
        "constant",
        "--rounds",
        "4",
        "--batch",
        "8",
        "--iterations",
        "3",
        "--hidden",
        "8",
        "--no-tensorboard",
        "--quiet",
        "--run-dir",
        str(run),
    ]
    assert main(argv) == 2
    message = "".join(capsys.readouterr())
    assert "is not empty ('config.toml', 'metrics.csv', 'notes.txt' and 1 more) and is not a policygrad run folder" in message
    assert "--overwrite" in message
    assert sorted(os.listdir(run)) == sorted(user) and all((run / n).read_bytes() == d for n, d in user.items())
    assert main(["train", "--resume", str(run), "--quiet"]) == 2  # its config.toml is not a run's: refused, untouched
    assert sorted(os.listdir(run)) == sorted(user) and all((run / n).read_bytes() == d for n, d in user.items())
    capsys.readouterr()
    assert main(argv + ["--overwrite", "--resume", str(run)]) == 2
    assert "--resume and --overwrite exclude each other" in "".join(capsys.readouterr())
    assert main(argv + ["--overwrite"]) == 0
    assert (run / "notes.txt").read_bytes() == b"keep me\n"
    assert 'opponent = "constant"' in (run / "config.toml").read_text()
    assert [int(r["iteration"]) for r in _metric_rows(run)] == [1, 2, 3]  # the user's rows are gone, not appended to
    assert run_maker(str(run)) == "train"
    # now a run of ours with a checkpoint: a plain rerun is refused, nothing changed
    before = (run / "checkpoint.pt").read_bytes()
    assert main(argv) == 2
    assert "already holds a run; use --resume" in "".join(capsys.readouterr())
    assert (run / "checkpoint.pt").read_bytes() == before


def test_an_empty_folder_or_a_file_as_run_dir(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    cfg = TrainConfig(**TINY)
    assert train(cfg, str(tmp_path / "empty"), with_optimum=False).iterations == 6
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        train(cfg, str(tmp_path / "file"), with_optimum=False)
    with pytest.raises(ValueError, match="run_dir is an empty path"):
        train(cfg, "", with_optimum=False)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(cfg, str(tmp_path / "missing"), resume=True, with_optimum=False)
    assert not (tmp_path / "missing").exists()
    # killed between taking the folder and writing config.toml: only the marker; started again
    with RunLock(str(tmp_path / "taken")):
        pass
    assert main(["train", "--resume", str(tmp_path / "taken"), "--quiet"]) == 2
    assert "stopped before writing config.toml; start it again with --run-dir" in "".join(capsys.readouterr())
    assert train(cfg, str(tmp_path / "taken"), with_optimum=False).iterations == 6


def test_demo_writes_over_only_a_run_it_made(tmp_path, monkeypatch, capsys):
    def demo(out):
        return ["demo", "--out", str(out), "--iterations", "2", "--rounds", "5", "--matches", "10", "--opponent", "constant"]

    (tmp_path / "out" / "run").mkdir(parents=True)
    (tmp_path / "out" / "run" / "thesis.tex").write_text("years of work\n")
    assert main(demo(tmp_path / "out")) == 2
    assert "holds files that policygrad demo did not make" in "".join(capsys.readouterr())
    assert os.listdir(tmp_path / "out" / "run") == ["thesis.tex"]
    # a run made by `train` is not the demo's either
    train(TrainConfig(**TINY), str(tmp_path / "trained" / "run"), with_optimum=False)
    before = {n: (tmp_path / "trained" / "run" / n).read_bytes() for n in os.listdir(tmp_path / "trained" / "run")}
    assert main(demo(tmp_path / "trained")) == 2
    assert {n: (tmp_path / "trained" / "run" / n).read_bytes() for n in os.listdir(tmp_path / "trained" / "run")} == before
    # its own run: twice in a row works (make demo, make demo), a file the user added is kept
    fresh = demo(tmp_path / "fresh")
    assert main(fresh) == 0
    assert run_maker(str(tmp_path / "fresh" / "run")) == "demo"
    (tmp_path / "fresh" / "run" / "notes.txt").write_text("mine\n")
    assert main(fresh) == 0
    assert (tmp_path / "fresh" / "run" / "notes.txt").read_text() == "mine\n"
    assert [int(r["iteration"]) for r in _metric_rows(tmp_path / "fresh" / "run")] == [1, 2]
    # --out '' no longer means ./run (which it used to delete)
    monkeypatch.chdir(tmp_path)
    os.makedirs("run")
    (tmp_path / "run" / "data.csv").write_text("1\n")
    with pytest.raises(SystemExit) as stop:
        main(demo(""))
    assert stop.value.code == 2 and "expected a non-empty path, got ''" in capsys.readouterr().err
    assert os.listdir(tmp_path / "run") == ["data.csv"]


def test_default_run_names_of_runs_started_together_differ(tmp_path, monkeypatch, capsys):
    cfg = TrainConfig(**TINY)
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.25)  # one instant: only the random suffix differs
    same = [default_run_dir(cfg) for _ in range(3)]
    assert len(set(same)) == 3  # a collision has odds 3 in 16.7 million
    assert all(re.fullmatch(r"runs/frequency__gae__0__\d{8}-\d{6}\.250-[0-9a-f]{6}", n) for n in same), same
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.251)
    assert default_run_dir(cfg).rsplit("-", 1)[0].endswith(".251")  # sub-second: a millisecond apart, another stamp
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--opponent", "constant", "--rounds", "3", "--iterations", "1", "--batch", "4", "--hidden", "4", "--no-tensorboard", "--quiet"]
    assert main(argv) == 0 and main(argv) == 0
    runs = os.listdir(tmp_path / "runs")
    assert len(runs) == 2 and all(os.path.exists(tmp_path / "runs" / r / "checkpoint.pt") for r in runs)
    assert all(os.path.exists(tmp_path / "runs" / r / RUN_MARKER) for r in runs)
