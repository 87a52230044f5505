"""Figures drawn on the grid: the map, the policy's vector field, and the shaping map of one update.

Coordinates: the cell in row ``r``, column ``c`` is centred at ``(x, y) = (c, r)`` with the y axis pointing down
(row 0 on top), as in the map file and :func:`rlcredit.gridworld.observe.render_rgb`. Action 0 (up) points
to ``-y``, 1 (right) ``+x``, 2 (down) ``+y``, 3 (left) ``-x``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PolyCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.patches import Patch, Rectangle

from rlcredit.gridworld.core import Layout
from rlcredit.plots import style
from rlcredit.plots.data import Run, open_run, policy_columns, read_shaping

__all__ = [
    "ACTION_DX",
    "ACTION_DY",
    "ARROW",
    "PolicyFieldData",
    "PowerData",
    "ShapingData",
    "arrow_components",
    "cell_name",
    "cell_rgb",
    "draw_cells",
    "draw_triangles",
    "env_map",
    "kind_legend",
    "policy_field",
    "power_digits",
    "power_heatmap",
    "power_table",
    "require_layout",
    "scalar_mappable",
    "shaping_layout",
    "shaping_map",
    "triangle_vertices",
]

ACTION_DX = np.array([0.0, 1.0, 0.0, -1.0])
ACTION_DY = np.array([-1.0, 0.0, 1.0, 0.0])
ARROW = 0.46
"""Length, in cells, of the arrow of an action with probability 1."""


def cell_rgb(layout: Layout) -> np.ndarray:
    """``(H, W, 3)`` float colours of the cells: floor, walls, start cells and object kinds."""
    H, W = layout.shape
    rgb = np.tile(np.array(style.cell_colour("floor")), (layout.num_cells, 1))
    rgb[(layout.start > 0) & (layout.kind < 0)] = style.cell_colour("start")
    for k, name in enumerate(layout.kinds):
        rgb[layout.kind == k] = style.cell_colour(name, k)
    rgb[layout.wall] = style.cell_colour("wall")
    return rgb.reshape(H, W, 3)


def _setup(ax: Axes, layout: Layout) -> None:
    H, W = layout.shape
    ax.set_xlim(-0.5, W - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


NEUTRAL_OBJECT = (0.36, 0.36, 0.36)
"""Face colour of object cells (lava, goal, button, ...) on signed (diverging) panels: a neutral dark grey that
no value of :data:`~rlcredit.plots.style.DIVERGING` takes, so a lava cell never reads as strong positive credit."""

_HATCHES = ("xxx", "...", "///", "ooo", "\\\\\\", "+++")


def object_hatch(k: int) -> str:
    """The hatch pattern of object kind ``k`` (index in ``layout.kinds``) on signed panels."""
    return _HATCHES[k % len(_HATCHES)]


def cell_name(cell: int, width: int) -> str:
    """A cell's position as every caption writes it: ``"row r, column c (0-based, wall border included)"``,
    the indices of the map file and of ``env.unwrapped.layout`` (row 0 is the top wall)."""
    r, c = divmod(int(cell), int(width))
    return f"row {r}, column {c} (0-based, wall border included)"


def draw_cells(
    ax: Axes,
    layout: Layout,
    *,
    floor: np.ndarray | None = None,
    gridlines: bool = True,
    neutral_objects: bool = False,
) -> None:
    """Draw the map on ``ax``: walls, start cells and object cells in the renderer's colours.

    ``floor``: optional ``(H, W, 3)`` colours for the non-wall, non-object cells (a heat map); the cells of the
    map are drawn over it. ``neutral_objects``: draw object cells in :data:`NEUTRAL_OBJECT` grey, hatched per
    kind (:func:`object_hatch`), instead of their renderer colour: for panels coloured by a diverging map,
    whose red would otherwise be confused with lava's.
    """
    H, W = layout.shape
    rgb = cell_rgb(layout)
    if floor is not None:
        plain = (~layout.wall & (layout.kind < 0)).reshape(H, W)
        rgb = np.where(plain[..., None], floor, rgb)
    if neutral_objects:
        rgb = np.where((layout.kind >= 0).reshape(H, W)[..., None], np.array(NEUTRAL_OBJECT), rgb)
    _setup(ax, layout)
    ax.imshow(rgb, extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="nearest", zorder=0)
    if neutral_objects:
        for cell in np.flatnonzero((layout.kind >= 0) & ~layout.wall):
            r, c = divmod(int(cell), W)
            ax.add_patch(
                Rectangle(
                    (c - 0.5, r - 0.5),
                    1,
                    1,
                    fill=False,
                    hatch=object_hatch(int(layout.kind[cell])),
                    edgecolor="#d9d9d9",
                    lw=0,
                    zorder=1,
                )
            )
    if gridlines:
        ax.vlines(np.arange(W + 1) - 0.5, -0.5, H - 0.5, color="white", lw=0.5, alpha=0.7, zorder=1)
        ax.hlines(np.arange(H + 1) - 0.5, -0.5, W - 0.5, color="white", lw=0.5, alpha=0.7, zorder=1)


def kind_legend(
    ax: Axes,
    layout: Layout,
    *,
    extra: list[Patch] | None = None,
    ncol: int | None = None,
    start: bool = True,
    neutral_objects: bool = False,
) -> None:
    """A legend of the cell kinds present in the layout, under ``ax`` (``start=False`` when a heat map covers
    the start cell; ``neutral_objects`` as drawn by :func:`draw_cells`, each labelled as off the colour scale)."""
    handles = [Patch(facecolor=style.cell_colour("wall"), label="wall")]
    if start and ((layout.start > 0) & (layout.kind < 0)).any():
        handles.append(
            Patch(facecolor=style.cell_colour("start"), edgecolor="#999999", lw=0.5, label="start")
        )
    for k, name in enumerate(layout.kinds):
        if (layout.kind == k).any():
            if neutral_objects:
                handles.append(
                    Patch(
                        facecolor=NEUTRAL_OBJECT,
                        edgecolor="#d9d9d9",
                        hatch=object_hatch(k),
                        lw=0,
                        label=name,
                    )
                )
            else:
                handles.append(Patch(facecolor=style.cell_colour(name, k), label=name))
    handles += extra or []
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncol=ncol or min(len(handles), 4),
        handlelength=1.0,
        handleheight=1.0,
        columnspacing=0.8,
        fontsize=7.5,
        title="object cells in grey: not on the colour scale" if neutral_objects else None,
        title_fontsize=7.5,
    )


def triangle_vertices(layout: Layout, states: np.ndarray) -> np.ndarray:
    """``(n, 4, 3, 2)`` vertices of the four triangles of each cell, one per action (up, right, down, left),
    each with its base on the cell side the action moves towards and its apex at the centre."""
    r, c = layout.coords(np.asarray(states, dtype=np.int64))
    x, y = c.astype(float), r.astype(float)
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])  # tl, tr, br, bl (x, y)
    sides = [(0, 1), (1, 2), (2, 3), (3, 0)]  # up: tl-tr, right: tr-br, down: br-bl, left: bl-tl
    centre = np.stack([x, y], axis=1)[:, None, None, :]
    tri = np.zeros((len(x), 4, 3, 2))
    for a, (i, j) in enumerate(sides):
        tri[:, a, 0] = corners[i]
        tri[:, a, 1] = corners[j]
    return tri + centre


def draw_triangles(
    ax: Axes,
    layout: Layout,
    states: np.ndarray,
    values: np.ndarray,
    *,
    cmap: str | Colormap,
    norm: Normalize,
    edge: str = "#ffffff",
) -> PolyCollection:
    """Colour the four action triangles of each of ``states`` by ``values`` ``(n, 4)``."""
    verts = triangle_vertices(layout, states).reshape(-1, 3, 2)
    pc = PolyCollection(
        list(verts),
        array=np.asarray(values, dtype=np.float64).reshape(-1),
        cmap=cmap,
        norm=norm,
        edgecolors=edge,
        linewidths=0.25,
        zorder=2,
    )
    ax.add_collection(pc)
    return pc


def arrow_components(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v)``, each ``(n, 4)``: the arrow of action ``a`` in a cell is ``ARROW * pi(a|s)`` long and points
    the way ``a`` moves (data coordinates, y down)."""
    p = np.asarray(probs, dtype=np.float64)
    return p * ACTION_DX * ARROW, p * ACTION_DY * ARROW


