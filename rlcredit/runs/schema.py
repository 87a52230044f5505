"""The run-directory schema: ``config.toml`` and ``summary.json`` of every run, one writer and one reader.

Every producer of a run directory (the trainer :func:`rlcredit.train`, ``rlcredit plan``, the experiment
runner's planner pieces, the SB3 :class:`~rlcredit.integrations.sb3.CreditCallback`) describes its run with a
:class:`RunConfig` and its outcome with a :class:`RunSummary`, and writes them with :func:`write_config` /
:func:`write_summary`; plots and reports read them only with :func:`read_config` / :func:`read_summary`.

``config.toml`` (schema version 1)::

    schema_version = 1
    [run]                       # RunConfig fields; any other key is kept in RunConfig.extra
    kind = "train"              # "train" (a trainer) or "plan" (a planner)
    algo = "ppo"                # ppo | reinforce | vi | bi | mcts | an SB3 algorithm (ppo, a2c)
    env = "rlcredit/ButtonRoom-v0"
    env_kind = "id"             # "id": an env id or map file that rebuilds the env; "factory": a callable
    env_sha256 = "..."          # a map file: the sha256 of its text, kept in the run directory as env.toml
    wandb = "offline"           # trainers: the wandb mirror mode the run was started with (resume keeps it)
    seed = 0
    steps = 200000              # trainers: the env steps asked for
    episodes = 20               # planners: the episodes acted
    library = "rlcredit"        # or "stable-baselines3"
    [run.env_kwargs]            # the env constructor's keyword arguments (layout_seed, time_limit, ...)
    [config]                    # the trainer's or planner's hyperparameters
    [_meta]                     # versions, git commit, host, time (written by RunDir.write_config)

``summary.json``: the :class:`RunSummary` fields and ``schema_version`` at the top level, plus run-specific
scalar figures (``exact/*``, ``shaping/*``, ``reach_rate/<kind>``, ``optimal_value``, ``intended_rate``), which
are read into :attr:`RunSummary.figures`.

A run trained or planned on a map file keeps that file's text as ``env.toml`` in the run directory and its
sha256 in ``env_sha256``: plots and resume rebuild the env from that copy (:func:`env_source`), so moving or
editing the original file changes nothing. Built-in ids are stored as ids.

Run directories written before the schema (no ``schema_version``) are read through a documented migration
(:func:`migrate_config`, :func:`migrate_summary`); a newer ``schema_version`` is an error naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from rlcredit.gridworld.maps import OVERRIDABLE
from rlcredit.tracking.rundir import CONFIG_FILE, SUMMARY_FILE, RunDir
from rlcredit.tracking.wandb_mirror import WANDB_MODES

__all__ = [
    "ENV_COPY",
    "ENV_KWARGS",
    "PLANNER_ALGOS",
    "PLANNER_CHOICES",
    "SCHEMA_VERSION",
    "TRAINER_ALGOS",
    "RunConfig",
    "RunSchemaError",
    "RunSummary",
    "env_source",
    "keep_env_copy",
    "migrate_config",
    "migrate_summary",
    "read_config",
    "read_summary",
    "write_config",
    "write_summary",
]

SCHEMA_VERSION = 1
"""The version of ``config.toml`` / ``summary.json`` this rlcredit writes (and the newest it reads)."""

TRAINER_ALGOS = ("ppo", "reinforce")
"""``algo`` of an rlcredit training run (``rlcredit train``, ``rlcredit.train``)."""

PLANNER_ALGOS = ("vi", "bi", "mcts")
"""``algo`` of a planner run: value iteration, backward induction, MCTS."""

PLANNER_CHOICES = PLANNER_ALGOS
"""``rlcredit plan --planner`` choices."""

ENV_KWARGS = (*OVERRIDABLE, "layout_seed", "num_layouts")
"""Keyword arguments of ``rlcredit.make`` / ``rlcredit.make_vec`` beyond the id that change the gridworld (a run
records those it was given, so plots and resume rebuild the same env)."""

ENV_COPY = "env.toml"
"""The copy of a run's map file in its run directory (see :func:`keep_env_copy`)."""

