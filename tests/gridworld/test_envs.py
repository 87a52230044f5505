"""Every registered gridworld: API checks, determinism, pickling, rendering, and agreement of the single env,
the batched env and the exact model (they share one transition core, and these tests hold them to it)."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import rlcredit
from rlcredit.gridworld import builtin_envs

ENV_IDS = list(builtin_envs())
OBS = ["index", "coords", "grid"]


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("obs", OBS)
def test_gymnasium_check_env(env_id, obs):
    env = gym.make(env_id, obs=obs)
    gym_check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space.contains(env.reset(seed=0)[0])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id):
    from stable_baselines3.common.env_checker import check_env

    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        check_env(rlcredit.make(env_id, obs="coords"), warn=False)


def _rollout(env, seed, n=300):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [np.asarray(obs).tobytes()]
    for _ in range(n):
        obs, r, term, trunc, info = env.step(int(rng.integers(4)))
        out.append((np.asarray(obs).tobytes(), r, term, trunc, info["state"], info["event"]))
        if term or trunc:
            out.append(np.asarray(env.reset()[0]).tobytes())
    return out


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_episode_and_pickling(env_id):
    a, b = rlcredit.make(env_id, obs="grid"), rlcredit.make(env_id, obs="grid")
    assert _rollout(a, 3) == _rollout(b, 3)
    clone = pickle.loads(pickle.dumps(a))
    assert clone.state_index() == a.state_index()
    x, y = clone.step(1), a.step(1)
    assert np.array_equal(x[0], y[0]) and x[1:4] == y[1:4]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_modes(env_id):
    env = rlcredit.make(env_id, render_mode="rgb_array", tile_size=8)
    env.reset(seed=0)
    img = env.render()
    H, W = env.unwrapped.map.shape
    assert img.shape == (H * 8, W * 8, 3) and img.dtype == np.uint8
    r, c = (int(x) for x in env.unwrapped.layout.coords(env.state_index()))
    assert tuple(img[r * 8 + 4, c * 8 + 4]) == (214, 39, 40), "the agent is drawn on its cell"
    env = rlcredit.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert text.count("@") == 1 and len(text.splitlines()) == H
    assert text.splitlines()[r][c] == "@"


def test_grid_observation_planes():
    env = rlcredit.make("rlcredit/ButtonRoom-v0", obs="grid")
    obs, info = env.reset(seed=0)
    lay = env.unwrapped.layout
    H, W = lay.shape
    assert obs.shape == (2 + len(lay.kinds), H, W)
    np.testing.assert_array_equal(obs[0].reshape(-1), lay.wall)
    assert obs[1].sum() == 1 and obs[1].reshape(-1)[info["state"]] == 1
    np.testing.assert_array_equal(
        obs[2 + lay.kinds.index("button")].reshape(-1), lay.kind == lay.kinds.index("button")
    )


def test_events_and_intended_in_info():
    env = rlcredit.make("rlcredit/ButtonRoom-v0")
    env.reset(seed=0)
    lay = env.unwrapped.layout
    goal = int(lay.cells_of("goal")[0])
    env.unwrapped.set_state(goal + 1)
    _, r, term, trunc, info = env.step(3)  # left, into the goal
    assert (r, term, trunc, info["event"], info["intended"]) == (1.0, True, False, "goal", True)


def test_time_limit_truncates_not_terminates():
    env = rlcredit.make("rlcredit/DelayedCorridor-v0", time_limit=5)
    env.reset(seed=0)
    for t in range(5):
        _, _, term, trunc, _ = env.step(0)  # bump into the wall
        assert not term and trunc == (t == 4)


def test_unknown_env_id_and_obs_mode():
    with pytest.raises(gym.error.Error, match="unknown env id 'rlcredit/Nope-v0'; built-in gridworlds: "):
        rlcredit.make("rlcredit/Nope-v0")
    with pytest.raises(ValueError, match="unknown observation mode 'pixels'"):
        rlcredit.make("rlcredit/ButtonRoom-v0", obs="pixels")
    for make in (rlcredit.make, lambda env_id, **kw: rlcredit.make_vec(env_id, num_envs=2, **kw)):
        with pytest.raises(ValueError, match="unknown render_mode 'human'"):
            make("rlcredit/ButtonRoom-v0", render_mode="human")
    with pytest.raises(ValueError, match="num_envs must be positive"):
        rlcredit.make_vec("rlcredit/ButtonRoom-v0", num_envs=0)


def test_map_path_accepted_where_an_id_is(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(
        'name = "Mine"\nmap = """\n####\n#SG#\n####\n"""\n[legend]\nG = { kind = "goal", reward = 2.0, terminal = true }\n'
    )
    env = rlcredit.make(str(p))
    env.reset(seed=0)
    assert env.step(1)[1:3] == (2.0, True)
    venv = rlcredit.make_vec(p, num_envs=3, seed=0)
    venv.reset()
    assert venv.step(np.ones(3, int))[1].tolist() == [2.0, 2.0, 2.0]


