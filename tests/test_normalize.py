"""Observation normalisation: the running statistics, and their use by PPO, A2C, SAC and eval."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxac import evaluate
from jaxac.algos import a2c, ppo, sac
from jaxac.normalize import CLIP, ObsNorm, init_stats, merge, normalize


def test_merge_of_batches_equals_statistics_of_their_concatenation():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, (n, 3)) * [1, 10, 0.01] for n in (1, 7, 64, 2)]
    stats = init_stats((3,))
    for b in batches:
        stats = merge(stats, jnp.asarray(b, jnp.float32))
    data = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, data.var(0), rtol=1e-4)
    assert float(stats.count) == len(data)


def test_fresh_statistics_normalise_as_identity_and_clip_outliers():
    stats = init_stats((2,))
    x = jnp.array([[0.5, -2.0]])
    np.testing.assert_allclose(normalize(stats, x), x, rtol=1e-6)
    stats = merge(stats, jnp.array([[0.0, 0.0], [2.0, 2.0]]))  # mean 1, var 1
    np.testing.assert_allclose(normalize(stats, jnp.array([[3.0, 1e6]])), [[2.0, CLIP]], rtol=1e-6)


def test_disabled_normaliser_passes_observations_and_statistics_through():
    norm = ObsNorm(enabled=False)
    stats = norm.init((2,))
    x = jnp.array([[5.0, 7.0]])
    assert norm(stats, x) is x
    assert norm.update(stats, x) is stats


@pytest.fixture(scope="module")
def ppo_run():
    cfg = ppo.Config(env="CartPole-v1", total_steps=8 * 4 * 128, obs=dict(normalize=True))
    state, metrics = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(cfg, jax.random.split(jax.random.key(0), 2))
    return cfg, state, metrics


def test_ppo_statistics_count_every_observation_per_seed(ppo_run):
    cfg, state, metrics = ppo_run
    # the last rollout is folded in too: every observation the policy acted on
    np.testing.assert_array_equal(state.obs_stats.count, [cfg.total_steps] * 2)
    assert not np.allclose(state.obs_stats.mean[0], state.obs_stats.mean[1])  # per seed
    assert np.all(np.asarray(state.obs_stats.var) > 0)
    assert np.isfinite(np.asarray(metrics["loss"])).all()


def test_ppo_first_update_sees_ratio_one_with_rollout_time_statistics():
    """The loss normalises with the statistics the policy acted with: before any gradient
    step the new/old probability ratio is exactly 1, so the KL to the unchanged policy is 0."""
    cfg = ppo.Config(env="CartPole-v1", total_steps=2 * 4 * 128, obs=dict(normalize=True),
                     update_epochs=1, num_minibatches=1)
    comps = ppo.components(cfg)
    from jaxac.algos import onpolicy

    state = ppo.init(cfg, jax.random.key(1))
    state, _ = ppo.update(cfg, state)  # statistics are no longer the identity
    collected, batch, _, _ = onpolicy.collect(cfg, comps, state, jax.random.key(2))
    m = onpolicy.policy_change(comps, state.params["actor"], batch, cfg.clip_eps)
    assert abs(float(m["approx_kl"])) < 1e-6 and float(m["clip_fraction"]) == 0.0
    assert float(collected.obs_stats.count) == float(state.obs_stats.count) + cfg.steps_per_update


def test_ppo_obs_stats_before_update_normalises_the_update_with_the_new_statistics():
    """brax.training's order: the rollout (acted on with the old statistics) is folded in
    first and its batch is normalised with the new ones (the loss's ratios no longer start at
    exactly 1)."""
    cfg = ppo.Config(env="CartPole-v1", total_steps=2 * 4 * 128, obs=dict(normalize=True),
                     update_epochs=1, num_minibatches=1)
    before = cfg.replace(**{"obs.stats_before_update": True})
    from jaxac.algos import onpolicy

    comps = ppo.components(cfg)
    state = ppo.init(cfg, jax.random.key(1))
    state, _ = ppo.update(cfg, state)
    key = jax.random.key(2)
    old_way, batch_old, _, _ = onpolicy.collect(cfg, comps, state, key)
    new_way, batch_new, seg, _ = onpolicy.collect(before, ppo.components(before), state, key)
    # the same rollout and the same statistics after it; only the batch's normalisation moves
    np.testing.assert_array_equal(batch_old.action, batch_new.action)
    np.testing.assert_allclose(new_way.obs_stats.mean, old_way.obs_stats.mean)
    s0, s1 = state.obs_stats, new_way.obs_stats
    raw = batch_old.obs * jnp.sqrt(s0.var + 1e-8) + s0.mean
    np.testing.assert_allclose(batch_new.obs, normalize(s1, raw), atol=1e-4)
    np.testing.assert_array_equal(seg.obs.reshape(batch_new.obs.shape), batch_new.obs)
    assert not np.allclose(batch_new.obs, batch_old.obs, atol=1e-3)


def test_a2c_normalises_and_stays_finite():
    cfg = a2c.Config(env="Pendulum-v1", total_steps=8 * 5 * 20, obs=dict(normalize=True))
    state, metrics = jax.jit(a2c.train)(cfg, jax.random.key(0))
    assert float(state.obs_stats.count) == cfg.total_steps
    assert np.isfinite(np.asarray(metrics["loss"])).all()


def test_sac_statistics_include_warmup_and_every_collected_step():
    cfg = sac.Config(env="Pendulum-v1", total_steps=1_200, learning_starts=1_000, minibatch_size=64,
                     policy=dict(hidden=(32, 32)), obs=dict(normalize=True))
    state, metrics = jax.jit(sac.train)(cfg, jax.random.key(0))
    assert float(state.obs_stats.count) == cfg.total_steps
    # Pendulum's third observation is the angular velocity in [-8, 8]: its variance is large
    assert float(state.obs_stats.var[2]) > 1.0
    assert np.isfinite(np.asarray(metrics["critic_loss"])).all()


def test_evaluation_acts_on_normalised_observations(ppo_run):
    """A state whose statistics are shifted far away makes the greedy policy see other inputs."""
    cfg, states, _ = ppo_run
    state = jax.tree.map(lambda x: x[0], states)
    returns, _ = evaluate.episodes(ppo, cfg, state, jax.random.key(0), num_episodes=4)
    shifted = state.replace(obs_stats=state.obs_stats.replace(mean=state.obs_stats.mean + 100.0))
    returns_shifted, _ = evaluate.episodes(ppo, cfg, shifted, jax.random.key(0), num_episodes=4)
    assert not np.allclose(returns, returns_shifted)