def quiver(
    ax: Axes,
    layout: Layout,
    states: np.ndarray,
    probs: np.ndarray,
    colour: str,
    *,
    width: float = 0.014,
    dots: bool = True,
) -> None:
    """Draw four arrows per state, each as long as the probability of its action (a policy vector field)."""
    r, c = layout.coords(states)
    u, v = arrow_components(probs)
    n = len(states)
    ax.quiver(
        np.repeat(c, 4).astype(float),
        np.repeat(r, 4).astype(float),
        u.reshape(-1),
        v.reshape(-1),
        angles="xy",
        scale_units="xy",
        scale=1.0,
        color=colour,
        width=width,
        headwidth=3.0,
        headlength=2.8,
        headaxislength=2.5,
        minlength=0.0,
        zorder=3,
        pivot="tail",
    )
    if n and dots:
        ax.scatter(c, r, s=2.0, color=colour, zorder=3, linewidths=0)


@dataclass(frozen=True)
class PolicyFieldData:
    """What :func:`policy_field` drew.

    Attributes
    ----------
    before_update, after_update : int
        Panel (a) shows ``pi_before`` of ``before_update``'s shaping file, panel (b) ``pi_after`` of
        ``after_update``'s.
    states : (n,) int
        Cells that have arrows (not walls, not terminal).
    before, after : (S, A) float64
        The stored probabilities, rows in state order.
    delta : (S, A) float64
        ``after - before`` (panel c).
    """

    before_update: int
    after_update: int
    states: np.ndarray
    before: np.ndarray
    after: np.ndarray
    delta: np.ndarray


