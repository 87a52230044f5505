"""``rlcredit envs``: a table of the built-in gridworlds."""

from __future__ import annotations

import argparse

from rlcredit.gridworld import builtin_envs, compile_layout
from rlcredit.gridworld.describe import describe
from rlcredit.gridworld.maps import CellType, MapSpec

__all__ = ["run_envs"]


def _describe_kind(ct: CellType) -> str:
    """``button +10 (T)``, ``tomato +0.02/step``, ``switch -> delusion``: what entering the cell does."""
    text = f"{ct.kind} {ct.reward:+g}"
    if ct.reward_per_step:
        text = f"{ct.kind} {ct.reward_per_step:+g}/step"
    if ct.flag:
        text = f"{ct.kind} -> {ct.flag}" + (f" {ct.reward:+g}" if ct.reward else "")
    return text + (" (T)" if ct.terminal else "") + (" *" if ct.intended else "")


def _num_states(spec: MapSpec) -> int:
    """Exact-model states of one layout: the grid's cells on maps without objects (walls included, as the state
    index is ``r * W + c``), else the states the object world's breadth-first search reaches."""
    if not spec.has_objects:
        H, W = spec.shape
        return H * W
    return compile_layout(spec).num_states


def run_envs(args: argparse.Namespace) -> int:
    """Print a table of the built-in gridworlds (with ``--verbose``, each one's description too)."""
    rows = []
    for env_id, entry in builtin_envs().items():
        spec = entry.spec()
        H, W = spec.shape
        rewards = ", ".join(
            _describe_kind(ct) for ct in (*spec.legend.values(), *spec.objects) if ct.kind != "start"
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
                f"{_num_states(spec):,}",
                "index/coords/grid",
                rewards + (f"; {', '.join(extra)}" if extra else ""),
                spec.purpose.split(":")[0] if spec.purpose else "",
            )
        )
    header = ("id", "size", "states", "obs", "rewards ((T) terminal, * intended, -> flag switched)", "for")
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
