"""Observations and pictures of gridworld states, computed from a :class:`~rlcredit.gridworld.core.Layout`.

Observation modes:

- ``"index"``: the state index itself, ``Discrete(H*W)`` (networks one-hot it; a one-hot array per step would
  make batched stepping memory-bound);
- ``"coords"``: ``(row, col)`` as float32, ``Box(0, [H-1, W-1])``;
- ``"grid"``: ``(C, H, W)`` uint8 planes: walls, agent, then one plane per object kind.
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


def observation_space(obs: str, shape: tuple[int, int], num_kinds: int) -> spaces.Space:
    """The exact gymnasium space of an observation mode."""
    H, W = shape
    if obs == "index":
        return spaces.Discrete(H * W)
    if obs == "coords":
        return spaces.Box(
            low=np.zeros(2, np.float32), high=np.array([H - 1, W - 1], np.float32), dtype=np.float32
        )
    return spaces.Box(low=0, high=1, shape=(2 + num_kinds, H, W), dtype=np.uint8)


def static_planes(layout: Layout) -> np.ndarray:
    """(C, H, W) uint8 planes of a layout without the agent: walls, an empty agent plane, object kinds."""
    H, W = layout.shape
    planes = np.zeros((2 + len(layout.kinds), H * W), dtype=np.uint8)
    planes[0] = layout.wall
    for k in range(len(layout.kinds)):
        planes[2 + k] = layout.kind == k
    return planes.reshape(-1, H, W)


def observation_of(layout: Layout, states: np.ndarray, obs: str) -> np.ndarray:
    """Observations of a batch of states of one layout: (B,) int64, (B, 2) float32 or (B, C, H, W) uint8."""
    states = np.asarray(states, dtype=np.int64).reshape(-1)
    if obs == "index":
        return states.copy()
    if obs == "coords":
        r, c = layout.coords(states)
        return np.stack([r, c], axis=1).astype(np.float32)
    base = static_planes(layout)
    out = np.broadcast_to(base, (len(states), *base.shape)).copy()
    flat = out.reshape(len(states), -1)
    flat[np.arange(len(states)), layout.num_states + states] = 1
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
    cell = colours[layout.kind.astype(np.int64)]  # -1 picks the floor colour (last row)
    cell[layout.wall] = _COLOURS["wall"]
    cell[(layout.start > 0) & (layout.kind < 0) & ~layout.wall] = _COLOURS["start"]
    img = np.repeat(np.repeat(cell.reshape(H, W, 3), tile, axis=0), tile, axis=1)
    img[::tile] = (img[::tile] * 0.85).astype(np.uint8)
    img[:, ::tile] = (img[:, ::tile] * 0.85).astype(np.uint8)
    if state is not None:
        r, c = divmod(int(state), W)
        yy, xx = np.mgrid[0:tile, 0:tile]
        disc = (yy - tile / 2 + 0.5) ** 2 + (xx - tile / 2 + 0.5) ** 2 <= (tile * 0.36) ** 2
        img[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile][disc] = _COLOURS["agent"]
    return img


def render_ansi(layout: Layout, state: int | None, chars: dict[str, str]) -> str:
    """The map as text, the agent drawn as ``@``; ``chars`` maps object kinds to their map characters."""
    H, W = layout.shape
    out = []
    for s in range(H * W):
        if state is not None and s == int(state):
            out.append("@")
        elif layout.wall[s]:
            out.append("#")
        elif layout.kind[s] >= 0:
            out.append(chars.get(layout.kinds[layout.kind[s]], "?"))
        elif layout.start[s] > 0:
            out.append("S")
        else:
            out.append(".")
    return "\n".join("".join(out[r * W : (r + 1) * W]) for r in range(H)) + "\n"
