"""Hostile files: reading a checkpoint, a run folder or a config file runs nothing it names (issue 17).

A payload file writes a marker file when it runs. A real checkpoint (and its run folder) is made to
name it as its training opponent, alone (``kaggle:path=payload.py``) and inside mixes; every loader
then reads it, and the marker must stay absent. The same payload named by a person (on the command
line, or in Python) does run, when a match is played: the marker shows the tests would see it.

A config file given with ``train --config FILE`` is a stored file too: its outside-code opponent is
refused unless the command line names an opponent itself.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

from policygrad import Agent
from policygrad.checkpoint import load_checkpoint, load_policy, save_baseline, save_checkpoint
from policygrad.cli import main
from policygrad.config import TrainConfig, dump_toml, load_toml, read_config
from policygrad.engine import Engine
from policygrad.policies import argmax_policy
from policygrad.opponents import OutsideCodeError, check_spec, make_opponent, outside_code
from policygrad.train import train

TINY = dict(opponent="frequency", rounds=5, context=1, hidden=(8,), batch=8, iterations=2, tensorboard=False)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """A real run folder, stopped after 1 of its 2 iterations (so --resume has work left)."""
    run_dir = str(tmp_path_factory.mktemp("clean") / "run")
    result = train(TrainConfig(**TINY), run_dir, stop_after=1, with_optimum=False)
    assert result.interrupted and result.iterations == 1
    return run_dir


def payload_file(folder, marker) -> str:
    """A Kaggle agent file that writes ``marker`` when it runs (then plays rock)."""
    path = os.path.join(folder, "payload.py")
    with open(path, "w") as fh:
        fh.write(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n\ndef agent(observation, configuration):\n    return 0\n")
    return path


SPECS = {
    "alone": "kaggle:path={p}",
    "in-a-mix": "mix:of=[frequency|kaggle:path={p}]",
    "two-mixes-deep": "mix:of=[markov|mix:of=[frequency|kaggle:path={p},function=agent]],weights=1,3",
}


@pytest.fixture(params=list(SPECS))
def hostile(request, clean_run, tmp_path):
    """(run folder, its checkpoint, the hostile spec, the marker path): a copy of the clean run whose
    checkpoint and config.toml name the payload as the training opponent."""
    marker = tmp_path / "marker"
    spec = SPECS[request.param].format(p=payload_file(str(tmp_path), marker))
    run_dir = str(tmp_path / "run")
    shutil.copytree(clean_run, run_dir)
    data = load_checkpoint(run_dir)
    data["config"]["opponent"] = spec
    ckpt = save_checkpoint(os.path.join(run_dir, "checkpoint.pt"), data)
    stored = load_toml(os.path.join(run_dir, "config.toml"))
    assert stored["hidden"] == [8]
    with open(os.path.join(run_dir, "config.toml"), "w") as fh:
        fh.write(dump_toml({**stored, "opponent": spec}))
    assert outside_code(spec) and not marker.exists()
    return run_dir, ckpt, spec, marker


def cli(argv, capsys, stdin: str | None = None, monkeypatch=None):
    """(exit code, stdout + stderr) of ``policygrad ARGV`` run in-process."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_python_loaders_run_nothing(hostile):
    run_dir, ckpt, spec, marker = hostile
    for path in (run_dir, ckpt):
        agent = Agent.load(path)
        assert 0 <= agent.act(None) < 3
        policy, cfg, _ = load_policy(path)
        assert cfg.opponent == spec  # read as data
    TrainConfig.from_dict(load_checkpoint(ckpt)["config"])
    assert not marker.exists()


def test_loading_needs_no_training_opponent(hostile):
    """The payload file gone (a checkpoint from another machine): loading for play still works."""
    run_dir, ckpt, spec, marker = hostile
    os.remove(spec.split("path=")[1].split(",")[0].rstrip("]"))
    assert 0 <= Agent.load(ckpt).act(None) < 3
    assert not marker.exists()


