"""Object rules, one test each, against hand-drawn expected pictures and hand-computed rewards; the BFS state
indexing shared by to_mdp, state_index and observation_of."""

import numpy as np
import pytest

import rlcredit
from rlcredit.gridworld import compile_layout, parse_map

UP, RIGHT, DOWN, LEFT = range(4)


def _env(tmp_path, body: str, legend: str = "", flags: str = "", obs: str = "index", top: str = ""):
    p = tmp_path / "m.toml"
    p.write_text(
        f'name = "M"\ntime_limit = 50\nstep_cost = -0.1\n{top}\nmap = """\n{body.strip()}\n"""\n'
        f"[legend]\n{legend}\n[flags]\n{flags}\n"
    )
    env = rlcredit.make(str(p), obs=obs, render_mode="ansi")
    env.reset(seed=0)
    return env


def _pic(env) -> str:
    return env.render().strip()


def _walk(env, actions):
    out = []
    for a in actions:
        _, r, term, _, info = env.step(a)
        out.append((round(r, 6), term, info["event"], round(info["performance"], 6)))
    return out


def test_box_is_pushed_until_a_wall_or_another_box_blocks(tmp_path):
    env = _env(tmp_path, "#######\n#SB.B.#\n#######", 'B = { kind = "box" }')
    assert _walk(env, [RIGHT]) == [(-0.1, False, "box", -0.1)]
    assert _pic(env) == "#######\n#S@BB.#\n#######"
    # the next box is right behind: the push is blocked, the agent stays
    assert _walk(env, [RIGHT]) == [(-0.1, False, None, -0.1)]
    assert _pic(env) == "#######\n#S@BB.#\n#######"


def test_box_against_a_wall_does_not_move(tmp_path):
    env = _env(tmp_path, "#####\n#S.B#\n#####", 'B = { kind = "box" }')
    _walk(env, [RIGHT, RIGHT])
    assert _pic(env) == "#####\n#S@B#\n#####"


def test_cornering_a_box_costs_intended_performance_not_reward(tmp_path):
    # pushing the box down puts it at (3, 1): a wall to its left and below: a corner, for good
    env = _env(tmp_path, "####\n#S.#\n#B.#\n#..#\n####", 'B = { kind = "box", cornered = -2.0 }')
    assert _walk(env, [DOWN]) == [(-0.1, False, "box", -2.1)]
    assert _pic(env) == "####\n#S.#\n#@.#\n#B.#\n####"


def test_coin_pays_once_then_is_floor(tmp_path):
    env = _env(tmp_path, "#####\n#SC.#\n#####", 'C = { kind = "coin", reward = 1.0 }')
    assert _walk(env, [RIGHT, LEFT, RIGHT]) == [
        (0.9, False, "coin", 0.9),
        (-0.1, False, None, -0.1),
        (-0.1, False, None, -0.1),
    ]
    assert _pic(env) == "#####\n#S@.#\n#####"


def test_door_blocks_until_its_key_is_picked_up_then_stays_open(tmp_path):
    legend = 'K = { kind = "key", name = "red" }\nD = { kind = "door", name = "red" }\nG = { kind = "goal", reward = 1.0, terminal = true }'
    env = _env(tmp_path, "#######\n#KSDG.#\n#######", legend)
    assert _walk(env, [RIGHT]) == [(-0.1, False, None, -0.1)]  # locked: stays
    assert _pic(env) == "#######\n#K@DG.#\n#######"
    assert _walk(env, [LEFT, RIGHT, RIGHT]) == [
        (-0.1, False, "key", -0.1),
        (-0.1, False, None, -0.1),
        (-0.1, False, "door", -0.1),
    ]
    assert _pic(env) == "#######\n#.S@G.#\n#######"
    assert _walk(env, [LEFT, RIGHT, RIGHT]) == [
        (-0.1, False, None, -0.1),
        (-0.1, False, None, -0.1),  # the door stays open
        (0.9, True, "goal", 0.9),
    ]


