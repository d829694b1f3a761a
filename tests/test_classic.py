"""Parity of the pure-JAX classic-control environments with gymnasium's implementations.

From the same state and the same random action, one step of each implementation must give
the same next state/observation, reward, terminated and truncated. The loop runs hundreds of
steps through many episodes (resets copy our reset state into gymnasium). Stepping one step
at a time from the same state keeps float32-vs-float64 drift out of the comparison.
"""

import gymnasium
import jax
import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

import jaxac

ENVS = ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0"]
# short limits so the loop crosses many truncations (random CartPole falls in ~20 steps)
SHORT_LIMIT = {"CartPole-v1": 12}


def gym_state(name, state):
    if name == "CartPole-v1":
        return np.array([state.x, state.x_dot, state.theta, state.theta_dot], np.float64)
    if name == "Pendulum-v1":
        return np.array([state.theta, state.theta_dot], np.float64)
    if name == "Acrobot-v1":
        return np.asarray(state.s, np.float64)
    if name == "MountainCar-v0":
        return (float(state.position), float(state.velocity))
    return np.array([state.position, state.velocity], np.float32)


def time_limit(env):
    while not isinstance(env, TimeLimit):
        env = env.env
    return env


@pytest.mark.parametrize("name", ENVS)
def test_default_time_limit_matches_gymnasium(name):
    _, params = jaxac.make(name)
    assert params.max_steps == gymnasium.spec(name).max_episode_steps


@pytest.mark.parametrize("name", ENVS)
def test_step_parity_with_gymnasium(name):
    limit_steps = SHORT_LIMIT.get(name, 40)
    env, params = jaxac.make(name, max_steps=limit_steps)
    genv = gymnasium.make(name, max_episode_steps=limit_steps)
    genv.reset(seed=0)
    limit = time_limit(genv)
    step = jax.jit(env.step)
    reset = jax.jit(env.reset)
    rng = np.random.default_rng(0)
    key = jax.random.key(0)
    space = env.action_space(params)

    key, k = jax.random.split(key)
    state, ts = reset(k, params)
    episodes, truncations, terminations = 0, 0, 0
    for t in range(400):
        genv.unwrapped.state = gym_state(name, state)
        limit._elapsed_steps = int(state.time)
        if hasattr(genv.unwrapped, "steps_beyond_terminated"):
            genv.unwrapped.steps_beyond_terminated = None  # CartPole's post-termination guard
        if hasattr(space, "n"):
            action = int(rng.integers(space.n))
            jax_action = np.int32(action)
        else:
            action = rng.uniform(space.low, space.high, space.shape).astype(np.float32)
            jax_action = action
        g_obs, g_rew, g_term, g_trunc, _ = genv.step(action)
        key, k = jax.random.split(key)
        state, ts = step(k, state, jax_action, params)
        np.testing.assert_allclose(np.asarray(ts.obs), g_obs, rtol=1e-5, atol=1e-5, err_msg=f"obs at {t}")
        np.testing.assert_allclose(float(ts.reward), g_rew, rtol=1e-5, atol=1e-5, err_msg=f"reward at {t}")
        assert bool(ts.terminated) == g_term, f"terminated at {t}"
        assert bool(ts.truncated) == (g_trunc and not g_term), f"truncated at {t}"
        if g_term or g_trunc:
            episodes += 1
            terminations += g_term
            truncations += g_trunc and not g_term
            key, k = jax.random.split(key)
            state, ts = reset(k, params)
    assert episodes >= 5 and truncations >= 1
    if name == "CartPole-v1":
        assert terminations >= 5


@pytest.mark.parametrize("name", ENVS)
def test_reset_distribution_matches_gymnasium_bounds(name):
    env, params = jaxac.make(name)
    genv = gymnasium.make(name)
    keys = jax.random.split(jax.random.key(1), 256)
    _, ts = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    g_obs = np.stack([genv.reset(seed=i)[0] for i in range(256)])
    # same support: ranges agree to within sampling error
    np.testing.assert_allclose(np.asarray(ts.obs).min(0), g_obs.min(0), atol=0.05)
    np.testing.assert_allclose(np.asarray(ts.obs).max(0), g_obs.max(0), atol=0.05)
    assert ts.obs.dtype == np.float32
