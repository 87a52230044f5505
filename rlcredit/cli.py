"""The ``rlcredit`` command: ``envs``, ``plan``, ``train``, ``run``, ``sweep``, ``plot``, ``report``, ``demo``.

Every command has ``--help`` with examples. Errors in what the user gave (a malformed map, an unknown env id,
a bad config key, a corrupt checkpoint) print one line and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Callable, Sequence

EXAMPLES = {
    "envs": "examples:\n  rlcredit envs\n  rlcredit envs --verbose",
    "plan": (
        "examples:\n  rlcredit plan --env rlcredit/ButtonRoom-v0\n"
        "  rlcredit plan --planner bi --env my_map.toml\n"
        "  rlcredit plan --planner mcts --env rlcredit/FourRoomsSlippery-v0 --episodes 20 --wandb disabled\n"
        "  rlcredit plan --planner mcts --prior runs/ppo-ButtonRoom-v0-RUN --env rlcredit/ButtonRoom-v0\n"
        "  rlcredit plan --power --env rlcredit/FourRooms-v0"
    ),
}


class UserError(Exception):
    """An error in what the user asked for: reported as one line, exit status 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    import gymnasium as gym

    errors: list[type[BaseException]] = [
        UserError,
        ValueError,
        FileNotFoundError,
        KeyError,
        gym.error.Error,
        FloatingPointError,
        NotADirectoryError,
    ]
    try:
        from rlcredit.tracking import CheckpointError

        errors.append(CheckpointError)
    except ImportError:  # pragma: no cover - tracking is part of the package
        pass
    return tuple(errors)


# ---------------------------------------------------------------------------------------------------------
# rlcredit envs


def cmd_envs(args: argparse.Namespace) -> int:
    """Print a table of the built-in gridworlds."""
    from rlcredit.gridworld import builtin_envs

    rows = []
    for env_id, entry in builtin_envs().items():
        spec = entry.spec()
        H, W = spec.shape
        rewards = ", ".join(
            f"{ct.kind} {ct.reward:+g}{' (T)' if ct.terminal else ''}{' *' if ct.intended else ''}"
            for ct in spec.legend.values()
            if ct.kind != "start"
        )
        extra = []
        if spec.step_cost:
            extra.append(f"step {spec.step_cost:+g}")
        if spec.slip:
            extra.append(f"slip {spec.slip:g}")
        if spec.randomized:
            extra.append("procedural")
        rows.append(
            (
                env_id,
                f"{H}x{W}",
                str(H * W),
                "index/coords/grid",
                rewards + (f"; {', '.join(extra)}" if extra else ""),
                spec.purpose.split(":")[0] if spec.purpose else "",
            )
        )
    header = ("id", "size", "states", "obs", "rewards ((T) terminal, * intended)", "for")
    widths = [max(len(r[i]) for r in [*rows, header]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    if args.verbose:
        print()
        from rlcredit.gridworld.registry import describe

        for entry in builtin_envs().values():
            if entry.variant is None:
                print(describe(entry.spec()) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------------------
# rlcredit plan


def draw_path(layout, states: Sequence[int], chars: dict[str, str] | None = None) -> str:
    """The map with a path drawn on it: arrows for the moves, ``@`` for the start; ``chars`` maps kinds to letters."""
    from rlcredit.gridworld.observe import render_ansi

    W = layout.shape[1]
    chars = chars or {k: k[0].upper() for k in layout.kinds}
    grid = [list(row) for row in render_ansi(layout, None, chars).splitlines()]
    arrows = {"-1,0": "^", "0,1": ">", "1,0": "v", "0,-1": "<"}
    for a, b in itertools.pairwise(states):
        (r0, c0), (r1, c1) = divmod(int(a), W), divmod(int(b), W)
        if (r0, c0) != (r1, c1) and grid[r0][c0] in ".S":
            grid[r0][c0] = arrows.get(f"{r1 - r0},{c1 - c0}", "*")
    r, c = divmod(int(states[0]), W)
    grid[r][c] = "@"
    return "\n".join("".join(row) for row in grid)


def greedy_path(
    layout, actions_at: Callable[[int, int], int], start: int, horizon: int
) -> tuple[list[int], float, list[str]]:
    """Follow a policy's intended moves (no slips) from ``start``: states, undiscounted return, events."""
    states, ret, events, s = [start], 0.0, [], start
    for t in range(horizon):
        a = actions_at(s, t)
        ret += float(layout.step_reward[s, a])
        if layout.event[s, a] >= 0:
            events.append(layout.kinds[layout.event[s, a]])
        s = int(layout.move[s, a])
        states.append(s)
        if layout.terminal[s]:
            break
    return states, ret, events


def cmd_plan(args: argparse.Namespace) -> int:
    """Plan on an env's exact model; print the optimal value, the greedy path, and optionally run episodes."""
    from rlcredit.planning.cli import run_plan

    return run_plan(args)


# ---------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlcredit",
        description="A lab for studying what policy-gradient training does with reward.",
        epilog="examples:\n  rlcredit demo\n  rlcredit envs\n  rlcredit plan --env rlcredit/ButtonRoom-v0\n"
        "  rlcredit train ppo --env rlcredit/ButtonRoom-v0 --steps 200000\n  rlcredit plot RUN_DIR",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, help: str, func: Callable[[argparse.Namespace], int], examples: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = add("envs", "list the built-in gridworlds", cmd_envs, EXAMPLES["envs"])
    p.add_argument("--verbose", "-v", action="store_true", help="also print each env's description")

    p = add(
        "plan",
        "plan on an env's exact model (value iteration, backward induction, MCTS)",
        cmd_plan,
        EXAMPLES["plan"],
    )
    p.add_argument("--env", required=True, help="a built-in id (rlcredit envs) or a map .toml file")
    p.add_argument(
        "--planner", choices=["vi", "bi", "mcts"], default="bi", help="default: bi (backward induction)"
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
    p.add_argument("--out", default=None, help="run directory (default runs/plan-<planner>-<env>-<time>)")
    p.add_argument("--wandb", choices=["offline", "online", "disabled"], default="offline")
    p.add_argument("--layout-seed", type=int, default=None, help="the layout of a procedural env to plan on")

    _register_optional(sub, add)
    return parser


def _register_optional(sub, add) -> None:
    """Commands implemented in other modules register themselves through ``add_cli``."""
    import importlib

    for module in (
        "rlcredit.train",
        "rlcredit.experiments.cli",
        "rlcredit.plots.cli",
        "rlcredit.steering.cli",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                continue
            raise
        if hasattr(mod, "add_cli"):
            mod.add_cli(add)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("rlcredit: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as e:
        if args.debug:
            raise
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"rlcredit: error: {msg.splitlines()[0] if msg else type(e).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
