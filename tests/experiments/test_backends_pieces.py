"""What the backends do around each piece: the driver's git state recorded once, planner pieces chunked."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from rlcredit.experiments import backends
from rlcredit.experiments.backends import LocalBackend
from rlcredit.experiments.spec import expand_pieces, load_spec
from rlcredit.tracking import rundir

QUESTION = "Which commit do the pieces record?"


def _pieces(write_spec: Callable[..., Path], tmp_path: Path, seeds: int = 3) -> list:
    spec_file = write_spec(
        tmp_path / "tiny.toml", QUESTION, seeds=seeds, eval={"episodes": 1, "exact": False}
    )
    return expand_pieces(load_spec(spec_file), tmp_path / "exp", wandb="disabled")


def test_pieces_record_the_git_state_the_driver_asked_for_once(
    write_spec: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_git(args: list[str], cwd: Path) -> str | None:
        calls.append(args)
        return "0123abcd" * 5 if args[0] == "rev-parse" else " M f.txt"

    monkeypatch.setattr(rundir, "_git", fake_git)
    pieces = _pieces(write_spec, tmp_path)
    results = LocalBackend(workers=1).run(pieces, lambda r: None)
    assert [r.status for r in results] == ["done"] * 3, [r.error for r in results]
    assert [a[0] for a in calls] == ["rev-parse", "status"]  # once for the experiment, not once per piece
    for p in pieces:
        with open(Path(p.run_dir) / "config.toml", "rb") as f:
            meta = tomllib.load(f)["_meta"]
        assert meta["git_commit"] == "0123abcd" * 5 and meta["git_dirty"] is True
    # Outside an experiment a run asks git itself, so a commit made since is seen.
    assert rundir.environment_info()["git_commit"] == "0123abcd" * 5 and len(calls) == 4


def test_training_pieces_run_alone_and_planner_pieces_in_chunks(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    plans = _pieces(write_spec, tmp_path, seeds=10)
    trains = [dataclasses.replace(p, kind="train", name=f"ppo-s{p.seed}") for p in plans[:3]]
    pieces = [trains[0], *plans[:5], trains[1], *plans[5:], trains[2]]
    chunks = backends._chunks(pieces, 4, cpus=2)
    assert [len(c) for c in chunks] == [1, 1, 1, 4, 4, 2]
    assert [c[0].kind for c in chunks[:3]] == ["train"] * 3
    # Each piece once, training pieces first (the longest), then in the given order.
    assert [p.name for c in chunks for p in c] == [p.name for p in trains + plans]
    # Default: about eight tasks per CPU, never more than 32 pieces a task, never fewer than one.
    assert [len(c) for c in backends._chunks(plans, None, cpus=2)] == [1] * 10
    many = [dataclasses.replace(plans[0], name=f"vi-s{i}") for i in range(1000)]
    assert {len(c) for c in backends._chunks(many, None, cpus=2)} == {32, 1000 % 32}
    assert {len(c) for c in backends._chunks(many, None, cpus=8)} == {15, 1000 % 15}  # 1000 // 64
    assert {len(c) for c in backends._chunks(many[:100], None, cpus=2)} == {6, 100 % 6}
