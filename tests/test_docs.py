"""Every command and Python example in README.md and docs/*.md runs in a test, so the docs cannot drift.

Running every documented command would take hours (some train for minutes, one plays 43 bots), so
the rule has tiers:

1. **Python examples run.** Every fenced block with ``>>>`` lines (```python, ```pycon, any tag)
   runs as a doctest: the blocks of one page in order, in one namespace, in a scratch folder.
2. **Every command line parses.** Every ``policygrad ...`` command in the docs (in a fenced block, a
   line that starts with ``policygrad ``, ``$ policygrad `` or ``.venv/bin/policygrad ``; in prose,
   an inline code span that starts with ``policygrad ``) goes through
   ``policygrad.cli.build_parser().parse_args``: its sub-command and every flag must exist and every
   value must parse. Upper-case words stand for a value (``DIR``, ``SPEC``, ``EPS``: see
   ``PLACEHOLDERS``), ``[...]`` marks an optional part; a span that only names a sub-command
   (```policygrad gradcheck``` in a sentence) must name one that exists.
3. **The quick commands run.** A fenced block right after a ``<!-- runs-in-test -->`` line holds
   commands that finish in seconds (the README's tour). Each ``$ policygrad ...`` line runs
   in-process through ``policygrad.cli.main``, in one scratch folder per block (nothing tracked is
   written), and must exit 0 (2 where the documented output is an ``error:`` line) and print the
   documented output, numbers aside: each number reads as ``#`` and runs of white space as one
   space, so a different torch build or rich's line wrapping does not fail it, but a changed
   message, flag or file name does.

The README also stays a front door: under 15 KB, the two set-up commands, links that resolve, and
the same results table as the docs' home page.
"""

from __future__ import annotations

import argparse
import doctest
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from policygrad import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = "<!-- runs-in-test -->"
# upper-case placeholders that stand for a number (the others stand for a string and parse as one)
PLACEHOLDERS = {"T": "100", "N": "100", "S": "0", "EPS": "10", "SECONDS": "1"}


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the first line inside the fence
    lines: list[str]
    runs_in_test: bool


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def fenced_blocks(page: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = page.read_text().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].startswith("```"):
            previous = next((s.strip() for s in reversed(lines[:i]) if s.strip()), "")
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            assert j < len(lines), f"{name(page)}:{i + 1}: a fenced block that is never closed"
            blocks.append(Block(page, i + 2, lines[i + 1 : j], previous == MARKER))
            i = j
        i += 1
    return blocks


def prose(page: Path) -> str:
    """The page without its fenced blocks."""
    return re.sub(r"^```.*?^```[^\n]*$", "", page.read_text(), flags=re.S | re.M)


def block_commands(block: Block) -> list[str]:
    """The policygrad command lines of a fenced block ('$ ' and '.venv/bin/' dropped, '\\' joined)."""
    commands = []
    text = "\n".join(block.lines).replace("\\\n", " ")
    for line in text.split("\n"):
        line = line.strip().removeprefix("$ ").removeprefix(".venv/bin/")
        if line.startswith("policygrad "):
            commands.append(line)
    return commands


def inline_commands(page: Path) -> list[str]:
    return [" ".join(span.split()) for span in re.findall(r"`(policygrad [^`]+)`", prose(page))]


def all_commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for block in fenced_blocks(page):
            found += [(name(page), command) for command in block_commands(block)]
        found += [(name(page), command) for command in inline_commands(page)]
    return found


# -- tier 1: Python examples --------------------------------------------------------------------


def doctest_pages() -> list[Path]:
    return [page for page in PAGES if any(">>>" in "\n".join(b.lines) for b in fenced_blocks(page))]


def test_the_pages_with_python_examples_are_found():
    # a page that loses its examples (a moved section, a broken fence) would otherwise pass silently
    found = {name(page) for page in doctest_pages()}
    assert {"README.md", "docs/environments.md", "docs/optimum.md"} <= found, found


@pytest.mark.parametrize("page", doctest_pages(), ids=name)
def test_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs: dict = {"__name__": "__docs__"}
    report: list[str] = []
    examples = 0
    for block in fenced_blocks(page):
        text = "\n".join(block.lines)
        if ">>>" not in text:
            continue
        test = doctest.DocTest(parser.get_examples(text), globs, name(page), str(page), block.line - 1, text)
        examples += len(test.examples)
        runner.run(test, out=report.append, clear_globs=False)
    assert examples > 0
    assert runner.summarize(verbose=False).failed == 0, "".join(report)


# -- tier 2: every command line parses ----------------------------------------------------------


class ParseError(Exception):
    pass


def argv_of(command: str) -> list[str]:
    argv = []
    for token in shlex.split(command, comments=True)[1:]:
        if token.startswith("[") and "]" not in token[1:-1]:
            token = token[1:]  # '[--json]', '[AGENT]', '[--safety'
        if token.endswith("]") and "[" not in token:
            token = token[:-1]  # 'EPS]'
        token = token.removesuffix("...")  # 'DIR...'
        argv.append(PLACEHOLDERS.get(token, token))
    return argv


def parse(argv: list[str], monkeypatch) -> None:
    def error(self, message):
        raise ParseError(f"{self.prog}: {message}")

    monkeypatch.setattr(argparse.ArgumentParser, "error", error)
    try:
        cli.build_parser().parse_args(argv)
    except SystemExit as stop:  # --help
        assert stop.code == 0


