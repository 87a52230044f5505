"""The channel-history figure against hand-made runs whose credit rows and reach are known (tests/plots/conftest.py):
which steps aim at the button, what credit they got before the policy took it, and what the caption says."""

from __future__ import annotations

import math

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from rlcredit.plots.data import find_runs
from rlcredit.plots.history import channel_history, channel_history_data


@pytest.fixture(scope="module")
def exp(tmp_path_factory, kit):
    root = tmp_path_factory.mktemp("history")
    # seed 0 takes the button at update 2 (reach of pi_2 = 0.6); seed 1 never does
    kit.write_train_run(root / "ppo-s0", seed=0, reach_button=(0.1, 0.6, 0.9))
    kit.write_train_run(root / "ppo-s1", seed=1, reach_button=(0.1, 0.05, 0.01))
    # seed 2's untrained policy already presses it with probability 0.7: no history can have caused that
    kit.write_train_run(root / "ppo-s2", seed=2, reach_button=(0.7, 0.8, 0.9))
    kit.write_plan_run(root / "bi-s0")
    return root


def test_steps_aimed_at_the_button_and_their_credit_are_the_hand_rows(exp, kit):
    data = channel_history_data(find_runs(exp), "button")
    # In CREDIT_ROWS only (update 2, state 40, down) enters the button: credit 3.0, exact advantage 5.0, and
    # update 2's applied weight is its credit times APPLIED_SCALE[2].
    u = data.updates[(data.updates["seed"] == 1)].set_index("update")
    assert list(u["steps"]) == [0, 1, 0]
    assert u.loc[2, "applied"] == pytest.approx(3.0 * kit.APPLIED_SCALE[2])
    assert u.loc[2, "exact"] == pytest.approx(5.0)
    assert list(u["recorded"]) == [True, True, False]  # credit files exist for updates 1 and 2 only
    assert list(u["reach"]) == [0.1, 0.05, 0.01]
    assert set(data.updates["agent"]) == {"ppo"}  # the planner is not a trainer


def test_credit_before_taking_counts_only_the_updates_that_shaped_that_policy(exp, kit):
    seeds = channel_history_data(find_runs(exp), "button").seeds.set_index("seed")
    took, never, started = seeds.loc[0], seeds.loc[1], seeds.loc[2]
    assert started["started"] and math.isnan(started["taken"]) and not took["started"]
    assert took["taken"] == 2 and took["first_aimed"] == 2
    # pi_2 was shaped by update 1 only, whose batch aimed no step at the button
    assert took["steps_before"] == 0 and took["applied_before"] == 0.0
    assert math.isnan(never["taken"])
    assert never["steps_before"] == 1 and never["applied_before"] == pytest.approx(3.0 * kit.APPLIED_SCALE[2])
    assert never["final_reach"] == 0.01
    assert never["recorded"] == 2 and never["updates"] == 3


def test_caption_states_the_counts_and_fits_the_figure(exp, kit):
    plot = channel_history(find_runs(exp), "button")
    cap = plot.caption
    assert "ppo (3 seeds): the first policy enters it with P 0.1 to 0.7" in cap
    assert "in 1 seeds that is above 0.5 before any credit (final P 0.9" in cap
    assert "1 crossed 0.5 (at update 2), 0 of them after positive applied weight" in cap
    assert (
        f"1 never crossed it: 0 never sampled a step aimed at it, and the others' such steps got applied weight {3.0 * kit.APPLIED_SCALE[2]:+.3g}"
        in cap
    )
    assert "credit records cover 6 of 9 updates" in cap
    renderer = FigureCanvasAgg(plot.figure).get_renderer()
    plot.figure.draw(renderer)
    page = plot.figure.bbox
    for text in plot.figure.texts:  # the title and the caption
        if not text.get_visible() or not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        assert box.x0 >= page.x0 - 0.5 and box.x1 <= page.x1 + 0.5, text.get_text()[:60]


def test_a_kind_no_run_measured_is_refused(exp):
    with pytest.raises(ValueError, match="exact/reach_switch"):
        channel_history_data(find_runs(exp), "switch")
