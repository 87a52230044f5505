"""The single gymnasium environment over the transition core (:mod:`rlcredit.gridworld.core`)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlcredit.gridworld import core, observe
from rlcredit.gridworld.describe import describe
from rlcredit.gridworld.maps import MapSpec, load_map
from rlcredit.mdp import TabularMDP


class LayoutSource:
    """Draws the layout of each episode of a map: fixed maps have one; randomised maps draw one per reset.

    A layout is identified by its *layout seed*: ``compile_layout(spec, default_rng(layout_seed))``, so any
    layout can be rebuilt from its seed. ``layout_seed`` pins one layout; ``num_layouts`` restricts draws to the
    seeds ``0 .. num_layouts - 1`` (a fixed training set of mazes, as in Procgen's ``num_levels``).
    """

    def __init__(
        self,
        spec: MapSpec,
        *,
        layout_seed: int | None = None,
        num_layouts: int | None = None,
        cache_size: int = 4096,
    ):
        if num_layouts is not None and num_layouts < 1:
            raise ValueError(f"num_layouts must be positive, got {num_layouts}")
        self.spec = spec
        self.layout_seed = layout_seed
        self.num_layouts = num_layouts
        self._cache: OrderedDict[int, core.Layout] = OrderedDict()
        self._cache_size = cache_size
        self.fixed = core.compile_layout(spec) if not spec.randomized else None
        if self.fixed is None and layout_seed is not None:
            self.fixed = self.get(layout_seed)

    def get(self, seed: int) -> core.Layout:
        """The layout with this layout seed (cached)."""
        if seed in self._cache:
            self._cache.move_to_end(seed)
            return self._cache[seed]
        layout = core.compile_layout(self.spec, np.random.default_rng(seed))
        self._cache[seed] = layout
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return layout

    def draw(self, rng: np.random.Generator) -> tuple[int, core.Layout]:
        """(layout seed, layout) for a new episode; the seed is -1 for a fixed map."""
        if self.fixed is not None:
            return (self.layout_seed if self.layout_seed is not None else -1), self.fixed
        high = self.num_layouts if self.num_layouts is not None else 2**31 - 1
        seed = int(rng.integers(high))
        return seed, self.get(seed)


def resolve_spec(spec: MapSpec | str | Path, variant: str | None = None, **overrides: Any) -> MapSpec:
    """A MapSpec from a spec object or a map file path, with ``time_limit``/``slip``/``gamma``/``step_cost`` overrides."""
    if not isinstance(spec, MapSpec):
        spec = load_map(spec, variant=variant)
    return spec.with_overrides(**overrides) if any(v is not None for v in overrides.values()) else spec


def sample_start(layout: core.Layout, rng: np.random.Generator, n: int | None = None) -> Any:
    """Draw start states from the layout's start distribution (over states: start cells x random flags)."""
    cdf = layout.initial_cdf
    u = rng.random() if n is None else rng.random(n)
    return np.minimum(np.searchsorted(cdf, u * cdf[-1], side="right"), len(cdf) - 1)


class MapEnvMixin:
    """What the single and the batched env set up alike from a map: the validated spec, the observation mode, the
    render mode, the layout source, and the single-env observation space."""

    metadata: dict[str, Any]

    def _setup_map(
        self,
        spec: MapSpec | str | Path,
        variant: str | None,
        obs: str,
        render_mode: str | None,
        *,
        layout_seed: int | None,
        num_layouts: int | None,
        **overrides: Any,
    ) -> spaces.Space:
        self.map = resolve_spec(spec, variant, **overrides)
        self.obs_mode = observe.check_obs_mode(obs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"unknown render_mode {render_mode!r}; expected one of {self.metadata['render_modes']}"
            )
        self.render_mode = render_mode
        self.layouts = LayoutSource(self.map, layout_seed=layout_seed, num_layouts=num_layouts)
        # every layout of a map shares one observation space (randomised maps hold no objects with state)
        example = self.layouts.fixed if self.layouts.fixed is not None else self.layouts.get(0)
        return observe.observation_space(obs, example)


class GridWorldEnv(MapEnvMixin, gym.Env):
    """A gridworld defined by a map file (see :mod:`rlcredit.gridworld.maps`).

    Actions: ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left. Observations: ``obs`` = ``"index"``
    (``Discrete(S)``), ``"coords"`` (``Box`` row, col, then object status and flags) or ``"grid"`` (``Box`` uint8
    ``(C, H, W)``: walls, agent, one plane per object kind, one per flag). Rewards: entering a cell gives its legend
    reward, plus ``step_cost`` each step. Termination: entering a terminal cell; truncation: ``time_limit`` steps.
    ``info`` has ``state`` (index in :meth:`to_mdp`), ``event`` (kind of the object entered this step, or
    ``None``), ``intended`` (the intended objective was reached this step), ``performance`` (the step's intended
    performance, hidden from trainers unless they read it) and ``layout_seed``.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array", "ansi"], "render_fps": 8}  # noqa: RUF012

    def __init__(
        self,
        spec: MapSpec | str | Path,
        obs: str = "index",
        render_mode: str | None = None,
        *,
        variant: str | None = None,
        time_limit: int | None = None,
        slip: float | None = None,
        gamma: float | None = None,
        step_cost: float | None = None,
        layout_seed: int | None = None,
        num_layouts: int | None = None,
        tile_size: int = 16,
    ):
        self.observation_space = self._setup_map(
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
        self.action_space = spaces.Discrete(4)
        self.tile_size = tile_size
        self.layout_seed, self.layout = self.layouts.draw(np.random.default_rng(0))
        self.__doc__ = describe(self.map)  # this map's documentation in fixed sections
        self._state = int(np.argmax(self.layout.start))
        self._t = 0

    # -- gymnasium API --------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.layout_seed, self.layout = self.layouts.draw(self.np_random)
        self._state = int(sample_start(self.layout, self.np_random))
        self._t = 0
        return self._obs(), {
            "state": self._state,
            "event": None,
            "intended": False,
            "performance": 0.0,
            "layout_seed": self.layout_seed,
        }

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r}; expected an int in [0, 4)")
        noise = self.np_random.random() if self.layout.slip > 0 else None
        s = self._state
        nxt, reward, term, event = core.step(self.layout, s, int(action), noise)
        row = s * 4 + int(core.slip_direction(int(action), noise, self.layout.slip))
        self._state = int(nxt)
        self._t += 1
        terminated = bool(term)
        truncated = (not terminated) and self._t >= self.map.time_limit
        ev = self.layout.kinds[event] if event >= 0 else None
        info = {
            "state": self._state,
            "event": ev,
            "intended": bool(self.layout.dynamics.intended[row]),
            "performance": float(self.layout.dynamics.performance[row]),
            "layout_seed": self.layout_seed,
        }
        return self._obs(), float(reward), terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array":
            return observe.render_rgb(self.layout, self._state, self.tile_size)
        if self.render_mode == "ansi":
            return observe.render_ansi(self.layout, self._state, self.map.chars)
        return None

    # -- exact model ----------------------------------------------------------------------------------------
    def to_mdp(self, **kwargs: Any) -> TabularMDP:
        """The exact :class:`TabularMDP` of the current layout (see :meth:`Layout.to_mdp`)."""
        return self.layout.to_mdp(**kwargs)

    def state_index(self) -> int:
        """The current state's index in :meth:`to_mdp`."""
        return self._state

    @property
    def elapsed_steps(self) -> int:
        return self._t

    def observation_of(self, states: np.ndarray) -> np.ndarray:
        """Observations of any states of the current layout, batched along the first axis."""
        return observe.observation_of(self.layout, states, self.obs_mode)

    def set_state(self, state: int, t: int = 0) -> None:
        """Put the agent on a state (e.g. to evaluate a policy from every cell)."""
        if not 0 <= state < self.layout.num_states or self.layout.wall[self.layout.cell[state]]:
            raise ValueError(f"state {state} is not a free-cell state of {self.map.name}")
        self._state, self._t = int(state), int(t)

    def _obs(self):
        o = observe.observation_of(self.layout, np.array([self._state]), self.obs_mode)[0]
        return int(o) if self.obs_mode == "index" else o
