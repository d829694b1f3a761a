"""Evaluation: episodes of a trained policy's deterministic (mean / argmax) action.

    returns, lengths = jaxac.evaluate.episodes(jaxac.ppo, cfg, state, key, num_episodes=10)
    # one seed's state; jax.vmap it over a vmapped training state for every seed:
    returns, lengths = jax.jit(jax.vmap(partial(episodes, jaxac.ppo, cfg, num_episodes=10)))(states, keys)

The episodes run in parallel (one environment each) inside one `while_loop` that stops when
every one has ended (terminated or truncated by its time limit), or after `max_steps`.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxac.env import AutoReset, Box
from jaxac.rng import classic_threefry
from jaxac.rollout import reset_envs
from jaxac.types import Array, PRNGKey


def greedy_policy(net: Any, dist: Any) -> Callable[[Any, Array, Any], Tuple[Array, Any]]:
    """(actor params, obs [B, ...], policy carry [B, ...]) -> (environment action [B, ...],
    next carry): the distribution's mode (argmax for discrete actions; tanh of the mean for a
    tanh-Gaussian). A policy network's carry starts at `net.initial_carry((B,))`."""
    def act(params, obs, carry):
        out, carry = net.apply(params, obs, carry)
        return dist.to_env(dist.mode(out)), carry
    return act


def _setup(module: Any, cfg: Any, state: Any):
    """(components, the training env without auto-reset, (obs [B, ...], carry) ->
    (deterministic action [B, ...], carry) of `state`'s policy on normalised observations,
    B -> the policy's starting carry [B, ...])."""
    comps = module.components(cfg)
    # the training stack without auto-reset: an ended episode stays ended
    env = comps.env.env if isinstance(comps.env, AutoReset) else comps.env
    greedy = greedy_policy(comps.net, comps.dist)

    def act(obs, carry):
        return greedy(state.params["actor"], comps.obs_norm(state.obs_stats, obs), carry)
    return comps, env, act, lambda num: comps.net.initial_carry((num,))


@struct.dataclass
class _Loop:
    state: Any
    obs: Array
    policy: Any  # the policy's carry [E, ...]
    key: PRNGKey
    ret: Array  # [E] return so far of each episode
    length: Array  # [E]
    done: Array  # [E] the episode has ended
    t: Array


@classic_threefry
def episodes(module: Any, cfg: Any, state: Any, key: PRNGKey, num_episodes: int = 10,
             max_steps: int = 100_000) -> Tuple[Array, Array]:
    """Runs `num_episodes` episodes of `state`'s deterministic policy (one seed's state of
    `module` = jaxac.ppo / a2c / sac, trained with `cfg`).

    Returns:
      (returns [num_episodes] float32, lengths [num_episodes] int32). An episode still running
      after `max_steps` steps counts what it collected so far (as a time limit would).
    """
    comps, env, act, start = _setup(module, cfg, state)
    return _run(env, comps.env_params, act, start(num_episodes), key, num_episodes, max_steps)


def run_episodes(env: Any, env_params: Any, act: Callable[[Array], Array], key: PRNGKey, num_episodes: int = 10,
                 max_steps: int = 100_000) -> Tuple[Array, Array]:
    """`episodes` for any deterministic `act(obs [E, ...]) -> action [E, ...]` on `env`
    (without auto-reset): the same `key` gives the same resets and environment draws to any
    policy (a heuristic is compared with a learned policy on the same demand, slips, ...)."""
    return _run(env, env_params, lambda obs, carry: (act(obs), carry), (), key, num_episodes, max_steps)


