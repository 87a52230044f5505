"""The evaluation metrics of an experiment, defined once: name, table header, figure title, definition.

An experiment's test-time evaluation (:mod:`rlcredit.experiments.evaluate`) writes these metrics per piece;
the contrast table (:mod:`rlcredit.experiments.contrast`) and the contrast figure
(:mod:`rlcredit.plots.contrast`) label them from :func:`metric_info`. Families of metrics share a prefix
(``reach_button``, ``reach_lava``, ...) and are described by one :class:`Metric` whose texts hold ``{}`` for
the suffix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["METRICS", "METRIC_FAMILIES", "Metric", "metric_info"]


@dataclass(frozen=True)
class Metric:
    """One metric of an experiment's evaluation.

    Attributes
    ----------
    name : str
        The key in the evaluation files and ``contrast.csv`` (for a family: its prefix, e.g. ``"reach_"``).
    header : str
        The short column header of the contrast table.
    title : str
        The title of the metric's panel in the contrast figure.
    definition : str
        What the number is.
    """

    name: str
    header: str
    title: str
    definition: str


METRICS: tuple[Metric, ...] = (
    Metric("return", "return", "return", "mean undiscounted episode return"),
    Metric(
        "return_std",
        "return std",
        "return standard deviation",
        "standard deviation of the episode returns within one evaluation (population, ddof = 0)",
    ),
    Metric(
        "regret",
        "regret",
        "regret (optimal − return)",
        "optimal − return: the best expected undiscounted return within the time limit minus the return",
    ),
    Metric(
        "optimal",
        "optimal",
        "optimal return",
        "the best expected undiscounted return within the time limit (backward induction, gamma = 1, on the "
        "exact model, averaged over the layouts met)",
    ),
    Metric(
        "success",
        "intended",
        "intended objective reached",
        "fraction of episodes that reached the intended objective",
    ),
    Metric(
        "performance",
        "intended performance",
        "intended performance",
        "mean episode sum of the intended performance the map declares (hidden from trainers; the return on maps "
        "that declare none)",
    ),
    Metric(
        "reward_minus_intended",
        "reward - intended",
        "return − intended performance",
        "return − intended performance: how much of the return the designer did not intend",
    ),
    Metric("length", "length", "episode length", "mean episode length (steps)"),
    Metric(
        "exact_J",
        "exact return",
        "expected return, exact",
        "expected undiscounted return of the agent's policy from the exact model (fixed maps; no sampling)",
    ),
    Metric(
        "exact_intended",
        "exact P(intended)",
        "P(intended objective), exact",
        "probability that the agent's policy ever enters an intended cell within the time limit, exact",
    ),
    Metric("steps", "steps", "training steps", "environment steps the agent trained on"),
    Metric("wall_time", "wall time", "wall time", "seconds the piece took"),
)
"""The metrics with fixed names."""

METRIC_FAMILIES: tuple[Metric, ...] = (
    # exact_reach_ before reach_: the first prefix that matches names the family
    Metric(
        "exact_reach_",
        "exact P({})",
        "P(reach {}), exact",
        "probability that the agent's policy ever enters a {} cell within the time limit, exact",
    ),
    Metric("reach_", "{}", "reached {}", "fraction of episodes that entered a {} cell"),
    Metric("region_", "{}", "entered region {}", "fraction of episodes that entered the region {}"),
)
"""Metrics named by a prefix and a suffix (an object kind or a region name)."""

_CHOICE = "the exact test mazes whose intended object lies outside the region {0} and where either can be reached without the other"
_PATTERNS: tuple[tuple[re.Pattern[str], Metric], ...] = tuple(
    (re.compile(pattern), metric)
    for pattern, metric in (
        (
            r"exact_region_(.+)",
            Metric(
                "exact_region_",
                "exact P(region {0})",
                "P(enter region {0}), exact",
                "probability that the agent's policy enters (or starts in) the region {0} within the time limit, exact",
            ),
        ),
        (
            r"exact_first_(intended|region)_(.+)",
            Metric(
                "exact_first_",
                "exact P({0} first, {1})",
                "P({0} before the other, region {1}), exact",
                "probability of reaching the {0} (the intended object or the region {1}) before the other, exact, "
                "mean over the exact test mazes",
            ),
        ),
        (
            r"(outside|choice)_(.+)_mazes",
            Metric(
                "_mazes",
                "{0} mazes ({1})",
                "test mazes: {0} ({1})",
                "number of the exact test mazes counted in the {0}_{1}_* figures",
            ),
        ),
        (
            r"outside_(.+)_exact_intended",
            Metric(
                "outside_",
                "exact P(intended), outside {0}",
                "P(reach intended), object outside {0}, exact",
                "exact probability of reaching the intended objective, mean over the exact test mazes whose intended "
                "object lies outside the region {0}",
            ),
        ),
        (
            r"outside_(.+)_exact_region_(.+)",
            Metric(
                "outside_",
                "exact P(region {1}), outside {0}",
                "P(enter {1}), object outside {0}, exact",
                "exact probability of entering the region {1}, mean over the exact test mazes whose intended object "
                "lies outside the region {0}",
            ),
        ),
        (
            r"choice_(.+)_(exact|uniform)_first_(intended|region)",
            Metric(
                "choice_",
                "P({2} first), {1}, choice {0}",
                "P({2} before the other), {1} policy",
                "probability of reaching the {2} (the intended object or the region {0}) before the other, for the "
                "{1} policy (exact: the agent's; uniform: the uniform-random policy's), mean over " + _CHOICE,
            ),
        ),
    )
)
"""Metrics whose name holds a region name (or an object's) in the middle (the exact per-maze figures)."""

_BY_NAME = {m.name: m for m in METRICS}


def metric_info(name: str) -> Metric:
    """The :class:`Metric` of a metric name, a family's texts filled in with the suffix; a metric this table
    does not know is labelled by its name (and has no definition)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    for pattern, metric in _PATTERNS:
        match = pattern.fullmatch(name)
        if match:
            parts = match.groups()
            return Metric(
                name,
                metric.header.format(*parts),
                metric.title.format(*parts),
                metric.definition.format(*parts),
            )
    for family in METRIC_FAMILIES:
        if name.startswith(family.name):
            suffix = name.removeprefix(family.name)
            return Metric(
                name,
                family.header.format(suffix),
                family.title.format(suffix),
                family.definition.format(suffix),
            )
    return Metric(name, name, name, "")
