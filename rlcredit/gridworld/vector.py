"""A batched numpy ``gymnasium.vector.VectorEnv`` over the transition core: thousands of gridworlds per call.

Autoreset mode: **same step** (``AutoresetMode.SAME_STEP``). When an episode ends, the returned observation is
already the first observation of the next episode; the last observation of the finished episode is in
``info["final_obs"]`` (an object array, set where ``info["_final_obs"]``), its state in ``info["final_state"]``
(all envs; equal to the pre-reset state). ``terminated`` (a terminal cell was entered) and ``truncated``
(``time_limit`` reached) are kept apart, so a trainer bootstraps truncated episodes from the final observation.

``info`` also holds, for every env, ``event`` (int8 kind index of the object entered this step, -1 none; names in
``venv.kinds``) and ``intended`` (bool), and where episodes ended ``episode = {"r": return, "l": length}`` with
mask ``_episode`` (the convention of gymnasium's ``RecordEpisodeStatistics``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlcredit.gridworld import core, observe
from rlcredit.gridworld.env import MapEnvMixin, sample_start
from rlcredit.gridworld.maps import MapSpec
from rlcredit.mdp import TabularMDP


class GridVectorEnv(MapEnvMixin, VectorEnv):
    """``num_envs`` copies of a gridworld stepped together with array operations (see module docstring)."""

    metadata: ClassVar[dict] = {
        "render_modes": ["rgb_array", "ansi"],
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        spec: MapSpec | str | Path,
        num_envs: int,
        obs: str = "index",
        *,
        seed: int | None = None,
        copy: bool = True,
        render_mode: str | None = None,
        variant: str | None = None,
        time_limit: int | None = None,
        slip: float | None = None,
        gamma: float | None = None,
        step_cost: float | None = None,
        layout_seed: int | None = None,
        num_layouts: int | None = None,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        self.single_observation_space = self._setup_map(
            spec,
            variant,
            obs,
            render_mode,
            layout_seed=layout_seed,
            num_layouts=num_layouts,
            time_limit=time_limit,
            slip=slip,
            gamma=gamma,
            step_cost=step_cost,
        )
        self.single_action_space = spaces.Discrete(4)
        self.num_envs = num_envs
        self.copy = copy
        self.kinds = self.map.kinds
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        H, W = self.map.shape
        self._S = H * W
        self._envs = np.arange(num_envs, dtype=np.int64)
        self._offsets = self._envs * self._S  # where each env's rows start in per-env (procedural) tables
        self._per_env = self.layouts.fixed is None
        L = num_envs if self._per_env else 1
        self._move = np.zeros(L * self._S * 4, np.int64)
        self._reward = np.zeros(L * self._S * 4, np.float64)
        self._event = np.zeros(L * self._S * 4, np.int8)
        self._intended_ev = np.zeros(L * self._S * 4, bool)
        self._terminal = np.zeros(L * self._S, bool)
        self._layout: list[core.Layout | None] = [None] * L
        self.layout_seeds = np.full(num_envs, -1, np.int64)
        if not self._per_env:
            self._install(0, self.layouts.fixed)
        self._state = np.zeros(num_envs, np.int64)
        self._t = np.zeros(num_envs, np.int64)
        self._ret = np.zeros(num_envs, np.float64)
        self._grid = (
            np.zeros((num_envs, *self.single_observation_space.shape), np.uint8) if obs == "grid" else None
        )
        self._rng = np.random.default_rng(seed)
        # Draw initial layouts and states so layout()/to_mdp() work before the first reset; stepping still
        # requires reset().
        self._reset_envs(self._envs)
        self._needs_reset = True

    # -- tables -----------------------------------------------------------------------------------------------
    def _install(self, slot: int, layout: core.Layout) -> None:
        S = self._S
        sl4, sl = slice(slot * S * 4, (slot + 1) * S * 4), slice(slot * S, (slot + 1) * S)
        self._move[sl4] = layout.move.reshape(-1)
        self._reward[sl4] = layout.step_reward.reshape(-1)
        self._event[sl4] = layout.event.reshape(-1)
        self._intended_ev[sl4] = ((layout.event >= 0) & layout.intended[layout.move]).reshape(-1)
        self._terminal[sl] = layout.terminal
        self._layout[slot] = layout

    def layout(self, env: int = 0) -> core.Layout:
        """The current layout of sub-env ``env``."""
        return self._layout[env if self._per_env else 0]

    def _reset_envs(self, idx: np.ndarray) -> None:
        if self._per_env:
            for i in idx:
                self.layout_seeds[i], lay = self.layouts.draw(self._rng)
                self._install(int(i), lay)
                self._state[i] = sample_start(lay, self._rng)
                if self._grid is not None:
                    self._grid[i] = observe.static_planes(lay)
        else:
            self._state[idx] = sample_start(self._layout[0], self._rng, len(idx))
            if self._grid is not None:
                self._grid[idx] = observe.static_planes(self._layout[0])
        if self._grid is not None:
            flat = self._grid.reshape(self.num_envs, -1)
            flat[idx, self._S + self._state[idx]] = 1
        self._t[idx] = 0
        self._ret[idx] = 0.0

    # -- gymnasium API ----------------------------------------------------------------------------------------
    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        if seed is not None:
            if not isinstance(seed, int | np.integer):
                raise ValueError("GridVectorEnv takes one integer seed for the whole batch")
            self._rng = np.random.default_rng(seed)
        mask = None if options is None else options.get("reset_mask")
        idx = self._envs if mask is None else np.flatnonzero(mask)
        self._reset_envs(idx)
        self._needs_reset = False
        return self._observe(), {"state": self._state.copy()}

    def step(self, actions):
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(actions, dtype=np.int64)
        if a.shape != (self.num_envs,):
            raise ValueError(f"expected actions of shape ({self.num_envs},), got {a.shape}")
        if self.map.slip > 0:
            u = self._rng.random(self.num_envs)
            slipped = u < self.map.slip
            a = np.where(slipped, (a + 1 + np.minimum((u / self.map.slip * 3).astype(np.int64), 2)) % 4, a)
        s = self._state
        idx = s * 4 + a
        if self._per_env:
            idx += self._offsets * 4
        nxt = self._move[idx]
        reward = self._reward[idx]
        event = self._event[idx]
        intended = self._intended_ev[idx]
        terminated = self._terminal[nxt + self._offsets] if self._per_env else self._terminal[nxt]
        if self._grid is not None:
            flat = self._grid.reshape(self.num_envs, -1)
            flat[self._envs, self._S + s] = 0
            flat[self._envs, self._S + nxt] = 1
        self._state = nxt
        self._t += 1
        self._ret += reward
        truncated = (self._t >= self.map.time_limit) & ~terminated
        info: dict[str, Any] = {"event": event, "intended": intended, "final_state": nxt.copy()}
        done = terminated | truncated
        if done.any():
            d = np.flatnonzero(done)
            final = np.full(self.num_envs, None, dtype=object)
            if self._per_env:
                fo = [
                    observe.observation_of(self.layout(int(i)), nxt[i : i + 1], self.obs_mode)[0] for i in d
                ]
            else:
                fo = list(observe.observation_of(self._layout[0], nxt[d], self.obs_mode))
            for j, i in enumerate(d):
                final[i] = fo[j]
            info["final_obs"], info["_final_obs"] = final, done
            info["episode"] = {"r": np.where(done, self._ret, 0.0), "l": np.where(done, self._t, 0)}
            info["_episode"] = done
            self._reset_envs(d)
        return self._observe(), reward, terminated, truncated, info

    def _observe(self) -> np.ndarray:
        if self.obs_mode == "index":
            return self._state.copy()
        if self.obs_mode == "coords":
            r, c = np.divmod(self._state, self.map.shape[1])
            return np.stack([r, c], axis=1).astype(np.float32)
        return self._grid.copy() if self.copy else self._grid

    def render(self):
        if self.render_mode == "rgb_array":
            return tuple(observe.render_rgb(self.layout(i), self._state[i]) for i in range(self.num_envs))
        if self.render_mode == "ansi":
            return tuple(
                observe.render_ansi(self.layout(i), self._state[i], self.map.chars)
                for i in range(self.num_envs)
            )
        return None

    # -- saving and restoring (exact resume) ------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """A JSON-able snapshot: states, step counts, returns, layouts (by seed) and the RNG, for exact resume."""
        return {
            "state": self._state.tolist(),
            "t": self._t.tolist(),
            "ret": [float(x) for x in self._ret],
            "layout_seeds": self.layout_seeds.tolist(),
            "rng": self._rng.bit_generator.state,
            "needs_reset": self._needs_reset,
        }

    def set_state(self, snapshot: dict[str, Any]) -> None:
        """Restore :meth:`get_state` output; layouts of procedural maps are rebuilt from their seeds."""
        n = len(snapshot["state"])
        if n != self.num_envs:
            raise ValueError(f"snapshot holds {n} envs, this GridVectorEnv has {self.num_envs}")
        self._state = np.asarray(snapshot["state"], np.int64)
        self._t = np.asarray(snapshot["t"], np.int64)
        self._ret = np.asarray(snapshot["ret"], np.float64)
        seeds = np.asarray(snapshot["layout_seeds"], np.int64)
        if self._per_env:
            for i, seed in enumerate(seeds):
                self._install(i, self.layouts.get(int(seed)))
        self.layout_seeds = seeds
        if self._grid is not None:
            for i in range(self.num_envs):
                self._grid[i] = observe.static_planes(self.layout(i))
            self._grid.reshape(self.num_envs, -1)[self._envs, self._S + self._state] = 1
        rng = np.random.default_rng()
        rng.bit_generator.state = snapshot["rng"]
        self._rng = rng
        self._needs_reset = bool(snapshot["needs_reset"])

    # -- exact model ------------------------------------------------------------------------------------------
    def state_index(self) -> np.ndarray:
        """(num_envs,) current state indices, in the indexing of :meth:`to_mdp`."""
        return self._state.copy()

    @property
    def elapsed_steps(self) -> np.ndarray:
        """(num_envs,) steps taken in the current episodes."""
        return self._t.copy()

    def to_mdp(self, env: int = 0, **kwargs: Any) -> TabularMDP:
        """The exact model of sub-env ``env``'s current layout."""
        return self.layout(env).to_mdp(**kwargs)

    def observation_of(self, states: np.ndarray, env: int = 0) -> np.ndarray:
        """Observations of any states of sub-env ``env``'s layout (e.g. every state, to evaluate a policy)."""
        return observe.observation_of(self.layout(env), states, self.obs_mode)
