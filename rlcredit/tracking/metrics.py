"""``metrics.csv``: one row per update, rewritten atomically on every log so it is always complete."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlcredit.tracking.io import atomic_write_text

__all__ = ["MetricsWriter", "read_metrics_csv"]

Scalar = bool | int | float | str

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf)")


class MetricsWriter:
    """Keep metric rows in memory and mirror them to a CSV file.

    Every :meth:`log` rewrites the whole file atomically (the file has one row per update, so it stays
    small), so a crash leaves either the previous or the new complete file. If the file already exists
    its rows are loaded first, which is how a resumed run continues its metrics (see :meth:`truncate`).

    Values are written so that reading them back gives exactly the logged values: floats with ``repr``
    (shortest round-trip form, ``nan``/``inf`` included), ints as digits, bools as ``True``/``False``,
    strings as given. A column a row does not have is written empty and is absent from that row when
    reloaded. A string that looks like a number reloads as that number.

    Parameters
    ----------
    path : path-like
        The CSV file (its directory must exist).

    Examples
    --------
    >>> m = MetricsWriter(run.metrics_path)          # doctest: +SKIP
    >>> m.log({"update": 1, "global_step": 2048, "charts/episodic_return": 0.31})   # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._rows: list[dict[str, Scalar]] = []
        self._columns: list[str] = []
        if self.path.exists():
            self._columns, self._rows = read_metrics_csv(self.path)

    @property
    def rows(self) -> list[dict[str, Scalar]]:
        """A copy of all rows, in logging order."""
        return [dict(r) for r in self._rows]

    @property
    def columns(self) -> list[str]:
        """Column names: the union over rows, in order of first appearance."""
        return list(self._columns)

    def __len__(self) -> int:
        return len(self._rows)

    def log(self, row: Mapping[str, Any]) -> None:
        """Append one row and rewrite the file.

        Parameters
        ----------
        row : mapping of str to scalar
            bool, int, float, str, numpy scalars or one-element arrays/tensors (converted with ``.item()``);
            None means "no value" (the cell stays empty).

        Raises
        ------
        TypeError
            For a non-string key or a value that is not a scalar.
        """
        clean: dict[str, Scalar] = {}
        for key, value in row.items():
            if not isinstance(key, str):
                raise TypeError(f"metric names must be strings; got {key!r}")
            value = _scalar(key, value)
            if value is not None:
                clean[key] = value
        for key in row:
            if key not in self._columns and key in clean:
                self._columns.append(key)
        self._rows.append(clean)
        self._write()

    def truncate(self, n_rows: int) -> None:
        """Keep only the first ``n_rows`` rows and rewrite the file (used when resuming from a checkpoint)."""
        if n_rows < 0:
            raise ValueError(f"n_rows must be >= 0; got {n_rows}")
        self._rows = self._rows[:n_rows]
        columns: list[str] = []
        seen: set[str] = set()
        for r in self._rows:
            for k in r:
                if k not in seen:
                    seen.add(k)
                    columns.append(k)
        self._columns = columns
        self._write()

    def _write(self) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self._columns)
        for r in self._rows:
            writer.writerow([_format(r[c]) if c in r else "" for c in self._columns])
        atomic_write_text(self.path, buf.getvalue())


def _scalar(key: str, value: Any) -> Scalar | None:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            value = item()
        except (ValueError, RuntimeError) as e:
            raise TypeError(f"metric {key!r} must be a scalar; got {type(value).__name__} ({e})") from None
        if isinstance(value, bool | int | float | str):
            return value
    raise TypeError(f"metric {key!r} must be a scalar (bool, int, float, str); got {type(value).__name__}")


def _format(value: Scalar) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse(text: str) -> Scalar:
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text == "True":
        return True
    if text == "False":
        return False
    return text


def read_metrics_csv(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, Scalar]]]:
    """Read a metrics CSV written by :class:`MetricsWriter`, restoring value types exactly.

    Returns
    -------
    columns : list of str
    rows : list of dict
        Empty cells are left out of their row.
    """
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        try:
            columns = next(reader)
        except StopIteration:
            return [], []
        rows = []
        for line_no, cells in enumerate(reader, start=2):
            if len(cells) != len(columns):
                raise ValueError(
                    f"{path}: line {line_no} has {len(cells)} cells; the header has {len(columns)}"
                )
            rows.append({c: _parse(v) for c, v in zip(columns, cells) if v != ""})
    return columns, rows