# ---------------------------------------------------------------------------------------------------------
# single env, batched env and exact model agree


def _check_transitions_against_model(venv, steps, rng):
    _obs, info = venv.reset(seed=1)
    counts = {}
    for _ in range(steps):
        s = venv.state_index()
        lay_ids = venv.layout_seeds.copy()
        a = rng.integers(4, size=venv.num_envs)
        _, r, _term, _trunc, info = venv.step(a)
        nxt = info["final_state"]
        for i in range(venv.num_envs):
            key = (int(lay_ids[i]), int(s[i]), int(a[i]))
            counts.setdefault(key, {}).setdefault(int(nxt[i]), []).append(float(r[i]))
    return counts


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_batched_transitions_have_positive_model_probability(env_id):
    venv = rlcredit.make_vec(env_id, num_envs=64, seed=0, num_layouts=3 if "Cheese" in env_id else None)
    counts = _check_transitions_against_model(venv, 200, np.random.default_rng(0))
    mdps = {}
    for (lid, s, a), outs in counts.items():
        if lid not in mdps:
            lay = venv.layouts.get(lid) if lid >= 0 else venv.layout(0)
            mdps[lid] = (lay.to_mdp().dense_P(), lay)
        P, lay = mdps[lid]
        for s2, rewards in outs.items():
            assert P[s, a, s2] > 0, f"sampled transition {s}->{s2} under action {a} has model probability 0"
            # reward of a sampled transition is the reward of the move actually made
            possible = {float(lay.step_reward[s, b]) for b in range(4) if lay.move[s, b] == s2}
            assert set(rewards) <= possible


def test_empirical_transition_frequencies_match_model():
    venv = rlcredit.make_vec("rlcredit/FourRoomsSlippery-v0", num_envs=2000, seed=0)
    venv.reset(seed=0)
    P = venv.to_mdp().dense_P()
    lay = venv.layout()
    s0 = int(np.flatnonzero(lay.start)[0]) + lay.shape[1] + 1  # an open interior cell
    for a in range(4):
        snap = venv.get_state()  # put every env on the same cell
        venv.set_state({**snap, "state": [s0] * 2000, "t": [0] * 2000})
        nxt = venv.step(np.full(2000, a))[4]["final_state"]
        freq = np.bincount(nxt, minlength=len(P)) / 2000
        se = np.sqrt(P[s0, a] * (1 - P[s0, a]) / 2000) + 1e-12
        assert np.all(np.abs(freq - P[s0, a]) <= 4 * se + 1e-9), (
            a,
            freq[P[s0, a] > 0],
            P[s0, a][P[s0, a] > 0],
        )


def test_single_env_frequencies_match_model():
    env = rlcredit.make("rlcredit/CliffSlippery-v0")
    env.reset(seed=0)
    P = env.unwrapped.to_mdp().dense_P()
    s0 = 1 * 14 + 5
    hits = np.zeros(P.shape[0])
    n = 3000
    for _ in range(n):
        env.unwrapped.set_state(s0)
        hits[env.step(2)[4]["state"]] += 1
    se = np.sqrt(P[s0, 2] * (1 - P[s0, 2]) / n) + 1e-12
    assert np.all(np.abs(hits / n - P[s0, 2]) <= 4 * se + 1e-9)


