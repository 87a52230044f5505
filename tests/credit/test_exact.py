"""Exact credit: time-indexed Q/A against brute-force enumeration and closed forms; the exact policy gradient
against finite differences; event reach probabilities against the planner's reach_probability."""

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlcredit
from rlcredit.credit import (
    ExactCredit,
    ShapingRecorder,
    cosine,
    event_reach_probability,
    exact_policy_gradient,
    policy_values,
)
from rlcredit.gridworld import core, parse_map
from rlcredit.gridworld.env import GridWorldEnv
from rlcredit.mdp import TabularMDP
from rlcredit.planning import policy_evaluation, reach_probability

# ------------------------------------------------------------------------------------------ a hand corridor
# states 0, 1, 2 and the goal 3 (terminal); actions 0 = left, 1 = right; deterministic; +1 for entering 3.
GOAL = 3


def _corridor_step(s: int, a: int) -> tuple[int, float]:
    nxt = max(s - 1, 0) if a == 0 else s + 1
    return nxt, 1.0 if nxt == GOAL else 0.0


def _corridor_mdp(horizon: int) -> TabularMDP:
    P = np.zeros((4, 2, 4))
    R = np.zeros((4, 2))
    for s in range(4):
        for a in range(2):
            if s == GOAL:
                P[s, a, s] = 1.0
                continue
            nxt, r = _corridor_step(s, a)
            P[s, a, nxt] = 1.0
            R[s, a] = r
    terminal = np.array([False, False, False, True])
    return TabularMDP(P, R, gamma=0.3, terminal=terminal, initial=np.eye(4)[0], horizon=horizon)


def _brute_q(pi: np.ndarray, s: int, a: int, steps_left: int, gamma: float) -> float:
    """Enumerate every trajectory after (s, a) within the steps left; sum prob * discounted return.

    A trajectory that ends early is listed once: as the action sequence whose actions after the goal are 0.
    """
    total = 0.0
    for rest in itertools.product(range(2), repeat=steps_left - 1):
        prob, ret, state, discount = 1.0, 0.0, s, 1.0
        for i, act in enumerate((a, *rest)):
            if state == GOAL:
                prob *= act == 0
                continue
            if i > 0:
                prob *= pi[state, act]
            state, r = _corridor_step(state, act)
            ret += discount * r
            discount *= gamma
        total += prob * ret
    return total


def test_corridor_q_and_advantage_match_brute_force_enumeration():
    H, gamma = 5, 0.9
    pi = np.array([[0.3, 0.7], [0.4, 0.6], [0.2, 0.8], [0.5, 0.5]])
    exact = ExactCredit(_corridor_mdp(H), gamma=gamma)  # the trainer's gamma, not the model's 0.3
    t, s, a = (g.ravel() for g in np.meshgrid(np.arange(H), np.arange(3), np.arange(2), indexing="ij"))
    q, adv = exact(1, s, t, a, pi)
    want = np.array([_brute_q(pi, si, ai, H - ti, gamma) for si, ti, ai in zip(s, t, a)])
    np.testing.assert_allclose(q, want, rtol=0, atol=1e-12)
    v = np.array(
        [sum(pi[si, b] * _brute_q(pi, si, b, H - ti, gamma) for b in range(2)) for si, ti in zip(s, t)]
    )
    np.testing.assert_allclose(adv, want - v, rtol=0, atol=1e-12)


def test_same_state_near_the_time_limit_has_a_different_q():
    H, gamma = 6, 0.9
    always_right = np.tile([0.0, 1.0], (4, 1))
    exact = ExactCredit(_corridor_mdp(H), gamma=gamma)
    t = np.arange(H)
    q, adv = exact(1, np.zeros(H, int), t, np.ones(H, int), always_right)
    # from state 0 the goal is three moves away: worth gamma^2 while three steps are left, nothing after
    np.testing.assert_allclose(q, np.where(H - t >= 3, gamma**2, 0.0), atol=1e-15)
    np.testing.assert_allclose(adv, 0.0, atol=1e-15)  # the deterministic policy takes exactly this action
    q_left, adv_left = exact(1, np.zeros(H, int), t, np.zeros(H, int), always_right)
    # "left" at 0 stays put and loses one step: gamma^3 with four steps left, 0 with fewer
    np.testing.assert_allclose(q_left, np.where(H - t >= 4, gamma**3, 0.0), atol=1e-15)
    np.testing.assert_allclose(adv_left, q_left - q, atol=1e-15)


