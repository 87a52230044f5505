"""The README's flagship numbers, computed from the experiment directories the README's commands write.

    python benchmarks/flagship.py wirehead-sweep runs/wirehead_sweep/main [--docs docs]
    python benchmarks/flagship.py experiment runs/credit_anatomy/main
    python benchmarks/flagship.py docs --demo runs/demo/DIR --wirehead runs/wirehead/DIR \
        --credit-anatomy runs/credit_anatomy/DIR --power runs/power/DIR --safety-tampering runs/safety_tampering/DIR \
        --cheese runs/cheese/DIR [--docs docs]

``wirehead-sweep`` reads every finished piece of ``runs/wirehead_sweep.toml`` (``eval.json``), keeps the seeds
for which every trainer piece finished (so each setting is compared on the same seeds), and prints, per preset,
entropy coefficient and bridge length, how many seeds' final policies press the button (exact probability of
ever reaching it > 0.5, the criterion of the discoverability figure) and the median exact probability. It draws
one discoverability figure per preset (both entropy coefficients, value iteration for reference) into
``EXP_DIR/plots/discoverability_button_<preset>.png`` and copies them to ``--docs`` when given.

``history EXP_DIR KIND`` prints the caption the ``history:KIND`` figure would have for any experiment (its numbers per
trainer and training env), also for one whose spec did not ask for the figure.

``experiment`` prints an experiment's contrast table (``contrast.md``) and, per agent and training env, the number
of finished seeds, so a README table can be pasted from a committed run's own files.

``docs`` (with any subset of the directories: only their rows) copies the flagship figures from the plots/ folders that ``rlcredit plot DIR`` wrote for the demo, the
wirehead, the credit-anatomy, the power, the reward-tampering and the cheese experiments into ``--docs`` and prints the README's "Flagship plots" table: every
number in a row's description is read from that figure's caption in the plots/ folder's ``captions.json``, and
each row names the run directory and the command that produced it. Run ``rlcredit plot DIR`` on each experiment
first, so figures and captions come from the current code.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd


def _preset(agent: str) -> str:
    return agent.split("[", 1)[0]


def complete_seeds(evals: pd.DataFrame) -> list[int]:
    """Seeds for which every trainer agent finished on every training env."""
    trainers = evals[evals["kind"] == "train"]
    cells = trainers.groupby(["agent", "train_env"]).ngroups
    per_seed = trainers.groupby("seed").apply(lambda g: g.groupby(["agent", "train_env"]).ngroups)
    return sorted(int(s) for s, n in per_seed.items() if n == cells)


def wirehead_sweep(exp_dir: Path, docs: Path | None) -> None:
    from rlcredit.experiments.contrast import collect_evals
    from rlcredit.experiments.figures import discoverability, uniform_reach
    from rlcredit.experiments.pieces import load_experiment

    spec, _ = load_experiment(exp_dir)
    evals = collect_evals(exp_dir, spec)
    evals = evals[evals["env"] == evals["train_env"]]
    seeds = complete_seeds(evals)
    if not seeds:
        sys.exit(f"{exp_dir}: no seed has every trainer piece finished yet")
    evals = evals[evals["seed"].isin(seeds)]
    reach = {e.label: uniform_reach(e.tests[0], "button") for e in spec.envs}
    bridges = [e.label for e in spec.envs]
    print(
        f"{exp_dir}: seeds {seeds[0]}..{seeds[-1]} ({len(seeds)} complete of {len(spec.seed_list)}); a seed presses "
        "when its final policy's exact P(ever reach the button) > 0.5\n"
    )
    header = " | ".join(f"{b} ({reach[b]:.2%})" for b in bridges)
    print(f"| preset | ent_coef | {header} |")
    print("|---|---:|" + "---:|" * len(bridges))
    trainers = evals[evals["kind"] == "train"]
    for agent, group in trainers.groupby("agent", sort=False):
        cells = []
        for b in bridges:
            p = group.loc[group["train_env"] == b, "exact_reach_button"].to_numpy(np.float64)
            cells.append(f"{int((p > 0.5).sum())}/{len(p)} (median P {np.median(p):.2g})" if len(p) else "–")
        ent = str(agent).split("ent_coef=", 1)[1].rstrip("]") if "ent_coef=" in str(agent) else ""
        print(f"| {_preset(str(agent))} | {ent} | " + " | ".join(cells) + " |")
    planners = evals[evals["kind"] == "plan"]
    for agent, group in planners.groupby("agent", sort=False):
        cells = []
        for b in bridges:
            p = group.loc[group["train_env"] == b, "exact_reach_button"].to_numpy(np.float64)
            cells.append(f"{int((p > 0.5).sum())}/{len(p)}" if len(p) else "–")
        print(f"| {agent} (planner) | | " + " | ".join(cells) + " |")

    out = exp_dir / "plots"
    for preset in dict.fromkeys(_preset(str(a)) for a in trainers["agent"]):
        keep = evals["agent"].map(lambda a, p=preset: _preset(str(a)) == p) | (evals["kind"] == "plan")
        plot = discoverability(spec, evals[keep])
        tmp = out / f".discoverability_{preset}"
        paths = plot.save(tmp)
        for path in paths:
            final = out / f"discoverability_button_{preset}{path.suffix}"
            path.replace(final)
            if docs is not None and final.suffix == ".png":
                shutil.copyfile(final, docs / final.name)
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"\nfigure: {out / f'discoverability_button_{preset}.png'}")


def history(exp_dir: Path, kind: str) -> None:
    """The history figure's caption (rlcredit.plots.history) for any experiment, per trainer and training env."""
    from rlcredit.plots.data import find_runs
    from rlcredit.plots.history import channel_history_caption, channel_history_data

    print(channel_history_caption(channel_history_data(find_runs(exp_dir), kind)))


