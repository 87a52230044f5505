"""The one transition core every consumer of a gridworld uses.

A gridworld state is a small integer. On a map without objects it is the agent's cell ``r * W + c`` in the
(H, W) grid, walls included (wall cells are unreachable). On a map with objects (boxes, one-shot items, doors,
switches, flags) the state is the agent's cell x the object configuration x the flags, packed into an integer
*key*; the states are the keys reachable from the start distribution, found by breadth-first search over the
core's own step and numbered densely in BFS order (so ``S`` is the number of reachable states, not ``H*W``).

Two layers, one dynamics:

- :func:`world_step` is the pure transition on keys (vectorised over arrays of keys): Sokoban pushes, one-shot
  items, keys and doors, switches, flag-gated cells, per-step item rewards, intended performance. It is run once
  per layout, over every state, to tabulate the layout;
- :func:`step` is the tabulated transition, ``(next_state, reward, terminated, event)`` for scalars or arrays,
  with the slip drawn from uniform noise. The single :class:`~rlcredit.gridworld.env.GridWorldEnv`, the batched
  :class:`~rlcredit.gridworld.vector.GridVectorEnv`, :meth:`Layout.to_mdp` (which enumerates states x actions x
  slip outcomes through :func:`outcomes`, i.e. through :func:`step`), MCTS and the renderer all use it, so they
  cannot disagree.

Dynamics: the action moves the agent one cell (0 up, 1 right, 2 down, 3 left). With probability ``slip`` the
move goes in one of the three *other* directions instead, uniformly. Moving into a wall leaves the agent in place.
Entering a cell yields that cell's reward (plus ``step_cost`` on every step); entering a terminal cell ends the
episode; entering a ``respawn`` cell yields its reward and puts the agent back on the start cell. Objects: see
:mod:`rlcredit.gridworld.maps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from rlcredit.gridworld.maps import WALL, MapError, MapSpec, parse_region
from rlcredit.mdp import TabularMDP

ACTIONS = ("up", "right", "down", "left")
_DR = np.array([-1, 0, 1, 0])
_DC = np.array([0, 1, 0, -1])
_SWITCH_CODE = {"toggle": 0, "on": 1, "off": 2}


@dataclass(frozen=True, eq=False)
class Dynamics:
    """The tabulated transition :func:`step` reads, as flat arrays (row ``s * 4 + b`` for direction ``b``).

    Attributes
    ----------
    next: (N*4,) int64 next state. reward, performance: (N*4,) float64. event: (N*4,) int8 kind index of the object
    entered (-1 none). intended: (N*4,) bool, the move reached the intended objective. terminal: (N,) bool.
    slip: probability of a random other direction.
    """

    next: np.ndarray
    reward: np.ndarray
    performance: np.ndarray
    event: np.ndarray
    intended: np.ndarray
    terminal: np.ndarray
    slip: float


def slip_direction(action: Any, noise: Any, slip: float) -> np.ndarray:
    """The direction actually moved: ``action``, or with probability ``slip`` one of the three others, uniformly.

    ``noise`` holds uniform [0, 1) draws (one per transition); ``u < slip`` slips to the
    ``floor(u / slip * 3)``-th other direction. ``None`` means no slip.
    """
    action = np.asarray(action)
    if noise is None or slip <= 0:
        return action
    u = np.asarray(noise)
    other = np.minimum((u / slip * 3).astype(np.int64), 2)
    return np.where(u < slip, (action + 1 + other) % 4, action)


def step(
    dyn: Dynamics | Layout, state: Any, action: Any, noise: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pure transition: ``(next_state, reward, terminated, event)`` for scalars or arrays.

    ``noise`` holds uniform [0, 1) draws that decide slips (one per transition); ``None`` means the intended
    move (exact only when ``slip == 0``). Stepping from a terminal state is the caller's error: it stays put.
    """
    d = dyn.dynamics if isinstance(dyn, Layout) else dyn
    return step_rows(d, np.asarray(state) * 4 + slip_direction(action, noise, d.slip))


