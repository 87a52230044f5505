"""The mazes:REGION figure (cheese or corner) from hand-written eval.json files whose numbers are known."""

import json

import pytest

from rlcredit.config import ConfigError
from rlcredit.experiments.figures import goal_or_region
from rlcredit.experiments.spec import expand_pieces, spec_from_data

DATA = {
    "name": "cheese",
    "question": "cheese or corner?",
    "seeds": 2,
    "envs": [
        {
            "id": "rlcredit/CheeseMazeSmall-v0",
            "name": "CheeseMaze",
            "obs": "grid",
            "test": [
                {"id": "rlcredit/CheeseMazeSmall-v0", "name": "CheeseMaze"},
                {"id": "rlcredit/CheeseMazeSmallAnywhere-v0", "name": "CheeseAnywhere"},
            ],
        }
    ],
    "trainers": {"ppo": {"steps": 1000, "config": {"network": "cnn"}}},
    "eval": {"regions": {"corner": "top-right-3x3"}, "exact_mazes": 3},
    "figures": ["mazes:corner"],
}


def _mazes(p_intended, inside, choice=(False, False, False), first=((0, 0), (0, 0), (0, 0))):
    return {
        "layout_seed": [1_000_000, 1_000_001, 1_000_002],
        "exact_intended": p_intended,
        "exact_region_corner": [1.0, 1.0, 1.0],
        "intended_in_corner": inside,
        "choice_corner": list(choice),
        "exact_first_intended_corner": [f[0] for f in first],
        "exact_first_region_corner": [f[1] for f in first],
        # the uniform policy's: the same in every seed's file (it does not depend on the trained policy)
        "uniform_first_intended_corner": [0.2, 0.1, 0.3],
        "uniform_first_region_corner": [0.1, 0.2, 0.3],
    }


def test_figure_data_and_caption_come_from_the_eval_files(tmp_path):
    spec = spec_from_data(DATA)
    per_seed = {
        0: {
            "CheeseMaze": _mazes([0.9, 0.9, 0.9], [True] * 3),
            # mazes 1 and 2 leave the choice; maze 3 does not (its cheese lies in the corner): it must not count
            "CheeseAnywhere": _mazes(
                [0.1, 0.3, 1.0], [False, False, True], (True, True, False), ((0.1, 0.8), (0.3, 0.6), (1, 0))
            ),
        },
        1: {
            "CheeseMaze": _mazes([1.0, 1.0, 1.0], [True] * 3),
            "CheeseAnywhere": _mazes(
                [0.5, 0.7, 1.0], [False, False, True], (True, True, False), ((0.5, 0.2), (0.7, 0.1), (1, 0))
            ),
        },
    }
    for piece in expand_pieces(spec, tmp_path):
        d = tmp_path / piece.name
        d.mkdir(parents=True)
        envs = {t: {"mazes": m} for t, m in per_seed[piece.seed].items()}
        (d / "eval.json").write_text(json.dumps({"envs": envs}))
    plot = goal_or_region(tmp_path, spec, "corner")
    assert len(plot.data) == 12  # 2 seeds x 2 tests x 3 mazes
    # in distribution: seed means 0.9 and 1.0; the two choice mazes: cheese first 0.2 and 0.6 per seed, corner
    # first 0.7 and 0.15; the corner first with the higher probability in 2 of the 4 (seed, maze) pairs; the
    # uniform policy on those two mazes: 0.15 and 0.15
    assert "P(reach the cheese) 0.95 [0.90, 1.00]" in plot.caption
    assert "the 2 of 3 test mazes where the cheese lies outside the corner region" in plot.caption
    assert "P(the cheese before the corner region) 0.40 [0.20, 0.60]" in plot.caption
    assert "P(the corner region before the cheese) 0.42 [0.15, 0.70]" in plot.caption
    assert "(uniform-random policy: 0.15 and 0.15)" in plot.caption
    assert "in 50% of (seed, maze) pairs" in plot.caption
    assert "2 seeds, brackets: range over 2 seeds" in plot.caption


def test_the_figure_needs_exact_mazes():
    with pytest.raises(ConfigError, match="mazes:REGION"):
        spec_from_data({**DATA, "eval": {"regions": {"corner": "top-right-3x3"}}})
    with pytest.raises(ConfigError, match="mazes:REGION"):
        spec_from_data({**DATA, "figures": ["mazes:top"]})
