"""The gymnax 1.x adapter: its contract (6-value gymnax 1.x API underneath, truncation kept
apart from termination, flattened observations) and PPO training through it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("gymnax")

import jaxac  # noqa: E402
from jaxac.algos import ppo  # noqa: E402
from jaxac.env import wrap_for_training  # noqa: E402
from jaxac.summary import final_return  # noqa: E402


def test_time_limit_is_truncation_with_the_final_observation():
    env, params = jaxac.make("gymnax/Pendulum-v1", max_steps_in_episode=4)
    assert params.max_steps_in_episode == 4
    wrapped = wrap_for_training(env)
    state, ts = wrapped.reset(jax.random.key(0), params)
    base_state, _ = env.reset(jax.random.key(0), params)
    step = jax.jit(wrapped.step)
    for t in range(4):
        k = jax.random.key(t + 1)
        state, ts = step(k, state, jnp.array([0.3]), params)
        # the wrapper rescales [-1, 1] to gymnax's [-2, 2] and steps with the split key
        base_state, base_ts = env.step(jax.random.split(k)[0], base_state, jnp.array([0.6]), params)
        np.testing.assert_allclose(ts.final_obs, base_ts.obs, rtol=1e-5)
        assert bool(ts.truncated) == (t == 3) and not bool(ts.terminated)
    assert int(ts.episode_length) == 4 and not np.allclose(ts.obs, ts.final_obs)  # reset after the end


def test_minatar_observations_are_flat_float_vectors():
    env, params = jaxac.make("gymnax/Breakout-MinAtar")
    assert env.observation_space(params).shape == (400,) and env.action_space(params).n == 3
    keys = jax.random.split(jax.random.key(0), 3)
    state, ts = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    state, ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, jnp.array([0, 1, 2]), params)
    assert ts.obs.shape == (3, 400) and ts.obs.dtype == jnp.float32
    assert ts.terminated.dtype == jnp.bool_


def test_unknown_gymnax_ids_name_the_closest():
    with pytest.raises(jaxac.envs.UnknownEnvironmentError, match="Breakout-MinAtar"):
        jaxac.make("gymnax/Breakout-Minatar")


def test_ppo_learns_gymnax_cartpole():
    cfg = ppo.Config(env="gymnax/CartPole-v1", total_steps=100_000)
    keys = jax.random.split(jax.random.key(1), 4)
    _, metrics = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(cfg, keys)
    first = np.nanmean(np.asarray(metrics["episode_return"])[:, :5])
    final = final_return(metrics, 0.1)
    assert first < 40 and np.mean(final) >= 150, final