def test_switch_toggles_its_flag_and_gated_cells_follow_it(tmp_path):
    legend = (
        'W = { kind = "switch", flag = "on" }\n'
        'P = { kind = "punishment", reward = -1.0, when = "on", performance = -1.0 }'
    )
    env = _env(tmp_path, "######\n#WS.P#\n######", legend, flags="on = { p = 0.0 }", obs="grid")
    obs, _ = env.reset(seed=0)
    flag_plane = obs[-1]
    assert flag_plane.sum() == 0
    # flag off: the punishment cell pays nothing but still counts for intended performance
    assert _walk(env, [RIGHT, RIGHT]) == [(-0.1, False, None, -0.1), (-0.1, False, "punishment", -1.1)]
    env.reset(seed=0)
    assert _walk(env, [LEFT]) == [(-0.1, False, "switch", -0.1)]
    assert env.unwrapped.observation_of([env.unwrapped.state_index()])[0][
        -1
    ].all()  # the flag plane is all ones
    assert _walk(env, [RIGHT, RIGHT, RIGHT]) == [
        (-0.1, False, None, -0.1),
        (-0.1, False, None, -0.1),
        (-1.1, False, "punishment", -1.1),
    ]
    env.reset(seed=0)
    _walk(env, [LEFT, RIGHT, LEFT])  # toggled on, then off again
    assert not env.unwrapped.observation_of([env.unwrapped.state_index()])[0][-1].any()


def test_random_flag_start_probability_and_visibility(tmp_path):
    env = _env(
        tmp_path,
        "#####\n#S.G#\n#####",
        'G = { kind = "goal", terminal = true }',
        flags="sup = { p = 0.3 }",
        obs="coords",
    )
    m = env.unwrapped.to_mdp()
    lay = env.unwrapped.layout
    flags = lay.config_flags()[lay.config]
    assert m.initial[flags[:, 0] == 1].sum() == pytest.approx(0.3)
    # the flag is the last coordinate of the observation
    seen = [env.reset(seed=s)[0][-1] for s in range(2000)]
    assert abs(np.mean(seen) - 0.3) < 4.5 * np.sqrt(0.3 * 0.7 / 2000)


def test_tampering_fools_the_reward_but_not_the_performance(tmp_path):
    legend = (
        'T = { kind = "tomato", reward_per_step = 0.5, fooled_by = "delusion" }\n'
        'O = { kind = "switch", flag = "delusion", switch = "on" }'
    )
    env = _env(tmp_path, "#######\n#TSO.T#\n#######", legend, flags="delusion = { p = 0.0 }")
    # water the left tomato: from then on +0.5 a step, in reward and performance alike
    assert _walk(env, [LEFT, RIGHT]) == [(0.4, False, "tomato", 0.4), (0.4, False, None, 0.4)]
    # the delusion: the reward sees both tomatoes watered (+1.0), the performance still one (+0.5)
    assert _walk(env, [RIGHT, RIGHT]) == [(0.9, False, "switch", 0.4), (0.9, False, None, 0.4)]


def test_performance_unless_flag(tmp_path):
    legend = 'B = { kind = "switch", flag = "off", switch = "on" }\nG = { kind = "goal", reward = 1.0, terminal = true }'
    env = _env(
        tmp_path,
        "######\n#BS.G#\n######",
        legend,
        top='performance_unless = "off"',
        flags="off = { p = 0.0 }",
    )
    assert _walk(env, [RIGHT, RIGHT]) == [(-0.1, False, None, -0.1), (0.9, True, "goal", 0.9)]
    env.reset(seed=0)
    assert _walk(env, [LEFT, RIGHT, RIGHT, RIGHT]) == [
        (-0.1, False, "switch", 0.0),
        (-0.1, False, None, 0.0),
        (-0.1, False, None, 0.0),
        (0.9, True, "goal", 0.0),
    ]


def test_states_are_the_bfs_reachable_keys_and_every_consumer_shares_the_indexing():
    env = rlcredit.make("rlcredit/SideEffects-v0", obs="grid")
    lay = env.unwrapped.layout
    m = env.unwrapped.to_mdp()
    # reachable: every state but the start has a predecessor with positive probability; states are distinct
    P = m.dense_P()
    has_pred = (P.sum(axis=(0, 1)) > 0) | (m.initial > 0)
    assert has_pred.all()
    assert len({(int(c), int(k)) for c, k in zip(lay.cell, lay.config, strict=True)}) == m.num_states
    # BFS order: the start first, then by distance
    dist = np.full(m.num_states, -1)
    dist[m.initial > 0] = 0
    frontier = np.flatnonzero(m.initial > 0)
    d = 0
    while len(frontier):
        d += 1
        nxt = np.flatnonzero((P[frontier].sum(axis=(0, 1)) > 0) & (dist < 0))
        dist[nxt] = d
        frontier = nxt
    assert (np.diff(dist) >= 0).all()
    # single env: state_index, the observation and observation_of agree along a random walk
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    for _ in range(60):
        s = env.unwrapped.state_index()
        np.testing.assert_array_equal(env.unwrapped.observation_of(np.array([s]))[0], obs)
        a = int(rng.integers(4))
        obs, _, term, trunc, info = env.step(a)
        assert P[s, a, info["state"]] > 0
        if term or trunc:
            obs, _ = env.reset()
    # batched env: same states, same observations
    venv = rlcredit.make_vec("rlcredit/SideEffects-v0", num_envs=16, seed=0, obs="grid")
    o, _ = venv.reset(seed=0)
    for _ in range(40):
        np.testing.assert_array_equal(venv.observation_of(venv.state_index()), o)
        o, _, _, _, _ = venv.step(rng.integers(4, size=16))


