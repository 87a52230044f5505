"""The per-step credit record: one row for every environment step a trainer learned from.

A trainer's **credit** for step ``t`` is the scalar that multiplies ``grad log pi(a_t|s_t)`` in its update
(REINFORCE: ``G_t - b(s_t)``; PPO: ``A_t * ratio`` where the clipped objective passes gradient, 0 where it
is clipped). Every rollout's steps are written to ``RUN_DIR/credit/update_000012.parquet`` (one file per
update, snappy-compressed, schema version in the file metadata) so any question about what an update
reinforced can be answered later from files alone::

    df = read_credit(run_dir)                    # all updates, one DataFrame
    df.groupby("state").credit.mean()            # which states were credited, on average

Schema (version :data:`SCHEMA_VERSION`; the ``doc`` of each :class:`Column` in :data:`CREDIT_SCHEMA`
says what it holds): ``update, env, episode, t, state, action, reward, terminated, truncated, value,
return, advantage, advantage_norm, adv_scale, applied_weight, logp_old, logp_new, ratio, clipped, credit, grad_norm,
grad_cos, exact_q, exact_advantage, exact_advantage_boot``. ``credit * adv_scale`` is the applied gradient
weight in return units (:func:`credit_in_return_units`). Files of version 1 (before ``adv_scale``,
``applied_weight`` and ``exact_advantage_boot``) are still read, with those columns NaN.
"""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rlcredit.tracking import atomic_write_bytes
from rlcredit.tracking.io import CorruptFileError, fsync_dir, read_parquet

__all__ = [
    "CREDIT_SCHEMA",
    "SCHEMA_VERSION",
    "Column",
    "CreditRecorder",
    "DeferredFiles",
    "credit_in_return_units",
    "read_credit",
    "read_credit_file",
]

SCHEMA_VERSION = 2
"""Bumped whenever a column is added, removed, renamed, retyped or changes meaning."""

_READABLE = {1: ("adv_scale", "applied_weight", "exact_advantage_boot"), 2: ()}
"""Schema versions :func:`read_credit` reads, with the columns a version lacks (read as NaN)."""

_META_KEY = b"rlcredit.credit_schema_version"
_FILE = re.compile(r"update_(\d+)\.parquet")


@dataclass(frozen=True)
class Column:
    """One column of the credit record.

    Attributes
    ----------
    name : str
    dtype : numpy dtype name
        Chosen small: on disk a row takes well under 64 bytes (about 25 with snappy).
    doc : str
        What the column holds, for each trainer where they differ.
    """

    name: str
    dtype: str
    doc: str

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith("float")


