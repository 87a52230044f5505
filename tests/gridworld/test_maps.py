"""Map files: what they express, and the exact error for each kind of malformed file."""

import numpy as np
import pytest

from rlcredit.gridworld import MapError, compile_layout, parse_map
from rlcredit.gridworld.maps import load_map

BASE = '''name = "T"
time_limit = 10
map = """
#####
#S.G#
#####
"""
[legend]
G = { kind = "goal", reward = 1.0, terminal = true }
'''


def test_minimal_map_compiles_to_expected_tables():
    spec = parse_map(BASE)
    lay = compile_layout(spec)
    assert spec.shape == (3, 5)
    assert lay.start[6] == 1.0 and lay.start.sum() == 1.0
    goal = lay.cells_of("goal")
    assert goal.tolist() == [8]
    assert lay.terminal[8] and not lay.terminal[7]
    # moving right from the cell next to the goal enters it: reward 1; moving up bumps the wall: stays, reward 0
    assert lay.move[7, 1] == 8 and lay.step_reward[7, 1] == 1.0
    assert lay.move[7, 0] == 7 and lay.step_reward[7, 0] == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE.replace("#S.G#", "#S.X#"), r"<string>:5:4: unknown map character 'X'"),
        (BASE.replace("#S.G#", "#S.G"), r"<string>:5:1: map row 1 has width 4, expected 5"),
        (
            BASE.replace("#S.G#", "#S..G"),
            r"<string>:5:5: the map must be enclosed by walls; found 'G' on the border",
        ),
        (BASE.replace("#S.G#", "#..G#"), r"<string>:4:1: the map has no start cell"),
        (
            BASE.replace("time_limit = 10", "time_limit = -3"),
            r"<string>:2:1: 'time_limit' must be a positive integer, got -3",
        ),
        (
            BASE.replace("time_limit = 10", "gamma = 1.5"),
            r"<string>:2:1: 'gamma' must be a number in \(0, 1\], got 1.5",
        ),
        (
            BASE.replace("time_limit = 10", "slip = 2"),
            r"<string>:2:1: 'slip' must be a probability in \[0, 1\], got 2",
        ),
        (BASE.replace("time_limit = 10", "colour = 3"), r"<string>:2:1: unknown key 'colour'"),
        (
            BASE.replace('kind = "goal"', 'kind = "goal", rewrd = 2'),
            r"<string>:9:1: legend entry 'G': unknown field 'rewrd'",
        ),
        (
            BASE.replace("reward = 1.0", 'reward = "big"'),
            r"<string>:9:1: legend entry 'G': 'reward' must be a finite number \(\|x\| <= 1e12\), got 'big'",
        ),
        (
            BASE.replace('kind = "goal"', 'kind = "wall"'),
            r"<string>:9:1: legend entry 'G': unknown kind 'wall'",
        ),
        (
            BASE.replace("terminal = true }", 'terminal = true, place = "middle" }'),
            r"'place' must be \"anywhere\"",
        ),
        (BASE.replace("time_limit = 10", "time_limit = = 10"), r"<string>:2:14: invalid TOML"),
        (BASE.replace('name = "T"', 'name = "3x"'), r"<string>:1:1: expected 'name', an identifier"),
    ],
)
def test_malformed_maps_give_one_clear_error(text, message):
    with pytest.raises(MapError, match=message):
        parse_map(text)


def test_error_names_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(BASE.replace("#S.G#", "#S.?#"))
    with pytest.raises(MapError, match=rf"{p}:5:4: unknown map character '\?'"):
        load_map(p)
    with pytest.raises(MapError, match="map file not found"):
        load_map(tmp_path / "missing.toml")


def test_start_distribution_weights_and_step_cost_and_intended():
    text = '''name = "W"
step_cost = -0.5
map = """
######
#AB.I#
######
"""
[legend]
A = { kind = "start", weight = 3.0 }
B = { kind = "start", weight = 1.0 }
I = { kind = "marker", intended = true }
'''
    lay = compile_layout(parse_map(text))
    np.testing.assert_allclose(lay.start[[7, 8]], [0.75, 0.25])
    assert lay.intended[10] and lay.step_reward[9, 1] == -0.5  # intended but unrewarded; step cost only
    assert lay.event[9, 1] == lay.kinds.index("marker")


def test_respawn_cell_returns_to_start_with_its_reward():
    text = '''name = "R"
step_cost = -1.0
map = """
#####
#...#
#SCG#
#####
"""
[legend]
C = { kind = "cliff", reward = -100.0, respawn = true }
G = { kind = "goal", terminal = true }
'''
    lay = compile_layout(parse_map(text))
    start = int(np.argmax(lay.start))
    assert lay.move[start, 1] == start and lay.step_reward[start, 1] == -101.0


def test_placement_regions_and_mazes_are_seeded():
    spec = load_map(
        __import__("rlcredit.gridworld.registry", fromlist=["envs_dir"]).envs_dir() / "cheese_maze.toml"
    )
    a = compile_layout(spec, np.random.default_rng(5))
    b = compile_layout(spec, np.random.default_rng(5))
    np.testing.assert_array_equal(a.wall, b.wall)
    np.testing.assert_array_equal(a.kind, b.kind)
    _H, W = a.shape
    for seed in range(30):
        lay = compile_layout(spec, np.random.default_rng(seed))
        (cheese,) = lay.cells_of("cheese")
        r, c = divmod(int(cheese), W)
        assert 1 <= r <= 3 and W - 4 <= c <= W - 2, (
            "training cheese must be in the top-right 3x3 interior region"
        )
        assert not lay.wall[cheese]
    anywhere = load_map(spec.source, variant="Anywhere")
    rows = {
        divmod(int(compile_layout(anywhere, np.random.default_rng(s)).cells_of("cheese")[0]), W)[0]
        for s in range(40)
    }
    assert max(rows) > 5, "the test variant places the cheese outside the top rows too"


def test_maze_is_perfect_and_connected():
    from rlcredit.gridworld.core import generate_maze

    for seed in range(5):
        wall = generate_maze((6, 4), np.random.default_rng(seed))
        free = np.argwhere(~wall)
        # a perfect maze on n cells is a spanning tree: free cells = n + (n - 1) passages
        assert len(free) == 6 * 4 + 6 * 4 - 1
        seen, todo = {tuple(free[0])}, [tuple(free[0])]
        while todo:
            r, c = todo.pop()
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                n = (r + dr, c + dc)
                if not wall[n] and n not in seen:
                    seen.add(n)
                    todo.append(n)
        assert len(seen) == len(free)
