"""Sizes refused up front: the memory a command would need, against what the machine has.

Ground floor: imports nothing of the package. Every command that allocates in proportion to its
arguments (matches x rounds x features, hidden sizes, table rows, levels, iterations) estimates
the bytes first and calls :func:`check_size`, so that ``--matches 1e12`` stops within a second
with one sentence naming the size and the limit, instead of reaching the allocator minutes later
(or swapping the machine to a halt). Counts that grow exponentially (A^(2T) histories, (A^2+1)^K
contexts) are compared through their logarithms (:func:`power`), never built as huge integers.

The estimates are deliberately simple (what the tensors hold, times a small factor for autograd);
they are meant to catch sizes off by orders of magnitude, not to plan memory to the byte.
"""

from __future__ import annotations

import math
import os
import shutil

__all__ = [
    "TooLargeError",
    "available_memory",
    "check_size",
    "format_bytes",
    "power",
    "batch_bytes",
    "mlp_parameters",
    "policy_parameters",
    "check_training",
    "check_seed",
    "MAX_SEED",
    "MAX_CHECKPOINT_BYTES",
]

MAX_SEED = 2**32 - 1
"""The largest seed any command accepts (seeds are integers 0..2^32-1, as NumPy's legacy seeds):
derived seeds (seed + 1, seed * 100003 + ...) then stay inside torch's 64-bit generator seeds."""

MAX_CHECKPOINT_BYTES = 2**30
"""The largest checkpoint a run may plan to write (1 GiB): it is rewritten every few iterations, and
a model that needs more (a tabular policy over (A^2+1)^8 contexts: 3.6 GB) is not one this tool
can train from a few hundred matches per step."""


class TooLargeError(ValueError):
    """A command refused before any work: what it would need is more than the limit.

    Attributes:
        what: what would be too large (``"training (batch 1,000,000,000 x 100 rounds)"``).
        needed: its estimated size in bytes (a float: may be far above any integer type).
        limit: the limit in bytes.
    """

    def __init__(self, message: str, what: str, needed: float, limit: float) -> None:
        super().__init__(message)
        self.what, self.needed, self.limit = what, needed, limit

    def __reduce__(self):  # pickles with its attributes (a pool worker can raise it)
        return (type(self), (str(self), self.what, self.needed, self.limit))


def available_memory() -> int:
    """Bytes of memory the machine can give now without swapping: ``MemAvailable`` of
    ``/proc/meminfo`` (Linux), else free pages x page size (``os.sysconf``), else 2^63 (unknown:
    no limit)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**63


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; ``3.6e9`` -> ``"3.4 GiB"``; far beyond: ``"1.0e+21 B"``."""
    if not math.isfinite(n) or n >= 1024**6:
        return f"{n:.1e} B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_size(what: str, needed: float, limit: float | None = None, limit_name: str = "available memory", hint: str = "") -> None:
    """Raise :class:`TooLargeError` when ``needed`` bytes exceed ``limit`` (default: the machine's
    :func:`available_memory`), naming both: ``"training (batch 10^9 x 100 rounds) needs about
    3.0 TiB; the limit is 22.5 GiB (available memory). Use fewer ..."``."""
    if limit is None:
        limit = available_memory()
    if needed > limit:
        message = f"{what} needs about {format_bytes(needed)}; the limit is {format_bytes(limit)} ({limit_name})"
        raise TooLargeError(message + (f". {hint.rstrip('.')}." if hint else ""), what, float(needed), float(limit))


def power(base: int, exponent: int) -> float:
    """base ** exponent as a float, or ``inf`` when it would exceed 1e300: compared through the
    logarithm, so ``power(9, 10**9)`` is immediate (the integer would have 950 million digits)."""
    if base <= 1 or exponent <= 0:
        return float(base**exponent) if exponent >= 0 else 0.0
    if exponent * math.log10(base) > 300:
        return math.inf
    return float(base) ** exponent


