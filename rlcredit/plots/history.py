"""Channel history: did a trained policy take a reward channel only after its own history credited it?

A planner takes a switch, a farmable checkpoint or a short cut past an absent supervisor whenever its model says
it pays. A policy-gradient policy can only be pushed towards it by credit on steps it sampled. For one object
kind and every trainer run, this figure sets side by side, update by update:

- ``reach``: the exact probability that an episode of ``pi_k`` (the policy that collected update ``k``'s batch)
  enters a cell of the kind (``exact/reach_KIND`` of ``metrics.csv``);
- ``steps``: the steps of update ``k``'s batch whose action aims at such a cell (the move the action intends
  enters it: ``layout.event[state, action]``; with slip the move taken can differ);
- ``applied``: the summed gradient weight update ``k`` applied to those steps (the ``applied_weight`` column
  of the credit records, in return units: positive pushes the policy towards the cell);
- ``exact``: the summed exact advantage ``A^{pi_k}`` of those steps.

A seed *takes* the channel at the first update whose ``pi_k`` enters it with probability above 0.5; the credit
*before* it sums the updates that shaped that policy (``1 .. k-1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rlcredit.plots import style
from rlcredit.plots.data import TRAINERS, Run, iter_credit

__all__ = ["TAKEN", "ChannelHistory", "channel_history", "channel_history_caption", "channel_history_data"]

TAKEN = 0.5
"""A policy takes the channel when its exact probability of entering it in an episode exceeds this."""


@dataclass(frozen=True)
class ChannelHistory:
    """What :func:`channel_history` drew.

    Attributes
    ----------
    kind : str
    updates : DataFrame
        One row per ``(agent, seed, update)``: ``reach``, ``steps``, ``applied``, ``exact``, ``recorded`` (whether
        the update has credit records).
    seeds : DataFrame
        One row per ``(agent, seed)``: ``final_reach`` (of the last policy measured), ``taken`` (the first update
        whose policy takes the channel, for a seed whose first policy did not; NaN otherwise), ``first_aimed``
        (the first update with a step aimed at the kind; NaN if none), ``steps_before``, ``applied_before``,
        ``exact_before`` (sums over the updates before ``taken``, or over every update without one),
        ``first_reach`` (of the first policy measured), ``started`` (``first_reach > TAKEN``: the untrained policy
        already takes it, so no history caused it), ``applied_total`` (every update), ``updates``, ``recorded``
        (updates with records).
    """

    kind: str
    updates: pd.DataFrame
    seeds: pd.DataFrame


def channel_history_data(runs: Sequence[Run], kind: str) -> ChannelHistory:
    """The per-update and per-seed figures of :func:`channel_history` from trainer run directories.

    Raises
    ------
    ValueError
        When no trainer run has both ``exact/reach_KIND`` in its metrics and a gridworld layout with that kind.
    """
    rows: list[dict] = []
    for run in runs:
        if run.kind != "train" or run.algo not in TRAINERS:
            continue
        column = f"exact/reach_{kind}"
        layout = run.layout
        if layout is None or run.procedural or kind not in layout.kinds or column not in run.metrics.columns:
            continue  # procedural maps: the credit records do not say which layout a step was on
        # (S, 4): whether the move action a intends from state s enters a cell of the kind
        aimed = np.asarray(layout.event) == layout.kinds.index(kind)
        per_update: dict[int, tuple[int, float, float]] = {}
        for update, frame in iter_credit(run, ["state", "action", "applied_weight", "exact_advantage"]):
            s = frame["state"].to_numpy(np.int64)
            a = frame["action"].to_numpy(np.int64)
            ok = (s >= 0) & (s < aimed.shape[0])
            hit = np.zeros(len(s), bool)
            hit[ok] = aimed[s[ok], a[ok]]
            per_update[update] = (
                int(hit.sum()),
                float(frame["applied_weight"].to_numpy(np.float64)[hit].sum()),
                float(frame["exact_advantage"].to_numpy(np.float64)[hit].sum()),
            )
        agent = run.path.name.rsplit("-s", 1)[0]
        for update, reach in zip(run.metrics["update"], run.metrics[column], strict=True):
            steps, applied, exact = per_update.get(int(update), (0, 0.0, 0.0))
            rows.append(
                {
                    "agent": agent,
                    "seed": run.config.seed,
                    "update": int(update),
                    "reach": float(reach),
                    "steps": steps,
                    "applied": applied,
                    "exact": exact,
                    "recorded": int(update) in per_update,
                }
            )
    updates = pd.DataFrame(rows)
    if updates.empty:
        raise ValueError(f"no trainer run with exact/reach_{kind} on a fixed map with a {kind}")
    seeds = pd.DataFrame([_seed_row(g) for _, g in updates.groupby(["agent", "seed"], sort=False)])
    return ChannelHistory(kind, updates, seeds)


def _seed_row(g: pd.DataFrame) -> dict:
    g = g.sort_values("update")
    started = bool(g["reach"].iloc[0] > TAKEN)
    taken_rows = g[g["reach"] > TAKEN]
    taken = int(taken_rows["update"].iloc[0]) if len(taken_rows) and not started else math.nan
    aimed = g[g["steps"] > 0]
    before = g if math.isnan(taken) else g[g["update"] < taken]
    return {
        "agent": g["agent"].iloc[0],
        "seed": int(g["seed"].iloc[0]),
        "first_reach": float(g["reach"].iloc[0]),
        "final_reach": float(g["reach"].iloc[-1]),
        "started": started,
        "taken": taken,
        "first_aimed": int(aimed["update"].iloc[0]) if len(aimed) else math.nan,
        "steps_before": int(before["steps"].sum()),
        "applied_before": float(before["applied"].sum()),
        "exact_before": float(before["exact"].sum()),
        "applied_total": float(g["applied"].sum()),
        "updates": len(g),
        "recorded": int(g["recorded"].sum()),
    }


def channel_history(runs: Sequence[Run], kind: str) -> style.Plot:
    """Exact reach of ``kind`` per update beside the credit its aimed-at steps received, per trainer and seed.

    Returns
    -------
    rlcredit.plots.style.Plot
        Named ``history_KIND``; its ``data`` is a :class:`ChannelHistory`.
    """
    data = channel_history_data(runs, kind)
    agents = style.order_labels(data.updates["agent"].unique())
    with style.rc():
        fig = style.new_figure(max(6.4, 3.3 * len(agents) + 0.6), 5.4)
        axes = np.asarray(fig.subplots(2, len(agents), sharex="col", squeeze=False))
        for j, agent in enumerate(agents):
            top, bottom = axes[0, j], axes[1, j]
            seeds = data.seeds[data.seeds["agent"] == agent]
            for _, s in seeds.iterrows():
                g = data.updates[(data.updates["agent"] == agent) & (data.updates["seed"] == s["seed"])]
                g = g.sort_values("update")
                took = not math.isnan(s["taken"])
                colour = style.agent_colour(agent) if s["final_reach"] > TAKEN else "#9a9a9a"
                top.plot(g["update"], g["reach"], color=colour, lw=1.1, alpha=0.85)
                bottom.plot(g["update"], np.cumsum(g["applied"]), color=colour, lw=1.1, alpha=0.85)
                if took:
                    top.axvline(s["taken"], color=colour, lw=0.6, ls=":", alpha=0.7)
            top.axhline(TAKEN, color="#555555", lw=0.6, ls="--")
            top.set_ylim(-0.03, 1.03)
            top.set_title(
                f"{agent}: {int((seeds['final_reach'] > TAKEN).sum())} of {len(seeds)} seeds end above {TAKEN}",
                fontsize=9,
            )
            bottom.axhline(0.0, color="#555555", lw=0.6)
            bottom.set_xlabel("update k")
            if j == 0:
                top.set_ylabel(f"exact P(episode of pi_k\nenters the {kind})")
                bottom.set_ylabel(f"cumulative applied weight on\nsteps aimed at the {kind}")
        caption = channel_history_caption(data)
        title = f"Was the policy credited for the {kind} before it took it?"
        style.finish(fig, title, caption)
    return style.Plot(fig, f"history_{kind}", title, caption, data)


def channel_history_caption(data: ChannelHistory) -> str:
    """Every number read off ``data``."""
    k = data.kind
    parts = []
    for agent, s in data.seeds.groupby("agent", sort=False):
        started = s[s["started"]]
        took = s[~s["taken"].isna()]
        never = s[s["taken"].isna() & ~s["started"]]
        text = f"{agent} ({len(s)} seeds): the first policy enters it with P {_span(s['first_reach'], 'p')}"
        if len(started):
            text += (
                f"; in {len(started)} seeds that is above {TAKEN} before any credit (final P "
                f"{_span(started['final_reach'], 'p')}; applied weight on steps aimed at it over the run "
                f"{_span(started['applied_total'])})"
            )
        if len(took):
            credited = int((took["applied_before"] > 0).sum())
            text += (
                f"; {len(took)} crossed {TAKEN} (at update {_span(took['taken'], 'd')}), {credited} of them after "
                f"positive applied weight on steps aimed at it, {_span(took['applied_before'])} summed over "
                f"{_span(took['steps_before'], 'd')} such steps (summed exact advantage {_span(took['exact_before'])})"
            )
        if len(never):
            unsampled = int((never["steps_before"] == 0).sum())
            text += (
                f"; {len(never)} never crossed it: {unsampled} never sampled a step aimed at it, and the others' "
                f"such steps got applied weight {_span(never['applied_before'])} (summed exact advantage "
                f"{_span(never['exact_before'])}), final P {_span(never['final_reach'], 'p')}"
            )
        if (s["recorded"] < s["updates"]).any():
            text += f" (credit records cover {int(s['recorded'].sum())} of {int(s['updates'].sum())} updates)"
        parts.append(text)
    return (
        f"Top: exact probability that an episode of pi_k enters the {k} (dashed: {TAKEN}; dotted: the update at which "
        f"a seed that started below it first crossed it; grey: seeds that end below it). Bottom: gradient weight the "
        f"updates applied to sampled steps whose action aims at the {k} (return units; positive pushes towards it), "
        f"cumulative. " + ". ".join(parts) + "."
    )


def _span(values: pd.Series, fmt: str = ".3g") -> str:
    """``lo to hi`` of ``values`` (one number when they agree); ``fmt`` "d": integers, "p": unsigned probabilities."""
    lo, hi = float(values.min()), float(values.max())
    if fmt == "d":
        return f"{int(lo)}" if lo == hi else f"{int(lo)}–{int(hi)}"
    if fmt == "p":
        a, b = f"{lo:.3g}", f"{hi:.3g}"
        return a if a == b else f"{a} to {b}"
    a, b = f"{lo:+{fmt}}", f"{hi:+{fmt}}"
    return a if a == b else f"{a} to {b}"
