"""Credit figures from ``credit/update_*.parquet``: where credit went, and how wrong it was.

- :func:`credit_map`: per (cell, action) over training, the applied gradient weight in return units, the exact
  advantage of the steps taken and the change in π, beside the visitation counts;
- :func:`credit_vs_exact`: sampled credit against the exact advantage ``A^π(s_t, a_t)``, and the
  credit-assignment error ``advantage - exact_advantage`` over updates, for one run or several (REINFORCE vs
  PPO, a GAE λ sweep, seeds pooled per label).

Credit files are read one at a time and only the needed columns, so long runs are fine.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.colors import LinearSegmentedColormap, LogNorm, Normalize, SymLogNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from rlcredit.gridworld.core import Layout
from rlcredit.plots import style
from rlcredit.plots.data import Run, iter_credit, labels_for, open_run, policy_columns, read_shaping
from rlcredit.plots.grid import draw_cells, draw_triangles, kind_legend, require_layout, scalar_mappable

__all__ = [
    "PANELS",
    "PANEL_LABELS",
    "CreditErrorData",
    "CreditMapData",
    "credit_map",
    "credit_sums",
    "credit_vs_exact",
    "has_exact_credit",
    "policy_change_over_training",
    "sign_agreement",
]


PANELS = ("applied", "exact", "dpi")
"""The credit map's signed panels, in drawing order (the fourth panel is the visit counts)."""

PANEL_LABELS = {
    "applied": "Σ_t w_t (1[a_t = a] − π_old(a|s)) over steps in s: the applied weights' push on "
    "logit(a|s); w_t = Σ_epochs (Â_t − minibatch mean)·ratio (0 where clipped), return units",
    "applied_raw": "Σ applied gradient weight w_t = Σ_epochs (Â_t − minibatch mean)·ratio (0 where "
    "clipped) of the steps taking a in s, return units (not centred per state: no policy tables)",
    "exact": "Σ exact advantage A^π_t(s_t, a_t) of the steps taken",
    "dpi": "π_last(a|s) − π_first(a|s), change over training",
}
"""Colour-bar label of each panel: exactly the quantity drawn."""


@dataclass(frozen=True)
class CreditMapData:
    """What :func:`credit_map` drew. Arrays are ``(S, A)`` float64 unless said otherwise.

    Attributes
    ----------
    applied : ndarray (S, A)
        The push of the applied gradient weights on each action's logit, in return units, summed over
        updates: ``sum_t w_t (1[a_t = a] - pi_old(a|s_t))`` over the steps ``t`` in state ``s``, with
        ``w_t`` = ``applied_weight``, the weight of ``grad log pi(a_t|s_t)`` summed over the update's gradient
        steps (PPO ``sum over epochs of (Â_t − minibatch mean) · ratio``, 0 in an epoch where clipped;
        REINFORCE ``G_t − b(s_t)`` minus the batch mean) and ``pi_old`` the
        update's policy from its shaping file. For a tabular softmax this is exactly the gradient the update
        applied to ``logit(a|s)``: positive means ``a`` was reinforced relative to the other actions at
        ``s`` (a network adds generalization between states on top). Without shaping files (or on procedural
        maps) it is the plain sum ``sum_t w_t`` over the steps taking ``a`` in ``s`` (``centred`` False),
        which is not a direction of ``pi``. All NaN when the credit files do not record ``applied_weight``.
    centred : bool
        Whether ``applied`` is the per-state logit push (True) or the plain sum (False).
    exact : ndarray (S, A)
        Sum over the steps taken of the exact finite-horizon advantage ``A^π_t(s_t, a_t)`` of the policy
        that acted. All NaN without an exact model.
    dpi : ndarray (S, A)
        ``π(a|s)`` after the last logged update minus before the first (shaping files; NaN without them or
        on procedural maps, whose shaping files describe different layouts).
    taken : ndarray (S, A) int64
        Steps learned from per state and action.
    visits : ndarray (S,) int64
        Steps learned from per state.
    updates : int
        Credit files read.
    aimed : dict of str to int
        For each object kind, how many steps took an action whose intended move enters a cell of that kind.
    agreement : dict of str to float
        For ``applied`` and ``exact``: the fraction of taken (state, action) pairs with a nonzero sum and
        ``|dpi| > 1e-3`` whose sum has the sign of ``dpi`` (NaN when there are none).
    pairs : int
        The number of (state, action) pairs the agreement is over.
    """

    applied: np.ndarray
    centred: bool
    exact: np.ndarray
    dpi: np.ndarray
    taken: np.ndarray
    visits: np.ndarray
    updates: int
    aimed: dict[str, int]
    agreement: dict[str, float]
    pairs: int