def _run(env: Any, env_params: Any, act: Callable, start: Any, key: PRNGKey, num_episodes: int,
         max_steps: int) -> Tuple[Array, Array]:
    """`run_episodes` of `act(obs, carry) -> (action, carry)` from the carry `start` [E, ...]."""
    k_reset, key = jax.random.split(key)
    carry = reset_envs(env, env_params, k_reset, num_episodes, start)
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def body(c: _Loop) -> _Loop:
        key, k_step = jax.random.split(c.key)
        action, policy = act(c.obs, c.policy)
        env_state, ts = step(jax.random.split(k_step, num_episodes), c.state, action, env_params)
        live = ~c.done
        return _Loop(env_state, ts.obs, policy, key, c.ret + jnp.where(live, ts.reward, 0.0),
                     c.length + live.astype(jnp.int32), c.done | ts.done, c.t + 1)

    zeros = jnp.zeros((num_episodes,))
    init = _Loop(carry.state, carry.obs, carry.policy, key, zeros, zeros.astype(jnp.int32),
                 zeros.astype(bool), jnp.zeros((), jnp.int32))
    out = jax.lax.while_loop(lambda c: ~c.done.all() & (c.t < max_steps), body, init)
    return out.ret, out.length


def random_returns(env: Any, env_params: Any, key: PRNGKey, num_episodes: int = 10,
                   max_steps: int = 1000) -> Array:
    """[num_episodes] returns of uniformly random actions (the reference a learned policy
    must beat) on `env` without auto-reset; an episode is cut after `max_steps` steps."""
    space = env.action_space(env_params)

    def episode(k):
        state, _ = env.reset(jax.random.fold_in(k, 0), env_params)

        def body(carry, k_t):
            state, ret, done = carry
            k_act, k_step = jax.random.split(k_t)
            state, ts = env.step(k_step, state, space.sample(k_act), env_params)
            return (state, ret + jnp.where(done, 0.0, ts.reward), done | ts.done), None

        (_, ret, _), _ = jax.lax.scan(body, (state, 0.0, False), jax.random.split(k, max_steps))
        return ret

    return jax.vmap(episode)(jax.random.split(key, num_episodes))


@classic_threefry
def trajectory(module: Any, cfg: Any, state: Any, key: PRNGKey, max_steps: int = 1000):
    """One episode of `state`'s deterministic policy, keeping every environment state (for
    rendering): `max_steps` steps in one `scan`, the steps after the episode's end masked.

    Returns `(states, rewards, live)`: env states with leaves [max_steps + 1, ...] (the reset
    state, then the state after each step), rewards [max_steps], and live [max_steps] (bool:
    the step belongs to the episode).
    """
    comps, env, act, start = _setup(module, cfg, state)
    k_reset, key = jax.random.split(key)
    carry = reset_envs(env, comps.env_params, k_reset, 1, start(1))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def body(c, k):
        env_state, obs, policy, done = c
        action, policy = act(obs, policy)
        env_state, ts = step(k[None], env_state, action, comps.env_params)
        return (env_state, ts.obs, policy, done | ts.done), (env_state, ts.reward[0], ~done[0])

    init = (carry.state, carry.obs, carry.policy, jnp.zeros((1,), bool))
    _, (states, rewards, live) = jax.lax.scan(body, init, jax.random.split(key, max_steps))
    states = jax.tree.map(lambda first, rest: jnp.concatenate([first, rest[:, 0]]), carry.state, states)
    return states, rewards, live


def run_dir(path: str, num_episodes: int = 10, seed: int = 0, step: int | None = None,
            max_steps: int = 100_000, on_damaged=None, env=None):
    """Evaluates every seed of the run saved in `path` (its newest intact checkpoint, or
    `step`; damaged newer ones go to `on_damaged(step, reason)`, see `jaxac.runs.restore`).
    `env`: the environment object again, for a run trained on one.

    Returns `(returns, lengths, update)`: returns and lengths [seeds, num_episodes] as numpy,
    and the update the checkpoint was saved at.
    """
    import functools

    import numpy as np

    from jaxac import runs

    from jaxac import pbt

    run, state, step = runs.restore(path, step, on_damaged, env)
    cfg, axes, _ = runs.inputs(run)
    if runs.population(run) is not None:  # each member with its current hyperparameters
        cfg, axes, state = pbt.acting(run.cfg, state, runs.population(run))
    fn = functools.partial(episodes, run.module, num_episodes=num_episodes, max_steps=max_steps)
    keys = jax.random.split(jax.random.key(seed), run.run["seeds"])
    returns, lengths = jax.jit(jax.vmap(fn, in_axes=(axes, 0, 0)))(cfg, state, keys)
    return np.asarray(returns), np.asarray(lengths), step


