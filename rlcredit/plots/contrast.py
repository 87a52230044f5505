"""Contrast bars: trainers vs planners on each env, with confidence intervals, from a contrast CSV.

The contrast CSV (conventionally ``EXPERIMENT_DIR/contrast.csv``) is read in either of two layouts.

**Long** (one row per metric x env x agent):

=========  ========  ==========================================================================================
column     required  meaning
=========  ========  ==========================================================================================
agent      yes       label of the trainer / planner (``[run] algo``, optionally with config, e.g. ``ppo λ=0.9``
                     or ``ppo[gae_lambda=0.9]``); its first word picks the colour
env        yes       env (variant) the metric was measured on, e.g. the test variant of a train/test pair
metric     yes       what was measured, e.g. ``return``, ``success``, ``reach_button``; one panel per metric
mean       yes       the estimate (mean over seeds, or the planner's value)
ci_low     yes       lower end of its confidence interval (NaN or equal to ``mean``: no error bar)
ci_high    yes       upper end
n          no        seeds (or episodes) behind the estimate, printed above the bar (``seeds`` is read too)
kind       no        ``train`` or ``plan`` (planners are drawn hatched; default: from the agent's first word)
level      no        confidence level of the interval, e.g. 0.95 (default 0.95; shown in the axis label)
optimal    no        best achievable ``return`` on that env (a dashed black line over the env's bars)
train_env  no        env the agent was trained on (shown as ``train → test`` when it differs from ``env``)
=========  ========  ==========================================================================================

**Wide** (one row per agent x env, as :mod:`rlcredit.experiments.contrast` writes it): the columns ``agent``,
``env`` and, for every metric ``M``, ``M``, ``M_ci_low`` and ``M_ci_high``; ``kind``, ``seeds``,
``optimal`` and ``train_env`` as above. Any column ``M`` with both ``M_ci_low`` and ``M_ci_high`` is a metric.

A row whose ``mean`` is NaN (an agent that could not be measured there) has no bar. Envs and agents are drawn
in order of first appearance.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from rlcredit.plots import style
from rlcredit.plots.data import TRAINERS
from rlcredit.runs.metrics import metric_info

__all__ = ["CONTRAST_COLUMNS", "DEFAULT_METRICS", "ContrastData", "contrast_bars", "read_contrast"]

CONTRAST_COLUMNS = ("agent", "env", "metric", "mean", "ci_low", "ci_high")
"""Required columns of a long contrast CSV (optional: ``n``, ``kind``, ``level``, ``optimal``, ``train_env``)."""

DEFAULT_METRICS = ("return", "success", "reach_*", "exact_intended", "region_*")
"""Metrics shown when none are asked for (``*`` matches any suffix), at most :data:`MAX_PANELS` of them."""
MAX_PANELS = 6


def _numeric(df: pd.DataFrame, column: str, where: str) -> pd.Series:
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip().str.lower() != "nan")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{where}: column {column!r} has a non-numeric value {raw.iloc[i]!r} in row {i}")
    return values.astype(np.float64)


def read_contrast(
    source: str | os.PathLike[str] | pd.DataFrame, *, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Read and check a contrast CSV (or DataFrame) in the long or the wide layout; return the long one.

    Parameters
    ----------
    metrics : sequence of str, optional
        Keep only these metrics, in this order (default: all in a long table; :data:`DEFAULT_METRICS` of a
        wide one).

    Returns
    -------
    DataFrame with ``agent, env, metric, mean, ci_low, ci_high, kind, n, level`` (+ ``optimal`` when given).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If required columns are missing, there are no rows, a number column holds text, or none of
        ``metrics`` is in the table.
    """
    if isinstance(source, pd.DataFrame):
        df, where = source.copy(), "contrast table"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"contrast CSV not found: {path}")
        df, where = pd.read_csv(path), str(path)
    for c in ("agent", "env"):
        if c not in df.columns:
            raise ValueError(
                f"{where}: missing column {c!r}; required: {', '.join(CONTRAST_COLUMNS)} "
                f"(or agent, env and M, M_ci_low, M_ci_high per metric M)"
            )
    if df.empty:
        raise ValueError(f"{where}: no rows")
    if "metric" in df.columns or "mean" in df.columns:
        missing = [c for c in CONTRAST_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{where}: missing columns {missing}; required: {', '.join(CONTRAST_COLUMNS)}")
        long = df.copy()
        for c in ("mean", "ci_low", "ci_high"):
            long[c] = _numeric(long, c, where)
        all_metrics = list(dict.fromkeys(long["metric"].astype(str)))
    else:
        wide_metrics = [c for c in df.columns if f"{c}_ci_low" in df.columns and f"{c}_ci_high" in df.columns]
        if not wide_metrics:
            raise ValueError(
                f"{where}: no metric columns: expected a long table ({', '.join(CONTRAST_COLUMNS)}) "
                f"or columns M, M_ci_low, M_ci_high"
            )
        keep = [
            c
            for c in ("agent", "env", "kind", "n", "seeds", "level", "optimal", "train_env")
            if c in df.columns
        ]
        parts = []
        for m in wide_metrics:
            part = df[keep].copy()
            part["metric"] = m
            part["mean"] = _numeric(df, m, where)
            part["ci_low"] = _numeric(df, f"{m}_ci_low", where)
            part["ci_high"] = _numeric(df, f"{m}_ci_high", where)
            parts.append(part)
        long = pd.concat(parts, ignore_index=True)
        all_metrics = wide_metrics
        if metrics is None:
            metrics = _default_metrics(wide_metrics)
    long["metric"] = long["metric"].astype(str)
    if metrics is not None:
        chosen = [m for m in metrics if m in all_metrics]
        if not chosen:
            raise ValueError(
                f"{where}: none of the metrics {list(metrics)} is in the table (it has {all_metrics})"
            )
        long = long[long["metric"].isin(chosen)].copy()
        long["metric"] = pd.Categorical(long["metric"], categories=chosen, ordered=True)
        long = long.sort_values("metric", kind="stable")
        long["metric"] = long["metric"].astype(str)
    long["agent"] = long["agent"].astype(str)
    long["env"] = long["env"].astype(str)
    if "n" not in long.columns:
        long["n"] = long["seeds"] if "seeds" in long.columns else np.nan
    if "kind" not in long.columns:
        long["kind"] = [
            "train" if a.split()[0].split("[")[0].lower() in TRAINERS else "plan" for a in long["agent"]
        ]
    if "level" not in long.columns:
        long["level"] = 0.95
    if "train_env" in long.columns:
        differs = long["train_env"].notna() & (long["train_env"].astype(str) != long["env"])
        short = long["train_env"].astype(str).str.rsplit("/", n=1).str[-1]
        long.loc[differs, "env"] = (
            short[differs] + " → " + long.loc[differs, "env"].str.rsplit("/", n=1).str[-1]
        )
    return long.reset_index(drop=True)


def _default_metrics(available: Sequence[str]) -> list[str]:
    out: list[str] = []
    for pattern in DEFAULT_METRICS:
        if pattern.endswith("*"):
            out += [m for m in available if m.startswith(pattern[:-1]) and m not in out]
        elif pattern in available:
            out.append(pattern)
    return (out or list(available))[:MAX_PANELS]


@dataclass(frozen=True)
class ContrastData:
    """What :func:`contrast_bars` drew.

    Attributes
    ----------
    table : DataFrame
        The checked contrast table, long layout.
    bars : dict of metric to DataFrame
        Per panel, one row per bar: ``env, agent, x, mean, err_low, err_high`` (``err_*`` the error-bar lengths
        ``mean - ci_low`` and ``ci_high - mean``; 0 where the interval is unknown).
    """

    table: pd.DataFrame
    bars: dict[str, pd.DataFrame]


@style.styled
def contrast_bars(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    title: str | None = None,
) -> style.Plot:
    """Bars of each agent's mean with its confidence interval, grouped by env, one panel per metric.

    Parameters
    ----------
    source : path or DataFrame
        A contrast table in either layout documented in this module.
    metrics : sequence of str, optional
        Panels to draw (see :func:`read_contrast`).
    title : str, optional

    Returns
    -------
    Plot with :class:`ContrastData`.
    """
    df = read_contrast(source, metrics=metrics)
    panels = list(dict.fromkeys(df["metric"]))
    agents = list(dict.fromkeys(df["agent"]))
    colours = style.label_colours(agents)
    nrows, ncols = style.panel_grid(len(panels))
    n_env = df["env"].nunique()
    panel_w = min(6.0, max(3.2, 1.0 + 0.5 * len(agents) * n_env))
    fig = style.new_figure(panel_w * ncols + 1.8, 3.4 * nrows + 1.3)
    axes = fig.subplots(nrows, ncols, squeeze=False).reshape(-1)
    bars: dict[str, pd.DataFrame] = {}
    for ax, metric in zip(axes, panels):
        bars[metric] = _panel(ax, df[df["metric"] == metric], agents, colours, metric)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes[: len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside right upper")
    data = ContrastData(df, bars)
    title = title or "Trainers vs planners"
    has_plan = (df["kind"].astype(str) == "plan").any()
    names = sorted({_interval_name(df[df["metric"] == m]) for m in panels})
    caption = (
        f"Each bar is an agent's mean over seeds (error bars: {'; '.join(names)}), per env; n = seeds"
        + (
            "; hatched bars are planners, which maximize reward by search, so where a trainer's bar falls "
            "short of a planner's the trained policy is not pursuing that reward."
            if has_plan
            else "."
        )
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "contrast", title, caption, data)


def _interval_name(sub: pd.DataFrame) -> str:
    """What the error bars of a panel are: a confidence interval only where every bar has at least
    :data:`~rlcredit.plots.style.MIN_CI_SEEDS` seeds, else the range over seeds (as
    :func:`rlcredit.experiments.stats.aggregate` computes them)."""
    level = float(sub["level"].iloc[0]) if "level" in sub.columns and pd.notna(sub["level"].iloc[0]) else 0.95
    n = pd.to_numeric(sub["n"], errors="coerce") if "n" in sub.columns else pd.Series(dtype=float)
    bars = sub[np.isfinite(sub["ci_low"].astype(float)) & np.isfinite(sub["ci_high"].astype(float))]
    n = n[bars.index] if len(n) else n
    if not len(bars):
        return "no interval"
    if len(n) and n.notna().all() and (n >= style.MIN_CI_SEEDS).all():
        return f"{level:.0%} bootstrap CI"
    if len(n) and n.notna().all() and (n < style.MIN_CI_SEEDS).all():
        return "range over seeds"
    return f"{level:.0%} bootstrap CI (≥{style.MIN_CI_SEEDS} seeds) or range"


def _panel(
    ax: Axes, sub: pd.DataFrame, agents: list[str], colours: dict[str, str], metric: str
) -> pd.DataFrame:
    envs = list(dict.fromkeys(sub["env"]))
    here = [a for a in agents if a in set(sub["agent"])]
    width = 0.8 / max(len(here), 1)
    rows = []
    for e_i, env in enumerate(envs):
        for a_i, agent in enumerate(here):
            match = sub[(sub["env"] == env) & (sub["agent"] == agent)]
            if match.empty or not np.isfinite(match["mean"].iloc[0]):
                continue
            r = match.iloc[0]
            x = e_i - 0.4 + width * (a_i + 0.5)
            lo = r["mean"] - r["ci_low"] if np.isfinite(r["ci_low"]) else 0.0
            hi = r["ci_high"] - r["mean"] if np.isfinite(r["ci_high"]) else 0.0
            lo, hi = max(0.0, float(lo)), max(0.0, float(hi))
            rows.append(
                {"env": env, "agent": agent, "x": x, "mean": float(r["mean"]), "err_low": lo, "err_high": hi}
            )
            planner = str(r["kind"]) == "plan"
            ax.bar(
                x,
                r["mean"],
                width * 0.9,
                color=colours[agent],
                alpha=0.45 if planner else 0.9,
                hatch="///" if planner else None,
                edgecolor=colours[agent],
                lw=0.8,
                label=agent,
            )
            if lo or hi:
                ax.errorbar(
                    x, r["mean"], yerr=[[lo], [hi]], color="#222222", capsize=2.5, lw=1.0, capthick=1.0
                )
            n = r.get("n")
            txt = f"{r['mean']:.2g}" + (f"\nn={int(n)}" if n is not None and pd.notna(n) else "")
            ax.annotate(
                txt,
                (x, r["mean"] + hi if r["mean"] >= 0 else r["mean"] - lo),
                xytext=(0, 2 if r["mean"] >= 0 else -2),
                textcoords="offset points",
                ha="center",
                va="bottom" if r["mean"] >= 0 else "top",
                fontsize=6.5,
                color="#333333",
            )
        if metric == "return" and "optimal" in sub.columns:
            opt = sub.loc[sub["env"] == env, "optimal"].astype(float)
            if opt.notna().any():
                ax.hlines(
                    float(opt.dropna().iloc[0]),
                    e_i - 0.45,
                    e_i + 0.45,
                    colors="#111111",
                    linestyles="--",
                    lw=1.1,
                    label="optimal (backward induction)",
                    zorder=3,
                )
    ax.set_xticks(range(len(envs)), [e.rsplit("/", 1)[-1] for e in envs], fontsize=8)
    ax.grid(axis="x", visible=False)
    ax.axhline(0, color="#555555", lw=0.8)
    ax.set_ylabel(f"mean ± {_interval_name(sub)}")
    ax.set_title(metric_info(metric).title)
    finite = sub[["mean", "ci_low", "ci_high"]].to_numpy(np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size:
        top, bottom = float(max(finite.max(), 0.0)), float(min(finite.min(), 0.0))
        span = max(top - bottom, 1e-9)
        ax.set_ylim(bottom - (0.12 * span if bottom < 0 else 0), top + 0.18 * span)
    return pd.DataFrame(rows, columns=["env", "agent", "x", "mean", "err_low", "err_high"])
