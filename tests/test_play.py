"""`policygrad play`: a person against an agent, driven through a pseudo-terminal like a real one."""

from __future__ import annotations

import io
import os
import re
import select
import sys
import time
from pathlib import Path

import pytest

from policygrad import cli
from policygrad.cli import parse_move
from policygrad.games import make_game

pty = pytest.importorskip("pty", reason="pseudo-terminals need a POSIX system")


def command(*args: str) -> list[str]:
    exe = Path(sys.executable).parent / "policygrad"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "policygrad.cli", *args]


class Terminal:
    """A child process on a pseudo-terminal: ``expect`` text, ``send`` keystrokes."""

    def __init__(self, argv: list[str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
            os.environ.update(TERM="dumb", COLUMNS="120")
            os.execv(argv[0], argv)
        self.pid, self.fd, self.buf, self.seen = pid, fd, b"", ""

    def expect(self, text: str, timeout: float = 120) -> str:
        """Everything up to and including ``text`` (waiting for it)."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.buf:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"timed out waiting for {text!r}; the terminal shows {(self.seen + self.buf.decode(errors='replace'))[-2000:]!r}")
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"the program ended before {text!r}; the terminal shows {(self.seen + self.buf.decode(errors='replace'))[-2000:]!r}")
            self.buf += chunk
        end = self.buf.index(text.encode()) + len(text)
        out, self.buf = self.buf[:end].decode(), self.buf[end:]
        self.seen += out
        return out

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def exit_code(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_parse_move_accepts_names_prefixes_and_numbers():
    rps, rpsls = make_game("rps"), make_game("rpsls")
    assert [parse_move(w, rps) for w in ("rock", "Paper", " SCISSORS \n", "r", "p", "s", "0", "1", "2", "sc")] == [0, 1, 2, 0, 1, 2, 0, 1, 2, 2]
    assert [parse_move(w, rpsls) for w in ("sc", "sp", "l", "lizard", "4")] == [2, 4, 3, 3, 4]
    for word, message in [("", "empty line"), ("   \n", "empty line"), ("banana", "unknown move 'banana'"), ("3", r"move 3 is outside 0\.\.2"),
                          ("-1", "unknown move '-1'")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_move(word, rps)
    with pytest.raises(ValueError, match="'s' could be scissors or spock"):
        parse_move("s", rpsls)


def test_play_in_process_counts_the_score(monkeypatch, capsys):
    # constant:move=0 always plays rock: paper wins, scissors loses, rock ties
    monkeypatch.setattr(sys, "stdin", io.StringIO("paper\nbanana\n\ns\n0\n"))
    assert cli.main(["play", "constant:move=0"]) == 0
    out = capsys.readouterr().out
    assert out.count("agent played rock") == 3
    assert "agent played rock: you win. score +1 (you 1, agent 0, ties 0)" in out
    assert "unknown move 'banana'; type rock, paper, scissors" in out and "empty line; type" in out
    assert "agent played rock: you lose. score +0 (you 1, agent 1, ties 0)" in out
    assert "agent played rock: tie. score +0 (you 1, agent 1, ties 1)" in out
    assert "agent's probabilities: rock 1.00, paper 0.00, scissors 0.00" in out
    assert out.rstrip().endswith("game over after 3 rounds: you won 1, tied 1, lost 1; your score +0")
    monkeypatch.setattr(sys, "stdin", io.StringIO("p\np\np\np\n"))
    assert cli.main(["play", "constant:move=0", "--rounds", "2"]) == 0
    assert "game over after 2 rounds: you won 2, tied 0, lost 0; your score +2" in capsys.readouterr().out
    assert cli.main(["play", "nobody"]) == 2


VERDICT = {(0, 0): "tie", (0, 1): "you lose", (0, 2): "you win", (1, 0): "you win", (1, 1): "tie", (1, 2): "you lose",
           (2, 0): "you lose", (2, 1): "you win", (2, 2): "tie"}  # fmt: skip
MOVES = ["rock", "paper", "scissors"]


def test_play_through_a_pseudo_terminal_good_and_bad_input():
    term = Terminal(command("play", "uniform", "--seed", "3"))
    term.expect("Ctrl-D ends the game.")
    score, tally = 0, [0, 0, 0]  # wins, ties, losses
    typed = [("rock", 0), ("banana", None), ("", None), ("P", 1), ("2", 2), ("s", 2), ("7", None), ("r", 0)]
    for word, move in typed:
        term.expect("your move: ")
        term.send(word + "\n")
        if move is None:  # asked again, with what is allowed
            shown = term.expect("(or a prefix: r/p/s; or 0-2)\r\n")
            assert ("empty line" if not word else word) in shown
            continue
        shown = term.expect("\r\n", timeout=60) + term.expect("\r\n") + term.expect("\r\n")
        m = re.search(r"agent played (\w+): (you win|you lose|tie)\. score ([+-]\d+) \(you (\d+), agent (\d+), ties (\d+)\)", shown)
        assert m, shown
        agent_move = MOVES.index(m.group(1))
        verdict = VERDICT[(move, agent_move)]
        assert m.group(2) == verdict
        score += {"you win": 1, "tie": 0, "you lose": -1}[verdict]
        tally[{"you win": 0, "tie": 1, "you lose": 2}[verdict]] += 1
        assert int(m.group(3)) == score and [int(m.group(4)), int(m.group(6)), int(m.group(5))] == tally
        assert "agent's probabilities: rock 0.33, paper 0.33, scissors 0.33" in shown
    term.expect("round 6, your move: ")
    term.send("\x04")  # Ctrl-D on an empty line
    end = term.expect(f"your score {score:+d}")
    assert f"game over after 5 rounds: you won {tally[0]}, tied {tally[1]}, lost {tally[2]}" in end
    assert term.exit_code() == 0