Kind = Literal["train", "plan"]
Status = Literal["completed", "failed", "interrupted"]


class RunSchemaError(ValueError):
    """A run directory's ``config.toml`` or ``summary.json`` does not follow the schema (one line, names the file)."""


@dataclass(frozen=True)
class RunConfig:
    """What a run is: the ``[run]`` and ``[config]`` tables of ``config.toml``.

    Attributes
    ----------
    kind : "train" | "plan"
        A trainer (learns from reward) or a planner (searches the model).
    algo : str
        ``ppo``/``reinforce`` (rlcredit trainers), ``vi``/``bi``/``mcts`` (planners), or the lower-case name of
        an SB3 algorithm.
    env : str
        The env id or map file (``env_kind = "id"``), or a factory's qualified name.
    seed : int or None
        The run's seed (None when the producer had none, e.g. an SB3 model without a seed).
    env_kind : "id" | "factory"
        Whether ``env`` rebuilds the env (an id or map file) or only names a factory.
    env_sha256 : str or None
        For a map file: the sha256 (hex) of its text, kept in the run directory as :data:`ENV_COPY`.
    wandb : "offline" | "online" | "disabled" | None
        Trainers: the wandb mirror mode the run was started with, which resuming keeps (None: not recorded).
    env_kwargs : mapping
        The env constructor's keyword arguments (None values are never stored).
    steps : int or None
        Trainers: the env steps asked for.
    episodes : int or None
        Planners: the episodes acted.
    library : str
        ``"rlcredit"``, or ``"stable-baselines3"`` for runs written by the SB3 callback.
    config : mapping
        The trainer's or planner's hyperparameters.
    extra : mapping
        Other run facts a producer records (e.g. ``prior``, the run directory of an MCTS prior).
    meta : mapping
        The ``_meta`` table (versions, git commit, host, time); written by :func:`write_config`, never given.
    """

    kind: Kind
    algo: str
    env: str
    seed: int | None
    env_kind: Literal["id", "factory"] = "id"
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    env_sha256: str | None = None
    wandb: str | None = None
    steps: int | None = None
    episodes: int | None = None
    library: str = "rlcredit"
    config: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("train", "plan"):
            raise RunSchemaError(f"run kind must be 'train' or 'plan', got {self.kind!r}")
        if self.env_kind not in ("id", "factory"):
            raise RunSchemaError(f"env_kind must be 'id' or 'factory', got {self.env_kind!r}")
        if self.wandb is not None and self.wandb not in WANDB_MODES:
            raise RunSchemaError(f"wandb must be one of {', '.join(WANDB_MODES)}, got {self.wandb!r}")
        clash = set(self.extra) & _RUN_FIELDS
        if clash:
            raise RunSchemaError(f"extra run keys {sorted(clash)} clash with RunConfig fields")

    @property
    def is_planner(self) -> bool:
        return self.kind == "plan"

    @property
    def layout_kwargs(self) -> dict[str, Any]:
        """The recorded env keyword arguments that shape a gridworld (:data:`ENV_KWARGS`)."""
        return {k: v for k, v in self.env_kwargs.items() if k in ENV_KWARGS}

    def to_toml_data(self) -> dict[str, Any]:
        """The plain data of ``config.toml`` (without ``_meta``)."""
        run: dict[str, Any] = {
            "kind": self.kind,
            "algo": self.algo,
            "env": self.env,
            "env_kind": self.env_kind,
        }
        for name in ("env_sha256", "seed", "steps", "episodes", "wandb"):
            value = getattr(self, name)
            if value is not None:
                run[name] = value
        run["library"] = self.library
        run.update(self.extra)
        if self.env_kwargs:
            run["env_kwargs"] = dict(self.env_kwargs)
        return {"schema_version": SCHEMA_VERSION, "run": run, "config": dict(self.config)}


_RUN_FIELDS = {f for f in RunConfig.__dataclass_fields__ if f not in ("config", "extra", "meta")}


