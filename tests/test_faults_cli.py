"""Bad inputs at the command line (issue 17, items 7 and 10-14): every one ends in one clean line on
stderr and exit 2, with no traceback, nothing on stdout (so ``--json > out.json`` stays pure
JSON), and no work done first: outputs are checked before the work, sizes are refused up front
(in well under a second: the limits compare estimates and logarithms, never build the thing).

``BAD_INPUTS`` is the table behind docs/reliability.md, "Bad inputs": each row is one bad input
of one command and a piece of text its error must name (the bad value, the size and its limit).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time

import pytest

from policygrad import cli
from policygrad.cli import build_parser, main
from policygrad.files import check_writable_dir, check_writable_file
from policygrad.limits import MAX_SEED, TooLargeError, available_memory, check_size, power
from policygrad.opponents.external import install_hint

BIG = str(2**64)  # a seed torch cannot take ("Overflow when unpacking long long" before)
DEEP = "mix:of=[" * 200 + "frequency" + "]" * 200  # nested far past any real use: a recursion-depth error before


def run(capsys, argv: list[str]) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, seconds) of ``main(argv)`` in this process; a parser error (argparse's
    SystemExit) counts as its exit code."""
    t0 = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    seconds = time.perf_counter() - t0
    out, err = capsys.readouterr()
    return code, out, err, seconds


def assert_refused(code: int, out: str, err: str, seconds: float, needle: str) -> str:
    """Exit 2, nothing on stdout, no traceback, one error line on stderr that names ``needle``,
    within 5 s (a refusal, not a computation: each takes well under a second alone). Returns the line."""
    assert code == 2, (code, out, err)
    assert out == "", out
    assert "Traceback" not in err and 'File "' not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:") or ": error: " in line]
    assert len(errors) == 1 and errors[0] == err.splitlines()[-1], err
    if errors[0].startswith("error:"):  # our own errors: exactly one line (argparse's come after its usage lines)
        assert err.count("\n") == 1, err
    assert needle in errors[0], (needle, errors[0])
    assert seconds < 5.0, f"took {seconds:.1f} s"
    return errors[0]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """A tiny trained run (its checkpoint and config), a plain file, an existing folder, a TOML with inf."""
    root = tmp_path_factory.mktemp("faults_cli")
    run_dir = str(root / "run")
    argv = ["train", "--opponent", "constant", "--rounds", "4", "--batch", "8", "--iterations", "1", "--hidden", "8", "--context", "1",
            "--no-tensorboard", "--quiet", "--run-dir", run_dir]  # fmt: skip
    assert main(argv) == 0
    (root / "file.txt").write_text("not a folder\n")
    (root / "folder").mkdir()
    (root / "inf.toml").write_text("ent_coef = inf\n")
    return {"run": run_dir, "file": str(root / "file.txt"), "dir": str(root / "folder"), "inf_toml": str(root / "inf.toml"),
            "new": str(root / "never-made")}  # fmt: skip


