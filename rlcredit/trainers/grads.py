"""Per-sample policy gradients with ``torch.func``: how hard, and in which direction, each step pushed.

For a step with credit ``c_t`` the update's policy-gradient term is ``g_t = c_t grad log pi(a_t|s_t)``
(gradient ascent direction). :func:`grad_stats` returns ``|g_t|`` and the cosine between ``g_t`` and the
actor's actual parameter change over the update, for a subsample of steps.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap


def flat_params(module: nn.Module) -> torch.Tensor:
    """All parameters of ``module`` as one detached 1-D tensor (copy), in ``named_parameters`` order."""
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()]).clone()


def per_sample_logp_grads(
    actor: nn.Module, params: dict[str, torch.Tensor], obs: torch.Tensor, actions: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``grad_theta log pi_theta(a_i|s_i)`` for every sample, at parameters ``params``.

    Parameters
    ----------
    actor : module mapping ``(B, *obs_shape)`` to ``(B, A)`` logits
    params : name -> tensor, the parameters to differentiate at (``named_parameters`` names)
    obs : (K, *obs_shape)
    actions : (K,) int64

    Returns
    -------
    dict name -> (K, *param_shape) tensor
    """

    def logp(p: dict[str, torch.Tensor], o: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        logits = functional_call(actor, p, (o.unsqueeze(0),))[0]
        return torch.log_softmax(logits, dim=-1).gather(0, a.unsqueeze(0)).squeeze(0)

    return vmap(grad(logp), in_dims=(None, 0, 0))(params, obs, actions)


def grad_stats(
    actor: nn.Module,
    params_before: torch.Tensor,
    obs: np.ndarray,
    actions: np.ndarray,
    credit: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Norm and cosine-with-the-update of per-sample policy gradients ``credit_i grad log pi(a_i|s_i)``.

    Parameters
    ----------
    actor : the policy network *after* the update
    params_before : (P,) the actor's flattened parameters before the update (:func:`flat_params`); the
        gradients are taken there, at the policy that collected the data.
    obs : (K, *obs_shape)
    actions, credit : (K,)

    Returns
    -------
    norm, cos : (K,) float32
        ``cos`` is NaN where the gradient or the update is zero.
    """
    delta = flat_params(actor) - params_before
    params, deltas, offset = {}, {}, 0
    for name, p in actor.named_parameters():
        params[name] = params_before[offset : offset + p.numel()].view_as(p)
        deltas[name] = delta[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    # Steps with the same observation and action share grad log pi: differentiate each pair once.
    keys = np.concatenate([np.asarray(obs).reshape(len(actions), -1), np.asarray(actions)[:, None]], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    k = len(first)
    sq = torch.zeros(k, dtype=delta.dtype)
    dot = torch.zeros(k, dtype=delta.dtype)
    with torch.no_grad():
        grads = per_sample_logp_grads(
            actor,
            params,
            torch.as_tensor(np.asarray(obs)[first]),
            torch.as_tensor(np.asarray(actions)[first]),
        )
        # Reduce parameter by parameter: never builds the (K, P) matrix.
        for name, g in grads.items():
            dims = tuple(range(1, g.ndim))
            sq += (g * g).sum(dims)
            dot += (g * deltas[name]).sum(dims)
        sq, dot = sq[inverse], dot[inverse]
        c = torch.as_tensor(credit, dtype=delta.dtype)
        norm = c.abs() * sq.sqrt()
        dn = delta.norm()
        cos = c.sign() * dot / (sq.sqrt() * dn)
        cos = torch.where((norm > 0) & (dn > 0), cos, torch.nan)
    return norm.numpy().astype(np.float32), cos.numpy().astype(np.float32)
