"""The steering experiment: a cheese vector per maze, and P(cheese) / P(corner) as functions of alpha.

For ``N`` test mazes (layout seeds ``first_seed, first_seed + 1, ...`` of the test env, keeping only mazes with a
decision square, i.e. where going to the cheese and going to the corner are different choices):

1. the cheese vector of each maze at ``layer`` (:func:`rlcredit.steering.vectors.cheese_vector`);
2. for every ``alpha``, the exact P(cheese), P(corner) and the decision-square probabilities
   (:func:`rlcredit.steering.behaviour.maze_behaviour`) of the policy steered by ``alpha`` times
   - ``own``: the maze's own cheese vector (Turner, Mini et al. 2023's main intervention), and
   - ``pooled``: the mean of the *other* mazes' cheese vectors (does one vector transfer across mazes?);
3. two references per maze: the policy with the cheese removed from its observations (what ``alpha = -1``
   approximates), and backward induction's optimal policy (a planner: P(cheese) = 1 whenever reachable).

The steering spec (``runs/steering.toml``) is its own small TOML file, read by ``rlcredit steer --spec``::

    name = "steering"
    question = "..."
    [train]                                   # optional: train the policy first
    algo = "ppo"
    env = "rlcredit/CheeseMaze-v0"
    env_kwargs = { num_layouts = 500 }
    steps = 300_000
    config = { obs = "grid", network = "cnn" }
    [steer]
    layer = "actor.0.4"
    alphas = [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0]
    mazes = 100
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from rlcredit.config import ConfigError, apply_overrides, load_dataclass, read_toml
from rlcredit.experiments.stats import bootstrap_ci
from rlcredit.gridworld import make
from rlcredit.gridworld.core import Layout
from rlcredit.gridworld.env import resolve_spec
from rlcredit.gridworld.maps import MapSpec, parse_region
from rlcredit.gridworld.registry import resolve
from rlcredit.steering.behaviour import (
    decision_square,
    layouts_of,
    maze_behaviour,
    planner_policy,
    policy_table,
)
from rlcredit.steering.hooks import Forward, action_probs, steer
from rlcredit.steering.vectors import cheese_vectors, without_kind

__all__ = [
    "EnvFactory",
    "SteerConfig",
    "SteeringResult",
    "SteeringSpec",
    "TrainSpec",
    "load_steering_spec",
    "maze_spec",
    "select_mazes",
    "steering_sweep",
]


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class SteerConfig:
    """What ``rlcredit steer`` measures."""

    layer: str = _doc(
        "actor.0.4", "Layer to steer: a name in dict(policy.named_modules()) (e.g. actor.0.4, actor.2)."
    )
    alpha: float = _doc(-1.0, "Alpha of the vector-field figure (activation += alpha * cheese vector).")
    alphas: tuple[float, ...] = _doc(
        (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0), "Alphas of the sweep (0 = the unsteered policy)."
    )
    mazes: int = _doc(100, "Number of test mazes (each with a decision square).")
    env: str = _doc(
        "rlcredit/CheeseMazeAnywhere-v0", "Test env: a built-in id or map file with a placed cheese."
    )
    first_seed: int = _doc(
        1_000_000,
        "Layout seeds of the test mazes start here (far from the training mazes 0 .. num_layouts-1).",
    )
    exclude: str | None = _doc(
        "top-right-3x3",
        "Skip test mazes whose cheese lies in this region (interior coordinates, as a map's 'place'); the default "
        "is the training region, so every test maze separates the cheese from the corner. '' keeps all.",
    )
    example: int = _doc(0, "Which test maze (index) the vector-field figure shows.")
    train_env: str = _doc(
        "rlcredit/CheeseMaze-v0",
        "In-distribution reference: P(cheese) on as many mazes of this env, from layout seed first_seed on.",
    )
    obs: str = _doc("grid", "Observation mode the policy reads (only 'grid' shows the cheese as a plane).")

    def __post_init__(self) -> None:
        if self.mazes < 2:
            raise ValueError(f"mazes must be >= 2 (the pooled vector leaves one out), got {self.mazes}")
        if not self.alphas:
            raise ValueError("alphas must not be empty")
        if not 0 <= self.example < self.mazes:
            raise ValueError(f"example must be in [0, mazes), got {self.example}")
        if self.obs != "grid":
            raise ValueError(
                f"steering needs grid observations (a cheese plane to remove), got obs={self.obs!r}"
            )


@dataclass(frozen=True)
class TrainSpec:
    """The policy to train before steering (``rlcredit.train`` arguments)."""

    env: str = _doc("rlcredit/CheeseMaze-v0", "Training env (cheese in the top-right 3x3 region).")
    algo: Literal["ppo", "reinforce"] = _doc("ppo", "Trainer.")
    steps: int = _doc(300_000, "Environment steps.")
    seed: int = _doc(0, "Seed of the network, the env and the trainer.")
    env_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "doc": "Keyword arguments of rlcredit.make (e.g. num_layouts = 500: a fixed set of training mazes)."
        },
    )
    config: dict[str, Any] = field(
        default_factory=dict, metadata={"doc": "Trainer config fields (PPOConfig / ReinforceConfig)."}
    )


@dataclass(frozen=True)
class SteeringSpec:
    """A steering experiment: train (optional), then steer."""

    name: str = _doc("steering", "Outputs go to runs/NAME/ unless --out is given.")
    question: str = _doc("", "The question, in one sentence.")
    train: TrainSpec | None = field(
        default=None, metadata={"doc": "Train a policy first (omit to steer an existing RUN_DIR)."}
    )
    steer: SteerConfig = field(default_factory=SteerConfig, metadata={"doc": "What to measure."})


def load_steering_spec(path: str | os.PathLike[str], *, overrides: Sequence[str] = ()) -> SteeringSpec:
    """Read a steering spec (``runs/steering.toml``); ``overrides`` are ``steer.mazes=20``-style strings.

    Raises
    ------
    rlcredit.config.ConfigError
        Unknown keys, wrong types, invalid values (naming the file).
    """
    data = apply_overrides(read_toml(path), list(overrides))
    try:
        return load_dataclass(SteeringSpec, data, source=str(path))
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{path}: {e}") from e


class EnvFactory:
    """A picklable ``rlcredit.make(env_id, **kwargs)`` factory with a readable name (for ``rlcredit.train``)."""

    def __init__(self, env_id: str, **kwargs: Any) -> None:
        self.env_id, self.kwargs = env_id, kwargs
        self.__qualname__ = env_id.removeprefix("rlcredit/") + "".join(f"-{k}{v}" for k, v in kwargs.items())

    def __call__(self):
        return make(self.env_id, **self.kwargs)


# ------------------------------------------------------------------------------------------------ the sweep


def maze_spec(env: str) -> MapSpec:
    """The map spec of a test env id or map file."""
    path, variant = resolve(env)
    return resolve_spec(path, variant)


def select_mazes(
    spec: MapSpec, n: int, *, first_seed: int, exclude: str | None = None, max_tries: int | None = None
) -> tuple[list[int], list[Layout]]:
    """The first ``n`` layout seeds from ``first_seed`` on whose maze has a decision square.

    ``exclude``: a placement region (``"top-right-3x3"``, ``"rows:0-2,cols:6-8"``; interior coordinates) where
    the cheese must not be.

    Raises
    ------
    ValueError
        If fewer than ``n`` are found among ``max_tries`` (default ``50 * n``) consecutive seeds.
    """
    H, W = spec.shape
    grid = np.zeros((H, W), dtype=bool)
    if exclude:
        rs, cs = parse_region(exclude, (H - 2, W - 2))
        grid[1:-1, 1:-1][rs, cs] = True
    banned = grid.reshape(-1)
    seeds: list[int] = []
    layouts: list[Layout] = []
    tries = max_tries or 50 * n
    for seed in range(first_seed, first_seed + tries):
        (layout,) = layouts_of(spec, [seed])
        cheese = layout.cells_of("cheese")
        if len(cheese) == 1 and not banned[cheese[0]] and decision_square(layout) is not None:
            seeds.append(seed)
            layouts.append(layout)
            if len(seeds) == n:
                return seeds, layouts
    raise ValueError(
        f"only {len(seeds)} of {tries} mazes of {spec.name} from seed {first_seed} have a decision square"
        + (f" and the cheese outside {exclude}" if exclude else "")
    )


@dataclass(frozen=True, eq=False)
class SteeringResult:
    """Everything one steering sweep measured.

    Attributes
    ----------
    table : DataFrame
        One row per (maze, intervention): ``maze`` (index), ``layout_seed``, ``intervention`` ("own", "pooled":
        steered by that vector; "removed": cheese removed from the observation; "bi": backward induction),
        ``alpha`` (NaN for "removed" and "bi"), and the :class:`~rlcredit.steering.behaviour.MazeBehaviour`
        fields ``p_cheese, p_corner, p_toward_cheese, p_toward_corner, cheese, corner, start, decision,
        dist_cheese, dist_corner``.
    vectors : Tensor (N, *feature_shape)
        The mazes' own cheese vectors.
    seeds : list of int
        Layout seeds of the mazes.
    layouts : list of Layout
    layer : str
    """

    table: pd.DataFrame
    vectors: torch.Tensor
    seeds: list[int]
    layouts: list[Layout]
    layer: str

    def curve(self, intervention: str, column: str = "p_cheese") -> pd.DataFrame:
        """Per-maze ``column`` as a (mazes x alphas) table for one intervention."""
        df = self.table[self.table["intervention"] == intervention]
        return df.pivot(index="maze", columns="alpha", values=column)


def pooled_vectors(vectors: torch.Tensor) -> torch.Tensor:
    """Leave-one-out means: row ``i`` is the mean of every other row's vector ``(N, *feature_shape)``."""
    n = vectors.shape[0]
    if n < 2:
        raise ValueError("a leave-one-out mean needs at least two vectors")
    total = vectors.double().sum(0, keepdim=True)
    return ((total - vectors.double()) / (n - 1)).float()