# (command, argv, text the one error line must hold); {run} {file} {dir} {inf_toml} {new} are the fixture's paths.
# train runs --quiet: its progress bar (not an error) would print its first line to stdout
BAD_INPUTS = [
    # gradcheck
    ("gradcheck", ["--rounds", "1000000000"], "3^2000000000 histories"),
    ("gradcheck", ["--samples", "1000000000000"], "the limit is"),
    ("gradcheck", ["--repeats", "1000000000"], "1,000,000,000 repeats"),
    ("gradcheck", ["--repeats", "1"], "got '1'"),
    ("gradcheck", ["--context", "100"], "got 100"),
    ("gradcheck", ["--context=-1"], "got '-1'"),
    ("gradcheck", ["--seed=-1"], "got '-1'"),
    ("gradcheck", ["--seed", BIG], f"got '{BIG}'"),
    ("gradcheck", ["--estimators", "total-return,sarsa"], "sarsa"),
    ("gradcheck", ["--plot", "{file}/error.png"], "is a file, not a folder"),
    ("gradcheck", ["--plot", "{dir}"], "is a folder; a file path is needed"),
    # optimum
    ("optimum", ["--opponent", "frequency", "--rounds", "1000000000"], "the limit is 4.0 GiB"),
    ("optimum", ["--opponent", "frequency", "--rounds", "0"], "got '0'"),
    ("optimum", ["--opponent", "frequency", "--rounds", "3", "--max-states", "0"], "got '0'"),
    ("optimum", ["--opponent", "nobody", "--rounds", "3"], "unknown opponent 'nobody'"),
    ("optimum", ["--opponent", DEEP, "--rounds", "3"], "nests 200 levels"),
    # train
    ("train", ["--quiet", "--batch", "1000000000", "--run-dir", "{new}"], "; batch 1,000,000,000 x 100 rounds) needs about"),
    ("train", ["--quiet", "--hidden", "100000000", "--run-dir", "{new}"], "the limit is"),
    ("train", ["--quiet", "--rounds", "1000000000", "--run-dir", "{new}"], "1,000,000,000 rounds) needs about"),
    (
        "train",
        ["--quiet", "--opponent", "constant", "--rounds", "1000000", "--run-dir", "{new}"],
        "256 x 1,000,000 rounds) needs about",
    ),  # before the optimum's minutes
    (
        "train",
        ["--quiet", "--policy", "tabular", "--context", "8", "--run-dir", "{new}"],
        "the checkpoint (tabular policy and critic: 300,005,185 parameters) needs about 3.4 GiB; the limit is 1.0 GiB",
    ),
    ("train", ["--quiet", "--ent-coef", "inf", "--run-dir", "{new}"], "got 'inf'"),
    ("train", ["--quiet", "--lr", "nan", "--run-dir", "{new}"], "got 'nan'"),
    ("train", ["--quiet", "--config", "{inf_toml}", "--run-dir", "{new}"], "ent_coef must be a finite number, got inf"),
    ("train", ["--quiet", "--config", "{dir}", "--run-dir", "{new}"], "Is a directory"),
    ("train", ["--quiet", "--run-dir", ""], "got ''"),
    ("train", ["--quiet", "--seed=-1", "--run-dir", "{new}"], "seed=-1 is out of range"),
    ("train", ["--quiet", "--seed", BIG, "--run-dir", "{new}"], f"seed={BIG} is out of range"),
    ("train", ["--quiet", "--resume", "{run}", "--opponent", "constant", "--run-dir", "{new}"], "cannot take --run-dir"),
    ("train", ["--quiet", "--resume", "{run}", "--batch", "16"], "cannot take --batch"),
    ("train", ["--quiet", "--resume", "{run}", "--opponent", "markov"], "--opponent markov (the run's opponent is 'constant'"),
    # evaluate
    ("evaluate", ["{run}", "--opponent", "frequency", "--matches", "1000000000000"], "1,000,000,000,000 matches x 4 rounds) needs about"),
    ("evaluate", ["{run}", "--opponent", "frequency", "--matches", "0"], "got '0'"),
    ("evaluate", ["{run}", "--opponent", "frequency", "--seed=-1"], "got '-1'"),
    ("evaluate", ["{run}", "--opponent", "nobody"], "unknown opponent 'nobody'"),
    ("evaluate", ["", "--opponent", "frequency"], "expected a non-empty path, got ''"),
    ("evaluate", ["{new}", "--opponent", "frequency"], "checkpoint not found"),
    # export
    ("export", ["kaggle", "{run}", "-o", "{file}/agent.py"], "is a file, not a folder"),
    ("export", ["kaggle", "{run}", "-o", "{dir}"], "is a folder; a file path is needed"),
    ("export", ["kaggle", "{run}", "-o", ""], "got ''"),
    ("export", ["kaggle", "{run}", "-o", "{new}/agent.py", "--seed=-1"], "got '-1'"),
    # plot
    ("plot", ["{run}", "--out", "{file}"], "is a file; a folder is needed"),
    ("plot", ["{run}", "--out", "{file}/plots"], "is a file, not a folder"),
    ("plot", [""], "got ''"),
    # demo (the parser's checks; the run itself is tested elsewhere)
    ("demo", ["--rounds", "0", "--out", "{new}"], "got '0'"),
    ("demo", ["--matches", "0", "--out", "{new}"], "got '0'"),
    ("demo", ["--seed=-1", "--out", "{new}"], "got '-1'"),
    ("demo", ["--out", ""], "got ''"),
    # tournament
    ("tournament", ["--agents", "uniform", "--opponents", "frequency", "--rounds", "1000000000"], "at most 1,000,000 per match"),
    ("tournament", ["--agents", "uniform", "--opponents", "frequency", "--seeds", "1000000000", "--jobs", "1"], "1,000,000,000 matches needs about"),
    ("tournament", ["--agents", "uniform", "--opponents", "frequency", "--seeds", "0"], "got '0'"),
    ("tournament", ["--agents", "uniform", "--opponents", "frequency", "--jobs", "0"], "got '0'"),
    ("tournament", ["--agents", "uniform", "--opponents", "frequency", "--move-timeout", "inf"], "got 'inf'"),
    ("tournament", ["--agents", "uniform", "--opponents", "frequency", "--plot", "{dir}"], "is a folder; a file path is needed"),
    ("tournament", ["--agents", "uniform", "--opponents", "frequency", "--plot", "{file}/heat.png"], "is a file, not a folder"),
    # play
    ("play", ["--rounds=-1"], "got '-1'"),
    ("play", ["--rounds", "0"], "got '0'"),
    ("play", ["--seed=-1"], "got '-1'"),
    # exploitability
    ("exploitability", ["{run}", "--seed=-1"], "got '-1'"),
    ("exploitability", ["{run}", "--max-states", "0"], "got '0'"),
    ("exploitability", ["{run}", "--safety", "inf"], "got 'inf'"),
    ("exploitability", [""], "got ''"),
    # compare
    ("compare", ["--seeds", "1,1"], "got 1 twice in '1,1'"),
    ("compare", ["--seeds=-1,2"], "got -1 in '-1,2'"),
    ("compare", ["--seeds", "0"], "got '0'"),
    ("compare", ["--batch", "0"], "got '0'"),
    ("compare", ["--quiet", "--batch", "1000000000"], "batch 1,000,000,000 x 20 rounds) needs about"),
    ("compare", ["--quiet", "--matches", "1000000000000"], "(1,000,000,000,000 matches x 20 rounds) needs about"),
    ("compare", ["--save", "{file}"], "is a file; a folder is needed"),
    ("compare", ["--plot", "{file}/plots"], "is a file, not a folder"),
    # sweep (the parser's checks: no Ray is started)
    ("sweep", [""], "got ''"),
    ("sweep", ["{new}.toml", "--cpus", "0"], "got '0'"),
    ("sweep", ["{new}.toml", "--out", ""], "got ''"),
    # selfplay
    ("selfplay", ["--lr", "inf"], "got 'inf'"),
    ("selfplay", ["--lr", "nan"], "got 'nan'"),
    ("selfplay", ["--alpha", "inf"], "got 'inf'"),
    ("selfplay", ["--magnet-rate", "2"], "magnet_rate must be in [0, 1], got 2.0"),
    ("selfplay", ["--iterations", "1000000000000"], "1,000,000,000,000 iterations needs about"),
    ("selfplay", ["--feedback", "sampled", "--rounds", "1000000000"], "the limit is"),
    ("selfplay", ["--seed=-1"], "got '-1'"),
    ("selfplay", ["--plot", "{file}"], "is a file; a folder is needed"),
    ("selfplay", ["--game", "rpsls", "--plot", "{new}"], "rpsls has 5 actions"),
]