def credit_sums(
    run: Run, num_states: int, num_actions: int = 4
) -> tuple[dict[str, np.ndarray], np.ndarray, int, bool]:
    """Sum the credit-map quantities per (state, action) over all credit files.

    Returns
    -------
    sums : dict
        ``applied`` (the logit push of :class:`CreditMapData`, or the plain sum of ``applied_weight``
        when an update has no shaping file) and ``exact`` (``exact_advantage``), each ``(S, A)``; NaN where
        no taken step had a finite value.
    taken : (S, A) int64
        Number of rows (steps) per (state, action).
    files : int
        Credit files read.
    centred : bool
        Whether every update's ``applied`` was centred by its policy table.

    Rows with an unknown state (-1) or out-of-range indices are left out.
    """
    SA = num_states * num_actions
    tables = set(run.shaping_updates()) if not run.procedural else set()
    centred = True
    push = np.zeros((num_states, num_actions))
    total = {k: np.zeros(SA) for k in ("applied", "exact")}
    finite = {k: np.zeros(SA, dtype=np.int64) for k in total}
    taken = np.zeros(SA, dtype=np.int64)
    files = 0
    cols = ("state", "action", "applied_weight", "exact_advantage")
    for update, df in iter_credit(run, cols):
        files += 1
        s = df["state"].to_numpy(np.int64)
        a = df["action"].to_numpy(np.int64)
        keep = (s >= 0) & (s < num_states) & (a >= 0) & (a < num_actions)
        idx = s[keep] * num_actions + a[keep]
        taken += np.bincount(idx, minlength=SA)
        values = {
            "applied": df["applied_weight"].to_numpy(np.float64)[keep],
            "exact": df["exact_advantage"].to_numpy(np.float64)[keep],
        }
        for k, v in values.items():
            ok = np.isfinite(v)
            total[k] += np.bincount(idx[ok], weights=v[ok], minlength=SA)
            finite[k] += np.bincount(idx[ok], minlength=SA)
        pi_old = _policy_table(run, update, num_states) if update in tables else None
        if pi_old is None:
            centred = False
        else:
            w = values["applied"]
            ok = np.isfinite(w)
            per_state = np.bincount(s[keep][ok], weights=w[ok], minlength=num_states)
            push -= per_state[:, None] * pi_old
    sums = {k: np.where(finite[k] > 0, total[k], np.nan).reshape(num_states, num_actions) for k in total}
    if centred and files:
        # every action of a state with weighted steps is pushed, the ones not taken down by pi_old's share
        weighted = (finite["applied"].reshape(num_states, num_actions).sum(axis=1) > 0)[:, None]
        applied = total["applied"].reshape(num_states, num_actions) + push
        sums["applied"] = np.where(weighted, applied, np.nan)
    return sums, taken.reshape(num_states, num_actions), files, centred


def _policy_table(run: Run, update: int, num_states: int) -> np.ndarray | None:
    """``pi_old`` ``(S, A)`` of an update from its shaping file (None if it does not fit the layout)."""
    pi = policy_columns(read_shaping(run, update), "pi_before")
    return pi if pi.shape[0] == num_states else None