def step_rows(d: Dynamics, rows: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`step` from table rows ``state * 4 + direction moved`` (the slip already drawn): the batched env
    keeps the rows to read ``intended`` and ``performance`` of the same transitions."""
    nxt = d.next[rows]
    return nxt, d.reward[rows], d.terminal[nxt], d.event[rows]


def outcomes(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, prob)`` of every (state, action, slip outcome), computed through :func:`step`.

    ``rows`` (S, 4, 4) are the flat table rows ``s * 4 + b`` that :func:`step` reads for intended action ``a`` and
    the ``k``-th slip outcome; ``prob`` (4, 4) their probabilities. The noise values are the midpoints of the
    intervals of [0, 1) that :func:`slip_direction` maps to each outcome, so this enumeration is the env's own draw.
    """
    slip = layout.slip
    # [0, slip) splits into three slip outcomes; [slip, 1) is the intended move
    lo = np.array([0.0, slip / 3, 2 * slip / 3, slip])
    hi = np.array([slip / 3, 2 * slip / 3, slip, 1.0])
    prob = np.broadcast_to(hi - lo, (4, 4))
    noise = (lo + hi) / 2
    S = layout.num_states
    s = np.arange(S)[:, None, None]
    a = np.arange(4)[None, :, None]
    b = (
        slip_direction(np.broadcast_to(a, (S, 4, 4)), np.broadcast_to(noise, (S, 4, 4)), slip)
        if slip > 0
        else None
    )
    if b is None:  # no slip: only the intended move, with probability 1
        b = np.broadcast_to(a, (S, 4, 4))
        prob = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (4, 1))
    return s * 4 + b, prob


