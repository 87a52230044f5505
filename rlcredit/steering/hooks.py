"""Reading and editing a network's activations at named layers with torch forward hooks.

A layer is named as in ``dict(model.named_modules())`` (``"actor.0.4"``, ``"actor.2"``; ``""`` is the model
itself); its *activation* is the tensor the module returns, ``(B, *feature_shape)``. Every function here
registers its hooks inside a context manager and removes them in a ``finally`` clause, so no hook outlives the
``with`` block, whether it ends normally or by an exception.

Three kinds of use::

    with record(policy, ["actor.2"]) as acts:       # capture
        policy.logits(obs)
    acts["actor.2"]                                  # (B, 64)

    with steer(policy, "actor.2", vector, alpha=-1.0):   # add alpha * vector (Turner, Mini et al. 2023)
        probs = policy.action_probs(obs)

    with ablate(policy, "actor.0.4", channels=[3], method="mean", reference=ref):   # zero / mean / resample
        probs = policy.action_probs(obs)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Literal

import numpy as np
import torch
from torch import nn

__all__ = [
    "ABLATIONS",
    "Forward",
    "ablate",
    "action_probs",
    "activations",
    "default_forward",
    "get_module",
    "intervene",
    "layer_names",
    "record",
    "steer",
]

Forward = Callable[[torch.Tensor], torch.Tensor]
"""What runs the network on a batch: ``model`` itself, or e.g. ``policy.logits`` for a rlcredit ``Policy``."""

ABLATIONS = ("zero", "mean", "resample")


def default_forward(model: nn.Module) -> Forward:
    """What runs ``model`` on a batch: its ``logits`` method if it has one (a rlcredit ``Policy``), else itself."""
    return getattr(model, "logits", model)


def layer_names(model: nn.Module) -> list[str]:
    """Every hookable layer name of ``model`` (``""`` is the model itself), in registration order."""
    return [name for name, _ in model.named_modules()]


def get_module(model: nn.Module, layer: str) -> nn.Module:
    """The submodule named ``layer``.

    Raises
    ------
    KeyError
        ``"no layer 'actor.9' in Policy; layers: actor, actor.0, ..."``.
    """
    modules = dict(model.named_modules())
    if layer not in modules:
        names = ", ".join(repr(n) for n in modules if n)
        raise KeyError(f"no layer {layer!r} in {type(model).__name__}; layers: {names}")
    return modules[layer]


def _check_tensor(layer: str, output: object) -> torch.Tensor:
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"layer {layer!r} returns {type(output).__name__}, not a tensor; hook a layer that returns one"
        )
    return output


@contextmanager
def record(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Capture the activations of ``layers`` during the forward passes run inside the block.

    Yields
    ------
    dict of str to Tensor
        Filled as forward passes run: ``acts[layer]`` is the detached activation ``(B, *feature_shape)``; several
        forward passes are concatenated along the batch axis.
    """
    store: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    out: dict[str, torch.Tensor] = {}

    def make_hook(layer: str) -> Callable[[nn.Module, tuple, object], None]:
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            store[layer].append(_check_tensor(layer, output).detach())
            out[layer] = store[layer][0] if len(store[layer]) == 1 else torch.cat(store[layer])

        return hook

    modules = {layer: get_module(model, layer) for layer in layers}
    with ExitStack() as stack:
        for layer, module in modules.items():
            stack.callback(module.register_forward_hook(make_hook(layer)).remove)
        yield out


@torch.no_grad()
def activations(
    model: nn.Module,
    obs: np.ndarray | torch.Tensor,
    layers: Sequence[str],
    *,
    forward: Forward | None = None,
) -> dict[str, torch.Tensor]:
    """Activations of ``layers`` for a batch of observations.

    Parameters
    ----------
    model : nn.Module
        Owner of the named layers.
    obs : (B, *obs_shape) array or tensor
    layers : names in ``dict(model.named_modules())``
    forward : callable, optional
        What to run on the batch (default :func:`default_forward`: ``policy.logits`` for a rlcredit ``Policy``,
        which has no ``forward`` of its own, else ``model``).

    Returns
    -------
    dict of str to Tensor ``(B, *feature_shape)``
    """
    x = torch.as_tensor(np.asarray(obs)) if not isinstance(obs, torch.Tensor) else obs
    with record(model, layers) as acts:
        (forward or default_forward(model))(x)
    missing = [layer for layer in layers if layer not in acts]
    if missing:
        raise ValueError(f"layers {missing} did not run in the forward pass (not on the path to the output?)")
    return {layer: acts[layer] for layer in layers}


@torch.no_grad()
def action_probs(
    model: nn.Module, obs: np.ndarray | torch.Tensor, *, forward: Forward | None = None
) -> np.ndarray:
    """Softmax of the network's output (float64, as ``Policy.action_probs``): ``(B, A)`` numpy."""
    x = torch.as_tensor(np.asarray(obs)) if not isinstance(obs, torch.Tensor) else obs
    return torch.softmax((forward or default_forward(model))(x).double(), dim=-1).numpy()


