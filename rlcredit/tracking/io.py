"""Atomic file writes: a reader sees either the old file or the complete new one, never a half-written file.

Every writer here follows the same protocol: write to a temporary file in the *same directory* as the target
(so the final rename never crosses a filesystem), flush and ``fsync`` it, ``os.replace`` it over the target,
then ``fsync`` the directory so the rename itself survives a power loss. If anything fails before the
rename, the temporary file is removed and the target is untouched.

Inside :func:`batched_dir_sync` the last step is deferred: each directory written to is fsynced once, when
:func:`sync_dirs` is called or the block ends, instead of once per file. The files themselves are still
fsynced before their rename, so every file is still either the old or the complete new one; what a power
loss inside the block can undo is which renames happened, never the content of a file.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "CorruptFileError",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "batched_dir_sync",
    "leftover_temp_files",
    "pid_alive",
    "read_parquet",
    "sync_dirs",
    "temp_prefix",
    "to_jsonable",
    "write_parquet",
]

# Temporary files are created with mode 0600; give the final file the permissions a plain open() would.
_UMASK = os.umask(0)
os.umask(_UMASK)


def temp_prefix(name: str, pid: int | None = None) -> str:
    """The name prefix of this process's temporary files for target ``name``: ``.NAME.PID.``.

    The writer's pid in the name lets a cleanup tell its own (or a dead process's) leftovers from the
    files another live process is still writing (:func:`leftover_temp_files`).
    """
    return f".{name}.{os.getpid() if pid is None else pid}."


def leftover_temp_files(directory: Path, pattern: str = "*") -> list[Path]:
    """Temporary files in ``directory`` left by this process or by processes that no longer exist.

    ``pattern`` matches the target names (e.g. ``"ckpt_*"``). Files whose writer is another live process
    are never returned; neither are names without a writer pid.
    """
    out = []
    for p in Path(directory).glob(f".{pattern}.tmp"):
        # .NAME.PID.RANDOM.tmp: NAME may contain dots, RANDOM (from mkstemp) never does.
        parts = p.name.split(".")
        pid = int(parts[-3]) if len(parts) >= 5 and parts[-3].isdigit() else None
        if pid is not None and (pid == os.getpid() or not pid_alive(pid)):
            out.append(p)
    return out


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (one owned by another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PENDING_DIRS: contextvars.ContextVar[dict[Path, None] | None] = contextvars.ContextVar(
    "rlcredit_pending_dir_syncs", default=None
)


@contextlib.contextmanager
def batched_dir_sync() -> Iterator[None]:
    """Within the block, atomic writes fsync their directory once per directory, at :func:`sync_dirs` or exit.

    For many small files written together (a planner's run directory: config, metrics, summary, eval),
    where one directory fsync can persist all their renames. Each file is still fsynced before its rename.
    Call :func:`sync_dirs` before writing a file that declares the others complete (a completion marker),
    so the marker can never be on disk without them. The pending directories are synced at exit even when
    the block raises. Nested blocks share the outermost one.
    """
    if _PENDING_DIRS.get() is not None:
        yield
        return
    token = _PENDING_DIRS.set({})
    try:
        yield
    finally:
        try:
            sync_dirs()
        finally:
            _PENDING_DIRS.reset(token)


def sync_dirs() -> None:
    """Fsync now every directory an atomic write in the current :func:`batched_dir_sync` renamed into."""
    pending = _PENDING_DIRS.get()
    if not pending:
        return
    dirs = list(pending)
    pending.clear()
    for d in dirs:
        _fsync_dir_now(d)


def fsync_dir(directory: Path) -> None:
    """Persist a rename in ``directory`` (no-op where directories cannot be opened, e.g. Windows).

    Inside :func:`batched_dir_sync` the directory is only noted, and synced once later.
    """
    pending = _PENDING_DIRS.get()
    if pending is not None:
        pending[Path(directory)] = None
        return
    _fsync_dir_now(directory)


def _fsync_dir_now(directory: Path) -> None:
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:
        return
    try:
        fd = os.open(directory, os.O_RDONLY | flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None
) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` atomically when the ``with`` block succeeds.

    Parameters
    ----------
    path : path-like
        The final file. Its directory must exist.
    mode : {"wb", "w"}
        Binary or text mode.
    encoding : str, optional
        Text encoding for mode ``"w"`` (default utf-8).

    Yields
    ------
    file object
        Write to it; on normal exit it is flushed, fsynced and renamed over ``path``. If the block raises,
        the temporary file is deleted, ``path`` keeps its old content and the exception propagates.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open mode must be 'wb' or 'w'; got {mode!r}")
    path = Path(path)
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=directory)
    except OSError as e:  # named after the file being written, not the temporary name
        raise OSError(e.errno, e.strerror, os.fspath(path)) from e
    tmp = Path(tmp_name)
    try:
        f: IO[Any]
        if mode == "w":
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline="")
        else:
            f = os.fdopen(fd, "wb")
        with f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            # write() and fsync() on a full disk say ENOSPC but not where: name the file.
            raise OSError(e.errno, e.strerror, os.fspath(path)) from e
        raise
    fsync_dir(directory)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see module docstring)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically; newlines are written as given (no platform translation)."""
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


def to_jsonable(obj: Any, *, name: str = "value") -> Any:
    """Convert ``obj`` to plain JSON types: numpy scalars/arrays, tuples, paths and dataclasses included.

    Raises
    ------
    TypeError
        For values JSON cannot represent, naming where in ``obj`` they are (``name`` is the root's name).
    """
    return _jsonable(obj, name)


def _jsonable(obj: Any, where: str) -> Any:
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), where)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a non-string key {k!r}; JSON keys must be strings")
            out[k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, list | tuple):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"{where} has type {type(obj).__name__}, which cannot be stored as JSON")


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON atomically (via :func:`to_jsonable`).

    Non-finite floats are written as the ``NaN``/``Infinity`` tokens Python's ``json`` reads back.
    """
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=True)
    atomic_write_text(path, text + "\n")


def write_parquet(
    df: pd.DataFrame | pa.Table, path: str | os.PathLike[str], *, compression: str = "zstd"
) -> None:
    """Write a DataFrame (or pyarrow Table) as Parquet atomically.

    Column dtypes are kept as they are (``int8``, ``float32``, ``category``, … stay small); a non-default
    index is stored the way ``DataFrame.to_parquet`` stores it, so ``pd.read_parquet`` returns an equal frame.

    Parameters
    ----------
    df : pandas.DataFrame or pyarrow.Table
    path : path-like
        Target file; its directory must exist.
    compression : str
        Parquet codec (default ``"zstd"``).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=None)
    with atomic_open(path, "wb") as f:
        pq.write_table(table, f, compression=compression, write_page_checksum=True)


class CorruptFileError(ValueError):
    """A data file is damaged or unreadable; the message is one line naming it: ``"PATH: <why>"``."""


def read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet file, verifying the page checksums written by :func:`write_parquet` and the recorders.

    Files written without checksums (older runs) are read as they are.

    Raises
    ------
    CorruptFileError
        ``"PATH: damaged Parquet file (<why>)"`` for a truncated or garbled file, a checksum mismatch, or a
        missing column; ``FileNotFoundError`` when the file does not exist.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns, page_checksum_verification=True)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException, ValueError, KeyError) as e:
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CorruptFileError(f"{os.fspath(path)}: damaged Parquet file ({why})") from None
