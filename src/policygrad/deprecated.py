"""Old import paths of names that moved (issue 18's floor plan), kept for one release with a warning.

A module whose names moved ends with ``__getattr__ = moved(__name__, {"old": "new.module:new"})``:
reading ``old`` from it warns (DeprecationWarning) and returns the new object. The new home is
imported by name when the old path is first read, so a deprecated alias may point up the floors
(``tournament.plot_tournament`` -> ``plots``) without the old module importing the new one; this is
the only place the package imports its own modules by name (tests/test_layers.py allows it here).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable

__all__ = ["moved"]


def moved(module: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``module`` whose ``names[old] = "policygrad.new:new"`` moved."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, _, new = names[name].partition(":")
        warnings.warn(f"{module}.{name} moved to {target}.{new}; the old path goes in the next release", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(target), new)

    return __getattr__
