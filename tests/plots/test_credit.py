"""Credit figures sum and compare exactly the stored credit rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlcredit.plots.credit import credit_map, credit_vs_exact
from rlcredit.plots.data import labels_for, open_run


def test_credit_map_panels_are_the_hand_sums(run_dir, kit):
    """(a) sum_t w_t (1[a_t = a] - pi_old(a|s)) with pi_old from each update's shaping file, (b) the summed
    exact advantage, (c) pi after the last update minus before the first, all recomputed by hand."""
    d = credit_map(run_dir).data
    S = kit.layout_of().num_states
    tables = kit.policy_tables(0, S)
    applied = np.zeros((S, 4))
    exact = np.zeros((S, 4))
    weighted = np.zeros(S, bool)
    visits = np.zeros(S, dtype=int)
    for u, s, a, credit, _, ex in kit.CREDIT_ROWS:
        w = credit * kit.APPLIED_SCALE[u]
        applied[s, a] += w
        applied[s] -= w * tables[u][0][s]
        exact[s, a] += ex
        weighted[s] = True
        visits[s] += 1
    assert d.centred
    np.testing.assert_allclose(d.applied[weighted], applied[weighted], atol=1e-6)
    assert np.isnan(d.applied[~weighted]).all()
    taken = d.taken > 0
    np.testing.assert_allclose(d.exact[taken], exact[taken], atol=1e-6)
    assert np.isnan(d.exact[~taken]).all()
    dpi = tables[3][1] - tables[1][0]
    np.testing.assert_allclose(d.dpi, dpi, atol=1e-6)
    np.testing.assert_array_equal(d.visits, visits)
    assert d.updates == 2
    # one step aimed into the goal (left from 21), one into the button (down from 40), none into lava
    assert d.aimed == {"goal": 1, "button": 1, "lava": 0}
    # agreement over taken pairs whose pi moved by more than 1e-3
    pairs = [(s, a) for s, a in {(r[1], r[2]) for r in kit.CREDIT_ROWS} if abs(dpi[s, a]) > 1e-3]
    want = np.mean([np.sign(exact[s, a]) == np.sign(dpi[s, a]) for s, a in pairs])
    assert d.agreement["exact"] == pytest.approx(want) and d.pairs == len(pairs)


def test_credit_map_caption_numbers_are_the_data(run_dir, kit):
    plot = credit_map(run_dir)
    d = plot.data
    for k, name in (("applied", "(a)"), ("exact", "(b)")):
        assert f"{name} {d.agreement[k]:.0%}" in plot.caption
    assert f"on {d.pairs:,} state-action pairs" in plot.caption
    layout = kit.layout_of()
    active = ~layout.wall & ~layout.terminal
    never = int(np.sum(d.visits[active] == 0))
    assert f"{never} of {int(active.sum())} open cells were never visited" in plot.caption
    assert f"{d.updates} updates" in plot.title


@pytest.mark.slow
def test_a_reinforced_action_is_drawn_reinforced_in_every_panel(tmp_path):
    """A short PPO run on the delayed corridor: 'right' is reinforced until it is the policy's clear choice.
    The most-raised action (by pi's own change over training, from the run's shaping files) must be drawn
    red in the applied-credit, exact-advantage and change-in-pi panels."""
    import rlcredit
    from rlcredit.plots.grid import require_layout

    run = rlcredit.train(
        "ppo",
        env="rlcredit/DelayedCorridor-v0",
        steps=8192,
        seed=0,
        out_dir=tmp_path / "run",
        wandb="disabled",
        config={"num_envs": 16, "num_steps": 64, "lr": 3e-3},
    )
    plot = credit_map(run.dir)
    d = plot.data
    s, a = np.unravel_index(np.nanargmax(d.dpi), d.dpi.shape)
    assert a == 1 and d.dpi[s, a] > 0.5  # right became the policy's clear choice there
    layout = require_layout(open_run(run.dir))
    active = list(np.flatnonzero(~layout.wall & ~layout.terminal))
    index = active.index(s) * 4 + a
    for ax in plot.figure.axes:
        if not ax.get_title().startswith(("(a)", "(b)", "(c)")):
            continue
        (pc,) = [
            c for c in ax.collections if c.get_array() is not None and len(c.get_array()) == 4 * len(active)
        ]
        value = pc.get_array()[index]
        r, _, b, _ = pc.cmap(pc.norm(value))
        assert value > 0 and r > b, ax.get_title()


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
    d = credit_map(run.path).data  # drawn, with the panels it cannot fill said so
    assert np.isnan(d.exact).all() and np.isnan(d.applied).all()
    with pytest.raises(ValueError, match="'advantage' or 'credit'"):
        credit_vs_exact(run.path, y="value")
    assert pd.isna(pd.read_parquet(rec.path(1))["exact_advantage"]).all()


@pytest.mark.slow
def test_credit_map_of_a_map_with_objects_sums_each_cells_configurations(tmp_path):
    """SideEffects has a pushable box: several states share a cell. Each drawn cell's applied credit and
    exact advantage is the sum over the states on it; nothing is lost or counted twice."""
    import rlcredit

    run = rlcredit.train(
        "ppo",
        env="rlcredit/SideEffects-v0",
        steps=2048,
        seed=0,
        out_dir=tmp_path / "run",
        wandb="disabled",
        config={"num_envs": 8, "num_steps": 128},
    )
    plot = credit_map(run.dir)
    d = plot.data
    layout = rlcredit.make("rlcredit/SideEffects-v0").unwrapped.layout
    assert layout.has_objects and layout.num_states > len(np.unique(layout.cell[layout.live]))
    panels = {ax.get_title()[:3]: ax for ax in plot.figure.axes}
    for key, title in (("applied", "(a)"), ("exact", "(b)")):
        (pc,) = [c for c in panels[title].collections if c.get_array() is not None and len(c.get_array())]
        drawn = np.asarray(pc.get_array()).reshape(-1, 4)
        want = np.nansum(getattr(d, key)[layout.live], axis=0)
        np.testing.assert_allclose(drawn.sum(axis=0), want, rtol=1e-9, atol=1e-9)
    assert "Cells sum the states of their object configurations" in plot.caption
