"""The critic seam: every value representation is the same four pure functions.

    init(key, obs, action | None) -> params
    value(params, obs, action | None, key) -> [...]            mean estimate (actor, GAE)
    target(params, obs, action | None, key) -> Particles       bootstrap values
    loss(params, obs, action | None, target, key)
        -> (loss [...], metrics)

`action=None` makes the critic a state-value V(s); an action makes it Q(s, a). Inputs carry
any leading batch dims. A TD or lambda-return target is an affine map of particles
(`r + discount * atoms`), so an algorithm never asks which critic it has.

`value` is what the actor maximises and GAE uses (the mean for most critics; the pessimistic
`mu - beta sigma` for the Gaussian critic; a distilled head or the integration for the flow
critic). `key=None` gives the deterministic estimate (no dropout). Implementations: scalar,
categorical (C51, HL-Gauss), quantile, gaussian, flow, each registered with its options
(`registry`); any of them can be wrapped in `ensemble.Ensemble`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Protocol, Sequence, Tuple

import jax.numpy as jnp
from flax import struct

from jaxac.networks import MLP
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
        """The expected value, [...]: the weighted mean of the atoms."""
        return (self.atoms * self.weights).sum(-1)


class Critic(Protocol):
    """What every algorithm asks of a critic: V(s) with `action=None`, Q(s, a) otherwise.
    Inputs carry any leading batch dims `[...]`; `key=None` means evaluation (no dropout, no
    noise draws where a critic can avoid them)."""

    def init(self, key: PRNGKey, obs: Array, action: Optional[Array]) -> Any:
        """The critic's parameters, from example inputs obs [obs_dim] (and action [act_dim])."""
        ...

    def value(self, params: Any, obs: Array, action: Optional[Array], key: PRNGKey) -> Array:
        """The mean estimate, [...]: what the actor maximises and GAE uses."""
        ...

    def target(self, params: Any, obs: Array, action: Optional[Array], key: PRNGKey) -> Particles:
        """The bootstrap distribution at the next state, [..., atoms], for a TD target
        `reward + discount * atoms`."""
        ...

    def loss(
        self,
        params: Any,
        obs: Array,
        action: Optional[Array],
        target: Particles,
        key: PRNGKey,
    ) -> Tuple[Array, Metrics]:
        """Per-sample loss [...] towards `target` (not averaged: callers weight and average),
        and metrics of the same shape."""
        ...


def critic_input(obs: Array, action: Optional[Array]) -> Array:
    """[..., obs_dim] or [..., obs_dim + action_dim] for Q(s, a)."""
    if action is None:
        return obs
    return jnp.concatenate([obs, action.astype(obs.dtype)], axis=-1)


@dataclasses.dataclass(frozen=True)
class Head:
    """The network every critic puts on top of its inputs: an MLP with `out_dim` outputs.

    `dropout` > 0 is active whenever the caller passes a key (training and targets, as in
    DroQ/STAC) and off with `key=None` (evaluation).
    """

    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"
    layer_norm: bool = False
    dropout: float = 0.0
    weight_init: str = "orthogonal"  # see jaxac.networks.MLP

    def mlp(self, out_dim: int, out_scale: float = 1.0) -> MLP:
        """The torso with an `out_dim` head (its init scaled by `out_scale`)."""
        return MLP(tuple(self.hidden), out_dim, self.activation, out_scale, self.layer_norm, self.dropout,
                   self.weight_init)

    def apply_mlp(self, mlp: MLP, params, x: Array, key: Optional[Any]) -> Array:
        """`mlp` on x [..., in_dim] -> [..., out_dim], with dropout only when a key is given."""
        if self.dropout > 0 and key is not None:
            return mlp.apply(params, x, deterministic=False, rngs={"dropout": key})
        return mlp.apply(params, x)
