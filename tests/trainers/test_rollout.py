"""Rollout collection: action sampling, bootstrapping targets, complete episodes, exact env state replay."""

import numpy as np
import pytest
import torch

from rlcredit.trainers import Policy, make_env
from rlcredit.trainers.rollout import EpisodeTracker, Rollout, collect_episodes, collect_steps, sample_actions


def test_sample_actions_follows_the_probabilities():
    p = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    rows = np.repeat(np.log(p + 1e-300), 50_000, axis=0)
    a = sample_actions(rows, np.random.default_rng(0)).reshape(2, 50_000)
    for i in range(2):
        freq = np.bincount(a[i], minlength=3) / 50_000
        np.testing.assert_allclose(freq, p[i], atol=0.01)
    assert not (a[1] == 2).any()  # a zero-probability action is never drawn


def _policy(env):
    torch.manual_seed(0)
    return Policy(env.obs_spec, env.num_actions, hidden=(8,))


def test_replay_env_restores_the_exact_state(corridor):
    def factory():
        return corridor(slip=0.3)

    env = make_env(factory, 3, seed=5)
    env.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(17):
        env.step(rng.integers(0, 2, 3))
    saved = env.get_state()
    actions = rng.integers(0, 2, (25, 3))
    first = [env.step(a)[:4] for a in actions]

    other = make_env(factory, 3, seed=5)
    other.set_state(saved, fallback_seed=0)
    second = [other.step(a)[:4] for a in actions]
    for x, y in zip(first, second):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)


def test_collect_steps_bootstrap_targets(corridor):
    n = 6
    env = make_env(lambda: corridor(n=n, time_limit=3), 4, seed=0)
    policy = _policy(env)
    buf = Rollout.empty(20, 4, (), env.obs_dtype)
    obs = env.reset(seed=0)
    last_obs, episodes = collect_steps(env, policy, buf, obs, EpisodeTracker(4), np.random.default_rng(0))
    assert buf.truncated.any() and len(episodes.returns) > 0
    values = policy.values(np.arange(n))
    np.testing.assert_allclose(buf.values, values[buf.obs], rtol=1e-6)
    for t in range(20):
        for e in range(4):
            if buf.terminated[t, e]:
                expected = 0.0
            elif buf.truncated[t, e]:
                # The corridor's true final observation, recomputed from s_t and a_t.
                final = max(0, buf.obs[t, e] + (1 if buf.actions[t, e] == 1 else -1))
                expected = values[final]
            elif t + 1 < 20:
                expected = buf.values[t + 1, e]
            else:
                expected = values[last_obs[e]]
            assert buf.next_values[t, e] == pytest.approx(expected, rel=1e-6)
    # Episode bookkeeping: t counts up from 0 within an episode, episodes count up per env.
    starts = buf.t == 0
    assert (buf.t[1:][~starts[1:]] == buf.t[:-1][~starts[1:]] + 1).all()
    assert (buf.obs[starts] == 0).all()


def test_collect_episodes_one_complete_episode_per_env(corridor):
    env = make_env(lambda: corridor(n=4, time_limit=12), 5, seed=1)
    policy = _policy(env)
    buf = Rollout.empty(12, 5, (), env.obs_dtype)
    tracker = EpisodeTracker(5)
    env.reset(seed=1)
    used, episodes = collect_episodes(env, policy, buf, tracker, np.random.default_rng(1))
    done = buf.terminated | buf.truncated
    for e in range(5):
        valid = buf.valid[:, e]
        length = int(valid.sum())
        assert valid[:length].all() and not valid[length:].any()
        assert done[length - 1, e] and not done[: length - 1, e].any()
        assert (buf.t[:length, e] == np.arange(length)).all()
        assert buf.obs[0, e] == 0
        assert episodes.lengths[e] == length
        assert episodes.returns[e] == buf.rewards[:length, e].sum()
    assert used == episodes.lengths.max()
    assert (tracker.episode == 1).all()
