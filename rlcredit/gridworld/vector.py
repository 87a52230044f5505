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
from typing import Any

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

    metadata: dict[str, Any] = {  # noqa: RUF012
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
        self._HW = H * W
        self._envs = np.arange(num_envs, dtype=np.int64)
        self._per_env = self.layouts.fixed is None
        fixed = self.layouts.fixed
        # per-env slots start as layout seed 0 and are replaced by every env's first draw below
        self._layout: list[core.Layout] = [fixed if fixed is not None else self.layouts.get(0)] * (
            num_envs if self._per_env else 1
        )
        self.layout_seeds = np.full(num_envs, -1, np.int64)
        if fixed is None:
            # Procedural maps: one slot of tables per env, stacked, with next states stored as global indices
            # (slot * S + local) so core.step runs on the stack exactly as on one layout. Every layout of a
            # procedural map has S = H * W states (such maps hold no objects with state).
            self._S = self._HW
            L = num_envs
            self._dyn = core.Dynamics(
                next=np.zeros(L * self._S * 4, np.int64),
                reward=np.zeros(L * self._S * 4, np.float64),
                performance=np.zeros(L * self._S * 4, np.float64),
                event=np.zeros(L * self._S * 4, np.int8),
                intended=np.zeros(L * self._S * 4, bool),
                terminal=np.zeros(L * self._S, bool),
                slip=self.map.slip,
            )
            self._offsets = self._envs * self._S
        else:
            self._S = fixed.num_states
            self._dyn = fixed.dynamics
            self._offsets = np.zeros(num_envs, np.int64)
        # the object configuration of every state, where it can change (the grid planes follow it)
        self._config = None if fixed is None or len(fixed.config_keys) == 1 else fixed.config
        self._gs = np.zeros(num_envs, np.int64)  # global state: offset + state index
        self._t = np.zeros(num_envs, np.int64)
        self._ret = np.zeros(num_envs, np.float64)
        self._grid = (
            np.zeros((num_envs, *(self.single_observation_space.shape or ())), np.uint8)
            if obs == "grid"
            else None
        )
        self._rng = np.random.default_rng(seed)
        # Draw initial layouts and states so layout()/to_mdp() work before the first reset; stepping still
        # requires reset().
        self._reset_envs(self._envs)
        self._needs_reset = True

    # -- tables -----------------------------------------------------------------------------------------------
    def _install(self, slot: int, layout: core.Layout) -> None:
        S, d, src = self._S, self._dyn, layout.dynamics
        sl4, sl = slice(slot * S * 4, (slot + 1) * S * 4), slice(slot * S, (slot + 1) * S)
        d.next[sl4] = src.next + slot * S
        d.reward[sl4] = src.reward
        d.performance[sl4] = src.performance
        d.event[sl4] = src.event
        d.intended[sl4] = src.intended
        d.terminal[sl] = src.terminal
        self._layout[slot] = layout

    def _cells(self, gs: np.ndarray, envs: np.ndarray | None = None) -> np.ndarray:
        """Agent cells of global states ``gs`` of sub-envs ``envs`` (all by default). On maps without objects
        the local state is the cell, so no table is read."""
        if self._per_env:
            return gs - (self._offsets if envs is None else self._offsets[envs])
        lay = self._layout[0]
        return lay.cell[gs] if lay.has_objects else gs

    def layout(self, env: int = 0) -> core.Layout:
        """The current layout of sub-env ``env``."""
        return self._layout[env if self._per_env else 0]

    def _planes(self, i: int) -> np.ndarray:
        """Grid planes (without the agent) of env ``i``'s current object configuration."""
        lay = self.layout(i)
        planes = lay.config_planes()
        return planes[lay.config[self._gs[i] - self._offsets[i]]] if len(planes) > 1 else planes[0]

    def _reset_envs(self, idx: np.ndarray) -> None:
        if self._per_env:
            for i in idx:
                self.layout_seeds[i], lay = self.layouts.draw(self._rng)
                self._install(int(i), lay)
                self._gs[i] = sample_start(lay, self._rng) + self._offsets[i]
                if self._grid is not None:
                    self._grid[i] = self._planes(int(i))
        else:
            self._gs[idx] = sample_start(self._layout[0], self._rng, len(idx))
            if self._grid is not None:
                if self._config is None:
                    self._grid[idx] = self._layout[0].config_planes()[0]
                else:
                    self._grid[idx] = self._layout[0].config_planes()[self._config[self._gs[idx]]]
        if self._grid is not None:
            flat = self._grid.reshape(self.num_envs, -1)
            flat[idx, self._HW + self._cells(self._gs[idx], idx)] = 1
        self._t[idx] = 0
        self._ret[idx] = 0.0

    # -- gymnasium API ----------------------------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            if not isinstance(seed, int | np.integer):
                raise ValueError("GridVectorEnv takes one integer seed for the whole batch")
            self._rng = np.random.default_rng(seed)
        mask = None if options is None else options.get("reset_mask")
        idx = self._envs if mask is None else np.flatnonzero(mask)
        self._reset_envs(idx)
        self._needs_reset = False
        return self._observe(), {"state": self.state_index()}

    def step(self, actions):
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(actions, dtype=np.int64)
        if a.shape != (self.num_envs,):
            raise ValueError(f"expected actions of shape ({self.num_envs},), got {a.shape}")
        if a.view(np.uint64).max() > 3:  # one pass catches negatives too (they view as huge)
            raise ValueError("actions must be integers in [0, 4)")
        noise = self._rng.random(self.num_envs) if self.map.slip > 0 else None
        s = self._gs
        row = s * 4 + core.slip_direction(a, noise, self.map.slip)
        nxt, reward, terminated, event = core.step_rows(self._dyn, row)
        if self._grid is not None:
            flat = self._grid.reshape(self.num_envs, -1)
            if self._config is not None:
                changed = np.flatnonzero(self._config[nxt] != self._config[s])
                if len(changed):
                    self._grid[changed] = self._layout[0].config_planes()[self._config[nxt[changed]]]
            flat[self._envs, self._HW + self._cells(s)] = 0
            flat[self._envs, self._HW + self._cells(nxt)] = 1
        self._gs = nxt
        self._t += 1
        self._ret += reward
        truncated = (self._t >= self.map.time_limit) & ~terminated
        final_state = nxt - self._offsets if self._per_env else nxt.copy()
        info: dict[str, Any] = {
            "event": event,
            "intended": self._dyn.intended[row],
            "performance": self._dyn.performance[row],
            "final_state": final_state,
        }
        done = terminated | truncated
        if done.any():
            d = np.flatnonzero(done)
            final = np.full(self.num_envs, None, dtype=object)
            if self._per_env:
                fo = [
                    observe.observation_of(self.layout(int(i)), final_state[i : i + 1], self.obs_mode)[0]
                    for i in d
                ]
            else:
                fo = list(observe.observation_of(self._layout[0], final_state[d], self.obs_mode))
            for j, i in enumerate(d):
                final[i] = fo[j]
            info["final_obs"], info["_final_obs"] = final, done
            info["episode"] = {"r": np.where(done, self._ret, 0.0), "l": np.where(done, self._t, 0)}
            info["_episode"] = done
            self._reset_envs(d)
        return self._observe(), reward, terminated, truncated, info

    def _observe(self) -> np.ndarray:
        if self.obs_mode == "index":
            return self.state_index()
        if self.obs_mode == "coords":
            if self._per_env or (self._config is None and not self._layout[0].has_objects):
                r, c = np.divmod(self._cells(self._gs), self.map.shape[1])
                return np.stack([r, c], axis=1).astype(np.float32)
            return observe.observation_of(self._layout[0], self._gs, "coords")
        assert self._grid is not None
        return self._grid.copy() if self.copy else self._grid

    def render(self):
        if self.render_mode == "rgb_array":
            st = self.state_index()
            return tuple(observe.render_rgb(self.layout(i), st[i]) for i in range(self.num_envs))
        if self.render_mode == "ansi":
            st = self.state_index()
            return tuple(
                observe.render_ansi(self.layout(i), st[i], self.map.chars) for i in range(self.num_envs)
            )
        return None

    # -- saving and restoring (exact resume) ------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """A JSON-able snapshot: states, step counts, returns, layouts (by seed) and the RNG, for exact resume."""
        return {
            "state": self.state_index().tolist(),
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
        state = np.asarray(snapshot["state"], np.int64)
        self._t = np.asarray(snapshot["t"], np.int64)
        self._ret = np.asarray(snapshot["ret"], np.float64)
        seeds = np.asarray(snapshot["layout_seeds"], np.int64)
        if self._per_env:
            for i, seed in enumerate(seeds):
                self._install(i, self.layouts.get(int(seed)))
        self.layout_seeds = seeds
        if np.any(state < 0) or np.any(state >= self._S):
            raise ValueError(f"snapshot states out of range [0, {self._S})")
        self._gs = state + self._offsets
        if self._grid is not None:
            for i in range(self.num_envs):
                self._grid[i] = self._planes(i)
            self._grid.reshape(self.num_envs, -1)[self._envs, self._HW + self._cells(self._gs)] = 1
        rng = np.random.default_rng()
        rng.bit_generator.state = snapshot["rng"]
        self._rng = rng
        self._needs_reset = bool(snapshot["needs_reset"])

    # -- exact model ------------------------------------------------------------------------------------------
    def state_index(self) -> np.ndarray:
        """(num_envs,) current state indices, in the indexing of :meth:`to_mdp`."""
        return self._gs - self._offsets if self._per_env else self._gs.copy()

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
