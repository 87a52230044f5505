"""Aggregates over seeds: mean with a bootstrap confidence interval, and the interquartile mean.

With few seeds, a mean alone hides how much of a difference between two trainers is luck. Every number in
a contrast table is therefore reported with an interval over seeds, and the interval says what it is
(:func:`interval`): with at least :data:`MIN_CI_SEEDS` seeds a 95% bootstrap confidence interval (Efron &
Tibshirani 1993; BCa intervals via :func:`scipy.stats.bootstrap`), with fewer the plain range (min, max) of
the seeds, since a bootstrap of two or three values claims a coverage it does not have. With five or more
seeds there is also the interquartile mean, which Agarwal et al. (2021, "Deep RL at the edge of the
statistical precipice") recommend as a point estimate robust to a few outlier seeds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats as _stats

from rlcredit.plots.style import MIN_CI_SEEDS

__all__ = [
    "IQM_MIN_SEEDS",
    "MIN_CI_SEEDS",
    "SeedAggregate",
    "aggregate",
    "bootstrap_ci",
    "interval",
    "interval_kind",
    "interval_label",
    "iqm",
]

IQM_MIN_SEEDS = 5
"""Below this many seeds the interquartile mean would trim to one or two values: it is not reported."""


def interval_label(n: int, *, confidence: float = 0.95) -> str:
    """What :func:`interval` gives for ``n`` seeds, for a caption or an axis label.

    ``"95% bootstrap CI over 8 seeds"``, ``"range over 3 seeds"``, ``"1 seed, no interval"``.
    """
    if n >= MIN_CI_SEEDS:
        return f"{confidence:.0%} bootstrap CI over {n} seeds"
    if n >= 2:
        return f"range over {n} seeds"
    return f"{n} seed{'' if n == 1 else 's'}, no interval"


def interval_kind(seeds: Iterable[int], *, confidence: float = 0.95) -> str:
    """A table header's name for the intervals of rows with these seed counts: ``"95% CI"`` (all rows have
    at least :data:`MIN_CI_SEEDS` seeds), ``"range"`` (all fewer) or ``"95% CI with 5+ seeds, else range"``."""
    counts = [int(n) for n in seeds]
    if counts and all(n >= MIN_CI_SEEDS for n in counts):
        return f"{confidence:.0%} CI"
    if all(n < MIN_CI_SEEDS for n in counts):
        return "range"
    return f"{confidence:.0%} CI with {MIN_CI_SEEDS}+ seeds, else range"


def interval(values: np.ndarray, *, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, str]:
    """An interval for the mean of per-seed values, and what it is.

    Parameters
    ----------
    values : ndarray (n,)
        One number per seed; NaNs are dropped.
    confidence, seed
        As for :func:`bootstrap_ci` (used with at least :data:`MIN_CI_SEEDS` seeds).

    Returns
    -------
    (low, high, label)
        The bootstrap CI with ``n >= MIN_CI_SEEDS``, the range ``(min, max)`` with ``2 <= n <
        MIN_CI_SEEDS``, ``(nan, nan)`` for fewer; ``label`` from :func:`interval_label`.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n >= MIN_CI_SEEDS:
        low, high = bootstrap_ci(x, confidence=confidence, seed=seed)
    elif n >= 2:
        low, high = float(x.min()), float(x.max())
    else:
        low = high = math.nan
    return low, high, interval_label(n, confidence=confidence)


@dataclass(frozen=True)
class SeedAggregate:
    """One metric over seeds.

    Attributes
    ----------
    n : int
        Number of finite values (seeds).
    mean : float
        Sample mean (NaN when ``n == 0``).
    ci_low, ci_high : float
        The interval of :func:`interval`: the bootstrap confidence interval of the mean with at least
        :data:`MIN_CI_SEEDS` seeds (``[mean, mean]`` when all values are equal), the range (min, max) with
        fewer, NaN when ``n < 2``.
    iqm : float
        Interquartile mean (NaN when ``n < IQM_MIN_SEEDS``).
    std : float
        Sample standard deviation (ddof 1; NaN when ``n < 2``).
    """

    n: int
    mean: float
    ci_low: float
    ci_high: float
    iqm: float
    std: float
    interval: str = ""
    """What ``ci_low``/``ci_high`` are (:func:`interval_label`)."""


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the values left after dropping the lowest and highest quarter.

    ``floor(n / 4)`` values are dropped at each end (:func:`scipy.stats.trim_mean` with 0.25), so for
    ``n = 8`` the mean of the 3rd to 6th smallest values.

    Parameters
    ----------
    values : ndarray (n,)

    Returns
    -------
    float (NaN for an empty array)
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        return math.nan
    return float(_stats.trim_mean(x, 0.25))


def bootstrap_ci(
    values: np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "BCa",
) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean of ``values``.

    Parameters
    ----------
    values : ndarray (n,)
        One number per seed; NaNs are dropped.
    confidence : float
        Nominal coverage, e.g. 0.95.
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seeds the resampling, so a table is reproducible.
    method : {"BCa", "percentile", "basic"}
        Passed to :func:`scipy.stats.bootstrap`. BCa corrects the percentile interval's bias and skew,
        which matters with few seeds.

    Returns
    -------
    (low, high) : tuple of float
        ``(nan, nan)`` for fewer than two values; ``(v, v)`` when every value is ``v``.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    with warnings.catch_warnings():
        # BCa warns (and returns NaN) when the jackknife is degenerate, e.g. two distinct values; the
        # percentile interval is then the sensible fallback.
        warnings.simplefilter("ignore")
        res = _stats.bootstrap(
            (x,),
            np.mean,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method=method,
            rng=np.random.default_rng(seed),
            vectorized=True,
        )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isfinite(low) and math.isfinite(high)) and method != "percentile":
            return bootstrap_ci(
                x, confidence=confidence, n_resamples=n_resamples, seed=seed, method="percentile"
            )
    return low, high


def aggregate(values: np.ndarray, *, confidence: float = 0.95, seed: int = 0) -> SeedAggregate:
    """Mean, interval (:func:`interval`), IQM (when ``n >= IQM_MIN_SEEDS``) and std of one metric over seeds.

    Parameters
    ----------
    values : ndarray (n,)
        One number per seed; NaNs (a seed that did not produce the metric) are dropped.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return SeedAggregate(0, math.nan, math.nan, math.nan, math.nan, math.nan, interval_label(0))
    low, high, label = interval(x, confidence=confidence, seed=seed)
    return SeedAggregate(
        n=n,
        mean=float(x.mean()),
        ci_low=low,
        ci_high=high,
        iqm=iqm(x) if n >= IQM_MIN_SEEDS else math.nan,
        std=float(x.std(ddof=1)) if n >= 2 else math.nan,
        interval=label,
    )
