"""Credit figures from ``credit/update_*.parquet``: where credit went, and how wrong it was.

- :func:`credit_map`: total credit per (cell, action) over training beside the visitation counts;
- :func:`credit_vs_exact`: sampled credit against the exact advantage ``A^π(s_t, a_t)``, and the
  credit-assignment error ``advantage - exact_advantage`` over updates, for one run or several (REINFORCE vs
  PPO, a GAE λ sweep, seeds pooled per label).

Credit files are read one at a time and only the needed columns, so long runs are fine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.colors import LinearSegmentedColormap, LogNorm, SymLogNorm
from matplotlib.patches import Patch

from rlcredit.plots import style
from rlcredit.plots.data import Run, iter_credit, labels_for, open_run
from rlcredit.plots.grid import draw_cells, draw_triangles, kind_legend, require_layout, scalar_mappable

__all__ = ["CreditErrorData", "CreditMapData", "credit_map", "credit_vs_exact", "has_exact_credit"]


@dataclass(frozen=True)
class CreditMapData:
    """What :func:`credit_map` drew.

    Attributes
    ----------
    total : (S, A) float64
        Sum of the ``value`` column over every credit row with that state and action.
    visits : (S,) int64
        Number of credit rows (env steps learned from) in each state.
    value : str
        The credit column summed (``"credit"`` or ``"advantage"``).
    updates : int
        Number of credit files read.
    aimed : dict of str to int
        For each object kind, how many steps took an action whose intended move enters a cell of that kind.
    """

    total: np.ndarray
    visits: np.ndarray
    value: str
    updates: int
    aimed: dict[str, int]


def credit_totals(
    run: Run, num_states: int, num_actions: int = 4, *, value: str = "credit"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Sum a credit column over all credit files.

    Returns
    -------
    total : (S, A) float64
        Sum of ``value`` per (state, action); NaN values count as 0.
    taken : (S, A) int64
        Number of rows (steps) per (state, action).
    files : int
        Credit files read.

    Rows with an unknown state (-1) or out-of-range indices are left out.
    """
    SA = num_states * num_actions
    total = np.zeros(SA)
    taken = np.zeros(SA, dtype=np.int64)
    files = 0
    for _, df in iter_credit(run, ("state", "action", value)):
        files += 1
        s = df["state"].to_numpy(np.int64)
        a = df["action"].to_numpy(np.int64)
        keep = (s >= 0) & (s < num_states) & (a >= 0) & (a < num_actions)
        idx = s[keep] * num_actions + a[keep]
        total += np.bincount(idx, weights=np.nan_to_num(df[value].to_numpy(np.float64)[keep]), minlength=SA)
        taken += np.bincount(idx, minlength=SA)
    return total.reshape(num_states, num_actions), taken.reshape(num_states, num_actions), files