@dataclass(frozen=True)
class RunSummary:
    """How a run ended: ``summary.json``.

    Attributes
    ----------
    status : "completed" | "failed" | "interrupted"
    kind, algo, env, seed :
        As in :class:`RunConfig` (``env`` short, e.g. ``ButtonRoom-v0``).
    global_step : int or None
        Env steps taken (a planner: over its episodes); None only in summaries written before the schema
        by ``rlcredit plan``, which did not count them.
    wall_seconds : float
        Wall time of this (last) session of the run.
    return_mean : float
        Mean episodic return: a trainer's last 100 episodes, a planner's episodes (NaN without episodes).
    return_std : float or None
        Standard deviation of the returns ``return_mean`` averages (None without episodes).
    updates : int or None
        Trainers: updates whose metrics row is written.
    episodes : int or None
        Episodes finished (trainers: over all updates logged; planners: acted; SB3: seen by the callback).
    SPS : float or None
        Env steps per second of this session.
    last_checkpoint : str or None
        Trainers: the newest checkpoint file.
    error : str or None
        What stopped a failed or interrupted run.
    figures : mapping of str to float
        Run-specific scalar figures (``exact/J``, ``exact/reach_<kind>``, ``reach_rate/<kind>``,
        ``optimal_value``, ``intended_rate``, ``shaping/*``), written at the top level of ``summary.json``.
    """

    status: Status
    kind: Kind
    algo: str
    env: str
    seed: int | None
    global_step: int | None
    wall_seconds: float
    return_mean: float = math.nan
    return_std: float | None = None
    updates: int | None = None
    episodes: int | None = None
    SPS: float | None = None
    last_checkpoint: str | None = None
    error: str | None = None
    figures: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in ("completed", "failed", "interrupted"):
            raise RunSchemaError(f"summary status must be completed/failed/interrupted, got {self.status!r}")
        clash = set(self.figures) & _SUMMARY_FIELDS
        if clash:
            raise RunSchemaError(f"summary figures {sorted(clash)} clash with RunSummary fields")

    def to_json_data(self) -> dict[str, Any]:
        """The plain data of ``summary.json``: the fields, ``schema_version``, then the figures."""
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for f in fields(self):
            if f.name != "figures":
                data[f.name] = getattr(self, f.name)
        data.update(self.figures)
        return data

    def get(self, key: str, default: Any = None) -> Any:
        """A field or a figure by its ``summary.json`` key."""
        if key in _SUMMARY_FIELDS:
            return getattr(self, key)
        return self.figures.get(key, default)


_SUMMARY_FIELDS = {f for f in RunSummary.__dataclass_fields__ if f != "figures"} | {"schema_version"}


# ------------------------------------------------------------------------------------------------ writing


def write_config(run: RunDir | str | os.PathLike[str], config: RunConfig) -> None:
    """Write ``config.toml`` atomically (with the ``_meta`` table)."""
    rd = run if isinstance(run, RunDir) else RunDir(run)
    rd.write_config(config.to_toml_data())


def write_summary(run: RunDir | str | os.PathLike[str], summary: RunSummary) -> None:
    """Write ``summary.json`` atomically."""
    rd = run if isinstance(run, RunDir) else RunDir(run)
    rd.write_summary(summary.to_json_data())


def keep_env_copy(run: RunDir | str | os.PathLike[str], env: str) -> str | None:
    """Copy the map file ``env`` into the run directory as :data:`ENV_COPY`; its sha256, or None for an id.

    Call it before :func:`write_config` and record the result as :attr:`RunConfig.env_sha256`.
    """
    from rlcredit.gridworld.registry import (
        is_map_path,  # gymnasium: the CLI parser imports this module for --help
    )

    if not is_map_path(env):
        return None
    rd = run if isinstance(run, RunDir) else RunDir(run)
    try:
        raw = Path(env).read_bytes()
    except OSError as e:
        raise FileNotFoundError(f"{env}: cannot read the map file: {e.strerror or e}") from None
    tmp = rd.path / f".{ENV_COPY}.tmp"
    tmp.write_bytes(raw)
    os.replace(tmp, rd.path / ENV_COPY)
    return hashlib.sha256(raw).hexdigest()