@style.styled
def policy_field(
    run: Run | str | os.PathLike[str], *, update: int | None = None, before_update: int | None = None
) -> style.Plot:
    """The policy as a vector field before and after training, and the change Δπ between the two.

    Parameters
    ----------
    run : Run or path
    update : int, optional
        Panel (b) shows ``pi_after`` of this update (default: the last logged one).
    before_update : int, optional
        Panel (a) shows ``pi_before`` of this update (default: the first logged one).

    Returns
    -------
    Plot with :class:`PolicyFieldData`.
    """
    run = open_run(run)
    last = read_shaping(run, update)
    layout = shaping_layout(run, last)
    seed = _layout_seed(last)
    if before_update is None:
        before_update = next(
            u
            for u in run.shaping_updates()
            if _layout_seed(read_shaping(run, u, columns=("state", "layout_seed"))) == seed
        )
    first = read_shaping(run, before_update)
    if _layout_seed(first) != seed:
        raise ValueError(
            f"{run.path}: updates {before_update} and {int(last['update'].iloc[0])} were logged on different "
            f"layouts ({_layout_seed(first)} and {seed}); pick updates of one layout"
        )
    _check_states(first, layout, run)
    _check_states(last, layout, run)
    before, after = policy_columns(first, "pi_before"), policy_columns(last, "pi_after")
    u0, u1 = int(first["update"].iloc[0]), int(last["update"].iloc[0])
    inactive = last["wall"].to_numpy(bool) | last["terminal"].to_numpy(bool)
    states = last["state"].to_numpy(np.int64)[~inactive]
    delta = after - before
    data = PolicyFieldData(u0, u1, states, before, after, delta)

    H, W = layout.shape
    panel_w = max(2.4, min(4.2, 0.36 * W))
    fig = style.new_figure(3 * panel_w + 0.8, panel_w * H / W + 1.6)
    axes = fig.subplots(1, 3)
    colour = style.agent_colour(run.algo)
    for ax, probs, title in (
        (axes[0], before, f"(a) π before update {u0}"),
        (axes[1], after, f"(b) π after update {u1}"),
    ):
        draw_cells(ax, layout)
        quiver(ax, layout, states, probs[states], colour)
        ax.set_title(title)
    norm = style.signed_norm(delta[states])
    draw_cells(axes[2], layout, neutral_objects=True)
    pc = draw_triangles(axes[2], layout, states, delta[states], cmap=style.DIVERGING, norm=norm)
    axes[2].set_title("(c) Δπ(a|s) = (b) − (a)")
    fig.colorbar(pc, ax=axes[2], shrink=0.7, label="Δ probability of the action")
    kind_legend(axes[0], layout)
    if layout.kinds and (layout.kind >= 0).any():
        kind_legend(axes[2], layout, ncol=3, start=False, neutral_objects=True)
    title = f"{run.algo} on {run.env_name()}: the policy before and after training"
    tv = 0.5 * np.abs(delta[states]).sum(axis=1)
    top = states[np.argmax(tv)] if len(states) else 0
    caption = (
        f"Arrows point each way with length ∝ π(a|s); panel (c) colours each cell's four action "
        f"triangles red where training raised that action's probability and blue where it lowered it "
        f"(largest change at {cell_name(int(layout.cell[top]), W)}, total variation "
        f"{tv.max() if len(tv) else 0:.2f}); object cells are grey there, off the colour scale."
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "policy_field", title, caption, data)


