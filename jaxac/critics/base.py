"""The critic seam: every value representation is the same four pure functions.

    init(key, obs, action | None) -> params
    value(params, obs, action | None, key) -> [...]            mean estimate (actor, GAE)
    target(params, obs, action | None, key) -> Particles       bootstrap values
    loss(params, obs, action | None, target, key, old_value=None, clip=None)
        -> (loss [...], metrics)

`action=None` makes the critic a state-value V(s); an action makes it Q(s, a). Inputs carry
any leading batch dims. A TD or lambda-return target is an affine map of particles
(`r + discount * atoms`), so an algorithm never asks which critic it has.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol, Tuple

import jax.numpy as jnp
from flax import struct

from jaxac.types import Array, Metrics, PRNGKey


@struct.dataclass
class Particles:
    """A weighted set of return samples: atoms and weights [..., N], weights sum to 1."""

    atoms: Array
    weights: Array

    @classmethod
    def point(cls, value: Array) -> "Particles":
        """One atom of weight 1: a scalar target (e.g. a lambda-return)."""
        value = jnp.asarray(value)
        return cls(value[..., None], jnp.ones(value.shape + (1,), value.dtype))

    def affine(self, shift: Array, scale: Array) -> "Particles":
        """`shift + scale * atoms` (a TD backup); shift and scale are [...]."""
        return Particles(shift[..., None] + scale[..., None] * self.atoms, self.weights)

    def mean(self) -> Array:
        return (self.atoms * self.weights).sum(-1)


class Critic(Protocol):
    def init(self, key: PRNGKey, obs: Array, action: Optional[Array]) -> Any: ...

    def value(self, params: Any, obs: Array, action: Optional[Array], key: PRNGKey) -> Array: ...

    def target(self, params: Any, obs: Array, action: Optional[Array], key: PRNGKey) -> Particles: ...

    def loss(
        self,
        params: Any,
        obs: Array,
        action: Optional[Array],
        target: Particles,
        key: PRNGKey,
        old_value: Optional[Array] = None,
        clip: Optional[Array] = None,
    ) -> Tuple[Array, Metrics]: ...
