"""SAC: learning (continuous and discrete), probes (Q-values incl. discounting and
truncation bootstrapping, actions), memory report, config errors."""

import jax
import numpy as np
import pytest

import jaxac
from jaxac.algos import sac
from jaxac.summary import final_return
from probe_helpers import train_on_probe

PENDULUM = dict(policy=dict(hidden=(64, 64)), optim=dict(learning_rate=1e-3, alpha_learning_rate=1e-3))


def test_learns_pendulum_short_budget():
    """Default-run learning test: 2 seeds x 8e3 steps (random play scores about -1200)."""
    cfg = sac.Config(env="Pendulum-v1", total_steps=8_000, **PENDULUM)
    _, m = jax.jit(jax.vmap(sac.train, in_axes=(None, 0)))(cfg, jax.random.split(jax.random.key(0), 2))
    assert np.nanmean(final_return(m, fraction=0.1)) >= -700


@pytest.mark.slow
def test_pendulum_reaches_minus_200_at_2e4_steps():
    cfg = jaxac.presets.config("sac", "Pendulum-v1")
    _, m = jax.jit(jax.vmap(sac.train, in_axes=(None, 0)))(cfg, jax.random.split(jax.random.key(0), 8))
    assert np.nanmean(final_return(m)) >= -200


@pytest.mark.slow
def test_discrete_sac_learns_cartpole():
    cfg = jaxac.presets.config("sac", "CartPole-v1")
    _, m = jax.jit(jax.vmap(sac.train, in_axes=(None, 0)))(cfg, jax.random.split(jax.random.key(0), 4))
    assert np.nanmean(final_return(m)) >= 300


def probe_config(name, continuous=True):
    # alpha pinned near 0: the soft values then equal the known returns
    return sac.Config(
        env=f"probe/{name}", env_kwargs=(("continuous", continuous),), total_steps=3_000,
        num_envs=4, rollout_length=2, learning_starts=256, minibatch_size=64, policy=dict(hidden=(32, 32)),
        optim=dict(learning_rate=3e-3, alpha_learning_rate=0.0), init_alpha=1e-4, gamma=0.9, tau=0.05,
    )


@pytest.mark.parametrize("name,continuous,expected", [
    ("obs", True, {-1.0: -1.0, 1.0: 1.0}),
    ("delayed", True, {0.0: 0.9, 1.0: 1.0}),        # Q(0, a) = gamma: discounting
    ("delayed", False, {0.0: 0.9, 1.0: 1.0}),
    ("truncation", True, {0.0: 9.0, 1.0: 10.0}),    # zero-bootstrap would give ~2.7, reset-obs ~7
    ("truncation", False, {0.0: 9.0, 1.0: 10.0}),
])
def test_probe_q_values(name, continuous, expected):
    value, _ = train_on_probe(sac, probe_config(name, continuous))
    for obs, q in expected.items():
        for a in ([-0.5, 0.5] if continuous else [0, 1]):
            assert value(obs, a) == pytest.approx(q, rel=0.05, abs=0.03), (name, obs, a)


def test_probe_actions_continuous():
    value, action = train_on_probe(sac, probe_config("obs_action"))
    assert action(1.0)[0] == pytest.approx(0.5, abs=0.1)
    assert action(-1.0)[0] == pytest.approx(-0.5, abs=0.1)
    assert value(1.0, 0.5) == pytest.approx(1.0, abs=0.05)  # Q(s, a) = 1 - (a - 0.5 s)^2
    assert value(1.0, -0.5) == pytest.approx(0.0, abs=0.1)


def test_probe_actions_discrete():
    value, action = train_on_probe(sac, probe_config("obs_action", continuous=False))
    assert action(1.0) == 1 and action(-1.0) == 0
    assert value(1.0, 1) == pytest.approx(1.0, abs=0.05) and value(1.0, 0) == pytest.approx(-1.0, abs=0.05)


def test_buffer_memory_follows_capacity_and_obs_dtype():
    cfg = sac.Config(env="Pendulum-v1", total_steps=20_000)
    per_item_f32 = 3 * 4 * 2 + 4 + 4 + 1  # obs, next_obs, action, reward, terminated
    assert cfg.buffer_capacity == 20_000  # never more than the whole run
    assert sac.buffer_bytes(cfg) == 20_000 * per_item_f32 + 8
    half = sac.buffer_bytes(cfg.replace(obs_dtype="bfloat16"))
    assert half == 20_000 * (per_item_f32 - 12) + 8


@pytest.mark.parametrize("warmup,z_std", [("policy", 1.0), ("uniform", 1.31)])
def test_warmup_actions_come_from_the_initial_policy_or_uniform(warmup, z_std):
    """Standardised by the initial policy (softplus std 0.694 at init), warm-up actions are
    N(0, 1) under warmup="policy"; uniform ones have std sqrt(pi^2 / 12) / 0.694 = 1.31."""
    cfg = sac.Config(env="Pendulum-v1", total_steps=3_000, learning_starts=2_000, policy=dict(hidden=(16,), std="softplus"),
                     warmup=warmup)
    state = jax.jit(sac.init)(cfg, jax.random.key(0))
    comps = sac.components(cfg)
    obs, act = (np.asarray(x[:2_000]) for x in (state.buffer.data.obs, state.buffer.data.action))
    mean, log_std = comps.dist._mean_log_std(comps.net.apply(state.params["actor"], obs)[0])
    z = (np.arctanh(np.clip(act, -0.999999, 0.999999)) - mean) / np.exp(log_std)
    assert abs(z.mean()) < 0.1 and z.std() == pytest.approx(z_std, abs=0.06)


@pytest.mark.parametrize("kwargs,field", [
    (dict(utd=0), "utd"),
    (dict(minibatch_size=2048), "minibatch_size"),
    (dict(tau=0.0), "tau"),
    (dict(tau=1.5), "tau"),
    (dict(gamma=1.2), "gamma"),
    (dict(learning_starts=30_000), "learning_starts"),
    (dict(aggregate="max"), "aggregate"),
    (dict(obs_dtype="int8"), "obs_dtype"),
    (dict(policy=dict(std="relu")), r"policy\.std"),
    (dict(policy=dict(distribution="gaussian")), r"policy\.distribution"),
    (dict(obs=dict(stats_before_update=True)), r"obs\.stats_before_update"),
    (dict(optim=dict(critic_learning_rate=-1.0)), r"optim\.critic_learning_rate"),
    (dict(warmup="random"), "warmup"),
    (dict(policy=dict(init="xavier")), r"policy\.init"),
    (dict(critic="nope"), "critic"),
])
def test_invalid_config_raises_naming_field(kwargs, field):
    with pytest.raises(jaxac.ConfigError, match=field):
        sac.Config(**kwargs)


def test_top_level_api_names():
    assert jaxac.sac is sac and jaxac.a2c.train and jaxac.ppo.train
