"""Atomic file writes (a temp file in the target's folder, then a rename), and safe file names.

A crash or a full disk leaves the old file whole (or no file), never half of a new one. The new
file gets the permissions a plain ``open(path, "w")`` would give (0666 less the umask), not the
0600 of a temp file.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Callable

__all__ = ["atomic_write", "atomic_write_text", "name_part"]


def name_part(spec: str) -> str:
    """A spec as a piece of a file name: each run of characters other than letters, digits, '.',
    '=' and '-' becomes '_' (``mix:of=[frequency|markov:order=2]`` -> ``mix_of=_frequency_markov_order=2_``),
    so that run folders hold no ':', '|', brackets or spaces for a shell to read."""
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", spec)


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; put it back at once
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask is process-wide, so not per call from threads


def atomic_write(path: str, write: Callable[[str], object], suffix: str = "") -> str:
    """Call ``write(tmp_path)`` to write the file's contents, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_write_text(path: str, text: str) -> str:
    """Write ``text`` to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            fh.write(text)

    return atomic_write(path, write)