CREDIT_SCHEMA: tuple[Column, ...] = (
    Column(
        "update", "int32", "Update number (1-based) whose rollout holds the step and whose update used it."
    ),
    Column("env", "int16", "Index of the sub-environment in the batched env."),
    Column("episode", "int32", "Episode number within this sub-environment (0-based, counted over the run)."),
    Column("t", "int32", "Time step within the episode (0 = first action)."),
    Column(
        "state",
        "int32",
        "Exact-model state index of s_t (gridworlds; Discrete observations: the obs); -1 unknown.",
    ),
    Column("action", "int16", "Action a_t, as an index 0..A-1."),
    Column("reward", "float32", "Reward r_t received for a_t."),
    Column("terminated", "bool", "The episode ended at a terminal state after this step (no bootstrap)."),
    Column("truncated", "bool", "The episode was cut after this step (time limit); not a terminal state."),
    Column(
        "value",
        "float32",
        "Baseline b(s_t) subtracted from the return: the critic V(s_t) at collection (PPO, REINFORCE "
        "baseline='value'), the batch mean return (baseline='batch_mean'), 0 (baseline='none').",
    ),
    Column(
        "return",
        "float32",
        "Return target: PPO the GAE lambda-return A_t + V(s_t); REINFORCE the discounted Monte Carlo "
        "return-to-go G_t of the (complete) episode.",
    ),
    Column("advantage", "float32", "return - value: PPO's GAE advantage A_t, REINFORCE's G_t - b(s_t)."),
    Column(
        "advantage_norm",
        "float32",
        "The advantage as it entered the loss: normalized to zero mean, unit std (PPO per minibatch, "
        "REINFORCE per batch) when norm_adv is on, else equal to advantage.",
    ),
    Column(
        "adv_scale",
        "float32",
        "The positive scale the advantage was divided by to give advantage_norm: the std (+1e-8) of the "
        "step's minibatch in PPO's final epoch (REINFORCE: of the batch) when norm_adv is on, else 1. "
        "credit * adv_scale is the final epoch's gradient weight in return units; NaN when not recorded.",
    ),
    Column(
        "applied_weight",
        "float32",
        "The weight of grad log pi(a_t|s_t) summed over all the update's gradient steps, in return units: "
        "PPO sum over epochs of (A_t - minibatch mean) * ratio (0 in an epoch where clipped); REINFORCE "
        "G_t - b(s_t) minus the batch mean when norm_adv is on. NaN when not recorded.",
    ),
    Column("logp_old", "float32", "log pi_old(a_t|s_t) of the policy that collected the rollout."),
    Column("logp_new", "float32", "log pi_new(a_t|s_t) after the update."),
    Column(
        "ratio",
        "float32",
        "pi_theta(a_t|s_t) / pi_old(a_t|s_t) at which the gradient was taken: PPO the final epoch's "
        "ratio (before that minibatch's step); REINFORCE 1 (one gradient step at pi_old).",
    ),
    Column(
        "clipped",
        "bool",
        "PPO's clipped objective passed no gradient (A>0 and ratio>1+clip, or A<0 and ratio<1-clip) "
        "in the final epoch; always False for REINFORCE.",
    ),
    Column(
        "credit",
        "float32",
        "The scalar multiplying grad log pi(a_t|s_t) in the update: advantage_norm * ratio (0 where "
        "clipped) for PPO, advantage_norm for REINFORCE (the 1/batch averaging factor is left out).",
    ),
    Column(
        "grad_norm",
        "float32",
        "L2 norm of this step's policy gradient credit * grad log pi(a_t|s_t) over the actor's "
        "parameters at pi_old; computed on a random subsample of grad_samples steps, NaN elsewhere.",
    ),
    Column(
        "grad_cos",
        "float32",
        "Cosine between this step's policy gradient and the actor's actual parameter change in the update "
        "(theta_new - theta_old): > 0 means the step pushed the way the policy moved. NaN off the subsample.",
    ),
    Column(
        "exact_q", "float32", "Q^pi_old(s_t, a_t) from the exact model (time-indexed); NaN without a model."
    ),
    Column(
        "exact_advantage",
        "float32",
        "A^pi_old_t(s_t, a_t) = Q_t - V_t from the exact model, finite horizon and time-indexed (the "
        "episodes actually run); NaN without a model.",
    ),
    Column(
        "exact_advantage_boot",
        "float32",
        "A^pi_old(s_t, a_t) of the stationary infinite-horizon discounted values: the target of a critic "
        "that cannot see t and bootstraps at truncation; NaN without a model or with gamma = 1.",
    ),
)

_COLUMNS = {c.name: c for c in CREDIT_SCHEMA}
_DICTIONARY = [c.name for c in CREDIT_SCHEMA if not c.is_float] + ["reward"]
_STATISTICS = ["update", "env", "episode", "t", "state", "action"]
_REQUIRED = ("update", "env", "episode", "t", "state", "action", "reward", "terminated", "truncated")


@functools.cache
def arrow_schema() -> pa.Schema:
    """The pyarrow schema of a credit file, with the schema version in its metadata."""
    fields = [pa.field(c.name, pa.from_numpy_dtype(np.dtype(c.dtype)), nullable=False) for c in CREDIT_SCHEMA]
    return pa.schema(fields, metadata={_META_KEY: str(SCHEMA_VERSION).encode()})


class DeferredFiles:
    """Atomic file writes whose ``fsync`` can wait for a later :meth:`sync`.

    Every write goes to a temporary file in the same directory and is renamed over the target, so a
    killed process never leaves a half-written file. With ``fsync=True`` each write is also flushed to
    disk at once (:func:`rlcredit.tracking.atomic_write_bytes`); with ``fsync=False`` the files are only
    remembered, and :meth:`sync` makes all of them (and their renames) durable in one go. The trainers
    sync before every checkpoint: what a checkpoint promises survives a power loss, files written after
    it are rewritten by a resumed run anyway, and an update costs no disk flush.
    """

    def __init__(self, *, fsync: bool = True) -> None:
        self.fsync = fsync
        self._pending: dict[Path, None] = {}

    def write(self, path: Path, data: bytes) -> None:
        """Replace ``path`` with ``data`` atomically."""
        if self.fsync:
            atomic_write_bytes(path, data)
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._pending[path] = None

    def forget(self, path: Path) -> None:
        """``path`` was deleted: nothing to sync."""
        self._pending.pop(path, None)

    def sync(self) -> None:
        """``fsync`` every file written since the last sync, then their directories."""
        dirs: dict[Path, None] = {}
        for path in self._pending:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            dirs[path.parent] = None
        for d in dirs:
            fsync_dir(d)
        self._pending.clear()


