"""The run-directory schema: one writer, one reader, every producer, the migration of older run directories."""

from __future__ import annotations

import json
import math
import textwrap

import pytest

import rlcredit
from rlcredit.cli import main
from rlcredit.plots.data import open_run
from rlcredit.runs.schema import (
    SCHEMA_VERSION,
    RunConfig,
    RunSchemaError,
    RunSummary,
    read_config,
    read_summary,
    write_config,
    write_summary,
)
from rlcredit.tracking import RunDir

ENV = "rlcredit/DelayedCorridor-v0"


def test_config_and_summary_round_trip(tmp_path):
    config = RunConfig(
        kind="plan",
        algo="mcts",
        env=ENV,
        seed=3,
        env_kwargs={"layout_seed": 2, "gamma": 0.9},
        episodes=5,
        config={"num_simulations": 100},
        extra={"prior": "runs/some-run"},
    )
    summary = RunSummary(
        status="completed",
        kind="plan",
        algo="mcts",
        env="DelayedCorridor-v0",
        seed=3,
        global_step=40,
        wall_seconds=1.5,
        return_mean=0.25,
        return_std=0.5,
        episodes=5,
        figures={"reach_rate/goal": 0.2, "optimal_value": 1.0},
    )
    run = RunDir.create(tmp_path / "r")
    write_config(run, config)
    write_summary(run, summary)
    assert read_config(run) == config
    assert read_config(run).meta["rlcredit"] == rlcredit.__version__  # _meta is added by the writer
    assert read_summary(run) == summary
    data = json.loads((run.path / "summary.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["reach_rate/goal"] == 0.2


def test_a_newer_schema_version_is_one_clear_error(tmp_path):
    run = RunDir.create(tmp_path / "r")
    write_config(run, RunConfig(kind="train", algo="ppo", env=ENV, seed=0, steps=10))
    text = (run.path / "config.toml").read_text().replace("schema_version = 1", "schema_version = 7")
    (run.path / "config.toml").write_text(text)
    with pytest.raises(
        RunSchemaError, match=r"config\.toml: schema_version 7 is newer than this rlcredit reads"
    ):
        read_config(run)
    (run.path / "summary.json").write_text('{"schema_version": "two", "status": "completed"}')
    with pytest.raises(RunSchemaError, match="schema_version must be a whole number, got 'two'"):
        read_summary(run)


def test_a_missing_required_key_names_the_file_and_the_key(tmp_path, capsys):
    run = RunDir.create(tmp_path / "r")
    (run.path / "config.toml").write_text('schema_version = 1\n[run]\nkind = "train"\nenv = "x"\n')
    with pytest.raises(RunSchemaError) as e:
        read_config(run)
    assert str(e.value) == f"{run.path / 'config.toml'} has no 'algo'"
    assert main(["plot", str(run.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"rlcredit: error: {run.path / 'config.toml'} has no 'algo'"]


def test_wrong_types_are_reported_not_passed_on(tmp_path):
    run = RunDir.create(tmp_path / "r")
    (run.path / "config.toml").write_text(
        'schema_version = 1\n[run]\nkind = "train"\nalgo = "ppo"\nenv = "x"\nseed = "zero"\n'
    )
    with pytest.raises(RunSchemaError, match="'seed' must be a whole number, got 'zero'"):
        read_config(run)
    (run.path / "summary.json").write_text('{"schema_version": 1, "status": "done"}')
    with pytest.raises(RunSchemaError, match="'status' must be completed, failed or interrupted, got 'done'"):
        read_summary(run)


# -------------------------------------------------------------------- run directories from before the schema


def test_reads_a_training_run_written_before_the_schema(tmp_path):
    (tmp_path / "config.toml").write_text(
        textwrap.dedent(
            """\
            algo = "ppo"
            env = "rlcredit/CheeseMaze-v0"
            env_kind = "id"
            num_layouts = 3
            steps = 8000
            seed = 1

            [env_kwargs]
            num_layouts = 3

            [ppo]
            num_envs = 16
            lr = 0.001

            [_meta]
            rlcredit = "0.1.0"
            """
        )
    )
    (tmp_path / "summary.json").write_text(
        '{"status": "completed", "algo": "ppo", "env": "CheeseMaze-v0", "seed": 1, "updates": 5, '
        '"global_step": 8192, "return_mean_last100": 0.5, "wall_seconds": 3.0, "SPS": 2730.0, '
        '"last_checkpoint": "c.json", "error": null}'
    )
    assert read_config(tmp_path) == RunConfig(
        kind="train",
        algo="ppo",
        env="rlcredit/CheeseMaze-v0",
        seed=1,
        env_kwargs={"num_layouts": 3},
        steps=8000,
        config={"num_envs": 16, "lr": 0.001},
    )
    summary = read_summary(tmp_path)
    assert summary is not None
    assert (summary.kind, summary.return_mean, summary.global_step, summary.updates) == (
        "train",
        0.5,
        8192,
        5,
    )
    assert summary.last_checkpoint == "c.json" and summary.figures == {}


def test_reads_a_plan_run_written_before_the_schema(tmp_path):
    (tmp_path / "config.toml").write_text(
        textwrap.dedent(
            """\
            [run]
            kind = "plan"
            algo = "mcts"
            env = "rlcredit/ButtonRoom-v0"
            seed = 0
            episodes = 2
            layout_seed = 4
            gamma = 0.9
            prior = "runs/ppo-x"

            [config]
            num_simulations = 50
            """
        )
    )
    (tmp_path / "summary.json").write_text(
        '{"kind": "plan", "algo": "mcts", "episodes": 2, "mean_return": 1.0, "std_return": 0.0, '
        '"optimal_value": 1.5, "wall_time": 0.25, "reach_rate/goal": 1.0}'
    )
    config = read_config(tmp_path)
    assert (config.kind, config.algo, config.episodes) == ("plan", "mcts", 2)
    assert config.env_kwargs == {"layout_seed": 4, "gamma": 0.9} and config.extra == {"prior": "runs/ppo-x"}
    summary = read_summary(tmp_path)
    assert summary is not None
    assert (summary.status, summary.env, summary.seed) == ("completed", "ButtonRoom-v0", 0)
    assert (summary.return_mean, summary.return_std, summary.wall_seconds) == (1.0, 0.0, 0.25)
    assert summary.global_step is None  # not counted by the old writer
    assert summary.figures == {"optimal_value": 1.5, "reach_rate/goal": 1.0}


# ------------------------------------------------------------------------------ every producer writes it


def test_the_trainer_writes_the_schema(tmp_path):
    run = rlcredit.train(
        "reinforce",
        env=ENV,
        steps=200,
        seed=4,
        out_dir=tmp_path / "t",
        wandb="disabled",
        progress=False,
        config={"num_envs": 4},
        env_kwargs={"time_limit": 20},
    )
    config = read_config(run.dir)
    assert (config.kind, config.algo, config.env, config.seed, config.steps) == (
        "train",
        "reinforce",
        ENV,
        4,
        200,
    )
    assert config.env_kwargs == {"time_limit": 20} and config.config["num_envs"] == 4
    summary = read_summary(run.dir)
    assert summary is not None and summary.status == "completed" and summary.kind == "train"
    assert summary.global_step == int(run.metrics["global_step"].iloc[-1])
    assert summary.updates == len(run.metrics)
    assert open_run(run.dir).layout is not None  # the plots rebuild the env from what was recorded


def test_rlcredit_plan_writes_the_schema(tmp_path, capsys):
    out = tmp_path / "p"
    argv = [
        "plan",
        "--planner",
        "bi",
        "--env",
        ENV,
        "--episodes",
        "3",
        "--out",
        str(out),
        "--wandb",
        "disabled",
    ]
    assert main(argv) == 0
    config = read_config(out)
    assert (config.kind, config.algo, config.env, config.episodes) == ("plan", "bi", ENV, 3)
    summary = read_summary(out)
    assert summary is not None and summary.status == "completed" and summary.episodes == 3
    # DelayedCorridor's optimal path is deterministic: every episode takes the same steps and return.
    assert summary.return_std == 0.0 and summary.global_step is not None and summary.global_step % 3 == 0
    assert math.isclose(summary.figures["exact/reach_goal"], 1.0)


def test_the_algo_names_are_those_of_the_trainers_and_planners():
    from rlcredit.experiments import spec
    from rlcredit.planning.planner import make_planner
    from rlcredit.runs.schema import PLANNER_ALGOS, TRAINER_ALGOS
    from rlcredit.trainers.config import CONFIGS
    from rlcredit.trainers.loop import TRAINERS

    assert tuple(TRAINERS) == tuple(CONFIGS) == TRAINER_ALGOS == spec.TRAINER_ALGOS
    assert spec.PLANNER_ALGOS == PLANNER_ALGOS
    assert [make_planner(a).name for a in PLANNER_ALGOS] == list(PLANNER_ALGOS)
