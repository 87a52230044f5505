"""Reading what the figures need from run directories (files only, never live objects).

A *run directory*'s ``config.toml`` and ``summary.json`` are read through the run-directory schema
(:mod:`rlcredit.runs.schema`: :class:`~rlcredit.runs.schema.RunConfig`, :class:`~rlcredit.runs.schema.RunSummary`);
an *experiment directory* holds run directories (at any depth below it). The other files: ``metrics.csv``,
``credit/update_*.parquet``, ``shaping/update_*.parquet``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from rlcredit.credit.records import read_credit_file
from rlcredit.gridworld.core import Layout
from rlcredit.gridworld.registry import NAMESPACE, builtin_envs, is_map_path, make
from rlcredit.runs.schema import TRAINER_ALGOS, RunConfig, env_source, read_config, read_summary
from rlcredit.tracking import RunDir, read_metrics_csv
from rlcredit.tracking.io import read_parquet

__all__ = [
    "TRAINERS",
    "Run",
    "find_runs",
    "iter_credit",
    "labels_for",
    "open_run",
    "planner_reach",
    "planner_reach_exact",
    "planner_return",
    "policy_columns",
    "reach_kinds",
    "read_shaping",
]

TRAINERS = TRAINER_ALGOS
"""``[run] algo`` values of rlcredit's model-free trainers."""

_UPDATE_FILE = re.compile(r"update_(\d+)\.parquet")


