"""Steering vectors: mean activation differences between two sets of observations.

The *cheese vector* of a maze (Turner, Mini et al. 2023) is the activation of a layer with the cheese in the
observation minus the activation with the cheese removed (its plane of the ``grid`` observation zeroed), averaged
over every position of the agent in the maze. Adding ``alpha`` times it at inference (``alpha = -1`` subtracts
it) is meant to make the policy act as if there were no cheese. A *location vector* contrasts the cheese here
with the cheese there, in the same maze.

Observations are ``grid`` observations ``(B, C, H, W)``: plane 0 walls, 1 agent, ``2 + k`` object kind ``k``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from rlcredit.gridworld.core import Layout
from rlcredit.gridworld.observe import observation_of
from rlcredit.steering.hooks import Forward, activations

__all__ = [
    "active_states",
    "cheese_vector",
    "cheese_vectors",
    "location_vector",
    "mean_difference",
    "without_kind",
]


def without_kind(obs: np.ndarray, kind: int) -> np.ndarray:
    """A copy of grid observations ``(B, C, H, W)`` with object kind ``kind``'s plane (channel ``2 + kind``) zeroed."""
    obs = np.asarray(obs)
    if obs.ndim != 4 or not 0 <= 2 + kind < obs.shape[1]:
        raise ValueError(
            f"expected grid observations (B, C, H, W) with a plane for kind {kind}; got {obs.shape}"
        )
    out = obs.copy()
    out[:, 2 + kind] = 0
    return out


def active_states(layout: Layout) -> np.ndarray:
    """Cells the agent can stand on and act from: not walls, not terminal."""
    return np.flatnonzero(~layout.wall & ~layout.terminal)


@torch.no_grad()
def mean_difference(
    model: nn.Module,
    layer: str,
    obs_a: np.ndarray | torch.Tensor,
    obs_b: np.ndarray | torch.Tensor,
    *,
    forward: Forward | None = None,
) -> torch.Tensor:
    """``mean(act(obs_a)) - mean(act(obs_b))`` at ``layer``: a steering vector of the layer's feature shape.

    The two batches may differ in size; when they are paired (same states), this is the mean of the
    per-observation differences.
    """
    a = activations(model, obs_a, [layer], forward=forward)[layer].double().mean(0)
    b = activations(model, obs_b, [layer], forward=forward)[layer].double().mean(0)
    return (a - b).float()


def _kind_index(layout: Layout, kind: str) -> int:
    if kind not in layout.kinds:
        raise ValueError(f"the layout has no object kind {kind!r} (kinds: {', '.join(layout.kinds)})")
    return layout.kinds.index(kind)


def cheese_vector(
    model: nn.Module,
    layout: Layout,
    layer: str,
    *,
    states: Sequence[int] | np.ndarray | None = None,
    kind: str = "cheese",
    forward: Forward | None = None,
) -> torch.Tensor:
    """The cheese vector of one maze: act(cheese present) - act(cheese removed), averaged over states.

    Parameters
    ----------
    states : cells the agent stands on, default :func:`active_states` (every non-wall, non-terminal cell)
    kind : the object whose plane is removed

    Returns
    -------
    Tensor of the layer's feature shape (float32).
    """
    states = active_states(layout) if states is None else np.asarray(states, dtype=np.int64)
    obs = observation_of(layout, states, "grid")
    return mean_difference(model, layer, obs, without_kind(obs, _kind_index(layout, kind)), forward=forward)


def cheese_vectors(
    model: nn.Module,
    layouts: Sequence[Layout],
    layer: str,
    *,
    kind: str = "cheese",
    forward: Forward | None = None,
) -> torch.Tensor:
    """The cheese vectors of several mazes stacked: ``(N, *feature_shape)``."""
    return torch.stack([cheese_vector(model, lay, layer, kind=kind, forward=forward) for lay in layouts])


def location_vector(
    model: nn.Module,
    here: Layout,
    there: Layout,
    layer: str,
    *,
    forward: Forward | None = None,
) -> torch.Tensor:
    """act(object where ``here`` has it) - act(object where ``there`` has it), averaged over shared states.

    ``here`` and ``there`` are the same maze with the object on different cells (see
    :func:`rlcredit.steering.behaviour.layout_with_object`); the agent stands on every cell that is active in
    both.
    """
    if here.shape != there.shape or not np.array_equal(here.wall, there.wall):
        raise ValueError("a location vector contrasts one maze with itself: the two layouts' walls differ")
    states = np.intersect1d(active_states(here), active_states(there))
    return mean_difference(
        model,
        layer,
        observation_of(here, states, "grid"),
        observation_of(there, states, "grid"),
        forward=forward,
    )
