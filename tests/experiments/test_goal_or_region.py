"""The mazes:REGION figure (cheese or corner) from hand-written eval.json files whose numbers are known."""

import json

import numpy as np
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


def _mazes(p_intended, p_region, inside, blocks=(False, False, False)):
    return {
        "layout_seed": [1_000_000, 1_000_001, 1_000_002],
        "exact_intended": p_intended,
        "exact_region_corner": p_region,
        "intended_in_corner": inside,
        "intended_blocks_corner": list(blocks),
    }


def test_figure_data_and_caption_come_from_the_eval_files(tmp_path):
    spec = spec_from_data(DATA)
    per_seed = {
        0: {
            "CheeseMaze": _mazes([0.9, 0.9, 0.9], [1.0, 1.0, 1.0], [True] * 3),
            # the third maze has its cheese in the corner: it must not count as off-distribution
            "CheeseAnywhere": _mazes([0.1, 0.3, 1.0], [0.8, 0.6, 1.0], [False, False, True]),
        },
        1: {
            "CheeseMaze": _mazes([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [True] * 3),
            # ... nor its third maze, whose cheese lies on the way into the corner
            "CheeseAnywhere": _mazes(
                [0.5, 0.7, 1.0], [0.2, 0.9, 0.0], [False, False, False], [False, False, True]
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
    # in distribution: seed means 0.9 and 1.0; off distribution (two mazes each): P(cheese) 0.2 and 0.6,
    # P(corner) 0.7 and 0.55; corner likelier than cheese in 3 of the 4 (seed, maze) pairs
    assert "P(reach the cheese) 0.95 [0.90, 1.00]" in plot.caption
    assert "the 2 of 3 test mazes" in plot.caption
    assert "P(reach the cheese) 0.40 [0.20, 0.60]" in plot.caption
    assert "P(enter the corner region) 0.62 [0.55, 0.70]" in plot.caption
    assert "in 75% of (seed, maze) pairs" in plot.caption
    assert "range over 2 seeds" in plot.caption
    assert np.isclose(plot.data["p_region"].sum(), 3 + 2.4 + 3 + 1.1)


def test_the_figure_needs_exact_mazes():
    with pytest.raises(ConfigError, match="mazes:REGION"):
        spec_from_data({**DATA, "eval": {"regions": {"corner": "top-right-3x3"}}})
    with pytest.raises(ConfigError, match="mazes:REGION"):
        spec_from_data({**DATA, "figures": ["mazes:top"]})
