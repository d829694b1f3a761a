"""The scalar critic: one MLP output regressed onto the mean of the target particles."""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import jax.numpy as jnp

from jaxac.critics.base import Head, Particles, critic_input
from jaxac.types import Array, Metrics, PRNGKey


@dataclasses.dataclass(frozen=True)
class ScalarCritic(Head):
    """V(s) or Q(s, a) as one number; squared-error loss 0.5 (V - E[target])^2.

    With `old_value` and `clip` the loss is PPO's clipped value loss,
    0.5 max((V - y)^2, (V_old + clip(V - V_old, -c, c) - y)^2).
    """

    def init(self, key: PRNGKey, obs: Array, action: Optional[Array] = None):
        return self.mlp(1).init(key, critic_input(obs, action))

    def value(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Array:
        return self.apply_mlp(self.mlp(1), params, critic_input(obs, action), key)[..., 0]

    def target(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Particles:
        return Particles.point(self.value(params, obs, action, key))

    def loss(
        self,
        params,
        obs: Array,
        action: Optional[Array],
        target: Particles,
        key: PRNGKey = None,
        old_value: Optional[Array] = None,
        clip: Optional[Array] = None,
    ) -> Tuple[Array, Metrics]:
        pred = self.value(params, obs, action, key)
        y = target.mean()
        err = (pred - y) ** 2
        if old_value is not None:
            clipped = old_value + jnp.clip(pred - old_value, -clip, clip)
            err = jnp.maximum(err, (clipped - y) ** 2)
        return 0.5 * err, {"value": pred}