def policy_change_over_training(run: Run, num_states: int) -> np.ndarray | None:
    """``π_last − π_first`` ``(S, A)`` from the first and last shaping files; None without shaping files or
    on a procedural map (its shaping files describe different layouts)."""
    updates = run.shaping_updates()
    if not updates or run.procedural:
        return None
    first = policy_columns(read_shaping(run, updates[0]), "pi_before")
    last = policy_columns(read_shaping(run, updates[-1]), "pi_after")
    if first.shape[0] != num_states or last.shape != first.shape:
        return None
    return last - first


def sign_agreement(
    sums: np.ndarray, dpi: np.ndarray, taken: np.ndarray, *, min_change: float = 1e-3
) -> tuple[float, int]:
    """Fraction of taken (state, action) pairs with a finite nonzero sum and ``|dpi| > min_change`` whose
    sum has the sign of ``dpi``, and the number of such pairs (NaN, 0 when there are none)."""
    m = (taken > 0) & np.isfinite(sums) & (sums != 0) & np.isfinite(dpi) & (np.abs(dpi) > min_change)
    n = int(m.sum())
    return (float(np.mean(np.sign(sums[m]) == np.sign(dpi[m]))) if n else float("nan")), n


@style.styled
def credit_map(run: Run | str | os.PathLike[str]) -> style.Plot:
    """Where credit went over training, in three signed panels and the visit counts.

    (a) the gradient weight each update applied to the actions taken, in return units; (b) the exact
    advantage of those steps; (c) how the policy's probability of each action changed from the first to
    the last logged update; (d) visits. Red is positive (reinforced / good / rose) in every signed panel.
    The normalized ``credit`` column is deliberately not summed: after convergence normalization turns
    near-zero advantages into unit-sized noise whose sum can have either sign.

    Returns
    -------
    Plot with :class:`CreditMapData`.
    """
    run = open_run(run)
    layout = require_layout(run)
    if not run.credit_files():
        raise FileNotFoundError(f"no credit files in {run.path / 'credit'}")
    S = layout.num_states
    sums, taken, files, centred = credit_sums(run, S, 4)
    change = policy_change_over_training(run, S)
    dpi = np.full((S, 4), np.nan) if change is None else change
    visits = taken.sum(axis=1)
    aimed = {name: int(taken[layout.event == k].sum()) for k, name in enumerate(layout.kinds)}
    agreement, pairs = {}, 0
    for k in ("applied", "exact"):
        agreement[k], n = sign_agreement(sums[k], dpi, taken)
        pairs = max(pairs, n)
    data = CreditMapData(
        sums["applied"], centred, sums["exact"], dpi, taken, visits, files, aimed, agreement, pairs
    )

    H, W = layout.shape
    # Drawn per cell: on a map with objects the states on one cell (its object configurations) are summed
    # (credit, advantage, visits) or averaged weighted by steps (change in pi). Without objects a cell is a state.
    live = layout.live
    cells = np.unique(layout.cell[live])
    first = np.full(H * W, -1, dtype=np.int64)
    first[layout.cell[live][::-1]] = np.flatnonzero(live)[::-1]
    active = first[cells]  # one live state per drawn cell (it gives the cell's coordinates)
    # steps per state, plus a little so that a cell no step visited still gets the plain mean of its states
    weights = taken.sum(axis=1) + 1e-6
    drawn = {
        "applied": _cellwise(layout, data.applied, "sum"),
        "exact": _cellwise(layout, data.exact, "sum"),
        "dpi": _cellwise(layout, np.where(live[:, None], data.dpi, np.nan), "mean", weights),
    }
    cell_visits = np.nan_to_num(layout.per_cell(np.where(live | layout.terminal, visits, 0.0), "sum"))
    panel_w = max(2.6, min(4.2, 0.4 * W))
    fig = style.new_figure(2 * panel_w + 2.2, 2 * (panel_w * H / W) + 3.2)
    axes = fig.subplots(2, 2).reshape(-1)
    missing = {
        "applied": "not recorded (credit files without applied_weight)",
        "exact": "no exact model",
        "dpi": "no shaping files" if not run.procedural else "procedural map: layouts differ per update",
    }
    for i, (ax, key) in enumerate(zip(axes[:3], PANELS)):
        v = drawn[key][cells]
        draw_cells(ax, layout, floor=np.ones((H, W, 3)), neutral_objects=True)
        letter = "abc"[i]
        if not np.isfinite(v).any():
            ax.set_title(f"({letter}) {missing[key]}", fontsize=8)
            continue
        shown = np.where(np.isfinite(v), v, 0.0)
        m = float(np.abs(shown).max()) or 1.0
        norm = SymLogNorm(linthresh=m / 100, vmin=-m, vmax=m, base=10) if key != "dpi" else Normalize(-m, m)
        pc = draw_triangles(ax, layout, active, shown, cmap=style.DIVERGING, norm=norm, edge="#dddddd")
        pc.set_rasterized(len(active) > 400)
        scale = " (symmetric log scale)" if key != "dpi" else ""
        label = PANEL_LABELS["applied_raw" if key == "applied" and not centred else key]
        cb = fig.colorbar(pc, ax=ax, shrink=0.7, label=_wrap(label + scale, 48))
        if isinstance(norm, SymLogNorm):
            cb.set_ticks(symlog_ticks(m, norm.linthresh))
            cb.ax.yaxis.set_minor_locator(NullLocator())
        ax.set_title(f"({letter}) {TITLES[key]}")
    ax_v = axes[3]
    vnorm = LogNorm(vmin=1, vmax=max(2, int(cell_visits.max())))
    floor = np.where(
        (cell_visits > 0).reshape(H, W)[..., None],
        style.COUNTS(vnorm(np.maximum(cell_visits, 1)).reshape(H, W))[..., :3],
        1.0,
    )
    draw_cells(ax_v, layout, floor=floor)
    fig.colorbar(
        scalar_mappable(style.COUNTS, vnorm), ax=ax_v, shrink=0.7, label="steps learned from (log scale)"
    )
    ax_v.set_title("(d) visits")
    kind_legend(axes[0], layout, ncol=3, start=False, neutral_objects=True)
    kind_legend(
        ax_v,
        layout,
        extra=[Patch(facecolor="white", edgecolor="#999999", lw=0.5, label="never visited")],
        ncol=3,
        start=False,
    )
    title = f"{run.algo} on {run.env_name()}: where credit went, {files} updates"
    aimed_txt = "; ".join(f"actions aimed into {k}: {n:,}" for k, n in aimed.items())
    pooled = (
        " Steps of every layout of this procedural map are pooled and drawn on one of them."
        if run.procedural
        else ""
    )
    agree = [
        f"{name} {agreement[k]:.0%}"
        for k, name in (("applied", "(a)"), ("exact", "(b)"))
        if np.isfinite(agreement[k])
    ]
    agree_txt = (
        f" The sign of {' and '.join(agree)} agrees with the direction π moved on {pairs:,} state-action pairs."
        if agree
        else ""
    )
    never = int(np.sum(cell_visits[cells] == 0))
    on_map = [name for k, name in enumerate(layout.kinds) if (layout.kind == k).any()]
    meaning = (
        "(a) the update's gradient pushed the action's logit up relative to the other actions there"
        if centred
        else "(a) positive summed gradient weight (not centred per state: no policy tables)"
    )
    caption = (
        f"Each cell's four triangles show one quantity per action; red is positive: {meaning}, (b) the "
        f"steps taking it were better than the policy's average, (c) its probability rose. An action never "
        f"taken got no credit of its own ({aimed_txt}); {never} of {len(active)} open cells were never "
        f"visited.{agree_txt}{pooled}"
        + (
            f" In (a)-(c) the object cells ({', '.join(on_map)}) are hatched grey, off the colour scale."
            if on_map
            else ""
        )
        + (
            " Cells sum the states of their object configurations (change in π: their step-weighted mean)."
            if layout.has_objects
            else ""
        )
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "credit_map", title, caption, data)


