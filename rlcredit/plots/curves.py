"""Curves over training from ``metrics.csv``: learning curves with seed bands, and reachability curves.

Runs are grouped by :func:`~rlcredit.plots.data.labels_for` (the ``algo`` plus config values that differ, never
the seed). Planner runs (``[run] kind = "plan"``) are drawn as horizontal reference lines: their optimal return
(``summary.json`` ``exact/J``) or their probability of reaching a kind of cell (``exact/reach_<kind>``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from rlcredit.plots import style
from rlcredit.plots.data import (
    Run,
    labels_for,
    open_run,
    planner_reach,
    planner_reach_exact,
    planner_return,
    reach_kinds,
)
from rlcredit.plots.style import MIN_CI_SEEDS

RunsLike = Run | str | os.PathLike[str] | Sequence[Run | str | os.PathLike[str]]
"""One run (object or directory) or several."""

__all__ = [
    "CurveGroup",
    "CurvesData",
    "bootstrap_band",
    "learning_curves",
    "reach_curves",
    "seed_band",
]

RETURN = "charts/episodic_return"


def bootstrap_band(
    values: np.ndarray, *, level: float = 0.95, num_resamples: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds and its percentile-bootstrap confidence interval at every grid point.

    Parameters
    ----------
    values : (n_seeds, T) array

    Returns
    -------
    mean, low, high : (T,) arrays
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(n, size=(num_resamples, n))
    means = v[idx].mean(axis=1)  # (B, T)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha], axis=0)
    return v.mean(axis=0), lo, hi


def seed_band(
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
    *,
    band: str = "bootstrap",
    points: int = 200,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Interpolate seeds' curves to a common grid and summarize them.

    The grid spans the steps every seed covers (``max`` of the first steps to ``min`` of the last): the logged
    steps themselves when there are at most ``points`` distinct ones, else ``points`` evenly spaced steps.
    ``band="bootstrap"``: mean ± 95% bootstrap CI over seeds (with fewer than
    :data:`~rlcredit.plots.style.MIN_CI_SEEDS` seeds the range, min/max, instead);
    ``band="minmax"``: mean with the min/max envelope.

    Returns
    -------
    grid, mean, low, high : (points,) arrays
    """
    if band not in ("bootstrap", "minmax"):
        raise ValueError(f"band must be 'bootstrap' or 'minmax', got {band!r}")
    lo_x = max(float(x[0]) for x in xs)
    hi_x = min(float(x[-1]) for x in xs)
    if hi_x <= lo_x:
        hi_x = lo_x
    logged = np.unique(np.concatenate([np.asarray(x, dtype=np.float64) for x in xs]))
    logged = logged[(logged >= lo_x) & (logged <= hi_x)]
    grid = logged if 0 < len(logged) <= points else np.linspace(lo_x, hi_x, points)
    Y = np.stack([np.interp(grid, x, y) for x, y in zip(xs, ys)])
    if band == "bootstrap" and len(xs) >= MIN_CI_SEEDS:
        mean, lo, hi = bootstrap_band(Y, seed=seed)
    else:
        mean, lo, hi = Y.mean(axis=0), Y.min(axis=0), Y.max(axis=0)
    return grid, mean, lo, hi


@dataclass(frozen=True)
class CurveGroup:
    """The runs of one label on one panel.

    Attributes
    ----------
    label : str
    paths : list of Path
        The runs (one per seed).
    x, y : list of arrays
        Each run's raw curve (the metrics column against ``global_step``; rows without a value dropped).
    grid, mean, low, high : arrays or None
        The seed summary (:func:`seed_band`) when the label has at least two runs.
    """

    label: str
    paths: list[Path]
    x: list[np.ndarray]
    y: list[np.ndarray]
    grid: np.ndarray | None = None
    mean: np.ndarray | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None


@dataclass(frozen=True)
class CurvesData:
    """What a curve figure drew: per panel (an env or a cell kind), its groups and planner reference values."""

    column: str
    panels: dict[str, dict[str, CurveGroup]]
    references: dict[str, dict[str, float]] = field(default_factory=dict)