def load_policy(path: str, seed: int = 0, update: int | None = None, env: Any = None):
    """The deterministic policy of seed `seed` of the run saved in `path` (its newest intact
    checkpoint, or the one of `update`), to act in its environment as `jaxac.make` builds it.

    Returns `(act, env, env_params)`: `act(obs) -> action` is jitted and takes one raw
    observation (no batch axis; the run's observation normalisation is applied inside) and
    gives the environment's own action (an index for discrete actions, a value within a Box's
    bounds); `env` and `env_params` are the run's environment, unwrapped. `env`: the
    environment object again, for a run trained on one. A policy network with a carry (a
    registered stateful network) gives `act(obs, carry) -> (action, carry)` instead, with
    `carry=None` at an episode's start.
    """
    from jaxac import runs
    from jaxac.algos.common import base_env
    from jaxac.config import ConfigError
    from jaxac.env import to_bounds

    run, states, _ = runs.restore(path, update, env=env)
    if not 0 <= seed < run.run["seeds"]:
        raise ConfigError(f"seed={seed} is invalid: the run has seeds 0..{run.run['seeds'] - 1}.")
    one = jax.tree.map(lambda x: x[seed], states)
    _, _, batched, start = _setup(run.module, run.cfg, getattr(one, "learner", one))  # a PBT member: its learner
    raw_env, params = base_env(run.cfg.env, run.cfg.env_kwargs)
    space = raw_env.action_space(params)

    def act_carried(obs, carry):
        carry = start(1) if carry is None else carry
        action, carry = batched(jnp.asarray(obs)[None], carry)
        return (to_bounds(action[0], space) if isinstance(space, Box) else action[0]), carry

    if jax.tree.leaves(start(1)):
        return jax.jit(act_carried), raw_env, params
    return jax.jit(lambda obs: act_carried(obs, ())[0]), raw_env, params


def render_dir(path: str, out: str, run_seed: int = 0, seed: int = 0, step: int | None = None,
               max_steps: int = 1000, on_damaged=None) -> Tuple[float, int]:
    """Writes brax's HTML viewer of one deterministic episode of seed `run_seed` of the run
    saved in `path` to `out`. Only brax environments can be rendered.

    Returns:
      (the episode's return, its length).
    """
    import numpy as np

    from jaxac import runs
    from jaxac.config import ConfigError
    from jaxac.envs import brax_adapter

    run = runs.load(path)
    if not run.cfg.env.startswith("brax/"):
        raise ConfigError(f"--render is invalid for env={run.cfg.env!r}: only brax environments "
                          f"have a viewer (brax/<name>).")
    if not 0 <= run_seed < run.run["seeds"]:
        raise ConfigError(f"--render-seed {run_seed} is invalid: the run has seeds 0..{run.run['seeds'] - 1}.")
    run, states, _ = runs.restore(path, step, on_damaged)
    one = jax.tree.map(lambda x: x[run_seed], states)
    one = getattr(one, "learner", one)  # a PBT member's learner state
    fn = jax.jit(lambda st, k: trajectory(run.module, run.cfg, st, k, max_steps))
    env_states, rewards, live = fn(one, jax.random.key(seed))
    live = np.asarray(live)
    length = int(live.sum())
    try:
        page = brax_adapter.html(run.module.components(run.cfg).env, env_states, length)
    except TypeError as err:
        raise ConfigError(f"--render is invalid for this run: {err}.") from None
    with open(out, "w") as fh:
        fh.write(page)
    return float(np.asarray(rewards)[live].sum()), length