@dataclass(frozen=True)
class ShapingData:
    """What :func:`shaping_map` drew.

    Attributes
    ----------
    update : int
    tv : (S,) float64
        Total variation ``0.5 * sum_a |Δπ(a|s)|`` of the update at every state (0 on walls/terminals).
    visits : (S,) int64
        Visits of each state in the update's batch.
    visited : (S,) bool
        ``visits > 0`` (outlined cells).
    unvisited_share : float
        Fraction of the summed total variation that fell on states the batch never visited.
    curve : tuple of three (k,) arrays or None
        ``(update, shaping/mean_tv, shaping/unvisited_tv)`` from ``metrics.csv``, when logged.
    """

    update: int
    tv: np.ndarray
    visits: np.ndarray
    visited: np.ndarray
    unvisited_share: float
    curve: tuple[np.ndarray, np.ndarray, np.ndarray] | None


@style.styled
def shaping_map(run: Run | str | os.PathLike[str], *, update: int | None = None) -> style.Plot:
    """How much one update moved π(·|s) at every state, with the states its batch visited outlined.

    Parameters
    ----------
    update : int, optional
        Which logged update. Default: the one whose movement at states its batch never visited was largest
        (the first logged update when every update visited every state).

    Returns
    -------
    Plot with :class:`ShapingData`.
    """
    run = open_run(run)
    updates = run.shaping_updates()
    if not updates:
        raise FileNotFoundError(f"no shaping files in {run.path / 'shaping'}")
    chosen = update is None
    if update is None:
        update = _most_unvisited_movement(run, updates)
    df = read_shaping(run, update)
    layout = shaping_layout(run, df)
    _check_states(df, layout, run)
    u = int(df["update"].iloc[0])
    inactive = df["wall"].to_numpy(bool) | df["terminal"].to_numpy(bool)
    if "tv" in df.columns:
        tv = df["tv"].to_numpy(np.float64).copy()
    else:
        tv = 0.5 * np.abs(policy_columns(df, "pi_after") - policy_columns(df, "pi_before")).sum(axis=1)
    tv[inactive] = 0.0
    visits = df["visits"].to_numpy(np.int64)
    visited = visits > 0
    total = tv.sum()
    share = float(tv[~visited].sum() / total) if total > 0 else 0.0
    m = run.metrics
    curve = None
    if {"shaping/mean_tv", "shaping/unvisited_tv"} <= set(m.columns) and "update" in m.columns:
        curve = tuple(
            pd.to_numeric(m[c], errors="coerce").to_numpy(np.float64)
            for c in ("update", "shaping/mean_tv", "shaping/unvisited_tv")
        )
    data = ShapingData(u, tv, visits, visited, share, curve)

    H, W = layout.shape
    panel_w = max(2.8, min(4.5, 0.4 * W))
    fig = style.new_figure(panel_w * (2.3 if curve else 1.25) + 0.6, panel_w * H / W + 1.7)
    axes = fig.subplots(1, 2 if curve else 1, width_ratios=[1, 1.1] if curve else None, squeeze=False)[0]
    ax = axes[0]
    norm = Normalize(vmin=0.0, vmax=max(float(tv.max()), 1e-12))
    # per cell: on maps with objects, the largest change among the states (object configurations) on the cell
    floor = style.SEQUENTIAL(norm(np.nan_to_num(layout.per_cell(tv, "max"), nan=0.0).reshape(H, W)))[..., :3]
    draw_cells(ax, layout, floor=floor)
    for cell in np.unique(layout.cell[visited & ~inactive]):
        r, c = divmod(int(cell), W)
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="#111111", lw=1.3, zorder=3))
    sm = scalar_mappable(style.SEQUENTIAL, norm)
    label = "total variation of Δπ(·|s)" + (", max over object configurations" if layout.has_objects else "")
    fig.colorbar(sm, ax=ax, shrink=0.7, label=label)
    ax.set_title(
        f"update {u}: {int(visited.sum())} states visited, "
        f"{int((~visited & ~inactive & ~layout.wall[layout.cell]).sum())} not"
    )
    kind_legend(
        ax,
        layout,
        extra=[Patch(facecolor="white", edgecolor="#111111", lw=1.3, label="visited")],
        ncol=3,
        start=False,
    )
    if curve:
        ux, mean_tv, unvisited_tv = curve
        axc = axes[1]
        axc.plot(
            ux,
            mean_tv,
            color=style.agent_colour(run.algo),
            marker="." if len(ux) < 30 else None,
            label="states the batch visited",
        )
        none = not np.isfinite(unvisited_tv).any()
        axc.plot(
            ux,
            unvisited_tv,
            color="#555555",
            ls="--",
            marker="." if len(ux) < 30 else None,
            label="states it never visited" + (" (none: every state was visited)" if none else ""),
        )
        axc.axvline(u, color="#bbbbbb", lw=1.0, zorder=0)
        axc.set_ylim(bottom=0)
        axc.set_xlabel("update")
        axc.set_ylabel("mean total variation of Δπ")
        axc.set_title("every update")
        axc.legend()
    title = f"{run.algo} on {run.env_name()}: what one update moved"
    why = (
        " (the logged update with the largest mean total variation at never-visited states, the dashed line "
        "on the right)"
        if chosen and share > 0
        else ""
    )
    caption = (
        f"Colour is how far update {u}{why} moved the action distribution at each state; outlined states "
        f"were visited by its batch and credited, and {share:.0%} of the movement fell on states it never "
        f"visited, moved only by generalization."
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "shaping_map", title, caption, data)