def env_source(run: RunDir | str | os.PathLike[str], config: RunConfig, given: str | None = None) -> str:
    """What rebuilds a run's env: its kept map copy (checked against ``env_sha256``), else the recorded ``env``.

    ``given`` is a map file the caller was handed for this run: it must have the recorded text.

    Raises
    ------
    RunSchemaError
        The run's copy is missing or its sha256 differs from ``config.toml``'s, or ``given`` differs from the
        map the run was made with (one line naming the file).
    """
    path = run.path if isinstance(run, RunDir) else Path(run)
    if config.env_kind != "id" or config.env_sha256 is None:
        if config.env_kind == "id" and given is None and _looks_like_map(config.env) and path not in _WARNED:
            _WARNED.add(path)
            print(
                f"warning: {path} keeps no copy of its map file (written by an older rlcredit); reading "
                f"{config.env} as it is now, relative to {Path.cwd()}",
                file=sys.stderr,
            )
        return config.env if given is None else given
    copy = path / ENV_COPY
    try:
        raw = copy.read_bytes()
    except OSError:
        raise RunSchemaError(f"{copy}: the run's copy of its map file {config.env} is missing") from None
    if hashlib.sha256(raw).hexdigest() != config.env_sha256:
        raise RunSchemaError(
            f"{copy}: sha256 differs from env_sha256 in {path / CONFIG_FILE}; the copy was changed"
        )
    if given is not None:
        try:
            other = Path(given).read_bytes()
        except OSError as e:
            raise RunSchemaError(f"{given}: cannot read the map file: {e.strerror or e}") from None
        if other != raw:
            raise RunSchemaError(
                f"{given}: differs from the map {path} was made with (its copy: {copy}); "
                f"leave the env out to use the copy"
            )
    return str(copy)


_WARNED: set[Path] = set()
"""Run directories already warned about in this process (the plots rebuild an env many times)."""


def _looks_like_map(env: str) -> bool:
    return env.endswith(".toml")


# ------------------------------------------------------------------------------------------------ reading


def _config_path(path: RunDir | str | os.PathLike[str]) -> Path:
    p = path.path if isinstance(path, RunDir) else Path(path)
    return p / CONFIG_FILE if p.is_dir() or p.name != CONFIG_FILE else p


def _check_version(data: Mapping[str, Any], where: Path) -> int:
    version = data.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise RunSchemaError(f"{where}: schema_version must be a whole number, got {version!r}")
    if version > SCHEMA_VERSION:
        raise RunSchemaError(
            f"{where}: schema_version {version} is newer than this rlcredit reads ({SCHEMA_VERSION}); "
            "upgrade rlcredit to read this run"
        )
    return version


def read_config(path: RunDir | str | os.PathLike[str]) -> RunConfig:
    """The :class:`RunConfig` of a run directory (or of its ``config.toml``).

    Raises
    ------
    FileNotFoundError
        ``"run directory not found: PATH"`` or ``"not a run directory (no config.toml): PATH"``.
    RunSchemaError
        A malformed file, a missing required key (``"PATH has no 'algo'"``), a wrongly typed value, or a
        ``schema_version`` newer than :data:`SCHEMA_VERSION`.
    """
    where = _config_path(path)
    if not where.is_file():
        if not where.parent.is_dir():
            raise FileNotFoundError(f"run directory not found: {where.parent}")
        raise FileNotFoundError(f"not a run directory (no {CONFIG_FILE}): {where.parent}")
    try:
        with open(where, "rb") as f:
            data = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RunSchemaError(f"{where}: not valid TOML: {e}") from None
    if _check_version(data, where) == 0:
        data = migrate_config(data)
    return _config_from_data(data, where)


