"""The quantile critic (QR-DQN; TQC's members): M quantiles at midpoint fractions.

The head outputs M values `theta_m` that estimate the quantiles at `tau_m = (2m - 1) / 2M`;
the value is their mean and the target is the M atoms with equal weights. The loss is the
quantile Huber loss over every (prediction, target atom) pair:

    rho(delta) = |tau_m - 1[delta < 0]| * Huber_kappa(delta) / kappa,   delta = y_j - theta_m

averaged over m and weighted over j by the target weights. TQC's truncation is an ensemble
aggregation rule (`jaxac.critics.ensemble`), not part of the member.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Optional, Tuple

import jax
import jax.numpy as jnp

from jaxac import config as C
from jaxac.critics import registry
from jaxac.critics.base import Head, Particles, critic_input
from jaxac.types import Array, Metrics, PRNGKey


def midpoint_fractions(m: int) -> Array:
    """tau_m = (2m - 1) / (2M), m = 1..M."""
    return (2.0 * jnp.arange(m) + 1.0) / (2.0 * m)


def huber(x: Array, kappa: Array) -> Array:
    """0.5 x^2 for |x| <= kappa, kappa (|x| - 0.5 kappa) beyond."""
    a = jnp.abs(x)
    return jnp.where(a <= kappa, 0.5 * x**2, kappa * (a - 0.5 * kappa))


def quantile_huber_loss(quantiles: Array, target: Particles, kappa: Array) -> Array:
    """Quantile Huber loss of predicted quantiles [..., M] against particles [..., K]; [...]."""
    tau = midpoint_fractions(quantiles.shape[-1])
    delta = target.atoms[..., None, :] - quantiles[..., :, None]  # [..., M, K]
    weight = jnp.abs(tau[:, None] - (delta < 0).astype(quantiles.dtype))
    pair = weight * huber(delta, kappa) / kappa
    return (pair * target.weights[..., None, :]).sum(-1).mean(-1)


@dataclasses.dataclass(frozen=True)
class QuantileCritic(Head):
    """`num_quantiles` quantiles, quantile Huber loss with threshold `kappa`."""

    num_quantiles: int = 25
    kappa: Any = 1.0

    def _mlp(self):
        return self.mlp(self.num_quantiles)

    def init(self, key: PRNGKey, obs: Array, action: Optional[Array] = None):
        return self._mlp().init(key, critic_input(obs, action))

    def quantiles(self, params, obs: Array, action: Optional[Array], key: Optional[PRNGKey]) -> Array:
        return self.apply_mlp(self._mlp(), params, critic_input(obs, action), key)

    def value(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Array:
        return self.quantiles(params, obs, action, key).mean(-1)

    def target(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Particles:
        q = self.quantiles(params, obs, action, key)
        return Particles(q, jnp.full(q.shape, 1.0 / self.num_quantiles, q.dtype))

    def loss(self, params, obs: Array, action: Optional[Array], target: Particles,
             key: PRNGKey = None) -> Tuple[Array, Metrics]:
        q = self.quantiles(params, obs, action, key)
        target = jax.lax.stop_gradient(target)
        return quantile_huber_loss(q, target, self.kappa), {"value": q.mean(-1)}


@registry.register("quantile", "M quantiles at midpoint fractions, quantile Huber loss", "Dabney et al. 2018")
@C.group
class QuantileSpec(registry.Spec):
    """Quantile critic options. `drop`: atoms per ensemble member the "truncate" rule drops
    from the pooled target (TQC's d). `kappa` (a leaf) is the Huber threshold."""

    truncatable: ClassVar[bool] = True

    num_quantiles: int = C.static(25, 'quantiles per critic')
    drop: int = C.static(2, 'atoms dropped per member by aggregate=truncate (TQC d)')
    kappa: float = C.leaf(1.0, 'quantile Huber threshold')
    def validate(self, prefix: str = "critic.") -> None:
        super().validate(prefix)
        C.check_positive_int(f"{prefix}num_quantiles", self.num_quantiles)
        if not isinstance(self.drop, int) or not 0 <= self.drop < self.num_quantiles:
            raise C.ConfigError(f"{prefix}drop={self.drop!r} is invalid: use an integer in [0, "
                                f"num_quantiles={self.num_quantiles}).")
        C.check_number(f"{prefix}kappa", self.kappa, C.positive, "> 0")

    def ensemble_drop(self) -> int:
        return self.drop

    def build(self, ctx: registry.Context) -> QuantileCritic:
        return QuantileCritic(**self.head(ctx), num_quantiles=self.num_quantiles, kappa=self.kappa)


@registry.register("tqc", "quantile members, pooled target atoms with the top d per member dropped",
                   "Kuznetsov et al. 2020")
@C.group
class TQCSpec(QuantileSpec):
    """TQC: the quantile critic whose ensemble truncates by default."""

    default_aggregate: ClassVar[str] = "truncate"
