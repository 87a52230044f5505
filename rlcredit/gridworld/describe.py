"""The documentation of a gridworld in fixed sections, generated from its map file."""

from __future__ import annotations

from rlcredit.gridworld.maps import MapSpec

__all__ = ["SECTIONS", "describe"]

SECTIONS = ("Description", "Actions", "Observations", "Rewards", "Termination", "Variants")


def describe(spec: MapSpec) -> str:
    """The docstring of a gridworld in fixed sections (Description, Actions, Observations, Rewards, Termination,
    Variants), generated from its map file so the file stays the single source."""
    H, W = spec.shape
    objects = [ct for ct in spec.legend.values() if ct.kind != "start"]
    rewards = [
        f"- entering a {ct.kind} cell: {ct.reward:+g}"
        + (" (terminal)" if ct.terminal else "")
        + (", back to the start" if ct.respawn else "")
        + (", the intended objective" if ct.intended else "")
        + (f", placed at random ({ct.place})" if ct.place else "")
        for ct in objects
    ]
    if spec.step_cost:
        rewards.append(f"- every step: {spec.step_cost:+g}")
    terminal = [ct.kind for ct in objects if ct.terminal]
    layout = f"procedural {spec.maze[0]}x{spec.maze[1]}-cell mazes, " if spec.maze else ""
    variants = [
        f"- rlcredit/{spec.name}{v}-v0: "
        + ", ".join(
            f"{k} = {val!r}" if not isinstance(val, str) or "\n" not in val else f"{k} (another map)"
            for k, val in d.items()
        )
        for v, d in spec.variants.items()
    ] or ["- none"]
    return "\n".join(
        [
            f"{spec.name} (rlcredit/{spec.name}-v0)",
            "",
            "Description",
            "-----------",
            spec.description or "(none)",
            spec.purpose,
            "",
            "Actions",
            "-------",
            "Discrete(4): 0 up, 1 right, 2 down, 3 left"
            + (
                f"; with probability {spec.slip:g} a move goes in one of the other three directions."
                if spec.slip
                else "."
            ),
            "",
            "Observations",
            "------------",
            f"{layout}a {H}x{W} grid ({H * W} states, walls included). obs='index': Discrete({H * W}) state index; "
            f"obs='coords': (row, col) float32; obs='grid': uint8 planes (walls, agent, "
            + ", ".join(spec.kinds)
            + f") of shape ({2 + len(spec.kinds)}, {H}, {W}).",
            "",
            "Rewards",
            "-------",
            *(rewards or ["- none"]),
            f"Discount (for planners): gamma = {spec.gamma:g}.",
            "",
            "Termination",
            "-----------",
            (
                f"Entering a {', '.join(terminal)} cell ends the episode; "
                if terminal
                else "No terminal cells; "
            )
            + f"episodes are truncated after {spec.time_limit} steps.",
            "",
            "Variants",
            "--------",
            *variants,
        ]
    )
