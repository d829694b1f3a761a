"""jaxac draws its random bits one way (jaxac.rng), whatever the caller's jax setting."""

import functools

import jax
import numpy as np

from jaxac import evaluate
from jaxac.algos import ppo, sac

PPO = ppo.Config(env="CartPole-v1", total_steps=4 * 32 * 2, num_envs=4, rollout_length=32,
                 update_epochs=1, num_minibatches=2, policy=dict(hidden=(16,)))
SAC = sac.Config(env="Pendulum-v1", total_steps=300, learning_starts=200, minibatch_size=32,
                 policy=dict(hidden=(16,)), num_envs=2, rollout_length=5)


def test_runs_do_not_depend_on_the_callers_threefry_setting():
    key = jax.random.key(0)
    for module, cfg in ((ppo, PPO), (sac, SAC)):
        runs = []
        for partitionable in (True, False):
            with jax.threefry_partitionable(partitionable):
                state, metrics = jax.jit(module.train)(cfg, key)
                returns, _ = jax.jit(functools.partial(evaluate.episodes, module, cfg, num_episodes=2))(state, key)
            runs.append((jax.tree.leaves(state.params), metrics, returns))
        (p0, m0, r0), (p1, m1, r1) = runs
        for a, b in zip(p0, p1):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        for k in m0:
            np.testing.assert_array_equal(np.asarray(m0[k]), np.asarray(m1[k]), err_msg=k)
        np.testing.assert_array_equal(np.asarray(r0), np.asarray(r1))


def test_draws_inside_use_the_classic_layout():
    from jaxac.rng import classic_threefry

    bits = jax.jit(classic_threefry(lambda k: jax.random.bits(k, (8,))))(jax.random.key(1))
    with jax.threefry_partitionable(False):
        classic = jax.random.bits(jax.random.key(1), (8,))
    with jax.threefry_partitionable(True):
        partitionable = jax.random.bits(jax.random.key(1), (8,))
    np.testing.assert_array_equal(np.asarray(bits), np.asarray(classic))
    assert not np.array_equal(np.asarray(classic), np.asarray(partitionable))
