"""A run folder and the loop that fills it: one harness for every trainer of the library.

A run folder holds ``config.toml``, ``metrics.csv`` (a row per iteration), ``checkpoint.pt`` (atomic,
the last good one), ``report.json`` and, where the config asks, TensorBoard events. A stopped run
resumes to exactly the parameters an uninterrupted run would reach: every generator's state is in the
checkpoint. :func:`policygrad.train.train` (policy gradient, :class:`~policygrad.train.Trainer`) and
:func:`policygrad.expert_train.train_expert` (the expert mixture,
:class:`~policygrad.expert_train.ExpertTrainer`) both run through :func:`run_training`, so both
resume, stop on a signal, refuse a second writer and serve as a sweep's trials alike.

A trainer gives ``config`` (``iterations``, ``checkpoint_every``), ``game``, ``iteration``,
``saved_iteration``, ``on_save``, ``fieldnames`` (the columns of metrics.csv), ``step()`` (one
iteration; returns its row), ``save()`` (writes ``checkpoint.pt``, calls ``on_save``) and
``load_state(data)``.

A run folder belongs to one run. While a run writes it, it holds the folder's lock
(:class:`policygrad.files.RunLock`, the ``.policygrad-run`` marker); a second writer is refused. A
new run goes only into a missing or empty folder; a folder that is not empty is refused unless the
caller resumes it or writes over it (``overwrite``: policygrad's own files, :data:`RUN_FILES`, are
removed, every other file is kept). The first checkpoint is written at iteration 0, before any
metric row, and temp files a killed writer left are removed at the next start.

SIGINT, SIGTERM and SIGHUP stop a run between iterations: the iteration under way finishes, and the
checkpoint holds the state at its end, so the resumed run is the uninterrupted one, bit for bit. A
second signal stops at once and keeps the last checkpoint saved before it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .checkpoint import load_checkpoint, save_checkpoint
from .config import dump_toml
from .files import RunLock, RUN_MARKER, TEMP_PREFIX, atomic_write_text, remove_temp_files, run_maker

__all__ = ["RUN_FILES", "EVENTS_PREFIX", "RunTrainer", "RunCheckpoints", "TrainResult", "StopOnSignals", "run_training"]

# The files policygrad writes in a run folder (TensorBoard's event files too: EVENTS_PREFIX); writing
# over a folder removes these names only.
RUN_FILES = ("config.toml", "metrics.csv", "checkpoint.pt", "report.json", "learning_curve.png", "action_probs.png", "simplex.png")
EVENTS_PREFIX = "events.out.tfevents."


class RunTrainer(Protocol):
    """What :func:`run_training` drives (the module docstring)."""

    config: Any
    game: Any
    iteration: int
    saved_iteration: int | None
    on_save: Callable[[str, int], None] | None
    fieldnames: list[str]

    def step(self) -> dict: ...

    def save(self) -> str | None: ...

    def load_state(self, data: dict) -> None: ...


class RunCheckpoints:
    """A trainer's :meth:`save`: its ``state()`` to ``run_dir/checkpoint.pt`` (atomic), then ``on_save(path, iteration)``."""

    run_dir: str | None
    iteration: int
    saved_iteration: int | None
    on_save: Callable[[str, int], None] | None

    def state(self) -> dict:
        raise NotImplementedError

    def save(self) -> str | None:
        if self.run_dir is None:
            return None
        path = save_checkpoint(os.path.join(self.run_dir, "checkpoint.pt"), self.state())
        self.saved_iteration = self.iteration
        if self.on_save is not None:
            self.on_save(path, self.iteration)
        return path


@dataclass(frozen=True)
class TrainResult:
    run_dir: str | None
    iterations: int
    reward_per_round: float  # of the last iteration's batch
    seconds: float
    interrupted: bool
    report: dict


