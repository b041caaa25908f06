"""The 95% intervals: Student's t quantile over few matches, one table and one formula
(policygrad.stats) for every command."""

import math

import pytest
import torch

from policygrad.evaluate import match_stats
from policygrad.stats import average_se, half_width, interval, mean_se, standard_error, t975


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


def test_standard_error_is_the_sample_sd_over_root_n():
    # 0.3, 0.5, 0.1: mean 0.3, sample variance ((0)^2 + 0.2^2 + 0.2^2) / 2 = 0.04, sd 0.2
    assert mean_se([0.3, 0.5, 0.1]) == pytest.approx((0.3, 0.2 / math.sqrt(3)))
    assert standard_error(torch.tensor([1.0, 1.0, 1.0, 1.0])) == 0.0
    assert standard_error([2.0, 4.0]) == pytest.approx(math.sqrt(2.0) / math.sqrt(2))  # sd sqrt(2), n 2: se 1
    assert math.isnan(standard_error([5.0])) and mean_se([5.0])[0] == 5.0
    with pytest.raises(ValueError, match="at least one value"):
        mean_se([])


def test_half_width_interval_and_the_average_of_means():
    assert half_width(0.1, 2) == pytest.approx(0.43027) and math.isnan(half_width(0.1, 0))
    # one value: the caller's fallback half-width (compare's exploitability uses 0.0)
    assert interval([0.7]) == (0.7, pytest.approx(float("nan"), nan_ok=True)) and interval([0.7], 0.0) == (0.7, 0.0)
    # the tournament's leaderboard: the mean of k pair means, sqrt(sum se^2) / k
    assert average_se([0.3, 0.4]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="at least one"):
        average_se([])
