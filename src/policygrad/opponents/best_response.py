"""Deprecated: the white-box opponents moved to :mod:`policygrad.opponents.whitebox`.

``from policygrad.opponents.best_response import BestResponse, MindReader, PolicyOpponent`` still
works for one release, with a DeprecationWarning; import them from ``policygrad.opponents.whitebox``
(or ``policygrad.opponents``).
"""

from __future__ import annotations

import warnings

from .whitebox import BestResponse, MindReader, PolicyOpponent

__all__ = ["BestResponse", "MindReader", "PolicyOpponent"]

warnings.warn(
    "policygrad.opponents.best_response is deprecated: import BestResponse, MindReader and PolicyOpponent from policygrad.opponents.whitebox",
    DeprecationWarning,
    stacklevel=2,
)
