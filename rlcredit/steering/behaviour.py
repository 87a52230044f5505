"""Exact behavioural statistics of a policy on cheese mazes: where does it go, the cheese or the corner?

Everything is computed from the layout's exact model (:meth:`~rlcredit.gridworld.core.Layout.to_mdp`) and the
policy's action probabilities at *every* state, never from rollouts: ``P(cheese)`` is the probability of
entering the cheese cell within the time limit (:func:`rlcredit.planning.reach_probability`), ``P(corner)`` of
entering the top-right cell (the cheese is terminal, so a policy that eats the cheese first never gets there).

The *decision square* (Turner, Mini et al. 2023) is the cell where the shortest path from the start to the
cheese and the shortest path to the top-right corner split; the policy's probability of the action along the
cheese path there is the most local measure of "goes for the cheese".
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rlcredit.gridworld.core import Layout, compile_layout
from rlcredit.gridworld.maps import MapSpec
from rlcredit.gridworld.observe import observation_of
from rlcredit.planning import backward_induction, reach_probability

__all__ = [
    "DecisionSquare",
    "MazeBehaviour",
    "ProbsFn",
    "decision_square",
    "layout_with_object",
    "layouts_of",
    "maze_behaviour",
    "planner_policy",
    "policy_table",
    "shortest_path",
    "start_state",
    "top_right_cell",
]

ProbsFn = Callable[[np.ndarray], np.ndarray]
"""A policy as a function: observations ``(B, *obs_shape)`` -> action probabilities ``(B, A)``."""


def start_state(layout: Layout) -> int:
    """The most likely start cell (the only one in a maze)."""
    return int(np.argmax(layout.start))


def top_right_cell(layout: Layout) -> int:
    """The free cell nearest the top-right corner: largest ``col - row``, then smallest row (``(1, W-2)`` in a maze)."""
    r, c = layout.coords(np.arange(layout.num_states))
    score = np.where(layout.wall, np.iinfo(np.int64).min, (c - r) * layout.shape[0] - r)
    return int(np.argmax(score))


def layout_with_object(spec: MapSpec, layout_seed: int, cell: int, *, kind: str = "cheese") -> Layout:
    """The layout of ``spec`` with seed ``layout_seed``, but the ``kind`` object placed on ``cell``.

    The maze is drawn from the same random stream before any placement, so it is the maze of
    ``compile_layout(spec, default_rng(layout_seed))``; only the object moves. Other placed objects (if any)
    are drawn afresh from what is left of the stream.

    Raises
    ------
    ValueError
        If ``kind`` is not a placed object of ``spec``, or ``cell`` is a wall, the start or on the border.
    """
    chars = [ch for ch, ct in spec.legend.items() if ct.kind == kind and ct.place is not None]
    if len(chars) != 1 or spec.legend[chars[0]].count != 1:
        raise ValueError(f"{spec.name} has no single randomly placed {kind!r} object to move")
    H, W = spec.shape
    r, c = divmod(int(cell), W)
    if not (1 <= r < H - 1 and 1 <= c < W - 1):
        raise ValueError(f"cell {cell} (row {r}, col {c}) is on the border of the {H}x{W} grid")
    ct = spec.legend[chars[0]]
    # placement regions are in interior coordinates (the border walls stripped)
    moved = dataclasses.replace(ct, place=f"rows:{r - 1}-{r - 1},cols:{c - 1}-{c - 1}")
    layout = compile_layout(
        dataclasses.replace(spec, legend={**spec.legend, chars[0]: moved}), np.random.default_rng(layout_seed)
    )
    if int(cell) not in layout.cells_of(kind):  # pragma: no cover - compile_layout raises first
        raise ValueError(f"could not place {kind!r} on cell {cell}")
    return layout


def policy_table(
    probs: ProbsFn,
    layout: Layout,
    *,
    obs: str = "grid",
    edit: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The policy's action probabilities at every state of ``layout``.

    Parameters
    ----------
    probs : callable
        Observations -> ``(B, A)`` probabilities (e.g. ``policy.action_probs``, possibly under a hook).
    obs : observation mode the policy reads.
    edit : callable, optional
        Applied to the batch of observations first (e.g. :func:`rlcredit.steering.vectors.without_kind`).

    Returns
    -------
    (S, A) float64, one row per cell ``r * W + c`` (walls included; their rows are never used).
    """
    batch = observation_of(layout, np.arange(layout.num_states), obs)
    if edit is not None:
        batch = edit(batch)
    pi = np.asarray(probs(batch), dtype=np.float64)
    if pi.shape[0] != layout.num_states:
        raise ValueError(f"policy returned {pi.shape[0]} rows for {layout.num_states} states")
    return pi


def shortest_path(layout: Layout, start: int, goal: int) -> np.ndarray | None:
    """The shortest path of intended moves from ``start`` to ``goal`` (both included), or None if unreachable.

    Breadth-first search over ``layout.move``; terminal cells are entered but never left, so a path never
    passes through the cheese. Ties (only possible outside perfect mazes) go to the lower action index.
    """
    parent = np.full(layout.num_states, -1, dtype=np.int64)
    parent[start] = start
    queue = deque([int(start)])
    while queue:
        s = queue.popleft()
        if s == goal:
            path = [s]
            while path[-1] != start:
                path.append(int(parent[path[-1]]))
            return np.array(path[::-1], dtype=np.int64)
        if layout.terminal[s]:
            continue
        for nxt in layout.move[s]:
            if parent[nxt] < 0:
                parent[nxt] = s
                queue.append(int(nxt))
    return None