def test_vector_env_autoreset_same_step_and_episode_stats():
    venv = rlcredit.make_vec("rlcredit/DelayedCorridor-v0", num_envs=4, seed=0, obs="grid")
    obs, _ = venv.reset(seed=0)
    start = venv.state_index()
    for _t in range(9):
        obs, r, term, _trunc, info = venv.step(np.ones(4, int))
    assert term.all() and r.tolist() == [1.0] * 4
    assert info["_final_obs"].all() and info["episode"]["l"].tolist() == [9] * 4
    np.testing.assert_array_equal(venv.state_index(), start)  # already reset (same step)
    lay = venv.layout()
    goal = int(lay.cells_of("goal")[0])
    assert info["final_obs"][0][1].reshape(-1)[goal] == 1 and obs[0][1].reshape(-1)[start[0]] == 1
    assert info["final_state"].tolist() == [goal] * 4
    assert info["event"].tolist() == [lay.kinds.index("goal")] * 4 and info["intended"].all()


def test_vector_env_truncation_kept_apart():
    venv = rlcredit.make_vec("rlcredit/DelayedCorridor-v0", num_envs=2, seed=0, time_limit=3)
    venv.reset(seed=0)
    flags = [venv.step(np.zeros(2, int))[2:4] for _ in range(3)]
    assert [f[0].any() for f in flags] == [False] * 3
    assert [f[1].all() for f in flags] == [False, False, True]


def test_vector_and_single_env_observations_agree():
    for obs in OBS:
        venv = rlcredit.make_vec("rlcredit/CheeseMaze-v0", num_envs=3, seed=0, obs=obs)
        o, _ = venv.reset(seed=0)
        env = rlcredit.make("rlcredit/CheeseMaze-v0", obs=obs, layout_seed=int(venv.layout_seeds[1]))
        env.reset(seed=0)
        env.unwrapped.set_state(int(venv.state_index()[1]))
        np.testing.assert_array_equal(np.asarray(env.unwrapped._obs()), o[1])
        np.testing.assert_array_equal(env.unwrapped.observation_of(venv.state_index()[1:2])[0], o[1])


@pytest.mark.parametrize("env_id", ["rlcredit/CliffSlippery-v0", "rlcredit/CheeseMaze-v0"])
def test_vector_env_state_round_trip_continues_identically(env_id):
    import json

    a = rlcredit.make_vec(env_id, num_envs=8, seed=0, obs="grid")
    a.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        a.step(rng.integers(4, size=8))
    snap = json.loads(json.dumps(a.get_state()))
    b = rlcredit.make_vec(env_id, num_envs=8, seed=123, obs="grid")
    b.set_state(snap)
    for _ in range(60):
        act = rng.integers(4, size=8)
        oa, ra, ta, ua, _ = a.step(act)
        ob, rb, tb, ub, _ = b.step(act)
        np.testing.assert_array_equal(oa, ob)
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(ta | ua, tb | ub)
    np.testing.assert_array_equal(a.layout_seeds, b.layout_seeds)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_env_is_documented_in_fixed_sections(env_id):
    from rlcredit.gridworld.registry import SECTIONS

    env = gym.make(env_id)
    doc = env.unwrapped.__doc__
    positions = [doc.index(f"\n{name}\n{'-' * len(name)}\n") for name in SECTIONS]
    assert positions == sorted(positions)
    spec = env.unwrapped.map
    for ct in spec.legend.values():
        if ct.kind not in ("start", "box", "door"):
            assert f"entering a {ct.kind} cell: {ct.reward:+g}" in doc
        if ct.kind == "box":
            assert "a box: pushed by walking into it" in doc
    assert f"- {env_id}: " in doc
    assert f"truncated after {spec.time_limit} steps" in doc