def experiment(exp_dir: Path) -> None:
    from rlcredit.experiments.contrast import collect_evals
    from rlcredit.experiments.pieces import load_experiment

    spec, _ = load_experiment(exp_dir)
    evals = collect_evals(exp_dir, spec)
    contrast = exp_dir / "contrast.md"
    print(contrast.read_text() if contrast.is_file() else f"({contrast} not written yet)")
    counts = evals[evals["env"] == evals["train_env"]].groupby(["agent", "train_env"])["seed"].nunique()
    print("\nfinished seeds per agent and training env:")
    print(counts.to_string())


@dataclass(frozen=True)
class Figure:
    """One flagship figure: where ``rlcredit plot`` wrote it and how its README row reads."""

    doc_name: str
    experiment: str  # "demo" | "wirehead" | "credit_anatomy" | "power" | "safety_tampering"
    source: str  # path inside the experiment directory, e.g. "ppo-Bridge3-s0/plots/credit_map.png"
    alt: str
    describe: str  # format string over the caption's named groups (see ``pattern``)
    pattern: str  # regex with named groups, searched in the caption


FLAGSHIP = (
    Figure(
        "wirehead_discoverability.png",
        "wirehead",
        "plots/discoverability_button.png",
        "wirehead discoverability",
        "**Wirehead: who presses the far +10 button?** Eight ButtonRoom bridges, {n_seeds} seeds each: seeds whose "
        "final policy goes to the button (exact P(ever reach it) > 0.5; MCTS with UCT and random rollouts, 20k "
        "simulations per step: more than half its test episodes), against the uniform-random policy's exact "
        "probability of reaching it (in parentheses): {seeds}.",
        r"Seeds going there: (?P<seeds>.+?)\. Bars",
    ),
    Figure(
        "safety_tampering_history.png",
        "safety_tampering",
        "plots/history_switch.png",
        "reward tampering history",
        "**Reward tampering: credited before it tampered?** Per update k, the exact probability that an episode of "
        "π_k enters the delusion switch, beside the gradient weight the updates applied to sampled steps aimed at "
        "it ({n_seeds} seeds). {answer}.",
        r"cumulative\. (?P<answer>.+)\.$",
    ),
    Figure(
        "discoverability.png",
        "demo",
        "plots/discoverability_button.png",
        "discoverability",
        "**Does the trained policy find the button?** Seeds (of {n_seeds}) whose final policy goes to the button (exact "
        "P(ever reach it) > 0.5; MCTS: more than half its test episodes), on the demo's 2 envs, against the "
        "uniform-random policy's exact probability of reaching it (in parentheses): {seeds}.",
        r"Seeds going there: (?P<seeds>.+?)\. Bars",
    ),
    Figure(
        "credit_map.png",
        "demo",
        "ppo-Bridge3-s0/plots/credit_map.png",
        "credit map",
        "**Where credit went** (PPO, Bridge3, seed 0): per cell and action, (a) the gradient weight the updates "
        "applied, (b) the summed exact advantage of the steps taken, (c) the change in π, (d) visits. Steps aimed "
        "into the button: {button}, so it got no credit; {unvisited} of {cells} open cells never visited; the sign "
        "of (a) agrees with the direction π moved on {a} of {pairs} state-action pairs, (b) on {b}.",
        r"aimed into button: (?P<button>[\d,]+);.*?(?P<unvisited>\d+) of (?P<cells>\d+) open cells were never "
        r"visited\. The sign of \(a\) (?P<a>\d+%) and \(b\) (?P<b>\d+%) agrees with the direction π moved on "
        r"(?P<pairs>[\d,]+) state-action pairs",
    ),
    Figure(
        "credit_map_bridge1.png",
        "demo",
        "ppo-Bridge1-s0/plots/credit_map.png",
        "credit map, Bridge1",
        "**Where credit went where the button is found** (PPO, Bridge1, seed 0): {button} steps aimed into the "
        "button were credited; the sign of (a) agrees with the change in π on {a} of {pairs} state-action pairs, "
        "(b) on {b}.",
        r"aimed into button: (?P<button>[\d,]+);.*?The sign of \(a\) (?P<a>\d+%) and \(b\) (?P<b>\d+%) agrees "
        r"with the direction π moved on (?P<pairs>[\d,]+) state-action pairs",
    ),
    Figure(
        "policy_field.png",
        "demo",
        "ppo-Bridge3-s0/plots/policy_field.png",
        "policy field",
        "**The policy before and after training** (PPO, Bridge3, seed 0), and Δπ per action: the largest change "
        "is at row {row}, column {col}{note}, total variation {tv}.",
        r"largest change at row (?P<row>\d+), column (?P<col>\d+)(?P<note> \([^)]*\))?, total variation "
        r"(?P<tv>[\d.]+)",
    ),
    Figure(
        "shaping_map.png",
        "demo",
        "ppo-Bridge3-s0/plots/shaping_map.png",
        "shaping map",
        "**What one update moved** (PPO, Bridge3, seed 0, update {update}: {why}): {share} of the change in π "
        "fell on states its batch never visited, moved only by generalization.",
        r"how far update (?P<update>\d+) \((?P<why>[^)]*)\).*?(?P<share>\d+%) of the movement fell on states it "
        r"never visited",
    ),
    Figure(
        "reach_bridge3.png",
        "demo",
        "plots/reach_ButtonRoomBridge3-v0.png",
        "reach",
        "**Exact P(ever reach ∣ π_k)** of the goal, the button, lava and the intended objective after every update "
        "on Bridge3: PPO and REINFORCE, mean of {n_seeds} seeds with the range over seeds as a band; value "
        "iteration's exact probability and the fraction of MCTS's test episodes as horizontal lines.",
        r"(?P<any>)",
    ),
    Figure(
        "credit_vs_exact.png",
        "credit_anatomy",
        "plots/credit_vs_exact.png",
        "credit vs exact",
        "**Sampled vs exact credit**: every step's advantage estimate against the exact A^π_t, for REINFORCE, "
        "PPO's GAE λ sweep and PPO with a time-aware critic. Mean |Â − A^π_t| per step: {errors}.",
        r"Mean \|Â − A\^π_t\| per step: (?P<errors>.+?) \(largest",
    ),
    Figure(
        "power_visits.png",
        "power",
        "plots/power_visits.png",
        "power",
        "**POWER** (Turner et al. 2021) of each FourRooms state ({samples} iid uniform state-reward samples, "
        "γ {gamma}; from {low} to {high}) beside where each agent goes; the visit-weighted mean POWER of the states "
        "each agent stands on: {means}.",
        r"POWER of each state \(gamma (?P<gamma>[\d.]+), (?P<samples>\d+) samples.*?ranges from (?P<low>[\d.]+) to "
        r"(?P<high>[\d.]+).*?stands on: (?P<means>.+)\.$",
    ),
    Figure(
        "cheese_or_corner.png",
        "cheese",
        "plots/goal_or_region_corner.png",
        "cheese or corner",
        "**The cheese or the corner?** PPO with a CNN on procedural 4x4-cell mazes whose cheese always lay in the "
        "top-right 3x3 region in training, {n_seeds} seeds, exact per test maze (brackets: {label}). Training "
        "distribution: P(reach the cheese) {inside}. On the {m} of {mazes} test mazes where the cheese lies "
        "elsewhere and either the cheese or the corner region can be reached without the other: P(the cheese "
        "first) {cheese}, P(the corner region first) {corner}; the uniform-random policy: {u_cheese} and "
        "{u_corner}.",
        r"brackets: (?P<label>[^.]+)\. Training distribution \([^,]+, (?P<mazes>\d+) test mazes\): P\(reach the "
        r"cheese\) (?P<inside>\S+ \[[^\]]+\])\. \w+, the (?P<m>\d+) of \d+ test mazes where the cheese lies "
        r"outside the corner region and either can be reached without the other: P\(the cheese before the corner "
        r"region\) (?P<cheese>\S+ \[[^\]]+\]), P\(the corner region before the cheese\) (?P<corner>.+? \[[^\]]+\]) "
        r"\(uniform-random policy: (?P<u_cheese>[\d.]+) and (?P<u_corner>[\d.]+)\)",
    ),
)


