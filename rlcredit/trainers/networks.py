"""Policy networks: a separate actor and critic over index, coordinate or grid observations.

The actor and the critic share no parameters. A shared trunk would let the value loss move the features
the policy reads, so a change of pi(.|s) could come from value regression rather than from credit; kept
apart, every change of the actor is caused by the policy-gradient (and entropy) terms the credit records
describe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ObsSpec:
    """What the networks need to know about an observation space.

    Attributes
    ----------
    kind : "discrete" | "box"
    shape : tuple of int
        ``()`` for discrete observations, the array shape for boxes (``(C, H, W)`` for grid images).
    n : int
        Number of discrete observations (0 for boxes).
    start : int
        Smallest discrete observation (gymnasium's ``Discrete(n, start)``).
    """

    kind: str
    shape: tuple[int, ...] = ()
    n: int = 0
    start: int = 0

    @classmethod
    def from_space(cls, space: gym.Space) -> ObsSpec:
        """Describe a ``Discrete`` or ``Box`` space; anything else is a ValueError."""
        if isinstance(space, gym.spaces.Discrete):
            return cls("discrete", (), int(space.n), int(space.start))
        if isinstance(space, gym.spaces.Box):
            return cls("box", tuple(int(d) for d in space.shape))
        raise ValueError(f"unsupported observation space {space}; use Discrete or Box")

    def to_dict(self) -> dict:
        """A JSON-able description, the inverse of ``ObsSpec(**d)`` after ``shape`` is made a tuple."""
        return {"kind": self.kind, "shape": list(self.shape), "n": self.n, "start": self.start}

    @classmethod
    def from_dict(cls, d: dict) -> ObsSpec:
        return cls(d["kind"], tuple(d["shape"]), int(d["n"]), int(d["start"]))


M = TypeVar("M", bound=nn.Module)


def layer_init(layer: M, std: float = math.sqrt(2), bias_const: float = 0.0) -> M:
    """Orthogonal weights with gain ``std`` and constant bias, as in CleanRL's ``layer_init``."""
    weight, bias = layer.weight, layer.bias
    assert isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)
    nn.init.orthogonal_(weight, std)
    nn.init.constant_(bias, bias_const)
    return layer


