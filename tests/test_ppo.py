"""PPO: learning, probes, jit/vmap conformance, determinism, config errors."""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac.algos import ppo
from jaxac.summary import final_return

SMALL = dict(total_steps=4 * 32 * 3, num_envs=4, rollout_length=32, update_epochs=2, num_minibatches=2,
             policy=dict(hidden=(16, 16)))


@pytest.fixture(scope="module")
def small_cfg():
    return ppo.Config(**SMALL)


# ------------------------------------------------------------------------------------------
# learning
# ------------------------------------------------------------------------------------------
def test_learns_cartpole_short_budget():
    """Default-run learning test: 8 seeds x 1e5 steps of PureJaxRL's config in one call."""
    cfg = ppo.Config(total_steps=100_000)
    keys = jax.random.split(jax.random.key(42), 8)
    _, metrics = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(cfg, keys)
    first = np.nanmean(np.asarray(metrics["episode_return"])[:, :5])
    final = final_return(metrics, 0.1)
    assert first < 40
    assert np.mean(final) >= 150, final


@pytest.mark.slow
def test_cartpole_reaches_475_with_purejaxrl_defaults():
    cfg = ppo.Config(total_steps=500_000)
    keys = jax.random.split(jax.random.key(0), 8)
    _, metrics = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(cfg, keys)
    final = final_return(metrics, 0.05)
    assert np.mean(final) >= 475, final


@pytest.mark.slow
def test_pendulum_preset_reaches_minus_250():
    cfg = jaxac.presets.config("ppo", "Pendulum-v1")
    assert cfg.total_steps <= 500_000
    keys = jax.random.split(jax.random.key(1), 8)
    _, metrics = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(cfg, keys)
    final = final_return(metrics, 0.05)
    assert np.mean(final) >= -250, final


# ------------------------------------------------------------------------------------------
# probes: the critic learns known values, the policy the known action
# ------------------------------------------------------------------------------------------
def train_probe(name, continuous=False):
    cfg = ppo.Config(
        env=f"probe/{name}", env_kwargs=(("continuous", continuous),), total_steps=16 * 16 * 100,
        num_envs=16, rollout_length=16, update_epochs=4, num_minibatches=4, gamma=0.9,
        optim=dict(learning_rate=3e-3), ent_coef=0.0, clip_value_loss=False, policy=dict(hidden=(32, 32)),
    )
    state, _ = jax.jit(ppo.train)(cfg, jax.random.key(0))
    parts = ppo.components(cfg)

    def value(o):
        return float(parts.critic.value(state.params["critic"], jnp.array([[o]]))[0])

    def action(o):
        return np.asarray(parts.dist.mode(parts.net.apply(state.params["actor"], jnp.array([[o]]))[0]))[0]

    return value, action


@pytest.mark.parametrize("name,expected", [
    ("constant", {0.0: 1.0}),
    ("obs", {-1.0: -1.0, 1.0: 1.0}),
    ("delayed", {0.0: 0.9, 1.0: 1.0}),             # V(0) = gamma
    ("truncation", {0.0: 9.0, 1.0: 10.0}),         # bootstraps from the final observation
])
def test_probe_values(name, expected):
    value, _ = train_probe(name)
    for obs, v in expected.items():
        assert value(obs) == pytest.approx(v, rel=0.05, abs=0.02), (name, obs)


def test_probe_discrete_actions():
    _, action = train_probe("action")
    assert action(0.0) == 1
    _, action = train_probe("obs_action")
    assert action(1.0) == 1 and action(-1.0) == 0


def test_probe_multidiscrete_actions_are_learned_in_every_dimension():
    _, action = train_probe("multi_action")
    assert tuple(action(1.0)) == (2, 1, 0) and tuple(action(-1.0)) == (0, 0, 3)


def test_probe_continuous_actions():
    _, action = train_probe("action", continuous=True)
    assert action(0.0)[0] == pytest.approx(0.5, abs=0.1)
    _, action = train_probe("obs_action", continuous=True)
    assert action(1.0)[0] == pytest.approx(0.5, abs=0.1)
    assert action(-1.0)[0] == pytest.approx(-0.5, abs=0.1)


