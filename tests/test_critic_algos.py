"""Every critic inside every algorithm: conformance (jit, vmap over seeds, no recompile on a
second update, finite metrics, stable state) and probe values learned within 5% by SAC and PPO."""

import jax
import numpy as np
import pytest

from jaxac import algos, presets
from jaxac.algos import ppo, sac
from jaxac import critics
from jaxac.summary import final_return
from probe_helpers import train_on_probe

CRITICS = critics.names()
OPTIONS = dict(num_bins=21, num_quantiles=5, drop=1, samples=2, steps=2, bins=8)


def critic_spec(name, **options):
    """The critic `name` with those of `options` that it has."""
    fields = critics.entries()[name].spec.__dataclass_fields__
    return critics.spec(name, **{k: v for k, v in options.items() if k in fields})


NON_SCALAR = [c for c in CRITICS if c != "scalar"]  # the scalar critic is in test_conformance
# probes: "quantile" is the member of "tqc" (which differs only in aggregation): slow only
PROBED = [c if c != "quantile" else pytest.param(c, marks=pytest.mark.slow) for c in NON_SCALAR]


@pytest.mark.parametrize("algo", sorted(algos.ALGORITHMS))  # every registered algorithm, from its smoke config
@pytest.mark.parametrize("critic", NON_SCALAR)
def test_conformance(algo, critic):
    module = algos.get(algo)
    base = module.smoke_config()
    extra = dict(dropout=0.1, layer_norm=True) if module is sac else {}
    cfg = base.replace(critic=critic_spec(critic, hidden=(16,), **OPTIONS, **extra))
    keys = jax.random.split(jax.random.key(0), 2)
    states = jax.jit(jax.vmap(module.init, in_axes=(None, 0)))(cfg, keys)
    update = jax.jit(jax.vmap(module.update, in_axes=(None, 0)))
    s1, m1 = update(cfg, states)
    compiled = update._cache_size()
    s2, m2 = update(cfg, s1)
    assert update._cache_size() == compiled, "second update recompiled"
    assert jax.tree.structure(states) == jax.tree.structure(s2)
    for a, b in zip(jax.tree.leaves(states), jax.tree.leaves(s2)):
        assert a.dtype == b.dtype and a.shape == b.shape
    for key, value in m2.items():
        assert value.shape == (2,), key
        if key not in ("episode_return", "episode_length"):
            assert np.isfinite(np.asarray(value)).all(), key
    loss = np.asarray(m2["critic_loss" if "critic_loss" in m2 else "value_loss"])
    assert loss[0] != loss[1], "seeds must differ"


# --- probes -----------------------------------------------------------------------------------
PROBE_OPTIONS = dict(num_bins=51, num_quantiles=11, drop=1)


@pytest.mark.parametrize("critic", PROBED)  # scalar: tests/test_sac.py
def test_sac_probe_q_values(critic):
    """Delayed reward (discounting) with continuous actions: Q(0, a) = gamma, Q(1, a) = 1."""
    cfg = sac.Config(
        env="probe/delayed", env_kwargs=(("continuous", True),), total_steps=3_000, num_envs=4,
        rollout_length=2, learning_starts=256, minibatch_size=64, policy=dict(hidden=(32, 32)),
        optim=dict(learning_rate=3e-3, alpha_learning_rate=0.0), init_alpha=1e-4, gamma=0.9, tau=0.05,
        critic=critic_spec(critic, **PROBE_OPTIONS),
    )
    value, _ = train_on_probe(sac, cfg)
    for obs, q in {0.0: 0.9, 1.0: 1.0}.items():
        for a in (-0.5, 0.5):
            assert value(obs, a) == pytest.approx(q, rel=0.05, abs=0.03), (critic, obs, a)


@pytest.mark.parametrize("critic", PROBED)  # scalar: tests/test_ppo.py
def test_ppo_probe_values(critic):
    """Delayed reward: V(0) = gamma, V(1) = 1 (the lambda-return target is a single atom)."""
    cfg = ppo.Config(
        env="probe/delayed", total_steps=16 * 16 * 100, num_envs=16, rollout_length=16, update_epochs=4,
        num_minibatches=4, gamma=0.9, optim=dict(learning_rate=3e-3), ent_coef=0.0, clip_value_loss=False,
        policy=dict(hidden=(32, 32)), critic=critic_spec(critic, **PROBE_OPTIONS),
    )
    value, _ = train_on_probe(ppo, cfg)
    for obs, v in {0.0: 0.9, 1.0: 1.0}.items():
        assert value(obs) == pytest.approx(v, rel=0.05, abs=0.02), (critic, obs)


# --- learning (slow: python -m pytest -m slow tests/test_critic_algos.py) --------------------
@pytest.mark.slow
@pytest.mark.parametrize("critic", list(CRITICS))
def test_sac_pendulum_with_every_critic(critic):
    """SAC preset, 8 seeds x 2e4 steps, mean final return >= -250 with every critic."""
    cfg = presets.config("sac", "Pendulum-v1", critic=critic)
    _, m = jax.jit(jax.vmap(sac.train, in_axes=(None, 0)))(cfg, jax.random.split(jax.random.key(0), 8))
    assert np.nanmean(final_return(m)) >= -250, critic


@pytest.mark.slow
@pytest.mark.parametrize("critic", ["hlgauss", "flow"])
def test_ppo_cartpole_with_hlgauss_and_flow(critic):
    """PureJaxRL CartPole defaults, 8 seeds x 5e5 steps: >= 475."""
    cfg = ppo.Config(env="CartPole-v1", total_steps=500_000, critic=critic)
    _, m = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(cfg, jax.random.split(jax.random.key(0), 8))
    assert np.nanmean(final_return(m)) >= 475, critic