class StopOnSignals:
    """For the duration of a ``with``: SIGINT, SIGTERM and SIGHUP ask the run to stop.

    The first signal only sets ``received`` (the loop stops between iterations); a second one raises
    KeyboardInterrupt at once. Installed only in the main thread (Python runs handlers there), and
    not over a signal that is ignored (``nohup`` ignores SIGHUP: the run keeps going); the previous
    handlers come back on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal's number
        self._previous: dict = {}

    def __enter__(self) -> "StopOnSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}


def _ours(name: str) -> bool:
    """A file name policygrad writes in a run folder."""
    return name in RUN_FILES or name.startswith(EVENTS_PREFIX)


def _claim(run_dir: str, ours: bool, resume: bool, overwrite: bool) -> str:
    """What to do with ``run_dir``: ``"new"`` (a missing or empty folder, or one written over),
    ``"resume"`` (from its checkpoint) or ``"restart"`` (a run of ours stopped before its first
    checkpoint: from iteration 0); raises when the folder may not be written.

    ``ours``: the folder held policygrad's run marker before this call.
    """
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise NotADirectoryError(f"{run_dir} is a file, not a folder; a run needs a folder")
    names = sorted(n for n in os.listdir(run_dir) if n != RUN_MARKER and not n.startswith(TEMP_PREFIX)) if os.path.isdir(run_dir) else []
    if resume:
        if "checkpoint.pt" in names:
            return "resume"
        if ours:
            return "restart"
        raise FileNotFoundError(
            f"nothing to resume in {run_dir}: it holds no checkpoint.pt and is not a run folder policygrad made; start a new run there with --overwrite, or in another --run-dir"
        )
    if not names or overwrite:
        return "new"
    if "checkpoint.pt" in names:
        raise FileExistsError(
            f"{run_dir} already holds a run; use --resume {run_dir} to continue it, --overwrite to start it again, or choose another --run-dir"
        )
    if ours:
        raise FileExistsError(
            f"{run_dir} holds a run stopped before its first checkpoint; use --resume {run_dir} to restart it from iteration 0, --overwrite, or choose another --run-dir"
        )
    shown = ", ".join(repr(n) for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise FileExistsError(
        f"{run_dir} is not empty ({shown}) and is not a policygrad run folder; choose another --run-dir, or use --overwrite "
        f"to write the run there (it replaces only policygrad's files: {', '.join(RUN_FILES)}, TensorBoard events; other files are kept)"
    )


def run_training(
    make_trainer: Callable[[], RunTrainer],
    config,
    run_dir: str | None = None,
    resume: bool = False,
    progress=None,
    stop_after: int | None = None,
    overwrite: bool = False,
    made_by: str = "train",
    on_save: Callable[[str, int], None] | None = None,
) -> TrainResult:
    """Train ``make_trainer()`` (built once the folder is known to be writable) for ``config.iterations``
    in ``run_dir``; the arguments are those of :func:`policygrad.train.train`."""
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: resume continues the run in the folder, overwrite starts a new one there")
    if run_dir is not None and not run_dir:
        raise ValueError("run_dir is an empty path; give a folder (or None to write nothing)")
    if resume and run_dir is None:
        raise ValueError("resume needs run_dir, the folder of the run to continue")
    with StopOnSignals() as stop:
        ours = run_dir is not None and run_maker(run_dir) is not None
        if run_dir is not None and not ours:
            _claim(run_dir, False, resume, overwrite)  # refuse a folder that is not ours before writing anything in it
        trainer = make_trainer()  # checks the config against the game: before the folder is made
        trainer.on_save = on_save
        if run_dir is None:
            return _run(trainer, None, None, stop, progress, stop_after)
        with RunLock(run_dir) as lock:
            action = _claim(run_dir, not lock.created, resume, overwrite)
            remove_temp_files(run_dir)  # a killed writer's; no one else writes here while we hold the lock
            if action == "resume":
                trainer.load_state(load_checkpoint(run_dir, game=trainer.game))
            else:  # new, or restart: nothing of an earlier attempt is kept but its maker
                for name in os.listdir(run_dir):
                    if _ours(name):
                        os.remove(os.path.join(run_dir, name))
                if action == "new":
                    lock.mark(made_by)
                atomic_write_text(os.path.join(run_dir, "config.toml"), dump_toml(config.to_dict()))
            return _run(trainer, run_dir, action, stop, progress, stop_after)


def _run(trainer: RunTrainer, run_dir: str | None, action: str | None, stop: StopOnSignals, progress, stop_after: int | None) -> TrainResult:
    """The loop of :func:`run_training`, in a prepared (and locked) run folder or none."""
    config = trainer.config
    metrics_path = os.path.join(run_dir, "metrics.csv") if run_dir else None
    if metrics_path and action == "resume":
        _truncate_metrics(metrics_path, trainer.iteration)
    t_start = time.perf_counter()
    interrupted, row, done_here = False, None, 0
    fh = open(metrics_path, "a", newline="") if metrics_path else None
    writer = None
    try:
        out = csv.DictWriter(fh, fieldnames=trainer.fieldnames, restval="") if fh else None
        if out and fh is not None and fh.tell() == 0:
            out.writeheader()
            fh.flush()
        if run_dir and trainer.saved_iteration is None:
            trainer.save()  # the first checkpoint, at iteration 0: a folder of ours always resumes
        writer = _tensorboard(run_dir) if (run_dir and getattr(config, "tensorboard", False)) else None
        while trainer.iteration < config.iterations:
            if stop.received is not None or (stop_after is not None and done_here >= stop_after):
                interrupted = True
                break
            row = trainer.step()
            done_here += 1
            if out and fh is not None:
                out.writerow(row)
                fh.flush()
            if writer:
                for key in ("reward_per_round", "entropy", "grad_norm", "loss_v", "lr"):
                    writer.add_scalar(key, row[key], row["agent_steps"])
            if progress:
                progress(row)
            if trainer.iteration % config.checkpoint_every == 0:
                trainer.save()
    finally:
        if fh:
            fh.close()
        if writer:
            writer.close()
    if run_dir and trainer.saved_iteration != trainer.iteration:
        trainer.save()  # the last completed iteration (never a half-done one)
    report = {
        "config": config.to_dict(),
        "iterations": trainer.iteration,
        "interrupted": interrupted,
        **{key: None if row is None else row.get(key) for key in ("reward_per_round", "reward_se", "entropy")},
        "optimum": getattr(trainer, "optimum", None),
        "seconds": time.perf_counter() - t_start,
    }
    if run_dir and not interrupted:
        atomic_write_text(os.path.join(run_dir, "report.json"), json.dumps(report, indent=2) + "\n")
    final = float("nan") if report["reward_per_round"] is None else report["reward_per_round"]  # a reward of exactly 0.0 stays 0.0
    return TrainResult(run_dir, trainer.iteration, final, report["seconds"], interrupted, report)


def _truncate_metrics(path: str, iteration: int) -> None:
    """Keep the header and the whole rows of iterations 1..``iteration``: the resumed run replays the
    rest exactly. A row cut short by a kill mid-write has too few fields and goes too."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or rows[0][:1] != ["iteration"]:
        atomic_write_text(path, "")  # no whole header: the loop writes one
        return
    header = rows[0]
    kept = [r for r in rows[1:] if len(r) == len(header) and r[0].isdigit() and 1 <= int(r[0]) <= iteration]
    text = io.StringIO()
    csv.writer(text).writerows([header] + kept)  # csv's \r\n, as DictWriter writes the rows
    atomic_write_text(path, text.getvalue())


def _tensorboard(run_dir: str):
    from torch.utils.tensorboard import SummaryWriter  # a dependency, imported when a run asks for it (slow to import)

    return SummaryWriter(log_dir=run_dir)
