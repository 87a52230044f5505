"""Policy gradients of the actor: per sample with ``torch.func``, and the batch estimate.

For a step with credit ``c_t`` the update's policy-gradient term is ``g_t = c_t grad log pi(a_t|s_t)``
(gradient ascent direction). :func:`grad_stats` returns ``|g_t|`` and the cosine between ``g_t`` and the
actor's actual parameter change over the update, for a subsample of steps;
:func:`sampled_policy_gradient` the batch's estimate ``mean_t g_t``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from rlcredit.trainers.networks import OneHotLinear


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
    obs = np.asarray(obs)
    actions = np.asarray(actions)
    found = _linear_stats(actor, params, deltas, obs, actions)
    if found is None:
        # Steps with the same observation and action share grad log pi: differentiate each pair once.
        keys = np.concatenate([obs.reshape(len(actions), -1), actions[:, None]], axis=1)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        k = len(first)
        sq = torch.zeros(k, dtype=delta.dtype)
        dot = torch.zeros(k, dtype=delta.dtype)
        with torch.no_grad():
            grads = per_sample_logp_grads(
                actor, params, torch.as_tensor(obs[first]), torch.as_tensor(actions[first])
            )
            # Reduce parameter by parameter: never builds the (K, P) matrix.
            for name, g in grads.items():
                dims = tuple(range(1, g.ndim))
                sq += (g * g).sum(dims)
                dot += (g * deltas[name]).sum(dims)
        found = sq[inverse], dot[inverse]
    sq, dot = found
    with torch.no_grad():
        c = torch.as_tensor(credit, dtype=delta.dtype)
        norm = c.abs() * sq.sqrt()
        dn = delta.norm()
        cos = c.sign() * dot / (sq.sqrt() * dn)
        cos = torch.where((norm > 0) & (dn > 0), cos, torch.nan)
    return norm.numpy().astype(np.float32), cos.numpy().astype(np.float32)


def _linear_stats(
    actor: nn.Module,
    params: dict[str, torch.Tensor],
    deltas: dict[str, torch.Tensor],
    obs: np.ndarray,
    actions: np.ndarray,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``|grad log pi(a_i|s_i)|^2`` and ``<grad log pi(a_i|s_i), delta>`` per sample in closed form, for
    ``nn.Sequential`` actors whose parameters all sit in ``nn.Linear`` / ``OneHotLinear`` layers on
    (K, features) inputs (the MLP actors of :class:`~rlcredit.trainers.networks.Policy`).

    A linear layer's per-sample weight gradient is the outer product ``g_i x_i^T`` of the gradient at its
    output and its input, so ``|grad W|^2 = |g_i|^2 |x_i|^2`` and ``<grad W, dW> = g_i^T dW x_i``; one
    forward and one backward pass give every ``g_i`` and ``x_i`` (samples do not interact). Returns None
    for other architectures (the caller then uses :func:`per_sample_logp_grads`).
    """
    if not isinstance(actor, nn.Sequential):
        return None
    steps: list[tuple[nn.Module, str]] = []
    for i, m in enumerate(actor):
        own = {n for n, _ in m.named_parameters()}
        if isinstance(m, nn.Linear | OneHotLinear) and own <= {"weight", "bias"}:
            steps.append((m, str(i)))
        elif own:
            return None
        else:
            steps.append((m, ""))
    x = torch.as_tensor(obs)
    inputs, outputs, layers = [], [], []
    for m, name in steps:
        if not name:
            x = m(x)
            continue
        w = params[f"{name}.weight"].detach().requires_grad_(True)
        b = params.get(f"{name}.bias")
        b = None if b is None else b.detach().requires_grad_(True)
        if isinstance(m, OneHotLinear):
            z = w.t()[x.long() - m.start]
            z = z + b if b is not None else z
        else:
            if x.ndim != 2:
                return None
            z = torch.nn.functional.linear(x, w, b)
        inputs.append(x.detach())
        outputs.append(z)
        layers.append((m, name))
        x = z
    logp = torch.log_softmax(x, dim=-1).gather(1, torch.as_tensor(actions).long()[:, None]).sum()
    grads = torch.autograd.grad(logp, outputs)
    k = len(actions)
    sq = torch.zeros(k, dtype=x.dtype)
    dot = torch.zeros(k, dtype=x.dtype)
    with torch.no_grad():
        for (m, name), x_in, g in zip(layers, inputs, grads):
            gn = (g * g).sum(1)
            dw = deltas[f"{name}.weight"]
            if isinstance(m, OneHotLinear):
                sq += gn
                dot += (g * dw.t()[x_in.long() - m.start]).sum(1)
            else:
                x_in = x_in.to(g.dtype)
                sq += gn * (x_in * x_in).sum(1)
                dot += (g * (x_in @ dw.t())).sum(1)
            if f"{name}.bias" in deltas:
                sq += gn
                dot += (g * deltas[f"{name}.bias"]).sum(1)
    return sq, dot


def sampled_policy_gradient(
    actor: torch.nn.Module,
    actions: np.ndarray,
    credit: np.ndarray,
    *,
    obs: np.ndarray | None = None,
    states: np.ndarray | None = None,
    all_obs: np.ndarray | None = None,
) -> torch.Tensor:
    """The policy-gradient estimate ``grad_theta mean_t credit_t log pi_theta(a_t|s_t)`` of ``actor``.

    Parameters
    ----------
    actor : module mapping ``(B, *obs_shape)`` to ``(B, A)`` logits, at the parameters of interest
    actions, credit : (B,)
    obs : (B, *obs_shape), optional
        The steps' observations.
    states, all_obs : (B,) ints and (S, *obs_shape), optional
        The steps' state indices and every state's observation (a fixed gridworld): steps are summed per
        (state, action) first, so the backward pass runs over S states instead of B steps. Used instead
        of ``obs`` when given.

    Returns
    -------
    torch.Tensor (P,)
        Flattened in ``actor.parameters()`` order (an ascent direction of the return; no entropy term).
    """
    params = list(actor.parameters())
    n = len(actions)
    actions = np.asarray(actions, np.int64)
    credit = np.asarray(credit, dtype=np.float64)
    per_state = all_obs is not None and states is not None
    if not per_state and obs is None:
        raise ValueError("sampled_policy_gradient needs obs, or states and all_obs")
    logp = torch.log_softmax(actor(torch.as_tensor(all_obs if per_state else obs)).double(), dim=-1)
    rows, num_actions = logp.shape
    if per_state:
        flat = np.asarray(states, np.int64) * num_actions + actions
        w: np.ndarray = np.bincount(flat, weights=credit, minlength=rows * num_actions).reshape(
            rows, num_actions
        )
    else:
        w = np.zeros((rows, num_actions))
        w[np.arange(n), actions] = credit
    loss = (torch.as_tensor(w) * logp).sum() / max(n, 1)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat(
        [(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)]
    ).detach()
