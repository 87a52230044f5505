"""Experiment specs (``runs/NAME.toml``) and their expansion into pieces.

A spec names the question, the gridworlds (a training env and the test variants each policy is evaluated on),
the trainers and planners with their configs, the seeds, and the metrics to contrast::

    name = "demo"
    question = "Does a policy trained by PPO or REINFORCE press the reward button that planners press?"
    seeds = 3                                   # or an explicit list: [0, 1, 2]
    metrics = ["return", "regret", "success", "reach_button"]

    [[envs]]
    id = "rlcredit/ButtonRoomBridge1-v0"        # a built-in id or a map .toml (relative to this file)
    name = "Bridge1"                            # label in run names and tables (default: from the id)
    obs = "coords"                              # what trained policies observe
    test = [                                    # default: the training env itself
        "rlcredit/ButtonRoomBridge1-v0",
        "rlcredit/ButtonRoomBridge2-v0",        # (with obs = "index" only same-size maps are allowed)
        { id = "rlcredit/ButtonRoomBridge1-v0", name = "Slippery", kwargs = { slip = 0.1 } },
    ]

    [trainers.ppo]                              # the table name labels the agent; algo defaults to it
    steps = 50_000
    config = { num_envs = 16, lr = 1e-3 }       # rlcredit.trainers.config.PPOConfig fields

    [planners.vi]
    config = {}                                 # keyword arguments of rlcredit.planning.planner.make_planner

    [sweep]                                     # optional grid of config values (x seeds)
    "ppo.config.gae_lambda" = [0.5, 0.95]

    [eval]
    episodes = 100                              # test episodes per (policy or planner, test variant)
    regions = { corner = "top-right-3x3" }      # also measure how often the policy enters these regions

Every piece of an experiment is one (trainer or planner) x training env x seed (x swept values); it becomes
one run directory. :func:`load_spec` checks every key, type, env id, trainer and planner config, and metric
name, and raises :class:`~rlcredit.config.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlcredit.config import ConfigError, apply_overrides, load_dataclass, parse_value, read_toml, to_dict
from rlcredit.gridworld.maps import MapSpec, load_map, parse_region
from rlcredit.gridworld.registry import builtin_envs, is_map_path, resolve
from rlcredit.runs.schema import ENV_KWARGS, PLANNER_ALGOS, TRAINER_ALGOS

__all__ = [
    "PLANNER_ALGOS",
    "TRAINER_ALGOS",
    "EnvSpec",
    "EnvVariant",
    "EvalSpec",
    "ExperimentSpec",
    "Piece",
    "PlannerSpec",
    "TrainerSpec",
    "expand_pieces",
    "load_spec",
    "parse_sweep_args",
    "spec_from_data",
    "specs_dir",
]

MAKE_KWARGS = ENV_KWARGS
FIGURES = ("discoverability", "power", "history", "mazes")


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


# --------------------------------------------------------------------------------------------- the dataclasses


@dataclass(frozen=True)
class EnvVariant:
    """One gridworld as the experiment uses it: an id or map file, a short name, keyword arguments of
    ``rlcredit.make`` (test variants only: trainers take an id or map file)."""

    id: str = field(
        metadata={
            "doc": "A built-in id (see `rlcredit envs`) or a map .toml path (relative to the spec file)."
        }
    )
    name: str | None = _doc(
        None, "Short label in run names and tables (default: from the id, e.g. ButtonRoomBridge1)."
    )
    kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={"doc": f"Keyword arguments of rlcredit.make / make_vec: {', '.join(MAKE_KWARGS)}."},
    )

    @property
    def label(self) -> str:
        """``name``, or a name derived from ``id``."""
        return self.name or env_label(self.id)


@dataclass(frozen=True)
class EnvSpec:
    """A training env and the test variants every policy trained on it (and every planner) is evaluated on."""

    id: str = field(
        metadata={"doc": "The training env: a built-in id or a map .toml path (relative to the spec file)."}
    )
    name: str | None = _doc(None, "Short label in run names and tables (default: from the id).")
    kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={"doc": f"Keyword arguments of rlcredit.make / make_vec: {', '.join(MAKE_KWARGS)}."},
    )
    obs: Literal["index", "coords", "grid"] | None = _doc(
        None, "What trained policies observe (sets the trainers' `obs` config unless they set it)."
    )
    test: list[EnvVariant] = field(
        default_factory=list,
        metadata={
            "doc": "Test variants (ids, paths or {id, name, kwargs} tables); default: the training env itself."
        },
    )

    @property
    def train(self) -> EnvVariant:
        """The training env as an :class:`EnvVariant`."""
        return EnvVariant(self.id, self.name, dict(self.kwargs))

    @property
    def label(self) -> str:
        return self.train.label

    @property
    def tests(self) -> list[EnvVariant]:
        """The test variants (the training env when none are given)."""
        return list(self.test) or [self.train]


@dataclass(frozen=True)
class TrainerSpec:
    """A trainer and its config."""

    steps: int = field(metadata={"doc": "Environment steps to train for."})
    algo: Literal["ppo", "reinforce"] | None = _doc(None, "The trainer (default: the table name).")
    config: dict[str, Any] = field(
        default_factory=dict,
        metadata={"doc": "Trainer config (fields of rlcredit.trainers.config.PPOConfig / ReinforceConfig)."},
    )

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


@dataclass(frozen=True)
class PlannerSpec:
    """A planner and its config."""

    algo: Literal["vi", "bi", "mcts"] | None = _doc(None, "The planner (default: the table name).")
    episodes: int = _doc(20, "Episodes the planner acts for in the training env (its run's metrics.csv).")
    eval_episodes: int | None = _doc(
        None,
        "Test episodes per test variant (default: eval.episodes); a search planner is costly per episode.",
    )
    config: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "doc": "Keyword arguments of rlcredit.planning.planner.make_planner (e.g. num_simulations)."
        },
    )

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.eval_episodes is not None and self.eval_episodes < 1:
            raise ValueError(f"eval_episodes must be >= 1, got {self.eval_episodes}")


@dataclass(frozen=True)
class EvalSpec:
    """How trained policies and planners are evaluated on the test variants."""

    episodes: int = _doc(100, "Test episodes per (policy or planner, test variant).")
    greedy: bool = _doc(False, "Act with the most probable action instead of sampling from the policy.")
    regions: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "doc": "Named regions (placements like 'top-right-3x3' or 'rows:1-3,cols:7-9', interior coordinates) whose "
            "entry rate is measured, e.g. { corner = 'top-right-3x3' }."
        },
    )
    exact: bool = _doc(
        True, "Also compute exact return and reach probabilities of trained policies (fixed maps)."
    )
    exact_mazes: int = _doc(
        0,
        "Procedural test variants: also compute a trained policy's exact figures on each of this many layouts "
        "(layout seeds first_layout_seed, first_layout_seed + 1, ...; the same mazes for every agent and seed), "
        "one maze at a time; 0: none.",
    )
    first_layout_seed: int = _doc(
        1_000_000, "The first layout seed of the exact_mazes test layouts (training draws seeds at random)."
    )

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.exact_mazes < 0:
            raise ValueError(f"exact_mazes must be >= 0, got {self.exact_mazes}")
        if self.first_layout_seed < 0:
            raise ValueError(f"first_layout_seed must be >= 0, got {self.first_layout_seed}")


@dataclass(frozen=True)
class ExperimentSpec:
    """A whole experiment: one question, envs, trainers, planners, seeds and metrics."""

    name: str = field(metadata={"doc": "Experiment name: outputs go to runs/NAME/RUN_ID/."})
    question: str = field(metadata={"doc": "The question the experiment answers, in one sentence."})
    envs: list[EnvSpec] = field(
        metadata={"doc": "Training envs with their test variants (ids, paths, or tables)."}
    )
    description: str = _doc("", "Longer description for the report (optional).")
    seeds: int | list[int] = field(
        default=3, metadata={"doc": "Number of seeds (0..N-1) or an explicit list of seeds."}
    )
    trainers: dict[str, TrainerSpec] = field(default_factory=dict, metadata={"doc": "Trainers by label."})
    planners: dict[str, PlannerSpec] = field(default_factory=dict, metadata={"doc": "Planners by label."})
    sweep: dict[str, list[Any]] = field(
        default_factory=dict,
        metadata={
            "doc": "Grid of values: 'AGENT.config.KEY' (or AGENT.steps / AGENT.episodes) -> list of values."
        },
    )
    metrics: list[str] = field(
        default_factory=lambda: ["return", "regret", "success"],
        metadata={
            "doc": "Contrast-table columns: return, regret, optimal, success, length, reach_<kind>, region_<name>, "
            "exact_J, exact_reach_<kind>, exact_intended, exact_region_<name>, outside_<name>_exact_intended and "
            "outside_<name>_exact_region_<name> (exact figures over the eval's exact_mazes whose intended object "
            "lies outside the region), choice_<name>_exact_first_intended / _first_region and the uniform policy's "
            "choice_<name>_uniform_first_intended / _first_region (probability of reaching the object before "
            "entering the region and the reverse, over the mazes where either can be reached without the other), "
            "steps, wall_time."
        },
    )
    eval: EvalSpec = field(default_factory=EvalSpec, metadata={"doc": "Test-time evaluation."})
    figures: list[str] = field(
        default_factory=list,
        metadata={
            "doc": "Experiment figures besides the standard ones: 'discoverability' or 'discoverability:KIND' (fraction of "
            "seeds going to the button vs its uniform-random reach probability, per env), 'power' or "
            "'power:GAMMA' (POWER heatmap and where each agent goes), 'history:KIND' (exact reach of KIND per update "
            "beside the credit on steps aimed at it, per trainer seed), 'mazes:REGION' (exact P(intended object) and "
            "P(enter REGION) per trainer seed and test maze; needs eval.exact_mazes)."
        },
    )
    run_plots: Literal["none", "first_seed", "all"] = _doc(
        "first_seed", "Which run directories get their own plots (rlcredit plot) after they finish."
    )

    @property
    def seed_list(self) -> list[int]:
        """The seeds: ``range(seeds)`` for an int."""
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def agents(self) -> list[str]:
        """Trainer labels, then planner labels."""
        return [*self.trainers, *self.planners]

    def algo_of(self, agent: str) -> str:
        """The algorithm behind an agent label."""
        spec = self.trainers.get(agent) or self.planners.get(agent)
        if spec is None:
            raise KeyError(f"no trainer or planner named {agent!r}")
        return spec.algo or agent

    def with_seeds(self, seeds: int | Sequence[int]) -> ExperimentSpec:
        """A copy with other seeds (``0..N-1`` given as a list is stored as ``N``)."""
        if not isinstance(seeds, int) and list(seeds) == list(range(len(seeds))):
            seeds = len(seeds)
        return dataclasses.replace(self, seeds=seeds if isinstance(seeds, int) else list(seeds))

    def with_sweep(self, sweep: Mapping[str, Sequence[Any]], *, source: str = "--set") -> ExperimentSpec:
        """A copy whose sweep grid has ``sweep`` added (validated; replaces values of the same key)."""
        merged = {**self.sweep, **{k: list(v) for k, v in sweep.items()}}
        out = dataclasses.replace(self, sweep=merged)
        _check_sweep(out, source)
        return out

    def to_data(self) -> dict[str, Any]:
        """Plain data (TOML-ready except for None values), reloadable with :func:`spec_from_data`."""
        return to_dict(self)


@dataclass(frozen=True)
class Piece:
    """One unit of work: a trainer or planner, on one training env, with one seed (and swept values).

    Everything a worker process needs is in here (plain, picklable data), so a piece runs the same in a local
    process pool and on a Ray cluster.
    """

    experiment: str
    """The experiment's name (a wandb tag)."""
    name: str
    """Directory name inside the experiment directory, e.g. ``ppo-s0`` or ``ppo-gae_lambda0.5-Bridge1-s0``."""
    agent: str
    """Row label in the contrast table: the spec label plus swept values, e.g. ``ppo[gae_lambda=0.5]``."""
    kind: Literal["train", "plan"]
    algo: str
    env: EnvVariant
    obs: str | None
    tests: tuple[EnvVariant, ...]
    seed: int
    config: dict[str, Any]
    steps: int
    """Environment steps (trainers); 0 for planners."""
    episodes: int
    """Episodes the planner acts for in the training env (planners); 0 for trainers."""
    swept: dict[str, Any]
    eval: EvalSpec
    run_dir: str
    wandb: str
    group: str
    plots: bool
    """Whether to plot this run directory once it finishes."""


