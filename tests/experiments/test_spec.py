"""Experiment specs: loading, resolution, expansion into pieces, and clear errors for bad specs."""

import textwrap
from pathlib import Path

import pytest

from rlcredit.cli import main
from rlcredit.config import ConfigError
from rlcredit.experiments.spec import (
    expand_pieces,
    load_spec,
    parse_sweep_args,
    spec_from_data,
    specs_dir,
)

TINY = """
name = "tiny"
question = "Does it work?"
seeds = 2
metrics = ["return", "reach_button"]

[[envs]]
id = "rlcredit/ButtonRoomBridge0-v0"

[trainers.ppo]
steps = 512
config = { num_envs = 8, num_steps = 16 }

[planners.vi]
episodes = 2
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_tiny_spec_resolves_defaults(tmp_path):
    spec = load_spec(write(tmp_path, TINY))
    assert spec.seed_list == [0, 1]
    assert spec.trainers["ppo"].algo == "ppo" and spec.planners["vi"].algo == "vi"
    (env,) = spec.envs
    assert env.label == "ButtonRoomBridge0"
    assert [t.id for t in env.tests] == ["rlcredit/ButtonRoomBridge0-v0"]  # tested where trained
    # the resolved spec round-trips through plain data (what experiment.toml stores)
    assert spec_from_data(spec.to_data()) == spec


def test_pieces_are_agent_by_seed_seed_major(tmp_path):
    spec = load_spec(write(tmp_path, TINY))
    pieces = expand_pieces(spec, tmp_path / "exp", wandb="disabled", group="g")
    assert [p.name for p in pieces] == ["ppo-s0", "vi-s0", "ppo-s1", "vi-s1"]
    assert [p.kind for p in pieces] == ["train", "plan", "train", "plan"]
    assert pieces[0].steps == 512 and pieces[1].episodes == 2
    assert pieces[0].run_dir == str(tmp_path / "exp" / "ppo-s0")
    assert {p.group for p in pieces} == {"g"} and {p.wandb for p in pieces} == {"disabled"}
    assert [p.plots for p in pieces] == [True, True, False, False]  # run plots for the first seed only


def test_sweep_grid_times_seeds(tmp_path):
    spec = load_spec(write(tmp_path, TINY)).with_sweep(
        parse_sweep_args(["ppo.config.gae_lambda=0.5,1.0", "ppo.config.hidden=[32],[16, 16]"])
    )
    pieces = expand_pieces(spec, tmp_path / "exp")
    ppo = [p for p in pieces if p.kind == "train"]
    assert len(ppo) == 2 * 2 * 2 and len(pieces) == len(ppo) + 2
    assert ppo[0].name == "ppo-gae_lambda0.5-hidden32-s0"
    assert ppo[0].agent == "ppo[gae_lambda=0.5,hidden=[32]]"
    assert ppo[3].config == {"num_envs": 8, "num_steps": 16, "gae_lambda": 1.0, "hidden": [16, 16]}


def test_several_training_envs_and_shorthand_syntax(tmp_path):
    text = TINY.replace(
        '[[envs]]\nid = "rlcredit/ButtonRoomBridge0-v0"\n',
        'envs = ["rlcredit/ButtonRoomBridge0-v0", {id = "ButtonRoomBridge0-v0", name = "B0bis", obs = "coords"}]\n',
    )
    spec = load_spec(write(tmp_path, text))
    names = [p.name for p in expand_pieces(spec, tmp_path)]
    assert names[:4] == ["ppo-ButtonRoomBridge0-s0", "vi-ButtonRoomBridge0-s0", "ppo-B0bis-s0", "vi-B0bis-s0"]
    assert spec.envs[1].id == "rlcredit/ButtonRoomBridge0-v0"
    assert expand_pieces(spec, tmp_path)[2].config["obs"] == "coords"


def test_map_file_relative_to_the_spec(tmp_path):
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "tiny_map.toml").write_text(
        'name = "TinyMap"\ntime_limit = 10\nmap = """\n#####\n#S.G#\n#####\n"""\n'
        '[legend]\nG = { kind = "goal", reward = 1.0, terminal = true, intended = true }\n'
    )
    text = TINY.replace("rlcredit/ButtonRoomBridge0-v0", "maps/tiny_map.toml").replace(
        '"reach_button"', '"reach_goal"'
    )
    spec = load_spec(write(tmp_path, text))
    assert spec.envs[0].id == str((tmp_path / "maps" / "tiny_map.toml").resolve())
    assert spec.envs[0].label == "tiny_map"


