"""The Gaussian critic (STAC, Oezalp 2026): a mean and a standard deviation per input.

The head outputs mu and `softplus(raw) + min_std`; the loss is the Gaussian negative
log-likelihood of the target atoms (weighted). Both the actor's value and the bootstrap
target are the pessimistic `mu - beta * sigma`, so a single critic can stand in for the
min over an ensemble; STAC adds dropout and LayerNorm to the torso (`Head` options).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxac import config as C
from jaxac.critics import registry
from jaxac.critics.base import Head, Particles, critic_input
from jaxac.types import Array, Metrics, PRNGKey


def gaussian_nll(mean: Array, std: Array, target: Particles) -> Array:
    """-E_{y~target} log N(y; mean, std^2), [...] for mean and std [...], particles [..., K]."""
    z = (target.atoms - mean[..., None]) / std[..., None]
    nll = 0.5 * z**2 + jnp.log(std)[..., None] + 0.5 * np.log(2.0 * np.pi)
    return (nll * target.weights).sum(-1)


@dataclasses.dataclass(frozen=True)
class GaussianCritic(Head):
    """Mean and std heads; pessimism `beta` (0 to 0.5 per task in STAC)."""

    beta: Any = 0.0
    min_std: float = 1e-3

    def _mlp(self):
        return self.mlp(2)

    def init(self, key: PRNGKey, obs: Array, action: Optional[Array] = None):
        return self._mlp().init(key, critic_input(obs, action))

    def mean_std(self, params, obs: Array, action: Optional[Array], key: Optional[PRNGKey]):
        out = self.apply_mlp(self._mlp(), params, critic_input(obs, action), key)
        return out[..., 0], jax.nn.softplus(out[..., 1]) + self.min_std

    def value(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Array:
        mean, std = self.mean_std(params, obs, action, key)
        return mean - self.beta * std

    def target(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Particles:
        return Particles.point(self.value(params, obs, action, key))

    def loss(self, params, obs: Array, action: Optional[Array], target: Particles,
             key: PRNGKey = None) -> Tuple[Array, Metrics]:
        """Gaussian NLL."""
        mean, std = self.mean_std(params, obs, action, key)
        nll = gaussian_nll(mean, std, jax.lax.stop_gradient(target))
        return nll, {"value": mean, "std": std}


@registry.register("gaussian", "mean and std, Gaussian NLL, pessimistic mu - beta sigma", "STAC, Oezalp 2026")
@C.group
class GaussianSpec(registry.Spec):
    """Gaussian critic options: `beta` (a leaf) is the pessimism of `mu - beta sigma`."""

    beta: float = C.leaf(0.0, 'pessimism of mu - beta sigma')
    def validate(self, prefix: str = "critic.") -> None:
        super().validate(prefix)
        C.check_number(f"{prefix}beta", self.beta, C.non_negative, ">= 0")

    def build(self, ctx: registry.Context) -> GaussianCritic:
        return GaussianCritic(**self.head(ctx), beta=self.beta)
