"""The command line: every command has --help with examples; user errors are one line and exit 2."""

import subprocess
import sys

import pytest

from rlcredit.cli import build_parser, main
from rlcredit.gridworld import builtin_envs


def test_every_command_has_help_with_examples(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"envs", "plan"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"rlcredit {name}" in out, name


def test_envs_lists_every_builtin(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for env_id in builtin_envs():
        assert env_id in out


def test_envs_states_column_is_the_exact_models_state_count(capsys):
    import rlcredit

    assert main(["envs"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    for env_id in builtin_envs():
        states = rlcredit.make(env_id).unwrapped.to_mdp().num_states  # one layout's model, walls included
        assert rows[env_id][2] == f"{states:,}", env_id
    assert "switch -> delusion" in " ".join(rows["rlcredit/RewardTampering-v0"])


def test_plan_draws_the_optimal_path(capsys):
    assert main(["plan", "--env", "rlcredit/ButtonRoomBridge2-v0"]) == 0
    out = capsys.readouterr().out
    assert "reaches: button" in out and "undiscounted return +10" in out
    assert out.count("v") >= 4  # the path goes down the bridge


def test_plan_on_a_user_map(tmp_path, capsys):
    p = tmp_path / "mine.toml"
    p.write_text(
        'name = "Mine"\ngamma = 0.9\nmap = """\n#####\n#S..#\n#..G#\n#####\n"""\n'
        '[legend]\nG = { kind = "goal", reward = 1.0, terminal = true }\n'
    )
    assert main(["plan", "--env", str(p), "--planner", "vi"]) == 0
    out = capsys.readouterr().out
    assert "optimal expected return from the start (value iteration, gamma 0.9): 0.8100" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "--env", "rlcredit/Nope-v0"], "rlcredit: error: unknown env id 'rlcredit/Nope-v0'"),
        (["plan", "--env", "missing.toml"], "rlcredit: error: missing.toml: map file not found"),
        (
            ["plan", "--env", "rlcredit/Cliff-v0", "--planner", "vi"],
            "rlcredit: error: value_iteration with gamma=1",
        ),
    ],
)
def test_user_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "rlcredit.cli", "plan", "--env", "nowhere.toml"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "map file not found" in out.stderr and "Traceback" not in out.stderr
