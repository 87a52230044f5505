"""Batched directory syncs: every file still fsynced before its rename, each directory fsynced once, and
always before a file that declares the others complete (a completion marker, a checkpoint's JSON)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rlcredit.tracking import io as tio
from rlcredit.tracking.checkpoint import Checkpointer
from rlcredit.tracking.io import atomic_write_text, batched_dir_sync, sync_dirs

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fsynced fds")


@pytest.fixture
def events(monkeypatch) -> list[tuple[str, str]]:
    """("fsync", path) and ("replace", target) in the order they happen."""
    log: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd: int) -> None:
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def spy_replace(src, dst) -> None:
        replace(src, dst)
        log.append(("replace", os.fspath(dst)))

    monkeypatch.setattr(tio.os, "fsync", spy_fsync)
    monkeypatch.setattr(tio.os, "replace", spy_replace)
    return log


def _dir_syncs(log: list[tuple[str, str]], d: Path) -> list[int]:
    return [i for i, (what, path) in enumerate(log) if what == "fsync" and path == str(d)]


def _file_syncs(log: list[tuple[str, str]]) -> list[str]:
    return [path for what, path in log if what == "fsync" and path.endswith(".tmp")]


def test_unbatched_writes_sync_the_directory_after_every_file(tmp_path: Path, events) -> None:
    for name in ("a", "b", "c"):
        atomic_write_text(tmp_path / name, name)
    assert len(_file_syncs(events)) == 3
    assert len(_dir_syncs(events, tmp_path)) == 3


def test_batched_writes_sync_each_directory_once_and_before_the_marker(tmp_path: Path, events) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    with batched_dir_sync():
        atomic_write_text(tmp_path / "a", "a")
        atomic_write_text(sub / "b", "b")
        atomic_write_text(tmp_path / "c", "c")
        assert _dir_syncs(events, tmp_path) == [] and _dir_syncs(events, sub) == []
        sync_dirs()
        synced = max(_dir_syncs(events, tmp_path) + _dir_syncs(events, sub))
        atomic_write_text(tmp_path / "done", "marker")
        marker = events.index(("replace", str(tmp_path / "done")))
    assert len(_file_syncs(events)) == 4  # every file's data is still fsynced before its rename
    assert synced < marker  # the other renames are durable before the marker exists
    assert len(_dir_syncs(events, tmp_path)) == 2 and len(_dir_syncs(events, sub)) == 1
    assert [(tmp_path / n).read_text() for n in ("a", "c", "done")] == ["a", "c", "marker"]


def test_batched_writes_are_synced_when_the_block_raises(tmp_path: Path, events) -> None:
    with pytest.raises(RuntimeError), batched_dir_sync():
        atomic_write_text(tmp_path / "a", "a")
        raise RuntimeError("piece failed")
    assert len(_dir_syncs(events, tmp_path)) == 1
    atomic_write_text(tmp_path / "b", "b")  # the batch is over: synced at once again
    assert len(_dir_syncs(events, tmp_path)) == 2


def test_checkpoint_is_durable_inside_a_batch(tmp_path: Path, events) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with batched_dir_sync():
        atomic_write_text(run / "metrics.csv", "update\n1\n")
        path = Checkpointer(run / "checkpoints").save(1, {"w": torch.zeros(2)}, {"global_step": 8})
        commit = events.index(("replace", str(path)))
        # What the checkpoint counts (the metrics row) and its weights are on disk before its JSON ...
        assert min(_dir_syncs(events, run)) < commit
        assert min(_dir_syncs(events, run / "checkpoints")) < commit
        # ... and the JSON itself by the time save returns, not when the batch ends.
        assert max(_dir_syncs(events, run / "checkpoints")) > commit
