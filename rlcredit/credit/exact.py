"""Exact credit: the true action values and advantages of the policy that collected a rollout.

A trainer's credit for step ``t`` is an estimate; on a gridworld the lab knows the answer. For the policy
``pi_k`` that collected update ``k``'s rollout, the exact model gives ``Q^pi_k`` and ``A^pi_k`` **for the
time-limited episodes actually run**: a step taken at episode time ``t`` of an episode cut at ``T`` steps
has ``T - t`` steps left, so its exact action value is ``Q_t(s, a)`` of finite-horizon policy evaluation
(:func:`rlcredit.planning.policy_q` with ``horizon=T``), not the infinite-horizon ``Q(s, a)``. Near the
time limit the same state and action are worth less (a goal out of reach is worth nothing). The discount is
the trainer's ``gamma``, which need not be the map's.

Which exact advantage a trainer's estimate should be compared with depends on what its critic can see. A
critic that sees the remaining time (``time_feature``) can learn ``V_t``, and GAE then targets the
finite-horizon ``A_t`` above (``exact_advantage``). A critic that cannot see ``t`` and bootstraps at
truncation (``r + gamma V(s')`` also on the last step) converges to the stationary infinite-horizon values of
the policy, and its advantages target ``A^pi(s, a) = Q^pi(s, a) - V^pi(s)`` with no time limit
(``exact_advantage_boot``, :attr:`PolicyValues.Q_boot`). Both are logged, so estimator error and
definitional mismatch can be told apart.

The pieces:

- :func:`policy_values` -> :class:`PolicyValues` (``Q_t``, ``V_t``, ``J``) of one policy table on one model,
  with a vectorized :meth:`PolicyValues.lookup` of ``(states, t, actions)``;
- :class:`ExactCredit`, the trainers' ``exact_fn`` hook: the exact model of an env (one MDP per layout for
  procedural maps, keyed by layout seed), solved once per update and cached;
- :func:`exact_policy_gradient`: the exact gradient of the time-limited return ``J(theta)`` of a torch
  policy, by differentiating the surrogate ``sum_{s,a} w(s, a) pi_theta(a|s)`` with the fixed weights
  ``w(s, a) = sum_t gamma^t d_t(s) Q_t(s, a)`` of :func:`gradient_weights`;
- :func:`event_reach_probability` (from :mod:`rlcredit.planning.occupancy`): the exact probability that an
  event (entering a button, a lava cell, an intended cell, ...) happens before the episode ends.

On gridworlds every solve runs on the layout's :class:`~rlcredit.planning.kernels.GridTables`, built once per
layout and cached, in compiled loops that release the GIL, so the trainers' background measurement thread
does not hold up the rollout: one backward pass gives ``Q_t``, ``V_t`` and the reach probability of every
tracked event at once, one forward pass the occupancy and the gradient weights, one sparse solve the
stationary values. Per update the cost is linear in ``H * S`` (the tables) plus the batch; nothing that
depends only on the layout is rebuilt. A :class:`TabularMDP` uses the generic solvers of
:mod:`rlcredit.planning`; both agree to rounding.

Example, as a trainer uses it::

    exact = ExactCredit(venv, gamma=cfg.gamma)          # has_model is False for envs without a model
    q, adv = exact(update, states, t, actions, policy.action_probs, layout_seeds=seeds)   # NaN without one
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rlcredit.gridworld.core import Layout
from rlcredit.gridworld.env import GridWorldEnv
from rlcredit.gridworld.observe import observation_of
from rlcredit.gridworld.vector import GridVectorEnv
from rlcredit.mdp import TabularMDP
from rlcredit.planning.dp import policy_q, resolve_horizon
from rlcredit.planning.kernels import GridTables
from rlcredit.planning.occupancy import event_reach_probability, reach_events

__all__ = [
    "ExactCredit",
    "ExactGradient",
    "PolicyLike",
    "PolicyValues",
    "cosine",
    "event_reach_probability",
    "exact_policy_gradient",
    "gradient_weights",
    "policy_values",
    "time_occupancy",
]

PolicyLike = np.ndarray | Callable[[np.ndarray], np.ndarray]
"""A policy on every state of a layout: an ``(S, A)`` table of action probabilities, or a function from a
batch of observations ``(S, *obs_shape)`` to ``(S, A)`` probabilities (e.g. ``Policy.action_probs``), which
:class:`ExactCredit` evaluates on the observations of every state of the layout in question."""


# ------------------------------------------------------------------------------------------------ values


@dataclass(frozen=True, eq=False)
class PolicyValues:
    """Exact time-indexed values of one policy on one model, for episodes cut at ``H`` steps.

    Attributes
    ----------
    pi : ndarray (S, A) float64
        The policy evaluated.
    Q : ndarray (H, S, A) float64
        ``Q[t, s, a]``: expected discounted return of taking ``a`` in ``s`` at episode time ``t`` (so
        ``H - t`` steps are left) and following ``pi`` after. Rows of terminal states are 0.
    V : ndarray (H + 1, S) float64
        ``V[t, s] = sum_a pi(a|s) Q[t, s, a]``; ``V[H] = 0``.
    J : float
        Expected discounted return of an episode from the model's initial distribution, ``initial @ V[0]``.
    reach : dict of str to ndarray (S,)
        Gridworlds solved by :class:`ExactCredit`: for every tracked event (each kind of
        :attr:`ExactCredit.reach_kinds`, and ``"intended"`` when the map marks intended cells), the probability
        from each state at time 0 that the event happens before the episode ends
        (:func:`event_reach_probability`). Empty otherwise.
    Q_boot : ndarray (S, A) float64 or None
        Stationary infinite-horizon ``Q^pi(s, a)`` with the same discount (no time limit): what a critic
        that cannot see ``t`` and bootstraps at truncation converges to. NaN when ``gamma = 1``; None when
        not computed.
    V_boot : ndarray (S,) float64 or None
        ``V^pi(s) = sum_a pi(a|s) Q_boot(s, a)``, likewise.
    """

    pi: np.ndarray
    Q: np.ndarray
    V: np.ndarray
    J: float
    reach: dict[str, np.ndarray] = field(default_factory=dict)
    Q_boot: np.ndarray | None = None
    V_boot: np.ndarray | None = None

    @property
    def horizon(self) -> int:
        """``H``, the episode time limit the values are exact for."""
        return self.Q.shape[0]

    def lookup(self, states: np.ndarray, t: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``Q_t(s, a)`` and ``A_t(s, a) = Q_t(s, a) - V_t(s)`` of a batch of steps.

        Parameters
        ----------
        states, t, actions : int arrays of one broadcastable shape
            State index, episode time (0 = first action) and action of each step.

        Returns
        -------
        q, advantage : float64 arrays of the broadcast shape
            NaN where a state, time or action is out of range (``t >= H``, ``state = -1``, ...).
        """
        s, tt, a = np.broadcast_arrays(
            np.asarray(states, dtype=np.int64),
            np.asarray(t, dtype=np.int64),
            np.asarray(actions, dtype=np.int64),
        )
        H, S, A = self.Q.shape
        ok = (s >= 0) & (s < S) & (tt >= 0) & (tt < H) & (a >= 0) & (a < A)
        ts = np.where(ok, tt * S + s, 0)  # flat (t, s) index; 0 where out of range (then masked)
        q = np.where(ok, self.Q.reshape(-1)[ts * A + np.where(ok, a, 0)], np.nan)
        adv = q - np.where(ok, self.V.reshape(-1)[ts], np.nan)
        return q, adv

    def advantage_boot(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Stationary ``A^pi(s, a) = Q_boot(s, a) - V_boot(s)`` of a batch of steps (time plays no part).

        NaN where a state or action is out of range, for terminal states' rows (0 there otherwise), and
        everywhere when the stationary values were not computed or do not exist (``gamma = 1``).
        """
        s, a = np.broadcast_arrays(np.asarray(states, dtype=np.int64), np.asarray(actions, dtype=np.int64))
        if self.Q_boot is None or self.V_boot is None:
            return np.full(s.shape, np.nan)
        S, A = self.Q_boot.shape
        ok = (s >= 0) & (s < S) & (a >= 0) & (a < A)
        ss, aa = np.where(ok, s, 0), np.where(ok, a, 0)
        return np.where(ok, self.Q_boot[ss, aa] - self.V_boot[ss], np.nan)


def _finite_horizon(m: TabularMDP, horizon: int | None) -> int:
    H = resolve_horizon(m, horizon)
    if H is None or H < 1:
        raise ValueError(
            "exact credit is time-indexed: the model needs a time limit (TabularMDP horizon) or pass horizon=H"
        )
    return H


def policy_values(
    m: TabularMDP, pi: np.ndarray, *, horizon: int | None = None, boot: bool = True
) -> PolicyValues:
    """Exact finite-horizon ``Q_t``, ``V_t`` and ``J`` of a stationary policy (and its stationary values).

    Parameters
    ----------
    m : TabularMDP
        Its ``gamma`` is the discount used (build it with the trainer's gamma).
    pi : ndarray (S, A)
    horizon : int, optional
        Episode time limit; default ``m.horizon`` (required: a model without one is a ValueError).
    boot : bool
        Also compute the stationary infinite-horizon ``Q_boot``/``V_boot`` (NaN when ``gamma = 1``).

    Returns
    -------
    PolicyValues
    """
    H = _finite_horizon(m, horizon)
    pi = m.check_policy(pi)
    Q = policy_q(m, pi, horizon=H)
    V = np.zeros((H + 1, m.num_states))
    V[:H] = np.einsum("sa,tsa->ts", pi, Q)
    Q_boot = V_boot = None
    if boot:
        if m.gamma < 1.0:
            Q_boot = policy_q(m, pi, horizon=math.inf)
            V_boot = np.sum(pi * Q_boot, axis=1)
        else:
            Q_boot, V_boot = np.full(pi.shape, np.nan), np.full(m.num_states, np.nan)
    return PolicyValues(pi=pi, Q=Q, V=V, J=float(m.initial @ V[0]), Q_boot=Q_boot, V_boot=V_boot)


def _matters(ct: Any) -> bool:
    """Whether entering a cell of this legend entry can change reward, intent, a flag or the episode's end."""
    return bool(
        ct.reward != 0.0
        or ct.terminal
        or ct.reward_per_step != 0.0
        or ct.intended_performance != ct.reward
        or ct.cornered != 0.0
        or ct.flag is not None
    )


def time_occupancy(m: TabularMDP, pi: np.ndarray, *, horizon: int | None = None) -> np.ndarray:
    """``d[t, s]``: probability that the episode is running and in state ``s`` at time ``t``.

    ``d[0] = m.initial``, ``d[t + 1] = m.push(d[t], pi)`` (mass on terminal states is not carried on: the
    episode is over). ``d[t]`` of a terminal state is the probability of having just arrived there.

    Returns
    -------
    ndarray (H, S) float64 for times ``0 .. H-1``.
    """
    H = _finite_horizon(m, horizon)
    pi = m.check_policy(pi)
    d = np.empty((H, m.num_states))
    d[0] = m.initial
    for t in range(1, H):
        d[t] = m.push(d[t - 1], pi)
    return d


def gradient_weights(
    m: TabularMDP, pi: np.ndarray, *, horizon: int | None = None, values: PolicyValues | None = None
) -> np.ndarray:
    """Weights ``w(s, a) = sum_t gamma^t d_t(s) Q_t(s, a)`` of the exact policy gradient.

    The finite-horizon policy gradient theorem gives, for a stationary policy ``pi_theta``,
    ``grad J = sum_t gamma^t sum_s d_t(s) sum_a grad pi_theta(a|s) Q_t(s, a) = sum_{s,a} w(s, a) grad
    pi_theta(a|s)``: the gradient of the surrogate ``sum_{s,a} w(s, a) pi_theta(a|s)`` with ``w`` held fixed.

    Parameters
    ----------
    m, pi, horizon
        As for :func:`policy_values`.
    values : PolicyValues, optional
        The values of ``pi`` if already computed.

    Returns
    -------
    ndarray (S, A) float64
    """
    H = _finite_horizon(m, horizon)
    if (
        values is None
        or values.horizon != H
        or not np.array_equal(values.pi, np.asarray(pi, dtype=np.float64))
    ):
        values = policy_values(m, pi, horizon=H)
    d = time_occupancy(m, values.pi, horizon=H)
    discount = m.gamma ** np.arange(H)
    return np.einsum("t,ts,tsa->sa", discount, d, values.Q)


# ----------------------------------------------------------------------------------------------- gradient


@dataclass(frozen=True, eq=False)
class ExactGradient:
    """The exact policy gradient of a torch policy at its current parameters.

    Attributes
    ----------
    grad : torch.Tensor (P,) float64
        ``dJ/dtheta`` flattened in the order of the ``params`` given (parameters that do not affect the
        policy get zeros).
    values : PolicyValues
        Exact values of the policy (``values.J`` is ``J(theta)``, ``values.pi`` its table).
    weights : ndarray (S, A)
        The surrogate weights of :func:`gradient_weights`.
    """

    grad: torch.Tensor
    values: PolicyValues
    weights: np.ndarray


def exact_policy_gradient(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    obs: np.ndarray | torch.Tensor,
    m: TabularMDP,
    params: Iterable[torch.Tensor],
    *,
    horizon: int | None = None,
    values: PolicyValues | None = None,
    weights: np.ndarray | None = None,
) -> ExactGradient:
    """Exact gradient of the time-limited expected return ``J(theta)`` from ``m.initial``.

    Parameters
    ----------
    logits_fn : callable
        ``(S, *obs_shape)`` tensor -> ``(S, A)`` logits (or log-probabilities), differentiable in
        ``params``; e.g. ``policy.actor`` or ``policy.logits``.
    obs : array or tensor (S, *obs_shape)
        The observation of every state of the model, in state order (``ExactCredit.observations()``).
    m : TabularMDP
        The exact model, with the discount of the objective.
    params : iterable of tensors
        The parameters to differentiate by (e.g. ``policy.actor.parameters()``).
    horizon : int, optional
        Episode time limit; default ``m.horizon``.
    values : PolicyValues, optional
        Exact values of this same policy (e.g. from :meth:`ExactCredit.values`); recomputed if its
        table differs from the policy's.
    weights : ndarray (S, A), optional
        :func:`gradient_weights` of ``values`` if already computed (e.g. :meth:`ExactCredit.weights`);
        used only together with a matching ``values``.

    Returns
    -------
    ExactGradient
    """

    params = list(params)
    x = obs if isinstance(obs, torch.Tensor) else torch.as_tensor(np.asarray(obs))
    probs = torch.softmax(logits_fn(x).double(), dim=-1)
    pi = _normalized(probs.detach().cpu().numpy())
    if values is None or not np.allclose(values.pi, pi, rtol=0.0, atol=1e-9):
        values, weights = policy_values(m, pi, horizon=horizon), None
    w = gradient_weights(m, values.pi, horizon=horizon, values=values) if weights is None else weights
    return ExactGradient(grad=_surrogate_gradient(probs, w, params), values=values, weights=w)


def _surrogate_gradient(probs: torch.Tensor, w: np.ndarray, params: list[torch.Tensor]) -> torch.Tensor:
    """``grad_theta sum_{s,a} w(s, a) probs(a|s)`` with ``w`` fixed, flattened in the order of ``params``."""

    surrogate = (torch.as_tensor(w, dtype=probs.dtype, device=probs.device) * probs).sum()
    grads = torch.autograd.grad(surrogate, params, allow_unused=True)
    flat = torch.cat(
        [(g if g is not None else torch.zeros_like(p)).reshape(-1).double() for g, p in zip(grads, params)]
    )
    return flat.detach()


def cosine(a: Any, b: Any) -> float:
    """Cosine similarity of two flat vectors (numpy arrays or tensors), in float64; NaN if either is zero.

    Raises
    ------
    ValueError
        If the vectors differ in size.
    """
    x = _as_numpy(a).reshape(-1)
    y = _as_numpy(b).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"cannot compare gradients of {x.size} and {y.size} parameters")
    # Elementwise products and sums, not BLAS: a multithreaded BLAS call on a background thread can stall
    # for milliseconds while the trainer keeps the cores busy.
    nx, ny = np.sqrt(np.sum(x * x)), np.sqrt(np.sum(y * y))
    if nx == 0.0 or ny == 0.0 or not (np.isfinite(nx) and np.isfinite(ny)):
        return float("nan")
    return float(np.clip(np.sum(x * y) / (nx * ny), -1.0, 1.0))


def _as_numpy(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu().double().numpy()
    return np.asarray(v, dtype=np.float64)


# ----------------------------------------------------------------------------------------------- the hook


def _normalized(pi: np.ndarray) -> np.ndarray:
    pi = np.asarray(pi, dtype=np.float64)
    return pi / pi.sum(axis=-1, keepdims=True)


class ExactCredit:
    """Exact ``Q^pi`` and ``A^pi`` of the policy that collected each update's rollout: the ``exact_fn`` hook.

    Parameters
    ----------
    env : env, vector env, TabularMDP or None
        An rlcredit gridworld (``GridWorldEnv``, ``GridVectorEnv``, a gymnasium wrapper or a
        ``SyncVectorEnv`` of them, or a wrapper holding one in ``.venv`` such as the trainers' ``VecEnv``)
        or a :class:`TabularMDP` with a horizon. Anything else (or None) has no model: every exact value
        is NaN.
    gamma : float
        The trainer's discount in (0, 1]; the exact values use it, whatever the map's gamma is.
    horizon : int, optional
        Episode time limit the trainer runs under; default the map's time limit (``m.horizon``). Pass it
        when the trainer cuts episodes earlier than the env does.
    observations : ndarray (S, *obs_shape), optional
        For a TabularMDP: the observation of every state, so policies can be given as functions of
        observations (gridworlds render their own).
    cache_size : int
        How many layouts' models to keep (procedural maps).

    Notes
    -----
    A procedural map (random mazes, random cheese) has one exact model per layout, rebuilt from its layout
    seed; steps of such an env need ``layout_seeds`` (``venv.layout_seeds`` recorded *before* each step,
    as a reset draws a new layout). Exact values are solved once per (update, layout) and cached for the
    update; a call with another policy table for the same update and layout solves again.
    """

    def __init__(
        self,
        env: Any = None,
        *,
        gamma: float,
        horizon: int | None = None,
        observations: np.ndarray | None = None,
        cache_size: int = 256,
    ):
        if isinstance(gamma, bool) or not 0.0 < float(gamma) <= 1.0:
            raise ValueError(f"exact credit needs the trainer's gamma in (0, 1]; got {gamma!r}")
        if horizon is not None and (int(horizon) != horizon or horizon < 1):
            raise ValueError(f"horizon must be a positive int or None; got {horizon!r}")
        self.gamma = float(gamma)
        self.horizon = None if horizon is None else int(horizon)
        self._cache_size = cache_size
        self._mdps: OrderedDict[int, tuple[TabularMDP, GridTables | None]] = OrderedDict()
        self._values: dict[int, PolicyValues] = {}
        self._values_update: int | None = None
        self._grid: Any = _gridworld_of(env)  # the GridWorldEnv / GridVectorEnv, or None
        self._mdp: TabularMDP | None = None
        self._observations = None if observations is None else np.asarray(observations)
        if self._grid is None and isinstance(env, TabularMDP):
            self._mdp = env.replace(gamma=self.gamma)
            _finite_horizon(self._mdp, self.horizon)
            if self._observations is not None and len(self._observations) != env.num_states:
                raise ValueError(
                    f"observations must have one row per state ({env.num_states}); got {len(self._observations)}"
                )

    # -- the model ------------------------------------------------------------------------------------------
    @property
    def has_model(self) -> bool:
        """Whether exact values exist (an rlcredit gridworld or a TabularMDP)."""
        return self._grid is not None or self._mdp is not None

    @property
    def procedural(self) -> bool:
        """Whether every episode may draw a new layout (exact values then need layout seeds)."""
        return self._grid is not None and self._grid.layouts.fixed is None

    @property
    def kinds(self) -> tuple[str, ...]:
        """Object kinds of the map (empty for a TabularMDP)."""
        return tuple(self._grid.map.kinds) if self._grid is not None else ()

    @property
    def reach_kinds(self) -> tuple[str, ...]:
        """The object kinds ``exact/reach_<kind>`` tracks: every kind that changes the reward, the intended
        performance, a flag or the episode's end when entered (a reward, a per-step reward, a performance of its
        own, a cornering penalty, a flag it switches, or terminal)."""
        if self._grid is None:
            return ()
        spec = self._grid.map
        found = {ct.kind for ct in (*spec.legend.values(), *spec.objects) if _matters(ct)}
        return tuple(k for k in self._grid.map.kinds if k in found)

    def _key(self, layout_seed: int) -> int:
        if not self.has_model:
            raise ValueError("this env has no exact model (not an rlcredit gridworld or a TabularMDP)")
        if not self.procedural:
            return -1
        if int(layout_seed) < 0:
            raise ValueError(
                f"{self._grid.map.name} draws a new layout every episode: pass the layout seed of each step "
                "(venv.layout_seeds, or info['layout_seed'] of a single env)"
            )
        return int(layout_seed)

    def layout(self, layout_seed: int = -1) -> Layout | None:
        """The gridworld layout with this seed (the only one for fixed maps); None for a TabularMDP."""
        key = self._key(layout_seed)
        if self._grid is None:
            return None
        return self._grid.layouts.fixed if key < 0 else self._grid.layouts.get(key)

    def mdp(self, layout_seed: int = -1) -> TabularMDP:
        """The exact model of a layout, with the trainer's gamma and the episode time limit as horizon."""
        return self._model(layout_seed)[0]

    def _model(self, layout_seed: int) -> tuple[TabularMDP, GridTables | None]:
        """The model of a layout and, for gridworlds, its tables for the compiled solvers."""
        key = self._key(layout_seed)
        if self._mdp is not None:
            return self._mdp, None
        if key in self._mdps:
            self._mdps.move_to_end(key)
            return self._mdps[key]
        layout = self.layout(key)
        assert layout is not None  # not a TabularMDP (returned above)
        m = layout.to_mdp(
            gamma=self.gamma, horizon=self.horizon if self.horizon is not None else layout.time_limit
        )
        names, events = reach_events(layout, self.reach_kinds)
        tables = GridTables.of(
            layout,
            gamma=self.gamma,
            horizon=_finite_horizon(m, self.horizon),
            events=events,
            event_names=names,
        )
        self._mdps[key] = (m, tables)
        if len(self._mdps) > self._cache_size:
            self._mdps.popitem(last=False)
        return m, tables

    def horizon_of(self, layout_seed: int = -1) -> int:
        """The time limit exact values are computed for."""
        return _finite_horizon(self.mdp(layout_seed), self.horizon)

    def observations(self, layout_seed: int = -1) -> np.ndarray:
        """The observation of every state of a layout, in state order: ``(S, *obs_shape)``.

        Raises
        ------
        ValueError
            For a TabularMDP built without ``observations`` (pass policy tables then).
        """
        layout = self.layout(layout_seed)
        if layout is None:
            if self._observations is None:
                raise ValueError(
                    "this TabularMDP has no observations: pass (S, A) policy tables or observations="
                )
            return self._observations
        if not self.procedural:
            if self._observations is None:
                self._observations = observation_of(layout, np.arange(layout.num_states), self._grid.obs_mode)
            return self._observations
        return observation_of(layout, np.arange(layout.num_states), self._grid.obs_mode)

    def policy_table(self, pi: PolicyLike, layout_seed: int = -1) -> np.ndarray:
        """``(S, A)`` float64 action probabilities of a policy on every state of a layout (rows renormalized)."""
        m = self.mdp(layout_seed)
        table = pi(self.observations(layout_seed)) if callable(pi) else pi
        table = _as_numpy(table)
        if table.shape != (m.num_states, m.num_actions):
            raise ValueError(
                f"policy table must have shape (S, A) = ({m.num_states}, {m.num_actions}); got {table.shape}"
            )
        return _normalized(table)

    # -- exact values ---------------------------------------------------------------------------------------
    def prepare(self, layout_seed: int = 0) -> None:
        """Solve the uniform policy once, forwards and backwards, and drop the result.

        This loads the compiled solvers into this process and builds the tables of a fixed map's layout (of
        layout ``layout_seed`` for procedural maps) now rather than at the first update. A trainer calls it
        before forking its measurement process, which then inherits both instead of loading the solvers
        again (about half a second per process). Nothing for an env without a model.
        """
        if not self.has_model:
            return
        seed = layout_seed if self.procedural else -1
        m = self.mdp(seed)
        uniform = np.full(m.R.shape, 1.0 / m.R.shape[1])
        self.intended(self._solve(seed, uniform, boot=True), seed)

    def evaluate(self, pi: PolicyLike, layout_seed: int = -1, *, boot: bool = True) -> PolicyValues:
        """Exact values of a policy on a layout (not cached); ``boot=False`` skips the stationary values."""
        return self._solve(layout_seed, self.policy_table(pi, layout_seed), boot=boot)

    def _solve(self, layout_seed: int, table: np.ndarray, *, boot: bool = True) -> PolicyValues:
        m, tables = self._model(layout_seed)
        if tables is None:
            return policy_values(m, table, horizon=self.horizon, boot=boot)
        pi = m.check_policy(table)
        Q, V, reach = tables.backward(pi)
        Q_boot, V_boot = tables.stationary_values(pi) if boot else (None, None)
        return PolicyValues(
            pi=pi,
            Q=Q,
            V=V,
            J=float(tables.start @ V[0]),
            reach={name: reach[:, k] for k, name in enumerate(tables.event_names)},
            Q_boot=Q_boot,
            V_boot=V_boot,
        )

    def intended(self, values: PolicyValues, layout_seed: int = -1) -> tuple[float, float]:
        """Exact expected intended performance of an episode under ``values.pi``, and reward minus it.

        ``sum_t sum_s d_t(s) sum_a pi(a|s) x(s, a)`` over the live (non-terminal) states, with ``d_t`` the
        probability of being in ``s`` at time ``t`` of an episode from the start distribution (undiscounted,
        cut at the time limit) and ``x`` the model's expected intended performance (``performance``) or
        reward (``R``) of acting: the exact counterparts of an episode's summed ``info["performance"]`` and
        of its return minus that.

        Returns
        -------
        (performance, reward_minus_intended) : tuple of float
        """
        m, tables = self._model(layout_seed)
        if tables is not None:
            d, _ = tables.forward(values.pi, values.Q)
        else:
            d = time_occupancy(m, values.pi, horizon=values.Q.shape[0])
        live = ~m.terminal
        visits = d[:, live].sum(axis=0)
        pi = values.pi[live]
        perf = float(visits @ (pi * m.performance[live]).sum(axis=1))
        ret = float(visits @ (pi * m.R[live]).sum(axis=1))
        return perf, ret - perf

    def policy_gradient(
        self,
        update: int,
        logits_fn: Callable[[torch.Tensor], torch.Tensor],
        params: Iterable[torch.Tensor],
        layout_seed: int = -1,
    ) -> ExactGradient:
        """:func:`exact_policy_gradient` of a torch policy on a layout, with the values cached for ``update``.

        Parameters
        ----------
        update : int
            The update whose policy this is (values already solved for it are reused).
        logits_fn : callable
            ``(S, *obs_shape)`` tensor -> ``(S, A)`` logits, differentiable in ``params``.
        params : iterable of tensors
        layout_seed : int
            Procedural maps: the layout.
        """

        params = list(params)
        obs = self.observations(layout_seed)
        probs = torch.softmax(logits_fn(torch.as_tensor(np.asarray(obs))).double(), dim=-1)
        values = self.values(update, probs.detach().cpu().numpy(), layout_seed)
        w = self.weights(values, layout_seed)
        return ExactGradient(grad=_surrogate_gradient(probs, w, params), values=values, weights=w)

    def weights(self, values: PolicyValues, layout_seed: int = -1) -> np.ndarray:
        """:func:`gradient_weights` ``(S, A)`` of a policy whose exact values on this layout are ``values``."""
        m, tables = self._model(layout_seed)
        if tables is None:
            return gradient_weights(m, values.pi, horizon=self.horizon, values=values)
        return tables.forward(values.pi, values.Q)[1]

    def values(
        self, update: int, pi: PolicyLike, layout_seed: int = -1, *, boot: bool = False
    ) -> PolicyValues:
        """Exact values of update ``update``'s policy on a layout, cached for the update.

        A new update number empties the cache; the same (update, layout) with another policy table
        solves again. ``boot=True`` makes sure the stationary values (``Q_boot``, ``V_boot``) are there.
        """
        key = self._key(layout_seed)
        if self._values_update != update:
            self._values.clear()
            self._values_update = update
        table = self.policy_table(pi, key)
        hit = self._values.get(key)
        if hit is None or not np.array_equal(hit.pi, table):
            hit = self._solve(key, table, boot=boot)
        elif boot and hit.Q_boot is None:
            tables = self._model(key)[1]
            if tables is None:
                hit = self._solve(key, table, boot=True)
            else:
                Q_boot, V_boot = tables.stationary_values(hit.pi)
                hit = dataclasses.replace(hit, Q_boot=Q_boot, V_boot=V_boot)
        self._values[key] = hit
        return hit

    def cached(self, update: int, layout_seed: int = -1) -> PolicyValues | None:
        """The values :meth:`values` computed for this update and layout, if any."""
        if self._values_update != update:
            return None
        return self._values.get(self._key(layout_seed))

    def __call__(
        self,
        update: int,
        states: np.ndarray,
        t: np.ndarray,
        actions: np.ndarray,
        policy_probs_all_states: PolicyLike,
        *,
        layout_seeds: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``Q_t(s, a)`` and ``A_t(s, a)`` of the policy that collected a batch of steps.

        Parameters
        ----------
        update : int
            The update the steps belong to (the cache key: one solve per update and layout).
        states, t, actions : int arrays of one broadcastable shape, e.g. (T, N) or (B,)
            State index ``s_t`` (``venv.state_index()`` before the step; -1 unknown), episode time ``t``
            (``venv.elapsed_steps`` before the step) and action ``a_t``.
        policy_probs_all_states : PolicyLike
            The collecting policy on every state: an ``(S, A)`` table (the same for every layout: right for
            fixed maps and for ``index``/``coords`` observations) or a function of observations (evaluated
            on each layout's states: needed for ``grid`` observations of procedural maps).
        layout_seeds : int array like ``states``, optional
            Layout seed of each step; required for procedural maps, ignored for fixed ones.

        Returns
        -------
        exact_q, exact_advantage : float64 arrays of the broadcast shape
            NaN without a model, and where ``t`` is outside the time limit or a state is unknown.
        """
        cols = self.columns(
            update, states, t, actions, policy_probs_all_states, layout_seeds=layout_seeds, boot=False
        )
        return cols["exact_q"], cols["exact_advantage"]

    def columns(
        self,
        update: int,
        states: np.ndarray,
        t: np.ndarray,
        actions: np.ndarray,
        policy_probs_all_states: PolicyLike,
        *,
        layout_seeds: np.ndarray | None = None,
        boot: bool = True,
    ) -> dict[str, np.ndarray]:
        """The exact credit columns of a batch of steps: ``exact_q``, ``exact_advantage`` and (with ``boot``)
        ``exact_advantage_boot``.

        Arguments as for :meth:`__call__`. ``exact_q``/``exact_advantage`` are the finite-horizon,
        time-indexed ``Q_t``/``A_t`` (the target of an estimator whose critic sees the remaining time);
        ``exact_advantage_boot`` the stationary infinite-horizon ``A^pi(s, a)`` (the target of a critic that
        cannot see ``t`` and bootstraps at truncation; NaN for ``gamma = 1``). Float64 arrays of the
        broadcast shape, NaN without a model or where a step is out of range.
        """
        s, tt, a = np.broadcast_arrays(np.asarray(states), np.asarray(t), np.asarray(actions))
        out = {name: np.full(s.shape, np.nan) for name in ("exact_q", "exact_advantage")}
        if boot:
            out["exact_advantage_boot"] = np.full(s.shape, np.nan)
        if not self.has_model:
            return out
        if self.procedural and layout_seeds is None:
            self._key(-1)  # raises the explanatory error
        seeds = (
            np.full(s.shape, -1, dtype=np.int64)
            if not self.procedural
            else np.broadcast_to(np.asarray(layout_seeds, dtype=np.int64), s.shape)
        )
        for seed in np.unique(seeds[seeds >= 0]) if self.procedural else [-1]:
            sel = seeds == seed
            values = self.values(update, policy_probs_all_states, int(seed), boot=boot)
            out["exact_q"][sel], out["exact_advantage"][sel] = values.lookup(s[sel], tt[sel], a[sel])
            if boot:
                out["exact_advantage_boot"][sel] = values.advantage_boot(s[sel], a[sel])
        return out


def _gridworld_of(env: Any) -> Any | None:
    """The ``GridWorldEnv`` / ``GridVectorEnv`` behind an env; None if there is none.

    Looks through gymnasium wrappers (``.unwrapped``), wrappers that keep the wrapped batch in ``.venv``
    (the trainers' ``VecEnv``, SB3's ``VecEnvWrapper``) and ``SyncVectorEnv`` (its first sub-env).
    """

    seen = 0
    while env is not None and not isinstance(env, TabularMDP) and seen < 32:
        seen += 1
        base = getattr(env, "unwrapped", env)
        if isinstance(base, GridWorldEnv | GridVectorEnv):
            return base
        subs = getattr(base, "envs", None)
        if subs:
            first = getattr(subs[0], "unwrapped", subs[0])
            return first if isinstance(first, GridWorldEnv) else None
        env = getattr(env, "venv", None)
    return None