@pytest.mark.parametrize("command,argv,needle", BAD_INPUTS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BAD_INPUTS)])
def test_bad_input_is_one_clean_line_on_stderr(paths, capsys, command, argv, needle):
    argv = [a.format(**paths) for a in argv]
    assert_refused(*run(capsys, [command, *argv]), needle.format(**paths))
    assert not os.path.exists(paths["new"])  # nothing made: no run folder, no plot folder


def test_the_bad_inputs_cover_every_command_that_takes_input():
    covered = {c for c, _, _ in BAD_INPUTS}
    commands = set(_subparsers(build_parser()))
    assert commands - covered == {"opponents"}  # its one option is a flag


def test_refusals_of_sizes_name_the_size_and_the_limit(paths, capsys):
    # the hangs of issue 17, item 10: each refused at once with the size and the limit
    for argv in (["gradcheck", "--rounds", "1000000000"], ["optimum", "--opponent", "frequency", "--rounds", "1000000000"],
                 ["selfplay", "--iterations", "1000000000000"], ["train", "--quiet", "--batch", "1000000000", "--run-dir", paths["new"]],
                 ["train", "--quiet", "--hidden", "100000000", "--run-dir", paths["new"]], ["evaluate", paths["run"], "--opponent", "frequency", "--matches", "1000000000000"]):  # fmt: skip
        code, out, err, seconds = run(capsys, argv)
        line = assert_refused(code, out, err, seconds, "the limit is")
        assert re.search(r"needs (about [0-9.]+ [KMGTP]?i?B|3\^2000000000 histories)", line), line
        assert seconds < 5.0
    assert not os.path.exists(paths["new"])