def steering_sweep(
    model: nn.Module,
    layer: str,
    layouts: Sequence[Layout],
    alphas: Sequence[float],
    *,
    seeds: Sequence[int] | None = None,
    forward: Forward | None = None,
    planner: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> SteeringResult:
    """Exact behaviour of ``model`` on each maze for every alpha, steered by its own and by the pooled vector.

    Parameters
    ----------
    model : the policy network (a rlcredit ``Policy`` or any module with grid observations -> logits)
    layer : layer name in ``dict(model.named_modules())``
    layouts : test mazes, each with one cheese cell
    alphas : steering coefficients
    seeds : their layout seeds (recorded in the table)
    planner : also evaluate backward induction on every maze
    progress : called with (done, total) after each maze
    """
    seeds = list(seeds) if seeds is not None else list(range(len(layouts)))
    kind = layouts[0].kinds.index("cheese")
    vectors = cheese_vectors(model, layouts, layer, forward=forward)
    pooled = pooled_vectors(vectors)

    def probs(obs: np.ndarray) -> np.ndarray:
        return action_probs(model, obs, forward=forward)

    rows: list[dict[str, Any]] = []
    for i, layout in enumerate(layouts):
        base = {"maze": i, "layout_seed": seeds[i]}
        for name, vec in (("own", vectors[i]), ("pooled", pooled[i])):
            for alpha in alphas:
                with steer(model, layer, vec, alpha):
                    pi = policy_table(probs, layout)
                rows.append(
                    {
                        **base,
                        "intervention": name,
                        "alpha": float(alpha),
                        **maze_behaviour(layout, pi).as_row(),
                    }
                )
        pi = policy_table(probs, layout, edit=lambda o: without_kind(o, kind))
        rows.append(
            {**base, "intervention": "removed", "alpha": np.nan, **maze_behaviour(layout, pi).as_row()}
        )
        if planner:
            rows.append(
                {
                    **base,
                    "intervention": "bi",
                    "alpha": np.nan,
                    **maze_behaviour(layout, planner_policy(layout)).as_row(),
                }
            )
        if progress is not None:
            progress(i + 1, len(layouts))
    return SteeringResult(pd.DataFrame(rows), vectors, seeds, list(layouts), layer)


def summarize(result: SteeringResult, *, seed: int = 0) -> dict[str, Any]:
    """Per intervention and alpha, over mazes: mean and bootstrap 95% CI of P(cheese), P(corner) and
    P(towards the cheese), and the mean gap ``|P - P_removed|`` to the cheese-removed policy in the same maze
    (``gap_p_cheese``, ``gap_p_corner``: how closely steering imitates removing the cheese)."""
    out: dict[str, Any] = {"layer": result.layer, "mazes": len(result.seeds), "rows": []}
    table = result.table
    removed = table[table["intervention"] == "removed"].set_index("maze")
    for (name, alpha), df in table.groupby(["intervention", "alpha"], dropna=False, sort=False):
        row: dict[str, Any] = {"intervention": name, "alpha": None if np.isnan(alpha) else float(alpha)}
        for col in ("p_cheese", "p_corner", "p_toward_cheese"):
            x = df[col].to_numpy(np.float64)
            lo, hi = bootstrap_ci(x, seed=seed)
            row[col] = float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")
            row[f"{col}_ci"] = [lo, hi]
        if not removed.empty:
            by_maze = df.set_index("maze")
            for col in ("p_cheese", "p_corner"):
                gap = (by_maze[col] - removed[col].reindex(by_maze.index)).abs()
                row[f"gap_{col}"] = float(gap.mean())
        out["rows"].append(row)
    return out


def with_overrides(cfg: SteerConfig, **values: Any) -> SteerConfig:
    """``cfg`` with the given fields replaced (None values are ignored)."""
    return dataclasses.replace(cfg, **{k: v for k, v in values.items() if v is not None})


def default_out_dir(run_dir: str | os.PathLike[str], layer: str) -> Path:
    """``RUN_DIR/steering-LAYER``."""
    return Path(run_dir) / f"steering-{layer}"