# ------------------------------------------------------------------------------------------
# conformance: jit, vmap over seeds and a float hyperparameter, no recompiles, stable state
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env,dist", [("CartPole-v1", "gaussian"), ("Pendulum-v1", "gaussian"),
                                      ("Pendulum-v1", "tanh_gaussian")])
def test_update_does_not_recompile_and_keeps_state_types(env, dist):
    cfg = ppo.Config(env=env, **SMALL).replace(**{"policy.distribution": dist})
    update = jax.jit(ppo.update)
    state = jax.jit(ppo.init)(cfg, jax.random.key(0))
    s1, m1 = update(cfg, state)
    compiled = update._cache_size()  # jit caches are shared per function: compare, not count
    s2, m2 = update(cfg, s1)
    assert update._cache_size() == compiled
    assert jax.tree.structure(state) == jax.tree.structure(s2)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(s2)):
        assert a.dtype == b.dtype and a.shape == b.shape
    for name, value in m2.items():
        if name not in ("episode_return", "episode_length"):  # NaN when no episode ended
            assert np.isfinite(np.asarray(value)).all(), name
    assert int(s2.update_step) == 2


@pytest.mark.parametrize("env,ends", [("CartPole-v1", "terminated"), ("Pendulum-v1", "truncated")])
def test_reestimate_reproduces_the_rollout_estimates_under_the_rollout_critic(env, ends):
    """The re-estimate reads a step's next observation off the next step (T + 1 critic rows):
    under the rollout's critic it must give the rollout's estimates, with episodes ending
    inside the rollout (CartPole's random policy terminates, Pendulum truncates at 200)."""
    from jaxac.algos import onpolicy

    cfg = ppo.Config(env=env, num_envs=2, rollout_length=256, total_steps=512, policy=dict(hidden=(16, 16)))
    comps = ppo.components(cfg)
    state = ppo.init(cfg, jax.random.key(0))
    _, batch, seg, _ = onpolicy.collect(cfg, comps, state, jax.random.key(1))
    assert np.asarray(getattr(seg, ends)).any()
    critic = state.params["critic"]
    same = onpolicy.reestimate(cfg, comps, critic, batch, seg)
    np.testing.assert_allclose(same.advantage, batch.advantage, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(same.target, batch.target, rtol=1e-5, atol=1e-6)
    moved = onpolicy.reestimate(cfg, comps, jax.tree.map(lambda p: p * 1.5, critic), batch, seg)
    assert not np.allclose(moved.advantage, batch.advantage)
    assert not np.allclose(moved.target, batch.target)
    # the rollout's values stay: they are the clipped value loss's reference
    np.testing.assert_array_equal(moved.value, batch.value)
    np.testing.assert_array_equal(moved.obs, batch.obs)


def test_recompute_advantages_changes_only_later_epochs():
    """Epoch 1 re-estimates with the rollout's critic, so one epoch gives the same update;
    with two, the second epoch trains on the moved critic's advantages."""
    one = ppo.Config(**dict(SMALL, update_epochs=1))
    two = ppo.Config(**SMALL)

    def final_params(cfg):
        state, metrics = jax.jit(ppo.train)(cfg, jax.random.key(3))
        assert np.isfinite(np.asarray(metrics["loss"])).all()
        return jax.tree.leaves(state.params)

    for a, b in zip(final_params(one), final_params(one.replace(recompute_advantages=True))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    changed = [not np.allclose(a, b) for a, b in
               zip(final_params(two), final_params(two.replace(recompute_advantages=True)))]
    assert any(changed)
    # vmapped over seeds (the epoch branch stays unbatched) it matches the single-seed runs
    keys = jnp.stack([jax.random.key(3), jax.random.key(4)])
    recomputing = two.replace(recompute_advantages=True)
    vmapped, _ = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(recomputing, keys)
    single, _ = jax.jit(ppo.train)(recomputing, jax.random.key(4))
    for a, b in zip(jax.tree.leaves(vmapped.params), jax.tree.leaves(single.params)):
        np.testing.assert_allclose(a[1], b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("env,ends", [("CartPole-v1", "terminated"), ("Pendulum-v1", "truncated")])
def test_segments_bootstrap_from_the_observation_after_them(env, ends):
    """Cut into 32-step segments, one-step TD (lambda = 0) under the rollout's critic gives
    the rollout's estimates exactly: every segment's last step bootstraps from the
    observation after it. Longer returns (lambda > 0) stop at segment ends, as in brax."""
    from jaxac.algos import onpolicy

    cfg = ppo.Config(env=env, num_envs=2, rollout_length=256, total_steps=512, policy=dict(hidden=(16, 16)),
                     advantage=dict(gae_lambda=0.0), segment_length=32)
    comps = ppo.components(cfg)
    state = ppo.init(cfg, jax.random.key(0))
    _, batch, seg, _ = onpolicy.collect(cfg, comps, state, jax.random.key(1))
    assert np.asarray(getattr(seg, ends)).any()
    cut_batch, cut_seg = onpolicy.split_segments(batch, seg, 32)
    assert cut_batch.obs is None and cut_batch.action.shape[:2] == (32, 16) and cut_seg.last_next_obs.shape[0] == 16
    # segment k * E + e is env e's steps 32k .. 32k + 31
    np.testing.assert_array_equal(cut_seg.obs[:, 3 * 2 + 1], seg.obs[96:128, 1])
    np.testing.assert_array_equal(cut_batch.action[:, 2], batch.action.reshape((256, 2) + batch.action.shape[1:])[32:64, 0])
    mine = onpolicy.with_estimates(cfg, comps, state.params["critic"], cut_batch, cut_seg)
    back = lambda x: x.reshape(32, 8, 2).swapaxes(0, 1).reshape(-1)  # to the rollout's order
    np.testing.assert_allclose(back(mine.advantage), batch.advantage, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(back(mine.target), batch.target, rtol=1e-5, atol=1e-5)
    lam = cfg.replace(**{"advantage.gae_lambda": 0.95})
    _, batch, seg, _ = onpolicy.collect(lam, comps, state, jax.random.key(1))
    cut = onpolicy.with_estimates(lam, comps, state.params["critic"], *onpolicy.split_segments(batch, seg, 32))
    assert not np.allclose(back(cut.advantage), batch.advantage, atol=1e-3)
    # ... except on the last segment, whose end is the rollout's
    np.testing.assert_allclose(back(cut.advantage).reshape(256, 2)[-32:],
                               batch.advantage.reshape(256, 2)[-32:], rtol=1e-4, atol=1e-5)


def test_one_segment_per_env_is_the_transition_update():
    """With each env's whole rollout as one segment, one minibatch and one epoch, the
    segment update estimates what the rollout did and takes the same gradient step; with
    shorter segments and more epochs it differs. Vmapped over seeds it matches single seeds."""
    one = ppo.Config(**dict(SMALL, update_epochs=1, num_minibatches=1))

    def final_params(cfg, key=jax.random.key(3)):
        state, metrics = jax.jit(ppo.train)(cfg, key)
        assert np.isfinite(np.asarray(metrics["loss"])).all()
        return jax.tree.leaves(state.params)

    for a, b in zip(final_params(one), final_params(one.replace(segment_length=32))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    segments = ppo.Config(**dict(SMALL, segment_length=8, advantage=dict(estimator="vtrace")))
    keys = jnp.stack([jax.random.key(3), jax.random.key(4)])
    vmapped, _ = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(segments, keys)
    vmapped = [x[1] for x in jax.tree.leaves(vmapped.params)]
    for a, b in zip(vmapped, final_params(segments, jax.random.key(4))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    transitions = final_params(segments.replace(segment_length=0), jax.random.key(4))
    assert any(not np.allclose(a, b) for a, b in zip(vmapped, transitions))


def test_same_seed_gives_identical_metrics(small_cfg):
    train = jax.jit(ppo.train)
    _, a = train(small_cfg, jax.random.key(7))
    _, b = train(small_cfg, jax.random.key(7))
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


def test_metrics_cover_the_documented_names(small_cfg):
    _, m = jax.jit(ppo.train)(small_cfg, jax.random.key(0))
    for name in ["episode_return", "episode_length", "episodes", "loss", "policy_loss", "value_loss",
                 "entropy", "approx_kl", "clip_fraction", "explained_variance"]:
        assert m[name].shape == (small_cfg.num_updates,), name


SIXTY_FOUR_SEEDS = textwrap.dedent("""
    import jax, numpy as np, jaxac
    cfg = jaxac.ppo.Config(total_steps=4 * 128 * 4)
    keys = jax.random.split(jax.random.key(0), 64)
    _, m = jax.jit(jax.vmap(jaxac.ppo.train, in_axes=(None, 0)))(cfg, keys)
    loss = np.asarray(m["loss"])
    assert loss.shape == (64, 4) and np.isfinite(loss).all()
    print("ok")
""")


def test_64_seeds_in_one_call_completes_within_timeout():
    """Run in a subprocess with a hard timeout so a runtime hang fails instead of stalling CI."""
    out = subprocess.run([sys.executable, "-c", SIXTY_FOUR_SEEDS], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


# ------------------------------------------------------------------------------------------
# configuration errors name the field and the fix, before compiling
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,field", [
    (dict(num_minibatches=7), "num_minibatches"),
    (dict(optim=dict(learning_rate=-1.0)), r"optim\.learning_rate"),
    (dict(gamma=1.5), "gamma"),
    (dict(advantage=dict(gae_lambda=-0.1)), r"advantage\.gae_lambda"),
    (dict(num_envs=0), "num_envs"),
    (dict(total_steps=10), "total_steps"),
    (dict(policy=dict(activation="sigmoid")), r"policy\.activation"),
    (dict(policy=dict(distribution="beta")), r"policy\.distribution"),
    (dict(advantage=dict(estimator="retrace")), r"advantage\.estimator"),
    (dict(critic=dict(name="c51", num_bins=1)), r"critic\.num_bins=1 is invalid"),
    (dict(critic="nope"), "critic"),
    (dict(optim=dict(max_grad_norm=0.0)), r"optim\.max_grad_norm"),
    (dict(segment_length=7), "segment_length"),  # 128 steps
    (dict(segment_length=-1), "segment_length"),
    (dict(segment_length=64, num_minibatches=16), "num_minibatches"),  # 4 envs x 2 segments
    (dict(segment_length=8, recompute_advantages=True), "recompute_advantages"),
    (dict(env="CartPol-v1"), "env"),
    (dict(env_kwargs=(("not_a_param", 1.0),)), "env_kwargs"),
])
def test_invalid_config_raises_naming_field(kwargs, field):
    with pytest.raises(jaxac.ConfigError, match=field):
        ppo.Config(**kwargs)


def test_traced_and_axes_configs_skip_value_checks(small_cfg):
    axes = jaxac.axes(small_cfg, gamma=0, **{"optim.learning_rate": 0})
    assert axes.optim.learning_rate == 0 and axes.gamma == 0 and axes.clip_eps is None
    assert axes.optim.eps is None and axes.policy == small_cfg.policy  # static fields kept
    with pytest.raises(jaxac.ConfigError, match="not_a_field"):
        jaxac.axes(small_cfg, not_a_field=0)
    with pytest.raises(jaxac.ConfigError, match=r"optim\.learning_rat.*choose one of optim\.name"):
        jaxac.axes(small_cfg, **{"optim.learning_rat": 0})


def test_divisibility_error_lists_divisors_to_use():
    with pytest.raises(jaxac.ConfigError, match=r"num_minibatches=7 .* = 512; e.g. use one of \[1, 2, 4, 8"):
        ppo.Config(num_minibatches=7)
