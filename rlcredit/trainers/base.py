"""What PPO and REINFORCE share: the policy, its optimizer, the random stream and saving all of it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.optim.optimizer as _torch_optimizer

from rlcredit.tracking import rng_from_json, rng_state_to_json
from rlcredit.trainers.config import CommonConfig
from rlcredit.trainers.networks import Policy
from rlcredit.trainers.rollout import Episodes, EpisodeTracker, VecEnv


@dataclass
class UpdateResult:
    """What one update did.

    Attributes
    ----------
    metrics : dict
        ``losses/...`` scalars of the update.
    steps : dict of str to (B,) arrays
        Credit-record columns of the B steps learned from, known once the update is done (everything but
        ``update``, ``logp_new``, ``grad_norm``, ``grad_cos``, ``exact_q``, ``exact_advantage``), and
        ``layout_seed`` (procedural gridworlds; -1 otherwise), which is not a record column.
    obs : (B, *obs_shape)
        The observations of those steps.
    logp_new : (B,) float32 or None
        log pi_new(a_t|s_t) if the trainer computed it.
    first_credit : (B,) float32 or None
        The credit the update's first gradient applies to each step at the parameters that collected
        the rollout: PPO the first epoch's (normalized) advantage, REINFORCE ``G_t - b(s_t)`` (normalized
        when ``norm_adv``). ``mean_t first_credit_t grad log pi(a_t|s_t)`` is the trainer's policy-gradient
        estimate at those parameters (``exact/grad_cos`` compares it with the exact gradient).
    """

    metrics: dict[str, float]
    steps: dict[str, np.ndarray]
    obs: np.ndarray
    logp_new: np.ndarray | None = None
    first_credit: np.ndarray | None = None


def adam_step(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()`` of a fused ``torch.optim.Adam``, calling its two kernels directly once the state exists.

    ``Adam.step`` with ``fused=True`` gathers each parameter's state, groups the tensors by device and dtype and
    then runs ``_foreach_add_(steps, 1)`` and one ``torch._fused_adam_``; around that sit a profiler range, hook
    dispatch and the compiler's guards, which at a minibatch of 128 cost more than the kernel. This makes the same
    two calls with the same arguments (so the parameters and the optimizer state are bit-identical to
    ``optimizer.step()``'s) when that is all the step would do: one parameter group of fused, non-amsgrad,
    non-decoupled Adam on tensors of one device and dtype, every parameter with a gradient and an initialized
    state, no step hooks and no grad scaler. Anything else (the first step, which creates the state, included)
    goes through ``optimizer.step()``.
    """
    fused = getattr(torch, "_fused_adam_", None)
    groups = optimizer.param_groups
    if (
        fused is None
        or type(optimizer) is not torch.optim.Adam
        or len(groups) != 1
        or optimizer._optimizer_step_pre_hooks
        or optimizer._optimizer_step_post_hooks
        or _torch_optimizer._global_optimizer_pre_hooks
        or _torch_optimizer._global_optimizer_post_hooks
        or getattr(optimizer, "grad_scale", None) is not None
        or getattr(optimizer, "found_inf", None) is not None
    ):
        optimizer.step()
        return
    group = groups[0]
    if (
        not group["fused"]
        or group["amsgrad"]
        or group["maximize"]
        or group["differentiable"]
        or group.get("decoupled_weight_decay", False)
        or isinstance(group["lr"], torch.Tensor)
    ):
        optimizer.step()
        return
    params: list[torch.Tensor] = group["params"]
    state = optimizer.state
    grads, exp_avgs, exp_avg_sqs, steps = [], [], [], []
    first = params[0]
    for p in params:
        st = state.get(p)
        if (
            p.grad is None
            or not st
            or p.grad.is_sparse
            or p.device != first.device
            or p.dtype != first.dtype
            or st["step"].device != p.device
        ):
            optimizer.step()
            return
        grads.append(p.grad)
        exp_avgs.append(st["exp_avg"])
        exp_avg_sqs.append(st["exp_avg_sq"])
        steps.append(st["step"])
    beta1, beta2 = group["betas"]
    torch._foreach_add_(steps, 1)
    fused(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [],
        steps,
        amsgrad=False,
        lr=group["lr"],
        beta1=float(beta1),
        beta2=float(beta2),
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=False,
        grad_scale=None,
        found_inf=None,
    )


