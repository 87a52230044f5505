"""A run directory keeps the map file it was made with: plots and resume read the copy, never the original."""

import hashlib

import numpy as np
import pytest

from rlcredit.plots.data import open_run
from rlcredit.runs.schema import ENV_COPY, RunSchemaError, read_config
from rlcredit.trainers.loop import train

MAP = """
name = "Tiny"
time_limit = 7
map = '''
#####
#S.G#
#.L.#
#####
'''
[legend]
G = { kind = "goal", reward = 1.0, terminal = true }
L = { kind = "lava", reward = -1.0, terminal = true }
"""
EDITED = MAP.replace("reward = 1.0", "reward = 50.0")
CFG = {"num_envs": 4, "num_steps": 16, "num_minibatches": 2, "checkpoint_every": 1}


def _rewards(text, tmp_path):
    """The reward table of a map's layout, built from a fresh file holding ``text``."""
    import rlcredit

    path = tmp_path / "reference.toml"
    path.write_text(text)
    env = rlcredit.make(str(path))
    try:
        return np.array(env.unwrapped.layout.step_reward)
    finally:
        env.close()


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A PPO run on ``my.toml`` given as a relative path from ``tmp_path/work``."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "my.toml").write_text(MAP)
    monkeypatch.chdir(work)
    run = train("ppo", env="my.toml", steps=128, out_dir=tmp_path / "run", config=CFG, wandb="disabled",
                progress=False)  # fmt: skip
    return run.dir, work / "my.toml"


def test_the_run_keeps_the_map_text_and_its_sha256(trained):
    run_dir, original = trained
    config = read_config(run_dir)
    assert config.env == "my.toml" and config.env_kind == "id"
    assert (run_dir / ENV_COPY).read_bytes() == original.read_bytes()
    assert config.env_sha256 == hashlib.sha256(original.read_bytes()).hexdigest()


def test_plots_draw_the_trained_map_after_the_original_is_edited_or_gone(trained, tmp_path, monkeypatch):
    run_dir, original = trained
    trained_rewards, edited_rewards = _rewards(MAP, tmp_path), _rewards(EDITED, tmp_path)
    assert not np.array_equal(trained_rewards, edited_rewards)
    original.write_text(EDITED)
    np.testing.assert_array_equal(open_run(run_dir).layout.step_reward, trained_rewards)
    original.unlink()
    monkeypatch.chdir(tmp_path)  # another directory: the relative path names nothing
    np.testing.assert_array_equal(open_run(run_dir).layout.step_reward, trained_rewards)


def test_resume_from_another_directory_uses_the_copy(trained, tmp_path, monkeypatch):
    run_dir, original = trained
    original.unlink()
    monkeypatch.chdir(tmp_path)
    whole = read_config(run_dir).steps
    # Nothing is left to train, but the env is rebuilt before that is known.
    resumed = train(resume=run_dir, wandb="disabled", progress=False)
    assert resumed.summary["global_step"] == whole


def test_resume_with_a_different_map_file_is_a_one_line_error(trained, tmp_path):
    run_dir, original = trained
    original.write_text(EDITED)
    with pytest.raises(RunSchemaError, match=r"my\.toml: differs from the map .* was made with"):
        train(resume=run_dir, env=str(original), wandb="disabled", progress=False)
    original.write_text(MAP)  # the same text under any path is accepted
    train(resume=run_dir, env=str(original), wandb="disabled", progress=False)


def test_a_changed_copy_is_refused(trained):
    run_dir, _ = trained
    (run_dir / ENV_COPY).write_text(EDITED)
    with pytest.raises(RunSchemaError, match="sha256 differs"):
        _ = open_run(run_dir).layout


def test_an_older_run_without_a_copy_reads_the_file_with_a_warning(trained, capsys):
    run_dir, _ = trained
    (run_dir / ENV_COPY).unlink()
    text = (run_dir / "config.toml").read_text()
    (run_dir / "config.toml").write_text(
        "\n".join(x for x in text.splitlines() if not x.startswith("env_sha256"))
    )
    assert read_config(run_dir).env_sha256 is None
    layout = open_run(run_dir).layout
    assert layout is not None
    assert "keeps no copy of its map file" in capsys.readouterr().err


def test_builtin_ids_stay_ids(tmp_path):
    run = train("ppo", env="rlcredit/DelayedCorridor-v0", steps=64, out_dir=tmp_path / "run", config=CFG,
                wandb="disabled", progress=False)  # fmt: skip
    config = read_config(run.dir)
    assert config.env == "rlcredit/DelayedCorridor-v0" and config.env_sha256 is None
    assert not (run.dir / ENV_COPY).exists()
