"""The contrast table: every agent (trainer or planner) on every env variant, aggregated over seeds.

:func:`contrast_table` has one row per agent x training env x test variant and, for every figure of
:mod:`rlcredit.experiments.evaluate` (``return``, ``regret``, ``success``, ``reach_<kind>``, ``region_<name>``,
``exact_*``, plus ``steps`` and ``wall_time``), the mean over seeds and its 95% bootstrap CI (``return``,
``return_ci_low``, ``return_ci_high``), and with five or more seeds the interquartile mean (``return_iqm``).
``optimal`` is the best expected return of the test variant (backward induction), the same for every agent.

Files in the experiment directory:

- ``contrast.csv``: the spec's metrics in long form, one row per agent x env x metric, with the columns
  :mod:`rlcredit.plots.contrast` draws bars from (``agent, env, metric, mean, ci_low, ci_high, n, kind,
  level``; plus ``algo, train_env, iqm, std, optimal``);
- ``contrast.md``: the spec's metrics (and steps, wall time) as a markdown table, ``mean [interval]`` (a 95%
  bootstrap CI with five or more seeds, the range over the seeds with fewer: :func:`~rlcredit.experiments.stats.interval`);
- ``evals.csv``: the raw per-seed figures, one row per piece x test variant (every figure).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlcredit.experiments.directory import EVAL_FILE
from rlcredit.experiments.spec import ExperimentSpec, expand_pieces
from rlcredit.experiments.stats import IQM_MIN_SEEDS, aggregate, interval_kind
from rlcredit.runs.metrics import metric_info
from rlcredit.tracking import atomic_write_text

__all__ = [
    "build_contrast",
    "collect_evals",
    "contrast_table",
    "headline",
    "long_table",
    "markdown_table",
    "table_cells",
    "write_contrast",
]

KEYS = ["agent", "kind", "algo", "train_env", "env"]
RATE_PREFIXES = ("success", "reach_", "region_", "exact_reach_", "exact_intended")


def collect_evals(exp_dir: str | os.PathLike[str], spec: ExperimentSpec) -> pd.DataFrame:
    """Long table of every finished piece's ``eval.json``: one row per piece x test variant.

    Columns: ``piece, agent, kind, algo, seed, train_env, env`` (the test variant's label), ``steps``,
    ``wall_time``, then every figure. Pieces of the spec are read in piece order; unfinished ones are absent.
    """

    rows = []
    for piece in expand_pieces(spec, exp_dir):
        path = Path(exp_dir) / piece.name / EVAL_FILE
        if not path.is_file():
            continue
        try:
            record = read_eval(path)
        except ValueError:
            continue  # reported by piece_problems
        for env_label, figures in record["envs"].items():
            row = {
                "piece": record["piece"],
                "agent": record["agent"],
                "kind": record["kind"],
                "algo": record["algo"],
                "seed": record["seed"],
                "train_env": record["train_env"],
                "env": env_label,
                "steps": record["steps"],
                "wall_time": record["wall_time"],
            }
            row.update(
                {k: v for k, v in figures.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            )
            rows.append(row)
    return pd.DataFrame(rows)


_EVAL_KEYS = ("piece", "agent", "kind", "algo", "seed", "train_env", "steps", "wall_time", "envs")


def read_eval(path: Path) -> dict[str, Any]:
    """A piece's ``eval.json``, checked.

    Raises
    ------
    ValueError
        ``"PATH: unreadable (<why>)"`` for a file that is not JSON or lacks a key the contrast table needs.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable ({e})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: unreadable (not a JSON object)")
    missing = [k for k in _EVAL_KEYS if k not in record]
    if missing or not isinstance(record["envs"], dict):
        raise ValueError(f"{path}: unreadable (no {missing[0] if missing else 'envs table'!r})")
    return record


def piece_problems(exp_dir: str | os.PathLike[str], spec: ExperimentSpec) -> list[str]:
    """One line per piece of the spec the contrast table lacks: unfinished (no ``eval.json``) or unreadable."""
    out = []
    for piece in expand_pieces(spec, exp_dir):
        path = Path(exp_dir) / piece.name / EVAL_FILE
        if not path.is_file():
            what = "is missing" if not path.parent.is_dir() else f"has not finished (no {EVAL_FILE})"
            out.append(f"{path.parent}: piece {piece.name} {what}")
            continue
        try:
            read_eval(path)
        except ValueError as e:
            out.append(str(e))
    return out


def _metric_columns(evals: pd.DataFrame) -> list[str]:
    skip = {*KEYS, "piece", "seed", "return_std", "optimal"}
    return [c for c in evals.columns if c not in skip and pd.api.types.is_numeric_dtype(evals[c])]


def contrast_table(evals: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Aggregate the long table over seeds: one row per agent x training env x test variant.

    Parameters
    ----------
    evals : DataFrame
        From :func:`collect_evals`.
    confidence : float
        Of the bootstrap intervals.

    Returns
    -------
    DataFrame
        ``agent, kind, algo, train_env, env, seeds, optimal``, then for each metric ``M``: ``M``, ``M_ci_low``,
        ``M_ci_high``, and ``M_iqm`` when some row has at least five seeds. Rows keep the order agents first
        appear in ``evals``.
    """
    if evals.empty:
        return pd.DataFrame(columns=[*KEYS, "seeds"])
    metrics = _metric_columns(evals)
    with_iqm = evals.groupby(KEYS, sort=False)["seed"].nunique().max() >= IQM_MIN_SEEDS
    rows = []
    for key, group in evals.groupby(KEYS, sort=False):
        row: dict[str, Any] = dict(zip(KEYS, key))
        row["seeds"] = int(group["seed"].nunique())
        row["optimal"] = float(group["optimal"].mean()) if "optimal" in group else math.nan
        for m in metrics:
            agg = aggregate(group[m].to_numpy(dtype=np.float64), confidence=confidence)
            row[m] = agg.mean
            row[f"{m}_ci_low"] = agg.ci_low
            row[f"{m}_ci_high"] = agg.ci_high
            row[f"{m}_std"] = agg.std
            if with_iqm:
                row[f"{m}_iqm"] = agg.iqm
        rows.append(row)
    return pd.DataFrame(rows)


def long_table(table: pd.DataFrame, metrics: Sequence[str], *, confidence: float = 0.95) -> pd.DataFrame:
    """The contrast table in long form for ``metrics``: one row per agent x env x metric.

    Columns ``agent, kind, algo, train_env, env, metric, mean, ci_low, ci_high, iqm, std, n, level, optimal``.
    ``env`` is the test variant's label (``TRAIN → TEST`` when an experiment has several training envs and the
    two differ). Where there is no interval (one seed) ``ci_low = ci_high = mean``; a metric an agent does not
    have (exact figures of MCTS) has no row.
    """
    multi_train = table["train_env"].nunique() > 1 if not table.empty else False
    rows = []
    for _, r in table.iterrows():
        for m in metrics:
            col = "optimal" if m == "optimal" else m
            if col not in r or not math.isfinite(r[col]):
                continue
            mean = float(r[col])
            low, high = r.get(f"{col}_ci_low", math.nan), r.get(f"{col}_ci_high", math.nan)
            if not (math.isfinite(low) and math.isfinite(high)):
                low = high = mean
            rows.append(
                {
                    "agent": r["agent"],
                    "kind": r["kind"],
                    "algo": r["algo"],
                    "train_env": r["train_env"],
                    "env": _env_cell(r, multi_train),
                    "metric": m,
                    "mean": mean,
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "iqm": r.get(f"{col}_iqm", math.nan),
                    "std": r.get(f"{col}_std", math.nan),
                    "n": int(r["seeds"]),
                    "level": confidence,
                    "optimal": r["optimal"],
                }
            )
    return pd.DataFrame(rows)


def build_contrast(
    exp_dir: str | os.PathLike[str], spec: ExperimentSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long table of evaluations, contrast table) of an experiment directory."""
    evals = collect_evals(exp_dir, spec)
    return evals, contrast_table(evals)


# ------------------------------------------------------------------------------------------------- writing


def _is_rate(metric: str) -> bool:
    return metric.startswith(RATE_PREFIXES)


def _num(v: float, metric: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if _is_rate(metric):
        if v in (0.0, 1.0) or 0.01 <= v <= 0.99:
            return f"{v:.0%}"
        if v > 0.99:
            return f"{v:.1%}" if v < 0.9995 else ">99.9%"
        return f"{v:.1e}"  # rare events: the exact probability of pressing an undiscovered button
    if metric == "steps":
        return f"{v / 1e6:.2g}M" if v >= 1e6 else f"{v / 1e3:.3g}k" if v >= 1e3 else f"{v:.0f}"
    if metric == "wall_time":
        return (
            "<0.01 s"
            if v < 0.01
            else f"{v:.2g} s"
            if v < 10
            else f"{v:.0f} s"
            if v < 100
            else f"{v / 60:.1f} min"
        )
    return f"{v:+.2f}" if metric in ("return", "regret", "exact_J") else f"{v:.3g}"


def _cell(row: pd.Series, metric: str) -> str:
    if metric == "optimal":
        return _num(row.get("optimal", math.nan), "return")
    if metric not in row:
        return "–"
    text = _num(row[metric], metric)
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if metric in ("steps", "wall_time") or low is None or not math.isfinite(low):
        return text
    lo, hi = _num(low, metric), _num(high, metric)
    return text if lo == hi else f"{text} [{lo}, {hi}]"


def _env_cell(row: pd.Series, multi_train: bool) -> str:
    if multi_train and row["train_env"] != row["env"]:
        return f"{row['train_env']} → {row['env']}"
    return str(row["env"])


def table_cells(table: pd.DataFrame, metrics: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the readable contrast table: agent, env, seeds, the chosen metrics (``mean [95% CI]``),
    steps and wall time; an IQM column after ``return`` when some agent has five or more seeds."""
    multi_train = table["train_env"].nunique() > 1
    cols = list(dict.fromkeys([*metrics, "steps", "wall_time"]))
    has_iqm = "return_iqm" in table.columns and table["return_iqm"].notna().any()
    header = ["agent", "env", "seeds"]
    for m in cols:
        header.append(
            metric_info(m).header + (f" [{interval_kind(table['seeds'])}]" if m == "return" else "")
        )
        if m == "return" and has_iqm:
            header.append("return IQM")
    rows = []
    for _, row in table.iterrows():
        cells = [str(row["agent"]), _env_cell(row, multi_train), str(row["seeds"])]
        for m in cols:
            cells.append(_cell(row, m))
            if m == "return" and has_iqm:
                cells.append(_num(row.get("return_iqm", math.nan), "return"))
        rows.append(cells)
    return header, rows


def markdown_table(table: pd.DataFrame, metrics: Sequence[str]) -> str:
    """The contrast table as GitHub markdown (see :func:`table_cells`)."""
    header, rows = table_cells(table, metrics)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * 3 + ["--:"] * (len(header) - 3)) + "|",
    ]
    lines += ["| " + " | ".join([f"`{r[0]}`", *r[1:]]) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_contrast(
    exp_dir: str | os.PathLike[str], spec: ExperimentSpec, evals: pd.DataFrame, table: pd.DataFrame
) -> None:
    """Write ``contrast.csv``, ``contrast.md`` and ``evals.csv`` atomically (see the module docstring)."""
    exp_dir = Path(exp_dir)
    atomic_write_text(exp_dir / "evals.csv", evals.to_csv(index=False, float_format="%.6g"))
    long = long_table(table, spec.metrics)
    atomic_write_text(exp_dir / "contrast.csv", long.to_csv(index=False, float_format="%.6g"))
    text = f"# {spec.name}\n\n{spec.question}\n\n" + markdown_table(table, spec.metrics)
    atomic_write_text(exp_dir / "contrast.md", text)


def headline(table: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    """One plain-text line per contrast row (the end of ``rlcredit run``'s output)."""
    multi_train = table["train_env"].nunique() > 1
    agent_w = max(len(str(a)) for a in table["agent"])
    env_w = max(len(_env_cell(r, multi_train)) for _, r in table.iterrows())
    lines = []
    for _, row in table.iterrows():
        bits = []
        for m in metrics:
            if m in ("steps", "wall_time"):
                continue
            if m == "optimal" or m in row:
                bits.append(f"{metric_info(m).header} {_cell(row, m)}")
        lines.append(
            f"  {row['agent']:<{agent_w}}  {_env_cell(row, multi_train):<{env_w}}  " + "  ".join(bits)
        )
    return lines
