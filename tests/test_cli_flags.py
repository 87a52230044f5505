"""Flags do what they say: nothing given on the command line is silently ignored."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from rlcredit.cli import main
from rlcredit.config import ConfigError, apply_overrides
from rlcredit.runs.schema import read_config
from rlcredit.trainers.loop import train

ENV = "rlcredit/DelayedCorridor-v0"
QUICK = ["--wandb", "disabled", "--no-progress", "--set", "num_envs=8", "--set", "num_steps=16"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "run"
    assert main(["train", "ppo", "--env", ENV, "--steps", "256", "--out", str(out), *QUICK]) == 0
    return out


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--steps", "999"], "--steps"),
        (["--seed", "3"], "--seed"),
        (["--env", "rlcredit/ButtonRoom-v0"], "--env"),
        (["--set", "lr=0.1"], "--set"),
        (["--env-arg", "slip=0.1"], "--env-arg"),
        (["--out", "elsewhere"], "--out"),
    ],
)
def test_train_resume_refuses_flags_it_cannot_apply(trained, extra, flag, capsys):
    before = {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()}
    assert main(["train", "--resume", str(trained), "--wandb", "disabled", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlcredit: error: --resume continues")
    assert re.search(rf"drop {re.escape(flag)}$", err.strip())
    assert {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()} == before  # nothing touched


def test_train_resume_refuses_another_seed_through_the_api(trained):
    with pytest.raises(ValueError, match="resume: seed=3 differs from the run's 0"):
        train(resume=trained, seed=3, wandb="disabled", progress=False)


def test_the_set_hint_example_is_accepted_by_train(tmp_path, capsys):
    with pytest.raises(ConfigError) as e:
        apply_overrides({}, ["lr"])
    example = re.search(r"e\.g\. (\S+?)\)", str(e.value))
    assert example is not None, str(e.value)
    out = tmp_path / "run"
    argv = ["train", "ppo", "--env", ENV, "--steps", "128", "--out", str(out), *QUICK, "--set", example[1]]
    assert main(argv) == 0, capsys.readouterr().err
    key, value = example[1].split("=")
    assert read_config(out).config[key.split(".")[-1]] == float(value)


def test_train_set_names_the_trainer_table_or_a_field_only(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "ppo",
        "--env",
        ENV,
        "--steps",
        "128",
        "--out",
        str(out),
        *QUICK,
        "--set",
        "reinforce.lr=1",
    ]
    assert main(argv) == 2
    assert "unknown key 'reinforce'" in capsys.readouterr().err


SPEC = """
name = "flags"
question = "Which experiment does --resume continue?"
seeds = 1
metrics = ["return"]

[[envs]]
id = "rlcredit/ButtonRoomBridge0-v0"
name = "Bridge0"

[planners.vi]
episodes = 1

[eval]
episodes = 2
"""


def test_run_spec_resume_continues_the_newest_experiment_of_the_spec(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "flags.toml"
    spec.write_text(textwrap.dedent(SPEC))
    args = ["--workers", "1", "--wandb", "disabled"]
    assert main(["run", str(spec), *args]) == 0
    assert main(["run", str(spec), *args]) == 0
    first, newest = sorted((tmp_path / "runs" / "flags").iterdir())
    capsys.readouterr()
    assert main(["run", str(spec), "--resume", "--seeds", "2", *args]) == 0
    out = capsys.readouterr().out
    assert f"in {newest.resolve()}" in out and "1 already finished, 1 to run" in out
    assert (newest / "vi-s1" / "eval.json").is_file() and not (first / "vi-s1").exists()
    assert sorted((tmp_path / "runs" / "flags").iterdir()) == [first, newest]  # no new experiment


def test_run_spec_resume_without_an_experiment_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "flags.toml"
    spec.write_text(textwrap.dedent(SPEC))
    assert main(["run", str(spec), "--resume", "--wandb", "disabled"]) == 2
    assert "no experiment of 'flags' to resume in runs/flags/" in capsys.readouterr().err