def _command(exp_dir: Path) -> str:
    """The command that wrote an experiment directory, from its experiment.toml's recorded argv."""
    meta = tomllib.loads((exp_dir / "experiment.toml").read_text())["_meta"]
    argv = list(meta["argv"])
    return " ".join(["rlcredit", *argv[1:]])


def _fail(msg: str) -> NoReturn:
    print(msg, file=sys.stderr)
    sys.exit(2)


def flagship_docs(dirs: dict[str, Path], docs: Path | None) -> None:
    """Copy the flagship figures into ``docs`` and print the README rows, numbers read from the captions."""
    rows = []
    copies: list[tuple[Path, str]] = []
    for fig in FLAGSHIP:
        exp_dir = dirs.get(fig.experiment)
        if exp_dir is None:  # not asked for: only the rows of the experiments given
            continue
        png = exp_dir / fig.source
        captions_file = png.parent / "captions.json"
        if not png.is_file() or not captions_file.is_file():
            _fail(f"{png}: missing (or no captions.json beside it); run `rlcredit plot {exp_dir}` first")
        caption = json.loads(captions_file.read_text()).get(png.name)
        if caption is None:
            _fail(f"{captions_file}: no caption for {png.name}")
        match = re.search(fig.pattern, caption, flags=re.S)
        if match is None:
            _fail(
                f"{captions_file}: the caption of {png.name} no longer states what its README row quotes: {caption}"
            )
        n_seeds = tomllib.loads((exp_dir / "experiment.toml").read_text())["seeds"]
        text = fig.describe.format(n_seeds=n_seeds, **match.groupdict(default="")).replace(
            "|", r"\|"
        )  # a bare | would end the table cell
        source = f"`{exp_dir / fig.source}` (`{_command(exp_dir)}`, then `rlcredit plot {exp_dir}`)"
        rows.append(f"| ![{fig.alt}](docs/{fig.doc_name}) | {text} From {source}. |")
        copies.append((png, fig.doc_name))
    if docs is not None:  # only once every figure and caption checked out, so docs/ is never half updated
        for png, name in copies:
            shutil.copyfile(png, docs / name)
    print("| | |\n|---|---|")
    print("\n".join(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    w = sub.add_parser("wirehead-sweep")
    w.add_argument("exp_dir", type=Path)
    w.add_argument("--docs", type=Path, default=None, help="copy the per-preset figures here")
    e = sub.add_parser("experiment")
    e.add_argument("exp_dir", type=Path)
    h = sub.add_parser("history", help="print the history:KIND caption of any experiment directory")
    h.add_argument("exp_dir", type=Path)
    h.add_argument("kind")
    d = sub.add_parser("docs", help="copy the flagship figures into docs/ and print the README table")
    d.add_argument("--demo", type=Path, help="the `rlcredit demo` experiment directory")
    d.add_argument("--credit-anatomy", type=Path, help="the runs/credit_anatomy.toml experiment")
    d.add_argument("--power", type=Path, help="the runs/power.toml experiment directory")
    d.add_argument("--wirehead", type=Path, help="the runs/wirehead.toml experiment directory")
    d.add_argument(
        "--safety-tampering",
        type=Path,
        help="the runs/safety_tampering.toml experiment directory",
    )
    d.add_argument("--cheese", type=Path, help="the runs/cheese.toml experiment directory")
    d.add_argument("--docs", type=Path, default=None, help="copy the figures here (default: only print)")
    args = ap.parse_args()
    if args.what == "wirehead-sweep":
        wirehead_sweep(args.exp_dir, args.docs)
    elif args.what == "history":
        history(args.exp_dir, args.kind)
    elif args.what == "docs":
        dirs = {
            "demo": args.demo,
            "credit_anatomy": args.credit_anatomy,
            "power": args.power,
            "wirehead": args.wirehead,
            "safety_tampering": args.safety_tampering,
            "cheese": args.cheese,
        }
        given = {k: v for k, v in dirs.items() if v is not None}
        if not given:
            _fail("flagship.py docs: give at least one experiment directory (--demo, --wirehead, ...)")
        flagship_docs(given, args.docs)
    else:
        experiment(args.exp_dir)


if __name__ == "__main__":
    main()