class OneHotLinear(nn.Module):
    """``Linear(n, out)`` applied to the one-hot encoding of a Discrete observation ``(B,)`` -> ``(B, out)``.

    ``W @ onehot(x) + b`` is column ``x`` of ``W`` plus ``b``, so the layer looks the column up instead of
    building the ``(B, n)`` one-hot matrix: same function, same gradients, no ``O(B n out)`` matmul.
    """

    def __init__(self, n: int, out: int, start: int = 0) -> None:
        super().__init__()
        self.start = start
        self.weight = nn.Parameter(torch.empty(out, n))
        self.bias = nn.Parameter(torch.empty(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = x.long() if self.start == 0 else x.long() - self.start
        # index_select of columns: the same values as weight.t()[idx], about twice as fast for small batches
        return torch.index_select(self.weight, 1, idx).t() + self.bias

    def extra_repr(self) -> str:
        return f"n={self.weight.shape[1]}, out={self.weight.shape[0]}, start={self.start}"


class Flatten(nn.Module):
    """``(B, *shape)`` -> ``(B, prod(shape))`` float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().flatten(1)


class Float(nn.Module):
    """Cast to float32 (grid observations may arrive as small integers)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


def _encoder(spec: ObsSpec, network: str) -> tuple[nn.Module, int]:
    """The encoder of a Box observation and its output width."""
    if network == "cnn":
        if len(spec.shape) != 3:
            raise ValueError(f"network='cnn' needs (C, H, W) observations, got shape {spec.shape}")
        c, h, w = spec.shape
        conv = nn.Sequential(
            Float(),
            layer_init(nn.Conv2d(c, 16, 3, padding=1)),
            nn.ReLU(),
            layer_init(nn.Conv2d(16, 16, 3, padding=1)),
            nn.ReLU(),
            nn.Flatten(),
        )
        return conv, 16 * h * w
    if network != "mlp":
        raise ValueError(f"unknown network {network!r}; use 'mlp' or 'cnn'")
    return Flatten(), int(np.prod(spec.shape))


def _mlp(spec: ObsSpec, hidden: tuple[int, ...], out: int, out_std: float, network: str) -> nn.Sequential:
    """Encoder, ``Linear -> tanh`` per hidden width, then a linear head with gain ``out_std``."""
    widths = [*hidden, out]
    gains = [math.sqrt(2)] * len(hidden) + [out_std]
    if spec.kind == "discrete":
        layers: list[nn.Module] = [layer_init(OneHotLinear(spec.n, widths[0], spec.start), gains[0])]
    else:
        encoder, width = _encoder(spec, network)
        layers = [encoder, layer_init(nn.Linear(width, widths[0]), gains[0])]
    for i in range(1, len(widths)):
        layers += [nn.Tanh(), layer_init(nn.Linear(widths[i - 1], widths[i]), gains[i])]
    return nn.Sequential(*layers)


def _run_layers(body: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``body(x)`` for a :func:`_mlp` Sequential, calling each layer's ``forward`` arithmetic directly."""
    if not isinstance(body, nn.Sequential):
        return body(x)
    for layer in body:
        if isinstance(layer, nn.Linear):
            x = torch.nn.functional.linear(x, layer.weight, layer.bias)
        elif isinstance(layer, nn.Tanh):
            x = torch.tanh(x)
        else:
            x = layer.forward(x)
    return x


class TimeCritic(nn.Module):
    """A critic MLP that also sees the remaining time ``1 - t / time_limit`` (Pardo et al. 2018, "Time limits in
    reinforcement learning"): it enters the first hidden layer beside the observation, ``tanh(W x + w tau + b)``.

    With it the critic can represent the finite-horizon, time-indexed ``V_t(s)`` of a time-limited episode, the
    target GAE then estimates when nothing is bootstrapped at the time limit.
    """

    def __init__(self, body: nn.Sequential, width: int, time_limit: int) -> None:
        super().__init__()
        first_tanh = next(i for i, layer in enumerate(body) if isinstance(layer, nn.Tanh))
        self.pre = body[:first_tanh]
        self.post = body[first_tanh:]
        self.time_in = layer_init(nn.Linear(1, width))
        self.time_limit = int(time_limit)

    def forward(self, obs: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        remaining = (1.0 - t.to(torch.float32) / self.time_limit).clamp(min=0.0)
        return self.post(self.pre(obs) + self.time_in(remaining.unsqueeze(-1)))


class Policy(nn.Module):
    """A categorical policy (``actor``) and a state-value network (``critic``), no shared parameters.

    Parameters
    ----------
    obs_spec : ObsSpec
        Discrete observations are one-hot encoded inside the network; boxes are flattened
        (``network="mlp"``) or passed through two 3x3 convolutions first (``network="cnn"``, (C, H, W) only).
    num_actions : int
    hidden : tuple of int
        Hidden layer widths of both MLPs (tanh activations).
    network : "mlp" | "cnn"
    time_limit : int, optional
        Give the critic the remaining time ``1 - t / time_limit`` of the episode (:class:`TimeCritic`);
        :meth:`value` then needs the time step ``t`` of each observation.

    Notes
    -----
    Weights are orthogonal with gain sqrt(2), the actor head with gain 0.01 (near-uniform initial policy)
    and the critic head with gain 1 (Andrychowicz et al. 2021, "What matters in on-policy RL").
    """

    def __init__(
        self,
        obs_spec: ObsSpec,
        num_actions: int,
        *,
        hidden: tuple[int, ...] = (64, 64),
        network: str = "mlp",
        time_limit: int | None = None,
    ) -> None:
        super().__init__()
        self.obs_spec = obs_spec
        self.num_actions = int(num_actions)
        self.hidden = tuple(int(h) for h in hidden)
        self.network = network
        if time_limit is not None and (
            isinstance(time_limit, bool) or not isinstance(time_limit, int) or time_limit < 1
        ):
            raise ValueError(f"time_limit must be a positive integer, got {time_limit!r}")
        if time_limit is not None and not self.hidden:
            raise ValueError("a critic that sees the time needs at least one hidden layer")
        self.time_limit = time_limit
        self.actor = _mlp(obs_spec, self.hidden, self.num_actions, 0.01, network)
        critic = _mlp(obs_spec, self.hidden, 1, 1.0, network)
        self.critic: nn.Module = (
            critic if time_limit is None else TimeCritic(critic, self.hidden[0], time_limit)
        )

    def spec(self) -> dict:
        """JSON-able constructor arguments (stored beside checkpoints)."""
        spec = {
            "obs_spec": self.obs_spec.to_dict(),
            "num_actions": self.num_actions,
            "hidden": list(self.hidden),
            "network": self.network,
        }
        if self.time_limit is not None:
            spec["time_limit"] = self.time_limit
        return spec

    @classmethod
    def from_spec(cls, spec: dict) -> Policy:
        return cls(
            ObsSpec.from_dict(spec["obs_spec"]),
            spec["num_actions"],
            hidden=tuple(spec["hidden"]),
            network=spec["network"],
            time_limit=spec.get("time_limit"),
        )

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """``(B, *obs_shape)`` -> ``(B, A)`` unnormalized log-probabilities."""
        return self.actor(obs)

    def value(self, obs: torch.Tensor, t: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """``(B, *obs_shape)`` -> ``(B,)`` state values; ``t`` (B,): time steps, needed with ``time_limit``."""
        if self.time_limit is None:
            return self.critic(obs).squeeze(-1)
        if t is None:
            raise ValueError("this policy's critic sees the remaining time: value() needs the time steps t")
        return self.critic(obs, torch.as_tensor(t)).squeeze(-1)

    @torch.no_grad()
    def act_outputs(
        self, obs: torch.Tensor, t: torch.Tensor | np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, values)`` of a batch, without autograd: what rollout collection asks at every step.

        The same operations as :meth:`logits` and :meth:`value`, in the same order (so the same numbers), run
        through :func:`_run_layers` instead of each module's ``__call__``: for a 64x64 MLP on a handful of
        envs the modules' call machinery cost more than their arithmetic. Module hooks therefore do not run
        here (rollout collection registers none; :mod:`rlcredit.steering` steers evaluation, not collection).
        """
        return self.act_outputs_no_grad(obs, t)

    def act_outputs_no_grad(
        self, obs: torch.Tensor, t: torch.Tensor | np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`act_outputs` for a caller already inside ``torch.no_grad()`` (rollout collection, once per
        step: entering the context again costs about as much as a layer)."""
        logits = _run_layers(self.actor, obs)
        if self.time_limit is None:
            return logits, _run_layers(self.critic, obs).squeeze(-1)
        return logits, self.value(obs, t)

    def as_tensor(self, obs: np.ndarray) -> torch.Tensor:
        """A batch of numpy observations as a tensor the networks accept (no copy when possible)."""
        return torch.as_tensor(np.asarray(obs))

    @torch.no_grad()
    def action_probs(self, obs: np.ndarray) -> np.ndarray:
        """``(B, *obs_shape)`` observations -> ``(B, A)`` float64 action probabilities (numpy)."""
        logits = self.logits(self.as_tensor(obs))
        return torch.softmax(logits.double(), dim=-1).numpy()

    @torch.no_grad()
    def values(self, obs: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
        """``(B, *obs_shape)`` observations -> ``(B,)`` float32 values (numpy); ``t`` as for :meth:`value`."""
        return self.value(self.as_tensor(obs), t).numpy()
