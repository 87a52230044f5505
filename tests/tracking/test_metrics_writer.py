"""MetricsWriter: exact reload, union of columns, truncation for resume, crash safety."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rlcredit.tracking import MetricsWriter
from rlcredit.tracking import io as tio


def test_file_layout_columns_in_first_appearance_order(tmp_path: Path) -> None:
    m = MetricsWriter(tmp_path / "metrics.csv")
    m.log({"update": 1, "global_step": 128, "losses/pg": 0.5})
    m.log({"update": 2, "global_step": 256, "charts/return": 1.0, "losses/pg": None})
    m.log({"update": 3, "note": 'a, "quoted" note'})
    assert m.columns == ["update", "global_step", "losses/pg", "charts/return", "note"]
    assert (tmp_path / "metrics.csv").read_text() == (
        "update,global_step,losses/pg,charts/return,note\n"
        "1,128,0.5,,\n"
        "2,256,,1.0,\n"
        '3,,,,"a, ""quoted"" note"\n'
    )
    assert len(m) == 3


def test_reload_is_exact(tmp_path: Path) -> None:
    values = {
        "tenth_sum": 0.1 + 0.2,
        "tiny": 5e-324,
        "huge": 1.7976931348623157e308,
        "neg_zero": -0.0,
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": float("-inf"),
        "f32": np.float32(0.1),
        "tensor": torch.tensor(2.5),
        "big_int": 2**62 + 1,
        "np_int": np.int64(-7),
        "flag": True,
        "off": np.bool_(False),
        "name": "ppo",
        "integral_float": 3.0,
    }
    m = MetricsWriter(tmp_path / "metrics.csv")
    m.log(values)
    (row,) = MetricsWriter(tmp_path / "metrics.csv").rows
    assert row["tenth_sum"] == 0.30000000000000004
    assert row["tiny"] == 5e-324 and row["huge"] == 1.7976931348623157e308
    assert row["neg_zero"] == 0.0 and math.copysign(1.0, row["neg_zero"]) == -1.0
    assert math.isnan(row["nan"]) and row["inf"] == math.inf and row["ninf"] == -math.inf
    assert row["f32"] == float(np.float32(0.1))  # the float32 value, exactly
    assert row["tensor"] == 2.5
    assert row["big_int"] == 2**62 + 1 and type(row["big_int"]) is int
    assert row["np_int"] == -7 and type(row["np_int"]) is int
    assert row["flag"] is True and row["off"] is False
    assert row["name"] == "ppo"
    assert row["integral_float"] == 3.0 and type(row["integral_float"]) is float
    assert list(row) == list(values)


def test_missing_cells_are_absent_after_reload(tmp_path: Path) -> None:
    m = MetricsWriter(tmp_path / "metrics.csv")
    m.log({"a": 1})
    m.log({"b": 2.0})
    assert MetricsWriter(tmp_path / "metrics.csv").rows == [{"a": 1}, {"b": 2.0}]


def test_resume_truncate_and_continue(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    m = MetricsWriter(path)
    for u in range(5):
        m.log({"update": u, "loss": u / 3})
    m.log({"update": 5, "extra": 1})
    resumed = MetricsWriter(path)  # a killed run restarts from the checkpoint at update 3
    assert resumed.rows == m.rows
    resumed.truncate(3)
    assert resumed.columns == ["update", "loss"]  # 'extra' only appeared in a dropped row
    resumed.log({"update": 3, "loss": 1.0})
    assert MetricsWriter(path).rows == [
        {"update": 0, "loss": 0.0},
        {"update": 1, "loss": 1 / 3},
        {"update": 2, "loss": 2 / 3},
        {"update": 3, "loss": 1.0},
    ]
    with pytest.raises(ValueError, match="n_rows must be >= 0"):
        resumed.truncate(-1)


def test_crash_during_header_rewrite_keeps_previous_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "metrics.csv"
    m = MetricsWriter(path)
    m.log({"update": 1, "loss": 0.25})
    before = path.read_bytes()

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(tio.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        m.log({"update": 2, "loss": 0.125, "new_column": 1.0})  # a new column rewrites the file
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert MetricsWriter(path).rows == [{"update": 1, "loss": 0.25}]
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


def test_non_scalar_values_rejected(tmp_path: Path) -> None:
    m = MetricsWriter(tmp_path / "metrics.csv")
    with pytest.raises(TypeError, match="metric 'x' must be a scalar"):
        m.log({"x": [1, 2]})
    with pytest.raises(TypeError, match="metric 'v' must be a scalar"):
        m.log({"v": np.zeros(3)})
    assert m.rows == []


def test_rows_with_known_columns_are_appended_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    m = MetricsWriter(path)
    m.log({"update": 1, "loss": 0.25})
    inode = path.stat().st_ino
    for u in range(2, 50):
        m.log({"update": u, "loss": 1.0 / u})
        # an atomic rewrite (temp file + rename) would give the file a new inode
        assert path.stat().st_ino == inode
    assert path.read_text().count("\n") == 50  # header + 49 rows, each visible as soon as logged
    m.log({"update": 50, "loss": 0.0, "extra": 3})  # a new column: one rewrite with the new header
    assert path.stat().st_ino != inode
    m.sync()
    rows = MetricsWriter(path).rows
    assert [r["update"] for r in rows] == list(range(1, 51))
    assert rows[1] == {"update": 2, "loss": 0.5} and rows[-1] == {"update": 50, "loss": 0.0, "extra": 3}


def test_torn_last_append_is_dropped_on_reload(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    m = MetricsWriter(path)
    m.log({"update": 1, "loss": 0.25})
    m.log({"update": 2, "loss": 0.125})
    with open(path, "a") as f:
        f.write("3,0.06")  # a process killed in the middle of an append: no newline
    resumed = MetricsWriter(path)
    assert resumed.rows == [{"update": 1, "loss": 0.25}, {"update": 2, "loss": 0.125}]
    resumed.log({"update": 3, "loss": 0.0625})
    assert MetricsWriter(path).rows[-1] == {"update": 3, "loss": 0.0625}
