"""``metrics.csv``: one row per update, appended as it is logged; the whole file is rewritten (atomically) only
when a row brings a new column."""

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

    :meth:`log` appends one line to the file (written through to the OS), so its cost does not grow with
    the number of rows; a row with a column the header lacks makes it rewrite the whole file atomically
    (temp file + rename) with the new header instead. :meth:`sync` makes the appended lines durable
    (fsync); call it before promising them, e.g. before writing a checkpoint. A process killed during an
    append can leave a last line without its newline: such a torn last line is dropped when the file is
    loaded again. If the file already exists its rows are loaded first, which is how a resumed run
    continues its metrics (see :meth:`truncate`).

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
        self._header_written = False  # the file on disk has exactly self._columns as its header
        if self.path.exists():
            self._columns, self._rows = read_metrics_csv(self.path, drop_torn_last_line=True)

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
        new = [key for key in clean if key not in self._columns]
        self._columns.extend(new)
        self._rows.append(clean)
        if new or not self._header_written:
            self._write()
            return
        # Opened per row: no handle outlives the call (about 20 us, nothing next to an update).
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            f.write(_line([_format(clean[c]) if c in clean else "" for c in self._columns]))

    def sync(self) -> None:
        """Make every logged row durable on disk (fsync of the file)."""
        if self.path.exists():
            with open(self.path, "rb+") as f:
                os.fsync(f.fileno())

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
        """Rewrite the whole file atomically (a new header, or after truncation)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self._columns)
        for r in self._rows:
            writer.writerow([_format(r[c]) if c in r else "" for c in self._columns])
        atomic_write_text(self.path, buf.getvalue())
        self._header_written = True


def _line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


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


def read_metrics_csv(
    path: str | os.PathLike[str], *, drop_torn_last_line: bool = False
) -> tuple[list[str], list[dict[str, Scalar]]]:
    """Read a metrics CSV written by :class:`MetricsWriter`, restoring value types exactly.

    Parameters
    ----------
    drop_torn_last_line : bool
        Leave out a last line that has no newline (an append cut short by a killed process) instead of
        reading it (and then, usually, failing on its cell count).

    Returns
    -------
    columns : list of str
    rows : list of dict
        Empty cells are left out of their row.
    """
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if drop_torn_last_line and text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        columns = next(reader)
    except StopIteration:
        return [], []
    rows = []
    for line_no, cells in enumerate(reader, start=2):
        if len(cells) != len(columns):
            raise ValueError(f"{path}: line {line_no} has {len(cells)} cells; the header has {len(columns)}")
        rows.append({c: _parse(v) for c, v in zip(columns, cells) if v != ""})
    return columns, rows