@pytest.mark.parametrize(
    "argv, stdin",
    [
        (["evaluate", "{ckpt}", "--opponent", "frequency", "--matches", "4"], None),
        (["exploitability", "{ckpt}"], None),
        (["export", "kaggle", "{ckpt}", "-o", "{tmp}/agent.py"], None),
        (["export", "kaggle", "{run}", "-o", "{tmp}/agent_of_folder.py"], None),
        (["play", "{ckpt}", "--rounds", "2"], "rock\npaper\n"),
        (["tournament", "--agents", "{ckpt}", "--opponents", "frequency", "--rounds", "5", "--seeds", "1", "--jobs", "1"], None),
    ],
    ids=["evaluate", "exploitability", "export", "export-folder", "play", "tournament"],
)
def test_cli_loaders_run_nothing(hostile, tmp_path, capsys, monkeypatch, argv, stdin):
    run_dir, ckpt, spec, marker = hostile
    argv = [a.format(ckpt=ckpt, run=run_dir, tmp=tmp_path) for a in argv]
    code, out = cli(argv, capsys, stdin, monkeypatch)
    assert code == 0, out
    assert not marker.exists()
    if argv[0] == "export":  # the file carries the spec as text, and importing it runs nothing either
        script = "import runpy, sys; m = runpy.run_path(sys.argv[1]); print(m['TRAINED_AGAINST'])"
        proc = subprocess.run([sys.executable, "-c", script, argv[-1]], capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == spec and not marker.exists()


def test_baseline_checkpoint_runs_nothing(hostile, tmp_path):
    """A deterministic baseline carries its source's TrainConfig (pg_config): read as data too."""
    run_dir, ckpt, spec, marker = hostile
    policy, cfg, _ = load_policy(ckpt)
    path = save_baseline(
        str(tmp_path / "det.pt"),
        "deterministic",
        argmax_policy(policy),
        {"game": "rps", "rounds": cfg.rounds, "context": cfg.context, "counts": cfg.counts, "opponent": spec, "pg_config": cfg.to_dict()},
    )
    agent = Agent.load(path)
    assert 0 <= agent.act(None) < 3 and agent.name == "deterministic"
    assert not marker.exists()


def test_resume_refuses_stored_outside_code_unless_named_again(hostile, capsys):
    run_dir, ckpt, spec, marker = hostile
    with pytest.raises(OutsideCodeError) as e:
        read_config(os.path.join(run_dir, "config.toml"))
    assert e.value.spec == spec and e.value.code == outside_code(spec) and len(e.value.code) == 1 and "payload.py" in e.value.code[0]
    code, out = cli(["train", "--resume", run_dir, "--quiet"], capsys)
    assert code == 2 and not marker.exists()
    assert "config.toml names the opponent" in out and "would run outside code" in out and "--opponent" in out
    assert load_checkpoint(run_dir)["iteration"] == 1  # nothing trained
    # the person names the same opponent: it is theirs now, and it runs when the matches are played
    code, out = cli(["train", "--resume", run_dir, "--opponent", spec, "--quiet"], capsys)
    assert code == 0, out
    assert marker.read_text() == "ran" and load_checkpoint(run_dir)["iteration"] == 2


def test_config_file_may_not_ask_for_outside_code(tmp_path, capsys):
    marker = tmp_path / "marker"
    spec = f"mix:of=[frequency|kaggle:path={payload_file(str(tmp_path), marker)}]"
    cfg = tmp_path / "hostile.toml"
    cfg.write_text(dump_toml({**TrainConfig(**TINY).to_dict(), "opponent": spec, "iterations": 1}))
    code, out = cli(["train", "--config", str(cfg), "--run-dir", str(tmp_path / "a"), "--quiet"], capsys)
    assert code == 2 and "hostile.toml names the opponent" in out and not marker.exists()
    assert not os.path.exists(tmp_path / "a")  # refused before the run folder is made
    # the command line's own opponent replaces the file's: nothing of the file runs
    code, out = cli(["train", "--config", str(cfg), "--opponent", "frequency", "--run-dir", str(tmp_path / "b"), "--quiet"], capsys)
    assert code == 0, out
    assert not marker.exists() and load_checkpoint(str(tmp_path / "b"))["config"]["opponent"] == "frequency"
    # named on the command line: the person asked for it
    code, out = cli(["train", "--config", str(cfg), "--opponent", spec, "--run-dir", str(tmp_path / "c"), "--quiet"], capsys)
    assert code == 0, out
    assert marker.read_text() == "ran"


def test_named_by_a_person_the_file_runs_when_played(tmp_path, clean_run, capsys):
    marker = tmp_path / "marker"
    spec = f"mix:of=[frequency|kaggle:path={payload_file(str(tmp_path), marker)}]"
    check_spec(spec)
    opponent = make_opponent(spec)  # built: compiled, not run
    assert not marker.exists()
    Engine(opponent, n=64, rounds=3, context=0, seed=0).reset()  # a match starts: the file runs
    assert marker.read_text() == "ran"
    marker.unlink()
    code, out = cli(["evaluate", clean_run, "--opponent", f"kaggle:path={tmp_path / 'payload.py'}", "--matches", "2"], capsys)
    assert code == 0, out
    assert marker.read_text() == "ran"


@pytest.mark.parametrize(
    "folder",
    [
        'run"""\nopen("pwned", "w").write("x")\n"""',
        "run'''\nopen('pwned', 'w').write('x')\n'''",
        'run\\"""\\\nopen("pwned", "w").write("x") # \\\n',
        "run\u2028open('pwned', 'w')\r\n#\x0c\u00e9",
    ],
    ids=["double-quotes", "single-quotes", "backslashes", "odd-characters"],
)
def test_export_from_a_hostile_folder_name(clean_run, tmp_path, folder):
    """Folder name and opponent text reach the exported file as escaped literals: importing it
    runs nothing of them, the names read back exactly, and the file still plays."""
    run_dir = str(tmp_path / folder)
    shutil.copytree(clean_run, run_dir)
    data = load_checkpoint(run_dir)
    opponent = 'kaggle:path=x"""\nopen("pwned2", "w").write("x")\n"""'  # stored text: never run, only shown
    data["config"]["opponent"] = opponent
    save_checkpoint(os.path.join(run_dir, "checkpoint.pt"), data)
    out = tmp_path / "agent.py"
    assert main(["export", "kaggle", run_dir, "-o", str(out), "--seed", "3"]) == 0
    play_dir = tmp_path / "play"
    play_dir.mkdir()
    script = textwrap.dedent(
        """
        import json, runpy, sys
        m = runpy.run_path(sys.argv[1])
        moves = [m["agent"]({"step": 0}, {"signs": 3})] + [m["agent"]({"step": s, "lastOpponentAction": s % 3}, {"signs": 3}) for s in range(1, 6)]
        print(json.dumps({"source": m["SOURCE"], "against": m["TRAINED_AGAINST"], "doc": m["__doc__"], "moves": moves}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, cwd=play_dir, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert os.listdir(play_dir) == []  # neither pwned file
    assert got["source"] == folder and got["against"] == opponent
    assert "pwned" not in got["doc"]
    assert len(got["moves"]) == 6 and all(m in (0, 1, 2) for m in got["moves"])
    assert out.read_text(encoding="ascii")  # every embedded text escaped to ASCII


def test_config_file_that_is_not_utf8_is_named(tmp_path, capsys):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('opponent = "fr\u00e9quence"\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.toml is not a TOML file: byte 14 is not UTF-8 text \(b'\\xe9'\)"):
        load_toml(str(bad))
    code, out = cli(["train", "--config", str(bad), "--run-dir", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 2 and str(bad) in out and "UTF-8" in out


class NotATensor:
    pass


def test_pickled_object_refusal_is_whole(tmp_path, capsys):
    path = str(tmp_path / "object.pt")
    torch.save({"format": "policygrad-checkpoint", "version": 1, "thing": NotATensor()}, path)
    with pytest.raises(ValueError) as e:
        load_checkpoint(path)
    message = str(e.value)
    assert message == (
        f"checkpoint {path} is corrupt or truncated, or holds pickled objects other than tensors and plain Python values (it names {__name__}.NotATensor); "
        "policygrad does not load such files, since unpickling them can run code"
    )
    code, out = cli(["evaluate", path, "--opponent", "frequency"], capsys)
    assert code == 2 and out.rstrip().endswith("since unpickling them can run code")


def test_a_corrupt_checkpoint_message_is_cut_at_a_word(tmp_path):
    from policygrad.checkpoint import _first_words

    text = "word " * 100
    cut = _first_words(text, limit=42)
    assert cut == "word word word word word word word word ..." and len(cut) <= 46
    assert _first_words("short line\nsecond line") == "short line"
    path = tmp_path / "junk.pt"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)  # a zip header with nothing behind it
    with pytest.raises(ValueError, match=r"is corrupt or truncated and cannot be read \(\w+: .+\)$"):
        load_checkpoint(str(path))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d.pop("policy"), r"has no policy; a policy checkpoint holds its config and its policy's weights"),
        (lambda d: d["config"].update(hidden=[16]), r"its weights do not fit the mlp policy its config describes \(size mismatch for policy\.net\.2\.weight"),
        (lambda d: d.update(policy="weights"), r"its weights do not fit the mlp policy its config describes \(Expected state_dict to be dict-like"),
        (lambda d: d.update(config=["opponent", "kaggle:path=x.py"]), r"a config must be a table of settings, got a list"),
    ],
    ids=["no-weights", "other-shape", "not-a-dict", "config-not-a-table"],
)
def test_a_damaged_policy_checkpoint_gets_one_line(clean_run, tmp_path, capsys, damage, message):
    data = load_checkpoint(clean_run)
    damage(data)
    path = save_checkpoint(str(tmp_path / "damaged.pt"), data)
    with pytest.raises(ValueError, match=message):
        load_policy(path)
    code, out = cli(["exploitability", path], capsys)
    assert code == 2 and out.startswith("error: ") and len(out.strip().splitlines()) == 1
