"""The README's flagship numbers, computed from the experiment directories the README's commands write.

    python benchmarks/flagship.py wirehead-sweep runs/wirehead_sweep/main [--docs docs]
    python benchmarks/flagship.py experiment runs/credit_anatomy/main

``wirehead-sweep`` reads every finished piece of ``runs/wirehead_sweep.toml`` (``eval.json``), keeps the seeds
for which every trainer piece finished (so each setting is compared on the same seeds), and prints, per preset,
entropy coefficient and bridge length, how many seeds' final policies press the button (exact probability of
ever reaching it > 0.5, the criterion of the discoverability figure) and the median exact probability. It draws
one discoverability figure per preset (both entropy coefficients, value iteration for reference) into
``EXP_DIR/plots/discoverability_button_<preset>.png`` and copies them to ``--docs`` when given.

``experiment`` prints an experiment's contrast table (``contrast.md``) and, per agent and training env, the number
of finished seeds, so a README table can be pasted from a committed run's own files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    w = sub.add_parser("wirehead-sweep")
    w.add_argument("exp_dir", type=Path)
    w.add_argument("--docs", type=Path, default=None, help="copy the per-preset figures here")
    e = sub.add_parser("experiment")
    e.add_argument("exp_dir", type=Path)
    args = ap.parse_args()
    if args.what == "wirehead-sweep":
        wirehead_sweep(args.exp_dir, args.docs)
    else:
        experiment(args.exp_dir)


if __name__ == "__main__":
    main()
