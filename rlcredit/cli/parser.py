"""The ``rlcredit`` argument parser: every command, its arguments and its ``--help`` examples.

This module imports nothing heavy (no torch, numba, wandb, matplotlib), so ``rlcredit --help`` and the parsing
of every command are fast; each command's implementation lives in its own module of :mod:`rlcredit.cli`
(named by :data:`COMMANDS`) and is imported only when that command runs.
"""

from __future__ import annotations

import argparse

import numpy as np

from rlcredit.runs.schema import PLANNER_CHOICES, TRAINER_ALGOS
from rlcredit.tracking.wandb_mirror import WANDB_MODES

__all__ = ["COMMANDS", "build_parser", "parse_alphas"]

COMMANDS = {
    "envs": "envs",
    "plan": "plan",
    "train": "train",
    "run": "experiments",
    "sweep": "experiments",
    "report": "experiments",
    "demo": "experiments",
    "plot": "plot",
    "steer": "steer",
}
"""Command name -> the module of :mod:`rlcredit.cli` whose ``run_<command>(args)`` implements it."""

EXAMPLES = {
    "rlcredit": (
        "examples:\n  rlcredit demo\n  rlcredit envs\n  rlcredit plan --env rlcredit/ButtonRoom-v0\n"
        "  rlcredit train ppo --env rlcredit/ButtonRoom-v0 --steps 200000\n  rlcredit plot RUN_DIR"
    ),
    "envs": "examples:\n  rlcredit envs\n  rlcredit envs --verbose",
    "plan": (
        "examples:\n  rlcredit plan --env rlcredit/ButtonRoom-v0\n"
        "  rlcredit plan --planner bi --env my_map.toml\n"
        "  rlcredit plan --planner mcts --env rlcredit/FourRoomsSlippery-v0 --episodes 20 --wandb disabled\n"
        "  rlcredit plan --planner mcts --prior runs/ppo-ButtonRoom-v0-20250101-120000-ab12 "
        "--env rlcredit/ButtonRoom-v0\n"
        "  rlcredit plan --power --env rlcredit/FourRooms-v0"
    ),
    "train": (
        "examples:\n"
        "  rlcredit train ppo --env rlcredit/ButtonRoom-v0 --steps 200000\n"
        "  rlcredit train reinforce --env my_map.toml --steps 100000 --set baseline=batch_mean --set lr=3e-3\n"
        "  rlcredit train ppo --env CartPole-v1 --steps 100000 --wandb disabled\n"
        "  rlcredit train ppo --env rlcredit/CheeseMaze-v0 --steps 500000 --env-arg num_layouts=100 "
        "--env-arg slip=0.1\n"
        "  rlcredit train ppo --env rlcredit/FourRooms-v0 --steps 100000 --env-kwargs '{time_limit = 50}'\n"
        "  rlcredit train ppo --env rlcredit/FourRooms-v0 --steps 100000 --preset sb3   # SB3's PPO setting\n"
        "  rlcredit train ppo --list-config\n"
        "  rlcredit train --resume runs/ppo-ButtonRoom-v0-20250101-120000-ab12"
    ),
    "run": (
        "examples:\n"
        "  rlcredit run runs/wirehead.toml\n"
        "  rlcredit run runs/cheese.toml --seeds 100 --backend ray --address auto --wandb online\n"
        "  rlcredit run runs/demo.toml --out runs/demo/mine --workers 2 --wandb disabled\n"
        "  rlcredit run runs/wirehead.toml -o trainers.ppo.steps=20000     # override a spec key\n"
        "  rlcredit run runs/wirehead.toml --resume                        # continue its newest experiment\n"
        "  rlcredit run --resume runs/wirehead/20250101-120000              # continue this experiment"
    ),
    "sweep": (
        "examples:\n"
        "  rlcredit sweep runs/credit_anatomy.toml --set ppo.config.gae_lambda=0.5,0.9,0.95,1.0\n"
        "  rlcredit sweep runs/demo.toml --set ppo.config.lr=1e-3,3e-4 --set ppo.config.ent_coef=0,0.01 --seeds 5"
    ),
    "report": (
        "examples:\n  rlcredit report runs/wirehead/20250101-120000\n"
        "  rlcredit report runs/wirehead/20250101-120000 --partial"
    ),
    "demo": "examples:\n  rlcredit demo\n  rlcredit demo --out /tmp/demo --wandb disabled",
    "plot": (
        "examples:\n"
        "  rlcredit plot runs/ppo-ButtonRoom-v0-20250101-120000-ab12\n"
        "  rlcredit plot runs/wirehead/20250101-120000    # an experiment: comparison figures + every run's\n"
        "  rlcredit plot runs/wirehead/20250101-120000 --no-runs "
        "--contrast runs/wirehead/20250101-120000/contrast.csv\n"
        "  rlcredit plot RUN_DIR --update 40 --greedy"
    ),
    "steer": (
        "examples:\n"
        "  rlcredit steer --spec runs/steering.toml\n"
        "  rlcredit steer RUN_DIR --list-layers\n"
        "  rlcredit steer RUN_DIR --layer actor.0.4 --alpha -1 --mazes 100\n"
        "  rlcredit steer RUN_DIR --layer actor.2 --alphas=-3:1:9 --out steer-actor2"
    ),
}