class CreditRecorder:
    """Buffer credit rows for one update and write them as ``DIR/update_000012.parquet``.

    Parameters
    ----------
    directory : path-like
        Usually ``RunDir.credit_dir``; created if missing.
    compression : str
        Parquet codec. Snappy: writing an update of 8192 steps takes about 2 ms of CPU against 3 ms for
        zstd, for files about a third larger (both far under 64 bytes a step).
    fsync : bool
        Flush every file to disk as it is written; False leaves that to :meth:`sync` (see
        :class:`DeferredFiles`). Writes are atomic either way.

    Examples
    --------
    >>> rec = CreditRecorder(run.credit_dir)                 # doctest: +SKIP
    >>> rec.add(update=np.full(n, 3), env=..., credit=...)   # any number of times
    >>> rec.flush(3)                                         # -> credit/update_000003.parquet
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, compression: str = "snappy", fsync: bool = True
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.compression = compression
        self._chunks: list[dict[str, np.ndarray]] = []
        self._files = DeferredFiles(fsync=fsync)

    def path(self, update: int) -> Path:
        """The file holding update ``update``'s rows."""
        return self.directory / f"update_{update:06d}.parquet"

    def add(self, columns: Mapping[str, np.ndarray] | None = None, **kw: np.ndarray) -> int:
        """Buffer rows given as equal-length 1-D arrays, one per column.

        The integer and bool columns ``update, env, episode, t, state, action, reward, terminated,
        truncated`` are required; a float column that is not given is NaN, ``clipped`` False. Scalars are
        broadcast.

        Returns
        -------
        int
            Number of rows added.

        Raises
        ------
        KeyError
            For a column not in the schema, or a missing required column.
        ValueError
            If the arrays' lengths differ.
        """
        data = {**(columns or {}), **kw}
        unknown = set(data) - set(_COLUMNS)
        if unknown:
            raise KeyError(f"unknown credit columns {sorted(unknown)}; schema: {', '.join(_COLUMNS)}")
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise KeyError(f"missing required credit columns {missing}")
        n = max(np.size(v) for v in data.values())
        chunk: dict[str, np.ndarray] = {}
        for c in CREDIT_SCHEMA:
            if c.name in data:
                arr = np.asarray(data[c.name])
                if arr.ndim == 0:
                    arr = np.full(n, arr)
                arr = arr.reshape(-1)
                if arr.shape[0] != n:
                    raise ValueError(f"credit column {c.name!r} has {arr.shape[0]} rows, expected {n}")
                chunk[c.name] = arr.astype(c.dtype, copy=False)
            else:
                chunk[c.name] = np.full(n, np.nan if c.is_float else 0, dtype=c.dtype)
        self._chunks.append(chunk)
        return n

    def __len__(self) -> int:
        return sum(len(ch["update"]) for ch in self._chunks)

    def table(self) -> pa.Table:
        """The buffered rows as a pyarrow Table with :func:`arrow_schema` (the buffer is kept)."""
        if len(self._chunks) == 1:
            cols = [self._chunks[0][c.name] for c in CREDIT_SCHEMA]
        elif self._chunks:
            cols = [np.concatenate([ch[c.name] for ch in self._chunks]) for c in CREDIT_SCHEMA]
        else:
            cols = [np.zeros(0, c.dtype) for c in CREDIT_SCHEMA]
        return pa.Table.from_arrays([pa.array(c) for c in cols], schema=arrow_schema())

    def flush(self, update: int) -> Path | None:
        """Write the buffered rows to :meth:`path` ``(update)`` atomically and clear the buffer.

        Returns the file written, or None when nothing was buffered.
        """
        if not self._chunks:
            return None
        sink = io.BytesIO()
        # Dictionary-encode the few-valued columns only: on float columns it costs time and saves nothing.
        # Statistics (min/max per row group, for filtering readers) only where a filter makes sense.
        pq.write_table(
            self.table(),
            sink,
            compression=self.compression,
            use_dictionary=_DICTIONARY,
            write_statistics=_STATISTICS,
            write_page_checksum=True,  # verified on read: a flipped byte is an error, not a plotted value
        )
        self._chunks.clear()
        path = self.path(update)
        self._files.write(path, sink.getvalue())
        return path

    def sync(self) -> None:
        """Make every file written so far durable (a no-op with ``fsync=True``)."""
        self._files.sync()

    def discard_after(self, update: int) -> None:
        """Delete files of updates after ``update`` (a resumed run rewrites them)."""
        for p in self.directory.glob("update_*.parquet"):
            m = _FILE.fullmatch(p.name)
            if m and int(m[1]) > update:
                p.unlink()
                self._files.forget(p)


