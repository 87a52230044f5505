"""``rlcredit envs``: a table of the built-in gridworlds."""

from __future__ import annotations

import argparse

from rlcredit.gridworld import builtin_envs
from rlcredit.gridworld.describe import describe

__all__ = ["run_envs"]


def run_envs(args: argparse.Namespace) -> int:
    """Print a table of the built-in gridworlds (with ``--verbose``, each one's description too)."""
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
        for entry in builtin_envs().values():
            if entry.variant is None:
                print(describe(entry.spec()) + "\n")
    return 0