def symlog_ticks(vmax: float, linthresh: float, *, per_side: int = 2) -> list[float]:
    """Colour-bar ticks of a symmetric-log scale on ``[-vmax, vmax]``: 0 and at most ``per_side`` powers of ten
    on each side, all at least ten times ``linthresh`` (ticks inside or at the edge of the linear range sit
    too close to 0 and to each other to be read)."""
    if vmax <= 0:
        return [0.0]
    top = int(np.floor(np.log10(vmax)))
    low = int(np.ceil(np.log10(linthresh * 10)))
    ks = list(range(top, low - 1, -1))[:per_side] if top >= low else []
    pos = sorted(10.0**k for k in ks)
    return [-p for p in reversed(pos)] + [0.0] + pos


def _cellwise(
    layout: Layout, values: np.ndarray, reduce: str, weights: np.ndarray | None = None
) -> np.ndarray:
    """``(H * W, A)`` per-cell aggregate of ``(S, A)`` per-state values (NaN where no state has a value)."""
    has = np.isfinite(values)
    out = []
    for a in range(values.shape[1]):
        col = layout.per_cell(np.where(has[:, a], values[:, a], 0.0), reduce, weights)
        seen = layout.per_cell(has[:, a].astype(np.float64), "sum")
        out.append(np.where(seen > 0, col, np.nan))
    return np.stack(out, axis=1)