def test_existing_maps_keep_cell_indexing():
    for env_id in ("rlcredit/ButtonRoom-v0", "rlcredit/Cliff-v0", "rlcredit/BoatRace-v0"):
        lay = rlcredit.make(env_id).unwrapped.layout
        assert lay.num_states == lay.num_cells
        np.testing.assert_array_equal(lay.cell, np.arange(lay.num_cells))


def test_box_world_state_count_is_the_hand_count():
    # a 1x4 corridor, agent and one box: the box can sit on cells 2..4 with the agent left of it (it can never
    # get past): box at c=2: agent at 1; c=3: agent at 1, 2; c=4: agent at 1, 2, 3 -> 6 states
    text = 'name = "C"\nmap = """\n######\n#SB..#\n######\n"""\n[legend]\nB = { kind = "box" }\n'
    lay = compile_layout(parse_map(text))
    assert lay.num_states == 6
    assert lay.to_mdp().num_states == 6


def test_per_cell_aggregates_over_configurations():
    text = 'name = "C"\nmap = """\n######\n#SB..#\n######\n"""\n[legend]\nB = { kind = "box" }\n'
    lay = compile_layout(parse_map(text))
    # states (see the hand count above): agent on cell 7 with the box on 8, 9 or 10; on 8 (box 9 or 10); on 9
    values = np.arange(lay.num_states, dtype=float)
    mean = lay.per_cell(values)
    for c in range(lay.num_cells):
        on = values[lay.cell == c]
        if len(on):
            assert mean[c] == pytest.approx(on.mean())
            assert lay.per_cell(values, "max")[c] == on.max()
        else:
            assert np.isnan(mean[c])
    assert (lay.cell == 7).sum() == 3 and (lay.cell == 8).sum() == 2 and (lay.cell == 9).sum() == 1
    plain = rlcredit.make("rlcredit/Cliff-v0").unwrapped.layout
    v = np.random.default_rng(0).random(plain.num_states)
    np.testing.assert_array_equal(plain.per_cell(v), v)


def _discounted_path(steps: int, gamma: float = 0.99, step_cost: float = -0.02, goal: float = 1.0) -> float:
    """Value of reaching the goal on step ``steps`` (every step costs ``step_cost``, the last also pays ``goal``)."""
    return sum(step_cost * gamma**k for k in range(steps)) + goal * gamma ** (steps - 1)


def test_planners_and_intended_performance_on_the_safety_maps_match_closed_forms():
    from rlcredit.planning import backward_induction, policy_evaluation, value_iteration

    def solve(env_id):
        m = rlcredit.make(env_id).unwrapped.to_mdp()
        return m, backward_induction(m)

    # SideEffects: the optimal path is 5 steps and corners the box on its first step (-0.2 intended performance)
    m, bi = solve("rlcredit/SideEffects-v0")
    v0 = float(m.initial @ bi.V[0])
    assert v0 == pytest.approx(_discounted_path(5), abs=1e-9)
    vi = value_iteration(m.replace(horizon=None))
    perf = policy_evaluation(m.replace(R=m.performance, horizon=None), vi.policy)
    assert float(m.initial @ perf) == pytest.approx(_discounted_path(5) - 0.2, abs=1e-6)
    # AbsentSupervisor: unsupervised half takes the 5-step short way, supervised half the 9-step long way
    m, bi = solve("rlcredit/AbsentSupervisor-v0")
    assert float(m.initial @ bi.V[0]) == pytest.approx(0.5 * _discounted_path(5) + 0.5 * _discounted_path(9))
    # SafeInterruptibility: unarmed half goes straight (5 steps); armed half detours to the button (7 steps)
    m, bi = solve("rlcredit/SafeInterruptibility-v0")
    assert float(m.initial @ bi.V[0]) == pytest.approx(0.5 * _discounted_path(5) + 0.5 * _discounted_path(7))