def test_gridworld_uses_the_trainers_gamma_and_the_time_limit():
    env = rlcredit.make("rlcredit/DelayedCorridor-v0")  # map gamma 0.99, time limit 40, goal 9 moves right
    exact = ExactCredit(env, gamma=0.5)
    m = exact.mdp()
    start = int(np.argmax(m.initial))
    right = np.tile([0.0, 1.0, 0.0, 0.0], (m.num_states, 1))
    q, _ = exact(3, [start] * 4, [0, 31, 32, 39], [1] * 4, right)
    # the reward comes on the 9th move: 0.5^8 while at least 9 steps are left (t <= 31), then nothing
    np.testing.assert_array_equal(q, [0.5**8, 0.5**8, 0.0, 0.0])
    assert exact.values(3, right).J == pytest.approx(0.5**8)


def _slip_outcomes(slip: float) -> list[tuple[float, float]]:
    """(noise value, probability) pairs covering the intended move and each of the three slips."""
    if slip == 0:
        return [(0.5, 1.0)]
    return [(slip + (1 - slip) / 2, 1 - slip)] + [(slip * (j + 0.5) / 3, slip / 3) for j in range(3)]


def _core_q(layout, pi, s, a, steps_left, gamma) -> float:
    """Q by expanding every action and slip outcome through the env's pure transition ``core.step``."""
    if steps_left == 0:
        return 0.0
    total = 0.0
    for noise, p in _slip_outcomes(layout.slip):
        nxt, r, term, _ = core.step(layout, s, a, noise)
        onward = 0.0
        if not term and steps_left > 1:
            onward = sum(
                pi[nxt, b] * _core_q(layout, pi, int(nxt), b, steps_left - 1, gamma) for b in range(4)
            )
        total += p * (float(r) + gamma * onward)
    return total


def test_slippery_respawning_gridworld_matches_expansion_of_the_transition_core():
    env = rlcredit.make("rlcredit/CliffSlippery-v0")  # step cost -1, cliff -100 and respawn, slip 0.1
    layout = env.unwrapped.layout
    exact = ExactCredit(env, gamma=0.9)
    H = exact.horizon_of()
    rng = np.random.default_rng(0)
    pi = rng.dirichlet(np.ones(4), size=layout.num_states)
    start = int(np.argmax(layout.start))
    cases = [(start, H - 3, 1), (start, H - 3, 0), (start - layout.shape[1] + 1, H - 2, 2), (start, H - 1, 3)]
    s, t, a = (np.array(c) for c in zip(*cases))
    q, adv = exact(7, s, t, a, pi)
    want = [_core_q(layout, pi, si, ai, H - ti, 0.9) for si, ti, ai in cases]
    np.testing.assert_allclose(q, want, rtol=1e-12)
    v = [sum(pi[si, b] * _core_q(layout, pi, si, b, H - ti, 0.9) for b in range(4)) for si, ti, _ in cases]
    np.testing.assert_allclose(adv, np.array(want) - v, rtol=1e-10, atol=1e-12)


