"""MuJoCo Playground's DM Control Suite through the adapter: the env contract under jit and
vmap, and PPO improving CartpoleBalance (slow)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mujoco_playground")

import jaxac  # noqa: E402
from jaxac import evaluate  # noqa: E402
from jaxac.env import wrap_for_training  # noqa: E402
from jaxac.envs import playground_adapter  # noqa: E402


def test_every_dm_control_id_is_registered_and_matches_playground():
    from mujoco_playground import dm_control_suite

    assert set(playground_adapter.DM_CONTROL_ENVS) == set(dm_control_suite.ALL_ENVS)
    assert {f"playground/{n}" for n in dm_control_suite.ALL_ENVS} <= set(jaxac.registered())


def test_cartpole_balance_steps_under_jit_and_vmap_and_truncates():
    env, params = jaxac.make("playground/CartpoleBalance", episode_length=12)
    assert params.episode_length == 12
    obs_dim = env.observation_space(params).shape[0]
    act_dim = env.action_space(params).shape[0]
    assert (obs_dim, act_dim) == (5, 1)
    train_env = wrap_for_training(env)
    keys = jax.random.split(jax.random.key(0), 3)
    state, ts = jax.jit(jax.vmap(train_env.reset, in_axes=(0, None)))(keys, params)
    assert ts.obs.shape == (3, obs_dim) and ts.obs.dtype == jnp.float32

    def body(s, k):
        a = jax.random.uniform(k, (3, act_dim), minval=-1.0, maxval=1.0)
        s, ts = jax.vmap(train_env.step, in_axes=(0, 0, 0, None))(jax.random.split(k, 3), s, a, params)
        return s, ts

    run = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, 12)))
    # MJX's Cholesky runs as XLA loops, not LAPACK (which can deadlock two CPU devices)
    assert "lapack" not in run.lower(state, jax.random.key(1)).as_text()
    state, traj = run(state, jax.random.key(1))
    truncated = np.asarray(traj.truncated)
    assert not truncated[:-1].any() and truncated[-1].all()  # balance never terminates
    assert not np.asarray(traj.terminated).any()
    # the rewards (in [0, 1] per step) sum to the episode's return at truncation
    np.testing.assert_allclose(traj.episode_return[-1], np.asarray(traj.reward).sum(0), rtol=1e-5)
    assert ((np.asarray(traj.reward) >= 0) & (np.asarray(traj.reward) <= 1)).all()
    # after the auto-reset the carry scans again without changing type (no recompile)
    run(state, jax.random.key(2))


def test_bad_playground_arguments_are_errors():
    with pytest.raises(ValueError, match="impl"):
        jaxac.make("playground/CartpoleBalance", impl="cuda")
    with pytest.raises(ValueError, match="not config fields"):
        jaxac.make("playground/CartpoleBalance", no_such_field=1)
    with pytest.raises(jaxac.envs.registry.UnknownEnvironmentError, match="CartpoleBalance"):
        jaxac.make("playground/CartpoleBalanse")


@pytest.mark.slow
def test_ppo_improves_cartpole_balance():
    """A short PPO run (64 envs x 32 steps, ~2e5 steps, 200-step episodes; ~40 s) lifts the
    deterministic policy's return from the untrained policy's ~135 (the pole falls) towards
    200 (balanced all episode; a hand-tuned PD controller gets 199)."""
    cfg = jaxac.ppo.Config(
        env="playground/CartpoleBalance", env_kwargs=(("episode_length", 200),),
        total_steps=196_608, num_envs=64, rollout_length=32, update_epochs=4, num_minibatches=4,
        optim=dict(learning_rate=1e-3, schedule="constant"), gamma=0.99, ent_coef=0.0, obs=dict(normalize=True),
        policy=dict(hidden=(64, 64)))
    keys = jax.random.split(jax.random.key(0), 2)
    fn = jax.vmap(functools.partial(evaluate.episodes, jaxac.ppo, cfg, num_episodes=4))
    before = jax.jit(fn)(jax.jit(jax.vmap(jaxac.ppo.init, in_axes=(None, 0)))(cfg, keys), keys)[0]
    state, _ = jax.jit(jax.vmap(jaxac.ppo.train, in_axes=(None, 0)))(cfg, keys)
    after = jax.jit(fn)(state, keys)[0]
    assert float(np.asarray(after).mean()) > float(np.asarray(before).mean()) + 30, (before, after)