def read_credit(path: str | os.PathLike[str], *, updates: range | list[int] | None = None) -> pd.DataFrame:
    """Read credit records: a run directory, its ``credit/`` directory, or one parquet file.

    Parameters
    ----------
    path : path-like
    updates : optional
        Only these update numbers (when reading a directory).

    Returns
    -------
    DataFrame with the columns of :data:`CREDIT_SCHEMA` in schema dtypes, rows in (update, env, t) order of
    writing.

    Raises
    ------
    ValueError
        If a file was written with another schema version.
    """
    p = Path(path)
    if p.is_dir() and (p / "credit").is_dir():
        p = p / "credit"
    if p.is_dir():
        numbered = {f: m for f in p.glob("update_*.parquet") if (m := _FILE.fullmatch(f.name))}
        files = sorted(numbered)
        if updates is not None:
            wanted = set(updates)
            files = [f for f in files if int(numbered[f][1]) in wanted]
    else:
        files = [p]
    tables = []
    for f in files:
        t = read_parquet(f)
        tables.append(_upgrade(f, t))
    if not tables:
        return pd.DataFrame({c.name: np.zeros(0, c.dtype) for c in CREDIT_SCHEMA})
    return pa.concat_tables(tables).to_pandas()


def file_schema_version(path: Path, metadata: Mapping[bytes, bytes] | None) -> int:
    """The schema version of a credit file from its metadata.

    Raises
    ------
    ValueError
        Naming the file, for a version this rlcredit cannot read (newer, unknown or missing).
    """
    raw = (metadata or {}).get(_META_KEY)
    try:
        version = int(raw.decode()) if raw else None
    except ValueError:
        version = None
    if version not in _READABLE:
        got = raw.decode(errors="replace") if raw else "none"
        raise ValueError(
            f"{path}: credit schema version {got}, this rlcredit reads {', '.join(map(str, sorted(_READABLE)))}"
        )
    return version


def read_credit_file(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One credit file as a DataFrame, only ``columns`` (default all), in the current schema.

    Raises
    ------
    ValueError
        Naming the file, for an unreadable schema version or a column not in the schema.
    """
    p = Path(path)
    wanted = [c.name for c in CREDIT_SCHEMA] if columns is None else list(columns)
    unknown = [c for c in wanted if c not in _COLUMNS]
    if unknown:
        raise ValueError(f"{p}: no credit columns {unknown}; schema: {', '.join(_COLUMNS)}")
    try:
        metadata = pq.read_schema(p).metadata
    except (OSError, pa.ArrowException) as e:
        raise CorruptFileError(f"{p}: damaged Parquet file ({str(e).strip().splitlines()[0]})") from None
    version = file_schema_version(p, metadata)
    missing = set(_READABLE[version])
    t = read_parquet(p, columns=[c for c in wanted if c not in missing])
    n = t.num_rows
    df = t.to_pandas()
    for name in wanted:
        if name in missing:
            df[name] = np.full(n, np.nan, dtype=_COLUMNS[name].dtype)
    return df[wanted]


def _upgrade(path: Path, t: pa.Table) -> pa.Table:
    """A credit table of any readable version with the columns of the current schema (missing ones NaN)."""
    version = file_schema_version(path, t.schema.metadata)
    for name in _READABLE[version]:
        col = _COLUMNS[name]
        t = t.append_column(name, pa.array(np.full(t.num_rows, np.nan, dtype=col.dtype)))
    return t.select([c.name for c in CREDIT_SCHEMA]).replace_schema_metadata(arrow_schema().metadata)


def credit_in_return_units(frame: Mapping[str, np.ndarray] | pd.DataFrame) -> np.ndarray:
    """The gradient weight each step actually received, in return units: ``credit * adv_scale``.

    PPO: ``(A_t - mean_mb) * ratio_t`` (0 where clipped), REINFORCE ``G_t - b(s_t)`` minus the batch mean
    (when ``norm_adv`` is on). Its sign is the sign of the weight ``grad log pi(a_t|s_t)`` got in the update;
    unlike ``credit`` itself, a converged policy's near-zero advantages stay near zero instead of being
    scaled up to unit size by the normalization. NaN where ``adv_scale`` was not recorded (version 1 files).
    """
    credit = np.asarray(frame["credit"], dtype=np.float64)
    scale = np.asarray(frame["adv_scale"], dtype=np.float64)
    return credit * scale