def _as_runs(runs: RunsLike) -> list[Run]:
    if isinstance(runs, Run | str | os.PathLike):
        runs = [runs]
    return [open_run(r) for r in runs]


def _groups(
    trainers: Sequence[Run], column: str, labels: dict[Path, str], band: str, seed: int
) -> dict[str, CurveGroup]:
    out: dict[str, CurveGroup] = {}
    for lab in style.order_labels(labels[r.path] for r in trainers):
        members = [r for r in trainers if labels[r.path] == lab]
        curves = [(r.path, *r.metric(column)) for r in members]
        curves = [c for c in curves if len(c[1])]
        if not curves:
            continue
        paths, xs, ys = [c[0] for c in curves], [c[1] for c in curves], [c[2] for c in curves]
        if len(curves) >= 2:
            grid, mean, lo, hi = seed_band(xs, ys, band=band, seed=seed)
            out[lab] = CurveGroup(lab, paths, xs, ys, grid, mean, lo, hi)
        else:
            out[lab] = CurveGroup(lab, paths, xs, ys)
    return out


def _draw_group(ax: Axes, g: CurveGroup, colour: str, *, band: str) -> None:
    if g.grid is None:
        ax.plot(g.x[0], g.y[0], color=colour, label=g.label)
        return
    for x, y in zip(g.x, g.y):
        ax.plot(x, y, color=colour, lw=0.6, alpha=0.3)
    band_label = (
        "95% bootstrap CI"
        if band == "bootstrap" and len(g.x) >= MIN_CI_SEEDS
        else f"range over {len(g.x)} seeds"
    )
    assert g.low is not None and g.high is not None and g.mean is not None  # set with the grid
    ax.fill_between(g.grid, g.low, g.high, color=colour, alpha=0.18, lw=0)
    ax.plot(g.grid, g.mean, color=colour, lw=2.0, label=f"{g.label} (mean of {len(g.x)} seeds, {band_label})")


def _draw_references(
    ax: Axes,
    refs: dict[str, float],
    *,
    fmt: str = "{:.3g}",
    clip: tuple[float, float] | None = None,
    planner_suffix: bool = True,
) -> None:
    """Dashed horizontal lines at the planners' values (drawn at the axis edge when ``clip`` cuts them).

    Each line is named at the right end of the axis; names of lines at the same height are stacked one text
    line apart (never drawn over each other), and coinciding lines get different dash patterns.
    """
    colours = style.label_colours(refs)
    heights: dict[str, int] = {}
    dashes: list[Any] = ["--", (0, (1, 1.5)), (0, (6, 2, 1, 2)), ":"]
    for lab, v in refs.items():
        y = v if clip is None else float(np.clip(v, *clip))
        same = f"{y:.6g}"  # lines at one height share a stack of names
        k = heights.get(same, 0)
        heights[same] = k + 1
        ls = dashes[k % len(dashes)]
        name = f"{lab} (planner)" if planner_suffix else lab
        ax.axhline(y, color=colours[lab], ls=ls, lw=1.4, label=f"{name}: {fmt.format(v)}")
        top = clip is not None and y > 0.5
        ax.annotate(
            f"{lab.split(' (')[0]} {fmt.format(v)}",
            xy=(0.99, y),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="top" if top else "bottom",
            fontsize=7,
            color=colours[lab],
            xytext=(0, (-2 - 9 * k) if top else (2 + 9 * k)),
            textcoords="offset points",
        )


def _planner_refs(
    planners: Sequence[Run], labels: dict[Path, str], value: Callable[[Run], float | None]
) -> dict[str, float]:
    refs: dict[str, list[float]] = {}
    for r in planners:
        v = value(r)
        if v is not None:
            refs.setdefault(labels[r.path], []).append(v)
    return {k: float(np.mean(v)) for k, v in refs.items()}


