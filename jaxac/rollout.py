"""The one collection primitive every algorithm uses."""

from __future__ import annotations

from typing import Any, Callable, Tuple

import jax
from flax import struct

from jaxac.env import AutoReset

from jaxac.types import Array, PRNGKey, Transition

# policy(params, obs [B, ...], key) -> (action [B, ...], env_action [B, ...], log_prob [B])
Policy = Callable[[Any, Array, PRNGKey], Tuple[Array, Array, Array]]


@struct.dataclass
class EnvCarry:
    """B vectorised environments between rollouts: their states and current observations."""

    state: Any
    obs: Array


def reset_envs(env, params, key: PRNGKey, num_envs: int) -> EnvCarry:
    """Resets `num_envs` environments with independent keys."""
    keys = jax.random.split(key, num_envs)
    state, ts = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    return EnvCarry(state, ts.obs)


def unroll(
    env,
    env_params: Any,
    policy: Policy,
    policy_params: Any,
    carry: EnvCarry,
    key: PRNGKey,
    num_steps: int,
) -> Tuple[EnvCarry, Transition]:
    """Collects `num_steps` steps from the B environments in `carry`.

    `env` must reset itself (wrap it with `jaxac.env.AutoReset`); `next_obs` holds the
    observation before any reset so that truncated steps can bootstrap from it.

    All the randomness of the rollout except the policy's own sampling is drawn up front in
    batched calls: the per-step keys, and (for an `AutoReset` env) the reset state each
    environment would continue from at each step. On CPU every random draw inside a loop is
    itself a small loop (threefry's rounds), so this halves the work of a CartPole step. The
    cost is memory for [num_steps, B] reset states, small next to the transitions for classic
    control. An environment with large, costly states (brax, Playground) sets
    `predraw_resets = False`: it gets one fresh initial state per environment per rollout
    ([B], drawn before the loop), which an environment whose episode ends more than once in
    the rollout reuses. Computing a reset inside every step instead (a vmapped reset runs
    for every environment, ended or not) made brax hopper's rollout ~1.3x slower; brax's own
    auto-reset reuses one initial state per environment for the whole run.

    Returns:
      (carry after the last step, Transition with leaves [num_steps, B, ...]).
    """
    num_envs = carry.obs.shape[0]
    keys = jax.random.split(key, num_steps * (2 * num_envs + 1)).reshape(num_steps, 2 * num_envs + 1)
    policy_keys, step_keys, reset_keys = keys[:, 0], keys[:, 1 : num_envs + 1], keys[:, num_envs + 1 :]
    step_or_reset = jax.vmap(env.step_or_reset, in_axes=(0, 0, 0, None, 0, 0)) if isinstance(env, AutoReset) else None
    if step_or_reset and getattr(env.unwrapped, "predraw_resets", True):
        reset_state, reset_ts = jax.vmap(jax.vmap(env.env.reset, in_axes=(0, None)), in_axes=(0, None))(
            reset_keys, env_params
        )
        step_env = step_or_reset
        xs = (policy_keys, step_keys, reset_state, reset_ts.obs)
    elif step_or_reset:
        rollout_reset, rollout_ts = jax.vmap(env.env.reset, in_axes=(0, None))(reset_keys[0], env_params)

        def step_env(key, state, action, params):
            return step_or_reset(key, state, action, params, rollout_reset, rollout_ts.obs)
        xs = (policy_keys, step_keys)
    else:
        step_env = jax.vmap(env.step, in_axes=(0, 0, 0, None))
        xs = (policy_keys, step_keys)

    def one_step(carry: EnvCarry, xs):
        key_policy, key_env, *reset = xs
        action, env_action, log_prob = policy(policy_params, carry.obs, key_policy)
        state, ts = step_env(key_env, carry.state, env_action, env_params, *reset)
        transition = Transition(
            obs=carry.obs,
            action=action,
            env_action=env_action,
            log_prob=log_prob,
            reward=ts.reward,
            terminated=ts.terminated,
            truncated=ts.truncated,
            next_obs=ts.final_obs,
            episode_return=ts.episode_return,
            episode_length=ts.episode_length,
        )
        return EnvCarry(state, ts.obs), transition

    return jax.lax.scan(one_step, carry, xs)


def episode_metrics(traj: Transition) -> dict:
    """Mean return and length of the episodes that ended in `traj` (NaN if none ended)."""
    done = traj.done
    count = done.sum()
    denom = jax.numpy.maximum(count, 1)
    nan = jax.numpy.nan
    mean_return = (traj.episode_return * done).sum() / denom
    mean_length = (traj.episode_length * done).sum() / denom
    return {
        "episode_return": jax.numpy.where(count > 0, mean_return, nan),
        "episode_length": jax.numpy.where(count > 0, mean_length, nan),
        "episodes": count.astype(jax.numpy.int32),
    }
