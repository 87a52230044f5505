"""The one transition core every consumer of a gridworld uses.

A gridworld state is a small integer: the agent's cell ``r * W + c`` in the (H, W) grid, walls included (wall
cells are unreachable). A :class:`Layout` holds the per-cell tables of one concrete grid (a fixed map, or one
draw of a procedural maze / random object placement); :func:`step` is the pure transition function over those
tables. The single :class:`~rlcredit.gridworld.env.GridWorldEnv`, the batched
:class:`~rlcredit.gridworld.vector.GridVectorEnv`, :meth:`Layout.to_mdp`, MCTS and the renderer all use it,
so they cannot disagree.

Dynamics: the action moves the agent one cell (0 up, 1 right, 2 down, 3 left). With probability ``slip`` the
move goes in one of the three *other* directions instead, uniformly. Moving into a wall leaves the agent in place.
Entering a cell yields that cell's reward (plus ``step_cost`` on every step); entering a terminal cell ends the
episode; entering a ``respawn`` cell yields its reward and puts the agent back on the start cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from rlcredit.gridworld.maps import WALL, MapSpec, parse_region
from rlcredit.mdp import TabularMDP

ACTIONS = ("up", "right", "down", "left")
_DR = np.array([-1, 0, 1, 0])
_DC = np.array([0, 1, 0, -1])


@dataclass(frozen=True, eq=False)
class Layout:
    """The tables of one concrete grid. ``S = H * W`` states, 4 actions.

    Attributes
    ----------
    shape: (H, W).
    wall: (S,) bool.
    kind: (S,) int8, index into ``kinds`` of the object on the cell, -1 for none.
    kinds: object kind names (observation channels 2.. in this order).
    move: (S, 4) int32, the cell the agent ends on for each intended direction (walls/terminals stay put,
        respawn cells already resolved to the start).
    step_reward: (S, 4) float64, reward of moving in each direction (step cost + reward of the entered cell).
    event: (S, 4) int8, kind index of the object entered by that move, -1 for none.
    terminal: (S,) bool, terminal object cells (walls are not marked; they are unreachable).
    intended: (S,) bool, intended-objective cells.
    start: (S,) float64, start distribution.
    slip: probability of a random other direction.
    """

    shape: tuple[int, int]
    wall: np.ndarray
    kind: np.ndarray
    kinds: tuple[str, ...]
    move: np.ndarray
    step_reward: np.ndarray
    event: np.ndarray
    terminal: np.ndarray
    intended: np.ndarray
    start: np.ndarray
    slip: float
    gamma: float
    time_limit: int

    @property
    def num_states(self) -> int:
        return self.shape[0] * self.shape[1]

    def coords(self, states: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of state indices."""
        return np.divmod(np.asarray(states), self.shape[1])

    def cells_of(self, kind: str) -> np.ndarray:
        """State indices of every cell holding an object of ``kind`` (empty if the kind is absent)."""
        if kind not in self.kinds:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.kind == self.kinds.index(kind))

    def transition_probs(self) -> np.ndarray:
        """(4, 4) matrix: probability that intended direction ``a`` (row) becomes direction ``b`` (column)."""
        p = np.full((4, 4), self.slip / 3.0)
        np.fill_diagonal(p, 1.0 - self.slip)
        return p

    def to_mdp(self, *, gamma: float | None = None, horizon: int | None = -1) -> TabularMDP:
        """The exact model of this layout, built from the same tables :func:`step` reads.

        Walls are unreachable absorbing states marked terminal. ``horizon`` defaults to the time limit
        (pass ``None`` for the infinite-horizon discounted MDP).
        """
        S = self.num_states
        probs = self.transition_probs()
        rows = np.repeat(np.arange(S * 4), 4)
        cols = np.broadcast_to(self.move[:, None, :], (S, 4, 4)).reshape(-1)
        data = np.broadcast_to(probs[None], (S, 4, 4)).reshape(-1)
        P = sp.csr_matrix((data, (rows, cols)), shape=(S * 4, S))
        P.sum_duplicates()
        R = self.step_reward @ probs.T  # R[s, a] = sum_b p(b|a) r(s, b)
        terminal = self.terminal | self.wall
        return TabularMDP(
            P,
            R,
            gamma=self.gamma if gamma is None else gamma,
            terminal=terminal,
            initial=self.start,
            horizon=self.time_limit if horizon == -1 else horizon,
        )


def step(layout: Layout, state, action, noise=None):
    """The pure transition: ``(next_state, reward, terminated, event)`` for scalars or arrays.

    ``noise`` holds uniform [0, 1) draws that decide slips (one per transition); ``None`` means the intended
    move (exact only when ``slip == 0``). Stepping from a terminal state is the caller's error: it stays put.
    """
    state = np.asarray(state)
    action = np.asarray(action)
    if noise is not None and layout.slip > 0:
        u = np.asarray(noise)
        slipped = u < layout.slip
        other = np.minimum((u / max(layout.slip, 1e-300) * 3).astype(np.int64), 2)
        action = np.where(slipped, (action + 1 + other) % 4, action)
    nxt = layout.move[state, action]
    return nxt, layout.step_reward[state, action], layout.terminal[nxt], layout.event[state, action]


