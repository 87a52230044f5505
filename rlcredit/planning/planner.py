"""Planners that act in gymnasium envs, so that planners and trained policies are evaluated the same way.

A :class:`Planner` explicitly maximizes reward by searching the env's exact model
(``env.unwrapped.to_mdp()``).
The protocol mirrors how a trained policy is run::

    planner = make_planner("mcts", num_simulations=2000)
    obs, info = env.reset(seed=0)
    planner.reset(env)                      # solve / compile the model of the current layout
    action = planner.act(env.unwrapped.state_index(), t)
    planner.action_probs(states, t)         # (n, A), e.g. to compare with a policy on every state

:func:`run_planner_episodes` runs whole episodes and reports, per episode, the return, the length, the events
entered (the gridworld's ``info["event"]``) and whether the intended objective was reached
(``info["intended"]``).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import numpy as np
import scipy.sparse as sp

from rlcredit.gridworld.observe import observation_of
from rlcredit.mdp import TabularMDP
from rlcredit.planning.dp import FiniteHorizonResult, PlanResult, backward_induction, value_iteration
from rlcredit.planning.mcts import MCTSResult, SearchModel, _as_mdp, _prior_array, _values_array, mcts

__all__ = [
    "BackwardInductionPlanner",
    "MCTSPlanner",
    "ObservedPolicy",
    "Planner",
    "ValueIterationPlanner",
    "make_planner",
    "policy_prior",
    "run_planner_episodes",
]

_DEFAULT_MAX_STEPS = 10_000


class Planner(ABC):
    """A reward-maximizing planner that acts from state indices of an exact model.

    Call :meth:`reset` with the env (or a :class:`~rlcredit.mdp.TabularMDP`) after every ``env.reset()``: a
    procedurally generated env has a new model per layout. Solving is skipped when the model is unchanged.
    """

    name: ClassVar[str]

    def __init__(self, *, gamma: float | None = None) -> None:
        self.gamma = gamma
        self._mdp: TabularMDP | None = None
        self._fingerprint: bytes | None = None
        self._episode_seed: int | None = None
        self._resets = 0

    @property
    def mdp(self) -> TabularMDP:
        """The model the planner currently plans in."""
        if self._mdp is None:
            raise RuntimeError(f"{type(self).__name__} has no model yet: call reset(env) first")
        return self._mdp

    def reset(self, env: Any, *, seed: int | None = None) -> None:
        """Plan for the env's current layout (``env.unwrapped.to_mdp()``) or for a given TabularMDP.

        Parameters
        ----------
        env : gymnasium env or TabularMDP
        seed : int or None
            Seed of this episode's planning randomness (MCTS); None derives one from the planner's seed and
            the number of resets.
        """
        m = _as_mdp(env)
        if self.gamma is not None:
            m = m.replace(gamma=self.gamma)
        fp = _fingerprint(m)
        if fp != self._fingerprint:
            self._mdp, self._fingerprint = m, fp
            self._solve(m)
        self._episode_seed = seed
        self._resets += 1

    @abstractmethod
    def act(self, state: int, t: int = 0) -> int:
        """The action to take in ``state`` at time step ``t`` of the episode."""

    @abstractmethod
    def action_probs(self, states: np.ndarray, t: int = 0) -> np.ndarray:
        """Action probabilities of the planner in ``states`` (n,) at time ``t``, shape (n, A)."""

    @abstractmethod
    def _solve(self, m: TabularMDP) -> None:
        """Prepare for a new model (solve it, or compile it for search)."""

    def _state_array(self, states: np.ndarray | int) -> np.ndarray:
        arr = np.atleast_1d(np.asarray(states))
        S = self.mdp.num_states
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"states must be a 1-D array of state indices, got {arr!r}")
        bad = (arr < 0) | (arr >= S)
        if bad.any():
            raise ValueError(f"state {int(arr[bad][0])} out of range for a model with {S} states")
        return arr.astype(np.int64)


class ValueIterationPlanner(Planner):
    """Acts greedily on the infinite-horizon optimum ``Q*`` (ties: lowest action index); ignores ``t``.

    Parameters
    ----------
    gamma : float or None
        Discount to plan with; default the model's.
    tol : float
        Bellman-residual tolerance of :func:`~rlcredit.planning.value_iteration`.
    """

    name = "vi"

    def __init__(self, *, gamma: float | None = None, tol: float = 1e-10) -> None:
        super().__init__(gamma=gamma)
        self.tol = tol
        self.result: PlanResult | None = None

    def _solve(self, m: TabularMDP) -> None:
        self.result = result = value_iteration(m, tol=self.tol)
        self._actions = np.argmax(result.policy, axis=1)

    def _solved(self) -> PlanResult:
        if self.result is None:
            raise RuntimeError("the planner has no model yet: call reset(env) first")
        return self.result

    def act(self, state: int, t: int = 0) -> int:
        s = self._state_array(state)[0]
        return int(self._actions[s])

    def action_probs(self, states: np.ndarray, t: int = 0) -> np.ndarray:
        return self._solved().policy[self._state_array(states)]


class BackwardInductionPlanner(Planner):
    """Acts on the time-indexed finite-horizon optimum: ``actions[t, s]`` (ties: lowest action index).

    Parameters
    ----------
    horizon : int or None
        Decision steps ``H``; default the model's horizon (the env's time limit).
    gamma : float or None
        Discount to plan with; default the model's.
    """

    name = "bi"

    def __init__(self, *, horizon: int | None = None, gamma: float | None = None) -> None:
        super().__init__(gamma=gamma)
        self.horizon = horizon
        self.result: FiniteHorizonResult | None = None

    def _solve(self, m: TabularMDP) -> None:
        self.result = backward_induction(m, self.horizon)

    def _solved(self) -> FiniteHorizonResult:
        if self.result is None:
            raise RuntimeError("the planner has no model yet: call reset(env) first")
        return self.result

    def _check_t(self, t: int) -> int:
        H = self._solved().horizon
        if not 0 <= t < H:
            raise ValueError(f"time step {t} is outside the planning horizon [0, {H})")
        return int(t)

    def act(self, state: int, t: int = 0) -> int:
        s = self._state_array(state)[0]
        return int(self._solved().actions[self._check_t(t), s])

    def action_probs(self, states: np.ndarray, t: int = 0) -> np.ndarray:
        states = self._state_array(states)
        result = self._solved()
        actions = result.actions[self._check_t(t), states]
        return np.eye(result.num_actions)[actions]


class MCTSPlanner(Planner):
    """Acts with :func:`~rlcredit.planning.mcts` from the current state, reusing the tree between steps.

    At time ``t`` of an episode in a model with horizon ``H`` the search looks at most ``H - t`` steps ahead.
    With ``reuse_tree`` the subtree below the action taken and the state reached is kept for the next step
    (when that outcome was sampled), so each step adds ``num_simulations`` to what was already searched.

    Parameters
    ----------
    num_simulations : int
        Simulations per step.
    seed : int
        Base seed; each step's search seed is derived from it, the episode seed and ``t``.
    reuse_tree : bool
        Keep the relevant subtree between consecutive steps of an episode.
    gamma : float or None
        Discount to plan with; default the model's.
    **mcts_kwargs
        Any other keyword of :func:`~rlcredit.planning.mcts` (``c_uct``, ``rollout``, ``rollout_depth``,
        ``max_depth``, ``prior``, ``c_puct``, ``value_fn``).
    """

    name = "mcts"

    def __init__(
        self,
        *,
        num_simulations: int = 1000,
        seed: int = 0,
        reuse_tree: bool = True,
        gamma: float | None = None,
        **mcts_kwargs: Any,
    ) -> None:
        super().__init__(gamma=gamma)
        unknown = set(mcts_kwargs) - _MCTS_KEYWORDS
        if unknown:
            raise ValueError(
                f"unknown MCTS option {sorted(unknown)[0]!r}; known: {', '.join(sorted(_MCTS_KEYWORDS))}"
            )
        if num_simulations <= 0:
            raise ValueError(f"num_simulations must be positive, got {num_simulations}")
        self.num_simulations = int(num_simulations)
        self.seed = int(seed)
        self.reuse_tree = reuse_tree
        self.mcts_kwargs = mcts_kwargs
        self.last: MCTSResult | None = None
        self._last_t = -1
        self._last_action = -1

    def _solve(self, m: TabularMDP) -> None:
        self._model = SearchModel.from_model(m)

    def reset(self, env: Any, *, seed: int | None = None) -> None:
        super().reset(env, seed=seed)
        self.last = None
        self._last_t = -1
        self._last_action = -1
        # A callable prior or value function (e.g. a policy network) is evaluated on every state once per
        # episode rather than at every step.
        S, A = self._model.num_states, self._model.num_actions
        self._kwargs = dict(self.mcts_kwargs)
        if callable(self._kwargs.get("prior")):
            self._kwargs["prior"] = _prior_array(self._kwargs["prior"], S, A)
        if callable(self._kwargs.get("value_fn")):
            self._kwargs["value_fn"] = _values_array(self._kwargs["value_fn"], S)

    def _search(self, state: int, t: int, tree: Any, stream: int) -> MCTSResult:
        episode = self._resets if self._episode_seed is None else self._episode_seed
        seed = int(np.random.SeedSequence([self.seed, episode, t, stream]).generate_state(1)[0])
        kwargs = dict(self._kwargs)
        horizon = self._model.horizon
        if horizon is not None:
            left = horizon - t
            if left <= 0:
                raise ValueError(f"time step {t} is outside the planning horizon [0, {horizon})")
            cap = kwargs.get("max_depth")
            kwargs["max_depth"] = left if cap is None else min(int(cap), left)
        return mcts(self._model, state, num_simulations=self.num_simulations, seed=seed, tree=tree, **kwargs)

    def act(self, state: int, t: int = 0) -> int:
        state = int(self._state_array(state)[0])
        tree = None
        if self.reuse_tree and self.last is not None and t == self._last_t + 1:
            tree = self.last.tree.subtree(self._last_action, state)
        result = self._search(state, t, tree, stream=0)
        self.last, self._last_t, self._last_action = result, t, result.action
        return result.action

    def action_probs(self, states: np.ndarray, t: int = 0) -> np.ndarray:
        """Root visit distributions of fresh searches from each state (uniform at terminal states)."""
        states = self._state_array(states)
        A = self._model.num_actions
        out = np.full((states.size, A), 1.0 / A)
        for i, s in enumerate(states):
            if not self._model.terminal[s]:
                out[i] = self._search(int(s), t, None, stream=1 + i).policy
        return out


_MCTS_KEYWORDS = {"c_uct", "rollout", "rollout_depth", "max_depth", "prior", "c_puct", "value_fn", "search"}

_PLANNERS: dict[str, Callable[..., Planner]] = {
    "vi": ValueIterationPlanner,
    "value_iteration": ValueIterationPlanner,
    "bi": BackwardInductionPlanner,
    "backward_induction": BackwardInductionPlanner,
    "mcts": MCTSPlanner,
}


class ObservedPolicy(Protocol):
    """What :func:`policy_prior` needs of a trained policy (e.g. :class:`rlcredit.trainers.Policy`)."""

    @property
    def obs_spec(self) -> Any:
        """``.kind`` ("discrete" for index observations) and ``.shape`` of the observations it reads."""
        ...

    def action_probs(self, obs: np.ndarray) -> np.ndarray:
        """(B, A) action probabilities of a batch of observations."""
        ...


def policy_prior(policy: ObservedPolicy, env: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A PUCT prior from a trained policy: planning on top of a learned policy.

    Returns ``prior(states) -> (len(states), A)``: ``policy``'s action probabilities on ``env``'s observations
    of those states (the env must be a gridworld; the observation mode, index, coords or grid, is the one the
    policy reads). Pass it as ``mcts(..., prior=policy_prior(policy, env))`` or ``MCTSPlanner(prior=...)``; a
    training run's policy comes from ``rlcredit.trainers.load.load_policy(RUN_DIR)``.
    """
    base = env.unwrapped if hasattr(env, "unwrapped") else env
    if not hasattr(base, "layout"):
        raise ValueError(
            "policy_prior needs a gridworld env: the searched states are observed through its layout"
        )
    spec = policy.obs_spec
    mode = "index" if spec.kind == "discrete" else ("grid" if len(spec.shape) == 3 else "coords")

    def prior(states: np.ndarray) -> np.ndarray:
        obs = observation_of(base.layout, np.asarray(states), mode)
        return np.asarray(policy.action_probs(obs), dtype=np.float64)

    return prior