def parse_alphas(text: str) -> tuple[float, ...]:
    """``"-3:1:9"`` (start:stop:count, inclusive) or ``"-1,0,1"`` -> a tuple of floats."""
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            return tuple(float(a) for a in np.round(np.linspace(float(lo), float(hi), int(n)), 10))
        return tuple(float(a) for a in text.split(",") if a.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected START:STOP:COUNT or a comma list of numbers, got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    """The ``rlcredit`` parser; each subcommand sets ``args.command``."""
    parser = argparse.ArgumentParser(
        prog="rlcredit",
        description="A lab for studying what policy-gradient training does with reward.",
        epilog=EXAMPLES["rlcredit"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = add("envs", "list the built-in gridworlds")
    p.add_argument("--verbose", "-v", action="store_true", help="also print each env's description")

    _plan(add("plan", "plan on an env's exact model (value iteration, backward induction, MCTS)"))
    _train(add("train", "train a policy with PPO or REINFORCE, logging every credit assignment"))

    p = add(
        "run", "run an experiment spec: trainers and planners x seeds, then contrast table, plots, report"
    )
    p.description = (
        f"{p.description}\n\nCtrl-C (local backend) starts no further piece; training pieces stop after their "
        "update's checkpoint\n(again: at once; a third time kills the workers); finished pieces are kept and "
        "--resume continues the rest."
    )
    p.add_argument(
        "spec",
        nargs="?",
        metavar="SPEC",
        help="runs/NAME.toml (or a shipped spec's name: demo, wirehead, ...)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="EXP_DIR",
        help="continue an experiment directory; with SPEC and no EXP_DIR, the newest experiment of SPEC "
        "(in --out's parent, default runs/NAME/)",
    )
    _experiment_options(p)

    p = add("sweep", "run a spec over a grid of config values (x seeds)")
    p.add_argument("spec", metavar="SPEC", help="runs/NAME.toml")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="AGENT.config.KEY=V1,V2,...",
        help="values to sweep (repeatable: the grid is their product)",
    )
    _experiment_options(p)

    p = add("report", "(re)build an experiment's contrast table, figures and self-contained report.html")
    p.add_argument("exp_dir", metavar="EXPERIMENT_DIR", help="runs/NAME/RUN_ID")
    p.add_argument(
        "--partial",
        action="store_true",
        help="build the report even though some pieces are missing, unfinished or unreadable (each is listed)",
    )

    p = add(
        "demo", "a small wirehead experiment (ButtonRoom; PPO, REINFORCE, value iteration, MCTS): ~2 minutes"
    )
    p.add_argument(
        "--out", default=None, metavar="DIR", help="experiment directory (default runs/demo/YYYYmmdd-HHMMSS)"
    )
    p.add_argument("--wandb", choices=WANDB_MODES, default="offline")
    p.add_argument(
        "--workers", type=int, default=None, metavar="K", help="parallel pieces (default: all cores)"
    )

    _plot(
        add(
            "plot",
            "make the figures of a run directory or an experiment directory (PNG + SVG + GIF in plots/)",
        )
    )
    _steer(
        add("steer", "steer a trained policy with its cheese vector and measure P(cheese) vs alpha exactly")
    )
    return parser


def _plan(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", required=True, help="a built-in id (rlcredit envs) or a map .toml file")
    p.add_argument(
        "--planner", choices=PLANNER_CHOICES, default="bi", help="default: bi (backward induction)"
    )
    p.add_argument(
        "--episodes",
        type=int,
        default=0,
        help="also act for N episodes in the env and write a run directory (default 0: just print)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--simulations", type=int, default=2000, help="MCTS simulations per step")
    p.add_argument(
        "--search",
        choices=("uct", "bellman"),
        default="uct",
        help="MCTS variant: uct (bounded, random rollouts) or bellman (Bellman backups over the (t, state) "
        "DAG; converges to the optimal action, --simulations is its trial budget)",
    )
    p.add_argument(
        "--prior",
        metavar="RUN_DIR",
        default=None,
        help="MCTS: PUCT with a trained policy's action probabilities as the prior (a training run directory)",
    )
    p.add_argument("--gamma", type=float, default=None, help="discount (default: the map's)")
    p.add_argument(
        "--power", action="store_true", help="compute POWER (Turner et al. 2021) of every state and plot it"
    )
    p.add_argument("--samples", type=int, default=1000, help="reward samples for --power")
    p.add_argument(
        "--out",
        default=None,
        help="with --episodes: the run directory (default runs/plan-<planner>-<env>-<time>); with --power: "
        "the heatmap's directory (default a fresh runs/power-<env>-<time>; an existing heatmap there is "
        "never overwritten); refused without either",
    )
    p.add_argument("--wandb", choices=WANDB_MODES, default="offline")
    p.add_argument("--layout-seed", type=int, default=None, help="the layout of a procedural env to plan on")


def _train(p: argparse.ArgumentParser) -> None:
    p.add_argument("algo", nargs="?", choices=TRAINER_ALGOS, help="the trainer")
    p.add_argument(
        "--env", help="an rlcredit env id, a map .toml file, or any gymnasium id (Discrete actions)"
    )
    p.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument of the env constructor, e.g. time_limit=50, slip=0.1, num_layouts=100, "
        "layout_seed=3 for gridworlds, or any gym.make keyword (repeatable; VALUE is a TOML literal)",
    )
    p.add_argument(
        "--env-kwargs",
        metavar="TABLE",
        help="env constructor keyword arguments as an inline TOML table, e.g. '{time_limit = 50, slip = 0.1}'",
    )
    p.add_argument(
        "--steps",
        type=int,
        help="env steps to train for",
    )
    p.add_argument("--seed", type=int, default=None, help="default 0")
    p.add_argument("--out", default=None, help="run directory (default runs/ALGO-ENV-<time>)")
    p.add_argument("--root", default="runs", help="parent of generated run directories")
    p.add_argument(
        "--wandb",
        choices=WANDB_MODES,
        default=None,
        help="wandb mirror (default offline; --resume: the mode the run was started with)",
    )
    p.add_argument(
        "--config", metavar="TOML", help="trainer config file (top-level keys or a table named ALGO)"
    )
    p.add_argument(
        "--preset",
        choices=("rlcredit", "sb3", "cleanrl"),
        help="start from a named PPO setting: sb3 / cleanrl reproduce Stable-Baselines3's / CleanRL's PPO "
        "defaults exactly, rlcredit is the default; --config and --set apply on top",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. lr=3e-4 or ppo.lr=3e-4 (repeatable)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run directory from its last checkpoint with its stored algo, env, seed and config",
    )
    p.add_argument("--group", default=None, help="wandb group")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list-config", action="store_true", help="print the trainer's config fields and exit")


def _experiment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="run seeds 0..N-1 (default: the spec's; added to an existing experiment's)",
    )
    p.add_argument(
        "--backend",
        choices=["local", "ray"],
        default="local",
        help="local process pool (default) or Ray tasks",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="auto|HOST:PORT",
        help="Ray cluster to join (default: start a local Ray with --workers CPUs, 2 if not given)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="K",
        help="pieces run at once (local default: all cores; 1 runs in this process)",
    )
    p.add_argument(
        "--wandb",
        choices=WANDB_MODES,
        default=None,
        help="each piece is a wandb run in one group per experiment (default offline: `wandb sync` later; "
        "continuing an experiment uses the mode it was started with)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="experiment directory (default runs/NAME/YYYYmmdd-HHMMSS); an existing one is continued",
    )
    p.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec key, e.g. trainers.ppo.steps=20000 (repeatable)",
    )