def migrate_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """Version-0 ``config.toml`` data (before the schema) as version 1.

    Two layouts were written before the schema:

    - ``rlcredit.train``: ``algo``, ``env``, ``env_kind``, ``steps``, ``seed`` at the top level, the env
      keyword arguments in an ``env_kwargs`` table (and the layout ones repeated at the top level), the trainer
      config in a table named after the algo;
    - ``rlcredit plan``, the experiment runner's planners and the SB3 callback: a ``[run]`` table (``kind``,
      ``algo``, ``env``, ``seed``, ``episodes``, the env keyword arguments as plain keys, ...) and a
      ``[config]`` table.
    """
    meta = data.get("_meta", {})
    if isinstance(data.get("run"), Mapping):
        run = dict(data["run"])
        kwargs = {k: run.pop(k) for k in ENV_KWARGS if k in run}
        kwargs.update(run.pop("env_kwargs", {}) or {})
        algo = run.get("algo")
        run.setdefault("kind", "train" if algo in TRAINER_ALGOS else "plan")
        if kwargs:
            run["env_kwargs"] = kwargs
        return {"schema_version": 1, "run": run, "config": dict(data.get("config", {})), "_meta": meta}
    run = {k: v for k, v in data.items() if not isinstance(v, Mapping) and k not in ENV_KWARGS}
    algo = run.get("algo")
    run.setdefault("kind", "train")
    kwargs = dict(data.get("env_kwargs", {}))
    for k in ENV_KWARGS:
        if k in data and not isinstance(data[k], Mapping):
            kwargs.setdefault(k, data[k])
    if kwargs:
        run["env_kwargs"] = kwargs
    table = data.get(algo) if isinstance(algo, str) else None
    return {
        "schema_version": 1,
        "run": run,
        "config": dict(table) if isinstance(table, Mapping) else {},
        "_meta": meta,
    }


