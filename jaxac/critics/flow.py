"""The flow-matching critic (floq, Agrawalla et al. 2025).

A velocity network `v(s, a, z, t)` (a scalar) is integrated with K Euler steps from noise
`z_0 ~ U[c - kappa W / 2, c + kappa W / 2]` (W = v_max - v_min, c its centre) to a value:

    z_{i+1} = z_i + v(s, a, z_i, i / K) / K

Training regresses the velocity at a random point of the straight path from noise to the
target, `z_t = (1 - t) x_0 + t y`, onto `y - x_0` (velocities, not values, are supervised).
The target `y` is the expected value of the target particles; `target` integrates the (target)
network from `num_samples` (R) noise draws and returns them as equal-weight particles, so the
TD target is their average: an expected-value target.

Inputs: z enters as a min-max scaled scalar plus an HL-Gauss histogram embedding over
[v_min, v_max] (`num_bins` bins, sigma = 0.75 bin width), t as cosine features cos(pi k t).
The network outputs velocities in units of W, so its initial outputs are O(1) on any scale.

The value the actor (and GAE) sees, `value`, is either
- "integrate" (default): the integration itself, from the centre of the noise interval,
  differentiated through all K steps, or
- "distill": a separate one-step scalar head trained by MSE towards the integrated value of
  the online velocity field (floq's released code; cheap for the actor, but it lags the
  velocity field: see `FlowSpec.actor_value`).
Integration for `value` and `distill` starts from the noise centre so it is deterministic.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp

from jaxac import config as C
from jaxac.critics import registry
from jaxac.critics.base import Head, Particles, critic_input
from jaxac.types import Array, Metrics, PRNGKey

ACTOR_VALUES = ("distill", "integrate")
TIME_FEATURES = 8


def euler_integrate(velocity, z0: Array, steps: int) -> Array:
    """z after `steps` Euler steps of dz/dt = velocity(z, t) from z0 at t = 0 to t = 1."""
    def body(i, z):
        return z + velocity(z, i / steps) / steps
    return jax.lax.fori_loop(0, steps, body, z0)


def smoothed_histogram(z: Array, edges: Array, sigma: Array) -> Array:
    """HL-Gauss-style histogram features of z [...] -> [..., N] over bins with `edges` [N+1],
    normalised to the covered mass. The normal CDF is replaced by the logistic
    `sigmoid(1.702 x)` (max error 0.01): these are input features, not a loss, and it is
    cheaper on CPU, where the R x K integration steps of each target evaluate it."""
    cdf = jax.nn.sigmoid(1.702 * (edges - z[..., None]) / sigma)
    return (cdf[..., 1:] - cdf[..., :-1]) / jnp.maximum(cdf[..., -1:] - cdf[..., :1], 1e-12)


def time_embedding(t: Array) -> Array:
    """cos(pi k t), k = 0..7: [...] -> [..., 8]."""
    return jnp.cos(jnp.pi * jnp.arange(TIME_FEATURES) * jnp.asarray(t)[..., None])


@dataclasses.dataclass(frozen=True)
class FlowCritic(Head):
    """The flow-matching critic (floq): a velocity field v(s, a, z, t) whose Euler integration
    from noise (over `noise` x the value range) gives return samples; options in `FlowSpec`."""

    v_min: Any = -10.0
    v_max: Any = 10.0
    steps: int = 8  # K
    noise_fraction: Any = 0.25  # kappa
    num_samples: int = 8  # R
    num_bins: int = 51
    actor_value: str = "integrate"

    # --- pieces -------------------------------------------------------------------------
    @property
    def width(self):
        return self.v_max - self.v_min

    def noise_bounds(self) -> Tuple[Any, Any]:
        centre, half = 0.5 * (self.v_min + self.v_max), 0.5 * self.noise_fraction * self.width
        return centre - half, centre + half

    def noise(self, key: PRNGKey, shape) -> Array:
        lo, hi = self.noise_bounds()
        return jax.random.uniform(key, shape, minval=lo, maxval=hi)

    def _embed_z(self, z: Array) -> Array:
        """[...] -> [..., num_bins + 1]: scaled scalar and histogram embedding."""
        edges = jnp.linspace(self.v_min, self.v_max, self.num_bins + 1)
        sigma = 0.75 * self.width / self.num_bins
        hist = smoothed_histogram(jnp.clip(z, self.v_min, self.v_max), edges, sigma)
        scaled = 2.0 * (z - self.v_min) / self.width - 1.0
        return jnp.concatenate([scaled[..., None], hist], -1)

    def _inputs(self, x: Array, z: Array, t: Array) -> Array:
        t = jnp.broadcast_to(t, z.shape)
        return jnp.concatenate([x, self._embed_z(z), time_embedding(t)], -1)

    def velocity(self, params, x: Array, z: Array, t: Array, key: Optional[PRNGKey] = None) -> Array:
        """v(s, a, z, t) in value units: x [..., D], z and t [...] -> [...]."""
        out = self.apply_mlp(self.mlp(1), params["velocity"], self._inputs(x, z, t), key)
        return out[..., 0] * self.width

    def integrate(self, params, x: Array, z0: Array, key: Optional[PRNGKey] = None) -> Array:
        return euler_integrate(lambda z, t: self.velocity(params, x, z, t, key), z0, self.steps)

    def _centre(self, x: Array) -> Array:
        return jnp.full(x.shape[:-1], 0.5 * (self.v_min + self.v_max), x.dtype)

    def _distilled(self, params, x: Array, key) -> Array:
        return self.apply_mlp(self.mlp(1), params["distill"], x, key)[..., 0]

    # --- protocol -----------------------------------------------------------------------
    def init(self, key: PRNGKey, obs: Array, action: Optional[Array] = None):
        x = critic_input(obs, action)
        k_v, k_d = jax.random.split(key)
        z = self._centre(x)
        params = {"velocity": self.mlp(1).init(k_v, self._inputs(x, z, jnp.zeros_like(z)))}
        if self.actor_value == "distill":
            params["distill"] = self.mlp(1).init(k_d, x)
        return params

    def value(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Array:
        x = critic_input(obs, action)
        if self.actor_value == "distill":
            return self._distilled(params, x, key)
        return self.integrate(params, x, self._centre(x), key)

    def target(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Particles:
        """R integrated samples from fresh noise, equal weights: [..., R]."""
        x = critic_input(obs, action)
        k_noise, k_net = jax.random.split(key)
        z0 = self.noise(k_noise, (self.num_samples,) + x.shape[:-1])
        xs = jnp.broadcast_to(x, (self.num_samples,) + x.shape)
        samples = jnp.moveaxis(self.integrate(params, xs, z0, k_net), 0, -1)
        return Particles(samples, jnp.full(samples.shape, 1.0 / self.num_samples, samples.dtype))

    def loss(self, params, obs: Array, action: Optional[Array], target: Particles,
             key: PRNGKey = None) -> Tuple[Array, Metrics]:
        """Velocity regression onto `y - x_0` at `z_t = (1 - t) x_0 + t y`, in units of W^2,
        plus (distill) the one-step head's squared error to the integrated value."""
        x = critic_input(obs, action)
        y = jax.lax.stop_gradient(target.mean())
        k_t, k_noise, k_net, k_int, k_d = jax.random.split(key, 5)
        t = jax.random.uniform(k_t, y.shape)
        x0 = self.noise(k_noise, y.shape)
        z_t = (1.0 - t) * x0 + t * y
        v = self.velocity(params, x, z_t, t, k_net)
        loss = ((v - (y - x0)) / self.width) ** 2
        metrics = {}
        if self.actor_value == "distill":
            q = jax.lax.stop_gradient(self.integrate(params, x, self._centre(x), k_int))
            d = self._distilled(params, x, k_d)
            loss = loss + ((d - q) / self.width) ** 2
            metrics["distill_error"] = jnp.abs(d - q)
        return loss, metrics


