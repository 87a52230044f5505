"""Figures of a steering sweep: the policy's vector field before and after steering, and P(cheese) against alpha.

Drawn with the shared grid primitives of :mod:`rlcredit.plots.grid` (cells, action triangles, arrows) and the
shared style (:mod:`rlcredit.plots.style`); each function returns a :class:`~rlcredit.plots.style.Plot` whose
``save(out_dir)`` writes PNG and SVG and records the caption.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from rlcredit.experiments.stats import bootstrap_ci
from rlcredit.gridworld.core import Layout
from rlcredit.plots import style
from rlcredit.plots.grid import (
    ACTION_DX,
    ACTION_DY,
    draw_cells,
    draw_triangles,
    kind_legend,
    quiver,
)
from rlcredit.steering.behaviour import MazeBehaviour
from rlcredit.steering.experiment import SteeringResult

__all__ = ["AlphaEffectData", "FieldData", "alpha_effect", "steering_field"]

COLOURS = {"own": "#0072B2", "pooled": "#56B4E9", "removed": "#7F7F7F", "bi": style.AGENT_COLOURS["bi"]}
LABELS = {
    "own": "steered by the maze's\nown cheese vector",
    "pooled": "steered by the other\nmazes' mean cheese vector",
    "removed": "cheese removed from\nthe observation",
    "bi": "backward induction\n(planner)",
}


def _marks(ax: Axes, layout: Layout, corner: int, decision: int) -> None:
    W = layout.shape[1]
    r, c = divmod(corner, W)
    ax.scatter([c], [r], marker="*", s=70, color="#222222", zorder=4, linewidths=0)
    if decision >= 0:
        r, c = divmod(decision, W)
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="#D55E00", lw=1.6, zorder=4))


@dataclass(frozen=True)
class FieldData:
    """What :func:`steering_field` drew.

    Attributes
    ----------
    states : (n,) int
        Cells with arrows (not walls, not terminal).
    before, after : (S, A) float64
        Action probabilities unsteered / steered.
    delta : (S, A) float64
        ``after - before``.
    net_delta : (n, 2) float64
        Change of the expected move ``sum_a pi(a|s) (dx_a, dy_a)`` at ``states`` (x right, y down).
    """

    states: np.ndarray
    before: np.ndarray
    after: np.ndarray
    delta: np.ndarray
    net_delta: np.ndarray


@style.styled
def steering_field(
    layout: Layout,
    before: np.ndarray,
    after: np.ndarray,
    *,
    alpha: float,
    layer: str,
    stats_before: MazeBehaviour,
    stats_after: MazeBehaviour,
    layout_seed: int | None = None,
    name: str = "steering_field",
) -> style.Plot:
    """The policy on one maze without and with steering, and the difference.

    Parameters
    ----------
    layout : the maze
    before, after : (S, A) action probabilities unsteered and steered by ``alpha`` times the cheese vector
    stats_before, stats_after : exact behaviour of the two (for the panel titles and the caption)
    """
    states = np.flatnonzero(~layout.wall & ~layout.terminal)
    delta = after - before
    net = np.stack([delta[states] @ ACTION_DX, delta[states] @ ACTION_DY], axis=1)
    data = FieldData(states, before, after, delta, net)

    H, W = layout.shape
    panel = max(2.6, min(4.0, 0.34 * W))
    fig = style.new_figure(3 * panel + 0.9, panel * H / W + 1.7)
    axes = fig.subplots(1, 3)
    for ax, probs, st, title in (
        (axes[0], before, stats_before, "(a) unsteered"),
        (axes[1], after, stats_after, f"(b) steered, α = {alpha:g}"),
    ):
        draw_cells(ax, layout)
        quiver(ax, layout, states, probs[states], style.AGENT_COLOURS["ppo"], width=0.011, dots=False)
        _marks(ax, layout, stats_before.corner, stats_before.decision)
        ax.set_title(f"{title}\nP(cheese) {st.p_cheese:.2f}, P(corner) {st.p_corner:.2f}")
    draw_cells(axes[2], layout)
    norm = style.signed_norm(delta[states])
    pc = draw_triangles(axes[2], layout, states, delta[states], cmap=style.DIVERGING, norm=norm)
    r, c = layout.coords(states)
    axes[2].quiver(
        c.astype(float),
        r.astype(float),
        net[:, 0] * 0.45,
        net[:, 1] * 0.45,
        angles="xy",
        scale_units="xy",
        scale=1.0,
        color="#111111",
        width=0.012,
        zorder=3,
        pivot="tail",
    )
    _marks(axes[2], layout, stats_before.corner, stats_before.decision)
    axes[2].set_title("(c) Δπ = (b) − (a); arrows: change of the mean move")
    fig.colorbar(pc, ax=axes[2], shrink=0.7, label="Δ probability of the action")
    marks: list[Any] = [  # legend handles: any artist, not only patches
        Line2D([], [], marker="*", color="#222222", ls="", label="top-right corner"),
        Rectangle((0, 0), 1, 1, fill=False, ec="#D55E00", lw=1.6, label="decision square"),
    ]
    kind_legend(axes[0], layout, extra=marks)
    maze = f"maze {layout_seed}" if layout_seed is not None else "one maze"
    title = f"Steering with the cheese vector at {layer}: {maze}"
    if stats_before.decision >= 0:
        where = (
            f"at the decision square (orange) P(towards the cheese) goes from {stats_before.p_toward_cheese:.2f} "
            f"to {stats_after.p_toward_cheese:.2f}"
        )
    else:
        where = "this maze has no decision square"
    caption = (
        f"Arrows have length ∝ π(a|s); adding α = {alpha:g} times this maze's cheese vector to the "
        f"activations moves P(cheese) from {stats_before.p_cheese:.2f} to {stats_after.p_cheese:.2f} and "
        f"P(corner) from {stats_before.p_corner:.2f} to {stats_after.p_corner:.2f}; {where} "
        f"(red triangles: actions made more likely)."
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, name, title, caption, data)


@dataclass(frozen=True)
class AlphaEffectData:
    """What :func:`alpha_effect` drew: per intervention ("own", "pooled") and column (``p_cheese``, ``p_corner``,
    ``p_toward_cheese``, ``gap_corner``), ``(alphas, mean, low, high)`` arrays; per reference ("removed", "bi")
    and column, ``(mean, low, high)``."""

    curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    references: dict[tuple[str, str], tuple[float, float, float]]


def _ci(x: np.ndarray, seed: int) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    lo, hi = bootstrap_ci(x, seed=seed)
    return (float(x.mean()) if x.size else float("nan")), lo, hi


@style.styled
def alpha_effect(
    result: SteeringResult, *, selection: str = "test mazes", seed: int = 0, name: str = "steering_alpha"
) -> style.Plot:
    """P(cheese), P(corner), P(towards the cheese at the decision square) and the gap to the cheese-removed
    policy against alpha, over many mazes.

    Lines are means over mazes with 95% bootstrap confidence bands (:func:`scipy.stats.bootstrap`, BCa); the
    horizontal references are the policy with the cheese removed from its observations and backward induction.
    Panel (d) is the per-maze ``|P(corner) - P_removed(corner)|`` averaged over mazes: where it is smallest,
    steering imitates removing the cheese best. ``selection`` says which mazes these are (in the caption).
    """
    table = result.table
    removed = table[table["intervention"] == "removed"].set_index("maze")
    columns = (
        ("p_cheese", "P(cheese)", "(a) reaches the cheese"),
        ("p_corner", "P(corner)", "(b) reaches the top-right corner"),
        ("p_toward_cheese", "π(towards the cheese)", "(c) at the decision square"),
        ("gap_corner", "mean |P(corner) − P_removed(corner)|", "(d) gap to removing the cheese"),
    )
    curves: dict = {}
    refs: dict = {}
    fig = style.new_figure(14.0, 3.9)
    axes = fig.subplots(1, 4, sharex=True)
    for ax, (col, label, panel) in zip(axes, columns):
        gap = col == "gap_corner"
        for ref in () if gap else ("removed", "bi"):
            df = table[table["intervention"] == ref]
            if df.empty:
                continue
            m, lo, hi = _ci(df[col].to_numpy(), seed)
            refs[(ref, col)] = (m, lo, hi)
            ax.axhline(m, color=COLOURS[ref], ls="--", lw=1.2, label=LABELS[ref])
            if np.isfinite(lo):
                ax.axhspan(lo, hi, color=COLOURS[ref], alpha=0.12, lw=0)
        for kind in ("own", "pooled"):
            df = table[table["intervention"] == kind]
            if df.empty or (gap and removed.empty):
                continue
            alphas = np.sort(df["alpha"].unique())
            rows = []
            for a in alphas:
                at = df[df["alpha"] == a].set_index("maze")
                x = (at["p_corner"] - removed["p_corner"].reindex(at.index)).abs() if gap else at[col]
                rows.append(_ci(x.to_numpy(), seed))
            stats = np.array(rows)
            curves[(kind, col)] = (alphas, stats[:, 0], stats[:, 1], stats[:, 2])
            ax.plot(alphas, stats[:, 0], marker="o", ms=3, color=COLOURS[kind], label=LABELS[kind])
            ax.fill_between(alphas, stats[:, 1], stats[:, 2], color=COLOURS[kind], alpha=0.2, lw=0)
        ax.axvline(0.0, color="#999999", lw=0.8)
        ax.set_xlabel("α (activation += α · cheese vector)")
        ax.set_ylabel(label)
        ax.set_title(panel)
        if not gap:
            ax.set_ylim(-0.03, 1.03)
        else:
            ax.set_ylim(bottom=0.0)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", ncol=1)
    n = len(result.seeds)
    title = f"Effect of the cheese vector at {result.layer} over {n} mazes"
    detail = ""
    own, own_gap = curves.get(("own", "p_cheese")), curves.get(("own", "gap_corner"))
    if own is not None and own_gap is not None:
        alphas = own[0]
        i0, ib = int(np.argmin(np.abs(alphas))), int(np.argmin(own_gap[1]))
        detail = (
            f" Mean P(cheese) {own[1][i0]:.2f} unsteered; the own vector comes closest to removing the cheese "
            f"at α = {alphas[ib]:g} (gap {own_gap[1][ib]:.3f} vs {own_gap[1][i0]:.3f} unsteered)."
        )
    caption = (
        f"Exact probabilities from each maze's model, means over {n} {selection}; "
        f"shaded: 95% bootstrap CIs over mazes.{detail}"
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, name, title, caption, AlphaEffectData(curves, refs))
