"""The scalar critic: one MLP output regressed onto the mean of the target particles."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import jax.numpy as jnp

from jaxac.critics.base import Particles
from jaxac.networks import MLP
from jaxac.types import Array, Metrics, PRNGKey


def critic_input(obs: Array, action: Optional[Array]) -> Array:
    """[..., obs_dim] or [..., obs_dim + action_dim] for Q(s, a)."""
    if action is None:
        return obs
    return jnp.concatenate([obs, action.astype(obs.dtype)], axis=-1)


@dataclasses.dataclass(frozen=True)
class ScalarCritic:
    """V(s) or Q(s, a) as one number; squared-error loss 0.5 (V - E[target])^2.

    With `old_value` and `clip` the loss is PPO's clipped value loss,
    0.5 max((V - y)^2, (V_old + clip(V - V_old, -c, c) - y)^2).
    """

    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"
    layer_norm: bool = False

    @property
    def net(self) -> MLP:
        return MLP(tuple(self.hidden), 1, self.activation, out_scale=1.0, layer_norm=self.layer_norm)

    def init(self, key: PRNGKey, obs: Array, action: Optional[Array] = None):
        return self.net.init(key, critic_input(obs, action))

    def value(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Array:
        return self.net.apply(params, critic_input(obs, action))[..., 0]

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
