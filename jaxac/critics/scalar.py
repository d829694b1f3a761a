"""The scalar critic: one MLP output regressed onto the mean of the target particles."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional, Tuple

from jaxac import config as C

from jaxac.critics import registry
from jaxac.critics.base import Head, Particles, critic_input
from jaxac.types import Array, Metrics, PRNGKey


@dataclasses.dataclass(frozen=True)
class ScalarCritic(Head):
    """V(s) or Q(s, a) as one number; squared-error loss 0.5 (V - E[target])^2."""

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
    ) -> Tuple[Array, Metrics]:
        pred = self.value(params, obs, action, key)
        return 0.5 * (pred - target.mean()) ** 2, {"value": pred}


@registry.register("scalar", "one number, squared error")
@C.group
class ScalarSpec(registry.Spec):
    """The scalar critic's options: only the shared torso options."""

    regression: ClassVar[bool] = True

    def build(self, ctx: registry.Context) -> ScalarCritic:
        return ScalarCritic(**self.head(ctx))