@style.styled
def env_map(run: Run | str | os.PathLike[str]) -> style.Plot:
    """The gridworld of a run, cells coloured by kind, with its reward per kind."""
    run = open_run(run)
    layout = require_layout(run)
    H, W = layout.shape
    fig = style.new_figure(max(3.0, 0.32 * W + 0.8), 0.32 * H + 1.6)
    ax = fig.subplots()
    draw_cells(ax, layout)
    rewards = {}
    for k, name in enumerate(layout.kinds):
        entering = (layout.event == k) & (layout.move != np.arange(layout.num_states)[:, None])
        if entering.any():
            rewards[name] = float(np.median(layout.step_reward[entering]))
    cell_reward = _entry_rewards(layout)
    for s_ in np.flatnonzero(layout.kind >= 0):
        if np.isfinite(cell_reward[s_]) and cell_reward[s_] != 0:
            r, c = divmod(int(s_), W)
            ax.text(
                c,
                r,
                f"{cell_reward[s_]:+g}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white",
                fontweight="bold",
                zorder=4,
            )
    kind_legend(ax, layout, ncol=3)
    title = run.env_name()
    parts = ", ".join(f"{name} {r:+g}" for name, r in rewards.items())
    unreachable = [name for name in layout.kinds if name not in rewards and layout.cells_of(name).size]
    if unreachable:
        parts += f" ({', '.join(unreachable)}: no move enters {'it' if len(unreachable) == 1 else 'them'})"
    caption = (
        f"The map the run was trained on ({H}×{W}, time limit {layout.time_limit}, slip {layout.slip:g}); "
        f"reward for entering a cell: {parts or 'none'}."
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "env_map", title, caption, layout)


@dataclass(frozen=True)
class PowerData:
    """What :func:`power_heatmap` drew: ``power`` and ``stderr``, each ``(S,)`` (NaN on walls)."""

    power: np.ndarray
    stderr: np.ndarray | None


