"""Experiment figures, from the files of an experiment directory.

The standard figures (learning and reachability curves, credit, contrast bars) come from
:func:`rlcredit.plots.plot_experiment`. A spec's ``figures`` list adds figures made from the test-time
evaluations (``eval.json``):

- ``discoverability`` (or ``discoverability:KIND``, default kind ``button``): for each training env, the
  fraction of seeds whose final policy presses the button (exact probability of reaching it > 0.5, or the
  test-time rate when there is no exact figure), against the probability that a uniform-random policy ever
  reaches it in an episode (exact, from the env's model). Planners press it whenever it is the optimum.
- ``power`` (or ``power:GAMMA``, default the env's discount): POWER (Turner et al. 2021) of every state of the
  first training env, beside where each agent goes at test time (mean visits per episode), with the mean POWER of
  the states each agent visits.
- ``history:KIND``: for every trainer and seed, the exact probability that an episode of ``pi_k`` enters a cell of
  ``KIND`` (a switch, a checkpoint) per update, beside the gradient weight the updates applied to sampled steps
  aimed at it (:func:`rlcredit.plots.history.channel_history`): was the policy credited before it took it?
- ``mazes:REGION``: on procedural mazes whose intended object (the cheese) always lay in ``REGION`` during
  training, each trainer seed's exact probability of reaching the object and of entering the region, in and out of
  the training distribution, and per test maze (:func:`goal_or_region`; needs ``eval.exact_mazes``).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import replace
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd

from rlcredit.experiments.spec import EnvVariant, ExperimentSpec, expand_pieces
from rlcredit.experiments.stats import interval
from rlcredit.gridworld.registry import make
from rlcredit.planning import power
from rlcredit.planning.occupancy import layout_reach
from rlcredit.plots import plot_experiment, style
from rlcredit.plots.data import find_runs
from rlcredit.plots.grid import cell_name, draw_cells, power_digits
from rlcredit.plots.history import channel_history
from rlcredit.plots.style import Plot

__all__ = ["discoverability", "experiment_figures", "goal_or_region", "power_visits", "uniform_reach"]


def experiment_figures(
    exp_dir: str | os.PathLike[str],
    spec: ExperimentSpec,
    evals: pd.DataFrame,
    table: pd.DataFrame,
    *,
    standard: bool = True,
) -> list[str]:
    """Draw every figure of an experiment into ``EXP_DIR/plots/``; returns the problems met (as warnings).

    ``standard=False`` draws only the spec's ``figures`` (for a caller that drew the standard ones already). A
    figure that cannot be drawn never stops an experiment: its results are in the tables already.
    """
    out = Path(exp_dir) / "plots"
    problems: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if standard:
                plot_experiment(exp_dir, per_run=False)
        except Exception as e:  # derived output: report and carry on
            problems.append(f"plots: {_why(e)}")
        for name in spec.figures:
            fig, _, arg = name.partition(":")
            try:
                if fig == "discoverability":
                    discoverability(spec, evals, kind=arg or "button").save(out)
                elif fig == "power":
                    plot = power_visits(exp_dir, spec, gamma=float(arg) if arg else None)
                    if sum(f.partition(":")[0] == "power" for f in spec.figures) > 1:
                        # one file per discount: two POWER figures must not overwrite each other
                        plot = replace(plot, name=f"power_visits_gamma{plot.data['gamma']:g}")
                    plot.save(out)
                elif fig == "history":
                    channel_history(find_runs(exp_dir), arg).save(out)
                elif fig == "mazes":
                    goal_or_region(exp_dir, spec, arg).save(out)
            except Exception as e:  # derived output: report and carry on
                problems.append(f"figure {name}: {_why(e)}")
    return problems


def _why(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def uniform_reach(env: EnvVariant, kind: str) -> float:
    """Exact probability that the uniform-random policy enters a cell of ``kind`` within the time limit."""

    layout = make(env.id, **env.kwargs).unwrapped.layout  # type: ignore[attr-defined]
    pi = np.full((layout.num_states, 4), 0.25)
    return layout_reach(layout, pi, kinds=[kind])[kind]


def _pressed(group: pd.DataFrame, kind: str) -> tuple[np.ndarray, bool]:
    """Per seed: 1 if the agent's final policy goes for ``kind`` (exact reach > 0.5, else test rate > 0.5);
    and whether the exact figure was used."""
    exact, rate = f"exact_reach_{kind}", f"reach_{kind}"
    use_exact = exact in group and bool(group[exact].notna().all())
    values = group[exact] if use_exact else group[rate]
    return (values.to_numpy(dtype=np.float64) > 0.5).astype(np.float64), use_exact


def discoverability(spec: ExperimentSpec, evals: pd.DataFrame, *, kind: str = "button") -> Plot:
    """Fraction of seeds pressing ``kind`` vs its uniform-random reach probability, per agent.

    Returns
    -------
    rlcredit.plots.style.Plot
        Its ``data`` is a DataFrame ``agent, kind, train_env, uniform_reach, pressed, ci_low, ci_high, seeds,
        exact, interval`` (the interval of :func:`~rlcredit.experiments.stats.interval`: a bootstrap CI with
        at least five seeds, else the range; ``exact``: whether the exact reach probability decided).
        Points of an agent are joined by lines only when there are at least three training envs.
    """

    if f"reach_{kind}" not in evals.columns:
        raise ValueError(f"no evaluation measured reaching {kind!r}")
    rows = []
    for env in spec.envs:
        test = next((t for t in env.tests if t.label == env.label), env.tests[0])
        p_uniform = uniform_reach(test, kind)
        here = evals[(evals["train_env"] == env.label) & (evals["env"] == test.label)]
        for (agent, agent_kind), group in here.groupby(["agent", "kind"], sort=False):
            pressed, exact = _pressed(group, kind)
            low, high, label = interval(pressed)
            rows.append(
                {
                    "agent": agent,
                    "kind": agent_kind,
                    "train_env": env.label,
                    "uniform_reach": p_uniform,
                    "pressed": float(pressed.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "seeds": len(pressed),
                    "exact": exact,
                    "interval": label,
                }
            )
    data = pd.DataFrame(rows)
    if data.empty:
        raise ValueError("no finished evaluation on a training env")

    with style.rc():
        fig = style.new_figure(6.4, 4.2)
        ax = fig.subplots()
        colours = style.label_colours(data["agent"])
        agents = list(dict.fromkeys(data["agent"]))
        for k, (agent, group) in enumerate(data.groupby("agent", sort=False)):
            g = group.sort_values("uniform_reach")
            planner = g["kind"].iloc[0] == "plan"
            # dodge the agents sideways (log axis) so identical results stay visible
            x = g["uniform_reach"] * 10 ** (0.025 * (k - (len(agents) - 1) / 2))
            err_low = np.where(np.isfinite(g["ci_low"]), g["pressed"] - g["ci_low"], 0.0)
            err_high = np.where(np.isfinite(g["ci_high"]), g["ci_high"] - g["pressed"], 0.0)
            ax.errorbar(
                x,
                g["pressed"],
                yerr=[err_low, err_high],
                color=colours[agent],
                marker="s" if planner else "o",
                # two x-points joined by a line would suggest a trend the data cannot show
                ls=("--" if planner else "-") if len(g) >= 3 else "none",
                capsize=2.5,
                lw=1.4,
                ms=6 - 0.6 * k,
                alpha=0.9,
                label=f"{agent} ({'planner' if planner else 'trainer'})",
            )
        envs = data.drop_duplicates("train_env").sort_values("uniform_reach")
        ax.set_xscale("log")
        ax.set_ylim(-0.05, 1.05)
        lo, hi = envs["uniform_reach"].min(), envs["uniform_reach"].max()
        ax.set_xlim(lo / 2, hi * 2)
        top = ax.secondary_xaxis("top")
        top.set_xticks(envs["uniform_reach"].to_numpy(), [str(e) for e in envs["train_env"]], fontsize=7)
        top.minorticks_off()
        top.tick_params(length=2, colors="#555555")
        ax.set_xlabel(f"P(uniform-random policy ever reaches the {kind} in an episode)")
        # two lines: one line is taller than the axes and was clipped at the top of the figure
        ax.set_ylabel(f"fraction of seeds whose final\npolicy goes to the {kind}")
        ax.legend(loc="center left")
        caption = _discoverability_caption(data, kind)
        style.finish(fig, f"Does the trained policy find the {kind}?", caption)
    return style.Plot(
        fig, f"discoverability_{kind}", f"Does the trained policy find the {kind}?", caption, data
    )


def _visits(exp_dir: Path, spec: ExperimentSpec, env_label: str, test_label: str) -> dict[str, np.ndarray]:
    """Mean test-time visits per state of each agent (averaged over seeds) on one test variant."""

    sums: dict[str, list[np.ndarray]] = {}
    for piece in expand_pieces(spec, exp_dir):
        path = exp_dir / piece.name / "eval.json"
        if piece.env.label != env_label or not path.is_file():
            continue
        figures = json.loads(path.read_text(encoding="utf-8"))["envs"].get(test_label, {})
        if "visits" in figures:
            sums.setdefault(piece.agent, []).append(np.asarray(figures["visits"], dtype=np.float64))
    return {agent: np.mean(v, axis=0) for agent, v in sums.items()}


def power_visits(
    exp_dir: str | os.PathLike[str],
    spec: ExperimentSpec,
    *,
    gamma: float | None = None,
    num_samples: int = 1000,
) -> Plot:
    """POWER of every state of the first training env, and each agent's test-time visits on it.

    POWER is computed over the infinite horizon with discount ``gamma`` (default: the env's; at most 0.99).

    Returns
    -------
    rlcredit.plots.style.Plot
        Its ``data`` is a dict: ``power`` (S,), ``visits`` {agent: (S,)}, ``mean_power`` {agent: float} (the
        visit-weighted mean POWER of the non-terminal states each agent stands on).
    """

    exp_dir = Path(exp_dir)
    env = spec.envs[0]
    test = next((t for t in env.tests if t.label == env.label), env.tests[0])
    e = make(test.id, **test.kwargs)
    layout = e.unwrapped.layout  # type: ignore[attr-defined]  # an rlcredit GridWorldEnv
    m = layout.to_mdp()
    m = m.replace(gamma=min(m.gamma if gamma is None else gamma, 0.99))
    res = power(m.replace(horizon=None), num_samples=num_samples, seed=0)
    visits = _visits(exp_dir, spec, env.label, test.label)
    if not visits:
        raise ValueError(f"no test-time visits recorded on {test.label}")
    H, W = layout.shape
    free = layout.live  # per state: where an agent acts
    mean_power = {
        a: float(np.sum(v * res.power * free) / max(np.sum(v * free), 1e-12)) for a, v in visits.items()
    }
    # drawn per cell: POWER averaged over a cell's object configurations, visits added up
    cell_power = layout.per_cell(np.where(free, res.power, np.nan))
    cell_visits = {a: np.nan_to_num(layout.per_cell(v * free, "sum")) for a, v in visits.items()}

    with style.rc():
        panels = 1 + len(visits)
        cols = min(panels, 4)
        rows = math.ceil(panels / cols)
        fig = style.new_figure(2.6 * cols, 2.7 * rows + 0.6)
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        pw = cell_power
        vmin, vmax_power = float(np.nanmin(pw)), float(np.nanmax(pw))
        digits = power_digits(layout, pw)  # enough decimals to tell states (and agents) apart at any gamma
        norm = mpl.colors.Normalize(vmin, vmax_power)
        floor = style.SEQUENTIAL(norm(np.nan_to_num(pw, nan=vmin)))[:, :3].reshape(H, W, 3)
        draw_cells(axes[0], layout, floor=floor)
        axes[0].set_title("POWER")
        fig.colorbar(mpl.cm.ScalarMappable(norm, style.SEQUENTIAL), ax=axes[0], shrink=0.7)
        vmax = max(float(np.max(v)) for v in cell_visits.values()) or 1.0
        vnorm = mpl.colors.LogNorm(vmin=min(1e-3, vmax / 10), vmax=vmax)
        for ax, (agent, v) in zip(axes[1:], cell_visits.items()):
            colours = style.COUNTS(vnorm(np.clip(v, vnorm.vmin, None)))[:, :3]
            colours[v <= 0] = 1.0
            draw_cells(ax, layout, floor=colours.reshape(H, W, 3))
            ax.set_title(f"{agent}\nmean POWER {mean_power[agent]:.{digits}f}", fontsize=8.5)
        fig.colorbar(
            mpl.cm.ScalarMappable(vnorm, style.COUNTS),
            ax=list(axes[1:panels]),
            shrink=0.6,
            label="visits per episode",
        )
        for ax in axes[panels:]:
            ax.set_axis_off()
        best = int(np.nanargmax(cell_power))
        caption = (
            f"Left: POWER of each state (gamma {m.gamma:g}, {num_samples} samples of an iid uniform [0, 1] reward "
            f"per state): the best average future reward available from it; it ranges from {vmin:.{digits}f} to "
            f"{vmax_power:.{digits}f} and peaks at {cell_name(best, W)}. Others: mean visits per test episode on "
            f"{test.label} (log colour); the number is the visit-weighted mean POWER of the states the agent "
            f"stands on: {', '.join(f'{a} {v:.{digits}f}' for a, v in mean_power.items())}."
        )
        title = f"POWER (gamma {m.gamma:g}, {num_samples} samples) and where each agent goes ({test.label})"
        style.finish(fig, title, caption)
    data = {"power": res.power, "visits": visits, "mean_power": mean_power, "gamma": m.gamma}
    return style.Plot(fig, "power_visits", title, caption, data)


def _discoverability_caption(data: pd.DataFrame, kind: str) -> str:
    """The caption of :func:`discoverability`, every number and claim read off ``data``."""
    exact = sorted(set(data.loc[data["exact"], "agent"]))
    rate = sorted(set(data.loc[~data["exact"], "agent"]))
    rule = []
    if exact:
        rule.append(f"its exact probability of reaching it exceeds 0.5 ({', '.join(exact)})")
    if rate:
        rule.append(f"it reached it in more than half of its test episodes ({', '.join(rate)})")
    per_agent = []
    for agent, g in data.groupby("agent", sort=False):
        g = g.sort_values("uniform_reach", ascending=False)
        parts = [
            f"{round(p * n)}/{n} on {env} ({u:.2g})"
            for env, p, n, u in zip(g["train_env"], g["pressed"], g["seeds"], g["uniform_reach"])
        ]
        per_agent.append(f"{agent} {', '.join(parts)}")
    intervals = sorted(set(data["interval"]))
    return (
        f"Each point is one training env (x: the uniform-random policy's exact probability of reaching the "
        f"{kind}); a policy goes to the {kind} when {' or when '.join(rule)}. Seeds going there: "
        f"{'; '.join(per_agent)}. Bars: {', '.join(intervals)}."
    )


def _intended_kind(test: EnvVariant) -> str:
    """The object kind(s) a map declares intended (e.g. ``cheese``), for labels."""
    legend = make(test.id, **test.kwargs).unwrapped.map.legend  # type: ignore[attr-defined]
    kinds = sorted({ct.kind for ct in legend.values() if ct.intended})
    return " / ".join(kinds) if kinds else "intended objective"


def goal_or_region(exp_dir: str | os.PathLike[str], spec: ExperimentSpec, region: str) -> Plot:
    """Does a trained policy go to the intended object or to the region it always lay in during training?

    From the ``exact_mazes`` figures (``eval.json``) of every trainer seed on the first training env. In
    distribution (the test variant whose every object lies in ``region``): the exact probability of reaching the
    object. Off distribution (the last other test variant): only the mazes where the object lies outside
    ``region`` and either can be reached without the other, where reaching one first is a choice; there the
    probability of reaching the object before entering the region and of entering the region before the object,
    beside the uniform-random policy's (a reference that prefers neither). Left: per agent and seed; right: per
    (seed, maze).

    Returns
    -------
    rlcredit.plots.style.Plot
        ``data``: one row per (agent, seed, test, maze): ``p_intended`` (reach the object at all),
        ``first_intended``, ``first_region``, ``uniform_first_intended``, ``uniform_first_region``,
        ``intended_in_region``, ``choice``.

    Raises
    ------
    ValueError
        Without exact per-maze figures, without an in-distribution and an off-distribution test variant, or
        when no off-distribution maze leaves the choice.
    """

    exp_dir = Path(exp_dir)
    env = spec.envs[0]
    if region not in spec.eval.regions or not spec.eval.exact_mazes:
        raise ValueError(f"the figure needs eval.regions.{region} and eval.exact_mazes > 0")
    rows = []
    for piece in expand_pieces(spec, exp_dir):
        path = exp_dir / piece.name / "eval.json"
        if piece.env.label != env.label or piece.kind != "train" or not path.is_file():
            continue
        for test, figures in json.loads(path.read_text(encoding="utf-8"))["envs"].items():
            mazes = figures.get("mazes")
            if not mazes:
                continue
            for i, seed in enumerate(mazes["layout_seed"]):
                rows.append(
                    {
                        "agent": piece.agent,
                        "seed": piece.seed,
                        "test": test,
                        "layout_seed": seed,
                        "p_intended": mazes["exact_intended"][i],
                        "first_intended": mazes[f"exact_first_intended_{region}"][i],
                        "first_region": mazes[f"exact_first_region_{region}"][i],
                        "uniform_first_intended": mazes[f"uniform_first_intended_{region}"][i],
                        "uniform_first_region": mazes[f"uniform_first_region_{region}"][i],
                        "intended_in_region": mazes[f"intended_in_{region}"][i],
                        "choice": mazes[f"choice_{region}"][i],
                    }
                )
    data = pd.DataFrame(rows)
    if data.empty:
        raise ValueError("no trained policy has exact per-maze figures (eval.exact_mazes)")
    goal = _intended_kind(env.train)
    inside = data.groupby("test")["intended_in_region"].all()
    ins = [t for t in dict.fromkeys(data["test"]) if inside[t]]
    offs = [
        t
        for t in dict.fromkeys(data["test"])
        if not inside[t] and data.loc[data["test"] == t, "choice"].any()
    ]
    if not ins or not offs:
        raise ValueError(
            f"the figure needs a test variant whose every {goal} lies in the {region} region and another with "
            "mazes where either can be reached without the other"
        )
    train_test, off = ins[0], offs[-1]
    in_data = data[data["test"] == train_test]
    off_data = data[(data["test"] == off) & data["choice"].astype(bool)]
    per_seed_in = in_data.groupby(["agent", "seed"])["p_intended"].mean().reset_index()
    cols = ["first_intended", "first_region", "uniform_first_intended", "uniform_first_region"]
    per_seed_off = off_data.groupby(["agent", "seed"])[cols].mean().reset_index()
    agents = list(dict.fromkeys(data["agent"]))
    with style.rc():
        fig = style.new_figure(9.6, 4.4)
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
        colours = {"p_intended": "#2a9d8f", "first_intended": "#2a9d8f", "first_region": "#e76f51"}
        names = {
            "p_intended": f"P(reach the {goal})",
            "first_intended": f"P(the {goal} before the {region} region)",
            "first_region": f"P(the {region} region before the {goal})",
        }
        slots = [
            (0, "p_intended", per_seed_in),
            (1, "first_intended", per_seed_off),
            (2, "first_region", per_seed_off),
        ]
        width = 0.8 / len(agents)
        for a, agent in enumerate(agents):
            for x, col, frame in slots:
                d = frame[frame["agent"] == agent]
                pos = x + (a - (len(agents) - 1) / 2) * width
                left.bar(pos, d[col].mean(), width=width * 0.9, color=colours[col], alpha=0.35)
                left.scatter(np.full(len(d), pos), d[col], color=colours[col], s=14, zorder=3)
                if col != "p_intended":
                    ref = d[f"uniform_{col}"].mean()
                    left.hlines(ref, pos - width * 0.45, pos + width * 0.45, color="#333333", lw=1.2, ls="--",
                                label="uniform-random policy" if (a, x) == (0, 1) else None)  # fmt: skip
        left.set_xticks(
            [0, 1, 2],
            [
                f"{train_test}:\nreach the {goal}",
                f"{off}:\n{goal} first",
                f"{off}:\n{region} region first",
            ],
            fontsize=7.5,
        )
        left.set_ylim(0, 1.05)
        left.set_ylabel("exact probability per episode\n(bar: mean over seeds; dot: one seed)")
        left.legend(loc="upper center", fontsize=7)
        seeds = sorted(off_data["seed"].unique())
        shades = mpl.colormaps["viridis"](np.linspace(0.05, 0.85, max(len(seeds), 2)))
        for k, s in enumerate(seeds):
            g = off_data[off_data["seed"] == s]
            right.scatter(g["first_region"], g["first_intended"], s=12, alpha=0.7, color=shades[k],
                          label=f"trained, seed {s}")  # fmt: skip
        ref = off_data.drop_duplicates("layout_seed")
        right.scatter(ref["uniform_first_region"], ref["uniform_first_intended"], s=16, marker="x", color="#777777",
                      label="uniform-random policy")  # fmt: skip
        right.plot([0, 1], [0, 1], color="#999999", lw=0.8, ls=":")
        right.set_xlim(-0.03, 1.03)
        right.set_ylim(-0.03, 1.03)
        right.set_xlabel(names["first_region"])
        right.set_ylabel(names["first_intended"])
        right.set_title(f"{off}: the mazes that leave the choice", fontsize=8)
        right.legend(loc="upper center", fontsize=6, markerscale=1.3)
        caption = _goal_or_region_caption(per_seed_in, per_seed_off, off_data, train_test, off, goal, region,
                                          in_data["layout_seed"].nunique(), data.loc[data["test"] == off,
                                          "layout_seed"].nunique())  # fmt: skip
        title = f"The {goal} or the {region}?"
        style.finish(fig, title, caption)
    return style.Plot(fig, f"goal_or_region_{region}", title, caption, data)


def _goal_or_region_caption(
    per_seed_in: pd.DataFrame,
    per_seed_off: pd.DataFrame,
    off_mazes: pd.DataFrame,
    train_test: str,
    off: str,
    goal: str,
    region: str,
    n_in: int,
    n_off: int,
) -> str:
    """The figure's numbers, computed from its data (one sentence per agent when there are several)."""

    def num(x: float) -> str:
        """Two decimals, or two significant digits for a probability within 0.005 of 0 or 1."""
        if 0 < x < 0.005:
            return f"{x:.1e}"
        if 0.995 < x < 1:
            return f"1 - {1 - x:.1e}"
        return f"{x:.2f}"

    def summary(values: pd.Series) -> str:
        low, high, _ = interval(values.to_numpy(dtype=np.float64))
        mean = num(float(values.mean()))
        return mean if not np.isfinite(low) else f"{mean} [{num(low)}, {num(high)}]"

    parts = []
    agents = list(dict.fromkeys(per_seed_in["agent"]))
    for agent in agents:
        ins = per_seed_in[per_seed_in["agent"] == agent]
        outs = per_seed_off[per_seed_off["agent"] == agent]
        mine = off_mazes[off_mazes["agent"] == agent]
        _, _, label = interval(ins["p_intended"].to_numpy(dtype=np.float64))
        m = mine["layout_seed"].nunique()
        ref = mine.drop_duplicates("layout_seed")
        more = float((mine["first_region"] > mine["first_intended"]).mean())
        who = f"{agent}: " if len(agents) > 1 else ""
        parts.append(
            f"{who}{len(ins)} seeds, brackets: {label}. Training distribution ({train_test}, {n_in} test mazes): "
            f"P(reach the {goal}) {summary(ins['p_intended'])}. {off}, the {m} of {n_off} test mazes where the "
            f"{goal} lies outside the {region} region and either can be reached without the other: P(the {goal} "
            f"before the {region} region) {summary(outs['first_intended'])}, P(the {region} region before the "
            f"{goal}) {summary(outs['first_region'])} (uniform-random policy: "
            f"{num(ref['uniform_first_intended'].mean())} and {num(ref['uniform_first_region'].mean())}); the "
            f"{region} region comes first with the higher probability in {more:.0%} of (seed, maze) pairs."
        )
    return (
        "Exact probabilities from each maze's model and the trained policy's action probabilities at every state "
        "(no sampling); " + " ".join(parts)
    )