# ------------------------------------------------------------------------------------------------------ loading


def specs_dir() -> Path:
    """The directory holding the shipped specs (``runs/`` of the source tree, or the wheel's copy)."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "_runs", here.parent / "runs"):
        if (cand / "demo.toml").is_file():
            return cand
    raise FileNotFoundError("the shipped experiment specs (runs/*.toml) are missing from this installation")


def find_spec_file(name_or_path: str | os.PathLike[str]) -> Path:
    """A spec path, or the name of a shipped spec (``wirehead`` -> ``runs/wirehead.toml``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.is_dir():
        raise ValueError(f"{p} is a directory, not a spec file (to continue an experiment: --resume {p})")
    if not p.suffix and len(p.parts) == 1:
        try:
            shipped = specs_dir() / f"{p}.toml"
        except FileNotFoundError:
            shipped = None
        if shipped is not None and shipped.is_file():
            return shipped
    raise FileNotFoundError(f"spec file not found: {p}")


def load_spec(path: str | os.PathLike[str], *, overrides: Sequence[str] = ()) -> ExperimentSpec:
    """Load and check ``runs/NAME.toml``.

    Parameters
    ----------
    path : path-like
        The spec file, or the name of a shipped spec (``demo``, ``wirehead``, ...).
    overrides : sequence of str
        ``KEY=VALUE`` overrides applied to the TOML data first (e.g. ``trainers.ppo.steps=2000``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    rlcredit.config.ConfigError
        For a TOML syntax error, an unknown key, a value of the wrong type, an unknown env id or map file, an
        invalid trainer or planner config, or an unknown metric, naming the file and the key.
    """
    p = find_spec_file(path)
    data = apply_overrides(_read_spec_toml(p), list(overrides))
    return spec_from_data(data, source=str(p), base_dir=p.parent)


MAX_DEPTH = 32
"""Deepest nesting of tables and arrays a spec may have (the real specs use 4)."""
MAX_SEEDS = 100_000
MAX_PIECES = 100_000
MAX_NAME = 100
MAX_SIMULATIONS = 10_000_000
"""MCTS simulations per action: the search tree grows by about one node per simulation."""
MAX_EPISODES = 10_000_000
MAX_STEPS = 10**12


def _read_spec_toml(p: Path) -> dict[str, Any]:
    """``read_toml`` with every way a file can be unreadable reported as one line naming it."""
    try:
        data = read_toml(p)
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (invalid byte at offset {e.start})") from None
    except RecursionError:
        raise ConfigError(f"{p}: tables or arrays nested too deeply (at most {MAX_DEPTH} levels)") from None
    except (IsADirectoryError, PermissionError) as e:
        raise ConfigError(f"{p}: cannot read the spec ({e.strerror})") from None
    depth = _depth(data)
    if depth > MAX_DEPTH:
        raise ConfigError(f"{p}: tables or arrays nested {depth} levels deep (at most {MAX_DEPTH})")
    return data


def _depth(obj: Any) -> int:
    """Nesting depth of plain data, without recursion (so it cannot overflow the stack itself)."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > MAX_DEPTH:
            break
        if isinstance(node, Mapping):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def _check_name(value: str, key: str, source: str) -> None:
    """A name that becomes a directory or file name: safe characters, not ``.``/``..``, at most 100 long."""
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", value):
        raise ConfigError(
            f"{source}: key '{key}' must be letters, digits, '_', '.', '+' or '-'; got {value!r}"
        )
    if value in (".", ".."):
        raise ConfigError(f"{source}: key '{key}' cannot be {value!r} (it names a directory)")
    if len(value) > MAX_NAME:
        raise ConfigError(f"{source}: key '{key}' is {len(value)} characters long; at most {MAX_NAME}")


def spec_from_data(
    data: Mapping[str, Any], *, source: str = "spec", base_dir: Path | None = None
) -> ExperimentSpec:
    """Build and check an :class:`ExperimentSpec` from plain data, resolving names, algos and map paths.

    The result is *resolved*: env names and test variants are filled in, map paths are absolute, trainer
    and planner ``algo`` are set. Reloading ``spec.to_data()`` gives an equal spec.
    """
    depth = _depth(data)
    if depth > MAX_DEPTH:
        raise ConfigError(f"{source}: tables or arrays nested {depth} levels deep (at most {MAX_DEPTH})")
    data = _normalize(dict(data))
    spec = load_dataclass(ExperimentSpec, data, source=source)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    envs = [_resolve_env(e, i, source, base) for i, e in enumerate(spec.envs)]
    trainers = {k: _resolve_trainer(k, t, source) for k, t in spec.trainers.items()}
    planners = {k: _resolve_planner(k, p, source) for k, p in spec.planners.items()}
    spec = dataclasses.replace(spec, envs=envs, trainers=trainers, planners=planners)
    _check_spec(spec, source)
    return spec


def _normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Let ``envs`` and ``test`` entries be plain strings (an id or path) as well as tables, and accept the
    sweep grid as dotted keys written either quoted (``"ppo.config.lr" = [...]``) or as nested tables."""
    sweep = data.get("sweep")
    if isinstance(sweep, Mapping):
        data["sweep"] = _flatten(sweep)
    envs = data.get("envs")
    if isinstance(envs, str | Mapping):
        envs = [envs]
    if isinstance(envs, list):
        out = []
        for e in envs:
            if isinstance(e, str):
                e = {"id": e}
            if isinstance(e, Mapping):
                e = dict(e)
                test = e.get("test")
                if isinstance(test, str | Mapping):
                    test = [test]
                if isinstance(test, list):
                    e["test"] = [{"id": t} if isinstance(t, str) else t for t in test]
            out.append(e)
        data["envs"] = out
    return data


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def env_label(id_or_path: str) -> str:
    """A short name for an env: ``rlcredit/ButtonRoomBridge1-v0`` -> ``ButtonRoomBridge1``, ``a/b.toml`` -> ``b``."""
    s = str(id_or_path)
    if s.endswith(".toml"):
        return Path(s).stem
    s = s.rsplit("/", 1)[-1]
    return re.sub(r"-v\d+$", "", s)


def _resolve_variant(v: EnvVariant, key: str, source: str, base: Path) -> EnvVariant:
    env_id = v.id
    if is_map_path(env_id) or env_id.endswith(".toml"):
        cand = Path(env_id).expanduser()
        if not cand.is_absolute() and (base / cand).is_file():
            cand = base / cand
        if not cand.is_file():
            raise ConfigError(f"{source}: key '{key}.id': map file not found: {env_id}")
        env_id = str(cand.resolve())
        try:
            load_map(env_id)
        except ValueError as e:
            raise ConfigError(f"{source}: key '{key}.id': {str(e).splitlines()[0]}") from None
    else:
        table = builtin_envs()
        if env_id not in table and f"rlcredit/{env_id}" in table:
            env_id = f"rlcredit/{env_id}"
        if env_id not in table:
            raise ConfigError(
                f"{source}: key '{key}.id': unknown env {v.id!r}; built-in gridworlds: "
                f"{', '.join(sorted(table))} (or give a map .toml path)"
            )
    for k in v.kwargs:
        if k not in MAKE_KWARGS:
            raise ConfigError(f"{source}: unknown key '{key}.kwargs.{k}' (known: {', '.join(MAKE_KWARGS)})")
    _check_kwargs(env_id, v.kwargs, f"{key}.kwargs", source)
    label = v.name or env_label(env_id)
    _check_name(label, f"{key}.name", source)
    return EnvVariant(env_id, label, dict(v.kwargs))


def _check_kwargs(env_id: str, kwargs: Mapping[str, Any], key: str, source: str) -> None:
    """Check an env variant's keyword arguments against its map now, blaming the spec (not the map file)."""
    if not kwargs:
        return
    for name in ("layout_seed", "num_layouts"):
        if name in kwargs:
            value = kwargs[name]
            low = 0 if name == "layout_seed" else 1
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value < 2**31:
                raise ConfigError(
                    f"{source}: key '{key}.{name}' must be an integer in [{low}, 2**31); got {value!r}"
                )
    overrides = {k: kwargs[k] for k in ("time_limit", "slip", "gamma", "step_cost") if k in kwargs}
    if not overrides:
        return
    path, variant = resolve(env_id)
    spec = load_map(path, variant)
    try:
        spec.with_overrides(**overrides)
    except (TypeError, ValueError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        for prefix in (f"{spec.source}: ", f"{path}: "):
            msg = msg.removeprefix(prefix)
        msg = msg.removeprefix("override ")
        raise ConfigError(f"{source}: key '{key}': {msg}") from None


def _resolve_env(e: EnvSpec, i: int, source: str, base: Path) -> EnvSpec:
    key = f"envs[{i}]"
    train = _resolve_variant(e.train, key, source, base)
    tests = [_resolve_variant(t, f"{key}.test[{j}]", source, base) for j, t in enumerate(e.test)] or [train]
    names = [t.label for t in tests]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"{source}: key '{key}.test': two test variants are both named {_dup(names)!r}; give names"
        )
    return EnvSpec(train.id, train.name, train.kwargs, e.obs, tests)


def _resolve_trainer(name: str, t: TrainerSpec, source: str) -> TrainerSpec:
    algo = t.algo or name
    if algo not in TRAINER_ALGOS:
        raise ConfigError(
            f"{source}: key 'trainers.{name}.algo' must be one of {', '.join(map(repr, TRAINER_ALGOS))} "
            f"(or name the table after one); got {algo!r}"
        )
    if t.steps > MAX_STEPS:
        raise ConfigError(
            f"{source}: key 'trainers.{name}.steps' must be at most {MAX_STEPS:.0e}; got {t.steps}"
        )
    _check_trainer_config(algo, t.config, f"{source} [trainers.{name}.config]")
    return dataclasses.replace(t, algo=algo)  # type: ignore[arg-type]  # checked against TRAINER_ALGOS


def _resolve_planner(name: str, p: PlannerSpec, source: str) -> PlannerSpec:
    algo = p.algo or name
    if algo not in PLANNER_ALGOS:
        raise ConfigError(
            f"{source}: key 'planners.{name}.algo' must be one of {', '.join(map(repr, PLANNER_ALGOS))} "
            f"(or name the table after one); got {algo!r}"
        )
    for field_name, value in (("episodes", p.episodes), ("eval_episodes", p.eval_episodes)):
        if value is not None and value > MAX_EPISODES:
            raise ConfigError(
                f"{source}: key 'planners.{name}.{field_name}' must be at most {MAX_EPISODES:.0e}; got {value}"
            )
    _check_planner_config(algo, p.config, f"{source} [planners.{name}.config]")
    return dataclasses.replace(p, algo=algo)  # type: ignore[arg-type]  # checked against PLANNER_ALGOS


def _check_trainer_config(algo: str, config: Mapping[str, Any], source: str) -> None:
    from rlcredit.trainers.config import (
        trainer_config,  # heavy (torch): loading a spec to list or check it stays light
    )

    try:
        trainer_config(algo, dict(config), source=source)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: {e}") from None


def _check_planner_config(algo: str, config: Mapping[str, Any], source: str) -> None:
    from rlcredit.planning.planner import make_planner  # heavy (numba): only specs with planners pay for it

    sims = config.get("num_simulations")
    if "num_simulations" in config and (not isinstance(sims, int) or isinstance(sims, bool)):
        raise ConfigError(f"{source}: key 'num_simulations' must be an integer; got {sims!r}")
    if isinstance(sims, int) and sims > MAX_SIMULATIONS:
        raise ConfigError(
            f"{source}: key 'num_simulations' must be at most {MAX_SIMULATIONS:.0e} (the search tree grows "
            f"by about one node per simulation); got {sims}"
        )
    try:
        make_planner(algo, **dict(config))
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: {str(e).splitlines()[0]}") from None


def _dup(names: Sequence[str]) -> str:
    seen = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return ""


def _env_map(v: EnvVariant) -> MapSpec:
    path, variant = resolve(v.id)
    return load_map(path, variant)


def _env_kinds(v: EnvVariant) -> tuple[str, ...]:
    return _env_map(v).kinds


def _obs_shape(v: EnvVariant, obs: str) -> tuple[int, ...]:
    """The observation shape a policy sees in an env variant (the number of states for ``index``)."""
    spec = _env_map(v)
    H, W = spec.shape
    return {"index": (H * W,), "coords": (2,)}.get(obs, (2 + len(spec.kinds), H, W))


def _check_spec(spec: ExperimentSpec, source: str) -> None:
    _check_name(spec.name, "name", source)
    if not spec.envs:
        raise ConfigError(f"{source}: key 'envs' needs at least one env")
    if not spec.trainers and not spec.planners:
        raise ConfigError(f"{source}: the spec has no [trainers.*] and no [planners.*]: nothing to run")
    if isinstance(spec.seeds, int) and not 1 <= spec.seeds <= MAX_SEEDS:
        raise ConfigError(f"{source}: key 'seeds' must be a count in [1, {MAX_SEEDS}], got {spec.seeds}")
    if isinstance(spec.seeds, list):
        if not spec.seeds:
            raise ConfigError(f"{source}: key 'seeds' is an empty list; give a count or at least one seed")
        if len(spec.seeds) > MAX_SEEDS:
            raise ConfigError(f"{source}: key 'seeds' lists {len(spec.seeds)} seeds; at most {MAX_SEEDS}")
        bad = [s for s in spec.seeds if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s < 2**32]
        if bad:
            raise ConfigError(f"{source}: key 'seeds' must hold integers in [0, 2**32); got {bad[0]!r}")
        if len(set(spec.seeds)) != len(spec.seeds):
            raise ConfigError(f"{source}: key 'seeds' lists seed {_dup([str(s) for s in spec.seeds])} twice")
    if spec.eval.episodes > MAX_EPISODES:
        raise ConfigError(
            f"{source}: key 'eval.episodes' must be at most {MAX_EPISODES:.0e}; got {spec.eval.episodes}"
        )
    labels = [e.label for e in spec.envs]
    if len(set(labels)) != len(labels):
        raise ConfigError(
            f"{source}: key 'envs': two training envs are both named {_dup(labels)!r}; give names"
        )
    both = set(spec.trainers) & set(spec.planners)
    if both:
        raise ConfigError(f"{source}: {sorted(both)[0]!r} names both a trainer and a planner")
    for agent in spec.trainers:
        _check_name(agent, f"trainers.{agent}", source)
    for agent in spec.planners:
        _check_name(agent, f"planners.{agent}", source)
    _check_trainer_envs(spec, source)
    for name, region in spec.eval.regions.items():
        try:
            parse_region(region, (9, 9))
        except ValueError as exc:
            raise ConfigError(f"{source}: key 'eval.regions.{name}': {exc}") from None
    kinds = sorted({k for e in spec.envs for t in [e.train, *e.tests] for k in _env_kinds(t)})
    for i, fig in enumerate(spec.figures):
        head, _, arg = fig.partition(":")
        if head not in FIGURES:
            raise ConfigError(
                f"{source}: key 'figures[{i}]': unknown figure {fig!r}; known: discoverability[:KIND], power[:GAMMA], history:KIND, mazes:REGION"
            )
        if head == "mazes" and (arg not in spec.eval.regions or not spec.eval.exact_mazes):
            raise ConfigError(
                f"{source}: key 'figures[{i}]': 'mazes:REGION' needs a region named in eval.regions (got {arg!r}) "
                "and eval.exact_mazes > 0"
            )
        if head == "power" and arg and not _is_discount(arg):
            raise ConfigError(f"{source}: key 'figures[{i}]': 'power:GAMMA' needs 0 < GAMMA < 1, got {arg!r}")
        if head == "history" and not arg:
            raise ConfigError(f"{source}: key 'figures[{i}]': 'history' needs a kind, e.g. 'history:switch'")
        if head == "history" and all(_env_map(e.train).randomized for e in spec.envs):
            raise ConfigError(
                f"{source}: key 'figures[{i}]': 'history' needs a training env with a fixed layout (the credit "
                "records do not say which procedural layout a step was on)"
            )
        if head in ("discoverability", "history") and arg and arg not in kinds:
            raise ConfigError(
                f"{source}: key 'figures[{i}]': no env has cells of kind {arg!r} (kinds: {', '.join(kinds)})"
            )
    known = known_metrics(kinds, spec.eval.regions)
    for i, m in enumerate(spec.metrics):
        if m not in known:
            raise ConfigError(
                f"{source}: key 'metrics[{i}]': unknown metric {m!r}; known: {', '.join(known)}"
            )
    _check_sweep(spec, source)
    pieces = len(spec.seed_list) * len(spec.envs) * sum(_combos(spec, a) for a in spec.agents)
    if pieces > MAX_PIECES:
        raise ConfigError(f"{source}: the spec expands to {pieces} pieces; at most {MAX_PIECES}")


def _combos(spec: ExperimentSpec, agent: str) -> int:
    """Swept value combinations of one agent (1 without a sweep)."""
    n = 1
    for key, values in spec.sweep.items():
        if key.split(".")[0] == agent:
            n *= max(len(values), 1)
    return n


def _check_trainer_envs(spec: ExperimentSpec, source: str) -> None:
    """Trained policies need a training env given by id or map file, and test variants they can observe."""
    for i, e in enumerate(spec.envs):
        if e.obs is not None:
            for name, t in spec.trainers.items():
                if "obs" in t.config and t.config["obs"] != e.obs:
                    raise ConfigError(
                        f"{source}: key 'trainers.{name}.config.obs' = {t.config['obs']!r} contradicts "
                        f"'envs[{i}].obs' = {e.obs!r}"
                    )
    if spec.trainers:
        for i, e in enumerate(spec.envs):
            if e.kwargs:
                raise ConfigError(
                    f"{source}: key 'envs[{i}].kwargs': trainers take an env id or map file only "
                    f"(rlcredit.train has no env keyword arguments); put {', '.join(sorted(e.kwargs))} in a map file"
                )
            obs = {t.config.get("obs", e.obs) or "index" for t in spec.trainers.values()}
            for o in sorted(obs):
                want = _obs_shape(e.train, o)
                for j, variant in enumerate(e.tests):
                    got = _obs_shape(variant, o)
                    if got != want:
                        raise ConfigError(
                            f"{source}: key 'envs[{i}].test[{j}]': a policy trained on {e.label} with obs={o!r} "
                            f"sees observations of shape {want}, but {variant.label} gives {got}; test on variants "
                            f"of the same size, or train with obs = 'coords'"
                        )


def _is_discount(text: str) -> bool:
    try:
        return 0.0 < float(text) < 1.0
    except ValueError:
        return False


def known_metrics(kinds: Sequence[str], regions: Mapping[str, str]) -> list[str]:
    """Every metric name a contrast table can show, for envs with these object kinds and eval regions."""
    return [
        "return",
        "regret",
        "optimal",
        "success",
        "performance",
        "reward_minus_intended",
        "length",
        *(f"reach_{k}" for k in kinds),
        *(f"region_{r}" for r in regions),
        "exact_J",
        *(f"exact_reach_{k}" for k in kinds),
        "exact_intended",
        *(f"exact_region_{r}" for r in regions),
        *(f"outside_{r}_exact_intended" for r in regions),
        *(f"outside_{r}_exact_region_{r}" for r in regions),
        *(
            f"choice_{r}_{w}_first_{x}"
            for r in regions
            for w in ("exact", "uniform")
            for x in ("intended", "region")
        ),
        "steps",
        "wall_time",
    ]


# -------------------------------------------------------------------------------------------------- sweeping


def _sweep_target(spec: ExperimentSpec, key: str, source: str) -> tuple[str, tuple[str, ...]]:
    parts = key.split(".")
    agent = parts[0]
    if agent not in spec.trainers and agent not in spec.planners:
        known = ", ".join(spec.agents)
        raise ConfigError(
            f"{source}: sweep key {key!r}: no trainer or planner named {agent!r} (known: {known})"
        )
    rest = tuple(parts[1:])
    is_trainer = agent in spec.trainers
    allowed = "AGENT.config.KEY or AGENT." + ("steps" if is_trainer else "episodes")
    if rest == (("steps",) if is_trainer else ("episodes",)):
        return agent, rest
    if len(rest) == 2 and rest[0] == "config":
        return agent, rest
    raise ConfigError(f"{source}: sweep key {key!r} must look like {allowed}")


def _check_sweep(spec: ExperimentSpec, source: str) -> None:
    for key, values in spec.sweep.items():
        agent, path = _sweep_target(spec, key, source)
        if not values:
            raise ConfigError(f"{source}: sweep key {key!r} has no values")
        for v in values:
            if path[0] in ("steps", "episodes"):
                if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                    raise ConfigError(f"{source}: sweep key {key!r} expects positive integers, got {v!r}")
                continue
            algo = spec.algo_of(agent)
            if agent in spec.trainers:
                cfg = {**spec.trainers[agent].config, path[1]: v}
                _check_trainer_config(algo, cfg, f"{source} [sweep {key}]")
            else:
                cfg = {**spec.planners[agent].config, path[1]: v}
                _check_planner_config(algo, cfg, f"{source} [sweep {key}]")


def parse_sweep_args(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["ppo.config.gae_lambda=0.5,0.9", ...]`` -> ``{"ppo.config.gae_lambda": [0.5, 0.9]}``.

    Values are TOML literals separated by commas outside brackets and quotes (``hidden=[64,64],[32]``).

    Raises
    ------
    ConfigError
        For an item without ``=`` or without values.
    """
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, rest = item.partition("=")
        key = key.strip()
        if not sep or not key or not rest.strip():
            raise ConfigError(
                f"--set {item!r} must look like AGENT.config.KEY=V1,V2,... (e.g. ppo.config.lr=1e-3,3e-4)"
            )
        out[key] = [parse_value(v.strip()) for v in _split_top_level(rest)]
    return out


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p for p in (s.strip() for s in parts) if p]


def _slug(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "x".join(_slug(v) for v in value)
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", str(value))


# -------------------------------------------------------------------------------------------------- expansion


def expand_pieces(
    spec: ExperimentSpec, exp_dir: str | os.PathLike[str], *, wandb: str = "offline", group: str | None = None
) -> list[Piece]:
    """Every piece of an experiment: (trainer or planner) x training env x seed x swept values.

    Ordered seed-major (all agents of seed 0 first), so a partly finished experiment already contrasts every
    agent. Run directories are ``EXP_DIR/AGENT[-SWEPT][-ENV]-sSEED``; the env part is left out when the spec
    has a single training env.
    """
    exp_dir = Path(exp_dir)
    group = group or f"{spec.name}-{exp_dir.name}"
    axes: dict[str, list[tuple[tuple[str, ...], list[Any]]]] = {}
    for key, values in spec.sweep.items():
        agent, path = _sweep_target(spec, key, "sweep")
        axes.setdefault(agent, []).append((path, list(values)))
    pieces: list[Piece] = []
    for seed in spec.seed_list:
        plots = spec.run_plots == "all" or (spec.run_plots == "first_seed" and seed == spec.seed_list[0])
        for env in spec.envs:
            for agent in spec.agents:
                paths = [path for path, _ in axes.get(agent, [])]
                for combo in itertools.product(*(values for _, values in axes.get(agent, []))):
                    piece = _piece(spec, env, agent, seed, dict(zip(paths, combo)), exp_dir, plots=plots)
                    pieces.append(dataclasses.replace(piece, wandb=wandb, group=group))
    names = [p.name for p in pieces]
    if len(set(names)) != len(names):
        raise ConfigError(f"two pieces of {spec.name} would share the directory {_dup(names)!r}")
    return pieces


def _piece(
    spec: ExperimentSpec,
    env: EnvSpec,
    agent: str,
    seed: int,
    values: dict[tuple[str, ...], Any],
    exp_dir: Path,
    *,
    plots: bool,
) -> Piece:
    """One piece; ``values`` maps swept paths (``("config", "lr")``, ``("steps",)``) to this piece's values."""
    is_trainer = agent in spec.trainers
    base: TrainerSpec | PlannerSpec = spec.trainers[agent] if is_trainer else spec.planners[agent]
    config = dict(base.config)
    steps = base.steps if isinstance(base, TrainerSpec) else 0
    episodes = base.episodes if isinstance(base, PlannerSpec) else 0
    for path, v in values.items():
        if path[0] == "config":
            config[path[1]] = v
        elif path[0] == "steps":
            steps = v
        else:
            episodes = v
    swept = {path[-1]: v for path, v in values.items()}
    label = agent + ("[" + ",".join(f"{k}={_fmt(v)}" for k, v in swept.items()) + "]" if swept else "")
    parts = [agent, *(f"{k}{_slug(v)}" for k, v in swept.items())]
    if len(spec.envs) > 1:
        parts.append(env.label)
    name = "-".join([*parts, f"s{seed}"])
    obs = config.get("obs", env.obs) if is_trainer else env.obs
    if is_trainer and obs is not None:
        config["obs"] = obs
    return Piece(
        experiment=spec.name,
        name=name,
        agent=label,
        kind="train" if is_trainer else "plan",
        algo=base.algo or agent,
        env=env.train,
        obs=obs,
        tests=tuple(env.tests),
        seed=seed,
        config=config,
        steps=steps,
        episodes=episodes,
        swept=swept,
        eval=_eval_for(spec, base, is_trainer),
        run_dir=str(exp_dir / name),
        wandb="offline",
        group=f"{spec.name}-{exp_dir.name}",
        plots=plots,
    )


def _eval_for(spec: ExperimentSpec, base: TrainerSpec | PlannerSpec, is_trainer: bool) -> EvalSpec:
    if is_trainer or not isinstance(base, PlannerSpec) or base.eval_episodes is None:
        return spec.eval
    return dataclasses.replace(spec.eval, episodes=base.eval_episodes)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}" if math.isfinite(v) else str(v)
    return str(v)
