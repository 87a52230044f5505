"""The contrast table from a hand-made table of per-seed evaluations."""

import numpy as np
import pandas as pd
import pytest

from rlcredit.experiments.contrast import contrast_table, long_table, markdown_table


def evals(seeds: int) -> pd.DataFrame:
    rows = []
    for seed in range(seeds):
        for env, opt in (("A", 10.0), ("B", 4.0)):
            rows.append(
                {
                    "piece": f"ppo-s{seed}",
                    "agent": "ppo",
                    "kind": "train",
                    "algo": "ppo",
                    "seed": seed,
                    "train_env": "A",
                    "env": env,
                    "steps": 1000,
                    "wall_time": 2.0 + seed,
                    "return": float(seed),
                    "optimal": opt,
                    "regret": opt - seed,
                    "reach_button": 1.0 if seed % 2 else 0.0,
                }
            )
            rows.append(
                {
                    "piece": f"vi-s{seed}",
                    "agent": "vi",
                    "kind": "plan",
                    "algo": "vi",
                    "seed": seed,
                    "train_env": "A",
                    "env": env,
                    "steps": 8,
                    "wall_time": 0.001,
                    "return": opt,
                    "optimal": opt,
                    "regret": 0.0,
                    "reach_button": 1.0,
                }
            )
    return pd.DataFrame(rows)


def test_rows_are_agent_by_env_with_means_over_seeds():
    table = contrast_table(evals(4))
    assert list(zip(table["agent"], table["env"])) == [("ppo", "A"), ("vi", "A"), ("ppo", "B"), ("vi", "B")]
    ppo_a = table.iloc[0]
    assert ppo_a["seeds"] == 4 and ppo_a["return"] == pytest.approx(1.5) and ppo_a["optimal"] == 10.0
    assert ppo_a["regret"] == pytest.approx(8.5) and ppo_a["reach_button"] == pytest.approx(0.5)
    assert ppo_a["return_ci_low"] < 1.5 < ppo_a["return_ci_high"]
    assert 0.0 <= ppo_a["return_ci_low"] and ppo_a["return_ci_high"] <= 3.0  # inside the data's range
    assert ppo_a["wall_time"] == pytest.approx(3.5)
    assert table.iloc[1]["return_ci_low"] == table.iloc[1]["return_ci_high"] == 10.0  # all seeds equal
    assert "return_iqm" not in table.columns  # fewer than five seeds


def test_iqm_from_five_seeds():
    table = contrast_table(evals(8))
    # seeds 0..7: the interquartile mean drops 0, 1 and 6, 7 -> mean(2, 3, 4, 5)
    assert table.iloc[0]["return_iqm"] == pytest.approx(3.5)
    assert "return IQM" in markdown_table(table, ["return"])


def test_long_form_for_contrast_bars():
    table = contrast_table(evals(3))
    long = long_table(table, ["return", "reach_button", "optimal", "exact_J"])
    assert len(long) == 4 * 3  # exact_J is nobody's: no rows
    row = long[(long["agent"] == "vi") & (long["env"] == "B") & (long["metric"] == "return")].iloc[0]
    assert row["mean"] == row["ci_low"] == row["ci_high"] == 4.0 and row["n"] == 3 and row["level"] == 0.95
    assert np.isfinite(long[["mean", "ci_low", "ci_high"]].to_numpy()).all()


def test_markdown_formats_rates_and_returns():
    text = markdown_table(contrast_table(evals(2)), ["return", "regret", "reach_button"])
    header, _, first, *_ = text.splitlines()
    # two seeds: the brackets are the range, never a CI
    assert header == "| agent | env | seeds | return [range] | regret | button | steps | wall time |"
    assert first.startswith("| `ppo` | A | 2 | +0.50 [") and "50% [" in first and "| 1k |" in first
    assert "| `vi` | A | 2 | +10.00 | +0.00 | 100% | 8 | <0.01 s |" in text


def test_empty():
    assert contrast_table(pd.DataFrame()).empty