def batch_bytes(matches: int, rounds: int, features: int, actions: int, widths: tuple[int, ...] = (), autograd: bool = False) -> float:
    """Estimated bytes of one batch of N matches x T rounds (:func:`policygrad.rollout.rollout`, and
    with ``autograd`` :func:`policygrad.rollout.score` and the backward pass through layers of
    ``widths`` units).

    Per (match, round): the observation (F float32), both moves (2 int64), reward and mask (2
    float32), log pi of every action (A float32); with autograd, the log-probabilities again with
    their gradients (3A) and each layer's pre-activation, activation and gradient (3 per unit).
    """
    per_round = 4 * features + 16 + 8 + 4 * actions
    if autograd:
        per_round += 4 * 3 * actions + 4 * 3 * sum(widths)
    return float(matches) * float(rounds) * per_round


def mlp_parameters(sizes: tuple[int, ...]) -> float:
    """Weights and biases of a chain of linear layers through ``sizes`` (input, hidden..., output)."""
    return float(sum(float(a) * b + b for a, b in zip(sizes[:-1], sizes[1:])))


def policy_parameters(kind: str, features: int, actions: int, context: int, hidden: tuple[int, ...]) -> float:
    """Parameters of a policy of :func:`policygrad.policies.make_policy` (without building it):
    ``tabular`` (A^2 + 1)^K x A logits, ``gru`` 3 (F h + h^2 + 2 h) + h A + A, ``mlp`` its layers."""
    if kind == "tabular":
        return power(actions * actions + 1, context) * actions
    if kind == "gru":
        h = float(hidden[0])
        return 3 * (features * h + h * h + 2 * h) + h * actions + actions
    return mlp_parameters((features, *hidden, actions))


def check_training(kind: str, features: int, actions: int, context: int, hidden: tuple[int, ...], batch: int, rounds: int,
                   critic: bool, adam: bool, run_dir: str | None = None) -> None:  # fmt: skip
    """Refuse (:class:`TooLargeError`) a training run that would not fit, before anything is built:
    its memory (parameters with their gradients and optimiser moments, and one batch of N x T with
    autograd) against :func:`available_memory`; its checkpoint against :data:`MAX_CHECKPOINT_BYTES`
    and, with ``run_dir``, twice the checkpoint (the old one and its replacement) against the free
    disk space there."""
    params = policy_parameters(kind, features, actions, context, hidden) + (mlp_parameters((features, *hidden, 1)) if critic else 0.0)
    widths = (3 * hidden[0],) if kind == "gru" else (() if kind == "tabular" else tuple(hidden))
    moments = 2 if adam else 0
    memory = 4 * params * (2 + moments) + batch_bytes(batch, rounds, features, actions, widths + (tuple(hidden) if critic else ()), autograd=True)
    model = f"{kind} policy{' and critic' if critic else ''}: {params:,.0f} parameters" if params < 1e18 else f"{kind} policy: {params:.1e} parameters"
    smaller = "a shorter context (a tabular policy has (A^2+1)^K rows)" if kind == "tabular" else "smaller hidden layers"
    check_size(f"training ({model}; batch {batch:,} x {rounds:,} rounds)", memory, hint=f"Use a smaller batch, fewer rounds or {smaller}")
    checkpoint = 4 * params * (1 + moments)
    check_size(f"the checkpoint ({model})", checkpoint, MAX_CHECKPOINT_BYTES, "the largest checkpoint a run writes", hint=f"Use {smaller}")
    if run_dir is not None:
        base = os.path.abspath(run_dir)
        while not os.path.exists(base) and os.path.dirname(base) != base:
            base = os.path.dirname(base)
        if os.path.isdir(base):
            check_size(f"the checkpoint ({model}), twice while it is replaced,", 2 * checkpoint, shutil.disk_usage(base).free, f"free disk space in {base}")


def check_seed(name: str, value) -> int:
    """``value`` when it is a seed (an integer in 0..:data:`MAX_SEED`), else one clear ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be an integer in 0..{MAX_SEED}, got {value!r}")
    return value
