"""Standard errors and 95% intervals: one way for every command.

Ground floor: imports only torch.

A mean of n independent values x_1 .. x_n has the standard error

    se = s / sqrt(n),    s^2 = sum_i (x_i - mean)^2 / (n - 1)     (the sample variance)

and the half-width of its 95% interval is ``t975(n - 1) * se``: Student's t quantile for the n - 1
degrees of freedom the standard error was estimated with (4.30 for 3 values, 2.09 for 20, 1.96 in
the limit). With few values the normal 1.96 would claim far too much. Below two values there is no
standard error: NaN (or the caller's ``fallback`` for :func:`interval`).

Used by the match statistics (:func:`policygrad.evaluate.match_stats`), the training metric
``reward_se``, the gradient check, the approximate exploitability, the tournament's leaderboard and
the comparison over seeds.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = ["t975", "standard_error", "mean_se", "half_width", "interval", "average_se"]

# the 0.975 quantile of Student's t distribution by degrees of freedom (to 4 decimals); in the limit
# the normal quantile 1.959964
_T975: dict[float, float] = {
    1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060, 9: 2.2622, 10: 2.2281,
    11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314, 16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860,
    21: 2.0796, 22: 2.0739, 23: 2.0687, 24: 2.0639, 25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484, 29: 2.0452, 30: 2.0423,
    40: 2.0211, 50: 2.0086, 60: 2.0003, 80: 1.9901, 100: 1.9840, 120: 1.9799, 200: 1.9719, 500: 1.9647, 1000: 1.9623,
}  # fmt: skip
_Z975 = 1.959964


def t975(df: float) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom: the factor of a 95% interval
    from a standard error estimated with ``df`` degrees of freedom (12.71 for 1, 4.30 for 2, 1.96 in
    the limit); NaN below 1. Between tabulated values it interpolates linearly in 1 / df (within
    1e-4 of the exact quantile)."""
    if not df >= 1:
        return float("nan")
    if df in _T975:
        return _T975[df]
    keys = sorted(_T975)
    hi = next((k for k in keys if k > df), math.inf)
    lo = max(k for k in keys if k < df)
    t_hi = _Z975 if hi == math.inf else _T975[hi]
    w = (1 / lo - 1 / df) / (1 / lo - (0.0 if hi == math.inf else 1 / hi))
    return _T975[lo] + (t_hi - _T975[lo]) * w


def _values(values: Sequence[float] | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float64).reshape(-1)


def mean_se(values: Sequence[float] | torch.Tensor) -> tuple[float, float]:
    """(mean, standard error of the mean) of n values: s / sqrt(n) with the sample standard
    deviation s (n - 1 in its denominator); the standard error is NaN for fewer than two values."""
    x = _values(values)
    n = x.numel()
    if n == 0:
        raise ValueError("the mean of no values is undefined: give at least one value")
    se = float(x.std(unbiased=True)) / math.sqrt(n) if n > 1 else float("nan")
    return float(x.mean()), se


def standard_error(values: Sequence[float] | torch.Tensor) -> float:
    """The standard error of the mean of the values (see :func:`mean_se`); NaN for fewer than two."""
    return mean_se(values)[1]


def half_width(se: float, df: float) -> float:
    """The half-width of the 95% interval of a mean with standard error ``se`` estimated with ``df``
    degrees of freedom: ``t975(df) * se`` (NaN for df < 1)."""
    return t975(df) * se


def interval(values: Sequence[float] | torch.Tensor, fallback: float = float("nan")) -> tuple[float, float]:
    """(mean, half-width of the 95% t-interval over the n values: ``t975(n - 1) * se``); with one
    value the half-width is ``fallback``."""
    x = _values(values)
    mean, se = mean_se(x)
    return (mean, fallback) if x.numel() < 2 else (mean, half_width(se, x.numel() - 1))


def average_se(ses: Sequence[float]) -> float:
    """The standard error of the average of k independent means with standard errors ``ses``:
    sqrt(sum se_i^2) / k."""
    if not ses:
        raise ValueError("the average of no means is undefined: give at least one standard error")
    return math.sqrt(sum(se**2 for se in ses)) / len(ses)
