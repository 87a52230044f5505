"""``--out`` is honoured or refused, never ignored; an existing run directory points the user at --resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlcredit.cli import main

ENV = "rlcredit/DelayedCorridor-v0"
QUICK = ["--wandb", "disabled", "--no-progress", "--set", "num_envs=8", "--set", "num_steps=16"]


def _snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "run"
    assert main(["train", "ppo", "--env", ENV, "--steps", "256", "--out", str(out), *QUICK]) == 0
    return out


def test_train_into_an_existing_run_says_to_resume_it(trained, capsys) -> None:
    before = _snapshot(trained.parent)
    assert main(["train", "ppo", "--env", ENV, "--steps", "256", "--out", str(trained), *QUICK]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"rlcredit train --resume {trained}" in err and "RunDir" not in err
    assert _snapshot(trained.parent) == before  # nothing touched


def test_plan_out_without_episodes_or_power_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "plan-out"
    assert main(["plan", "--env", "rlcredit/ButtonRoom-v0", "--out", str(out), "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "--episodes" in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_plan_out_with_episodes_writes_the_run_there(tmp_path, capsys) -> None:
    out = tmp_path / "plan-out"
    argv = [
        "plan",
        "--env",
        "rlcredit/ButtonRoom-v0",
        "--out",
        str(out),
        "--episodes",
        "2",
        "--wandb",
        "disabled",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    assert (out / "config.toml").is_file() and len((out / "metrics.csv").read_text().splitlines()) == 3
    # ... and a second time into the same directory is refused, leaving the first run as it was.
    before = _snapshot(out)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "RunDir" not in err, err
    assert _snapshot(out) == before
