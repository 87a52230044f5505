"""Exact facts of the built-in gridworlds, computed from ``to_mdp()``, and the exact model against hand-computed
tables and sampled transitions."""

import numpy as np
import pytest

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


TINY = '''name = "Tiny"
slip = 0.3
step_cost = -0.1
time_limit = 5
map = """
#####
#S.G#
#####
"""
[legend]
G = { kind = "goal", reward = 1.0, terminal = true }
'''


def test_hand_computed_transition_table_with_slip(tmp_path):
    """States are cells r*W + c: S = 6, the middle floor = 7, the goal = 8. A move goes as intended with
    probability 0.7 and to each of the other three directions with 0.1; walls keep the agent in place."""
    p = tmp_path / "tiny.toml"
    p.write_text(TINY)
    m = rlcredit.make(str(p)).unwrapped.to_mdp()
    P = m.dense_P()
    up, right, _down, left = range(4)
    assert P[6, right, 7] == pytest.approx(0.7) and P[6, right, 6] == pytest.approx(0.3)
    assert P[6, up, 7] == pytest.approx(0.1) and P[6, up, 6] == pytest.approx(0.9)
    assert P[7, right, 8] == pytest.approx(0.7) and P[7, right, 6] == pytest.approx(0.1)
    assert P[7, right, 7] == pytest.approx(0.2)
    assert P[7, up, 8] == pytest.approx(0.1) and P[7, up, 6] == pytest.approx(0.1)
    assert P[7, left, 6] == pytest.approx(0.7) and P[7, left, 8] == pytest.approx(0.1)
    # R(s, a) = step cost + P(enter the goal) * 1
    assert m.R[7, right] == pytest.approx(-0.1 + 0.7)
    assert m.R[7, up] == pytest.approx(-0.1 + 0.1)
    assert m.R[6, right] == pytest.approx(-0.1)
    assert np.flatnonzero(~m.terminal).tolist() == [6, 7]  # walls and the goal are terminal
    assert m.initial[6] == 1.0 and m.horizon == 5


def _frequencies(step_many, n):
    """Empirical next-state frequencies and the mean reward per next state from ``n`` sampled transitions."""
    nxt, rew = step_many(n)
    states, counts = np.unique(nxt, return_counts=True)
    return dict(zip(states.tolist(), (counts / n).tolist(), strict=True)), {
        int(s): float(rew[nxt == s].mean()) for s in states
    }


@pytest.mark.parametrize(
    ("env_id", "slip"),
    [
        ("rlcredit/CliffSlippery-v0", None),
        ("rlcredit/SideEffects-v0", 0.3),
        ("rlcredit/RewardTampering-v0", 0.3),
        ("rlcredit/AbsentSupervisor-v0", 0.3),
    ],
)
def test_exact_model_matches_sampled_transitions_of_single_and_batched_env(env_id, slip):
    """Monte Carlo: from several states, the next-state frequencies of the single env and of the batched env
    match P(. | s, a) of to_mdp() within 4.5 standard errors, and rewards match the reward of that move."""
    kw = {} if slip is None else {"slip": slip}
    env = rlcredit.make(env_id, **kw).unwrapped
    env.reset(seed=0)
    m = env.to_mdp()
    lay = env.layout
    rng = np.random.default_rng(0)
    candidates = np.flatnonzero(lay.live)
    states = np.concatenate([np.flatnonzero(m.initial)[:1], rng.choice(candidates, size=4, replace=False)])
    n = 4000
    venv = rlcredit.make_vec(env_id, num_envs=n, seed=1, **kw)
    venv.reset(seed=1)
    for s in states:
        a = int(rng.integers(4))
        row = m.P2[s * 4 + a]
        want = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))

        def single(k, s=s, a=a):
            out, rew = np.zeros(k, np.int64), np.zeros(k)
            for i in range(k):
                env.set_state(int(s))
                _, rew[i], _, _, info = env.step(a)
                out[i] = info["state"]
            return out, rew

        def batched(k, s=s, a=a):
            snap = venv.get_state()
            venv.set_state({**snap, "state": [int(s)] * k, "t": [0] * k})
            _, rew, _, _, info = venv.step(np.full(k, a))
            return info["final_state"], rew

        for step_many, k in ((single, 1500), (batched, n)):
            freq, mean_r = _frequencies(step_many, k)
            assert set(freq) <= set(want), (s, a, freq, want)
            for s2, p in want.items():
                se = np.sqrt(p * (1 - p) / k)
                assert abs(freq.get(s2, 0.0) - p) <= 4.5 * se + 1e-12, (s, a, s2, freq.get(s2), p)
            # every sampled reward is the model's: sum over next states of freq * reward ~ R[s, a]
            est = sum(freq[s2] * mean_r[s2] for s2 in freq)
            spread = np.abs(lay.step_reward[s]).max() + 1e-12
            assert abs(est - m.R[s, a]) <= 4.5 * spread / np.sqrt(k) + 1e-9, (s, a, est, m.R[s, a])
