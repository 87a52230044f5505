"""Read-only and full disks: every command that writes says so in one line naming the path, exit status 2.

Realistic where the test can mount (root): a read-only tmpfs and a tmpfs too small for the run. Without
root, a read-only directory (chmod) stands in for the read-only disk and the full-disk cases are skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import rlcredit
from rlcredit.cli import main

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _mount(target: Path, size: str) -> bool:
    if not ROOT or shutil.which("mount") is None:
        return False
    target.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True
    )
    return p.returncode == 0


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


@contextlib.contextmanager
def read_only(path: Path, prepare=None) -> Iterator[Path]:
    """``path`` as a read-only directory (after ``prepare(path)`` filled it): a read-only tmpfs as root."""
    if _mount(path, "16m"):
        try:
            if prepare is not None:
                prepare(path)
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
            yield path
        finally:
            _umount(path)
        return
    if ROOT:
        pytest.skip("cannot mount a tmpfs here, and root ignores directory permissions")
    path.mkdir(parents=True, exist_ok=True)
    if prepare is not None:
        prepare(path)
    modes = {}
    for p in [path, *path.rglob("*")]:
        if p.is_dir():
            modes[p] = p.stat().st_mode
            p.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        yield path
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    if not _mount(path, size):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield path
    finally:
        _umount(path)


def _one_line(capsys, code: int, where: Path) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("rlcredit: error: ") and str(where) in err[0], err[0]
    return err[0]


TRAIN = ["--env", "rlcredit/ButtonRoomBridge0-v0", "--wandb", "disabled", "--no-progress"]
SMALL = ["--set", "num_envs=4", "--set", "num_steps=16", "--set", "num_minibatches=2"]


def test_train_into_a_read_only_disk(tmp_path: Path, capsys) -> None:
    with read_only(tmp_path / "ro") as ro:
        code = main(["train", "ppo", *TRAIN, *SMALL, "--steps", "128", "--out", str(ro / "run")])
        line = _one_line(capsys, code, ro / "run")
    assert "read-only file system" in line or "permission denied" in line


def test_train_onto_a_full_disk(tmp_path: Path, capsys) -> None:
    with small_disk(tmp_path / "full", "160k") as full:
        code = main(["train", "ppo", *TRAIN, "--steps", "20000", "--out", str(full / "run")])
        line = _one_line(capsys, code, full / "run")
        assert "no space left on the device" in line
        assert not list(full.rglob("*.tmp")), "a temporary file was left behind"


def test_resume_of_a_run_on_a_read_only_disk(tmp_path: Path, capsys) -> None:
    def make_run(path: Path) -> None:
        rlcredit.train(
            "ppo",
            env="rlcredit/ButtonRoomBridge0-v0",
            steps=64,
            out_dir=path / "run",
            wandb="disabled",
            config={"num_envs": 4, "num_steps": 16, "num_minibatches": 2},
            progress=False,
        )

    with read_only(tmp_path / "ro", make_run) as ro:
        code = main(["train", "--resume", str(ro / "run"), "--wandb", "disabled", "--no-progress"])
        _one_line(capsys, code, ro / "run")


def test_run_into_a_read_only_disk(tmp_path: Path, capsys) -> None:
    spec = Path(__file__).resolve().parents[1] / "runs" / "demo.toml"
    with read_only(tmp_path / "ro") as ro:
        code = main(["run", str(spec), "--out", str(ro / "exp"), "--wandb", "disabled", "--workers", "1"])
        _one_line(capsys, code, ro / "exp")


def test_plan_into_a_read_only_disk(tmp_path: Path, capsys) -> None:
    with read_only(tmp_path / "ro") as ro:
        code = main(
            [
                "plan",
                "--env",
                "rlcredit/ButtonRoomBridge0-v0",
                "--episodes",
                "2",
                "--out",
                str(ro / "plan"),
                "--wandb",
                "disabled",
            ]
        )
        _one_line(capsys, code, ro / "plan")


def test_plot_of_a_run_on_a_read_only_disk(tmp_path: Path, capsys) -> None:
    def make_run(path: Path) -> None:
        rlcredit.train(
            "ppo",
            env="rlcredit/ButtonRoomBridge0-v0",
            steps=128,
            out_dir=path / "run",
            wandb="disabled",
            config={"num_envs": 4, "num_steps": 16, "num_minibatches": 2},
            progress=False,
        )

    with read_only(tmp_path / "ro", make_run) as ro:
        code = main(["plot", str(ro / "run")])
        _one_line(capsys, code, ro / "run")