class Trainer(ABC):
    """Base of the trainers: a policy, its Adam optimizer, a numpy random stream, the env and episodes.

    Subclasses implement :meth:`collect` (fill a rollout) and :meth:`learn` (one update from it).
    All randomness after construction (action sampling, minibatch order, subsamples) comes from ``rng``,
    so saving :meth:`state` and restoring it with :meth:`load` continues a run exactly.
    """

    def __init__(self, cfg: CommonConfig, env: VecEnv, policy: Policy, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.env = env
        self.policy = policy
        self.rng = rng
        self.params = [p for p in policy.parameters() if p.requires_grad]
        # The fused CPU kernel: one call per step instead of a dozen small ops per parameter tensor.
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr, eps=cfg.adam_eps, fused=True)
        self.tracker = EpisodeTracker(env.num_envs)
        self.obs: np.ndarray | None = None

    def start(self, seed: int) -> None:
        """Reset the env with ``seed`` before the first rollout."""
        self.obs = self.env.reset(seed=seed)

    @abstractmethod
    def collect(self) -> tuple[int, Episodes]:
        """Collect a rollout; returns the number of env steps learned from and the episodes that ended."""

    @abstractmethod
    def learn(self, update: int, lr: float) -> UpdateResult:
        """One update from the last rollout at learning rate ``lr``.

        Raises
        ------
        FloatingPointError
            ``"non-finite loss at update U ..."`` before any parameter is changed by the bad minibatch.
        """

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step_optimizer(self, loss: torch.Tensor) -> None:
        """Backward, clip the global gradient norm (if ``max_grad_norm > 0``), Adam step.

        The clip is ``torch.nn.utils.clip_grad_norm_``'s (scale every gradient by
        ``min(1, max_grad_norm / (norm + 1e-6))``), written with the foreach kernels directly: it runs for every
        minibatch, where the library function's argument handling costs more than the arithmetic.
        """
        for param in self.params:  # optimizer.zero_grad(set_to_none=True), without its per-call wrappers
            param.grad = None
        loss.backward()
        if self.cfg.max_grad_norm > 0:
            grads = [p.grad for p in self.params if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            torch._foreach_mul_(grads, torch.clamp(self.cfg.max_grad_norm / (norm + 1e-6), max=1.0))
        adam_step(self.optimizer)

    @staticmethod
    def check_finite(loss: torch.Tensor, update: int, where: str, **parts: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            detail = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
            raise FloatingPointError(f"non-finite loss at update {update} ({where}): {detail}")

    # -- checkpoint state -------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Everything needed to continue exactly: (tensors for safetensors, JSON-able state)."""
        tensors = {f"policy/{k}": v for k, v in self.policy.state_dict().items()}
        opt = self.optimizer.state_dict()
        for idx, st in opt["state"].items():
            for k, v in st.items():
                tensors[f"optim/{idx}/{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
        if self.obs is not None:
            tensors["rollout/obs"] = torch.from_numpy(np.ascontiguousarray(self.obs))
        json_state = {
            "optim_param_groups": opt["param_groups"],
            "rng": rng_state_to_json(self.rng),
            "tracker": {k: v.tolist() for k, v in self.tracker.state().items()},
            "env": self.env.get_state(),
        }
        return tensors, json_state

    def load(self, tensors: dict[str, torch.Tensor], state: dict[str, Any], *, fallback_seed: int) -> None:
        """Restore :meth:`state` output (``fallback_seed`` resets an env that cannot restore itself)."""
        self.policy.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("policy/")})
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("optim/"):
                _, idx, name = k.split("/", 2)
                opt_state.setdefault(int(idx), {})[name] = v
        self.optimizer.load_state_dict({"state": opt_state, "param_groups": state["optim_param_groups"]})
        self.rng = rng_from_json(state["rng"])
        self.tracker.load(state["tracker"])
        self.obs = tensors["rollout/obs"].numpy() if "rollout/obs" in tensors else None
        fresh = self.env.set_state(state["env"], fallback_seed=fallback_seed)
        if fresh is not None:
            self.obs = fresh
            self.tracker.restart()


def normalize(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """``(x - mean) / (std + eps)`` with the sample std (ddof=1, as ``torch.std``); one value gives 0."""
    if x.size < 2:
        return x - x.mean()
    return (x - x.mean()) / (x.std(ddof=1) + eps)


def explained_variance(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """``1 - Var[y_true - y_pred] / Var[y_true]`` (NaN when ``y_true`` is constant)."""
    var_y = float(np.var(y_true))
    return float("nan") if var_y == 0 else 1.0 - float(np.var(y_true - y_pred)) / var_y