def power_heatmap(
    layout: Layout,
    power: np.ndarray,
    stderr: np.ndarray | None,
    out: str | os.PathLike[str] | None = None,
    *,
    title: str = "POWER",
    gamma: float | None = None,
    num_samples: int | None = None,
) -> list[Path] | style.Plot:
    """POWER (Turner et al. 2021) of every cell as a heat map with the value written in each cell.

    Parameters
    ----------
    layout : Layout
    power, stderr : (S,) arrays
        POWER estimates and their standard errors (``stderr`` may be None).
    out : path, optional
        File prefix: ``out.png`` and ``out.svg`` are written (caption in the directory's ``captions.json``)
        and their paths returned. Without it the :class:`~rlcredit.plots.style.Plot` is returned.
    title : str
        Shown with the discount and the sample count appended when they are given.
    gamma, num_samples : optional
        The discount and the number of reward samples POWER was computed with: stated in the title and the
        caption (figures of two discounts must never look alike).
    """
    setting = ", ".join(
        part
        for part in (
            f"gamma {gamma:g}" if gamma is not None else "",
            f"{num_samples} reward samples" if num_samples is not None else "",
        )
        if part
    )
    with style.rc():
        plot = _power_plot(
            layout,
            np.asarray(power, np.float64),
            None if stderr is None else np.asarray(stderr, np.float64),
            f"{title} ({setting})" if setting else title,
            setting,
        )
    if out is None:
        return plot
    out = Path(out)
    return replace(plot, name=out.name).save(out.parent)


def _power_plot(
    layout: Layout, power: np.ndarray, stderr: np.ndarray | None, title: str, setting: str
) -> style.Plot:
    H, W = layout.shape
    per_config = ""
    if layout.has_objects:  # one number per cell: the mean over the object configurations on it
        power = layout.per_cell(power)
        stderr = None if stderr is None else layout.per_cell(stderr)
        per_config = " Each cell shows the mean over the object configurations with the agent on it."
    active = ~layout.wall
    plain = active & (layout.kind < 0)
    # the colour scale spans the empty cells only: terminal objects (POWER ~ their own reward) would flatten it
    shown = np.where(plain, power, np.nan)
    lo, hi = (float(np.nanmin(shown)), float(np.nanmax(shown))) if plain.any() else (0.0, 1.0)
    norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
    floor = style.SEQUENTIAL(0.08 + 0.92 * np.clip(norm(np.nan_to_num(shown, nan=lo)), 0, 1).reshape(H, W))[
        ..., :3
    ]
    fig = style.new_figure(max(3.6, 0.36 * W + 1.4), 0.36 * H + 1.7)
    ax = fig.subplots()
    draw_cells(ax, layout, floor=floor)
    digits = min(power_digits(layout, power), 4)
    for s in np.flatnonzero(plain):
        r, c = divmod(int(s), W)
        light = 0.08 + 0.92 * norm(power[s]) < 0.55
        ax.text(
            c,
            r,
            f"{power[s]:.{digits}f}",
            ha="center",
            va="center",
            fontsize=(5.5 if W > 10 else 6.5) - (digits > 2),
            color="#222222" if light else "white",
            zorder=4,
        )
    fig.colorbar(scalar_mappable(style.SEQUENTIAL, norm), ax=ax, shrink=0.7, label="POWER")
    kind_legend(ax, layout, ncol=3, start=False)
    best = int(np.nanargmax(np.where(plain, power, np.nan))) if plain.any() else 0
    err = (
        f" (standard errors up to {float(np.nanmax(np.where(active, stderr, np.nan))):.2g})"
        if stderr is not None
        else ""
    )
    caption = (
        f"POWER is a state's average optimal value over random reward functions"
        f"{f' ({setting}, iid uniform [0, 1] per state)' if setting else ''}, i.e. how many options "
        f"it keeps open; it peaks at {cell_name(best, W)}{err}.{per_config}"
    )
    style.finish(fig, title, caption)
    return style.Plot(fig, "power", title, caption, PowerData(power, stderr))


