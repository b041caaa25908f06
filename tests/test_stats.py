"""The 95% intervals: Student's t quantile over few matches, one table for every command."""

import math

import pytest
import torch

from policygrad.baselines import interval
from policygrad.evaluate import match_stats, t975


def test_t_quantile_table_and_its_limit():
    assert t975(1) == 12.7062 and t975(2) == 4.3027 and t975(3) == 3.1824 and t975(30) == 2.0423
    assert math.isnan(t975(0)) and math.isnan(t975(float("nan")))
    dfs = [1, 2, 3, 5, 10, 31, 45, 86, 129, 999, 1000, 5000, 10**9]
    values = [t975(d) for d in dfs]
    assert all(a > b for a, b in zip(values, values[1:]))  # decreasing in the degrees of freedom
    assert values[-1] == pytest.approx(1.959964, abs=1e-6) and values[-2] > 1.96
    scipy_stats = pytest.importorskip("scipy.stats")
    for d in range(1, 3001, 7):
        assert t975(d) == pytest.approx(float(scipy_stats.t.ppf(0.975, d)), abs=1e-4), d


def test_three_matches_get_the_t_interval_not_the_normal_one():
    s = match_stats(torch.tensor([30.0, 50.0, 10.0]), rounds=100)  # per round 0.3, 0.5, 0.1: sd 0.2
    assert s.mean == pytest.approx(0.3) and s.se == pytest.approx(0.2 / math.sqrt(3))
    assert s.ci95 == pytest.approx(4.3027 * 0.2 / math.sqrt(3))  # 0.497, where 1.96 * se would say 0.226
    one = match_stats(torch.tensor([5.0]), rounds=10)
    assert math.isnan(one.se) and math.isnan(one.ci95) and one.wins == 1
    many = match_stats(torch.arange(1000.0), rounds=1)
    assert many.ci95 == pytest.approx(1.9623 * many.se, rel=1e-4)
    assert interval([0.3, 0.5, 0.1]) == pytest.approx((0.3, s.ci95))  # compare uses the same quantiles
