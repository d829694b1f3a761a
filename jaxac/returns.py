"""Advantage and return estimation with the bootstrap value passed separately.

rlax's `truncated_generalized_advantage_estimation` takes one value sequence `v[0..T]` and
bootstraps step t from `v[t+1]`. After an automatic reset `v[t+1]` is the value of the *reset*
observation, so a time-limit truncation cannot bootstrap from the episode's final observation
there. Here `next_value[t]` is V(final observation of step t), so:

    delta_t = r_t + gamma * (1 - terminated_t) * next_value_t - value_t
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   done = terminated | truncated

A terminated step bootstraps from zero; a truncated one from its final observation; the
advantage chain is cut at both.
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp

from jaxac.types import Array


def gae(
    reward: Array,
    value: Array,
    next_value: Array,
    terminated: Array,
    truncated: Array,
    gamma: Array | float,
    lam: Array | float,
) -> Tuple[Array, Array]:
    """Generalised advantage estimates and lambda-returns.

    Args:
      reward: [T, ...] (any trailing batch dims, the same in every argument).
      value: [T, ...] V(obs_t).
      next_value: [T, ...] V of the observation after step t (its pre-reset final one).
      terminated: [T, ...] bool.
      truncated: [T, ...] bool.
      gamma: discount.
      lam: GAE lambda (0: one-step TD, 1: Monte-Carlo with bootstrap).

    Returns:
      (advantages [T, ...], returns [T, ...]) with returns = advantages + value.
    """
    not_terminated = 1.0 - terminated.astype(value.dtype)
    not_done = 1.0 - (terminated | truncated).astype(value.dtype)
    delta = reward + gamma * not_terminated * next_value - value

    def backward(next_adv, xs):
        delta_t, not_done_t = xs
        adv = delta_t + gamma * lam * not_done_t * next_adv
        return adv, adv

    _, adv = jax.lax.scan(
        backward, jnp.zeros_like(delta[0]), (delta, not_done), reverse=True
    )
    return adv, adv + value


def vtrace_advantage(
    reward: Array,
    value: Array,
    next_value: Array,
    target: Array,
    terminated: Array,
    truncated: Array,
    gamma: Array | float,
) -> Array:
    """IMPALA's policy-gradient advantage `r_t + gamma * G_{t+1} - V_t` (V-trace with
    rho = c = 1, i.e. on-policy), where `G_{t+1}` is the next step's lambda-return; this is
    what brax.training's PPO maximises.

    Equal to `delta_t + gamma * A_{t+1}` where GAE has `delta_t + gamma * lambda * A_{t+1}`:
    the step after t counts in full. Where an episode or the sequence ends, `G_{t+1}` is the
    bootstrap `next_value` (zero weight after termination).

    Args:
      reward: [T, ...] as for `gae`.
      value: [T, ...] as for `gae`.
      next_value: [T, ...] as for `gae`.
      terminated: [T, ...] as for `gae`.
      truncated: [T, ...] as for `gae`.
      target: [T, ...] lambda-returns from `gae`.

    Returns:
      advantages [T, ...].
    """
    done = terminated | truncated
    next_target = jnp.concatenate([target[1:], next_value[-1:]])
    next_target = jnp.where(done, next_value, next_target)
    not_terminated = 1.0 - terminated.astype(value.dtype)
    return reward + gamma * not_terminated * next_target - value