@style.styled
def learning_curves(
    runs: RunsLike, *, column: str = RETURN, band: str = "bootstrap", seed: int = 0
) -> style.Plot:
    """Episodic return against environment steps, one line (or mean and seed band) per label, one panel per env.

    Parameters
    ----------
    runs : run or sequence of runs
        Trainer runs give curves; planner runs give their optimal return as a dashed horizontal line.
    column : str
        The metrics column (default ``charts/episodic_return``).
    band : {"bootstrap", "minmax"}
        Band over seeds: 95% bootstrap CI of the mean (the range, min/max, with fewer than five seeds) or
        min/max.

    Returns
    -------
    Plot with :class:`CurvesData` (panels keyed by env).
    """
    runs = _as_runs(runs)
    labels = labels_for(runs)
    envs = list(dict.fromkeys(r.env for r in runs if not r.is_planner))
    if not envs:
        raise ValueError("learning curves need at least one trainer run")
    panels, refs = {}, {}
    for env in envs:
        trainers = [r for r in runs if r.env == env and not r.is_planner]
        panels[env] = _groups(trainers, column, labels, band, seed)
        refs[env] = _planner_refs([r for r in runs if r.env == env and r.is_planner], labels, planner_return)
    if not any(panels.values()):
        raise ValueError(f"no run has values in metrics column {column!r}")
    data = CurvesData(column, panels, refs)
    all_labels = list(dict.fromkeys(lab for p in panels.values() for lab in p))
    colours = style.label_colours(all_labels)
    fig = style.new_figure(max(6.0, 4.6 * len(envs)), 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(envs), squeeze=False)[0])
    for ax, env in zip(axes, envs):
        for lab, g in panels[env].items():
            _draw_group(ax, g, colours[lab], band=band)
        _draw_references(ax, refs[env])
        style.steps_axis(ax, next(r for r in runs if r.env == env and not r.is_planner).x_label)
        ax.set_ylabel("episodic return" if column == RETURN else column)
        ax.set_title(env.rsplit("/", 1)[-1])
        ax.legend(loc="best")
    title = "Learning curves" if len(all_labels) > 1 else f"Learning curve: {all_labels[0]}"
    has_ref = any(refs.values())
    caption = (
        "Return of the episodes each trainer finished, against environment steps"
        + (
            " (thin lines are seeds, the shaded band the seed spread)"
            if any(g.grid is not None for p in panels.values() for g in p.values())
            else ""
        )
        + (
            "; dashed lines are what a planner that maximizes reward gets, so a gap is reward the trained "
            "policy does not pursue."
            if has_ref
            else "."
        )
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "learning_curves", title, caption, data)


def _reach_column(kind: str) -> str:
    return "exact/intended" if kind == "intended" else f"exact/reach_{kind}"


def _planner_reach_is_exact(run: Run, kind: str) -> bool:
    """Whether a planner run's reach figure is exact (from the model) rather than a rate over its episodes."""
    return planner_reach_exact(run, kind) is not None


def _planner_reach(run: Run, kind: str) -> float | None:
    return planner_reach(run, kind)


