"""Seed statistics: bootstrap coverage on synthetic data with a known mean, and IQM by hand."""

import math

import numpy as np
import pytest

from rlcredit.experiments.stats import aggregate, bootstrap_ci, iqm


def test_bootstrap_ci_covers_true_mean_at_nominal_rate():
    # 200 synthetic experiments of 20 seeds each from a skewed distribution with known mean 1.0
    # (exponential): a 95% interval should contain 1.0 in about 95% of them.
    rng = np.random.default_rng(12345)
    hits = 0
    for i in range(200):
        x = rng.exponential(1.0, size=20)
        low, high = bootstrap_ci(x, confidence=0.95, n_resamples=1000, seed=i)
        assert low <= x.mean() <= high
        hits += low <= 1.0 <= high
    assert 0.88 <= hits / 200 <= 0.99


def test_bootstrap_ci_narrows_with_confidence():
    x = np.random.default_rng(0).normal(size=30)
    lo95, hi95 = bootstrap_ci(x, confidence=0.95)
    lo50, hi50 = bootstrap_ci(x, confidence=0.50)
    assert lo95 < lo50 < hi50 < hi95


def test_bootstrap_ci_degenerate_inputs():
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([3.0])))
    assert bootstrap_ci(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0)
    low, high = bootstrap_ci(np.array([0.0, 1.0]))  # BCa degenerates on two points: percentile fallback
    assert 0.0 <= low <= high <= 1.0


def test_iqm_hand_computed():
    # n = 8: drop the two lowest and two highest -> mean(3, 4, 5, 6) = 4.5, whatever the order.
    assert iqm(np.array([8, 1, 100, 3, 5, 4, 6, -50])) == pytest.approx((3 + 4 + 5 + 6) / 4)
    # n = 5: floor(5/4) = 1 dropped at each end -> mean(2, 3, 10) = 5.
    assert iqm(np.array([1.0, 2.0, 3.0, 10.0, 1000.0])) == pytest.approx(5.0)


def test_aggregate_reports_iqm_only_from_five_seeds():
    few = aggregate(np.array([1.0, 2.0, 3.0, 4.0]))
    assert few.n == 4 and few.mean == pytest.approx(2.5) and math.isnan(few.iqm)
    assert few.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    many = aggregate(np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan]))
    assert many.n == 5 and many.iqm == pytest.approx(3.0)
    assert many.ci_low < 3.0 < many.ci_high
    assert aggregate(np.array([])).n == 0


def test_fewer_than_five_seeds_get_the_range_never_a_ci():
    from rlcredit.experiments.stats import interval

    low, high, label = interval(np.array([0.2, 0.9, 0.5]))
    assert (low, high) == (0.2, 0.9) and label == "range over 3 seeds"
    agg = aggregate(np.array([1.0, 4.0]))
    assert (agg.ci_low, agg.ci_high) == (1.0, 4.0) and agg.interval == "range over 2 seeds"
    x = np.arange(8.0)
    low, high, label = interval(x)
    assert label == "95% bootstrap CI over 8 seeds" and (low, high) == bootstrap_ci(x)
    assert "CI" not in interval(np.array([1.0]))[2]
