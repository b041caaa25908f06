"""The library's trainers by name: what ``policygrad train`` and ``policygrad sweep`` dispatch on.

A config file names its trainer with ``trainer = "NAME"``; a file without the key is a
policy-gradient :class:`~policygrad.config.TrainConfig`. Every trainer writes the same run folder
(:mod:`policygrad.run_folder`) and takes the same arguments, so a sweep's trial, a resumed run and
``Agent.load`` treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

from .config import TrainConfig
from .expert_train import EXPERT_KIND, METRICS, ExpertTrainConfig, train_expert
from .train import train

__all__ = ["TrainerKind", "TRAINERS", "trainer_of"]


@dataclass(frozen=True)
class TrainerKind:
    """A trainer: its config class, its run (``run(config, run_dir, resume=, progress=, overwrite=, on_save=)``),
    the numeric columns of its metrics.csv a sweep may rank by, and the config field naming an opponent spec
    (a sweep file may not run outside code)."""

    config: type
    run: Callable
    metrics: tuple
    opponent: str

    @property
    def fields(self) -> dict:
        return {f.name: f for f in fields(self.config)}


TRAINERS = {
    "policy": TrainerKind(TrainConfig, train, ("reward_per_round", "entropy", "grad_norm", "loss_v", "reward_se"), "opponent"),
    EXPERT_KIND: TrainerKind(ExpertTrainConfig, train_expert, tuple(m for m in METRICS if m not in ("iteration", "seconds", "play_seconds")), "population"),
}


def trainer_of(data: dict, source: str) -> str:
    """The trainer a config file's data names (``"policy"`` without the key); one clear error for an unknown one."""
    name = data.get("trainer", "policy") if isinstance(data, dict) else "policy"
    if name not in TRAINERS:
        raise ValueError(f"{source}: unknown trainer {name!r}; allowed: {', '.join(TRAINERS)}")
    return name