def power_digits(layout: Layout, cells: np.ndarray) -> int:
    """Decimals (2 to 6) that resolve per-cell POWER ``cells`` (H*W,) across the empty cells: the figure's cell
    labels and ``rlcredit plan --power``'s table both use them, so at gamma near 1 (all values within a few
    thousandths) neighbouring cells still print differently."""
    plain = ~layout.wall & (layout.kind < 0)
    shown = np.asarray(cells, dtype=np.float64)[plain]
    shown = shown[np.isfinite(shown)]
    spread = float(shown.max() - shown.min()) if shown.size else 1.0
    return int(np.clip(np.ceil(-np.log10(max(spread, 1e-12))) + 1, 2, 6))


def power_table(layout: Layout, power: np.ndarray) -> str:
    """POWER of every cell as aligned text: one map row per line, ``#`` on walls, rows and columns numbered
    0-based with the wall border included (as in every caption), :func:`power_digits` decimals, every column
    as wide as its widest entry.

    ``power``: ``(S,)``; on a map with objects each cell shows the mean over its object configurations.
    """
    H, W = layout.shape
    cells = layout.per_cell(power)
    digits = power_digits(layout, cells)
    text = [
        [
            "#"
            if layout.wall[r * W + c] or not np.isfinite(cells[r * W + c])
            else f"{cells[r * W + c]:.{digits}f}"
            for c in range(W)
        ]
        for r in range(H)
    ]
    width = max(len(t) for row in text for t in row)
    width = max(width, len(str(W - 1)))
    label_w = max(len("row"), len(str(H - 1)))
    lines = [" " * label_w + " " + " ".join(f"{c:>{width}}" for c in range(W))]
    lines += [f"{r:>{label_w}} " + " ".join(f"{t:>{width}}" for t in row) for r, row in enumerate(text)]
    return "\n".join(lines)


def _entry_rewards(layout: Layout) -> np.ndarray:
    """(H*W,) reward for entering each cell (step cost included; NaN for cells no move enters)."""
    out = np.full(layout.num_cells, np.nan)
    src, act = np.nonzero(layout.move != np.arange(layout.num_states)[:, None])
    out[layout.cell[layout.move[src, act]]] = layout.step_reward[src, act]
    return out


def scalar_mappable(cmap: str | Colormap, norm: Normalize) -> ScalarMappable:
    """A colour-bar source for colours drawn without a mappable artist (cells painted into an image)."""
    sm = ScalarMappable(norm=norm, cmap=cmap)
    sm.set_array([])
    return sm


def _most_unvisited_movement(run: Run, updates: list[int]) -> int:
    best, best_tv = updates[0], 0.0
    for u in updates:
        df = read_shaping(run, u, columns=("visits", "tv", "wall", "terminal"))
        if "tv" not in df.columns:
            return updates[0]
        unvisited = df["tv"].to_numpy(np.float64)[
            (df["visits"].to_numpy() == 0) & ~df["wall"].to_numpy(bool) & ~df["terminal"].to_numpy(bool)
        ]
        # the per-state mean: the quantity the right panel plots (metrics.csv shaping/unvisited_tv)
        moved = float(unvisited.mean()) if unvisited.size else 0.0
        if moved > best_tv:
            best, best_tv = u, float(moved)
    return best


def _layout_seed(df: pd.DataFrame) -> int:
    return int(df["layout_seed"].iloc[0]) if "layout_seed" in df.columns and len(df) else -1


def shaping_layout(run: Run, df: pd.DataFrame) -> Layout:
    """The layout a shaping file was logged on (its ``layout_seed`` column; -1 or absent: the run's layout)."""
    seed = _layout_seed(df)
    layout = run.layout_for(seed) if seed >= 0 else run.layout
    if layout is None:
        raise ValueError(f"{run.path}: env {run.env!r} is not an rlcredit gridworld; grid figures need one")
    return layout


def require_layout(run: Run) -> Layout:
    """The run's gridworld layout; ValueError for an env that is not an rlcredit gridworld."""
    layout = run.layout
    if layout is None:
        raise ValueError(f"{run.path}: env {run.env!r} is not an rlcredit gridworld; grid figures need one")
    return layout


def _check_states(df: pd.DataFrame, layout: Layout, run: Run) -> None:
    states = df["state"].to_numpy(np.int64)
    if len(states) != layout.num_states or not np.array_equal(states, np.arange(layout.num_states)):
        raise ValueError(
            f"{run.path}: shaping file has {len(states)} states; the layout of {run.env!r} has "
            f"{layout.num_states} (one row per state expected)"
        )
