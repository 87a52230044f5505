"""Atomic writes: the target holds the old or the new complete content, never a partial file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from rlcredit.tracking import (
    atomic_open,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    to_jsonable,
    write_parquet,
)
from rlcredit.tracking import io as tio


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_bytes_and_text_round_trip(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01\xff")
    atomic_write_text(tmp_path / "a.txt", "line1\r\nline2\n")  # newlines kept exactly as given
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01\xff"
    assert (tmp_path / "a.txt").read_bytes() == b"line1\r\nline2\n"
    atomic_write_text(tmp_path / "a.txt", "new")
    assert (tmp_path / "a.txt").read_text() == "new"
    assert _leftovers(tmp_path) == []


def test_new_file_gets_umask_permissions(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "p.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "p.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_exception_inside_block_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old complete content")
    with pytest.raises(RuntimeError, match="disk died"), atomic_open(target, "w") as f:
        f.write("new half")
        raise RuntimeError("disk died")
    assert target.read_text() == "old complete content"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("fail_in", ["fsync", "replace"])
def test_failing_fsync_or_rename_keeps_old_file(tmp_path: Path, monkeypatch, fail_in: str) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise OSError(f"{fail_in} failed")

    monkeypatch.setattr(tio.os, fail_in, boom)
    with pytest.raises(OSError, match=f"{fail_in} failed"):
        atomic_write_bytes(target, b"new content that never lands")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_bad_mode_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="atomic_open mode must be 'wb' or 'w'; got 'a'"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_write_parquet_keeps_small_dtypes_index_and_uses_zstd(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "state": np.array([0, 5, 7], dtype=np.int16),
            "action": np.array([0, 3, 1], dtype=np.int8),
            "credit": np.array([0.5, -1.25, 3.0], dtype=np.float32),
            "clipped": np.array([True, False, True]),
            "event": pd.Categorical(["goal", "none", "goal"]),
        },
        index=pd.Index([10, 20, 30], name="t"),
    )
    path = tmp_path / "credit.parquet"
    write_parquet(df, path)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, df)
    assert list(back.dtypes.astype(str)) == ["int16", "int8", "float32", "bool", "category"]
    meta = pq.ParquetFile(path).metadata
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {"ZSTD"}
    assert _leftovers(tmp_path) == []


def test_write_parquet_failure_mid_write_keeps_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "shaping.parquet"
    old = pd.DataFrame({"x": [1, 2, 3]})
    write_parquet(old, path)

    def half_write(table, where, **kwargs):
        where.write(b"PAR1 partial bytes")
        raise MemoryError("killed mid-write")

    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(MemoryError):
        write_parquet(pd.DataFrame({"x": [9]}), path)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(pd.read_parquet(path), old)
    assert _leftovers(tmp_path) == []


def test_json_conversion_and_errors(tmp_path: Path) -> None:
    obj = {"a": np.int64(3), "b": np.float32(0.5), "c": (1, 2), "d": np.arange(3), "p": Path("x/y")}
    assert to_jsonable(obj) == {"a": 3, "b": 0.5, "c": [1, 2], "d": [0, 1, 2], "p": "x/y"}
    assert type(to_jsonable(obj)["a"]) is int
    with pytest.raises(TypeError, match=r"^value\['s'\]\[1\] has type set, which cannot be stored as JSON$"):
        to_jsonable({"s": [1, {2}]})
    with pytest.raises(TypeError, match="non-string key 1"):
        to_jsonable({1: 2})
    atomic_write_json(tmp_path / "s.json", {"nan": float("nan"), "x": 0.1})
    back = json.loads((tmp_path / "s.json").read_text())
    assert np.isnan(back["nan"]) and back["x"] == 0.1
