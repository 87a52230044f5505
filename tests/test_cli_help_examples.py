"""Every example in ``rlcredit --help`` and ``rlcredit COMMAND --help`` parses, and the paths it names follow the
names rlcredit really gives run directories, experiment directories and specs."""

import re
import shlex

import pytest

from rlcredit.cli import build_parser
from rlcredit.cli.parser import EXAMPLES, TRAINER_ALGOS
from rlcredit.experiments.spec import specs_dir
from rlcredit.gridworld import builtin_envs


def _examples():
    for command, text in EXAMPLES.items():
        for line in text.splitlines()[1:]:
            line = re.split(r"\s{2,}#", line)[0].strip()  # a trailing "   # comment"
            assert line.startswith("rlcredit"), (command, line)
            yield pytest.param(command, shlex.split(line)[1:], id=line)


SPECS = sorted(p.stem for p in specs_dir().glob("*.toml"))
ENVS = sorted(i.split("/", 1)[1] for i in builtin_envs())
STAMP = r"\d{8}-\d{6}"
# What RunDir.create names a run (ALGO-ENV-YYYYmmdd-HHMMSS-xxxx; planners plan-PLANNER-ENV-...) and what
# prepare_experiment names an experiment (runs/SPEC/YYYYmmdd-HHMMSS, with its contrast.csv).
RUN_DIR = re.compile(
    rf"runs/(?:{'|'.join(TRAINER_ALGOS)}|plan-(?:vi|bi|mcts))-(?P<env>[\w-]+?)-{STAMP}-[0-9a-f]{{4}}"
)
EXP_DIR = re.compile(rf"runs/(?P<spec>\w+)/{STAMP}(?:/contrast\.csv)?")
SPEC_FILE = re.compile(r"runs/(?P<spec>\w+)\.toml")


@pytest.mark.parametrize(("command", "argv"), list(_examples()))
def test_help_example_parses_and_names_real_paths(command, argv):
    parser = build_parser()
    args = parser.parse_args(argv)  # SystemExit (status 2) on anything argparse refuses
    assert command == "rlcredit" or args.command == command
    for before, token in zip(["", *argv], argv, strict=False):
        if before == "--out" or not token.startswith("runs/"):
            continue  # --out takes any new directory
        if m := RUN_DIR.fullmatch(token):
            assert m["env"] in ENVS, f"{token}: no built-in env {m['env']!r}"
        elif m := EXP_DIR.fullmatch(token.rstrip("/")):
            assert m["spec"] in SPECS, f"{token}: no shipped spec {m['spec']!r}"
        elif m := SPEC_FILE.fullmatch(token):
            assert m["spec"] in SPECS, f"{token}: no shipped spec {m['spec']!r}"
        else:
            pytest.fail(
                f"{token}: not a run directory, experiment directory or spec file name rlcredit makes"
            )
    for token in argv:
        if token.startswith("rlcredit/"):
            assert token in builtin_envs(), token


def test_the_path_patterns_reject_the_old_wrong_examples():
    assert RUN_DIR.fullmatch("runs/ppo-ButtonRoom-20250101-120000-ab12")["env"] not in ENVS
    assert RUN_DIR.fullmatch("runs/ppo-ButtonRoom-v0-20250101-120000-ab12")
    assert not EXP_DIR.fullmatch("runs/wirehead/contrast.csv")
    assert not EXP_DIR.fullmatch("runs/wirehead")