@style.styled
def credit_map(run: Run | str | os.PathLike[str], *, value: str = "credit") -> style.Plot:
    """Total credit per cell and action over training, beside how often each cell was visited.

    Parameters
    ----------
    value : str
        Credit column to sum: ``"credit"`` (what multiplied ∇log π in the update) or ``"advantage"``.

    Returns
    -------
    Plot with :class:`CreditMapData`.
    """
    run = open_run(run)
    layout = require_layout(run)
    if not run.credit_files():
        raise FileNotFoundError(f"no credit files in {run.path / 'credit'}")
    S = layout.num_states
    total, taken, files = credit_totals(run, S, 4, value=value)
    visits = taken.sum(axis=1)
    aimed = {name: int(taken[layout.event == k].sum()) for k, name in enumerate(layout.kinds)}
    data = CreditMapData(total, visits, value, files, aimed)

    H, W = layout.shape
    active = np.flatnonzero(~layout.wall & ~layout.terminal)
    panel_w = max(2.8, min(4.5, 0.4 * W))
    fig = style.new_figure(2 * panel_w + 1.6, panel_w * H / W + 1.8)
    ax_c, ax_v = fig.subplots(1, 2)
    m = float(np.abs(total).max()) or 1.0
    norm = SymLogNorm(linthresh=m / 100, vmin=-m, vmax=m, base=10)
    draw_cells(ax_c, layout, floor=np.ones((H, W, 3)))
    pc = draw_triangles(ax_c, layout, active, total[active], cmap=style.DIVERGING, norm=norm, edge="#dddddd")
    pc.set_rasterized(len(active) > 400)
    fig.colorbar(pc, ax=ax_c, shrink=0.7, label=f"Σ {value} (symmetric log scale)")
    ax_c.set_title(f"(a) total {value} per action, {files} updates")

    vnorm = LogNorm(vmin=1, vmax=max(2, int(visits.max())))
    floor = np.where(
        (visits > 0).reshape(H, W)[..., None],
        style.COUNTS(vnorm(np.maximum(visits, 1)).reshape(H, W))[..., :3],
        1.0,
    )
    draw_cells(ax_v, layout, floor=floor)
    fig.colorbar(
        scalar_mappable(style.COUNTS, vnorm), ax=ax_v, shrink=0.7, label="steps learned from (log scale)"
    )
    ax_v.set_title("(b) visits")
    kind_legend(ax_c, layout, ncol=3, start=False)
    kind_legend(
        ax_v,
        layout,
        extra=[Patch(facecolor="white", edgecolor="#999999", lw=0.5, label="never visited")],
        ncol=3,
        start=False,
    )
    title = f"{run.algo} on {run.env_name()}: where credit went"
    aimed_txt = "; ".join(f"actions aimed into {k}: {n:,}" for k, n in aimed.items())
    pooled = (
        " Steps of every layout of this procedural map are pooled and drawn on one of them."
        if run.procedural
        else ""
    )
    caption = (
        f"Each cell's four triangles sum the {value} its actions received (red reinforced, blue "
        f"discouraged); an action that was never taken got no credit at all ({aimed_txt}).{pooled}"
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "credit_map", title, caption, data)


# --------------------------------------------------------------------------------------- sampled vs exact


@dataclass(frozen=True)
class CreditErrorData:
    """What :func:`credit_vs_exact` drew.

    Attributes
    ----------
    y : str
        The sampled column on the scatter's y axis (``"advantage"`` or ``"credit"``).
    labels : list of str
        One per group of runs (seeds pooled), in drawing order.
    points : dict of label to (x, y)
        The scattered points: ``exact_advantage`` and ``y`` (a uniform subsample when there are more than
        ``max_points``).
    error : dict of label to DataFrame
        Per update: ``update``, ``global_step`` (from ``metrics.csv``, mean over the label's runs; NaN when
        not logged), ``mae`` (mean ``|advantage - exact_advantage|``), ``bias`` (mean of the difference) and
        ``n`` (steps with an exact advantage), pooled over the label's runs.
    """

    y: str
    labels: list[str]
    points: dict[str, tuple[np.ndarray, np.ndarray]]
    error: dict[str, pd.DataFrame]


def has_exact_credit(run: Run) -> bool:
    """Whether the run's first credit file has a finite ``exact_advantage`` anywhere."""
    files = run.credit_files()
    if not files:
        return False
    try:
        col = pq.read_table(files[0][1], columns=["exact_advantage"]).column(0).to_numpy()
    except (KeyError, ValueError):
        return False
    return bool(np.isfinite(col.astype(np.float64)).any())


