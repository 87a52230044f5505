"""Credit figures sum and compare exactly the stored credit rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlcredit.plots.credit import credit_map, credit_vs_exact
from rlcredit.plots.data import labels_for, open_run


def test_credit_map_totals_are_the_hand_sums(run_dir, kit):
    d = credit_map(run_dir).data
    S = kit.layout_of().num_states
    total = np.zeros((S, 4))
    visits = np.zeros(S, dtype=int)
    for _, s, a, credit, _, _ in kit.CREDIT_ROWS:
        total[s, a] += credit
        visits[s] += 1
    np.testing.assert_allclose(d.total, total, atol=1e-6)
    assert d.total[22, 2] == pytest.approx(1.75)
    np.testing.assert_array_equal(d.visits, visits)
    assert d.updates == 2
    # one step aimed into the goal (left from 21), one into the button (down from 40), none into lava
    assert d.aimed == {"goal": 1, "button": 1, "lava": 0}


def test_credit_map_of_the_advantage(run_dir, kit):
    d = credit_map(run_dir, value="advantage").data
    assert d.total[22, 2] == pytest.approx(2.0 + 0.5)
    assert d.total[40, 2] == pytest.approx(4.0)


def test_credit_error_per_update_is_the_hand_mean(run_dir, kit):
    plot = credit_vs_exact(run_dir)
    d = plot.data
    assert d.labels == ["ppo"]
    err = d.error["ppo"]
    expected = {}
    for u in (1, 2):
        rows = [r for r in kit.CREDIT_ROWS if r[0] == u]
        diff = np.array([r[4] - r[5] for r in rows])
        expected[u] = (np.abs(diff).mean(), diff.mean(), len(rows))
    np.testing.assert_array_equal(err["update"], [1, 2])
    np.testing.assert_allclose(err["mae"], [expected[1][0], expected[2][0]])  # 0.5, 0.75
    np.testing.assert_allclose(err["bias"], [expected[1][1], expected[2][1]])  # 0.25, -0.75
    np.testing.assert_array_equal(err["n"], [4, 2])
    np.testing.assert_array_equal(err["global_step"], [100, 200])
    x, y = d.points["ppo"]
    np.testing.assert_allclose(np.sort(x), np.sort([r[5] for r in kit.CREDIT_ROWS]))
    np.testing.assert_allclose(np.sort(y), np.sort([r[4] for r in kit.CREDIT_ROWS]))
    assert credit_vs_exact(run_dir, y="credit").data.points["ppo"][1].tolist() == pytest.approx(
        [r[3] for r in kit.CREDIT_ROWS]
    )


def test_overlay_of_trainers_and_gae_lambdas_pools_seeds(kit, tmp_path):
    paths = [
        kit.write_train_run(tmp_path / f"ppo-l{lam}-s{s}", seed=s, config={"gae_lambda": lam})
        for lam in (0.9, 0.5)
        for s in (0, 1)
    ]
    paths.append(
        kit.write_train_run(tmp_path / "reinforce-s0", algo="reinforce", config={"baseline": "value"})
    )
    runs = [open_run(p) for p in paths]
    labels = labels_for(runs)
    assert sorted(set(labels.values())) == ["ppo λ=0.5", "ppo λ=0.9", "reinforce"]
    d = credit_vs_exact(runs, hexbin_above=3).data  # hexbin path with few points
    assert d.labels == ["ppo λ=0.5", "ppo λ=0.9", "reinforce"]
    pooled = d.error["ppo λ=0.5"]
    np.testing.assert_array_equal(pooled["n"], [8, 4])  # two seeds pooled
    np.testing.assert_allclose(pooled["mae"], [0.5, 0.75])
    assert len(d.points["ppo λ=0.9"][0]) == 12


def test_runs_without_an_exact_model_are_refused(kit, tmp_path):
    from rlcredit.credit.records import CreditRecorder
    from rlcredit.tracking import RunDir

    run = RunDir.create(tmp_path / "r")
    run.write_config({"run": {"kind": "train", "algo": "ppo", "env": kit.ENV, "seed": 0}})
    rec = CreditRecorder(run.credit_dir)
    rec.add(
        update=1,
        env=np.zeros(3),
        episode=0,
        t=np.arange(3),
        state=22,
        action=0,
        reward=0.0,
        terminated=False,
        truncated=False,
        advantage=np.ones(3),
    )
    rec.flush(1)
    with pytest.raises(ValueError, match="exact_advantage"):
        credit_vs_exact(run.path)
    assert isinstance(credit_map(run.path).data.total, np.ndarray)
    with pytest.raises(ValueError, match="'advantage' or 'credit'"):
        credit_vs_exact(run.path, y="value")
    assert pd.isna(pd.read_parquet(rec.path(1))["exact_advantage"]).all()
