"""wandb offline mirrors of real runs: one folder per run (also after a resume and after the plots), plots
mirrored, tags without duplicates, and the `wandb sync` command printed. Checked through the files the lab and
wandb write in this process (rlcredit-mirror.json, the media folder), never through wandb's binary log."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from rlcredit.cli import main
from rlcredit.tracking.wandb_mirror import offline_runs

SPEC = """
name = "wb"
question = "Does wandb mirror the run directory?"
seeds = 1
run_plots = "first_seed"
metrics = ["return"]

[[envs]]
id = "rlcredit/ButtonRoomBridge0-v0"

[trainers.ppo]
steps = 256
config = { num_envs = 4, num_steps = 16, num_minibatches = 2, checkpoint_every = 2 }

[eval]
episodes = 2
"""


@pytest.fixture
def offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / var.lower()))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")


@pytest.mark.slow
def test_experiment_piece_keeps_one_offline_folder_with_its_plots(tmp_path: Path, offline, capsys) -> None:
    spec = tmp_path / "wb.toml"
    spec.write_text(textwrap.dedent(SPEC))
    exp = tmp_path / "exp"
    assert main(["run", str(spec), "--out", str(exp), "--workers", "1", "--wandb", "offline"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    run = exp / "ppo-s0"
    (folder,) = offline_runs(run)  # trained, then plotted: still one folder
    record = json.loads((run / "wandb" / "rlcredit-mirror.json").read_text())
    assert folder.name.endswith(record["run_id"])
    assert len(record["tags"]) == len(set(record["tags"])) and "ppo" in record["tags"]
    plots = {p.stem for p in (run / "plots").glob("*.png")}
    mirrored = {
        p.name.rsplit("_", 2)[0] for p in (folder / "files" / "media" / "images" / "plots").glob("*.png")
    }
    assert plots and mirrored == plots
    # The piece's run and the experiment's contrast-table run.
    assert out[-1] == (
        f"wandb: 2 offline runs not uploaded yet; upload with: wandb sync {exp}/wandb/offline-run-* "
        f"{exp}/*/wandb/offline-run-*"
    )


@pytest.mark.slow
def test_resumed_training_run_keeps_one_offline_folder(tmp_path: Path, offline, capsys) -> None:
    run = tmp_path / "run"
    args = ["--env", "rlcredit/ButtonRoomBridge0-v0", "--wandb", "offline", "--no-progress"]
    small = [
        "--set",
        "num_envs=4",
        "--set",
        "num_steps=16",
        "--set",
        "num_minibatches=2",
        "--set",
        "checkpoint_every=2",
    ]
    assert main(["train", "ppo", *args, *small, "--steps", "256", "--out", str(run)]) == 0
    (first,) = offline_runs(run)
    for p in (run / "checkpoints").glob("ckpt_000004.*"):  # killed after checkpoint 2 of 4
        p.unlink()
    (run / "summary.json").unlink()
    for _ in range(2):  # resumed, then resumed again once finished
        assert main(["train", "--resume", str(run), "--wandb", "offline", "--no-progress"]) == 0
    folders = offline_runs(run)
    assert len(folders) == 1 and folders[0].name.endswith(first.name.rsplit("-", 1)[-1])
    shutil.rmtree(run / "wandb")
