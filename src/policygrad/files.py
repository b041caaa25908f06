"""Atomic file writes (a temp file in the target's folder, then a rename), safe file names, and the
lock that gives a run folder to one process.

A crash or a full disk leaves the old file whole (or no file), never half of a new one. The new
file gets the permissions a plain ``open(path, "w")`` would give (0666 less the umask), not the
0600 of a temp file. A process killed during a write leaves its temp file (``.tmp-*``) behind;
:func:`remove_temp_files` clears them at the next start, under the folder's :class:`RunLock`.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
from typing import Callable

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "check_writable_dir",
    "check_writable_file",
    "name_part",
    "TEMP_PREFIX",
    "RUN_MARKER",
    "RunLock",
    "RunDirInUseError",
    "run_maker",
    "remove_temp_files",
]

TEMP_PREFIX = ".tmp-"  # atomic_write's temp files: ".tmp-XXXXXXXX" plus the target's suffix
RUN_MARKER = ".policygrad-run"  # marks a policygrad run folder, names the command that made it, holds the lock


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


def _nearest_existing(full: str) -> str:
    """The longest prefix of the absolute path ``full`` that exists (a file or a folder)."""
    base = full
    while not os.path.exists(base) and os.path.dirname(base) != base:
        base = os.path.dirname(base)
    return base


def _check_can_write_in(base: str, path: str, what: str) -> None:
    """Raise when the existing folder ``base`` cannot take new files for ``path``."""
    if not os.path.isdir(base):
        raise NotADirectoryError(f"{what} {path} cannot be made: {base} is a file, not a folder")
    read_only = hasattr(os, "statvfs") and bool(os.statvfs(base).f_flag & os.ST_RDONLY)
    if read_only or not os.access(base, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path} cannot be written: {base} is " + ("on a read-only file system" if read_only else "not writable"))
    try:  # access() says yes to root everywhere; a real file says what the folder takes (/proc, /sys, immutable)
        fd, probe = tempfile.mkstemp(dir=base, prefix=TEMP_PREFIX)
    except OSError as e:
        raise PermissionError(f"{what} {path} cannot be written: {base} takes no new files ({e.strerror})") from None
    os.close(fd)
    os.remove(probe)


def check_writable_dir(path: str, what: str = "output folder") -> str:
    """Refuse, before any work, an output folder that cannot be made or written; returns ``path``.

    Refused: an empty path (ValueError); a path that is a file, or lies under a file
    (NotADirectoryError); a folder, or the nearest existing parent of a folder still to be made,
    that this process may not write, or on a read-only file system (PermissionError). Makes nothing.
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{what} must be a non-empty path, got {path!r}")
    full = os.path.abspath(path)
    if os.path.exists(full) and not os.path.isdir(full):
        raise NotADirectoryError(f"{what} {path} is a file; a folder is needed")
    _check_can_write_in(_nearest_existing(full), path, what)
    return path


def check_writable_file(path: str, what: str = "output file") -> str:
    """Refuse, before any work, an output file that cannot be written; returns ``path``.

    Refused: an empty path (ValueError); a path that is a folder or ends with a separator
    (IsADirectoryError); a path whose folder is a file or lies under one (NotADirectoryError), or
    whose folder (or its nearest existing parent) is not writable (PermissionError). An existing
    file is fine: :func:`atomic_write` replaces it. Makes nothing.
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{what} must be a non-empty path, got {path!r}")
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise IsADirectoryError(f"{what} {path} is a folder; a file path is needed (e.g. {os.path.join(path, 'out.png')})")
    full = os.path.abspath(path)
    _check_can_write_in(_nearest_existing(os.path.dirname(full)), path, what)
    return path


def atomic_write(path: str, write: Callable[[str], object], suffix: str = "") -> str:
    """Call ``write(tmp_path)`` to write the file's contents, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:  # a file where a folder is needed: say so, not "[Errno 17] File exists"
        raise NotADirectoryError(f"cannot write {path}: {_nearest_existing(folder)} is a file, not a folder") from None
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=suffix)
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


def remove_temp_files(folder: str) -> list[str]:
    """Remove the temp files (``.tmp-*``) that writers killed mid-write left in ``folder``; returns
    their paths. Only safe while no other process writes there: call it holding :class:`RunLock`."""
    removed = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(TEMP_PREFIX) and os.path.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed


class RunDirInUseError(RuntimeError):
    """Another process holds the lock of the run folder (it is writing a run there)."""


def _read_marker(path: str) -> dict[str, str]:
    """The ``key = value`` lines of a run marker (missing or unreadable: {})."""
    try:
        with open(path) as fh:
            text = fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def run_maker(run_dir: str) -> str | None:
    """The command that made the policygrad run in ``run_dir`` (``"train"``, ``"demo"``; ``""`` when
    the marker does not say), or None when ``run_dir`` holds no run marker (not a run of ours)."""
    path = os.path.join(run_dir, RUN_MARKER)
    if not os.path.isfile(path):
        return None
    return _read_marker(path).get("made_by", "")


class RunLock:
    """An exclusive lock on a run folder while one process writes it.

    ``fcntl.flock`` on ``run_dir/.policygrad-run``, a small file that also marks the folder as a
    policygrad run, names the command that made it and holds the pid of the process writing it. The
    kernel drops the lock when the process ends, however it ends: a killed run never leaves a folder
    locked. A second process gets :class:`RunDirInUseError` ("DIR is in use by pid N") at once.

    Use as a context manager; the folder is made if missing. ``created`` says whether this lock made
    the marker (the folder was not a run of ours before).
    """

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, RUN_MARKER)
        self.created = False
        self.made_by = ""
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        os.makedirs(self.run_dir, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666 & ~_UMASK)
            self.created = True
        except FileExistsError:
            fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirInUseError(f"{self.run_dir} is in use by {self._holder()}; wait for that run to end or choose another folder") from None
        self._fd = fd
        self.made_by = _read_marker(self.path).get("made_by", "")
        self._write()
        return self

    def _holder(self) -> str:
        for _ in range(20):  # the holder writes its pid just after taking the lock
            pid = _read_marker(self.path).get("pid", "")
            if pid.isdigit():
                return f"pid {pid}"
            time.sleep(0.01)
        return "another process"

    def mark(self, made_by: str) -> None:
        """Name the command that made the run (a new run, or one written over)."""
        self.made_by = made_by
        self._write()

    def _write(self) -> None:
        assert self._fd is not None, "the lock is held while the marker is written"
        text = f"policygrad run folder\nmade_by = {self.made_by}\npid = {os.getpid()}\n".encode()
        os.pwrite(self._fd, text, 0)  # one write, then cut: the file is never empty
        os.ftruncate(self._fd, len(text))

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