class Run:
    """One run directory, opened for reading (files are read lazily and cached).

    Attributes
    ----------
    path : Path
    config : RunConfig
        ``config.toml``.
    """

    def __init__(self, path: Path, config: RunConfig) -> None:
        self.path = Path(path)
        self.config = config
        self._layouts: dict[int | None, Layout | None] = {}
        self._procedural = False

    # --------------------------------------------------------------------------------------- config fields
    @property
    def trainer_config(self) -> dict[str, Any]:
        """The trainer's or planner's hyperparameters (the ``[config]`` table)."""
        return dict(self.config.config)

    @property
    def algo(self) -> str:
        return self.config.algo

    @property
    def kind(self) -> str:
        """``"train"`` or ``"plan"``."""
        return self.config.kind

    @property
    def is_planner(self) -> bool:
        return self.config.is_planner

    @property
    def env(self) -> str:
        return self.config.env

    @property
    def seed(self) -> int | None:
        return self.config.seed

    @property
    def layout_seed(self) -> int | None:
        """The gridworld layout the run was pinned to (``env_kwargs.layout_seed``), if any."""
        seed = self.config.env_kwargs.get("layout_seed")
        return int(seed) if seed is not None else None

    @property
    def plots_dir(self) -> Path:
        return self.path / "plots"

    # ------------------------------------------------------------------------------------------------ files
    @cached_property
    def metrics(self) -> pd.DataFrame:
        """``metrics.csv`` as a DataFrame (empty when the file is missing or has no rows)."""
        path = self.path / "metrics.csv"
        if not path.is_file():
            return pd.DataFrame()
        columns, rows = read_metrics_csv(path)
        return pd.DataFrame(rows, columns=columns)

    @cached_property
    def summary(self) -> dict[str, Any]:
        """``summary.json`` as written by the current schema (:meth:`RunSummary.to_json_data`; older files are
        migrated); empty when missing."""
        summary = read_summary(self.path)
        return {} if summary is None else summary.to_json_data()

    def metric(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of a metrics column against ``global_step`` (``update`` if absent), rows with a value."""
        m = self.metrics
        if column not in m.columns:
            return np.zeros(0), np.zeros(0)
        xcol = "global_step" if "global_step" in m.columns else "update" if "update" in m.columns else None
        y = pd.to_numeric(m[column], errors="coerce").to_numpy(np.float64)
        x = (
            pd.to_numeric(m[xcol], errors="coerce").to_numpy(np.float64)
            if xcol
            else np.arange(len(y), dtype=float)
        )
        keep = np.isfinite(x) & np.isfinite(y)
        return x[keep], y[keep]

    @property
    def x_label(self) -> str:
        return "environment steps" if "global_step" in self.metrics.columns else "update"

    def shaping_updates(self) -> list[int]:
        """Update numbers that have a ``shaping/update_*.parquet`` file, ascending."""
        return _updates_in(self.path / "shaping")

    def credit_files(self) -> list[tuple[int, Path]]:
        """``(update, path)`` of every ``credit/update_*.parquet``, ascending."""
        return [(u, self.path / "credit" / f) for u, f in _files_in(self.path / "credit")]

    @property
    def layout(self) -> Layout | None:
        """The gridworld layout rebuilt from ``[run] env`` (+ ``layout_seed`` etc.); None for other envs."""
        return self.layout_for(self.layout_seed)

    @property
    def is_gridworld(self) -> bool:
        """Whether ``env`` names an rlcredit gridworld (a built-in id or a map file), so it has a layout."""
        env = self.env
        if not env or self.config.env_kind != "id":
            return False
        return is_map_path(env) or env.startswith(f"{NAMESPACE}/") or f"{NAMESPACE}/{env}" in builtin_envs()

    @property
    def procedural(self) -> bool:
        """Whether the env draws a new layout per episode (no ``layout_seed`` pinned)."""
        self.layout_for(None)
        return self._procedural and self.layout_seed is None

    def layout_for(self, layout_seed: int | None) -> Layout | None:
        """The layout with this layout seed (None or -1: the run's own); None when the env is not a gridworld."""
        if layout_seed is not None and layout_seed < 0:
            layout_seed = None
        cache = self._layouts
        if layout_seed in cache:
            return cache[layout_seed]
        if not self.is_gridworld:
            cache[layout_seed] = None
            return None
        kwargs = self.config.layout_kwargs
        if layout_seed is not None:
            kwargs["layout_seed"] = layout_seed
        try:
            env = make(env_source(self.path, self.config), **kwargs)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{self.path}: cannot rebuild env {self.env!r}: {e}") from None
        layout = getattr(env.unwrapped, "layout", None)
        spec = getattr(env.unwrapped, "map", None)
        self._procedural = self._procedural or bool(getattr(spec, "randomized", False))
        env.close()
        cache[layout_seed] = layout if isinstance(layout, Layout) else None
        return cache[layout_seed]

    def env_name(self) -> str:
        """Short env name for titles: ``"rlcredit/ButtonRoom-v0"`` -> ``"ButtonRoom-v0"``."""
        return self.env.rsplit("/", 1)[-1]

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, algo={self.algo!r}, env={self.env!r}, seed={self.seed})"


def _files_in(directory: Path) -> list[tuple[int, str]]:
    if not directory.is_dir():
        return []
    out = []
    for f in os.listdir(directory):
        m = _UPDATE_FILE.fullmatch(f)
        if m:
            out.append((int(m[1]), f))
    return sorted(out)


def _updates_in(directory: Path) -> list[int]:
    return [u for u, _ in _files_in(directory)]


def open_run(path: str | os.PathLike[str] | Run) -> Run:
    """Open a run directory for reading.

    Raises
    ------
    FileNotFoundError
        ``"run directory not found: PATH"``.
    ValueError
        ``"not a run directory (no config.toml): PATH"``, or a config without a ``[run]`` table.
    """
    if isinstance(path, Run):
        return path
    rd = RunDir.open(path)
    return Run(rd.path, read_config(rd))


def find_runs(exp_dir: str | os.PathLike[str]) -> list[Run]:
    """Every run directory below ``exp_dir`` (not descending into run directories), sorted by path.

    Raises
    ------
    FileNotFoundError
        If ``exp_dir`` does not exist.
    ValueError
        If it holds no run directory.
    """
    root = Path(exp_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"experiment directory not found: {root}")
    found: list[Run] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here != root and "config.toml" in filenames:
            try:
                found.append(open_run(here))
            except ValueError:
                pass
            else:
                dirnames.clear()
                continue
        dirnames[:] = sorted(d for d in dirnames if d not in ("plots", "credit", "shaping", "checkpoints"))
    if not found:
        raise ValueError(f"not a run or experiment directory (no run directories with a config.toml): {root}")
    return sorted(found, key=lambda r: str(r.path))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_SHORT = {"gae_lambda": "λ", "gamma": "γ", "baseline": "baseline", "clip_coef": "clip", "lr": "lr"}


def labels_for(runs: Sequence[Run]) -> dict[Path, str]:
    """A label per run: its ``algo``, plus the ``[config]`` values that differ between runs of that algo.

    Seeds never enter the label (runs differing only in seed share one label, i.e. one group).
    E.g. a GAE λ sweep gives ``"ppo λ=0.5"``, ``"ppo λ=0.95"``; REINFORCE beside it stays ``"reinforce"``.
    """
    agents = {r.path: _eval_agent(r) for r in runs}
    if all(agents.values()):
        return {p: str(a) for p, a in agents.items()}
    by_algo: dict[str, list[Run]] = {}
    for r in runs:
        by_algo.setdefault(r.algo, []).append(r)
    labels: dict[Path, str] = {}
    for algo, members in by_algo.items():
        configs = [r.trainer_config for r in members]
        keys = sorted({k for c in configs for k in c})
        varying = [
            k
            for k in keys
            if k != "seed" and len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1
        ]
        envs = {r.env for r in members}
        for r, c in zip(members, configs):
            parts = [algo] + [f"{_SHORT.get(k, k)}={_fmt(c.get(k, '-'))}" for k in varying]
            if r.layout_seed is not None and len({m.layout_seed for m in members}) > 1 and len(envs) == 1:
                parts.append(f"layout={r.layout_seed}")
            labels[r.path] = " ".join(parts)
    return labels


def _eval_agent(run: Run) -> str | None:
    """The contrast-table label an experiment gave this run (``eval.json`` ``agent``), if any."""
    path = run.path / "eval.json"
    if not path.is_file():
        return None
    try:
        agent = json.loads(path.read_text(encoding="utf-8")).get("agent")
    except (json.JSONDecodeError, AttributeError):
        return None
    return str(agent) if agent else None


# ------------------------------------------------------------------------------------------- parquet files


def read_shaping(
    run: Run, update: int | None = None, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """One ``shaping/update_*.parquet`` file, rows sorted by state (``update=None``: the last one).

    ``columns``: read only these (those absent from the file are skipped; ``state`` is always read).

    Raises
    ------
    FileNotFoundError
        When the run has no shaping file for that update.
    """
    updates = run.shaping_updates()
    if not updates:
        raise FileNotFoundError(f"no shaping files in {run.path / 'shaping'}")
    if update is None:
        update = updates[-1]
    path = run.path / "shaping" / f"update_{update:06d}.parquet"
    if not path.is_file():
        raise FileNotFoundError(
            f"no shaping file for update {update} in {run.path / 'shaping'} (have {_span(updates)})"
        )
    if columns is not None:
        names = set(pq.read_schema(path).names)
        columns = [c for c in dict.fromkeys(["state", *columns]) if c in names]
    df = read_parquet(path, columns=columns).to_pandas()  # page checksums verified
    return df.sort_values("state", kind="stable").reset_index(drop=True)


def _span(updates: list[int]) -> str:
    return f"{updates[0]}..{updates[-1]}" if len(updates) > 1 else str(updates[0])


def policy_columns(df: pd.DataFrame, which: str) -> np.ndarray:
    """``(S, A)`` float64 of ``{which}_0 .. {which}_{A-1}`` (``which`` = ``"pi_before"`` or ``"pi_after"``)."""
    cols = sorted(
        (c for c in df.columns if re.fullmatch(rf"{which}_\d+", c)), key=lambda c: int(c.rsplit("_", 1)[1])
    )
    if not cols:
        raise ValueError(f"shaping file has no {which}_* columns")
    return df[cols].to_numpy(np.float64)


def iter_credit(run: Run, columns: Sequence[str]) -> Iterator[tuple[int, pd.DataFrame]]:
    """``(update, frame)`` per credit file, reading only ``columns`` (files are read one at a time, so long
    runs need memory for one update only).

    Raises
    ------
    ValueError
        If a file was written with another credit schema version, or lacks a requested column.
    """
    for update, path in run.credit_files():
        yield update, read_credit_file(path, columns)  # older schema versions: added columns read as NaN


# ------------------------------------------------------------------------------------- planner references


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def planner_return(run: Run) -> float | None:
    """A planner run's expected return: ``summary.json`` ``exact/J`` (else its mean episode return ``return_mean``),
    else the mean ``return`` of its episodes in ``metrics.csv``; None if it has none."""
    for key in ("exact/J", "return_mean"):
        v = _finite(run.summary.get(key))
        if v is not None:
            return v
    m = run.metrics
    if "return" in m.columns and len(m):
        return float(pd.to_numeric(m["return"], errors="coerce").mean())
    return None


def planner_reach(run: Run, kind: str) -> float | None:
    """A planner run's probability of reaching a cell of ``kind`` (``"intended"``: the intended objective):
    ``summary.json`` ``exact/reach_<kind>`` (``exact/intended``), else its episodes' rate (``reach_rate/<kind>``,
    ``intended_rate``, or ``reached_<kind>`` / ``intended`` in ``metrics.csv``); None if it has none."""
    keys = (
        ("exact/intended", "intended_rate")
        if kind == "intended"
        else (f"exact/reach_{kind}", f"reach_rate/{kind}")
    )
    v = planner_reach_exact(run, kind)
    if v is not None:
        return v
    for key in keys[1:]:
        v = _finite(run.summary.get(key))
        if v is not None:
            return v
    m = run.metrics
    col = "intended" if kind == "intended" else f"reached_{kind}"
    if col in m.columns and len(m):
        return float(pd.to_numeric(m[col].astype(float), errors="coerce").mean())
    return None


def planner_reach_exact(run: Run, kind: str) -> float | None:
    """A planner run's exact probability of reaching ``kind`` on the env it planned for, computed from the
    model: ``summary.json`` ``exact/reach_<kind>`` (``exact/intended``), else the test-time evaluation's
    ``exact_reach_<kind>`` (``exact_intended``) on its own env in ``eval.json``; None when neither exists
    (e.g. MCTS, whose policy is only known through its episodes)."""
    key = "exact/intended" if kind == "intended" else f"exact/reach_{kind}"
    v = _finite(run.summary.get(key))
    if v is not None:
        return v
    path = run.path / "eval.json"
    if not path.is_file():
        return None
    try:
        ev = json.loads(path.read_text(encoding="utf-8"))
        own = ev["envs"][ev["train_env"]]
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    return _finite(own.get("exact_intended" if kind == "intended" else f"exact_reach_{kind}"))


def reach_kinds(runs: Sequence[Run]) -> list[str]:
    """Object kinds with an ``exact/reach_<kind>`` column in any run's metrics, in order of appearance."""
    kinds: list[str] = []
    for r in runs:
        for c in r.metrics.columns:
            if c.startswith("exact/reach_") and c[len("exact/reach_") :] not in kinds:
                kinds.append(c[len("exact/reach_") :])
    return kinds
