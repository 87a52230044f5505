"""The documentation of a gridworld in fixed sections, generated from its map file."""

from __future__ import annotations

from rlcredit.gridworld.maps import CellType, MapSpec

__all__ = ["SECTIONS", "describe"]

SECTIONS = ("Description", "Actions", "Observations", "Rewards", "Termination", "Registered ids")


def describe(spec: MapSpec) -> str:
    """The docstring of a gridworld in fixed sections (Description, Actions, Observations, Rewards, Termination,
    Registered ids), generated from its map file so the file stays the single source."""
    H, W = spec.shape
    objects = [ct for ct in spec.legend.values() if ct.kind != "start"]
    objects = objects + list(spec.objects)
    rewards: list[str] = []
    for ct in objects:
        line = _describe_cell(ct)
        if line not in rewards:
            rewards.append(line)
    if spec.step_cost:
        rewards.append(f"- every step: {spec.step_cost:+g}")
    perf = [
        f"- {ct.kind}: {ct.intended_performance:+g} on entering (reward {ct.reward:+g})"
        for ct in objects
        if ct.kind != "box" and ct.intended_performance != ct.reward
    ]
    boxes = [ct for ct in objects if ct.kind == "box" and ct.cornered]
    if boxes:
        perf.append(f"- pushing a box into a corner (irreversible): {boxes[0].cornered:+g}")
    if spec.performance_step is not None and spec.performance_step != spec.step_cost:
        perf.append(f"- every step: {spec.performance_step:+g}")
    if spec.performance_unless:
        perf.append(f"- nothing counts while {spec.performance_unless} is on")
    flags = [f"- {f}: on at the start of an episode with probability {p:g}" for f, p in spec.flags.items()]
    terminal = [
        ct.kind
        + (f" (while {ct.when} is on)" if ct.when else "")
        + (f" (unless {ct.unless} is on)" if ct.unless else "")
        for ct in objects
        if ct.terminal
    ]
    layout = f"procedural {spec.maze[0]}x{spec.maze[1]}-cell mazes, " if spec.maze else ""
    variants = [
        f"- rlcredit/{spec.name}{v}-v0: "
        + ", ".join(
            f"{k} = {val!r}" if not isinstance(val, str) or "\n" not in val else f"{k} (another map)"
            for k, val in d.items()
        )
        for v, d in spec.variants.items()
    ]
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
            (
                f"{layout}a {H}x{W} grid ({H * W} states, walls included). obs='index': Discrete({H * W}) state "
                f"index; obs='coords': (row, col) float32; obs='grid': uint8 planes (walls, agent, "
                + ", ".join(spec.kinds)
                + f") of shape ({2 + len(spec.kinds)}, {H}, {W})."
                if not spec.has_objects
                else f"a {H}x{W} grid with objects: the state is the agent's cell x the objects' configuration x "
                f"the flags, numbered densely over the states reachable from the start. obs='index': Discrete(S) "
                f"state index; obs='coords': (row, col), then box rows/cols, item and door status, flags; "
                f"obs='grid': uint8 planes (walls, agent, "
                + ", ".join((*spec.kinds, *spec.flags))
                + f") of shape ({2 + len(spec.kinds) + len(spec.flags)}, {H}, {W})."
            ),
            *(["Flags (visible in the observation):", *flags] if flags else []),
            "",
            "Rewards",
            "-------",
            *(rewards or ["- none"]),
            f"Discount (for planners): gamma = {spec.gamma:g}.",
            *(
                [
                    "Intended performance (hidden from trainers; reported in info['performance']): as the reward, "
                    "except",
                    *perf,
                ]
                if perf
                else []
            ),
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
            "Registered ids",
            "--------------",
            f"- rlcredit/{spec.name}-v0: as described",
            *variants,
        ]
    )


def _describe_cell(ct: CellType) -> str:
    """One line of the Rewards section for a legend or objects entry."""
    if ct.kind == "box":
        return "- a box: pushed by walking into it (a wall, a box or any object behind it blocks the push)"
    if ct.kind == "door":
        return f"- a {ct.name} door: blocks until a {ct.name} key is picked up, then opens for good"
    text = f"- entering a {ct.kind} cell: {ct.reward:+g}"
    if ct.kind == "key":
        text += f" (picks up the {ct.name} key)"
    if ct.kind == "switch":
        text += f" (switches {ct.flag} {ct.switch})"
    if ct.when:
        text += f" while {ct.when} is on"
    if ct.unless:
        text += f" unless {ct.unless} is on"
    return (
        text
        + (" (terminal)" if ct.terminal else "")
        + (", back to the start" if ct.respawn else "")
        + (", the intended objective" if ct.intended else "")
        + (", once" if ct.is_once and ct.kind != "key" else "")
        + (f", then {ct.reward_per_step:+g} every step" if ct.reward_per_step else "")
        + (f" (the reward counts it done while {ct.fooled_by} is on)" if ct.fooled_by else "")
        + (f", placed at random ({ct.place})" if ct.place else "")
    )