# -- outputs that cannot be written: refused before the work ----------------------------------------


def _output_commands(target: str) -> list[list[str]]:
    """Commands with default settings (minutes of work each) and an output at ``target``."""
    return [
        ["gradcheck", "--plot", os.path.join(target, "error.png")],
        ["selfplay", "--plot", target],
        ["tournament", "--agents", "uniform", "--opponents", "frequency", "--plot", os.path.join(target, "heat.png")],
        ["compare", "--save", target],
        ["compare", "--plot", target],
        ["plot", "run", "--out", target],
    ]


def _check_unwritable(capsys, target: str, needle: str) -> None:
    before = sorted(os.listdir(target)) if os.path.isdir(target) else None
    for argv in _output_commands(target):
        assert_refused(*run(capsys, argv), needle)
    assert (sorted(os.listdir(target)) if os.path.isdir(target) else None) == before  # not even a temp file left


def test_outputs_on_a_read_only_file_system_are_refused_before_the_work(tmp_path, capsys):
    target = tmp_path / "ro"
    target.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)], capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a read-only file system here (needs root with CAP_SYS_ADMIN)")
    try:
        _check_unwritable(capsys, str(target), "is on a read-only file system")
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_outputs_in_an_immutable_folder_are_refused_before_the_work(tmp_path, capsys):
    target = tmp_path / "immutable"
    target.mkdir()
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and a file system with attributes)")
    try:
        _check_unwritable(capsys, str(target), "cannot be written")
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)


def test_outputs_in_a_folder_that_takes_no_files_are_refused_before_the_work(capsys):
    # /proc takes no new files, for root too; a folder still to be made under it cannot be made
    _check_unwritable(capsys, "/proc/policygrad-test", "cannot be written: /proc takes no new files")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod 0500 folder: nothing to refuse")
def test_outputs_in_a_read_only_folder_are_refused_before_the_work(tmp_path, capsys):
    target = tmp_path / "readonly"
    target.mkdir()
    target.chmod(0o500)
    try:
        _check_unwritable(capsys, str(target), "is not writable")
    finally:
        target.chmod(0o700)


def test_output_checks_make_nothing_and_accept_what_can_be_written(tmp_path):
    assert check_writable_file(str(tmp_path / "a" / "b" / "plot.png")) == str(tmp_path / "a" / "b" / "plot.png")
    assert check_writable_dir(str(tmp_path / "x" / "y")) == str(tmp_path / "x" / "y")
    (tmp_path / "old.png").write_text("kept")
    assert check_writable_file(str(tmp_path / "old.png"))  # an existing file is replaced atomically later
    assert sorted(os.listdir(tmp_path)) == ["old.png"]  # no folder made, no probe left
    with pytest.raises(NotADirectoryError, match="old.png is a file; a folder is needed"):
        check_writable_dir(str(tmp_path / "old.png"))
    with pytest.raises(IsADirectoryError, match="is a folder; a file path is needed"):
        check_writable_file(str(tmp_path) + "/")
    with pytest.raises(ValueError, match="must be a non-empty path, got ''"):
        check_writable_file("")