def test_batches_keep_their_shape_and_are_nan_outside_the_model():
    env = rlcredit.make("rlcredit/DelayedCorridor-v0")
    exact = ExactCredit(env, gamma=0.99)
    uniform = np.full((36, 4), 0.25)
    states = np.array([[13, 14, -1], [15, 16, 17]])
    t = np.array([[0, 1, 2], [3, 40, 5]])  # t = 40 is past the time limit
    q, adv = exact(1, states, t, 1, uniform)
    assert q.shape == adv.shape == (2, 3)
    assert np.isnan(q[0, 2]) and np.isnan(q[1, 1]) and np.isnan(adv[1, 1])
    assert np.isfinite(np.delete(q.ravel(), [2, 4])).all()

    no_model = ExactCredit(gym.make("CartPole-v1"), gamma=0.99)
    assert not no_model.has_model
    q, adv = no_model(1, np.zeros(5, int), np.arange(5), np.zeros(5, int), uniform)
    assert np.isnan(q).all() and np.isnan(adv).all() and q.shape == (5,)


def test_values_are_solved_once_per_update_and_again_for_a_new_policy():
    exact = ExactCredit(rlcredit.make("rlcredit/DelayedCorridor-v0"), gamma=0.99)
    uniform = np.full((36, 4), 0.25)
    first = exact.values(1, uniform)
    assert exact.values(1, uniform.copy()) is first
    other = np.tile([0.1, 0.7, 0.1, 0.1], (36, 1))
    assert exact.values(1, other).J > first.J
    assert exact.cached(2) is None


def _maze_policy(obs: np.ndarray) -> np.ndarray:
    """A policy of grid observations that depends on the layout: lean towards the cheese's column."""
    agent = obs[:, 1].reshape(len(obs), -1).argmax(axis=1)
    cheese = obs[:, 2].reshape(len(obs), -1).argmax(axis=1)
    W = obs.shape[-1]
    right = (cheese % W > agent % W).astype(float)
    probs = np.full((len(obs), 4), 0.2)
    probs[:, 1] += 0.2 * right
    probs[:, 0] += 0.2 * (1 - right)
    return probs


def test_procedural_maps_are_solved_per_layout_seed():
    venv = rlcredit.make_vec("rlcredit/CheeseMaze-v0", num_envs=2, seed=0, obs="grid")
    venv.reset()
    exact = ExactCredit(venv, gamma=0.95)
    assert exact.procedural
    seeds = np.array([3, 3, 8, 8])
    states = np.array([12, 23, 12, 23])
    t = np.array([0, 5, 0, 5])
    actions = np.array([1, 0, 1, 0])
    q, adv = exact(1, states, t, actions, _maze_policy, layout_seeds=seeds)
    for seed in (3, 8):
        layout = venv.layouts.get(seed)
        m = layout.to_mdp(gamma=0.95)
        obs = GridWorldEnv(venv.map, obs="grid", layout_seed=seed).observation_of(
            np.arange(layout.num_states)
        )
        vals = policy_values(m, _maze_policy(obs))
        sel = seeds == seed
        want_q, want_adv = vals.lookup(states[sel], t[sel], actions[sel])
        np.testing.assert_allclose(q[sel], want_q)
        np.testing.assert_allclose(adv[sel], want_adv)
    assert exact.cached(1, 3) is not exact.cached(1, 8)
    with pytest.raises(ValueError, match="layout seed"):
        exact(1, states, t, actions, _maze_policy)


def test_event_reach_agrees_with_reach_probability_and_counts_respawn_cells():
    env = rlcredit.make("rlcredit/ButtonRoomBridge1-v0")
    layout = env.unwrapped.layout
    m = layout.to_mdp()
    rng = np.random.default_rng(1)
    pi = rng.dirichlet(np.ones(4), size=layout.num_states)
    for kind in ("goal", "button", "lava"):
        events = layout.event == layout.kinds.index(kind)
        got = event_reach_probability(layout, pi, events)
        want = reach_probability(m, pi, layout.cells_of(kind), horizon=layout.time_limit)
        live = ~(layout.wall | layout.terminal)
        np.testing.assert_allclose(got[live], want[live], atol=1e-12)

    cliff = rlcredit.make("rlcredit/Cliff-v0").unwrapped.layout  # stepping on the cliff respawns at the start
    right = np.tile([0.0, 1.0, 0.0, 0.0], (cliff.num_states, 1))
    start = int(np.argmax(cliff.start))
    hits = event_reach_probability(cliff, right, cliff.event == cliff.kinds.index("cliff"))
    assert hits[start] == 1.0
    assert reach_probability(cliff.to_mdp(), right, cliff.cells_of("cliff"))[start] == 0.0


