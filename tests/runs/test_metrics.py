"""The metric table labels every metric an evaluation writes, and the table and figure read their labels
from it."""

import numpy as np

from rlcredit.experiments.evaluate import evaluate_policy
from rlcredit.experiments.spec import EnvVariant, EvalSpec
from rlcredit.runs.metrics import metric_info


def test_every_evaluated_metric_has_a_definition():
    spec = EvalSpec(episodes=2, regions={"top": "rows:0-0,cols:3-3"})
    figures = evaluate_policy(
        lambda obs: np.full((len(obs), 4), 0.25),
        EnvVariant("rlcredit/ButtonRoomBridge0-v0", "Bridge0"),
        obs="index",
        spec=spec,
        seed=0,
    )
    names = [k for k in figures if k != "visits"]
    assert {"return", "exact_reach_button", "reach_button", "region_top", "exact_region_top"} <= set(names)
    # and the exact per-maze figures of a procedural test variant
    mazes = evaluate_policy(
        lambda obs: np.full((len(obs), 4), 0.25),
        EnvVariant("rlcredit/CheeseMazeSmallAnywhere-v0", "Anywhere"),
        obs="grid",
        spec=EvalSpec(episodes=2, regions={"corner": "top-right-3x3"}, exact_mazes=3),
        seed=0,
    )
    assert {"choice_corner_exact_first_intended", "outside_corner_exact_region_corner"} <= set(mazes)
    names += [k for k in mazes if k != "mazes"]
    for name in names:
        info = metric_info(name)
        assert info.definition and info.header and info.title, name


def test_families_fill_in_their_suffix_and_the_longest_prefix_wins():
    assert metric_info("exact_reach_button").header == "exact P(button)"
    assert metric_info("exact_reach_button").title == "P(reach button), exact"
    assert metric_info("reach_button").title == "reached button"
    assert metric_info("region_corner").definition == "fraction of episodes that entered the region corner"
    assert metric_info("something_else").header == "something_else"
