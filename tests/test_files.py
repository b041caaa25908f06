"""Atomic writes: the old file survives a failed write, no temp file is left, plain permissions."""

import os
import stat

import pytest

from policygrad.checkpoint import load_checkpoint, save_checkpoint
from policygrad.files import atomic_write, atomic_write_text


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_text_write_replaces_and_gets_the_umask_permissions(tmp_path):
    path = tmp_path / "sub" / "report.json"
    atomic_write_text(str(path), "one\n")
    atomic_write_text(str(path), "two\n")
    assert path.read_text() == "two\n"
    assert _mode(path) == 0o666 & ~_umask_now()  # as open(path, "w") would give, not mkstemp's 0600
    assert os.listdir(path.parent) == ["report.json"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "metrics.csv"
    atomic_write_text(str(path), "good\n")

    def crash(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(str(path), crash)
    assert path.read_text() == "good\n"
    assert os.listdir(tmp_path) == ["metrics.csv"]


def test_checkpoint_round_trip_is_readable_by_others(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(str(path), {"kind": "policy", "iteration": 3})
    assert load_checkpoint(str(path))["iteration"] == 3
    assert _mode(path) & 0o044 == 0o044 & ~_umask_now()


def _umask_now() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_name_part_keeps_a_spec_readable_and_shell_safe():
    from policygrad.files import name_part

    assert name_part("markov:order=2,decay=0.9") == "markov_order=2_decay=0.9"
    assert name_part("mix:of=[frequency|markov:order=2]") == "mix_of=_frequency_markov_order=2_"
    assert name_part("best-response") == "best-response"