@pytest.mark.parametrize("name", ["demo", "wirehead", "cheese", "credit_anatomy", "power"])
def test_shipped_specs_load(name):
    spec = load_spec(specs_dir() / f"{name}.toml")
    assert spec.name == name and spec.question.endswith("?")
    assert expand_pieces(spec, "/nonexistent/exp")
    assert load_spec(name) == spec  # a shipped spec can be named


def test_wirehead_sweeps_every_bridge_length():
    spec = load_spec(specs_dir() / "wirehead.toml")
    assert [e.id for e in spec.envs] == [f"rlcredit/ButtonRoomBridge{i}-v0" for i in range(7)] + [
        "rlcredit/ButtonRoom-v0"
    ]
    assert {"vi", "bi"} <= set(spec.planners) and {"ppo", "reinforce"} <= set(spec.trainers)


BAD = [
    ("nmae = 'x'\n" + TINY, "unknown key 'nmae'"),
    (TINY.replace("seeds = 2", 'seeds = "two"'), "key 'seeds'"),
    (TINY.replace("num_envs = 8", "num_envz = 8"), "unknown key 'num_envz'"),
    (TINY.replace("num_envs = 8", "num_envs = 'many'"), "key 'num_envs'"),
    (TINY.replace("ButtonRoomBridge0-v0", "NoSuchRoom-v0"), "unknown env 'rlcredit/NoSuchRoom-v0'"),
    (TINY.replace("ButtonRoomBridge0-v0", "missing_map.toml"), "map file not found"),
    (TINY.replace('"reach_button"', '"reach_cheese"'), "unknown metric 'reach_cheese'"),
    (TINY.replace("[planners.vi]", "[planners.vi2]"), "'planners.vi2.algo' must be one of"),
    (TINY.replace("episodes = 2", "episodes = 2\nconfig = { num_simulations = 5 }"), "planners.vi.config"),
    (TINY + '[sweep]\n"ppo.config.lr2" = [1.0]\n', "unknown key 'lr2'"),
    (TINY + '[sweep]\n"sac.config.lr" = [1.0]\n', "no trainer or planner named 'sac'"),
    (TINY + "[eval]\nregions = { c = 'middle' }\n", "eval.regions.c"),
    (
        TINY.replace(
            'id = "rlcredit/ButtonRoomBridge0-v0"',
            'id = "rlcredit/ButtonRoomBridge0-v0"\ntest = ["rlcredit/ButtonRoomBridge1-v0"]',
        ),
        "envs[0].test[0]",
    ),
    ("name = 'x'\nquestion = 'y?'\nenvs = ['rlcredit/ButtonRoom-v0']\n", "nothing to run"),
    (
        TINY.replace(
            'id = "rlcredit/ButtonRoomBridge0-v0"',
            'id = "rlcredit/ButtonRoomBridge0-v0"\nkwargs = { slip = 0.1 }',
        ),
        "envs[0].kwargs",
    ),
    (
        TINY.replace(
            'id = "rlcredit/ButtonRoomBridge0-v0"',
            'id = "rlcredit/ButtonRoomBridge0-v0"\nkwargs = { slipp = 0.1 }',
        ),
        "unknown key 'envs[0].kwargs.slipp'",
    ),
    (TINY + "[[oops\n", "line"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_specs_name_the_key_and_file(tmp_path, text, message):
    path = write(tmp_path, text, "bad_spec.toml")
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert message in str(info.value)
    assert "bad_spec.toml" in str(info.value)


def test_cli_bad_spec_is_one_line_and_exit_2(tmp_path, capsys):
    path = write(tmp_path, TINY.replace("num_envs = 8", "num_envz = 8"), "bad_spec.toml")
    assert main(["run", str(path), "--out", str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlcredit: error:") and "num_envz" in err and "bad_spec.toml" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no_such_spec.toml"], "spec file not found"),
        (["run"], "give a spec file"),
        (["run", "--resume", "/nonexistent/exp"], "experiment directory not found"),
        (["report", "/nonexistent/exp"], "experiment directory not found"),
        (["sweep", "demo", "--set", "ppo.lr"], "must look like"),
        (["sweep", "demo"], "at least one --set"),
        (["sweep", "demo", "--set", "ppo.config.lr=abc", "--out", "/nonexistent/x"], "key 'lr'"),
    ],
)
def test_cli_user_errors_exit_2_without_traceback(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_resume_of_a_plain_directory(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "not an experiment directory" in capsys.readouterr().err


def test_help_has_examples(capsys):
    for cmd in ("run", "sweep", "report", "demo"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "examples:" in capsys.readouterr().out