# ------------------------------------------------------------------------ finite-horizon vs bootstrap targets


def test_both_exact_advantages_match_their_closed_forms():
    """One state that pays 1 for staying (action 0) or ends the episode for nothing (action 1).

    With pi(stay) = p and discount g, the time-indexed values with n steps left are
    V_n = p (1 - (g p)^n) / (1 - g p), Q_n(stay) = 1 + g V_{n-1}, Q_n(exit) = 0; the stationary
    (no time limit) ones are V = p / (1 - g p), Q(stay) = 1 + g V, Q(exit) = 0."""
    H, g, p = 6, 0.8, 0.7
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = P[1, :, 1] = 1.0
    R = np.array([[1.0, 0.0], [0.0, 0.0]])
    m = TabularMDP(P, R, gamma=0.5, terminal=[False, True], initial=[1.0, 0.0], horizon=H)
    pi = np.array([[p, 1 - p], [0.5, 0.5]])
    exact = ExactCredit(m, gamma=g)
    t = np.repeat(np.arange(H), 2)
    a = np.tile([0, 1], H)
    cols = exact.columns(1, np.zeros(2 * H, int), t, a, pi)

    def v(n: int) -> float:
        return p * (1 - (g * p) ** n) / (1 - g * p)

    n = H - t
    q_t = np.where(a == 0, 1 + g * np.array([v(k - 1) for k in n]), 0.0)
    np.testing.assert_allclose(cols["exact_q"], q_t, atol=1e-12)
    np.testing.assert_allclose(cols["exact_advantage"], q_t - np.array([v(k) for k in n]), atol=1e-12)
    v_inf = p / (1 - g * p)
    np.testing.assert_allclose(cols["exact_advantage_boot"], np.where(a == 0, 1 + g * v_inf, 0.0) - v_inf)
    # The two targets differ, most near the time limit: that gap is not estimator error.
    gap = cols["exact_advantage_boot"] - cols["exact_advantage"]
    assert abs(gap[-2]) > 10 * abs(gap[0]) > 0
    # The (q, adv) call of the trainers' hook gives the finite-horizon pair.
    q, adv = exact(1, np.zeros(2 * H, int), t, a, pi)
    np.testing.assert_array_equal(q, cols["exact_q"])
    np.testing.assert_array_equal(adv, cols["exact_advantage"])
    # Without discounting the stationary values need not exist: NaN, never a made-up number.
    undiscounted = ExactCredit(m, gamma=1.0).columns(1, np.zeros(2, int), [0, 0], [0, 1], pi)
    assert np.isnan(undiscounted["exact_advantage_boot"]).all()