@dataclass(frozen=True, eq=False)
class Layout:
    """The tables of one concrete grid. ``S`` states (``H * W`` on a map without objects), 4 actions.

    Per-cell attributes (length ``H * W``, for drawing): ``wall`` bool; ``kind`` int8 index into ``kinds`` of the
    object on the cell at the start (-1 none); ``start`` float64, the start cells' weights.

    Per-state attributes (length ``S``, in the indexing of :meth:`to_mdp`):

    move: (S, 4) int32, the next state for each direction actually moved (respawns already resolved).
    step_reward: (S, 4) float64, reward of moving in each direction (step cost + reward of the entered cell).
    performance: (S, 4) float64, intended performance of moving in each direction (hidden from trainers).
    event: (S, 4) int8, kind index of the object entered by that move, -1 for none.
    terminal: (S,) bool, terminal states (walls are not marked; they are unreachable).
    intended: (S,) bool, states on an intended-objective cell.
    initial: (S,) float64, start distribution.
    cell: (S,) int64, the agent's cell ``r * W + c``.
    config: (S,) int64, index of the state's object configuration (and flags) in ``config_keys``.

    kinds: object kind names (observation channels 2.. in this order), then ``flags`` (one channel each).
    slip: probability of a random other direction.
    """

    shape: tuple[int, int]
    wall: np.ndarray
    kind: np.ndarray
    kinds: tuple[str, ...]
    start: np.ndarray
    move: np.ndarray
    step_reward: np.ndarray
    performance: np.ndarray
    event: np.ndarray
    terminal: np.ndarray
    intended: np.ndarray
    initial: np.ndarray
    cell: np.ndarray
    config: np.ndarray
    slip: float
    gamma: float
    time_limit: int
    flags: tuple[str, ...] = ()
    config_keys: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    world: World | None = None
    dynamics: Dynamics = field(init=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        S = self.num_states
        intended_ev = (self.event >= 0) & self.intended[self.move]
        dyn = Dynamics(
            next=self.move.reshape(-1).astype(np.int64),
            reward=self.step_reward.reshape(-1),
            performance=self.performance.reshape(-1),
            event=self.event.reshape(-1),
            intended=intended_ev.reshape(-1),
            terminal=self.terminal,
            slip=self.slip,
        )
        assert dyn.next.shape == (S * 4,)
        object.__setattr__(self, "dynamics", dyn)

    @property
    def num_states(self) -> int:
        """S, the number of states (rows of :meth:`to_mdp`)."""
        return int(self.move.shape[0])

    @property
    def num_cells(self) -> int:
        """H * W, walls included."""
        return self.shape[0] * self.shape[1]

    @property
    def has_objects(self) -> bool:
        """True when states are (cell, objects, flags) keys rather than cells."""
        return self.world is not None

    @property
    def live(self) -> np.ndarray:
        """(S,) bool: states where the policy acts (neither terminal nor on a wall)."""
        return ~(self.terminal | self.wall[self.cell])

    @property
    def initial_cdf(self) -> np.ndarray:
        """(S,) cumulative start distribution (computed once; resets draw from it)."""
        if "cdf" not in self._cache:
            self._cache["cdf"] = np.cumsum(self.initial)
        return self._cache["cdf"]

    def coords(self, states: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of the agent's cell in each state."""
        return np.divmod(self.cell[np.asarray(states)], self.shape[1])

    def cells_of(self, kind: str) -> np.ndarray:
        """Cells ``r * W + c`` of every object of ``kind`` at the start (empty if the kind is absent). On a map
        without objects these are also the states on those cells; see :meth:`states_on`."""
        if kind not in self.kinds:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.kind == self.kinds.index(kind))

    def states_on(self, cells: np.ndarray) -> np.ndarray:
        """(S,) bool: states whose agent cell is one of ``cells``."""
        mask = np.zeros(self.num_cells, bool)
        mask[np.asarray(cells, dtype=np.int64)] = True
        return mask[self.cell]

    def per_cell(
        self, values: np.ndarray, reduce: str = "mean", weights: np.ndarray | None = None
    ) -> np.ndarray:
        """(H*W,) per-cell aggregate of per-state ``values`` (S,) over the object configurations: ``"mean"``
        (weighted by ``weights`` (S,) if given, e.g. state occupancy), ``"max"``, ``"min"`` or ``"sum"``; NaN on
        cells no state stands on. On a map without objects this is ``values`` itself (cast to float)."""
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (self.num_states,):
            raise ValueError(f"values must have shape (S,) = ({self.num_states},); got {v.shape}")
        n = self.num_cells
        count = np.bincount(self.cell, minlength=n).astype(np.float64)
        if reduce in ("mean", "sum"):
            w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
            total = np.bincount(self.cell, weights=v * w, minlength=n)
            if reduce == "sum":
                out = total
            else:
                wsum = np.bincount(self.cell, weights=w, minlength=n)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out = np.where(wsum > 0, total / np.where(wsum > 0, wsum, 1.0), np.nan)
        elif reduce in ("max", "min"):
            fill = -np.inf if reduce == "max" else np.inf
            out = np.full(n, fill)
            (np.maximum if reduce == "max" else np.minimum).at(out, self.cell, v)
        else:
            raise ValueError(f"reduce must be mean, sum, max or min; got {reduce!r}")
        return np.where(count > 0, out, np.nan)

    def transition_probs(self) -> np.ndarray:
        """(4, 4) matrix: probability that intended direction ``a`` (row) becomes direction ``b`` (column)."""
        p = np.full((4, 4), self.slip / 3.0)
        np.fill_diagonal(p, 1.0 - self.slip)
        return p

    def to_mdp(self, *, gamma: float | None = None, horizon: int | None = -1) -> TabularMDP:
        """The exact model of this layout: every (state, action, slip outcome) stepped through :func:`step`.

        Walls are unreachable absorbing states marked terminal. ``horizon`` defaults to the time limit
        (pass ``None`` for the infinite-horizon discounted MDP). The model also carries the expected intended
        performance ``performance (S, A)``.
        """
        S = self.num_states
        rows, prob = outcomes(self)
        d = self.dynamics
        nxt = d.next[rows]  # (S, 4, K): what step() returns for each outcome
        p = np.broadcast_to(prob[None], rows.shape)
        P = sp.csr_matrix(
            (p.reshape(-1), (np.repeat(np.arange(S * 4), rows.shape[2]), nxt.reshape(-1))), shape=(S * 4, S)
        )
        P.sum_duplicates()
        P.eliminate_zeros()
        R = (p * d.reward[rows]).sum(axis=2)
        perf = (p * d.performance[rows]).sum(axis=2)
        return TabularMDP(
            P,
            R,
            gamma=self.gamma if gamma is None else gamma,
            terminal=self.terminal | self.wall[self.cell],
            initial=self.initial,
            horizon=self.time_limit if horizon == -1 else horizon,
            performance=perf,
        )

    # -- what a state looks like ------------------------------------------------------------------------------
    def config_kind(self) -> np.ndarray:
        """(num_configs, H*W) int8: the object kind on each cell under each configuration (-1 none)."""
        if "kind" not in self._cache:
            if self.world is None:
                self._cache["kind"] = self.kind[None].copy()
            else:
                self._cache["kind"] = self.world.config_kind(self.config_keys)
        return self._cache["kind"]

    def config_flags(self) -> np.ndarray:
        """(num_configs, F) uint8: the flags under each configuration."""
        if self.world is None:
            return np.zeros((1, 0), np.uint8)
        return self.world.config_flags(self.config_keys)

    def config_features(self) -> np.ndarray:
        """(num_configs, K) float32: box rows and columns, item/door status, flags (the ``coords`` extras)."""
        if "features" not in self._cache:
            if self.world is None:
                self._cache["features"] = np.zeros((1, 0), np.float32)
            else:
                self._cache["features"] = self.world.config_features(self.config_keys)
        return self._cache["features"]

    def config_planes(self) -> np.ndarray:
        """(num_configs, C, H, W) uint8 ``grid`` observation planes without the agent: walls, an empty agent
        plane, one plane per object kind, one plane per flag (all ones while the flag is on)."""
        if "planes" not in self._cache:
            H, W = self.shape
            ck = self.config_kind()
            fl = self.config_flags()
            n = len(ck)
            nk = len(self.kinds)
            planes = np.zeros((n, 2 + nk + len(self.flags), H * W), np.uint8)
            planes[:, 0] = self.wall
            for k in range(nk):
                planes[:, 2 + k] = ck == k
            for f in range(len(self.flags)):
                planes[:, 2 + nk + f] = fl[:, f, None]
            self._cache["planes"] = planes.reshape(n, -1, H, W)
        return self._cache["planes"]


# ---------------------------------------------------------------------------------------------------------
# objects: the key-level step


@dataclass(frozen=True, eq=False)
class World:
    """The per-cell rules of a map with objects, and :meth:`step` on packed state keys.

    A key is ``cell + HW * (boxes + HW**nb * bits)``: ``boxes`` the sorted box cells in base ``HW``; ``bits`` one bit
    per one-shot item (1 = still there), per door (1 = closed) and per flag (1 = on), in that order.
    """

    H: int
    W: int
    wall: np.ndarray
    kind: np.ndarray  # static kind of each cell (items, doors, switches included; boxes not): the event
    box_kind: int
    reward: np.ndarray
    performance: np.ndarray
    terminal: np.ndarray
    respawn: np.ndarray
    when: np.ndarray  # flag bit that must be on for the cell to act, -1 none
    unless: np.ndarray  # flag bit that must be off, -1 none
    item_bit: np.ndarray  # bit of the one-shot item / door on the cell, -1 none
    door_keys: np.ndarray  # int64 mask of the key bits that open the door on the cell
    switch_bit: np.ndarray
    switch_mode: np.ndarray
    per_step: tuple[tuple[int, float, int], ...]  # (item bit, reward per step, fooled-by flag bit or -1)
    corner: np.ndarray
    cornered: float
    boxes: tuple[int, ...]
    num_items: int
    num_doors: int
    flag_p: tuple[float, ...]
    step_cost: float
    performance_step: float
    performance_unless: int
    start_cell: int

    @property
    def HW(self) -> int:
        return self.H * self.W

    @property
    def nb(self) -> int:
        return len(self.boxes)

    @property
    def flag_base(self) -> int:
        return self.num_items + self.num_doors

    def decode(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cell (N,), boxes (N, nb), bits (N,)) of keys."""
        HW = self.HW
        cell = keys % HW
        rest = keys // HW
        boxes = np.empty((len(keys), self.nb), np.int64)
        for i in range(self.nb):
            boxes[:, i] = rest % HW
            rest = rest // HW
        return cell, boxes, rest

    def encode(self, cell: np.ndarray, boxes: np.ndarray, bits: np.ndarray) -> np.ndarray:
        HW = self.HW
        code = np.zeros(len(cell), np.int64)
        for i in range(self.nb - 1, -1, -1):
            code = code * HW + boxes[:, i]
        return cell + HW * (code + HW**self.nb * bits)

    def _gate(self, c: np.ndarray, bits: np.ndarray) -> np.ndarray:
        w, u = self.when[c], self.unless[c]
        ok = (w < 0) | (((bits >> np.maximum(w, 0)) & 1) == 1)
        return ok & ((u < 0) | (((bits >> np.maximum(u, 0)) & 1) == 0))

    def _present(self, c: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """The cell still holds its object (one-shot items not yet taken, doors still closed, anything else)."""
        b = self.item_bit[c]
        return (b < 0) | (((bits >> np.maximum(b, 0)) & 1) == 1)

    def terminal_keys(self, keys: np.ndarray) -> np.ndarray:
        cell, _, bits = self.decode(keys)
        return self.terminal[cell] & self._gate(cell, bits) & self._present(cell, bits)

    def step(self, keys: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(next_keys, reward, performance, event)`` of moving in direction ``d`` from each key (all (N,))."""
        H, W = self.H, self.W
        cell, boxes, bits = self.decode(keys)
        stuck = self.wall[cell] | (self.terminal[cell] & self._gate(cell, bits) & self._present(cell, bits))
        r, c = np.divmod(cell, W)
        tr, tc = np.clip(r + _DR[d], 0, H - 1), np.clip(c + _DC[d], 0, W - 1)
        t = tr * W + tc
        blocked = self.wall[t].copy()
        push = np.zeros(len(keys), bool)
        beyond = t
        if self.nb:
            box_t = (boxes == t[:, None]).any(axis=1)
            beyond = np.clip(tr + _DR[d], 0, H - 1) * W + np.clip(tc + _DC[d], 0, W - 1)
            clear = (self.kind[beyond] < 0) | ~self._present(beyond, bits)
            free = ~self.wall[beyond] & ~(boxes == beyond[:, None]).any(axis=1) & clear & (beyond != t)
            blocked |= box_t & ~free
            push = box_t & free
        if self.num_doors:
            closed = (self.door_keys[t] != 0) & self._present(t, bits)
            has_key = (self.door_keys[t] & ~bits) != 0  # a key of the door's name was picked up
            blocked |= closed & ~has_key
        moved = ~blocked & ~stuck
        ncell = np.where(moved, t, cell)
        nbits = bits.copy()
        nboxes = boxes
        if self.nb:
            nboxes = np.where((boxes == t[:, None]) & push[:, None] & moved[:, None], beyond[:, None], boxes)
            nboxes = np.sort(nboxes, axis=1)
        ok = self._gate(t, bits)
        there = self._present(t, bits)
        entered = moved & there
        reward = np.full(len(keys), self.step_cost) + np.where(entered & ok, self.reward[t], 0.0)
        perf = np.full(len(keys), self.performance_step) + np.where(entered, self.performance[t], 0.0)
        kind_t = self.kind[t]
        event = np.where(entered & (kind_t >= 0), kind_t, -1)
        if self.nb:
            event = np.where(push & moved, self.box_kind, event)
            if self.cornered:
                perf = perf + np.where(push & moved & self.corner[beyond], self.cornered, 0.0)
        ib = self.item_bit[t]
        take = entered & (ib >= 0)
        nbits = np.where(take, nbits & ~(np.int64(1) << np.maximum(ib, 0)), nbits)
        sb = self.switch_bit[t]
        sw = entered & (sb >= 0) & ok
        mask = np.int64(1) << np.maximum(sb, 0)
        mode = self.switch_mode[t]
        nbits = np.where(sw & (mode == 0), nbits ^ mask, nbits)
        nbits = np.where(sw & (mode == 1), nbits | mask, nbits)
        nbits = np.where(sw & (mode == 2), nbits & ~mask, nbits)
        ncell = np.where(entered & ok & self.respawn[t], self.start_cell, ncell)
        for bit, amount, fooled in self.per_step:
            done = ((nbits >> bit) & 1) == 0
            seen = done | ((fooled >= 0) & (((nbits >> max(fooled, 0)) & 1) == 1))
            reward = reward + amount * seen
            perf = perf + amount * done
        if self.performance_unless >= 0:
            perf = np.where(((nbits >> self.performance_unless) & 1) == 1, 0.0, perf)
        nkeys = self.encode(ncell, nboxes, nbits)
        nkeys = np.where(stuck, keys, nkeys)
        return (
            nkeys,
            np.where(stuck, 0.0, reward),
            np.where(stuck, 0.0, perf),
            np.where(stuck, -1, event).astype(np.int8),
        )

    def initial_keys(self, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(keys, probabilities) of the start distribution: start cells x random flags."""
        cells = np.flatnonzero(start)
        bits0 = (1 << (self.num_items + self.num_doors)) - 1
        combos = [(bits0, 1.0)]
        for f, p in enumerate(self.flag_p):
            bit = 1 << (self.flag_base + f)
            nxt = []
            for b, q in combos:
                if p < 1.0:
                    nxt.append((b, q * (1.0 - p)))
                if p > 0.0:
                    nxt.append((b | bit, q * p))
            combos = nxt
        boxes = np.tile(np.array(sorted(self.boxes), np.int64), (len(cells), 1))
        keys, probs = [], []
        for b, q in combos:
            keys.append(self.encode(cells, boxes, np.full(len(cells), b, np.int64)))
            probs.append(start[cells] * q)
        return np.concatenate(keys), np.concatenate(probs)

    # -- observation pieces ----------------------------------------------------------------------------------
    def config_kind(self, config_keys: np.ndarray) -> np.ndarray:
        n = len(config_keys)
        _, boxes, bits = self.decode(config_keys * self.HW)
        out = np.tile(self.kind.astype(np.int8), (n, 1))
        gone = ~self._present(np.arange(self.HW)[None, :], bits[:, None])
        out[gone] = -1
        for i in range(self.nb):
            out[np.arange(n), boxes[:, i]] = self.box_kind
        return out

    def config_flags(self, config_keys: np.ndarray) -> np.ndarray:
        _, _, bits = self.decode(config_keys * self.HW)
        f = np.arange(len(self.flag_p))
        return ((bits[:, None] >> (self.flag_base + f)[None, :]) & 1).astype(np.uint8)

    def config_features(self, config_keys: np.ndarray) -> np.ndarray:
        _, boxes, bits = self.decode(config_keys * self.HW)
        cols = [boxes // self.W, boxes % self.W] if self.nb else []
        nbits = self.num_items + self.num_doors + len(self.flag_p)
        bitcols = [((bits >> k) & 1)[:, None] for k in range(nbits)]
        parts = [np.stack([cols[0][:, i], cols[1][:, i]], axis=1) for i in range(self.nb)] if self.nb else []
        allp = parts + bitcols
        if not allp:
            return np.zeros((len(config_keys), 0), np.float32)
        return np.concatenate(allp, axis=1).astype(np.float32)


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


def _place(
    spec: MapSpec, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], Any]]:
    """(wall (H, W), start (H, W), {cell: CellType}) of one draw of the map."""
    H, W = spec.shape
    start = np.zeros((H, W))
    obj: dict[tuple[int, int], Any] = {}
    if spec.maze is not None:
        assert rng is not None
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
                    obj[(int(r), int(c))] = ct
    for ct in spec.legend.values():
        if ct.place is None or ct.kind == "start":
            continue
        assert rng is not None
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
            obj[(int(cand[i][0]), int(cand[i][1]))] = ct
    return wall, start, obj


def compile_layout(spec: MapSpec, rng: np.random.Generator | None = None) -> Layout:
    """Build the tables of one layout of ``spec``; ``rng`` draws mazes and placements (required if randomised)."""
    if spec.randomized and rng is None:
        raise ValueError(f"{spec.name} is randomised: compile_layout needs an rng")
    H, W = spec.shape
    HW = H * W
    kinds = spec.kinds
    wall2, start2, obj = _place(spec, rng)
    boxes = [(r, c) for (r, c), ct in obj.items() if ct.kind == "box"]
    for ct in spec.objects:
        assert ct.at is not None
        if ct.kind == "box":
            boxes.append(ct.at)
        else:
            obj[ct.at] = ct
    for rc in boxes:
        obj.pop(rc, None)
    box_ct = next((ct for ct in (*spec.legend.values(), *spec.objects) if ct.kind == "box"), None)
    wall = wall2.reshape(-1)
    start = start2.reshape(-1) / start2.sum()
    flag_names = tuple(spec.flags)
    fidx = {f: i for i, f in enumerate(flag_names)}
    item_cells = [rc for rc, ct in obj.items() if ct.is_once and ct.kind != "door"]
    door_cells = [rc for rc, ct in obj.items() if ct.kind == "door"]
    ni, nd = len(item_cells), len(door_cells)
    fbase = ni + nd

    kind = np.full(HW, -1, np.int8)
    reward = np.zeros(HW)
    perf = np.zeros(HW)
    terminal = np.zeros(HW, bool)
    respawn = np.zeros(HW, bool)
    intended = np.zeros(HW, bool)
    when = np.full(HW, -1, np.int64)
    unless = np.full(HW, -1, np.int64)
    item_bit = np.full(HW, -1, np.int64)
    door_keys = np.zeros(HW, np.int64)
    switch_bit = np.full(HW, -1, np.int64)
    switch_mode = np.zeros(HW, np.int64)
    per_step: list[tuple[int, float, int]] = []
    key_bits: dict[str, int] = {}
    for i, (r, c) in enumerate(item_cells):
        ct = obj[(r, c)]
        item_bit[r * W + c] = i
        if ct.kind == "key":
            key_bits[ct.name] = key_bits.get(ct.name, 0) | (1 << i)
        if ct.reward_per_step:
            per_step.append((i, ct.reward_per_step, fidx[ct.fooled_by] + fbase if ct.fooled_by else -1))
    for j, (r, c) in enumerate(door_cells):
        item_bit[r * W + c] = ni + j
    for (r, c), ct in obj.items():
        s = r * W + c
        kind[s] = kinds.index(ct.kind)
        reward[s] = ct.reward
        perf[s] = ct.intended_performance
        terminal[s] = ct.terminal
        respawn[s] = ct.respawn
        intended[s] = ct.intended
        if ct.when:
            when[s] = fidx[ct.when] + fbase
        if ct.unless:
            unless[s] = fidx[ct.unless] + fbase
        if ct.kind == "door":
            door_keys[s] = key_bits.get(ct.name, 0)
        if ct.kind == "switch":
            switch_bit[s] = fidx[ct.flag] + fbase
            switch_mode[s] = _SWITCH_CODE[ct.switch]
    box_kind = kinds.index("box") if "box" in kinds else -1
    draw_kind = kind.copy()
    for r, c in boxes:
        draw_kind[r * W + c] = box_kind
    if respawn.any() and np.count_nonzero(start) != 1:
        raise ValueError(f"{spec.source}: 'respawn' cells need exactly one start cell")
    wr = wall2
    up = np.zeros_like(wr)
    up[1:] = wr[:-1]
    down = np.zeros_like(wr)
    down[:-1] = wr[1:]
    left = np.zeros_like(wr)
    left[:, 1:] = wr[:, :-1]
    right = np.zeros_like(wr)
    right[:, :-1] = wr[:, 1:]
    corner = ((up | down) & (left | right)).reshape(-1)
    world = World(
        H=H,
        W=W,
        wall=wall,
        kind=kind,
        box_kind=box_kind,
        reward=reward,
        performance=perf,
        terminal=terminal,
        respawn=respawn,
        when=when,
        unless=unless,
        item_bit=item_bit,
        door_keys=door_keys,
        switch_bit=switch_bit,
        switch_mode=switch_mode,
        per_step=tuple(per_step),
        corner=corner,
        cornered=box_ct.cornered if box_ct is not None else 0.0,
        boxes=tuple(r * W + c for r, c in boxes),
        num_items=ni,
        num_doors=nd,
        flag_p=tuple(spec.flags.values()),
        step_cost=spec.step_cost,
        performance_step=spec.step_cost if spec.performance_step is None else spec.performance_step,
        performance_unless=fidx[spec.performance_unless] + fbase if spec.performance_unless else -1,
        start_cell=int(np.argmax(start)),
    )
    common = dict(
        shape=(H, W),
        wall=wall,
        kind=draw_kind,
        kinds=kinds,
        start=start,
        slip=spec.slip,
        gamma=spec.gamma,
        time_limit=spec.time_limit,
    )
    if not spec.has_objects:
        # The states are the cells themselves (walls included), the numbering every run directory relies on.
        keys = np.arange(HW, dtype=np.int64)
        nk, rew, pf, ev = _step_all(world, keys)
        return Layout(
            move=nk.astype(np.int32),
            step_reward=rew,
            performance=pf,
            event=ev,
            terminal=terminal.copy(),
            intended=intended.copy(),
            initial=start,
            cell=keys,
            config=np.zeros(HW, np.int64),
            **common,
        )
    bits_total = ni + nd + len(flag_names)
    if float(HW) ** (1 + len(boxes)) * 2.0**bits_total >= 2.0**62:
        raise MapError(
            f"{spec.source}:{spec.map_line}:1: {len(boxes)} boxes and {bits_total} item/door/flag bits on a "
            f"{H}x{W} grid do not fit a 62-bit state key; use fewer boxes or a smaller map"
        )
    return _compile_objects(spec, world, common, intended)


def _step_all(world: World, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:meth:`World.step` of every key in every direction: (S, 4) arrays."""
    n = len(keys)
    k4 = np.repeat(keys, 4)
    d4 = np.tile(np.arange(4), n)
    nk, rew, pf, ev = world.step(k4, d4)
    return nk.reshape(n, 4), rew.reshape(n, 4), pf.reshape(n, 4), ev.reshape(n, 4)


def _compile_objects(spec: MapSpec, world: World, common: dict, intended_cell: np.ndarray) -> Layout:
    """Breadth-first search over :meth:`World.step` from the start distribution; states numbered in BFS order."""
    init, p0 = world.initial_keys(common["start"])
    order = np.unique(init)
    level = order
    seen = order
    parts = [level]
    rows: list[tuple[np.ndarray, ...]] = []
    total = len(order)
    while len(level):
        out = _step_all(world, level)
        rows.append(out)
        cand = np.unique(out[0])
        new = cand[~np.isin(cand, seen, assume_unique=True)]
        total += len(new)
        if total > spec.max_states:
            raise MapError(
                f"{spec.source}:{spec.map_line}:1: more than max_states = {spec.max_states:,} reachable states "
                f"(agent cell x objects x flags); simplify the map or raise 'max_states'"
            )
        if len(new):
            parts.append(new)
            seen = np.union1d(seen, new)
        level = new
    keys = np.concatenate(parts)
    nk = np.concatenate([r[0] for r in rows])
    sorter = np.argsort(keys)
    index = sorter[np.searchsorted(keys, nk, sorter=sorter)]
    S = len(keys)
    initial = np.zeros(S)
    np.add.at(initial, sorter[np.searchsorted(keys, init, sorter=sorter)], p0)
    cell = keys % world.HW
    config_keys, config = np.unique(keys // world.HW, return_inverse=True)
    return Layout(
        move=index.astype(np.int32),
        step_reward=np.concatenate([r[1] for r in rows]),
        performance=np.concatenate([r[2] for r in rows]),
        event=np.concatenate([r[3] for r in rows]),
        terminal=world.terminal_keys(keys),
        intended=intended_cell[cell],
        initial=initial / initial.sum(),
        cell=cell,
        config=config.astype(np.int64),
        flags=tuple(spec.flags),
        config_keys=config_keys.astype(np.int64),
        world=world,
        **common,
    )
