"""Built-in gridworlds (the map files in ``envs/``), their gymnasium ids, and ``make`` / ``make_vec``.

Each map file registers ``rlcredit/<name>-v0`` and one ``rlcredit/<name><Variant>-v0`` per ``[variants.*]`` table.
Wherever an id is accepted, a path to a map file is accepted too.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import gymnasium as gym

# re-exported: the documentation of every registered env
from rlcredit.gridworld.describe import SECTIONS as SECTIONS
from rlcredit.gridworld.describe import describe as describe
from rlcredit.gridworld.env import GridWorldEnv
from rlcredit.gridworld.maps import MapSpec, load_map
from rlcredit.gridworld.vector import GridVectorEnv

NAMESPACE = "rlcredit"


def envs_dir() -> Path:
    """The directory holding the built-in map files (inside the wheel, or the source tree's ``envs/``)."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "_envs", here.parent / "envs"):
        if cand.is_dir():
            return cand
    raise FileNotFoundError("the built-in map files (envs/) are missing from this installation")


@dataclass(frozen=True)
class EnvEntry:
    """A registered gridworld: its id, map file and variant."""

    id: str
    path: Path
    variant: str | None

    def spec(self) -> MapSpec:
        return load_map(self.path, self.variant)


@cache
def builtin_envs() -> dict[str, EnvEntry]:
    """Every built-in gridworld id -> :class:`EnvEntry`, in file order."""
    out: dict[str, EnvEntry] = {}
    for path in sorted(envs_dir().glob("*.toml")):
        spec = load_map(path)
        out[f"{NAMESPACE}/{spec.name}-v0"] = EnvEntry(f"{NAMESPACE}/{spec.name}-v0", path, None)
        for v in spec.variants:
            out[f"{NAMESPACE}/{spec.name}{v}-v0"] = EnvEntry(f"{NAMESPACE}/{spec.name}{v}-v0", path, v)
    return out


def register_all() -> None:
    """Register every built-in gridworld with gymnasium (idempotent)."""
    for env_id, entry in builtin_envs().items():
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point="rlcredit.gridworld.env:GridWorldEnv",
                kwargs={"spec": str(entry.path), "variant": entry.variant},
            )


def is_map_path(id_or_path: str | Path) -> bool:
    return str(id_or_path).endswith(".toml") or Path(id_or_path).is_file()


def resolve(id_or_path: str | Path) -> tuple[str | Path, str | None]:
    """(map file, variant) of a built-in id or a map file path; a clear error for anything else."""
    if is_map_path(id_or_path):
        return Path(id_or_path), None
    table = builtin_envs()
    key = str(id_or_path)
    if key not in table and f"{NAMESPACE}/{key}" in table:
        key = f"{NAMESPACE}/{key}"
    if key not in table:
        known = ", ".join(sorted(table))
        # compare the bare names, so the shared "rlcredit/" and "-v0" do not make every id look close
        bare = {k.split("/", 1)[1].removesuffix("-v0").lower(): k for k in table}
        want = str(id_or_path).split("/", 1)[-1].removesuffix("-v0").lower()
        close = difflib.get_close_matches(want, list(bare), n=1, cutoff=0.6)
        hint = f" (did you mean {bare[close[0]]!r}?)" if close else ""
        raise gym.error.Error(
            f"unknown env id {str(id_or_path)!r}{hint}; built-in gridworlds: {known} (or give a map .toml path)"
        )
    entry = table[key]
    return entry.path, entry.variant


def make(id_or_path: str | Path, **kwargs: Any) -> gym.Env:
    """A single env from a built-in id (``"rlcredit/ButtonRoom-v0"``), a map file path, or any gymnasium id."""
    if (
        is_map_path(id_or_path)
        or str(id_or_path).startswith(f"{NAMESPACE}/")
        or str(id_or_path) in {e.split("/", 1)[1] for e in builtin_envs()}
    ):
        path, variant = resolve(id_or_path)
        return GridWorldEnv(path, variant=variant, **kwargs)
    if str(id_or_path) not in gym.registry:
        resolve(id_or_path)  # raises the unknown-id error, with a "did you mean" among the gridworlds
    return gym.make(str(id_or_path), **kwargs)


def make_vec(
    id_or_path: str | Path, num_envs: int = 1, seed: int | None = None, obs: str = "index", **kwargs: Any
) -> GridVectorEnv:
    """A batched :class:`~rlcredit.gridworld.vector.GridVectorEnv` for a built-in id or map file path."""
    path, variant = resolve(id_or_path)
    return GridVectorEnv(path, num_envs, obs, seed=seed, variant=variant, **kwargs)