@registry.register("flow", "velocity field integrated from noise to a value (flow matching)",
                   "floq, Agrawalla et al. 2025")
@C.group
class FlowSpec(registry.RangedSpec):
    """Flow critic options: `steps` Euler steps (K), `samples` noise samples per target (R),
    `bins` of the histogram embedding of z, `actor_value` (integrate | distill: the value the
    actor and GAE read; the integration itself by default, since floq's distilled head lags
    it), and `noise` (a leaf): the noise interval as a fraction of the value range (kappa)."""

    steps: int = C.static(8, 'Euler integration steps')
    samples: int = C.static(8, 'noise samples per target')
    bins: int = C.static(51, 'histogram embedding bins of z')
    actor_value: str = C.static("integrate", 'value the actor reads: the integration or a distilled head', choices=ACTOR_VALUES)
    noise: float = C.leaf(0.25, 'noise interval as a fraction of the value range')
    def validate(self, prefix: str = "critic.") -> None:
        super().validate(prefix)
        C.check_choice(f"{prefix}actor_value", self.actor_value, ACTOR_VALUES)
        if not isinstance(self.bins, int) or self.bins < 2:
            raise C.ConfigError(f"{prefix}bins={self.bins!r} is invalid: use an integer >= 2.")
        C.check_positive_int(f"{prefix}steps", self.steps)
        C.check_positive_int(f"{prefix}samples", self.samples)
        C.check_number(f"{prefix}noise", self.noise, lambda x: (x > 0) & (x <= 1), "in (0, 1]")

    def build(self, ctx: registry.Context) -> FlowCritic:
        v_min, v_max = self.value_range(ctx)
        return FlowCritic(**self.head(ctx), v_min=v_min, v_max=v_max, steps=self.steps,
                          noise_fraction=self.noise, num_samples=self.samples, num_bins=self.bins,
                          actor_value=self.actor_value)