# ---------------------------------------------------------------------------------------------------------
# compiling a MapSpec into layouts


def generate_maze(cells: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A perfect maze by randomised depth-first search: (2*rows+1, 2*cols+1) bool array, True = wall."""
    rows, cols = cells
    wall = np.ones((2 * rows + 1, 2 * cols + 1), dtype=bool)
    seen = np.zeros((rows, cols), dtype=bool)
    stack = [(rows - 1, 0)]
    seen[rows - 1, 0] = True
    wall[2 * rows - 1, 1] = False
    while stack:
        r, c = stack[-1]
        nbrs = [
            (r + dr, c + dc)
            for dr, dc in ((-1, 0), (0, 1), (1, 0), (0, -1))
            if 0 <= r + dr < rows and 0 <= c + dc < cols and not seen[r + dr, c + dc]
        ]
        if not nbrs:
            stack.pop()
            continue
        nr, nc = nbrs[rng.integers(len(nbrs))]
        seen[nr, nc] = True
        wall[2 * nr + 1, 2 * nc + 1] = False
        wall[r + nr + 1, c + nc + 1] = False
        stack.append((nr, nc))
    return wall


def compile_layout(spec: MapSpec, rng: np.random.Generator | None = None) -> Layout:
    """Build the tables of one layout of ``spec``; ``rng`` draws mazes and placements (required if randomised)."""
    if spec.randomized and rng is None:
        raise ValueError(f"{spec.name} is randomised: compile_layout needs an rng")
    H, W = spec.shape
    kinds = spec.kinds
    kind = np.full((H, W), -1, dtype=np.int8)
    start = np.zeros((H, W))
    obj: dict[tuple[int, int], str] = {}
    if spec.maze is not None:
        wall = generate_maze(spec.maze, rng)
        start[H - 2, 1] = 1.0
    else:
        grid = np.array([list(r) for r in spec.rows])
        wall = grid == WALL
        for ch, ct in spec.legend.items():
            cells = np.argwhere(grid == ch)
            if ct.kind == "start":
                start[tuple(cells.T)] = ct.weight
            elif ct.place is None:
                for r, c in cells:
                    obj[(r, c)] = ch
    for ch, ct in spec.legend.items():
        if ct.place is None or ct.kind == "start":
            continue
        rs, cs = parse_region(ct.place, (H - 2, W - 2))
        region = np.zeros((H, W), dtype=bool)
        region[1:-1, 1:-1][rs, cs] = True
        free = region & ~wall & (start == 0)
        for r, c in obj:
            free[r, c] = False
        cand = np.argwhere(free)
        if len(cand) < ct.count:
            raise ValueError(
                f"{spec.source}: region {ct.place!r} has {len(cand)} free cells for {ct.count} {ct.kind!r}"
            )
        for i in rng.choice(len(cand), size=ct.count, replace=False):
            obj[tuple(cand[i])] = ch
    terminal = np.zeros((H, W), dtype=bool)
    intended = np.zeros((H, W), dtype=bool)
    reward = np.zeros((H, W))
    respawn = np.zeros((H, W), dtype=bool)
    for (r, c), ch in obj.items():
        ct = spec.legend[ch]
        kind[r, c] = kinds.index(ct.kind)
        terminal[r, c] = ct.terminal
        intended[r, c] = ct.intended
        reward[r, c] = ct.reward
        respawn[r, c] = ct.respawn
    start = start.reshape(-1) / start.sum()
    if respawn.any() and np.count_nonzero(start) != 1:
        raise ValueError(f"{spec.source}: 'respawn' cells need exactly one start cell")
    S = H * W
    s = np.arange(S)
    r, c = np.divmod(s, W)
    tr = np.clip(r[:, None] + _DR[None], 0, H - 1)
    tc = np.clip(c[:, None] + _DC[None], 0, W - 1)
    target = tr * W + tc
    wall_f, term_f = wall.reshape(-1), terminal.reshape(-1)
    target = np.where(wall_f[target], s[:, None], target)
    stuck = wall_f | term_f
    target[stuck] = s[stuck, None]
    entered = target != s[:, None]
    reward_f, kind_f = reward.reshape(-1), kind.reshape(-1)
    step_reward = spec.step_cost + np.where(entered, reward_f[target], 0.0)
    step_reward[stuck] = 0.0
    event = np.where(entered, kind_f[target], -1).astype(np.int8)
    move = np.where(respawn.reshape(-1)[target], int(np.argmax(start)), target).astype(np.int32)
    return Layout(
        shape=(H, W),
        wall=wall_f,
        kind=kind_f,
        kinds=kinds,
        move=move,
        step_reward=step_reward,
        event=event,
        terminal=term_f,
        intended=intended.reshape(-1),
        start=start,
        slip=spec.slip,
        gamma=spec.gamma,
        time_limit=spec.time_limit,
    )
