"""``rlcredit steer`` end to end on a briefly trained policy, and the steering spec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlcredit.cli import main
from rlcredit.cli.parser import parse_alphas
from rlcredit.config import ConfigError
from rlcredit.steering.experiment import EnvFactory, load_steering_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rlcredit.trainers.loop import train

    out = tmp_path_factory.mktemp("steer") / "run"
    train(
        "ppo",
        env=EnvFactory("rlcredit/CheeseMaze-v0", obs="grid", num_layouts=4),
        steps=256,
        seed=0,
        out_dir=out,
        wandb="disabled",
        config={"num_envs": 2, "num_steps": 64, "hidden": (16,), "credit": False, "grad_samples": 0},
    )
    return out


def test_steer_writes_tables_vectors_and_plots(run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "steer"
    code = main(
        ["steer", str(run_dir), *"--layer actor.2 --mazes 3 --alphas=-1,0 --alpha -2 --out".split(), str(out)]
    )
    assert code == 0
    table = pd.read_csv(out / "steering.csv")
    assert sorted(table["intervention"].unique()) == ["bi", "own", "pooled", "removed"]
    assert sorted(table["alpha"].dropna().unique()) == [-2.0, -1.0, 0.0]  # --alpha joins the sweep
    assert len(table) == 3 * (2 * 3 + 2)
    # the planner always takes the cheese; at alpha = 0 both vectors leave the policy unchanged
    assert np.allclose(table.loc[table["intervention"] == "bi", "p_cheese"], 1.0)
    own0 = table[(table["intervention"] == "own") & (table["alpha"] == 0)].set_index("maze")
    pooled0 = table[(table["intervention"] == "pooled") & (table["alpha"] == 0)].set_index("maze")
    assert np.array_equal(own0["p_cheese"].to_numpy(), pooled0["p_cheese"].to_numpy())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["layer"] == "actor.2" and summary["mazes"] == 3
    assert (out / "vectors.safetensors").is_file()
    for name in ("steering_field", "steering_alpha"):
        assert (out / "plots" / f"{name}.png").is_file() and (out / "plots" / f"{name}.svg").is_file()
    captions = json.loads((out / "plots" / "captions.json").read_text())
    assert "P(cheese)" in captions["steering_field.png"]
    assert "P(cheese)" in capsys.readouterr().out


def test_list_layers(run_dir: Path, capsys) -> None:
    assert main(["steer", str(run_dir), "--list-layers"]) == 0
    out = capsys.readouterr().out
    assert "actor.2" in out and "(16,)" in out


def test_user_errors_exit_2(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["steer"]) == 2
    assert main(["steer", str(run_dir), "--layer", "actor.9", "--out", str(tmp_path)]) == 2
    assert "no layer 'actor.9'" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[steer]\nlayer = "actor.2"\nmazez = 3\n')
    assert main(["steer", str(run_dir), "--spec", str(bad)]) == 2
    assert "mazez" in capsys.readouterr().err


def test_shipped_spec_loads() -> None:
    spec = load_steering_spec(REPO / "runs" / "steering.toml")
    assert spec.train is not None and spec.train.env == "rlcredit/CheeseMaze-v0"
    assert spec.steer.env == "rlcredit/CheeseMazeAnywhere-v0"
    assert load_steering_spec(REPO / "runs" / "steering.toml", overrides=["steer.mazes=7"]).steer.mazes == 7
    with pytest.raises(ConfigError):
        load_steering_spec(REPO / "runs" / "steering.toml", overrides=["steer.mazes=1"])


def test_parse_alphas() -> None:
    assert parse_alphas("-1:1:5") == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert parse_alphas("-2,0.5") == (-2.0, 0.5)