def test_gridworld_bootstrap_target_matches_the_closed_form_of_a_wall_bump():
    """A 1 x 2 room whose right cell is the goal: always 'up' bumps the wall forever (V = 0 stationary);
    stepping right pays 1. Under pi = always up: Q_boot(s, right) = 1, A_boot(s, right) = 1 - 0 = 1."""
    text = '''
name = "Bump"
gamma = 0.9
time_limit = 4
map = """
####
#SG#
####
"""
[legend]
G = { kind = "goal", reward = 1.0, terminal = true }
'''
    env = GridWorldEnv(parse_map(text))
    exact = ExactCredit(env, gamma=0.9)
    start = int(np.argmax(exact.layout().start))
    up = np.tile([1.0, 0.0, 0.0, 0.0], (exact.layout().num_states, 1))
    cols = exact.columns(1, [start, start], [0, 3], [1, 0], up)
    np.testing.assert_allclose(cols["exact_advantage_boot"], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(cols["exact_advantage"], [1.0, 0.0], atol=1e-12)


# ------------------------------------------------------------------------------------------- the gradient
TINY = """
name = "Tiny"
gamma = 0.9
time_limit = 7
slip = 0.2
map = '''
#####
#S.G#
#.L.#
#####
'''
[legend]
G = { kind = "goal", reward = 1.0, terminal = true }
L = { kind = "lava", reward = -1.0, terminal = true }
"""


def _tabular_softmax(S: int, A: int, seed: int) -> torch.nn.Linear:
    torch.manual_seed(seed)
    actor = torch.nn.Linear(S, A, bias=False).double()
    torch.nn.init.normal_(actor.weight, std=1.0)
    return actor


def test_exact_gradient_matches_finite_differences_of_exact_J():
    env = GridWorldEnv(parse_map(TINY))
    m = env.to_mdp(gamma=0.8)
    S, A, H = m.num_states, m.num_actions, m.horizon
    actor = _tabular_softmax(S, A, seed=0)
    obs = np.eye(S)  # one-hot states: logits = W[:, s], a tabular softmax policy
    result = exact_policy_gradient(actor, obs, m, actor.parameters())

    def J(weight: np.ndarray) -> float:
        logits = np.eye(S) @ weight.T
        pi = np.exp(logits - logits.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
        return float(m.initial @ policy_evaluation(m, pi, horizon=H)[0])

    W = actor.weight.detach().numpy().copy()
    assert result.values.J == pytest.approx(J(W), abs=1e-12)
    eps = 1e-6
    fd = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        up, down = W.copy(), W.copy()
        up[idx] += eps
        down[idx] -= eps
        fd[idx] = (J(up) - J(down)) / (2 * eps)
    assert np.abs(fd).max() > 1e-3  # the check is not vacuous
    np.testing.assert_allclose(result.grad.numpy(), fd.ravel(), atol=1e-8)


def test_exact_gradient_is_the_expected_sampled_policy_gradient():
    """Monte Carlo: the mean of sum_t gamma^t A_t grad log pi(a_t|s_t) over on-policy episodes."""
    env = GridWorldEnv(parse_map(TINY))
    m = env.to_mdp(gamma=0.8)
    layout = env.layout
    S, H = m.num_states, m.horizon
    actor = _tabular_softmax(S, 4, seed=1)
    exact = exact_policy_gradient(actor, np.eye(S), m, actor.parameters())
    pi = exact.values.pi
    rng = np.random.default_rng(0)
    n = 20_000
    s = rng.choice(S, size=n, p=m.initial)
    alive = np.ones(n, bool)
    score = np.zeros((S, 4))  # sum of gamma^t A_t d log pi(a_t|s_t) / d logits[s_t] over all episodes
    for t in range(H):
        u = rng.random(n)
        a = (u[:, None] > np.cumsum(pi[s], axis=1)).sum(axis=1)
        _, adv = exact.values.lookup(s, t, a)
        w = np.where(alive, 0.8**t * adv, 0.0)
        grad_logits = np.eye(4)[a] - pi[s]  # d log softmax / d logits
        np.add.at(score, s, w[:, None] * grad_logits)
        nxt, _, term, _ = core.step(layout, s, a, rng.random(n))
        alive &= ~term
        s = np.where(alive, nxt, s)
    sampled = (score / n).T.ravel()  # Linear weight is (A, S)
    assert cosine(sampled, exact.grad) > 0.99


def test_grad_cos_is_one_for_the_exact_gradient_and_minus_one_against_it():
    env = rlcredit.make("rlcredit/DelayedCorridor-v0", obs="index", time_limit=15)
    exact = ExactCredit(env, gamma=0.9)
    S = exact.mdp().num_states
    actor = _tabular_softmax(S, 4, seed=2)

    def logits_fn(obs: torch.Tensor) -> torch.Tensor:
        return actor(torch.nn.functional.one_hot(obs.long(), S).double())

    grad = exact_policy_gradient(logits_fn, exact.observations(), exact.mdp(), actor.parameters()).grad
    shaping = ShapingRecorder(exact)
    assert shaping.record_gradient(4, logits_fn, grad, actor.parameters()) == pytest.approx(1.0, abs=1e-12)
    assert shaping.record_gradient(5, logits_fn, -grad.numpy(), actor.parameters()) == pytest.approx(-1.0)
    pi = exact.policy_table(lambda o: logits_fn(torch.as_tensor(o)).softmax(-1).detach().numpy())
    metrics = shaping(5, pi, pi, {"states": np.array([13])})
    assert metrics["exact/grad_cos"] == pytest.approx(-1.0)
    assert math.isnan(cosine(np.zeros(3), np.ones(3)))


# ------------------------------------------------------------------------- compiled solvers vs generic ones


@pytest.mark.parametrize("env_id", ["rlcredit/CliffSlippery-v0", "rlcredit/ButtonRoomBridge1-v0"])
def test_gridworld_solvers_agree_with_the_generic_tabular_ones(env_id):
    """ExactCredit solves gridworlds on the layout's tables; the generic TabularMDP solvers must agree."""
    from rlcredit.credit import gradient_weights

    env = rlcredit.make(env_id, slip=0.15)
    exact = ExactCredit(env, gamma=0.93)
    m, layout = exact.mdp(), exact.layout()
    pi = np.random.default_rng(4).dirichlet(np.ones(4), size=m.num_states)
    fast = exact.evaluate(pi)
    slow = policy_values(m, pi)
    np.testing.assert_allclose(fast.Q, slow.Q, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.V, slow.V, rtol=1e-12, atol=1e-12)
    assert fast.J == pytest.approx(slow.J, rel=1e-12)
    np.testing.assert_allclose(
        exact.weights(fast), gradient_weights(m, pi, values=slow), rtol=1e-10, atol=1e-13
    )
    # The stationary (bootstrap-at-truncation) values: a sparse solve on the layout's tables, against the
    # generic infinite-horizon policy evaluation of the model.
    from rlcredit.planning import policy_q

    q_inf = policy_q(m, pi, horizon=math.inf)
    live = ~(layout.wall | layout.terminal)
    np.testing.assert_allclose(fast.Q_boot[live], q_inf[live], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fast.Q_boot[live], slow.Q_boot[live], rtol=1e-10, atol=1e-10)
    # The reach probabilities of every tracked event come out of the same backward pass.
    assert set(fast.reach) == {*exact.reach_kinds, "intended"}
    events = np.stack([layout.event == layout.kinds.index(k) for k in exact.reach_kinds], axis=2)
    together = event_reach_probability(layout, pi, events, horizon=exact.horizon_of())
    for i, kind in enumerate(exact.reach_kinds):
        one = event_reach_probability(layout, pi, events[:, :, i], horizon=exact.horizon_of())
        np.testing.assert_allclose(together[:, i], one, atol=1e-15)
        np.testing.assert_allclose(fast.reach[kind], one, atol=1e-15)
        target = reach_probability(m, pi, layout.cells_of(kind), horizon=exact.horizon_of())
        if kind != "cliff":  # respawn cells are left at once: counted as events, never as visits
            live = ~(layout.wall | layout.terminal)
            np.testing.assert_allclose(one[live], target[live], atol=1e-12)


def test_exact_credit_policy_gradient_is_exact_policy_gradient():
    env = rlcredit.make("rlcredit/DelayedCorridor-v0", obs="index", time_limit=15, slip=0.1)
    exact = ExactCredit(env, gamma=0.9)
    S = exact.mdp().num_states
    actor = _tabular_softmax(S, 4, seed=5)

    def logits_fn(obs: torch.Tensor) -> torch.Tensor:
        return actor(torch.nn.functional.one_hot(obs.long(), S).double())

    want = exact_policy_gradient(logits_fn, exact.observations(), exact.mdp(), actor.parameters())
    got = exact.policy_gradient(3, logits_fn, actor.parameters())
    torch.testing.assert_close(got.grad, want.grad, rtol=1e-10, atol=1e-13)
    assert got.values is exact.cached(3)  # solved once, kept for the update's other measurements
    np.testing.assert_allclose(got.weights, want.weights, rtol=1e-10, atol=1e-13)


def test_training_records_both_exact_targets(tmp_path):
    """A PPO run on a gridworld writes exact_advantage (time-indexed) and exact_advantage_boot (stationary)
    for every step: the stationary one is the same for a (state, action, update) at any t, the other not."""
    from rlcredit.credit import read_credit

    run = rlcredit.train(
        "ppo",
        env="rlcredit/ButtonRoomBridge0-v0",
        steps=2048,
        seed=0,
        out_dir=tmp_path / "run",
        wandb="disabled",
        config={"num_envs": 8, "num_steps": 128},
    )
    df = read_credit(run.dir)
    assert np.isfinite(df["exact_advantage"]).all() and np.isfinite(df["exact_advantage_boot"]).all()
    assert np.isfinite(df["applied_weight"]).all() and (df["adv_scale"] > 0).all()
    spread = df.groupby(["update", "state", "action"]).agg(
        boot=("exact_advantage_boot", "std"), finite=("exact_advantage", "std")
    )
    assert spread["boot"].max(skipna=True) < 1e-5
    assert spread["finite"].max(skipna=True) > 1e-3


def test_stationary_values_dense_and_sparse_solves_agree(monkeypatch):
    """The compiled dense solve (small maps) and the sparse LU (large ones) give the same stationary values."""
    from rlcredit.planning import kernels

    layout = rlcredit.make("rlcredit/FourRoomsSlippery-v0").unwrapped.layout
    tables = kernels.GridTables.of(layout, gamma=0.97, horizon=layout.time_limit)
    pi = np.random.default_rng(5).dirichlet(np.ones(4), size=layout.num_states)
    q_dense, v_dense = tables.stationary_values(pi)
    monkeypatch.setattr(kernels, "DENSE_SOLVE_MAX", 0)
    q_sparse, v_sparse = tables.stationary_values(pi)
    np.testing.assert_allclose(v_dense, v_sparse, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(q_dense, q_sparse, rtol=1e-10, atol=1e-10)
    # and both are the fixed point of the Bellman equation of pi on the exact model
    m = layout.to_mdp(gamma=0.97, horizon=None)
    live = layout.live
    backup = np.sum(pi * (m.R + 0.97 * m.expected_next(v_dense)), axis=1)
    np.testing.assert_allclose(v_dense[live], backup[live], atol=1e-9)


@pytest.mark.parametrize("env", ["rlcredit/ButtonRoomBridge1-v0", "rlcredit/CheeseMazeSmall-v0"])
def test_prepare_changes_no_result(env):
    """prepare() only loads solvers and builds tables early: exact credit after it equals exact credit without it."""
    results = []
    for prepare in (True, False):
        venv = rlcredit.make_vec(env, num_envs=2, seed=0, obs="coords")
        exact = ExactCredit(venv, gamma=0.9)
        if prepare:
            exact.prepare()
        seed = 5 if exact.procedural else -1
        S = exact.mdp(seed).num_states
        pi = np.random.default_rng(1).dirichlet(np.ones(4), size=S)
        states = np.arange(min(S, 30))
        kw = {"layout_seeds": np.full(len(states), 5)} if exact.procedural else {}
        table = pi if not exact.procedural else (lambda obs, pi=pi: pi[: len(obs)])
        cols = exact.columns(1, states, np.zeros(len(states), int), states % 4, table, **kw)
        results.append(cols)
    for k in results[0]:
        np.testing.assert_array_equal(results[0][k], results[1][k])
    assert np.isfinite(results[0]["exact_q"]).all()


def test_prepare_is_a_no_op_without_a_model():
    env = gym.make("FrozenLake-v1")
    ExactCredit(env, gamma=0.9).prepare()  # no model: nothing to load, no error