@style.styled
def reach_curves(
    runs: RunsLike,
    *,
    kinds: Sequence[str] | None = None,
    scale: str = "logit",
    band: str = "minmax",
    seed: int = 0,
) -> style.Plot:
    """Exact probability that π_k ever reaches a cell of each kind, per update, one panel per kind.

    Parameters
    ----------
    runs : run or sequence of runs (one env)
        Trainer runs give one line per run (seeds of a label: thin lines and their mean); planner runs a
        dashed horizontal line at their reach probability.
    kinds : sequence of str, optional
        Cell kinds (``"button"``, ``"goal"``, ``"intended"`` for the intended objective); default: every
        ``exact/reach_<kind>`` column present.
    scale : {"logit", "log", "linear"}
        y axis; logit shows probabilities near 0 and near 1 alike.

    Returns
    -------
    Plot with :class:`CurvesData` (panels keyed by kind).
    """
    runs = _as_runs(runs)
    trainers = [r for r in runs if not r.is_planner]
    if not trainers:
        raise ValueError("reach curves need at least one trainer run")
    if kinds is None:
        kinds = reach_kinds(trainers)
        if any("exact/intended" in r.metrics.columns for r in trainers):
            kinds = [*kinds, "intended"]
    if not kinds:
        raise ValueError(f"no exact/reach_<kind> column in {trainers[0].path / 'metrics.csv'}")
    labels = labels_for(runs)
    panels, refs = {}, {}
    planners = [r for r in runs if r.is_planner]
    # a planner's figure is exact (VI/BI policies) or the rate over its episodes (MCTS): the label says which
    ref_labels = {
        r.path: f"{labels[r.path]} (planner, "
        f"{'exact' if all(_planner_reach_is_exact(r, k) for k in kinds) else 'rate over its test episodes'})"
        for r in planners
    }
    for kind in kinds:
        panels[kind] = _groups(trainers, _reach_column(kind), labels, band, seed)
        refs[kind] = _planner_refs(planners, ref_labels, functools.partial(_planner_reach, kind=kind))
    data = CurvesData("exact/reach", panels, refs)
    colours = style.label_colours([lab for p in panels.values() for lab in p])
    values = np.concatenate([y for p in panels.values() for g in p.values() for y in g.y] + [np.zeros(0)])
    low = np.minimum(values, 1 - values)
    low = low[low > 0]
    floor = min(max(float(low.min()) / 3 if low.size else 1e-3, style.PROBABILITY_FLOOR), 1e-3)
    clip = None if scale == "linear" else (floor * 1.3, 1 - floor * 1.3)
    nrows, ncols = style.panel_grid(len(kinds))
    fig = style.new_figure(max(6.0, 3.9 * ncols + 1.8), 3.4 * nrows + 1.0)
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).reshape(-1)
    for ax, kind in zip(axes, kinds):
        for lab, g in panels[kind].items():
            if clip is not None:
                g = CurveGroup(
                    g.label,
                    g.paths,
                    g.x,
                    [np.clip(y, *clip) for y in g.y],
                    g.grid,
                    *(None if a is None else np.clip(a, *clip) for a in (g.mean, g.low, g.high)),
                )
            _draw_group(ax, g, colours[lab], band=band)
        _draw_references(ax, refs[kind], fmt="{:.2g}", clip=clip, planner_suffix=False)
        ax.set_title("intended objective" if kind == "intended" else f"reach {kind}")
        style.steps_axis(ax, trainers[0].x_label)
        style.probability_axis(ax, scale, floor)
    for ax in axes[len(kinds) :]:
        ax.set_visible(False)
    handles, names = [], []
    for ax in axes[: len(kinds)]:
        for h, n in zip(*ax.get_legend_handles_labels()):
            n = n.split(":")[0]  # a planner's value differs per panel; the line shows it
            if n not in names:
                handles.append(h)
                names.append(n)
    # beside the panels' middle, clear of the title (which spans the whole figure width)
    fig.legend(handles, names, loc="outside right center")
    for ax in axes.reshape(nrows, ncols)[:, 0]:
        ax.set_ylabel(f"P(ever reach | π_k){'' if scale == 'linear' else f' ({scale} scale)'}")
    env = trainers[0].env_name()
    title = f"Reachability on {env}"
    below = (
        " (values beyond the axis range run along its edge)"
        if scale != "linear" and (np.any(values < floor) or np.any(values > 1 - floor))
        else ""
    )
    ref_names = sorted({name for r in refs.values() for name in r})
    exact_refs = [n.split(" (")[0] for n in ref_names if n.endswith(", exact)")]
    rate_refs = [n.split(" (")[0] for n in ref_names if not n.endswith(", exact)")]
    story = ""
    if exact_refs:
        story += (
            f"; horizontal lines of {', '.join(exact_refs)}: the planner's exact probability, computed from the model "
            "for its policy"
        )
    if rate_refs:
        story += (
            f"; horizontal lines of {', '.join(rate_refs)}: the fraction of the planner's test episodes that reached "
            "it (a sample, not exact)"
        )
    caption = (
        "Solid lines: the exact probability that the trained policy π_k ever enters each kind of cell within "
        f"the time limit, computed from the model after every update{story}{below}."
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "reach", title, caption, data)