# -- the error boundary ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error,line",
    [
        (PermissionError(13, "Permission denied", "/data/out.png"), "error: /data/out.png: Permission denied"),
        (OSError(30, "Read-only file system", "/mnt/ro/out.png"), "error: /mnt/ro/out.png: Read-only file system"),
        (IsADirectoryError(21, "Is a directory", "/tmp"), "error: /tmp: Is a directory"),
        (NotADirectoryError(20, "Not a directory", "/etc/passwd/x"), "error: /etc/passwd/x: Not a directory"),
        (FileExistsError(17, "File exists", "/tmp/x"), "error: /tmp/x: File exists"),
        (MemoryError(), "error: out of memory; use smaller sizes (matches, rounds, batch, hidden layers)"),
        (ValueError("first line\nsecond line"), "error: first line second line"),
    ],
)
def test_main_turns_system_errors_into_one_line_on_stderr(monkeypatch, capsys, error, line):
    def fail(args):
        raise error

    monkeypatch.setattr(cli.opponents, "cmd_opponents", fail)  # register binds its module's handler when main builds the parser
    code, out, err, _ = run(capsys, ["opponents", "--json"])
    assert (code, out, err) == (2, "", line + "\n")


def test_a_real_system_error_is_one_line(tmp_path, capsys):
    # a TOML "file" that is a folder: open() raises IsADirectoryError deep inside; no traceback comes out
    code, out, err, _ = run(capsys, ["train", "--quiet", "--config", str(tmp_path), "--run-dir", str(tmp_path / "r")])
    assert (code, out, err) == (2, "", f"error: {tmp_path}: Is a directory\n")
    assert not (tmp_path / "r").exists()


def test_json_output_stays_pure_when_a_command_fails(paths, capsys):
    for argv in (["gradcheck", "--json", "--rounds", "1000000000"], ["optimum", "--json", "--opponent", "nobody", "--rounds", "3"],
                 ["evaluate", "--json", paths["new"], "--opponent", "frequency"], ["selfplay", "--json", "--plot", paths["file"]],
                 ["tournament", "--json", "--agents", "uniform", "--opponents", "frequency", "--plot", paths["dir"]]):  # fmt: skip
        code, out, err, _ = run(capsys, argv)
        assert code == 2 and out == "" and err.startswith("error: ")
    code, out, err, _ = run(capsys, ["optimum", "--json", "--opponent", "constant", "--rounds", "3"])
    assert code == 0 and json.loads(out)["value_per_round"] == 1.0 and err == ""


# -- sizes: the estimator --------------------------------------------------------------------------------


def test_size_limits_compare_logarithms_and_name_size_and_limit():
    t0 = time.perf_counter()
    assert power(9, 10**9) == float("inf") and power(9, 6) == 531441.0 and power(10, 8) == 1e8
    assert time.perf_counter() - t0 < 0.1  # 9^(10^9) as an integer has 950 million digits
    assert available_memory() > 2**20
    with pytest.raises(TooLargeError, match=r"^a table needs about 3\.0 GiB; the limit is 1\.0 GiB \(test limit\)\. Smaller\.$") as e:
        check_size("a table", 3 * 2**30, 2**30, "test limit", hint="Smaller")
    assert isinstance(e.value, ValueError) and (e.value.needed, e.value.limit) == (3 * 2**30, 2**30)
    check_size("a table", 2**30, 2**30, "test limit")  # at the limit: fine
    assert MAX_SEED == 2**32 - 1


# -- the tournament: an agent with no completed match is not ranked -------------------------------------

_CRASHES_ON_SCISSORS = """
def agent(observation, configuration):
    if observation.step > 0 and observation.lastOpponentAction == 2:
        raise RuntimeError("scissors again")
    return 1  # paper
"""


