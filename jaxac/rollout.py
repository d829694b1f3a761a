"""The one collection primitive every algorithm uses."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxac.env import AutoReset

from jaxac.types import Array, PRNGKey, Transition


def no_carry(num_envs: int) -> Any:
    """A feed-forward policy's carry: nothing."""
    return ()


class Policy(NamedTuple):
    """A rollout policy whose randomness is drawn for the whole rollout before it starts.

    `noise(key, (T, B))` -> per-step noise with leading [T, B] axes (a pytree);
    `act(params, obs [B, ...], carry [B, ...], noise [B, ...])` -> (action [B, ...],
    env_action [B, ...], log_prob [B], carry [B, ...]); `carry(B)` -> the carry every episode
    starts with (a pytree with a leading [B] axis; () for a feed-forward policy, which then
    costs nothing). The rollout resets an environment's carry where its episode ended.

    On CPU every random draw inside the step loop is its own small loop (threefry's rounds),
    a large part of a small network's rollout. One batched draw up front removes it from the
    loop; the samples have the same distribution.
    """

    noise: Callable[[PRNGKey, Tuple[int, int]], Any]
    act: Callable[[Any, Array, Any, Any], Tuple[Array, Array, Array, Any]]
    carry: Callable[[int], Any] = no_carry


def stateless(act: Callable[[Any, Array, Any], Tuple[Array, Array, Array]]) -> Callable:
    """`act(params, obs, noise)` of a feed-forward policy as a `Policy.act` (its carry passes
    through)."""
    def with_carry(params, obs, carry, noise):
        return (*act(params, obs, noise), carry)
    return with_carry


def keyed(policy: Callable[[Any, Array, PRNGKey], Tuple[Array, Array, Array]]) -> Policy:
    """A feed-forward `Policy` from `policy(params, obs, key)` that draws inside each step (one
    key per step for all B environments: simple, but every step pays for its own random draw)."""
    def noise(key, shape):
        return jax.random.split(key, shape[0])
    return Policy(noise, stateless(policy))


@struct.dataclass
class EnvCarry:
    """B vectorised environments between rollouts: their states, current observations, and
    the acting policy's carry for the next step (() for a feed-forward policy)."""

    state: Any
    obs: Array
    policy: Any = ()


def reset_envs(env, params, key: PRNGKey, num_envs: int, policy_carry: Any = ()) -> EnvCarry:
    """Resets `num_envs` environments with independent keys; `policy_carry` [num_envs, ...] is
    the policy's carry at the episodes' start."""
    keys = jax.random.split(key, num_envs)
    state, ts = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    return EnvCarry(state, ts.obs, policy_carry)


def reset_where(done: Array, start: Any, carry: Any) -> Any:
    """`carry` [B, ...] with the environments where `done` [B] replaced by `start` [B, ...]."""
    def pick(s, c):
        return jnp.where(done.reshape(done.shape + (1,) * (c.ndim - done.ndim)), s, c)
    return jax.tree.map(pick, start, carry)


def unroll(
    env,
    env_params: Any,
    policy: Policy,
    policy_params: Any,
    carry: EnvCarry,
    key: PRNGKey,
    num_steps: int,
    post_decision: bool = False,
) -> Tuple[EnvCarry, Transition]:
    """Collects `num_steps` steps from the B environments in `carry` (with `post_decision`,
    also each step's post-decision observation, `Transition.post_obs`: the environment must
    have them, `jaxac.env.has_post_decision`).

    `env` must reset itself (wrap it with `jaxac.env.AutoReset`); `next_obs` holds the
    observation before any reset so that truncated steps can bootstrap from it.

    All the randomness of the rollout is drawn up front in batched calls: the policy's noise
    (see `Policy`), the per-step env keys, and (for an `AutoReset` env) the reset state each
    environment would continue from at each step. On CPU every random draw inside a loop is
    itself a small loop (threefry's rounds), so this halves the work of a CartPole step. The
    cost is memory for [num_steps, B] reset states, small next to the transitions for classic
    control. An environment with large, costly states (brax, Playground) sets
    `predraw_resets = False`: it gets one fresh initial state per environment per rollout
    ([B], drawn before the loop), which an environment whose episode ends more than once in
    the rollout reuses (a reset inside every step would run for every environment, ended or
    not; brax's own auto-reset reuses one initial state per environment for the whole run).

    The policy's carry (`carry.policy`) goes with the environments: each step's action is
    taken with it (stored as `Transition.policy_carry`), the policy's new carry is stored as
    `next_policy_carry` and, where the episode ended (terminated or truncated), replaced by
    the policy's starting carry for the next episode.

    Returns:
      (carry after the last step, Transition with leaves [num_steps, B, ...]).
    """
    num_envs = carry.obs.shape[0]
    start = policy.carry(num_envs)
    decided = jax.vmap(env.post_decision, in_axes=(0, 0, None)) if post_decision else None
    key, k_policy = jax.random.split(key)
    policy_noise = policy.noise(k_policy, (num_steps, num_envs))
    keys = jax.random.split(key, num_steps * 2 * num_envs).reshape(num_steps, 2 * num_envs)
    step_keys, reset_keys = keys[:, :num_envs], keys[:, num_envs:]
    step_or_reset = jax.vmap(env.step_or_reset, in_axes=(0, 0, 0, None, 0, 0)) if isinstance(env, AutoReset) else None
    if step_or_reset and getattr(env.unwrapped, "predraw_resets", True):
        reset_state, reset_ts = jax.vmap(jax.vmap(env.env.reset, in_axes=(0, None)), in_axes=(0, None))(
            reset_keys, env_params
        )
        step_env = step_or_reset
        xs = (policy_noise, step_keys, reset_state, reset_ts.obs)
    elif step_or_reset:
        rollout_reset, rollout_ts = jax.vmap(env.env.reset, in_axes=(0, None))(reset_keys[0], env_params)

        def step_env(key, state, action, params):
            return step_or_reset(key, state, action, params, rollout_reset, rollout_ts.obs)
        xs = (policy_noise, step_keys)
    else:
        step_env = jax.vmap(env.step, in_axes=(0, 0, 0, None))
        xs = (policy_noise, step_keys)

    def one_step(carry: EnvCarry, xs):
        noise, key_env, *reset = xs
        action, env_action, log_prob, acted = policy.act(policy_params, carry.obs, carry.policy, noise)
        post_obs = decided(carry.state, env_action, env_params) if post_decision else None
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
            post_obs=post_obs,
            policy_carry=carry.policy,
            next_policy_carry=acted,
        )
        return EnvCarry(state, ts.obs, reset_where(ts.done, start, acted)), transition

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