@contextmanager
def intervene(model: nn.Module, layer: str, edit: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Replace the activation of ``layer`` by ``edit(activation)`` in every forward pass inside the block."""
    module = get_module(model, layer)

    def hook(module: nn.Module, inputs: tuple, output: object) -> torch.Tensor:
        return edit(_check_tensor(layer, output))

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _as_feature(vector: torch.Tensor | np.ndarray, layer: str) -> torch.Tensor:
    v = torch.as_tensor(np.asarray(vector)) if not isinstance(vector, torch.Tensor) else vector
    if not torch.isfinite(v).all():
        raise ValueError(f"the vector for layer {layer!r} has non-finite entries")
    return v.detach()


@contextmanager
def steer(model: nn.Module, layer: str, vector: torch.Tensor | np.ndarray, alpha: float) -> Iterator[None]:
    """Add ``alpha * vector`` to the activation of ``layer`` (activation addition).

    ``vector`` has the layer's feature shape (it is broadcast over the batch). With ``alpha = 0`` the added
    term is exactly zero, so the network's outputs are bit-identical to the unsteered network's.
    """
    v = _as_feature(vector, layer)

    def edit(act: torch.Tensor) -> torch.Tensor:
        if tuple(act.shape[1:]) != tuple(v.shape):
            raise ValueError(
                f"steering vector has shape {tuple(v.shape)}, layer {layer!r} activations {tuple(act.shape[1:])}"
            )
        return act + float(alpha) * v.to(act.dtype)

    with intervene(model, layer, edit):
        yield


def _mask(
    feature_shape: tuple[int, ...], units: Sequence[int] | None, channels: Sequence[int] | None, layer: str
) -> torch.Tensor:
    """Bool mask of the feature shape: the chosen flat ``units`` or whole ``channels`` (axis 1 of the activation)."""
    mask = torch.zeros(feature_shape, dtype=torch.bool)
    size = int(np.prod(feature_shape))
    if units is not None:
        idx = torch.as_tensor(np.asarray(units, dtype=np.int64)).reshape(-1)
        if idx.numel() and (idx.min() < 0 or idx.max() >= size):
            raise ValueError(f"unit index out of range for layer {layer!r} with {size} units")
        mask.view(-1)[idx] = True
    if channels is not None:
        if not feature_shape:
            raise ValueError(f"layer {layer!r} has no channel axis")
        idx = torch.as_tensor(np.asarray(channels, dtype=np.int64)).reshape(-1)
        if idx.numel() and (idx.min() < 0 or idx.max() >= feature_shape[0]):
            raise ValueError(
                f"channel index out of range for layer {layer!r} with {feature_shape[0]} channels"
            )
        mask[idx] = True
    return mask


@contextmanager
def ablate(
    model: nn.Module,
    layer: str,
    *,
    units: Sequence[int] | None = None,
    channels: Sequence[int] | None = None,
    method: Literal["zero", "mean", "resample"] = "zero",
    reference: torch.Tensor | np.ndarray | None = None,
    seed: int = 0,
) -> Iterator[None]:
    """Ablate chosen units or channels of ``layer`` in every forward pass inside the block.

    Parameters
    ----------
    units : sequence of int, optional
        Indices into the flattened feature vector of one example.
    channels : sequence of int, optional
        Indices along the first feature axis (the channels of a ``(B, C, H, W)`` convolution output); every
        position of a chosen channel is ablated. ``units`` and ``channels`` may be combined.
    method : "zero" | "mean" | "resample"
        Set the chosen units to 0; to their mean over ``reference``; or, for each example of the batch, to
        their values in one row of ``reference`` drawn uniformly at random (resample ablation).
    reference : (N, *feature_shape) activations
        Needed for "mean" and "resample", e.g. ``activations(model, obs_of_every_state, [layer])[layer]``.
    seed : int
        Seeds the rows drawn by "resample" (one generator for the block, so passes differ but repeat).
    """
    if method not in ABLATIONS:
        raise ValueError(f"unknown ablation {method!r}; use one of {', '.join(ABLATIONS)}")
    if units is None and channels is None:
        raise ValueError("ablate needs units or channels")
    ref = None
    if method != "zero":
        if reference is None:
            raise ValueError(f"{method} ablation needs reference activations")
        ref = _as_feature(reference, layer)
        if ref.ndim < 1 or ref.shape[0] < 1:
            raise ValueError("reference activations must be a non-empty batch (N, *feature_shape)")
    gen = torch.Generator().manual_seed(int(seed))

    def edit(act: torch.Tensor) -> torch.Tensor:
        shape = tuple(act.shape[1:])
        if ref is not None and tuple(ref.shape[1:]) != shape:
            raise ValueError(
                f"reference activations have shape {tuple(ref.shape[1:])}, layer {layer!r} {shape}"
            )
        mask = _mask(shape, units, channels, layer)
        if method == "zero" or ref is None:  # ref is set for every other method
            fill = torch.zeros_like(act)
        elif method == "mean":
            fill = ref.to(act.dtype).mean(0, keepdim=True).expand_as(act)
        else:
            rows = torch.randint(ref.shape[0], (act.shape[0],), generator=gen)
            fill = ref.to(act.dtype)[rows]
        return torch.where(mask, fill, act)

    with intervene(model, layer, edit):
        yield
