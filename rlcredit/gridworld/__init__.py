"""Gridworlds: map files, the pure transition core, the single and batched envs, rendering, the registry."""

from rlcredit.gridworld.core import ACTIONS, Layout, compile_layout, step
from rlcredit.gridworld.env import GridWorldEnv
from rlcredit.gridworld.maps import MapError, MapSpec, load_map, parse_map
from rlcredit.gridworld.registry import builtin_envs, make, make_vec, register_all
from rlcredit.gridworld.vector import GridVectorEnv

__all__ = [
    "ACTIONS",
    "GridVectorEnv",
    "GridWorldEnv",
    "Layout",
    "MapError",
    "MapSpec",
    "builtin_envs",
    "compile_layout",
    "load_map",
    "make",
    "make_vec",
    "parse_map",
    "register_all",
    "step",
]
