"""RunDir: layout, unique names, config/summary round trips, clear errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import rlcredit
from rlcredit.config import load_dataclass
from rlcredit.tracking import RunDir, rundir
from rlcredit.tracking import io as tio


@dataclass(frozen=True)
class _PPO:
    lr: float = field(default=2.5e-4, metadata={"doc": "learning rate"})
    clip: float = 0.2
    hidden: tuple[int, ...] = (64, 64)


@dataclass(frozen=True)
class _Run:
    env: str = "rlcredit/ButtonRoom-v0"
    seed: int = 0
    note: str | None = None
    ppo: _PPO = field(default_factory=_PPO)


def test_create_generated_name_layout_and_uniqueness(tmp_path: Path) -> None:
    runs = [RunDir.create(root=tmp_path / "runs", name="ppo-ButtonRoom") for _ in range(30)]
    assert len({r.path for r in runs}) == 30  # same second, still distinct
    for r in runs:
        assert r.path.parent == tmp_path / "runs"
        assert re.fullmatch(r"ppo-ButtonRoom-\d{8}-\d{6}-[0-9a-f]{4}", r.path.name)
        assert sorted(p.name for p in r.path.iterdir()) == ["checkpoints", "credit", "plots", "shaping"]
    r = runs[0]
    assert (r.credit_dir, r.shaping_dir, r.checkpoints_dir, r.plots_dir) == tuple(
        r.path / s for s in ("credit", "shaping", "checkpoints", "plots")
    )
    assert r.metrics_path == r.path / "metrics.csv"


def test_create_at_path_refuses_existing_run(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "a" / "b")
    assert run.path.is_dir() and run.checkpoints_dir.is_dir()
    RunDir.create(tmp_path / "a" / "b")  # no config yet: still a fresh directory
    run.write_config({"seed": 1})
    with pytest.raises(FileExistsError, match="run directory already exists"):
        RunDir.create(tmp_path / "a" / "b")


def test_open_errors_are_clear(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError) as e:
        RunDir.open(missing)
    assert str(e.value) == f"run directory not found: {missing}"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError) as e2:
        RunDir.open(tmp_path / "empty")
    assert str(e2.value) == f"not a run directory (no config.toml): {tmp_path / 'empty'}"


def test_config_round_trip_with_meta(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(rundir, "_source_tree", lambda: None)  # an installed wheel: no clone to ask
    run = RunDir.create(tmp_path / "run")
    cfg = _Run(seed=7, ppo=_PPO(lr=3e-4, hidden=(32, 16)))
    run.write_config(cfg)
    opened = RunDir.open(run.path)
    data = opened.read_config()
    meta = data.pop("_meta")
    assert data == {
        "env": "rlcredit/ButtonRoom-v0",
        "seed": 7,
        "ppo": {"lr": 3e-4, "clip": 0.2, "hidden": [32, 16]},
    }
    assert load_dataclass(_Run, data, source="config.toml") == cfg  # None field left out, reloads as default
    assert meta["git_commit"] == "unknown"
    assert meta["rlcredit"] == rlcredit.__version__
    assert meta["numpy"] == np.__version__
    for key in ("python", "torch", "gymnasium", "hostname", "time"):
        assert isinstance(meta[key], str) and meta[key]


def test_config_records_git_commit(tmp_path: Path, monkeypatch) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "f.txt").write_text("x")
    subprocess.run([*git, "add", "f.txt"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.setattr(rundir, "_source_tree", lambda: repo)  # as if rlcredit were imported from this clone
    run = RunDir.create(tmp_path / "run")
    run.write_config({"seed": 0})
    meta = run.read_config()["_meta"]
    assert meta["git_commit"] == head and meta["git_dirty"] is False
    (repo / "f.txt").write_text("changed")
    run2 = RunDir.create(tmp_path / "run2")
    run2.write_config({"seed": 0})
    assert run2.read_config()["_meta"]["git_dirty"] is True


def test_meta_names_the_commit_of_rlcredit_source_tree_whatever_the_working_directory(
    tmp_path: Path, monkeypatch
) -> None:
    clone = Path(rlcredit.__file__).resolve().parent.parent
    if shutil.which("git") is None or not (clone / ".git").exists():
        pytest.skip("rlcredit is not imported from a git clone")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.chdir(tmp_path)  # not a git work tree
    run = RunDir.create(tmp_path / "run")
    run.write_config({"seed": 0})
    assert run.read_config()["_meta"]["git_commit"] == head


def test_config_none_in_list_rejected(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run")
    with pytest.raises(ValueError, match=r"config.xs\[1\] is None, which TOML cannot represent"):
        run.write_config({"xs": [1, None]})


def test_failed_config_rewrite_keeps_old_config(tmp_path: Path, monkeypatch) -> None:
    run = RunDir.create(tmp_path / "run")
    run.write_config({"seed": 1})

    def boom(*args):
        raise OSError("no space left on device")

    monkeypatch.setattr(tio.os, "replace", boom)
    with pytest.raises(OSError, match="no space"):
        run.write_config({"seed": 2})
    monkeypatch.undo()
    assert run.read_config()["seed"] == 1


def test_summary_round_trip(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run")
    run.write_summary(
        {"final_return": np.float64(0.75), "button_reach": np.float32(0.5), "steps": np.int64(10)}
    )
    assert run.read_summary() == {"final_return": 0.75, "button_reach": 0.5, "steps": 10}