def make_planner(kind: str, **kwargs: Any) -> Planner:
    """A planner by name: ``"vi"`` (value iteration), ``"bi"`` (backward induction) or ``"mcts"``.

    Keyword arguments go to the planner's constructor (see :class:`ValueIterationPlanner`,
    :class:`BackwardInductionPlanner`, :class:`MCTSPlanner`).
    """
    try:
        cls = _PLANNERS[kind]
    except KeyError:
        raise ValueError(f"unknown planner {kind!r}; known planners: {', '.join(_PLANNERS)}") from None
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"bad option for planner {kind!r}: {e}") from None


def run_planner_episodes(
    planner: Planner, env: Any, episodes: int, seed: int, *, max_steps: int | None = None
) -> list[dict[str, Any]]:
    """Run a planner for whole episodes in a gymnasium env built on a gridworld.

    Episode ``i`` starts with ``env.reset(seed=seed + i)`` and ``planner.reset(env, seed=seed + i)``, so each
    episode is reproducible on its own.

    Parameters
    ----------
    planner : Planner
    env : gymnasium env
        Needs ``env.unwrapped.state_index()`` and ``env.unwrapped.to_mdp()``.
    episodes : int
        Number of episodes.
    seed : int
        Seed of the first episode.
    max_steps : int or None
        Stop an episode (counted as truncated) after this many steps; default the model's horizon, or
        10,000 steps when the model has none (the env's own time limit normally ends it first).

    Returns
    -------
    list of dict
        One per episode: ``episode``, ``seed``, ``return`` (undiscounted sum of rewards),
        ``discounted_return`` (with the planner's model discount), ``length``, ``terminated``, ``truncated``,
        ``events`` (the ``info["event"]`` names entered, in order), ``intended`` (``info["intended"]`` was
        True at some step: the intended objective was reached).
    """
    if episodes < 0:
        raise ValueError(f"episodes must be >= 0, got {episodes}")
    rows: list[dict[str, Any]] = []
    for i in range(episodes):
        ep_seed = seed + i
        env.reset(seed=ep_seed)
        planner.reset(env, seed=ep_seed)
        gamma = planner.mdp.gamma
        limit = max_steps if max_steps is not None else (planner.mdp.horizon or _DEFAULT_MAX_STEPS)
        total = 0.0
        discounted = 0.0
        events: list[str] = []
        intended = False
        terminated = truncated = False
        t = 0
        while not (terminated or truncated):
            if t >= limit:
                truncated = True
                break
            action = planner.act(env.unwrapped.state_index(), t)
            _, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            discounted += gamma**t * float(reward)
            t += 1
            event = info.get("event")
            if event is not None:
                events.append(str(event))
            intended = intended or bool(info.get("intended", False))
        rows.append(
            {
                "episode": i,
                "seed": ep_seed,
                "return": total,
                "discounted_return": discounted,
                "length": t,
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "events": events,
                "intended": intended,
            }
        )
    return rows


def _fingerprint(m: TabularMDP) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    P2 = m.P2
    if isinstance(P2, sp.csr_matrix | sp.csr_array):
        for arr in (P2.indptr, P2.indices, P2.data):
            h.update(np.ascontiguousarray(arr).tobytes())
    else:
        h.update(np.ascontiguousarray(P2).tobytes())
    for arr in (m.R, m.terminal):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(repr((m.num_states, m.num_actions, m.gamma, m.horizon)).encode())
    return h.digest()
