"""Checkpoints: written atomically, loaded with ``torch.load(..., weights_only=True)``, checked.

A checkpoint is a plain dict of tensors and Python primitives:
``format``, ``version``, ``kind`` (``policy``, or a baseline's kind), ``config`` (the resolved
configuration), ``iteration``, ``game`` (name, payoff, actions) and the state dicts it needs.
"""

from __future__ import annotations

import os
import pickle
import re

import torch

from .files import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT", "VERSION"]

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