def test_an_agent_whose_every_match_is_forfeited_is_not_ranked(tmp_path, capsys):
    # the opponent crashes in round 2 against scissors: constant:move=2 wins every match by forfeit
    # (1/0/0 per seed) without one completed match; constant:move=0 (rock) loses every round to paper
    bot = tmp_path / "bot.py"
    bot.write_text(_CRASHES_ON_SCISSORS)
    opponent = f"kaggle:path={bot}"
    code, out, err, _ = run(
        capsys, ["tournament", "--agents", "constant:move=2", "--opponents", opponent, "--rounds", "5", "--seeds", "2", "--jobs", "1", "--json"]
    )
    assert code == 0, err
    (entry,) = json.loads(out)["leaderboard"]
    assert (entry["rank"], entry["mean"], entry["wins"], entry["losses"], entry["forfeits"]) == (None, None, 2, 0, 2)
    argv = ["tournament", "--agents", "constant:move=2,constant:move=0", "--opponents", opponent, "--rounds", "5", "--seeds", "2", "--jobs", "1"]
    code, out, err, _ = run(capsys, [*argv, "--json"])
    board = json.loads(out)["leaderboard"]
    assert [(e["agent"], e["rank"]) for e in board] == [("constant:move=0", 1), ("constant:move=2", None)]
    assert board[0]["mean"] == -1.0 and board[0]["losses"] == 2
    code, out, err, _ = run(capsys, argv)
    rows = [line for line in out.splitlines() if "constant:move=" in line and "forfeit" in line]
    assert rows and rows[0].split("│")[1].strip() == "-"  # shown unranked, not "1" or "2"


# -- newcomer polish ---------------------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_top_level_help_describes_the_tool(capsys):
    code, out, _, _ = run(capsys, ["--help"])
    assert code == 0
    assert "Only this module parses" not in out
    assert "Policy gradient for repeated zero-sum matrix games" in out and "policygrad demo" in out


@pytest.mark.parametrize("command", sorted(_subparsers(build_parser())))
def test_every_option_in_help_shows_its_default(capsys, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _, _ = run(capsys, [command, "--help"])
    assert code == 0
    parser = _subparsers(build_parser())[command]
    actions = {s: a for a in parser._actions for s in a.option_strings}
    # an option's block: its line in "options:" and the indented lines that continue it
    blocks, current = [], None
    for line in out.split("options:", 1)[1].splitlines():
        if re.match(r"^  -", line):
            current = [line]
            blocks.append(current)
        elif current is not None and line.startswith("    "):
            current.append(line)
    assert len(blocks) == len({id(a) for a in actions.values()})
    missing = []
    for block in blocks:
        text = " ".join(part.strip() for part in block)
        action = actions[text.split()[0].rstrip(",")]
        flag = action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction)  # --json, --quiet, --help: off unless given
        if not (flag or action.required or "default" in text):
            missing.append(text)
    assert not missing, missing
    assert "(default: None)" not in out


def test_missing_extra_hint_fits_a_checkout_too():
    hint = install_hint("roshambo")
    assert hint == "pip install 'policygrad[roshambo]' (in a checkout: .venv/bin/pip install -e '.[roshambo]')"


def test_opponents_lists_the_outside_bots(capsys):
    code, out, _, _ = run(capsys, ["opponents", "--json"])
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["roshambo"]["outside"] and rows["roshambo"]["usage"].startswith("roshambo:bot=NAME") and rows["roshambo"]["extra"] == "roshambo"
    assert "kaggle:path=FILE.py" in rows["kaggle"]["usage"] and "kaggle:agent=NAME" in rows["kaggle"]["usage"]
    assert [p["name"] for p in rows["kaggle"]["parameters"]] == ["path", "agent", "function", "rounds"]
    assert not rows["frequency"]["outside"]
    code, out, _, _ = run(capsys, ["opponents"])
    flat = " ".join(out.split())
    assert "roshambo:bot=NAME" in flat and "kaggle:path=FILE.py" in flat and ".venv/bin/pip install -e '.[kaggle]'" in flat
