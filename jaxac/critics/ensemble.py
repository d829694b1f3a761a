"""An ensemble of any critic: a vmapped leading member axis plus an aggregation rule.

Twin critics (SAC, TD3), REDQ-style ensembles and TQC's N critics are all this: the member
parameters are stacked on a leading axis [E, ...], every member sees the same inputs, and
the members' estimates are combined by a rule that works on `Particles`, so it is the same
for scalar, distributional and flow critics:

- "min": per sample, the particle set of the member with the lowest mean (for scalar
  critics: the clipped double-Q minimum);
- "mean": all members' particles pooled with equal weight (for scalar critics: the mean);
- "truncate": TQC's rule: the pooled particles sorted by value, the top `drop` x E atoms
  (E members, `drop` per member) dropped and the rest renormalised. No min over members.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp

from jaxac.critics.base import Particles
from jaxac.types import Array, Metrics, PRNGKey

AGGREGATES = ("min", "mean", "truncate")


def _pool(p: Particles) -> Particles:
    """[E, ..., N] -> [..., E * N], each member's weights scaled by 1/E."""
    size = p.atoms.shape[0]
    pool = lambda x: jnp.moveaxis(x, 0, -2).reshape(x.shape[1:-1] + (-1,))
    return Particles(pool(p.atoms), pool(p.weights) / size)


def truncate_top(p: Particles, drop: int) -> Particles:
    """The particles [..., N] sorted ascending without their `drop` largest atoms,
    weights renormalised to sum to one: [..., N - drop]."""
    order = jnp.argsort(p.atoms, axis=-1)
    keep = p.atoms.shape[-1] - drop
    atoms = jnp.take_along_axis(p.atoms, order, -1)[..., :keep]
    weights = jnp.take_along_axis(p.weights, order, -1)[..., :keep]
    return Particles(atoms, weights / jnp.maximum(weights.sum(-1, keepdims=True), 1e-12))


def aggregate_particles(p: Particles, rule: str, drop: int = 0) -> Particles:
    """Combines member particles [E, ..., N] into one set [..., N'] by `rule`
    (`drop`: atoms dropped per member by "truncate")."""
    if rule == "min":
        best = jnp.argmin(p.mean(), axis=0)  # [...]
        pick = lambda x: jnp.take_along_axis(x, best[None, ..., None], axis=0)[0]
        return Particles(pick(p.atoms), pick(p.weights))
    if rule == "mean":
        return _pool(p)
    if rule == "truncate":
        return truncate_top(_pool(p), drop * p.atoms.shape[0])
    raise ValueError(f"unknown aggregation {rule!r}; choose one of {AGGREGATES}")


def aggregate_values(v: Array, rule: str) -> Array:
    """Combines member means [E, ...] for the actor: the minimum for "min", the mean for
    "mean" and "truncate" (TQC's actor maximises the mean over all members' atoms)."""
    return v.min(0) if rule == "min" else v.mean(0)


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """`size` independent copies of `critic` (different initialisations), aggregated by `rule`
    (`drop`: atoms per member that "truncate" removes from the pooled target)."""

    critic: Any
    size: int = 2
    rule: str = "min"
    drop: int = 0

    def _keys(self, key):
        return None if key is None else jax.random.split(key, self.size)

    def init(self, key: PRNGKey, obs: Array, action: Optional[Array] = None):
        keys = jax.random.split(key, self.size)
        return jax.vmap(lambda k: self.critic.init(k, obs, action))(keys)

    def values(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Array:
        """Every member's mean estimate, [E, ...]."""
        keys = self._keys(key)
        return jax.vmap(lambda p, k: self.critic.value(p, obs, action, k))(params, keys)

    def value(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Array:
        """The aggregated mean estimate, [...]."""
        return aggregate_values(self.values(params, obs, action, key), self.rule)

    def target(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Particles:
        keys = self._keys(key)
        p = jax.vmap(lambda p, k: self.critic.target(p, obs, action, k))(params, keys)
        return aggregate_particles(p, self.rule, self.drop)

    def loss(self, params, obs: Array, action: Optional[Array], target: Particles,
             key: PRNGKey = None) -> Tuple[Array, Metrics]:
        """Sum over members of each member's loss against the shared target, [...]."""
        keys = self._keys(key)
        losses, metrics = jax.vmap(lambda p, k: self.critic.loss(p, obs, action, target, k))(params, keys)
        return losses.sum(0), metrics
