"""The ``rlcredit`` command: ``envs``, ``plan``, ``train``, ``run``, ``sweep``, ``plot``, ``report``, ``demo``,
``steer``.

The parser (:mod:`rlcredit.cli.parser`) imports nothing heavy; each command is implemented by ``run_<command>``
in its own module (``envs``, ``plan``, ``train``, ``experiments``, ``plot``, ``steer``), imported once the
command line is parsed. Nothing below the CLI imports it.

Every command has ``--help`` with examples. Errors in what the user gave (a malformed map, an unknown env id,
a bad config key, a corrupt checkpoint) print one line and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import gymnasium as gym

from rlcredit.cli.common import UserError, check_spec
from rlcredit.cli.errors import one_line, quiet_numpy_warnings
from rlcredit.cli.parser import COMMANDS, build_parser
from rlcredit.tracking import CheckpointError

__all__ = ["UserError", "build_parser", "main"]

USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    ValueError,
    FileNotFoundError,
    KeyError,
    gym.error.Error,
    FloatingPointError,
    NotADirectoryError,
    CheckpointError,
)
"""Exceptions reported as one line and exit status 2 (the user's input was wrong, not the program)."""

SLOW_START = ("run", "demo", "sweep")
"""Commands that print a first line before importing their modules (experiments start several processes)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``rlcredit ARGV``; returns the exit status."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    quiet_numpy_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        if getattr(args, "spec", None) and args.command in ("run", "sweep"):
            check_spec(args.spec)  # a mistyped spec fails before the slow start
        if args.command in SLOW_START:  # loading torch and numba takes seconds: say something at once
            print(
                f"rlcredit {args.command}: starting (loading torch and the compiled planners) ...", flush=True
            )
        # The command's module (and torch, numba, matplotlib with it) only now: `--help` stays light.
        module = importlib.import_module(f"rlcredit.cli.{COMMANDS[args.command]}")
        return int(getattr(module, f"run_{args.command}")(args) or 0)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("rlcredit: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        if args.debug:
            raise
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"rlcredit: error: {msg.splitlines()[0] if msg else type(e).__name__}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError, RecursionError, MemoryError) as e:
        # The disk, the machine or another process (read-only, full, locked, too deep, too big): one line.
        line = one_line(e, args)
        if line is None or args.debug:
            raise
        print(f"rlcredit: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
