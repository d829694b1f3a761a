"""Evaluation episodes of the deterministic policy: exact bookkeeping, time limits, vmap."""

import functools

import jax
import numpy as np

from jaxac import evaluate
from jaxac.algos import ppo, sac


def _states(module, cfg, seeds=2):
    keys = jax.random.split(jax.random.key(0), seeds)
    return jax.jit(jax.vmap(module.init, in_axes=(None, 0)))(cfg, keys)


def _evaluate(module, cfg, states, num_episodes, max_steps=100_000, seed=1):
    fn = functools.partial(evaluate.episodes, module, cfg, num_episodes=num_episodes, max_steps=max_steps)
    keys = jax.random.split(jax.random.key(seed), len(states.update_step))
    return [np.asarray(x) for x in jax.jit(jax.vmap(fn))(states, keys)]


def test_discrete_episodes_end_where_the_env_ends_them():
    cfg = ppo.Config(env="CartPole-v1", env_kwargs=(("max_steps", 40),), num_envs=2, rollout_length=8,
                     policy=dict(hidden=(8,)), total_steps=16)
    states = _states(ppo, cfg)
    returns, lengths = _evaluate(ppo, cfg, states, 6)
    assert returns.shape == lengths.shape == (2, 6)
    np.testing.assert_array_equal(returns, lengths)  # reward 1 per step, nothing after the end
    assert (lengths >= 1).all() and (lengths <= 40).all()
    again, _ = _evaluate(ppo, cfg, states, 6)
    np.testing.assert_array_equal(again, returns)  # deterministic given the key
    capped, capped_len = _evaluate(ppo, cfg, states, 6, max_steps=3)
    np.testing.assert_array_equal(capped_len, np.minimum(lengths, 3))


def test_continuous_episodes_run_to_the_time_limit_with_the_mean_action():
    cfg = sac.Config(env="Pendulum-v1", total_steps=80, learning_starts=64, minibatch_size=16, num_envs=2, policy=dict(hidden=(8,)))
    states = _states(sac, cfg)
    returns, lengths = _evaluate(sac, cfg, states, 3)
    assert (lengths == 200).all() and np.isfinite(returns).all() and (returns < 0).all()
    # the greedy action does not depend on the evaluation key; only the initial states do
    comps = sac.components(cfg)
    act = evaluate.greedy_policy(comps.net, comps.dist)
    obs = np.zeros((4, 3), np.float32)
    one = jax.tree.map(lambda x: x[0], states.params["actor"])
    a = np.asarray(act(one, obs, ())[0])
    assert a.shape == (4, 1) and (np.abs(a) <= 1).all()


def test_a_saved_run_is_loaded_and_acts_in_its_own_environment(tmp_path):
    """`load_policy`: one raw observation in, the environment's own action out (Pendulum's
    bounds are [-2, 2]: twice the policy's [-1, 1] mode), per seed."""
    import jax.numpy as jnp

    from jaxac import Session

    cfg = sac.Config(env="Pendulum-v1", total_steps=64 + 2 * 4, learning_starts=64, minibatch_size=16, num_envs=2,
                     buffer_size=128, policy=dict(hidden=(8,)))
    result = Session("sac", cfg, seeds=2, out=str(tmp_path / "run"), eval_episodes=0).run()
    comps = sac.components(cfg)
    greedy = evaluate.greedy_policy(comps.net, comps.dist)
    obs = jnp.asarray([0.5, -0.5, 1.0])
    for seed in (0, 1):
        act, env, params = evaluate.load_policy(str(tmp_path / "run"), seed=seed)
        one = jax.tree.map(lambda x: x[seed], result.state)
        unit = greedy(one.params["actor"], comps.obs_norm(one.obs_stats, obs[None]), ())[0][0]
        np.testing.assert_allclose(np.asarray(act(obs)), 2.0 * np.asarray(unit), atol=1e-6)
    state, ts = env.reset(jax.random.key(0), params)
    state, ts = env.step(jax.random.key(1), state, act(ts.obs), params)  # acts in the raw environment
    assert np.isfinite(float(ts.reward))
