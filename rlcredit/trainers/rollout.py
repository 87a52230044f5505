"""Batched environments and rollout collection shared by the trainers.

:class:`VecEnv` gives one face to rlcredit's batched numpy gridworlds (``rlcredit.make_vec``) and to any
gymnasium env with a Discrete action space (in a ``SyncVectorEnv`` with same-step autoreset). Collection
writes into preallocated ``(T, N)`` arrays (:class:`Rollout`) and keeps the per-step Python work to a few
numpy calls, so a policy step costs about one small forward pass.

Exact resume: a checkpoint stores the env's state. rlcredit gridworld envs provide ``get_state`` /
``set_state`` when they support it. gymnasium envs are wrapped in :class:`ReplayEnv`, which reseeds
every episode from ``(seed, env index, episode number)`` and remembers the actions taken since the last
reset, so its state is a seed and a list of actions that :meth:`ReplayEnv.restore` replays.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from rlcredit.gridworld import make_vec
from rlcredit.gridworld.registry import NAMESPACE, builtin_envs
from rlcredit.trainers.networks import ObsSpec, Policy

EnvSource = str | Callable[[], gym.Env]


class ReplayEnv(gym.Wrapper):
    """Reseed every episode deterministically and record its actions, so the env's state can be saved.

    The ``k``-th reset after a seeded reset with seed ``base`` uses seed
    ``SeedSequence([base, k]).generate_state(1)[0]``; :meth:`replay_state` is ``{"base", "episode",
    "actions"}`` and :meth:`restore` resets with that episode's seed and replays the actions. Exact for any
    env whose randomness comes from its ``np_random`` (every well-behaved gymnasium env).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._base = 0
        self._episode = 0
        self._actions: list[int] = []

    def _episode_seed(self) -> int:
        return int(np.random.SeedSequence([self._base, self._episode]).generate_state(1)[0])

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._base, self._episode = int(seed), 0
        else:
            self._episode += 1
        self._actions = []
        return self.env.reset(seed=self._episode_seed(), options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        self._actions.append(int(action))
        return self.env.step(action)

    def replay_state(self) -> dict:
        """``{"base": int, "episode": int, "actions": [int, ...]}`` (JSON-able)."""
        return {"base": self._base, "episode": self._episode, "actions": list(self._actions)}

    def restore(self, state: dict) -> Any:
        """Put the env back in ``state`` (from :meth:`replay_state`); returns the current observation."""
        self._base, self._episode = int(state["base"]), int(state["episode"])
        obs, _ = self.env.reset(seed=self._episode_seed())
        for a in state["actions"]:
            obs = self.env.step(a)[0]
        self._actions = [int(a) for a in state["actions"]]
        return obs


class VecEnv:
    """A batched env with same-step autoreset, as the trainers use it.

    Parameters
    ----------
    venv : gymnasium.vector.VectorEnv
        rlcredit's ``GridVectorEnv`` or a ``SyncVectorEnv`` (``autoreset_mode=SAME_STEP``) of
        :class:`ReplayEnv`-wrapped envs. Observation space Discrete or Box; action space Discrete.
    name : str
        For messages and run names.

    Attributes
    ----------
    num_envs, num_actions : int
    obs_spec : ObsSpec
    num_states : int or None
        Number of exact-model states when the env can render any state's observation, else None.
    procedural : bool
        A gridworld that draws a new layout per episode (states then index the layout of their episode).
    time_limit : int or None
        Episode time limit if known.
    gamma : float or None
        The discount the env declares (an rlcredit map's ``gamma``, after env keyword overrides), else None.
    performance : (N,) float64 or None
        Intended performance of the last :meth:`step` of every sub-env (``info["performance"]``, hidden from
        the trainers' losses; rlcredit gridworlds report it), None for envs that do not report it.
    """

    def __init__(self, venv: gym.vector.VectorEnv, *, name: str = "env") -> None:
        mode = venv.metadata.get("autoreset_mode")
        if mode is not None and mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"{name}: the trainers need same-step autoreset, got {mode}")
        act = venv.single_action_space
        if not isinstance(act, gym.spaces.Discrete):
            raise ValueError(f"{name}: the trainers need a Discrete action space, got {act}")
        self.venv = venv
        self.name = name
        self.num_envs = int(venv.num_envs)
        self.num_actions = int(act.n)
        self.action_start = int(act.start)
        self.obs_spec = ObsSpec.from_space(venv.single_observation_space)
        self.obs_dtype = venv.single_observation_space.dtype
        self._state_index = getattr(venv, "state_index", None)
        self.procedural = bool(getattr(getattr(venv, "layouts", None), "fixed", True) is None)
        self._observation_of = getattr(venv, "observation_of", None)
        self.num_states: int | None = None
        if self._observation_of is not None and hasattr(venv, "to_mdp"):
            self.num_states = int(venv.to_mdp().num_states)
        self.time_limit = _time_limit(venv)
        map_gamma = getattr(getattr(venv, "map", None), "gamma", None)
        self.gamma: float | None = None if map_gamma is None else float(map_gamma)
        self.performance: np.ndarray | None = None

    # -- stepping ------------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> np.ndarray:
        """Reset every sub-env (``seed`` starts a reproducible stream; None continues it)."""
        obs, _ = self.venv.reset(seed=seed)
        return np.asarray(obs)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Step every sub-env with actions ``0..A-1``.

        Returns
        -------
        obs : (N, *obs_shape)
            Next observations (a new episode's first one where an episode ended).
        reward : (N,) float32
        terminated, truncated : (N,) bool
        final : (idx, final_obs) or None
            Indices of the truncated sub-envs and their true final observations (to bootstrap from).
        """
        obs, reward, terminated, truncated, info = self.venv.step(actions + self.action_start)
        perf = info.get("performance")
        self.performance = None if perf is None else np.array(perf, np.float64)
        if self.performance is not None and "_final_info" in info:
            # same-step autoreset (SyncVectorEnv): a finished sub-env's info is its reset's; the step's own
            # performance (the final, often the largest) is in final_info
            done = np.asarray(info["_final_info"], bool)
            final = info["final_info"].get("performance")
            if final is not None and done.any():
                self.performance[done] = np.asarray(final, np.float64)[done]
        truncated = np.asarray(truncated, dtype=bool)
        final = None
        if truncated.any():
            idx = np.flatnonzero(truncated)
            fo = info["final_obs"]
            final = (idx, np.stack([np.asarray(fo[i]) for i in idx]).astype(self.obs_dtype, copy=False))
        return np.asarray(obs), np.asarray(reward, np.float32), np.asarray(terminated, bool), truncated, final

    def states(self, obs: np.ndarray) -> np.ndarray:
        """(N,) exact-model state indices of the current states; the obs for Discrete obs; -1 unknown."""
        if self._state_index is not None:
            return np.asarray(self._state_index())
        if self.obs_spec.kind == "discrete":
            return np.asarray(obs) - self.obs_spec.start
        return np.full(self.num_envs, -1)

    def layout_seeds(self) -> np.ndarray | None:
        """(N,) layout seed of every sub-env's current layout (procedural gridworlds), else None."""
        if not self.procedural:
            return None
        return np.asarray(self.venv.layout_seeds)  # type: ignore[attr-defined]

    def all_observations(self) -> np.ndarray | None:
        """Observations of every exact-model state ``0..num_states-1`` (None if the env cannot render them)."""
        if self.num_states is None or self._observation_of is None:
            return None
        return np.asarray(self._observation_of(np.arange(self.num_states)))

    # -- state for checkpoints ---------------------------------------------------------------------------
    @property
    def resumable(self) -> bool:
        """Whether :meth:`get_state` / :meth:`set_state` restore the env exactly."""
        return hasattr(self.venv, "get_state") or _replay_envs(self.venv) is not None

    def get_state(self) -> dict | None:
        """JSON-able state of every sub-env, or None if the env cannot save its state."""
        if hasattr(self.venv, "get_state"):
            return {"kind": "native", "state": self.venv.get_state()}
        envs = _replay_envs(self.venv)
        if envs is not None:
            return {"kind": "replay", "envs": [e.replay_state() for e in envs]}
        return None

    def set_state(self, state: dict | None, *, fallback_seed: int) -> np.ndarray | None:
        """Restore :meth:`get_state` output.

        Without a state (or if this env cannot restore one) every sub-env is reset with ``fallback_seed``,
        with a warning, and the new observations are returned; otherwise None.
        """
        if state is None or not self.resumable:
            warnings.warn(
                f"{self.name} cannot restore its state; resuming with freshly reset episodes "
                f"(seed {fallback_seed}), so the continuation differs from an uninterrupted run",
                stacklevel=3,
            )
            return self.reset(seed=fallback_seed)
        if state["kind"] == "native":
            self.venv.set_state(state["state"])  # type: ignore[attr-defined]
        else:
            for env, s in zip(_replay_envs(self.venv) or [], state["envs"], strict=True):
                env.restore(s)
        return None

    def close(self) -> None:
        self.venv.close()


def _replay_envs(venv: gym.vector.VectorEnv) -> list[ReplayEnv] | None:
    envs = getattr(venv, "envs", None)
    if envs and all(isinstance(e, ReplayEnv) for e in envs):
        return list(envs)
    return None


def _time_limit(venv: gym.vector.VectorEnv) -> int | None:
    spec_map = getattr(venv, "map", None)
    if spec_map is not None and getattr(spec_map, "time_limit", None):
        return int(spec_map.time_limit)
    envs = getattr(venv, "envs", None)
    if envs:
        spec = envs[0].spec
        if spec is not None and spec.max_episode_steps:
            return int(spec.max_episode_steps)
    return None


_RESERVED_KWARGS = {
    "obs": "the trainer config's obs",
    "num_envs": "the trainer config's num_envs",
    "seed": "seed=",
}


def make_env(
    env: EnvSource,
    num_envs: int,
    seed: int,
    *,
    obs: str | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> VecEnv:
    """Build the batched env for a trainer.

    Parameters
    ----------
    env : str or callable
        An rlcredit gridworld id (``"rlcredit/..."``) or map file (``*.toml``): ``rlcredit.make_vec``.
        Any other gymnasium id, or a factory returning a gymnasium Env: a same-step ``SyncVectorEnv``.
    num_envs, seed : int
        The seed is applied by the first ``reset``; it is needed here only by envs seeded at construction.
    obs : str, optional
        Observation kind of gridworlds; an error for other envs.
    env_kwargs : mapping, optional
        Keyword arguments of the env constructor: ``rlcredit.make_vec`` for gridworlds (``time_limit``,
        ``slip``, ``gamma``, ``step_cost``, ``layout_seed``, ``num_layouts``), ``gym.make`` for gymnasium
        ids, the factory itself for factories. ``obs``, ``num_envs`` and ``seed`` are not among them (they
        have their own arguments).

    Raises
    ------
    ValueError
        For a reserved key, or keyword arguments the constructor does not take (the message names them).
    """
    kwargs = dict(env_kwargs or {})
    for key, where in _RESERVED_KWARGS.items():
        if key in kwargs:
            raise ValueError(f"env_kwargs may not set {key!r}; use {where}")
    if isinstance(env, str) and (env.startswith("rlcredit/") or env.endswith(".toml")):
        if obs is not None:
            kwargs["obs"] = obs
        try:
            grid = make_vec(env, num_envs=num_envs, seed=seed, **kwargs)
        except TypeError as e:
            raise ValueError(f"{env}: bad env_kwargs {sorted(env_kwargs or {})}: {e}") from e
        return VecEnv(grid, name=env)
    if obs is not None:
        raise ValueError(f"obs={obs!r} applies to rlcredit gridworlds only, not to {env!r}")
    if isinstance(env, str):
        env_id = env
        if env_id not in gym.registry:
            _check_gym_id(env_id)

        def factory() -> gym.Env:
            return gym.make(env_id, **kwargs)

        name = env
    elif callable(env):
        make, name = env, getattr(env, "__qualname__", type(env).__name__)

        def factory() -> gym.Env:
            return make(**kwargs)

    else:
        raise TypeError(f"env must be an env id, a map file or a factory; got {type(env).__name__}")
    try:
        venv = SyncVectorEnv(
            [lambda: ReplayEnv(factory()) for _ in range(num_envs)], autoreset_mode=AutoresetMode.SAME_STEP
        )
    except TypeError as e:
        if not kwargs:
            raise
        raise ValueError(f"{name}: bad env_kwargs {sorted(kwargs)}: {e}") from e
    return VecEnv(venv, name=name)


def _check_gym_id(env_id: str) -> None:
    """An id gymnasium does not know that looks like a built-in gridworld's: say which one was meant."""
    ids = sorted(builtin_envs())
    if f"{NAMESPACE}/{env_id}" in ids:
        raise gym.error.Error(
            f"unknown env id {env_id!r}: did you mean '{NAMESPACE}/{env_id}'? (rlcredit gridworlds are in the "
            f"{NAMESPACE}/ namespace)"
        )
    bare = {i.split("/", 1)[1].lower(): i for i in ids}
    close = difflib.get_close_matches(env_id.split("/", 1)[-1].lower(), list(bare), n=1, cutoff=0.8)
    if close and ":" not in env_id:
        raise gym.error.Error(
            f"unknown env id {env_id!r}: did you mean {bare[close[0]]!r}? (see rlcredit envs)"
        )


# ---------------------------------------------------------------------------------------------- storage


@dataclass
class Rollout:
    """Preallocated rollout storage; every array is ``(T, N, ...)``: step ``t`` of sub-env ``n``.

    Attributes
    ----------
    obs : (T, N, *obs_shape)
        Observation of s_t.
    actions : (T, N) int64
    logp : (T, N) float32
        log pi_old(a_t|s_t).
    values : (T, N) float32
        Critic V(s_t) at collection.
    rewards : (T, N) float32
    terminated, truncated : (T, N) bool
    next_values : (T, N) float32
        V(s_{t+1}) of the true next state (the final observation's where truncated; 0 where terminated).
    states : (T, N) int32
        Exact-model state index of s_t (-1 unknown).
    episode, t : (T, N) int32
        Episode number within the sub-env and time step within the episode.
    valid : (T, N) bool
        Steps the update learns from (all of them for fixed-length rollouts).
    layout_seeds : (T, N) int64
        Layout seed of the episode of each step (procedural gridworlds; -1 otherwise).
    """

    obs: np.ndarray
    actions: np.ndarray
    logp: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_values: np.ndarray
    states: np.ndarray
    episode: np.ndarray
    t: np.ndarray
    valid: np.ndarray
    layout_seeds: np.ndarray

    @classmethod
    def empty(cls, num_steps: int, num_envs: int, obs_shape: tuple[int, ...], obs_dtype: Any) -> Rollout:
        tn = (num_steps, num_envs)
        return cls(
            obs=np.zeros((*tn, *obs_shape), dtype=obs_dtype),
            actions=np.zeros(tn, np.int64),
            logp=np.zeros(tn, np.float32),
            values=np.zeros(tn, np.float32),
            rewards=np.zeros(tn, np.float32),
            terminated=np.zeros(tn, bool),
            truncated=np.zeros(tn, bool),
            next_values=np.zeros(tn, np.float32),
            states=np.zeros(tn, np.int32),
            episode=np.zeros(tn, np.int32),
            t=np.zeros(tn, np.int32),
            valid=np.ones(tn, bool),
            layout_seeds=np.full(tn, -1, np.int64),
        )

    def flat(self, name: str, steps: int | None = None) -> np.ndarray:
        """Array ``name`` over the first ``steps`` rows, flattened to ``(steps * N, ...)`` (a view)."""
        a = getattr(self, name)[: steps if steps is not None else None]
        return a.reshape(-1, *a.shape[2:])


ROLLOUT_FIELDS = tuple(f.name for f in fields(Rollout))


@dataclass
class Episodes:
    """Episodes that ended during a rollout, (E,) arrays.

    ``returns``: undiscounted sum of rewards; ``lengths``; ``performance``: undiscounted sum of the intended
    performance (None when the env does not report it).
    """

    returns: np.ndarray
    lengths: np.ndarray
    performance: np.ndarray | None = None


class EpisodeTracker:
    """Per-sub-env episode number, time step, running return and running intended performance.

    Attributes
    ----------
    episode, t : (N,) int64
    ret : (N,) float64
        Undiscounted return so far in the current episode.
    perf : (N,) float64
        Undiscounted intended performance so far in the current episode (0 for envs that report none).
    """

    def __init__(self, num_envs: int) -> None:
        self.episode = np.zeros(num_envs, np.int64)
        self.t = np.zeros(num_envs, np.int64)
        self.ret = np.zeros(num_envs, np.float64)
        self.perf = np.zeros(num_envs, np.float64)

    def step(
        self, reward: np.ndarray, done: np.ndarray, out: Finished, performance: np.ndarray | None = None
    ) -> None:
        """Advance by one step; add the return, length and performance of episodes that ended to ``out``."""
        self.ret += reward
        if performance is not None:
            self.perf += performance
        self.t += 1
        if done.any():
            out.returns.extend(self.ret[done].tolist())
            out.lengths.extend(self.t[done].tolist())
            out.performance.extend(self.perf[done].tolist())
            self.ret[done] = 0.0
            self.perf[done] = 0.0
            self.t[done] = 0
            self.episode[done] += 1

    def restart(self) -> None:
        """Every sub-env starts a new episode (after a reset)."""
        self.episode += self.t > 0
        self.t[:] = 0
        self.ret[:] = 0.0
        self.perf[:] = 0.0

    def state(self) -> dict[str, np.ndarray]:
        return {"episode": self.episode, "t": self.t, "ret": self.ret, "perf": self.perf}

    def load(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` output (checkpoints written before ``perf`` existed restore it as 0)."""
        for k in ("episode", "t", "ret"):
            getattr(self, k)[:] = np.asarray(state[k])
        self.perf[:] = np.asarray(state.get("perf", 0.0))


@dataclass
class Finished:
    """Returns, lengths and intended performances of the episodes that ended, gathered step by step."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    performance: list[float] = field(default_factory=list)

    def episodes(self, reports_performance: bool) -> Episodes:
        perf = np.asarray(self.performance) if reports_performance else None
        return Episodes(np.asarray(self.returns), np.asarray(self.lengths), perf)


# ------------------------------------------------------------------------------------------- collection


def sample_actions(logp_all: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample one action per row of ``(B, A)`` log-probabilities (inverse CDF, one uniform per row)."""
    cdf = np.cumsum(np.exp(logp_all), axis=1)
    u = rng.random(cdf.shape[0]) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def _act(
    policy: Policy, obs: np.ndarray, rng: np.random.Generator, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Actions, their log-probabilities and the values of a batch of observations at time steps ``t``; call
    under ``torch.no_grad()``."""
    logits, values = policy.act_outputs_no_grad(torch.as_tensor(obs), t)
    logp_all = torch.log_softmax(logits, dim=-1).numpy()
    value = values.numpy()
    a = sample_actions(logp_all, rng)
    return a, logp_all[np.arange(len(a)), a], value


@torch.no_grad()
def collect_steps(
    env: VecEnv,
    policy: Policy,
    buf: Rollout,
    obs: np.ndarray,
    tracker: EpisodeTracker,
    rng: np.random.Generator,
) -> tuple[np.ndarray, Episodes]:
    """Fill ``buf`` with ``T`` steps of every sub-env, continuing from ``obs`` (fixed-length rollouts, PPO).

    ``buf.next_values`` gets V of the true next state: the next step's value, the final observation's
    value where an episode was truncated, 0 where it terminated, and V(obs after the last step) in the
    last row. A critic that sees the remaining time (``policy.time_limit``) is not asked at the time limit:
    no time is left there, so the finite-horizon value is 0.

    Returns
    -------
    obs : the observation to continue from.
    episodes : the episodes that ended during the rollout.
    """
    num_steps = buf.actions.shape[0]
    finished = Finished()
    final_rows: list[tuple[int, np.ndarray, np.ndarray]] = []
    state = env.states(obs)
    for step in range(num_steps):
        buf.obs[step] = obs
        buf.states[step] = state
        buf.episode[step] = tracker.episode
        buf.t[step] = tracker.t
        if env.procedural:
            buf.layout_seeds[step] = env.layout_seeds()
        a, logp, value = _act(policy, obs, rng, tracker.t)
        buf.actions[step], buf.logp[step], buf.values[step] = a, logp, value
        obs, reward, term, trunc, final = env.step(a)
        buf.rewards[step], buf.terminated[step], buf.truncated[step] = reward, term, trunc
        if final is not None:
            final_rows.append((step, *final))
        state = env.states(obs)
        tracker.step(reward, term | trunc, finished, env.performance)
    buf.next_values[:-1] = buf.values[1:]
    buf.next_values[-1] = policy.value(torch.as_tensor(obs), tracker.t).numpy()
    if final_rows:
        final_obs = np.concatenate([f[2] for f in final_rows])
        steps = np.concatenate([np.full(len(f[1]), f[0]) for f in final_rows])
        envs = np.concatenate([f[1] for f in final_rows])
        t_final = buf.t[steps, envs] + 1
        final_v = policy.value(torch.as_tensor(final_obs), t_final).numpy()
        if policy.time_limit is not None:
            final_v[t_final >= policy.time_limit] = 0.0
        buf.next_values[steps, envs] = final_v
    buf.next_values[buf.terminated] = 0.0
    return obs, finished.episodes(env.performance is not None)


@torch.no_grad()
def collect_episodes(
    env: VecEnv,
    policy: Policy,
    buf: Rollout,
    tracker: EpisodeTracker,
    rng: np.random.Generator,
) -> tuple[int, Episodes]:
    """Reset every sub-env and run it until its episode ends: one complete episode per sub-env (REINFORCE).

    Sub-envs whose episode ended keep being stepped (the env is batched) but those steps are marked
    ``valid = False`` and belong to no recorded episode; the next call resets every sub-env again. An
    episode still running after ``T = buf.actions.shape[0]`` steps is cut there and marked truncated.

    Returns
    -------
    steps : int
        Rows of ``buf`` used (the longest episode's length).
    episodes : the N episodes, in sub-env order.
    """
    max_steps, n = buf.actions.shape
    obs = env.reset()
    active = np.ones(n, bool)
    tracker.t[:] = 0
    tracker.ret[:] = 0.0
    tracker.perf[:] = 0.0
    step = 0
    while active.any() and step < max_steps:
        buf.obs[step] = obs
        buf.states[step] = env.states(obs)
        buf.episode[step] = tracker.episode
        buf.t[step] = step
        buf.valid[step] = active
        if env.procedural:
            buf.layout_seeds[step] = env.layout_seeds()
        a, logp, value = _act(policy, obs, rng, buf.t[step])
        buf.actions[step], buf.logp[step], buf.values[step] = a, logp, value
        obs, reward, term, trunc, _ = env.step(a)
        if step == max_steps - 1:
            trunc = trunc | (active & ~term)
        buf.rewards[step], buf.terminated[step], buf.truncated[step] = reward, term, trunc
        tracker.ret += np.where(active, reward, 0.0)
        if env.performance is not None:
            tracker.perf += np.where(active, env.performance, 0.0)
        tracker.t += active
        active &= ~(term | trunc)
        step += 1
    buf.valid[step:] = False
    perf = tracker.perf.copy() if env.performance is not None else None
    episodes = Episodes(tracker.ret.copy(), tracker.t.copy(), perf)
    tracker.episode += 1
    tracker.t[:] = 0
    tracker.ret[:] = 0.0
    tracker.perf[:] = 0.0
    return step, episodes
