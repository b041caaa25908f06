"""Checkpoints: written atomically, loaded with ``torch.load(..., weights_only=True)``, checked.

A checkpoint is a plain dict of tensors and Python primitives:
``format``, ``version``, ``kind`` (``policy``, or a baseline's kind), ``config`` (the resolved
configuration), ``iteration``, ``game`` (name, payoff, actions) and the state dicts it needs.

This module is the one loader of every kind: :func:`load_trained` gives the trained policy of any
checkpoint with what it needs to play (game, context, counts, horizon), and
:class:`policygrad.Agent`, ``export``, ``evaluate`` and ``exploitability`` read checkpoints
through it. The kinds:

* ``policy``: a policy-gradient policy (``policygrad train``; :func:`load_policy`);
* ``q-learning``, ``dqn``, ``deterministic``: the seed's counter-examples (``policygrad compare``;
  written by :func:`save_baseline`): a Q table, a Q network, the argmax of a policy-gradient
  policy or a constant move.
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from . import encoding
from .config import TrainConfig
from .files import atomic_write
from .games import make_game
from .policies import ConstantPolicy, DeterministicView, QNetPolicy, QTablePolicy, argmax_policy, make_policy

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "load_policy",
    "load_trained",
    "Trained",
    "save_baseline",
    "policy_from_checkpoint",
    "game_record",
    "BASELINE_KINDS",
    "FORMAT",
    "VERSION",
]

BASELINE_KINDS = ("q-learning", "dqn", "deterministic")

FORMAT = "policygrad-checkpoint"
VERSION = 1


def save_checkpoint(path: str, payload: dict) -> str:
    """Write ``payload`` to ``path`` through a temp file and a rename: a crash leaves the old file whole."""
    return atomic_write(path, lambda tmp: torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp), suffix=".pt")


def load_checkpoint(path: str, game=None) -> dict:
    """The checkpoint at ``path`` (a file, or a run directory holding ``checkpoint.pt``).

    Raises one clear error when it is missing, corrupt or truncated, not a policygrad checkpoint,
    or (when ``game`` is given) made for another game.
    """
    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.pt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # torch's weights-only unpickler refused it: a damaged pickle, or one naming a class
        named = re.search(r"GLOBAL ([\w.]+)", str(e))  # the class or function it names, when torch says (for the message only)
        raise ValueError(
            f"checkpoint {path} is corrupt or truncated, or holds pickled objects other than tensors and plain Python values"
            + (f" (it names {named.group(1)})" if named else "")
            + "; policygrad does not load such files, since unpickling them can run code"
        ) from None
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise ValueError(f"checkpoint {path} is corrupt or truncated and cannot be read ({type(e).__name__}: {_first_words(str(e))})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a policygrad checkpoint (no '{FORMAT}' format tag)")
    if data.get("version") != VERSION:
        raise ValueError(f"checkpoint {path} has version {data.get('version')}; this policygrad reads version {VERSION}")
    if game is not None:
        saved = data["game"]
        if saved["payoff"].shape != game.payoff.shape or not torch.equal(saved["payoff"], game.payoff):
            raise ValueError(f"checkpoint {path} was trained on game '{saved['name']}', not '{game.name}'")
    return data


def _first_words(text: str, limit: int = 160) -> str:
    """The first line of ``text``, cut at a word boundary (with "...") when longer than ``limit``."""
    line = (text.strip().splitlines() or [""])[0].strip()
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + " ..."


def game_record(game) -> dict:
    """The ``game`` entry of a checkpoint: name, payoff and action names (what ``load_checkpoint(path, game)`` checks)."""
    game = make_game(game)
    return {"name": game.name, "payoff": game.payoff, "actions": list(game.actions)}


def _policy_of(config: TrainConfig, raw: dict, weights: dict, source: str) -> nn.Module:
    """The policy a TrainConfig describes, with ``weights`` loaded (``raw``: the config as stored)."""
    game = make_game(config.game)
    obs_size = encoding.feature_size(game.num_actions, config.context, config.counts)
    gaps = config.uses_gaps and "gaps" in raw  # checkpoints from before the option had none
    policy = make_policy(config.policy, obs_size, game.num_actions, config.context, config.hidden, gaps, config.rounds)
    try:
        policy.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as e:  # torch lists every mismatched tensor, over many lines
        detail = (str(e).strip().splitlines() or [""])[-1].strip()
        raise ValueError(f"checkpoint {source}: its weights do not fit the {config.policy} policy its config describes ({detail})") from None
    return policy.eval()


def load_policy(path: str) -> tuple[nn.Module, TrainConfig, dict]:
    """(policy, config, checkpoint dict) of a policy-gradient checkpoint (kind ``policy``)."""
    return _pg_policy(load_checkpoint(path), path)


def _pg_policy(data: dict, path: str) -> tuple[nn.Module, TrainConfig, dict]:
    if data.get("kind") != "policy":
        raise ValueError(f"{path} holds a '{data.get('kind')}' agent, not a policy-gradient policy")
    missing = [key for key in ("config", "policy") if key not in data]
    if missing:
        raise ValueError(f"checkpoint {path} has no {' and no '.join(missing)}; a policy checkpoint holds its config and its policy's weights")
    config = TrainConfig.from_dict(data["config"], source=path)  # data only: the training opponent is checked, never built
    return _policy_of(config, data["config"], data["policy"], path), config, data


def save_baseline(path: str, kind: str, policy: nn.Module, config: dict) -> str:
    """Write a baseline's trained form as a checkpoint of ``kind`` (q-learning, dqn, deterministic).

    ``config`` holds at least ``game``, ``rounds``, ``context``, ``counts``; a deterministic argmax
    of a policy-gradient policy also holds ``pg_config`` (the TrainConfig dict of its source)."""
    if kind not in BASELINE_KINDS:
        raise ValueError(f"unknown baseline kind {kind!r}; allowed: {', '.join(BASELINE_KINDS)}")
    payload: dict[str, Any] = {"kind": kind, "config": dict(config), "iteration": int(config.get("iterations", 0)), "game": game_record(config["game"])}
    if kind == "q-learning":
        q_table = cast(QTablePolicy, policy)
        payload["q_table"] = q_table.table.detach().clone()
        payload["config"]["epsilon"] = q_table.epsilon
    elif kind == "dqn":
        q_net = cast(QNetPolicy, policy)
        payload["qnet"] = q_net.net.state_dict()
        payload["config"]["epsilon"] = q_net.epsilon
    elif isinstance(policy, ConstantPolicy):
        payload["config"]["source"], payload["config"]["move"] = "constant", policy.move
    elif isinstance(policy, DeterministicView):
        if "pg_config" not in config:
            raise ValueError("a deterministic view of a policy needs config['pg_config'] (the TrainConfig dict of its source)")
        payload["config"]["source"] = "pg-argmax"
        payload["policy"] = policy.policy.state_dict()
    else:
        raise TypeError(f"a deterministic baseline is a ConstantPolicy or a DeterministicView, got {type(policy).__name__}")
    return save_checkpoint(path, payload)


def policy_from_checkpoint(data: dict) -> nn.Module:
    """The trained policy module of a baseline checkpoint dict (kinds q-learning, dqn, deterministic)."""
    kind, cfg = data.get("kind"), data.get("config", {})
    a_num = make_game(cfg.get("game", "rps")).num_actions
    if kind == "q-learning":
        policy = QTablePolicy(a_num, int(cfg["context"]), float(cfg["epsilon"]))
        policy.table.data.copy_(data["q_table"])
        return policy.eval()
    if kind == "dqn":
        f = encoding.feature_size(a_num, int(cfg["context"]), bool(cfg["counts"]))
        qnet = QNetPolicy(f, a_num, tuple(cfg["hidden"]), float(cfg["epsilon"]))
        qnet.net.load_state_dict(data["qnet"])
        return qnet.eval()
    if kind == "deterministic":
        if cfg.get("source") == "constant":
            return ConstantPolicy(a_num, int(cfg["move"])).eval()
        pg = TrainConfig.from_dict(cfg["pg_config"], source="checkpoint")
        return argmax_policy(_policy_of(pg, cfg["pg_config"], data["policy"], "checkpoint"))
    raise ValueError(f"checkpoint holds a '{kind}' agent; baselines are {', '.join(BASELINE_KINDS)}")


@dataclass(frozen=True)
class Trained:
    """A checkpoint's trained policy with what it needs to play: :func:`load_trained`.

    Attributes:
        policy: the policy module (eval mode).
        kind: ``policy`` (policy gradient) or a baseline kind.
        name: a short label (``pg:gru``, ``q-learning``, ...).
        game, context, counts, rounds: the game, K, the counts feature and T it was trained with.
        config: the TrainConfig of a policy-gradient checkpoint (None for a baseline).
        data: the checkpoint dict.
    """

    policy: nn.Module
    kind: str
    name: str
    game: str
    context: int
    counts: bool
    rounds: int
    config: TrainConfig | None
    data: dict


def load_trained(path: str) -> Trained:
    """The trained policy of any checkpoint kind (a file, or a run directory holding ``checkpoint.pt``)."""
    data = load_checkpoint(path)
    kind = data.get("kind")
    if kind == "policy":
        policy, cfg, data = _pg_policy(data, path)
        return Trained(policy, kind, f"pg:{cfg.policy}", cfg.game, cfg.context, cfg.counts, cfg.rounds, cfg, data)
    if kind not in BASELINE_KINDS:
        raise ValueError(f"{path} holds a '{kind}' agent, which this policygrad cannot load; allowed kinds: policy, {', '.join(BASELINE_KINDS)}")
    cfg = data.get("config", {})
    policy = policy_from_checkpoint(data)
    return Trained(policy, kind, str(kind), cfg["game"], int(cfg["context"]), bool(cfg["counts"]), int(cfg["rounds"]), None, data)