def _collect(runs: Sequence[Run], y: str, max_points: int, rng: np.random.Generator):
    total_rows = sum(pq.ParquetFile(p).metadata.num_rows for r in runs for _, p in r.credit_files())
    keep_frac = min(1.0, max_points / max(total_rows, 1))
    xs, ys, parts = [], [], []
    cols = ["update", "advantage", "exact_advantage"] + ([y] if y not in ("advantage",) else [])
    for run in runs:
        m = run.metrics
        to_step = {}
        if {"update", "global_step"} <= set(m.columns):
            to_step = dict(
                zip(
                    pd.to_numeric(m["update"], errors="coerce"),
                    pd.to_numeric(m["global_step"], errors="coerce"),
                )
            )
        for update, df in iter_credit(run, cols):
            exact = df["exact_advantage"].to_numpy(np.float64)
            adv = df["advantage"].to_numpy(np.float64)
            ok = np.isfinite(exact) & np.isfinite(adv)
            if not ok.any():
                continue
            err = adv[ok] - exact[ok]
            parts.append(
                (
                    update,
                    float(to_step.get(update, np.nan)),
                    float(np.abs(err).sum()),
                    float(err.sum()),
                    int(ok.sum()),
                )
            )
            yv = df[y].to_numpy(np.float64)
            ok_y = np.isfinite(exact) & np.isfinite(yv)
            sel = np.flatnonzero(ok_y)
            if keep_frac < 1.0:
                sel = sel[rng.random(len(sel)) < keep_frac]
            xs.append(exact[sel])
            ys.append(yv[sel])
    if parts:
        raw = pd.DataFrame(parts, columns=["update", "step", "abs", "sum", "n"])
        per = raw.groupby("update", as_index=False).agg(
            step=("step", "mean"), abs=("abs", "sum"), sum=("sum", "sum"), n=("n", "sum")
        )
        err_df = pd.DataFrame(
            {
                "update": per["update"].to_numpy(),
                "global_step": per["step"].to_numpy(),
                "mae": per["abs"] / per["n"],
                "bias": per["sum"] / per["n"],
                "n": per["n"].to_numpy(),
            }
        )
    else:
        err_df = pd.DataFrame({"update": [], "global_step": [], "mae": [], "bias": [], "n": []})
    x = np.concatenate(xs) if xs else np.zeros(0)
    yy = np.concatenate(ys) if ys else np.zeros(0)
    return (x, yy), err_df


