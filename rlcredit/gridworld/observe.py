"""Observations and pictures of gridworld states, computed from a :class:`~rlcredit.gridworld.core.Layout`.

Observation modes:

- ``"index"``: the state index itself, ``Discrete(S)`` (networks one-hot it; a one-hot array per step would
  make batched stepping memory-bound);
- ``"coords"``: ``(row, col)`` of the agent as float32, ``Box(0, [H-1, W-1])``; on a map with objects followed by
  each box's row and column, each one-shot item's and door's status (1 = still there / closed) and each flag;
- ``"grid"``: ``(C, H, W)`` uint8 planes: walls, agent, one plane per object kind (where the objects are now),
  then one plane per flag (all ones while the flag is on).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from rlcredit.gridworld.core import Layout

OBS_MODES = ("index", "coords", "grid")


def check_obs_mode(obs: str) -> str:
    if obs not in OBS_MODES:
        raise ValueError(f"unknown observation mode {obs!r}; expected one of {', '.join(OBS_MODES)}")
    return obs


def observation_space(obs: str, layout: Layout) -> spaces.Space:
    """The exact gymnasium space of an observation mode for a layout (every layout of a randomised map has the
    same space: randomised maps hold no objects with state)."""
    H, W = layout.shape
    if obs == "index":
        return spaces.Discrete(layout.num_states)
    if obs == "coords":
        F = layout.config_features().shape[1]
        high = np.full(2 + F, 1.0, np.float32)
        high[:2] = (H - 1, W - 1)
        nb = len(layout.world.boxes) if layout.world is not None else 0
        high[2 : 2 + 2 * nb] = np.tile([H - 1, W - 1], nb)
        return spaces.Box(low=np.zeros(2 + F, np.float32), high=high, dtype=np.float32)
    return spaces.Box(low=0, high=1, shape=(2 + len(layout.kinds) + len(layout.flags), H, W), dtype=np.uint8)


def static_planes(layout: Layout) -> np.ndarray:
    """(C, H, W) uint8 planes of a layout's start configuration without the agent (see :func:`observation_of`)."""
    return layout.config_planes()[0]


def observation_of(layout: Layout, states: np.ndarray, obs: str) -> np.ndarray:
    """Observations of a batch of states of one layout: (B,) int64, (B, 2) float32 or (B, C, H, W) uint8."""
    states = np.asarray(states, dtype=np.int64).reshape(-1)
    if obs == "index":
        return states.copy()
    if obs == "coords":
        r, c = layout.coords(states)
        rc = np.stack([r, c], axis=1).astype(np.float32)
        feats = layout.config_features()
        if feats.shape[1] == 0:
            return rc
        return np.concatenate([rc, feats[layout.config[states]]], axis=1)
    planes = layout.config_planes()
    out = (
        planes[layout.config[states]]
        if len(planes) > 1
        else np.broadcast_to(planes[0], (len(states), *planes.shape[1:])).copy()
    )
    flat = out.reshape(len(states), -1)
    flat[np.arange(len(states)), layout.num_cells + layout.cell[states]] = 1
    return out


# colours of the renderer, RGB
_COLOURS = {
    "floor": (236, 236, 230),
    "wall": (60, 64, 72),
    "agent": (214, 39, 40),
    "start": (200, 220, 245),
    "goal": (44, 160, 44),
    "button": (255, 170, 0),
    "lava": (120, 30, 30),
    "cliff": (90, 40, 40),
    "cheese": (250, 220, 60),
    "hazard": (150, 50, 50),
    "reward": (100, 190, 120),
    "box": (150, 110, 60),
    "coin": (240, 200, 40),
    "key": (230, 180, 0),
    "door": (110, 70, 40),
    "switch": (90, 90, 200),
    "tomato": (220, 60, 60),
    "checkpoint": (80, 170, 220),
    "punishment": (170, 0, 120),
    "interruption": (250, 120, 250),
}
_PALETTE = [(31, 119, 180), (148, 103, 189), (140, 86, 75), (227, 119, 194), (23, 190, 207), (188, 189, 34)]


def kind_colour(kind: str, index: int) -> tuple[int, int, int]:
    """Display colour of an object kind (known kinds have fixed colours)."""
    return _COLOURS.get(kind, _PALETTE[index % len(_PALETTE)])


def render_rgb(layout: Layout, state: int | None, tile: int = 16) -> np.ndarray:
    """(H*tile, W*tile, 3) uint8 picture: cells coloured by kind, the agent as a red disc."""
    H, W = layout.shape
    colours = np.array(
        [kind_colour(k, i) for i, k in enumerate(layout.kinds)] + [_COLOURS["floor"]], np.uint8
    )
    kind = layout.kind if state is None else layout.config_kind()[layout.config[int(state)]]
    cell = colours[kind.astype(np.int64)]  # -1 picks the floor colour (last row)
    cell[layout.wall] = _COLOURS["wall"]
    cell[(layout.start > 0) & (kind < 0) & ~layout.wall] = _COLOURS["start"]
    img = np.repeat(np.repeat(cell.reshape(H, W, 3), tile, axis=0), tile, axis=1)
    img[::tile] = (img[::tile] * 0.85).astype(np.uint8)
    img[:, ::tile] = (img[:, ::tile] * 0.85).astype(np.uint8)
    if state is not None:
        r, c = divmod(int(layout.cell[int(state)]), W)
        yy, xx = np.mgrid[0:tile, 0:tile]
        disc = (yy - tile / 2 + 0.5) ** 2 + (xx - tile / 2 + 0.5) ** 2 <= (tile * 0.36) ** 2
        img[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile][disc] = _COLOURS["agent"]
    return img


def render_ansi(layout: Layout, state: int | None, chars: dict[str, str]) -> str:
    """The map as text, the agent drawn as ``@``; ``chars`` maps object kinds to their map characters."""
    H, W = layout.shape
    here = None if state is None else int(layout.cell[int(state)])
    kind = layout.kind if state is None else layout.config_kind()[layout.config[int(state)]]
    out = []
    for s in range(H * W):
        if here is not None and s == here:
            out.append("@")
        elif layout.wall[s]:
            out.append("#")
        elif kind[s] >= 0:
            out.append(chars.get(layout.kinds[kind[s]], "?"))
        elif layout.start[s] > 0:
            out.append("S")
        else:
            out.append(".")
    return "\n".join("".join(out[r * W : (r + 1) * W]) for r in range(H)) + "\n"
