"""The rollout primitive: auto-reset with batched resets, pre-reset observations, statistics."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxac
from jaxac.env import EpisodeStats, wrap_for_training
from jaxac.rollout import episode_metrics, keyed, reset_envs, unroll


def random_policy(n_actions):
    def policy(params, obs, key):
        action = jax.random.randint(key, obs.shape[:1], 0, n_actions)
        return action, action, jnp.zeros(obs.shape[:1])
    return keyed(policy)


def test_unroll_auto_resets_with_fresh_states_and_keeps_final_obs():
    env, params = jaxac.make("CartPole-v1")
    env = wrap_for_training(env)
    carry = reset_envs(env, params, jax.random.key(0), 16)
    carry, traj = jax.jit(unroll, static_argnums=(0, 2, 6))(
        env, params, random_policy(2), None, carry, jax.random.key(1), 200)
    obs, next_obs, done = map(np.asarray, (traj.obs, traj.next_obs, traj.done))
    assert done.sum() > 16  # random CartPole episodes last ~20 steps
    # no reset: the next observation is the final one; reset: a fresh start within +-0.05
    np.testing.assert_array_equal(obs[1:][~done[:-1]], next_obs[:-1][~done[:-1]])
    starts = obs[1:][done[:-1]]
    assert np.abs(starts).max() <= 0.05 and not np.allclose(starts, next_obs[:-1][done[:-1]])
    assert len(np.unique(starts[:, 0])) == len(starts)  # every reset drew its own state
    # CartPole pays 1 per step, so each completed episode's return equals its length
    np.testing.assert_array_equal(traj.episode_return[traj.done], traj.episode_length[traj.done])
    m = episode_metrics(traj)
    assert int(m["episodes"]) == done.sum() and 9 <= float(m["episode_return"]) <= 60


def test_unroll_truncation_pattern_matches_stepwise_auto_reset():
    env, params = jaxac.make("probe/truncation")  # obs 0 then 1, 1; truncated at step 3
    env = wrap_for_training(env)
    carry = reset_envs(env, params, jax.random.key(0), 2)
    _, traj = unroll(env, params, random_policy(1), None, carry, jax.random.key(1), 6)
    np.testing.assert_array_equal(traj.truncated[:, 0], [False, False, True] * 2)
    np.testing.assert_array_equal(traj.obs[:, 0, 0], [0, 1, 1] * 2)
    np.testing.assert_array_equal(traj.next_obs[:, 0, 0], [1, 1, 1] * 2)
    np.testing.assert_array_equal(traj.episode_return[:, 0], [0, 1, 2] * 2)


def test_unroll_without_auto_reset_wrapper_steps_env_directly():
    env, params = jaxac.make("probe/truncation")
    env = EpisodeStats(env)  # no AutoReset: the env keeps counting past the limit
    carry = reset_envs(env, params, jax.random.key(0), 2)
    _, traj = unroll(env, params, random_policy(1), None, carry, jax.random.key(1), 3)
    np.testing.assert_array_equal(traj.episode_return[:, 0], [0, 1, 2])