TITLES = {"applied": "applied credit", "exact": "exact advantage", "dpi": "change in π"}


def _wrap(text: str, width: int = 42) -> str:
    return textwrap.fill(text, width)


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
        ``n`` (steps with an exact advantage), pooled over the label's runs; ``mae_boot``, ``bias_boot`` and
        ``n_boot`` likewise against ``exact_advantage_boot`` (NaN / 0 where it was not recorded).
    per_step : dict of label to dict
        Over every step of the label's runs: ``mae`` and ``mae_boot``, the mean absolute error per step
        against the finite-horizon target ``A^pi_t`` and the stationary bootstrap target, and their step
        counts ``n``, ``n_boot``. The caption compares these.
    """

    y: str
    labels: list[str]
    points: dict[str, tuple[np.ndarray, np.ndarray]]
    error: dict[str, pd.DataFrame]
    per_step: dict[str, dict[str, float]]


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


def _collect(
    runs: Sequence[Run], y: str, max_points: int, rng: np.random.Generator
) -> tuple[tuple[np.ndarray, np.ndarray], pd.DataFrame, dict[str, float]]:
    total_rows = sum(pq.ParquetFile(p).metadata.num_rows for r in runs for _, p in r.credit_files())
    keep_frac = min(1.0, max_points / max(total_rows, 1))
    xs, ys, parts = [], [], []
    cols = ["update", "advantage", "exact_advantage", "exact_advantage_boot"] + (
        [y] if y not in ("advantage",) else []
    )
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
            boot = df["exact_advantage_boot"].to_numpy(np.float64)
            ok_b = np.isfinite(boot) & np.isfinite(adv)
            err_b = adv[ok_b] - boot[ok_b]
            parts.append(
                (
                    update,
                    float(to_step.get(update, np.nan)),
                    float(np.abs(err).sum()),
                    float(err.sum()),
                    int(ok.sum()),
                    float(np.abs(err_b).sum()),
                    float(err_b.sum()),
                    int(ok_b.sum()),
                )
            )
            yv = df[y].to_numpy(np.float64)
            ok_y = np.isfinite(exact) & np.isfinite(yv)
            sel = np.flatnonzero(ok_y)
            if keep_frac < 1.0:
                sel = sel[rng.random(len(sel)) < keep_frac]
            xs.append(exact[sel])
            ys.append(yv[sel])
    cols_out = ["update", "global_step", "mae", "bias", "n", "mae_boot", "bias_boot", "n_boot"]
    per_step = {"mae": np.nan, "mae_boot": np.nan, "n": 0, "n_boot": 0}
    if parts:
        raw = pd.DataFrame(parts, columns=["update", "step", "abs", "sum", "n", "abs_b", "sum_b", "n_b"])
        per = raw.groupby("update", as_index=False).agg(
            step=("step", "mean"),
            abs=("abs", "sum"),
            sum=("sum", "sum"),
            n=("n", "sum"),
            abs_b=("abs_b", "sum"),
            sum_b=("sum_b", "sum"),
            n_b=("n_b", "sum"),
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            err_df = pd.DataFrame(
                {
                    "update": per["update"].to_numpy(),
                    "global_step": per["step"].to_numpy(),
                    "mae": per["abs"] / per["n"],
                    "bias": per["sum"] / per["n"],
                    "n": per["n"].to_numpy(),
                    "mae_boot": np.where(per["n_b"] > 0, per["abs_b"] / per["n_b"].clip(lower=1), np.nan),
                    "bias_boot": np.where(per["n_b"] > 0, per["sum_b"] / per["n_b"].clip(lower=1), np.nan),
                    "n_boot": per["n_b"].to_numpy(),
                }
            )
        n, n_b = int(raw["n"].sum()), int(raw["n_b"].sum())
        per_step = {
            "mae": float(raw["abs"].sum() / n) if n else np.nan,
            "mae_boot": float(raw["abs_b"].sum() / n_b) if n_b else np.nan,
            "n": n,
            "n_boot": n_b,
        }
    else:
        err_df = pd.DataFrame({c: [] for c in cols_out})
    x = np.concatenate(xs) if xs else np.zeros(0)
    yy = np.concatenate(ys) if ys else np.zeros(0)
    return (x, yy), err_df, per_step


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
    given = [runs] if isinstance(runs, Run | str | os.PathLike) else list(runs)
    opened = [open_run(r) for r in given]
    if y not in ("advantage", "credit"):
        raise ValueError(f"y must be 'advantage' or 'credit', got {y!r}")
    if not any(r.credit_files() for r in opened):
        raise FileNotFoundError(f"no credit files in {', '.join(str(r.path / 'credit') for r in opened)}")
    labels = labels_for(opened)
    order = style.order_labels(labels[r.path] for r in opened)
    rng = np.random.default_rng(seed)
    points, error, per_step = {}, {}, {}
    for lab in order:
        members = [r for r in opened if labels[r.path] == lab]
        points[lab], error[lab], per_step[lab] = _collect(members, y, max_points, rng)
    order = [lab for lab in order if len(error[lab])]
    if not order:
        raise ValueError("no credit rows with a finite exact_advantage (opened without an exact model)")
    data = CreditErrorData(
        y, order, {k: points[k] for k in order}, {k: error[k] for k in order}, {k: per_step[k] for k in order}
    )
    colours = style.label_colours(order)

    n = len(order)
    ncols = min(n, 4)
    nrows = -(-n // ncols)  # scatter panels: up to four in a row
    fig = style.new_figure(max(7.5, 3.0 * ncols), 2.8 * nrows + 3.2)
    top, bottom = np.asarray(fig.subfigures(2, 1, height_ratios=[2.8 * nrows, 2.9])).ravel()
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
        ax.set_xlabel("exact advantage A^π_t(s, a), finite horizon")

    # a third, empty column holds the key: one entry per configuration (colour) and one per target (line
    # style), beside the panels rather than over their curves
    ax_mae, ax_bias, ax_key = bottom.subplots(1, 3, gridspec_kw={"width_ratios": [1.0, 1.0, 0.55]})
    ax_bias.sharex(ax_mae)
    by_step = all(np.isfinite(error[lab]["global_step"]).all() for lab in order)
    xcol = "global_step" if by_step else "update"
    has_boot = any(per_step[lab]["n_boot"] > 0 for lab in order)
    for lab in order:
        e = error[lab]
        ax_mae.plot(e[xcol], e["mae"], color=colours[lab])
        ax_bias.plot(e[xcol], e["bias"], color=colours[lab])
        if per_step[lab]["n_boot"] > 0:
            ax_mae.plot(e[xcol], e["mae_boot"], color=colours[lab], ls="--")
            ax_bias.plot(e[xcol], e["bias_boot"], color=colours[lab], ls="--")
    ax_bias.axhline(0, color="#555555", lw=0.8)
    ax_mae.set_ylim(bottom=0)
    ax_mae.set_title("mean |Â − exact advantage| per step")
    ax_bias.set_title("bias: mean (Â − A)")
    for ax in (ax_mae, ax_bias):
        style.steps_axis(ax, "environment steps" if by_step else "update")
    key = [Line2D([], [], color=colours[lab], lw=1.6, label=lab) for lab in order]
    key.append(Line2D([], [], color="#555555", lw=1.2, label="solid: Â − A^π_t (finite horizon)"))
    if has_boot:
        key.append(
            Line2D([], [], color="#555555", lw=1.2, ls="--", label="dashed: Â − A^π (bootstrap target)")
        )
    ax_key.axis("off")
    ax_key.legend(handles=key, loc="center left", frameon=False, fontsize=7.5, borderaxespad=0.0)
    names = " vs ".join(order) if n <= 3 else f"{n} configurations"
    title = f"Sampled vs exact credit: {names} on {opened[0].env_name()}"
    diag = " (on the dashed diagonal the estimate is exact)" if y == "advantage" else ""
    finite = ", ".join(f"{lab} {per_step[lab]['mae']:.3g}" for lab in order)
    worst = max(order, key=lambda k: per_step[k]["mae"])
    boot_txt = ""
    if has_boot:
        boot = ", ".join(
            f"{lab} {per_step[lab]['mae_boot']:.3g}" for lab in order if per_step[lab]["n_boot"] > 0
        )
        boot_txt = (
            f"; against the stationary bootstrap-at-truncation A^π (dashed: what a critic that cannot see "
            f"the time converges to): {boot}"
        )
    seen = {lab: [bool(r.trainer_config.get("time_feature", False)) for r in opened if labels[r.path] == lab]
            for lab in order}  # fmt: skip
    monte_carlo = [
        lab for lab in order if all(r.algo == "reinforce" for r in opened if labels[r.path] == lab)
    ]
    timed = [lab for lab in order if any(seen[lab]) and lab not in monte_carlo]
    untimed = [lab for lab in order if not any(seen[lab]) and lab not in monte_carlo]
    target = []
    if monte_carlo:
        target.append(
            f"{', '.join(monte_carlo)}: Monte Carlo returns to the episode's end, nothing bootstrapped, so A^π_t is "
            "its target"
        )
    if timed:
        target.append(f"{', '.join(timed)}: the critic sees the remaining time, so A^π_t is its target")
    if untimed and has_boot:
        target.append(
            f"{', '.join(untimed)}: the critic cannot see the time, so the bootstrap A^π is its target"
        )
    caption = (
        f"Each step's sampled {y} against the finite-horizon exact advantage A^π_t of the policy that took "
        f"it{diag}; below, per update, the mean absolute error and bias of the advantage estimate. Mean "
        f"|Â − A^π_t| per step: {finite} (largest: {worst}){boot_txt}."
        + (f" Which target each estimator has: {'; '.join(target)}." if target else "")
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
