"""Contrast bars: heights and error bars are the table's numbers, in either CSV layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlcredit.plots.contrast import contrast_bars, read_contrast

LONG = pd.DataFrame({
    "agent": ["ppo", "reinforce", "bi", "ppo", "reinforce", "bi"],
    "env": ["ButtonRoom-v0"] * 6,
    "metric": ["return"] * 3 + ["reach_button"] * 3,
    "mean": [1.0, 0.8, 10.0, 0.01, 0.0, 1.0],
    "ci_low": [0.9, 0.5, 10.0, 0.0, 0.0, 1.0],
    "ci_high": [1.1, 1.0, 10.0, 0.03, 0.0, 1.0],
    "n": [5, 5, 1, 5, 5, 1],
})  # fmt: skip


def test_long_table_bars(tmp_path):
    path = tmp_path / "contrast.csv"
    LONG.to_csv(path, index=False)
    plot = contrast_bars(path)
    bars = plot.data.bars
    assert list(bars) == ["return", "reach_button"]
    ret = bars["return"].set_index("agent")
    np.testing.assert_allclose(ret.loc[["ppo", "reinforce", "bi"], "mean"], [1.0, 0.8, 10.0])
    np.testing.assert_allclose(ret.loc[["ppo", "reinforce", "bi"], "err_low"], [0.1, 0.3, 0.0], atol=1e-12)
    np.testing.assert_allclose(ret.loc[["ppo", "reinforce", "bi"], "err_high"], [0.1, 0.2, 0.0], atol=1e-12)
    assert list(plot.data.table["kind"][:3]) == ["train", "train", "plan"]
    heights = sorted(p.get_height() for p in plot.figure.axes[0].patches)
    assert heights == pytest.approx([0.8, 1.0, 10.0])


def test_wide_table_as_the_experiment_runner_writes_it():
    wide = pd.DataFrame({
        "agent": ["ppo", "bi"], "kind": ["train", "plan"], "algo": ["ppo", "bi"],
        "train_env": ["CheeseMaze", "CheeseMaze"], "env": ["CheeseMazeAnywhere", "CheeseMazeAnywhere"],
        "seeds": [3, 1], "optimal": [1.0, 1.0],
        "return": [0.4, 1.0], "return_ci_low": [0.3, 1.0], "return_ci_high": [0.5, 1.0],
        "success": [0.4, 1.0], "success_ci_low": [0.2, 1.0], "success_ci_high": [0.6, 1.0],
        "steps": [1e5, 0], "steps_ci_low": [1e5, 0], "steps_ci_high": [1e5, 0],
    })  # fmt: skip
    long = read_contrast(wide)
    assert list(dict.fromkeys(long["metric"])) == ["return", "success"]  # steps is not a default metric
    assert set(long["env"]) == {"CheeseMaze → CheeseMazeAnywhere"}
    assert list(long["n"]) == [3, 1, 3, 1]
    d = contrast_bars(wide, metrics=["success"]).data
    np.testing.assert_allclose(d.bars["success"]["mean"], [0.4, 1.0])
    np.testing.assert_allclose(d.bars["success"]["err_low"], [0.2, 0.0], atol=1e-12)


def test_nan_means_have_no_bar_and_bad_tables_are_refused(tmp_path):
    t = LONG.copy()
    t.loc[2, "mean"] = np.nan
    t.loc[0, ["ci_low", "ci_high"]] = np.nan
    bars = contrast_bars(t).data.bars["return"]
    assert list(bars["agent"]) == ["ppo", "reinforce"]
    assert bars["err_low"].iloc[0] == 0.0
    with pytest.raises(ValueError, match="missing columns"):
        read_contrast(LONG.drop(columns=["ci_high"]))
    bad = LONG.astype({"mean": object})
    bad.loc[1, "mean"] = "high"
    with pytest.raises(ValueError, match="non-numeric"):
        read_contrast(bad)
    with pytest.raises(FileNotFoundError, match="contrast CSV not found"):
        read_contrast(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="none of the metrics"):
        read_contrast(LONG, metrics=["regret"])
