"""Wrappers, spaces and the registry."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac.env import AutoReset, EpisodeStats, RescaleAction, wrap_for_training
from jaxac.envs import UnknownEnvironmentError


def test_registry_lists_classic_and_probes():
    names = jaxac.registered()
    for name in ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0",
                 "MountainCarContinuous-v0", "probe/constant", "probe/truncation"]:
        assert name in names


def test_unknown_env_names_closest():
    with pytest.raises(UnknownEnvironmentError, match="CartPole-v1"):
        jaxac.make("CartPole-v2")


def test_env_kwargs_override_params_and_reject_unknown():
    _, params = jaxac.make("Pendulum-v1", g=9.81, max_steps=50)
    assert params.g == 9.81 and params.max_steps == 50
    with pytest.raises(ValueError, match="no parameter"):
        jaxac.make("Pendulum-v1", gravity=3.0)


def test_auto_reset_keeps_final_obs_and_stats_report_completed_episode():
    env, params = jaxac.make("probe/truncation")  # obs 0 then 1,1; truncated at step 3
    env = wrap_for_training(env)
    state, ts = env.reset(jax.random.key(0), params)
    returns, finals, obs, truncs = [], [], [], []
    for i in range(6):
        state, ts = env.step(jax.random.key(i), state, jnp.int32(0), params)
        returns.append(float(ts.episode_return))
        finals.append(float(ts.final_obs[0]))
        obs.append(float(ts.obs[0]))
        truncs.append(bool(ts.truncated))
    assert truncs == [False, False, True, False, False, True]
    assert finals == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert obs == [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]  # reset obs replaces the final one
    assert returns == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]  # rewards 0, 1, 1; counter restarts


def test_episode_stats_length_and_termination():
    env, params = jaxac.make("probe/delayed")
    env = AutoReset(EpisodeStats(env))
    state, _ = env.reset(jax.random.key(0), params)
    state, ts = env.step(jax.random.key(1), state, 0, params)
    assert not ts.done and int(ts.episode_length) == 1
    state, ts = env.step(jax.random.key(2), state, 0, params)
    assert bool(ts.terminated) and int(ts.episode_length) == 2 and float(ts.episode_return) == 1.0


def test_rescale_action_maps_unit_box_to_bounds_and_clips():
    env, params = jaxac.make("Pendulum-v1")
    wrapped = RescaleAction(env)
    state, _ = env.reset(jax.random.key(0), params)
    for unit, torque in [(0.5, 1.0), (-1.0, -2.0), (3.0, 2.0)]:
        _, ts_w = wrapped.step(jax.random.key(0), state, jnp.array([unit]), params)
        _, ts = env.step(jax.random.key(0), state, jnp.array([torque]), params)
        np.testing.assert_allclose(ts_w.obs, ts.obs)
    assert wrapped.action_space(params).shape == (1,)


@pytest.mark.parametrize("name", ["CartPole-v1", "Pendulum-v1", "Acrobot-v1",
                                  "MountainCar-v0", "MountainCarContinuous-v0"])
def test_envs_vmap_and_keep_dtypes(name):
    env, params = jaxac.make(name)
    env = wrap_for_training(env)
    keys = jax.random.split(jax.random.key(0), 8)
    state, ts = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    space = env.action_space(params)
    actions = jax.vmap(space.sample)(keys)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    state2, ts2 = step(keys, state, actions, params)
    assert ts2.obs.shape == ts.obs.shape == (8,) + env.observation_space(params).shape
    assert ts2.obs.dtype == jnp.float32 and ts2.reward.dtype == jnp.float32
    assert ts2.terminated.dtype == jnp.bool_ and ts2.truncated.dtype == jnp.bool_
    # the carried state keeps its structure and dtypes (no recompilation in a scan)
    assert jax.tree.structure(state) == jax.tree.structure(state2)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(state2)):
        assert a.dtype == b.dtype, (a, b)
