"""Exact per-maze evaluation on procedural cheese mazes (``eval.exact_mazes``), against independent values.

- An oracle that reads the agent and the cheese off the ``grid`` observation and steps along the breadth-first
  shortest path reaches the cheese with probability 1 and enters the top-right 3x3 region exactly when that path
  passes through it (mazes are perfect: the path is unique), both computed here by a plain BFS, which also
  decides which mazes leave a choice; there the oracle takes the cheese first with probability 1.
- The uniform policy's exact figures on one maze, and its first-hit probabilities (cheese before region, region
  before cheese), agree with Monte Carlo episodes on that maze.
"""

from collections import deque

import numpy as np
import pytest

from rlcredit.experiments.evaluate import evaluate_policy, exact_mazes
from rlcredit.experiments.spec import EnvVariant, EvalSpec
from rlcredit.gridworld.registry import make

ANYWHERE = EnvVariant("rlcredit/CheeseMazeSmallAnywhere-v0", "Anywhere")
CORNER = EnvVariant("rlcredit/CheeseMazeSmall-v0", "Corner")
REGIONS = {"corner": "top-right-3x3"}
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left


def _bfs(wall: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    dist = np.full(wall.shape, -1)
    dist[source] = 0
    queue = deque([source])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES:
            nr, nc = r + dr, c + dc
            if not wall[nr, nc] and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def oracle(obs: np.ndarray) -> np.ndarray:
    """Planes 0 walls, 1 agent, 2 cheese: the move one step closer to the cheese (one-hot)."""
    out = np.zeros((len(obs), 4))
    for i, o in enumerate(obs):
        wall = o[0].astype(bool)
        agent = tuple(np.argwhere(o[1])[0]) if o[1].any() else None
        cheese = tuple(np.argwhere(o[2])[0])
        dist = _bfs(wall, cheese)
        if agent is None or wall[agent] or dist[agent] <= 0:
            out[i, 0] = 1.0  # walls and the cheese cell itself: any row will do
            continue
        r, c = agent
        out[i, next(a for a, (dr, dc) in enumerate(MOVES) if dist[r + dr, c + dc] == dist[r, c] - 1)] = 1.0
    return out


def uniform(obs: np.ndarray) -> np.ndarray:
    return np.full((len(obs), 4), 0.25)


def _tree_on_path(wall, a, b, c) -> bool:
    """In a tree (a perfect maze), c lies on the path from a to b exactly when d(a, c) + d(c, b) = d(a, b)."""
    from_c = _bfs(wall, c)
    return bool(from_c[a] + from_c[b] == _bfs(wall, a)[b])


def test_the_shortest_path_oracle_against_breadth_first_search():
    spec = EvalSpec(episodes=1, regions=REGIONS, exact_mazes=60, first_layout_seed=500)
    f = exact_mazes(oracle, ANYWHERE, obs="grid", spec=spec)
    mazes = f["mazes"]
    assert mazes["layout_seed"] == list(range(500, 560))
    assert mazes["exact_intended"] == pytest.approx([1.0] * 60)
    env = make(ANYWHERE.id, obs="grid").unwrapped
    enters, inside, choice = [], [], []
    for seed in mazes["layout_seed"]:
        layout = env.layouts.get(seed)
        H, W = layout.shape
        wall = layout.wall.reshape(H, W)
        cheese = divmod(int(layout.cells_of("cheese")[0]), W)
        start = divmod(int(np.argmax(layout.start)), W)
        region = np.zeros((H, W), bool)
        region[1:4, W - 4 : W - 1] = True  # interior rows 0-2, the last three interior columns
        cells = [tuple(rc) for rc in np.argwhere(region & ~wall)]
        dist = _bfs(wall, cheese)
        cell, path = start, [start]
        while cell != cheese:
            r, c = cell
            cell = next((r + dr, c + dc) for dr, dc in MOVES if dist[r + dr, c + dc] == dist[r, c] - 1)
            path.append(cell)
        enters.append(float(any(region[p] for p in path)))
        inside.append(bool(region[cheese]))
        # a choice: the cheese outside the region, its path avoids the region, and some region cell's path
        # avoids the cheese
        choice.append(
            not region[cheese]
            and not any(region[p] for p in path)
            and any(not _tree_on_path(wall, start, rc, cheese) for rc in cells)
        )
    assert mazes["exact_region_corner"] == pytest.approx(enters)
    assert mazes["intended_in_corner"] == inside
    assert mazes["choice_corner"] == choice
    assert 0 < sum(enters) < 60 and 0 < sum(choice)  # the test discriminates
    outside = ~np.asarray(inside)
    assert f["outside_corner_mazes"] == int(outside.sum())
    assert f["outside_corner_exact_region_corner"] == pytest.approx(np.asarray(enters)[outside].mean())
    # where there is a choice, the cheese-seeking oracle takes the cheese first and never the corner
    pick = np.asarray(choice)
    assert np.asarray(mazes["exact_first_intended_corner"])[pick] == pytest.approx(1.0)
    assert np.asarray(mazes["exact_first_region_corner"])[pick] == pytest.approx(0.0)
    assert f["choice_corner_mazes"] == int(pick.sum())
    assert f["choice_corner_exact_first_intended"] == pytest.approx(1.0)


def test_first_hit_probabilities_of_the_uniform_policy_agree_with_monte_carlo():
    seed, n = _a_choice_maze(), 6000
    spec = EvalSpec(episodes=1, regions=REGIONS, exact_mazes=1, first_layout_seed=seed)
    f = exact_mazes(uniform, ANYWHERE, obs="grid", spec=spec)
    p_goal, p_region = (
        f["mazes"]["exact_first_intended_corner"][0],
        f["mazes"]["exact_first_region_corner"][0],
    )
    assert f["mazes"]["uniform_first_intended_corner"][0] == pytest.approx(
        p_goal
    )  # the uniform policy itself
    env = make(ANYWHERE.id, obs="index", layout_seed=seed).unwrapped
    layout = env.layout
    region = np.zeros(layout.shape, bool)
    region[1:4, layout.shape[1] - 4 : layout.shape[1] - 1] = True
    in_region = region.reshape(-1)[layout.cell]
    rng = np.random.default_rng(0)
    first = {"goal": 0, "region": 0}
    for _ in range(n):
        s, _ = env.reset(seed=int(rng.integers(2**31)))
        for _t in range(layout.time_limit):
            s, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
            if in_region[s]:
                first["region"] += 1
                break
            if terminated:
                first["goal"] += 1
                break
            if truncated:
                break
    for hits, p in ((first["goal"], p_goal), (first["region"], p_region)):
        assert 0.01 < p < 0.99
        assert abs(hits / n - p) < 4 * np.sqrt(p * (1 - p) / n)


def _a_choice_maze() -> int:
    spec = EvalSpec(episodes=1, regions=REGIONS, exact_mazes=60, first_layout_seed=1_000_000)
    f = exact_mazes(uniform, ANYWHERE, obs="grid", spec=spec)
    return next(
        s
        for s, c, p in zip(
            f["mazes"]["layout_seed"], f["mazes"]["choice_corner"], f["mazes"]["exact_first_intended_corner"]
        )
        if c and 0.05 < p < 0.95
    )


def test_uniform_policy_exact_figures_on_one_maze_agree_with_monte_carlo():
    seed, n = 1_000_000, 4000
    spec = EvalSpec(episodes=n, regions=REGIONS, exact_mazes=1, first_layout_seed=seed)
    exact = exact_mazes(uniform, ANYWHERE, obs="grid", spec=spec)
    fixed = EnvVariant(ANYWHERE.id, "one maze", kwargs={"layout_seed": seed})
    sampled = evaluate_policy(uniform, fixed, obs="grid", spec=spec, seed=3)
    # the fixed-layout path computes the same exact figures on the same maze
    assert sampled["exact_intended"] == pytest.approx(exact["exact_intended"])
    assert sampled["exact_region_corner"] == pytest.approx(exact["exact_region_corner"])
    for rate, p in (
        (sampled["reach_cheese"], exact["exact_intended"]),
        (sampled["region_corner"], exact["exact_region_corner"]),
    ):
        assert 0.01 < p < 0.99
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_training_variant_has_every_cheese_in_the_corner_so_no_outside_mazes():
    spec = EvalSpec(episodes=1, regions=REGIONS, exact_mazes=5)
    f = exact_mazes(uniform, CORNER, obs="grid", spec=spec)
    assert f["mazes"]["intended_in_corner"] == [True] * 5
    assert f["outside_corner_mazes"] == 0 and np.isnan(f["outside_corner_exact_intended"])


def test_evaluate_policy_adds_the_per_maze_figures_only_when_asked():
    base = EvalSpec(episodes=4, regions=REGIONS)
    assert "mazes" not in evaluate_policy(uniform, ANYWHERE, obs="grid", spec=base, seed=0)
    asked = EvalSpec(episodes=4, regions=REGIONS, exact_mazes=2)
    f = evaluate_policy(uniform, ANYWHERE, obs="grid", spec=asked, seed=0)
    assert len(f["mazes"]["layout_seed"]) == 2 and "outside_corner_exact_intended" in f


def test_negative_exact_mazes_is_refused():
    with pytest.raises(ValueError, match="exact_mazes"):
        EvalSpec(exact_mazes=-1)