def _plot(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path", metavar="RUN_OR_EXPERIMENT_DIR", help="a run directory, or a directory of run directories"
    )
    p.add_argument(
        "--update",
        type=int,
        default=None,
        help="logged update to show: the shaping map (default: the one that moved never-visited states most), "
        "the policy field and the episode (default: the last)",
    )
    p.add_argument("--no-runs", action="store_true", help="for an experiment: only the comparison figures")
    p.add_argument(
        "--contrast", default=None, help="contrast CSV (default EXPERIMENT_DIR/contrast.csv if present)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the replayed episode (default 0)")
    p.add_argument(
        "--greedy", action="store_true", help="replay the most probable actions instead of sampling"
    )


def _steer(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a training run directory with a checkpoint")
    p.add_argument(
        "--spec",
        default=None,
        help="a steering spec (runs/steering.toml): trains its [train] policy unless RUN_DIR is given",
    )
    p.add_argument(
        "--layer", default=None, help="layer name (default: the spec's, actor.0.4; see --list-layers)"
    )
    p.add_argument("--alpha", type=float, default=None, help="alpha of the vector-field figure (default -1)")
    p.add_argument(
        "--alphas",
        type=parse_alphas,
        default=None,
        help="alphas of the sweep: --alphas=START:STOP:COUNT or a comma list (default -3:1:9)",
    )
    p.add_argument("--mazes", type=int, default=None, help="number of test mazes (default 100)")
    p.add_argument("--env", default=None, help="test env (default rlcredit/CheeseMazeAnywhere-v0)")
    p.add_argument("--first-seed", type=int, default=None, help="first layout seed of the test mazes")
    p.add_argument(
        "--example", type=int, default=None, help="index of the test maze in the vector-field figure"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value, e.g. --set train.steps=100000 (repeatable)",
    )
    p.add_argument("--out", default=None, help="output directory")
    p.add_argument(
        "--list-layers", action="store_true", help="print the policy's layers and activation shapes"
    )
    p.add_argument(
        "--wandb", choices=WANDB_MODES, default="offline", help="wandb mirror of the training run (spec mode)"
    )