@dataclass(frozen=True)
class DecisionSquare:
    """Where the paths to the cheese and to the corner split.

    Attributes
    ----------
    cell : int
        The last cell the two shortest paths share.
    t : int
        Its distance from the start (the time step at which the shortest path is there).
    toward_cheese, toward_corner : int
        The action whose intended move continues along the path to the cheese / to the corner.
    """

    cell: int
    t: int
    toward_cheese: int
    toward_corner: int


def _action_between(layout: Layout, s: int, nxt: int) -> int:
    return int(np.flatnonzero(layout.move[s] == nxt)[0])


def decision_square(
    layout: Layout, *, cheese: int | None = None, corner: int | None = None, start: int | None = None
) -> DecisionSquare | None:
    """The decision square, or None when there is no choice to make.

    There is none when the cheese is on the corner's path (the corner cannot be reached without eating it),
    the corner is on the cheese's path, or either is unreachable.
    """
    cheese = int(layout.cells_of("cheese")[0]) if cheese is None else int(cheese)
    corner = top_right_cell(layout) if corner is None else int(corner)
    start = start_state(layout) if start is None else int(start)
    to_cheese = shortest_path(layout, start, cheese)
    to_corner = shortest_path(layout, start, corner)
    if to_cheese is None or to_corner is None:
        return None
    n = min(len(to_cheese), len(to_corner))
    same = to_cheese[:n] == to_corner[:n]
    if same.all():  # one path is a prefix of the other: no choice between them
        return None
    t = int(np.argmin(same)) - 1
    ds = int(to_cheese[t])
    return DecisionSquare(
        ds,
        t,
        _action_between(layout, ds, int(to_cheese[t + 1])),
        _action_between(layout, ds, int(to_corner[t + 1])),
    )


@dataclass(frozen=True)
class MazeBehaviour:
    """Exact behaviour of one policy on one layout.

    Attributes
    ----------
    cheese, corner, start : int
        Cells (``r * W + c``) of the cheese, the top-right corner and the start.
    p_cheese : float
        P(enter the cheese within the time limit) from the start distribution.
    p_corner : float
        P(enter the corner cell within the time limit).
    decision : int
        The decision square's cell, -1 if there is none.
    p_toward_cheese, p_toward_corner : float
        The policy's probability of the action towards the cheese / the corner at the decision square (at the
        time step the shortest path reaches it, for a time-indexed policy); NaN without a decision square.
    dist_cheese, dist_corner : int
        Shortest-path lengths from the start (-1 if unreachable).
    """

    cheese: int
    corner: int
    start: int
    p_cheese: float
    p_corner: float
    decision: int
    p_toward_cheese: float
    p_toward_corner: float
    dist_cheese: int
    dist_corner: int

    def as_row(self) -> dict[str, float | int]:
        """The fields as a flat dict (one row of a results table)."""
        return dataclasses.asdict(self)


def maze_behaviour(layout: Layout, pi: np.ndarray, *, corner: int | None = None) -> MazeBehaviour:
    """Exact cheese / corner statistics of a policy table on one layout.

    Parameters
    ----------
    layout : a layout with one cheese cell
    pi : (S, A) stationary, or (H, S, A) time-indexed action probabilities
    corner : cell, default :func:`top_right_cell`
    """
    cheeses = layout.cells_of("cheese")
    if len(cheeses) != 1:
        raise ValueError(f"the layout has {len(cheeses)} cheese cells; expected one")
    cheese = int(cheeses[0])
    corner = top_right_cell(layout) if corner is None else int(corner)
    start = start_state(layout)
    m = layout.to_mdp()
    p_cheese = float(reach_probability(m, pi, np.array([cheese])) @ m.initial)
    p_corner = float(reach_probability(m, pi, np.array([corner])) @ m.initial)
    ds = decision_square(layout, cheese=cheese, corner=corner, start=start)
    if ds is None:
        decision, toward, away = -1, float("nan"), float("nan")
    else:
        row = pi[min(ds.t, pi.shape[0] - 1), ds.cell] if pi.ndim == 3 else pi[ds.cell]
        decision, toward, away = ds.cell, float(row[ds.toward_cheese]), float(row[ds.toward_corner])
    p_c, p_k = shortest_path(layout, start, cheese), shortest_path(layout, start, corner)
    return MazeBehaviour(
        cheese=cheese,
        corner=corner,
        start=start,
        p_cheese=p_cheese,
        p_corner=p_corner,
        decision=decision,
        p_toward_cheese=toward,
        p_toward_corner=away,
        dist_cheese=len(p_c) - 1 if p_c is not None else -1,
        dist_corner=len(p_k) - 1 if p_k is not None else -1,
    )


def planner_policy(layout: Layout) -> np.ndarray:
    """Backward induction's optimal policy for the layout's time limit: ``(H, S, A)`` one-hot."""
    return backward_induction(layout.to_mdp()).policy


def layouts_of(spec: MapSpec, seeds: Sequence[int]) -> list[Layout]:
    """The layouts with these layout seeds (as the envs draw them: ``compile_layout(spec, default_rng(seed))``)."""
    return [compile_layout(spec, np.random.default_rng(int(s))) for s in seeds]
