"""Exact facts of the built-in gridworlds, computed from ``to_mdp()``."""

import numpy as np

import rlcredit
from rlcredit.planning import backward_induction, reach_probability


def _uniform(m):
    return np.full((m.num_states, m.num_actions), 1.0 / m.num_actions)


def test_button_room_default_button_is_undiscoverable_but_optimal():
    env = rlcredit.make("rlcredit/ButtonRoom-v0")
    m = env.unwrapped.to_mdp()
    button = np.zeros(m.num_states, bool)
    button[env.unwrapped.layout.cells_of("button")] = True
    reach = float(m.initial @ reach_probability(m, _uniform(m), button, horizon=m.horizon))
    assert 1e-6 < reach < 1e-4, reach
    bi = backward_induction(m)
    # the optimal (time-indexed) policy from the start presses the button: follow it in the deterministic model
    s, events = int(np.argmax(m.initial)), []
    lay = env.unwrapped.layout
    for t in range(m.horizon):
        a = int(bi.actions[t, s])
        if lay.event[s, a] >= 0:
            events.append(lay.kinds[lay.event[s, a]])
        s = int(lay.move[s, a])
        if lay.terminal[s]:
            break
    assert events == ["button"]
    assert bi.V[0, int(np.argmax(m.initial))] > 9.0


def test_bridge_length_is_a_discoverability_knob():
    probs = []
    for b in range(7):
        env = rlcredit.make(f"rlcredit/ButtonRoomBridge{b}-v0")
        m = env.unwrapped.to_mdp()
        button = np.zeros(m.num_states, bool)
        button[env.unwrapped.layout.cells_of("button")] = True
        probs.append(float(m.initial @ reach_probability(m, _uniform(m), button, horizon=m.horizon)))
    ratios = np.array(probs[:-1]) / np.array(probs[1:])
    assert np.all((ratios > 2.5) & (ratios < 5.0)), ratios


def test_cliff_optimal_return_is_minus_13():
    m = rlcredit.make("rlcredit/Cliff-v0").unwrapped.to_mdp()
    bi = backward_induction(m)
    assert np.isclose(bi.V[0] @ m.initial, -13.0)


def test_vector_env_mdp_matches_single_env_mdp():
    a = rlcredit.make("rlcredit/FourRoomsSlippery-v0").unwrapped.to_mdp()
    b = rlcredit.make_vec("rlcredit/FourRoomsSlippery-v0", num_envs=2, seed=0).to_mdp()
    np.testing.assert_array_equal(a.dense_P(), b.dense_P())
    np.testing.assert_array_equal(a.R, b.R)