def test_the_documented_commands_are_found():
    commands = [c for _, c in all_commands()]
    assert len(commands) > 60
    assert {c.split()[1] for c in commands} >= {"train", "evaluate", "optimum", "tournament", "compare", "plot", "export"}


@pytest.mark.parametrize("page, command", all_commands(), ids=lambda v: v if len(v) < 60 else v[:57] + "...")
def test_every_documented_command_parses(page, command, monkeypatch):
    argv = argv_of(command)
    try:
        parse(argv, monkeypatch)
    except ParseError as e:
        # a mention in a sentence ('`policygrad exploitability` solves ...', '`policygrad export
        # kaggle`') names a command without its required arguments: the words given must parse
        mention = not any(token.startswith("-") for token in argv)
        if not (mention and "the following arguments are required" in str(e)):
            pytest.fail(f"{page}: `{command}` does not parse: {e}")


def test_a_drifted_flag_fails_to_parse(monkeypatch):
    # the check above can fail: a flag the CLI does not have is refused
    with pytest.raises(ParseError, match="--no-such-flag"):
        parse(argv_of("policygrad train --opponent frequency --no-such-flag 3"), monkeypatch)


def test_a_misnamed_sub_command_fails_even_as_a_mention(monkeypatch):
    with pytest.raises(ParseError, match="invalid choice: 'optimun'"):
        parse(argv_of("policygrad optimun"), monkeypatch)


# -- tier 3: the quick commands run ---------------------------------------------------------------

NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")


def skeleton(text: str) -> str:
    """The text with every number read as '#' and every run of white space as one space."""
    return " ".join(NUMBER.sub("#", text).split())


def runs(block: Block) -> list[tuple[str, str]]:
    """(command, documented output) for each '$ policygrad' line of a block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            assert line.startswith("$ policygrad "), f"{name(block.page)}:{block.line}: only policygrad commands run in tests"
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in steps]


def marked_blocks() -> list[Block]:
    return [b for page in PAGES for b in fenced_blocks(page) if b.runs_in_test]


def test_the_readme_tour_has_blocks_that_run():
    readme = [b for b in marked_blocks() if b.page.name == "README.md"]
    commands = [c for b in readme for c, _ in runs(b)]
    assert len(readme) >= 2 and len(commands) >= 4, commands
    assert {c.split()[1] for c in commands} >= {"train", "evaluate", "plot"}


def test_skeleton_keeps_words_and_drops_numbers():
    documented = "vs mixed:probs=0.5,0.3,0.2: +0.2931 ± 0.0104 reward per round (95%, 1000 matches x 20 rounds)"
    printed = "vs mixed:probs=0.5,0.3,0.2: +0.3012 ± 0.0099 reward per round (95%, 1000\nmatches x 20 rounds)"
    assert skeleton(documented) == skeleton(printed)
    assert skeleton(documented) != skeleton(printed.replace("per round", "a round"))


@pytest.mark.parametrize("block", marked_blocks(), ids=lambda b: f"{name(b.page)}:{b.line}")
def test_quick_commands_run_as_documented(block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # commands that write (run folders, plots) write into the scratch folder
    for command, documented in runs(block):
        try:
            code = cli.main(shlex.split(command)[1:])
        except SystemExit as stop:
            code = stop.code
        captured = capsys.readouterr()
        printed = captured.out + captured.err
        expected = 2 if documented.startswith("error:") else 0
        assert code == expected, f"`{command}` exited {code}, the docs show {expected}:\n{printed}"
        assert skeleton(printed) == skeleton(documented), f"`{command}` printed:\n{printed}\nthe docs show:\n{documented}"


# -- the README as a front door ------------------------------------------------------------------

README = ROOT / "README.md"


def test_readme_is_a_front_door():
    assert len(README.read_bytes()) < 15 * 1024
    setup = next(b for b in fenced_blocks(README) if any(line.startswith("make demo") for line in b.lines))
    assert [line.split()[:2] for line in setup.lines] == [["make", "demo"], ["make", "test"]]


def slug(heading: str) -> str:
    """GitHub's and MkDocs' anchor of a heading (lower case, punctuation dropped, spaces to '-')."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.*)$", prose(page), flags=re.M)}


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)\s]+)\)", prose(README))
    assert len(links) > 20
    for link in links:
        if link.startswith("http"):
            continue
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else README
        assert target.exists(), f"README links to {link}: no such file"
        if anchor:
            assert anchor in anchors(target), f"README links to {link}: no such heading in {path or 'README.md'}"


def results_rows(page: Path) -> list[str]:
    text = page.read_text()
    table = text[text.index("| what | result | target |") :].split("\n\n")[0].strip()
    return [re.sub(r"\]\([^)]*\)", "]", row) for row in table.split("\n")]  # link targets differ


def test_readme_and_docs_home_show_the_same_results():
    assert results_rows(README) == results_rows(ROOT / "docs" / "index.md")


def test_the_readme_default_run_is_the_one_on_the_training_page():
    def default_run(page):
        return next(b.lines for b in fenced_blocks(page) if b.lines and b.lines[0].startswith("$ policygrad train --opponent frequency --rounds 100"))

    assert default_run(README) == default_run(ROOT / "docs" / "training.md")