@style.styled
def credit_vs_exact(
    runs: Run | str | os.PathLike[str] | Sequence[Run | str | os.PathLike[str]],
    *,
    y: str = "advantage",
    max_points: int = 100_000,
    hexbin_above: int = 3000,
    seed: int = 0,
) -> style.Plot:
    """Sampled credit against the exact advantage, and the credit-assignment error over updates.

    Parameters
    ----------
    runs : run or sequence of runs
        Several runs are grouped by :func:`~rlcredit.plots.data.labels_for` (algo + differing config values,
        e.g. ``"ppo λ=0.9"``); seeds of one label are pooled.
    y : str
        ``"advantage"`` (the trainer's estimate, same units as the exact advantage; a y = x line marks no
        error) or ``"credit"`` (what multiplied ∇log π: normalized, ratio-weighted, 0 where clipped).
    max_points : int
        Scatter points per label (a uniform subsample beyond that; the error curves use every step).
    hexbin_above : int
        Draw a hexbin density instead of points above this many points.
    seed : int
        Seed of the subsample.

    Returns
    -------
    Plot with :class:`CreditErrorData`.
    """
    if isinstance(runs, Run | str | os.PathLike):
        runs = [runs]
    runs = [open_run(r) for r in runs]
    if y not in ("advantage", "credit"):
        raise ValueError(f"y must be 'advantage' or 'credit', got {y!r}")
    if not any(r.credit_files() for r in runs):
        raise FileNotFoundError(f"no credit files in {', '.join(str(r.path / 'credit') for r in runs)}")
    labels = labels_for(runs)
    order = style.order_labels(labels[r.path] for r in runs)
    rng = np.random.default_rng(seed)
    points, error = {}, {}
    for lab in order:
        members = [r for r in runs if labels[r.path] == lab]
        points[lab], error[lab] = _collect(members, y, max_points, rng)
    order = [lab for lab in order if len(error[lab])]
    if not order:
        raise ValueError("no credit rows with a finite exact_advantage (runs without an exact model)")
    data = CreditErrorData(y, order, {k: points[k] for k in order}, {k: error[k] for k in order})
    colours = style.label_colours(order)

    n = len(order)
    ncols = min(n, 4)
    nrows = -(-n // ncols)  # scatter panels: up to four in a row
    fig = style.new_figure(max(7.5, 3.0 * ncols), 2.8 * nrows + 3.2)
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.8 * nrows, 2.9])
    sc_axes = np.atleast_1d(top.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).reshape(-1)
    allx = np.concatenate([points[k][0] for k in order])
    ally = np.concatenate([points[k][1] for k in order])
    lim_x = _limits(allx)
    lim_y = (
        _limits(ally) if y == "credit" else (min(lim_x[0], _limits(ally)[0]), max(lim_x[1], _limits(ally)[1]))
    )
    for ax, lab in zip(sc_axes, order):
        px, py = points[lab]
        c = colours[lab]
        if len(px) > hexbin_above:
            cmap = LinearSegmentedColormap.from_list("one", ["#f4f4f4", c])
            hb = ax.hexbin(
                px, py, gridsize=45, bins="log", mincnt=1, cmap=cmap, linewidths=0.0, extent=(*lim_x, *lim_y)
            )
            hb.set_rasterized(True)
        else:
            ax.scatter(px, py, s=5, alpha=0.5, color=c, linewidths=0)
        ax.axhline(0, color="#999999", lw=0.6)
        ax.axvline(0, color="#999999", lw=0.6)
        if y == "advantage":
            lo, hi = max(lim_x[0], lim_y[0]), min(lim_x[1], lim_y[1])
            ax.plot([lo, hi], [lo, hi], color="#333333", ls="--", lw=0.8, label="no error")
        r = np.corrcoef(px, py)[0, 1] if len(px) > 2 and np.std(px) > 0 and np.std(py) > 0 else float("nan")
        ax.set_title(f"{lab}\n(r = {r:.2f}, {len(px):,} steps shown)", fontsize=9)
        ax.set_xlim(*lim_x)
        ax.set_ylim(*lim_y)
    for ax in sc_axes[n:]:
        ax.set_visible(False)
    for ax in sc_axes.reshape(nrows, ncols)[:, 0]:
        ax.set_ylabel(f"sampled {y}")
    for ax in sc_axes.reshape(nrows, ncols)[-1]:
        ax.set_xlabel("exact advantage A^π(s, a)")

    ax_mae, ax_bias = bottom.subplots(1, 2, sharex=True)
    by_step = all(np.isfinite(error[lab]["global_step"]).all() for lab in order)
    xcol = "global_step" if by_step else "update"
    for lab in order:
        e = error[lab]
        ax_mae.plot(e[xcol], e["mae"], color=colours[lab], label=lab)
        ax_bias.plot(e[xcol], e["bias"], color=colours[lab], label=lab)
    ax_bias.axhline(0, color="#555555", lw=0.8)
    ax_mae.set_ylim(bottom=0)
    ax_mae.set_title("credit-assignment error: mean |Â − A|")
    ax_bias.set_title("bias: mean (Â − A)")
    for ax in (ax_mae, ax_bias):
        style.steps_axis(ax, "environment steps" if by_step else "update")
    ax_mae.legend(loc="best")
    names = " vs ".join(order) if n <= 3 else f"{n} configurations"
    title = f"Sampled vs exact credit: {names} on {runs[0].env_name()}"
    worst = max(order, key=lambda k: float(error[k]["mae"].mean()))
    diag = " (on the dashed diagonal the estimate is exact)" if y == "advantage" else ""
    caption = (
        f"Each step's sampled {y} against the exact advantage of the policy that took it{diag}; below, "
        f"the mean absolute error and bias of the advantage per update (largest on average: {worst})."
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "credit_vs_exact", title, caption, data)


def _limits(v: np.ndarray) -> tuple[float, float]:
    v = v[np.isfinite(v)]
    if not v.size:
        return (-1.0, 1.0)
    lo, hi = np.quantile(v, [0.001, 0.999])
    pad = 0.05 * max(hi - lo, 1e-6)
    return float(lo - pad), float(hi + pad)