def _need(table: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: Path) -> Any:
    if key not in table:
        raise RunSchemaError(f"{where} has no '{key}'")
    value = table[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise RunSchemaError(f"{where}: '{key}' must be {_type_words(types)}, got {value!r}")
    return value


def _maybe(table: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: Path) -> Any:
    return _need(table, key, types, where) if table.get(key) is not None else None


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _type_words(types: type | tuple[type, ...]) -> str:
    names = {
        int: "a whole number",
        float: "a number",
        str: "a string",
        dict: "a table",
        bool: "true or false",
    }
    return " or ".join(names.get(t, t.__name__) for t in _as_tuple(types))


def _config_from_data(data: Mapping[str, Any], where: Path) -> RunConfig:
    run = data.get("run")
    if not isinstance(run, Mapping):
        raise RunSchemaError(f"{where} has no [run] table")
    known = {
        "kind",
        "algo",
        "env",
        "env_kind",
        "env_sha256",
        "wandb",
        "seed",
        "steps",
        "episodes",
        "library",
        "env_kwargs",
    }
    config = data.get("config", {})
    if not isinstance(config, Mapping):
        raise RunSchemaError(f"{where}: 'config' must be a table")
    kind = _need(run, "kind", str, where)
    if kind not in ("train", "plan"):
        raise RunSchemaError(f"{where}: 'run.kind' must be 'train' or 'plan', got {kind!r}")
    env_kind = run.get("env_kind", "id")
    if env_kind not in ("id", "factory"):
        raise RunSchemaError(f"{where}: 'run.env_kind' must be 'id' or 'factory', got {env_kind!r}")
    wandb = _maybe(run, "wandb", str, where)
    if wandb is not None and wandb not in WANDB_MODES:
        raise RunSchemaError(f"{where}: 'run.wandb' must be one of {', '.join(WANDB_MODES)}, got {wandb!r}")
    return RunConfig(
        kind=kind,
        algo=_need(run, "algo", str, where),
        env=_need(run, "env", str, where),
        seed=_maybe(run, "seed", int, where),
        env_kind=env_kind,
        env_kwargs=dict(_maybe(run, "env_kwargs", dict, where) or {}),
        env_sha256=_maybe(run, "env_sha256", str, where),
        wandb=wandb,
        steps=_maybe(run, "steps", int, where),
        episodes=_maybe(run, "episodes", int, where),
        library=str(run.get("library", "rlcredit")),
        config=dict(config),
        extra={k: v for k, v in run.items() if k not in known},
        meta=dict(data.get("_meta", {})),
    )


def read_summary(path: RunDir | str | os.PathLike[str]) -> RunSummary | None:
    """The :class:`RunSummary` of a run directory (or of its ``summary.json``); None when there is none yet.

    Raises
    ------
    RunSchemaError
        Malformed JSON, a missing or wrongly typed field, or a ``schema_version`` newer than
        :data:`SCHEMA_VERSION`.
    """
    p = path.path if isinstance(path, RunDir) else Path(path)
    where = p if p.name == SUMMARY_FILE and not p.is_dir() else p / SUMMARY_FILE
    if not where.is_file():
        return None
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunSchemaError(f"{where}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise RunSchemaError(f"{where}: expected a JSON object")
    if _check_version(data, where) == 0:
        data = migrate_summary(
            data, read_config(where.parent) if (where.parent / CONFIG_FILE).is_file() else None
        )
    return _summary_from_data(data, where)


_LEGACY_SUMMARY_KEYS = {
    "return_mean_last100": "return_mean",
    "mean_return": "return_mean",
    "final_return": "return_mean",
    "std_return": "return_std",
    "wall_time": "wall_seconds",
    "steps": "global_step",
}


def migrate_summary(data: Mapping[str, Any], config: RunConfig | None) -> dict[str, Any]:
    """Version-0 ``summary.json`` data as version 1: the trainer's ``return_mean_last100``, the planners'
    ``mean_return``/``std_return``/``wall_time``/``steps`` and the SB3 callback's ``final_return`` are renamed,
    and ``kind``/``algo``/``env``/``seed`` come from ``config`` where the summary lacks them (a summary without
    ``status`` was written by a finished run; a missing step count is None, a missing wall time NaN)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        out[_LEGACY_SUMMARY_KEYS.get(k, k)] = v
    out.setdefault("status", "completed")
    out.setdefault("global_step", None)  # `rlcredit plan` did not count its steps
    out.setdefault("wall_seconds", math.nan)  # the SB3 callback's and planners' early files lack a wall time
    if config is not None:
        out.setdefault("kind", config.kind)
        out.setdefault("algo", config.algo)
        out.setdefault("env", config.env.rsplit("/", 1)[-1])
        out.setdefault("seed", config.seed)
    out["schema_version"] = 1
    return out


def _summary_from_data(data: Mapping[str, Any], where: Path) -> RunSummary:
    number = (int, float)
    status = _need(data, "status", str, where)
    if status not in ("completed", "failed", "interrupted"):
        raise RunSchemaError(f"{where}: 'status' must be completed, failed or interrupted, got {status!r}")
    kind = _need(data, "kind", str, where)
    if kind not in ("train", "plan"):
        raise RunSchemaError(f"{where}: 'kind' must be 'train' or 'plan', got {kind!r}")
    figures = {
        k: v
        for k, v in data.items()
        if k not in _SUMMARY_FIELDS and isinstance(v, number) and not isinstance(v, bool)
    }
    return RunSummary(
        status=status,
        kind=kind,
        algo=_need(data, "algo", str, where),
        env=_need(data, "env", str, where),
        seed=_maybe(data, "seed", int, where),
        global_step=_maybe(data, "global_step", int, where),
        wall_seconds=float(_need(data, "wall_seconds", number, where)),
        return_mean=math.nan if (mean := _maybe(data, "return_mean", number, where)) is None else float(mean),
        return_std=_float_or_none(_maybe(data, "return_std", number, where)),
        updates=_maybe(data, "updates", int, where),
        episodes=_maybe(data, "episodes", int, where),
        SPS=_float_or_none(_maybe(data, "SPS", number, where)),
        last_checkpoint=_maybe(data, "last_checkpoint", str, where),
        error=_maybe(data, "error", str, where),
        figures=figures,
    )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
