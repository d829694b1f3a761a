"""Conformance over every algorithm x action space: jit, vmap over seeds and over a nested
float hyperparameter (`optim.learning_rate`, `critic.hl_sigma`) in one call, no recompilation on a second update, stable state structure and
dtypes, finite metrics, bitwise determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac.algos import a2c, ppo, sac

PPO_SMALL = dict(total_steps=4 * 16 * 3, num_envs=4, rollout_length=16, update_epochs=2,
                 num_minibatches=2, policy=dict(hidden=(16, 16)))
A2C_SMALL = dict(total_steps=4 * 5 * 3, num_envs=4, rollout_length=5, policy=dict(hidden=(16, 16)))
SAC_SMALL = dict(total_steps=64 + 2 * 3, num_envs=2, learning_starts=64, minibatch_size=16,
                 policy=dict(hidden=(16, 16)), buffer_size=128)

SPECS = {
    "ppo-discrete": (ppo, ppo.Config(env="CartPole-v1", **PPO_SMALL), "optim.learning_rate"),
    "ppo-continuous": (ppo, ppo.Config(env="Pendulum-v1", **PPO_SMALL).replace(
        **{"policy.distribution": "tanh_gaussian"}), "optim.learning_rate"),
    "ppo-hlgauss": (ppo, ppo.Config(env="CartPole-v1", critic=dict(name="hlgauss", num_bins=11), **PPO_SMALL),
                    "critic.hl_sigma"),
    "a2c-discrete": (a2c, a2c.Config(env="CartPole-v1", **A2C_SMALL), "optim.learning_rate"),
    "a2c-continuous": (a2c, a2c.Config(env="Pendulum-v1", optim=dict(name="adam"), **A2C_SMALL),
                       "optim.learning_rate"),
    "sac-continuous": (sac, sac.Config(env="Pendulum-v1", **SAC_SMALL), "optim.learning_rate"),
    "sac-discrete": (sac, sac.Config(env="CartPole-v1", utd=2, **SAC_SMALL), "optim.critic_learning_rate"),
    "sac-hlgauss": (sac, sac.Config(env="Pendulum-v1", critic=dict(name="hlgauss", num_bins=11), **SAC_SMALL),
                    "critic.hl_sigma"),
}
SWEEP = {"optim.learning_rate": (1e-4, 1e-3), "optim.critic_learning_rate": (1e-4, 1e-3),
         "critic.hl_sigma": (0.3, 1.5)}


@pytest.fixture(scope="module", params=list(SPECS))
def spec(request):
    module, cfg, field = SPECS[request.param]
    return request.param, module, cfg, field


@pytest.fixture(scope="module")
def sweep_run(spec):
    """train vmapped over 2 seeds (inner) and 2 values of a float hyperparameter (outer)."""
    _, module, cfg, field = spec
    cfgs = cfg.replace(**{field: jnp.array(SWEEP[field])})
    train = jax.jit(jax.vmap(jax.vmap(module.train, in_axes=(None, 0)),
                             in_axes=(jaxac.axes(cfg, **{field: 0}), None)))
    keys = jax.random.split(jax.random.key(0), 2)
    return train, cfgs, keys, train(cfgs, keys)


def test_vmap_over_seeds_and_hyperparameter(spec, sweep_run):
    name, module, cfg, field = spec
    _, _, _, (state, metrics) = sweep_run
    for key, value in metrics.items():
        assert value.shape == (2, 2, cfg.num_updates), (name, key)
        if key not in ("episode_return", "episode_length"):  # NaN when no episode ended
            assert np.isfinite(np.asarray(value)).all(), (name, key)
    assert np.asarray(state.update_step).tolist() == [[cfg.num_updates] * 2] * 2
    loss = metrics["critic_loss" if module is sac else "value_loss"]
    assert not np.allclose(loss[:, 0], loss[:, 1]), "seeds must differ"
    assert not np.allclose(loss[0], loss[1]), "hyperparameter values must differ"


def test_one_sweep_member_equals_the_same_run_alone(spec, sweep_run):
    name, module, cfg, field = spec
    _, _, keys, (_, metrics) = sweep_run
    _, alone = jax.jit(module.train)(cfg.replace(**{field: SWEEP[field][1]}), keys[1])
    for key in metrics:
        np.testing.assert_allclose(metrics[key][1, 1], alone[key], rtol=2e-4, atol=1e-5, err_msg=key)


def test_same_seed_gives_identical_metrics(sweep_run):
    train, cfgs, keys, (_, first) = sweep_run
    _, again = train(cfgs, keys)
    for key in first:
        np.testing.assert_array_equal(np.asarray(first[key]), np.asarray(again[key]), err_msg=key)


def test_second_update_does_not_recompile_and_keeps_state(spec):
    name, module, cfg, _ = spec
    update = jax.jit(module.update)
    state = jax.jit(module.init)(cfg, jax.random.key(0))
    s1, _ = update(cfg, state)
    compiled = update._cache_size()  # jit caches are shared per function: compare, not count
    s2, m2 = update(cfg, s1)
    assert update._cache_size() == compiled, name
    assert jax.tree.structure(state) == jax.tree.structure(s2)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(s2)):
        assert a.dtype == b.dtype and a.shape == b.shape, name
    assert int(s2.update_step) == 2
