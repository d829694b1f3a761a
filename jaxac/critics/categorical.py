"""Critics with a categorical head over fixed bins: C51 and HL-Gauss.

Both predict logits over N bins and read the value as the mean of the histogram; they differ
in what they are trained towards:

- **C51** (Bellemare et al. 2017): the target *distribution* (any `Particles`) projected onto
  the support `z = linspace(v_min, v_max, N)`; its `target` is the full distribution.
- **HL-Gauss** (Farebrother et al. 2024): the histogram of a Gaussian of std `sigma_ratio`
  bin widths centred at each target atom; its `target` is the scalar mean, so it is a
  classification loss for a scalar regression problem (PPO's V as well as SAC's Q).

The projection is written here rather than taken from rlax: `categorical_l2_project` there is
per-sample (vmaps nested over batch, actions and ensemble members), builds a dense
[K, N] kernel, and rlax is not otherwise a dependency; the scatter-add below is batched,
linear in the number of atoms, and has the l == u case right by construction.
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


def categorical_projection(target: Particles, support: Array) -> Array:
    """Projects particles onto an evenly spaced support; probabilities [..., N].

    Each atom is clipped to [z_0, z_{N-1}], `b = (atom - z_0) / dz`, and its weight split
    between the neighbouring points `l = floor(b)` and `l + 1` as `(1 - (b - l), b - l)`. An
    atom exactly on a support point (b integral, l == u) keeps all its mass there, and the
    projected masses always sum to the particles' total weight. A scatter-add: O(K) per
    sample rather than the O(K N) of a dense kernel.

    Args:
      target: atoms and weights [..., K].
      support: [N] increasing, evenly spaced.
    """
    n = support.shape[-1]
    dz = (support[-1] - support[0]) / (n - 1)
    b = (jnp.clip(target.atoms, support[0], support[-1]) - support[0]) / dz  # [..., K]
    lower = jnp.clip(jnp.floor(b), 0, n - 1)
    frac = b - lower
    lower = lower.astype(jnp.int32)
    upper = jnp.minimum(lower + 1, n - 1)
    rows = int(np.prod(b.shape[:-1]))
    flat = lambda x: x.reshape(rows, -1)
    index = jnp.arange(rows)[:, None]
    probs = jnp.zeros((rows, n), target.weights.dtype)
    probs = probs.at[index, flat(lower)].add(flat(target.weights * (1.0 - frac)))
    probs = probs.at[index, flat(upper)].add(flat(target.weights * frac))
    return probs.reshape(b.shape[:-1] + (n,))


def hl_gauss_probs(target: Particles, edges: Array, sigma: Array) -> Array:
    """Histogram [..., N] of a mixture of Gaussians N(atom, sigma^2) over bins with `edges` [N+1].

    Bin k gets `Phi((e_{k+1} - y) / sigma) - Phi((e_k - y) / sigma)` per atom y, renormalised
    to the mass the bins cover (so each atom contributes exactly its weight), then mixed by
    the particle weights.
    """
    cdf = jax.scipy.special.ndtr((edges - target.atoms[..., None]) / sigma)  # [..., K, N+1]
    mass = cdf[..., 1:] - cdf[..., :-1]
    covered = jnp.maximum(cdf[..., -1:] - cdf[..., :1], 1e-12)
    return jnp.einsum("...k,...kn->...n", target.weights, mass / covered)


def cross_entropy(probs: Array, logits: Array) -> Array:
    """-sum_n probs_n log softmax(logits)_n over the last axis."""
    return -(probs * jax.nn.log_softmax(logits)).sum(-1)


@dataclasses.dataclass(frozen=True)
class _Binned(Head):
    """A categorical head over `num_bins` bins covering [v_min, v_max]."""

    v_min: Any = -10.0
    v_max: Any = 10.0
    num_bins: int = 101

    def init(self, key: PRNGKey, obs: Array, action: Optional[Array] = None):
        return self.mlp(self.num_bins).init(key, critic_input(obs, action))

    def logits(self, params, obs: Array, action: Optional[Array], key: Optional[PRNGKey]) -> Array:
        return self.apply_mlp(self.mlp(self.num_bins), params, critic_input(obs, action), key)

    def centres(self) -> Array:
        raise NotImplementedError

    def value(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Array:
        return (jax.nn.softmax(self.logits(params, obs, action, key)) * self.centres()).sum(-1)

    def target_probs(self, target: Particles) -> Array:
        raise NotImplementedError

    def loss(self, params, obs: Array, action: Optional[Array], target: Particles,
             key: PRNGKey = None) -> Tuple[Array, Metrics]:
        """Cross-entropy to the target histogram."""
        logits = self.logits(params, obs, action, key)
        value = (jax.nn.softmax(logits) * self.centres()).sum(-1)
        return cross_entropy(jax.lax.stop_gradient(self.target_probs(target)), logits), {"value": value}


@dataclasses.dataclass(frozen=True)
class CategoricalCritic(_Binned):
    """C51: support `linspace(v_min, v_max, num_bins)`, projected targets, cross-entropy."""

    def centres(self) -> Array:
        return jnp.linspace(self.v_min, self.v_max, self.num_bins)

    def target(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Particles:
        probs = jax.nn.softmax(self.logits(params, obs, action, key))
        return Particles(jnp.broadcast_to(self.centres(), probs.shape), probs)

    def target_probs(self, target: Particles) -> Array:
        return categorical_projection(target, self.centres())


@dataclasses.dataclass(frozen=True)
class HLGaussCritic(_Binned):
    """HL-Gauss: `num_bins` equal bins on [v_min, v_max], Gaussian-smoothed scalar targets
    with std `sigma_ratio` x bin width (0.75, the paper's recommendation)."""

    sigma_ratio: Any = 0.75

    def edges(self) -> Array:
        return jnp.linspace(self.v_min, self.v_max, self.num_bins + 1)

    def centres(self) -> Array:
        e = self.edges()
        return 0.5 * (e[1:] + e[:-1])

    def target(self, params, obs: Array, action: Optional[Array] = None, key: PRNGKey = None) -> Particles:
        return Particles.point(self.value(params, obs, action, key))

    def target_probs(self, target: Particles) -> Array:
        """The Gaussian histogram of the target's mean: a scalar target, as in the paper
        (a mixture target, e.g. over discrete next actions, is collapsed to its mean)."""
        width = (self.v_max - self.v_min) / self.num_bins
        return hl_gauss_probs(Particles.point(target.mean()), self.edges(), self.sigma_ratio * width)


def _check_bins(name: str, value: Any) -> None:
    if not isinstance(value, int) or value < 2:
        raise C.ConfigError(f"{name}={value!r} is invalid: use an integer >= 2.")


@registry.register("c51", "categorical over a fixed support, projected target, cross-entropy",
                   "Bellemare et al. 2017")
@C.group
class C51Spec(registry.RangedSpec):
    """C51 options: `num_bins` atoms over the value range."""

    num_bins: int = C.static(101, 'bins over the value range')
    def validate(self, prefix: str = "critic.") -> None:
        super().validate(prefix)
        _check_bins(f"{prefix}num_bins", self.num_bins)

    def build(self, ctx: registry.Context) -> CategoricalCritic:
        v_min, v_max = self.value_range(ctx)
        return CategoricalCritic(**self.head(ctx), v_min=v_min, v_max=v_max, num_bins=self.num_bins)


@registry.register("hlgauss", "categorical head, cross-entropy to a Gaussian-smoothed scalar target",
                   "Farebrother et al. 2024")
@C.group
class HLGaussSpec(registry.RangedSpec):
    """HL-Gauss options: `num_bins` bins; `hl_sigma` (a leaf) is the Gaussian's std in bin
    widths."""

    num_bins: int = C.static(101, 'bins over the value range')
    hl_sigma: float = C.leaf(0.75, 'Gaussian std in bin widths')
    def validate(self, prefix: str = "critic.") -> None:
        super().validate(prefix)
        _check_bins(f"{prefix}num_bins", self.num_bins)
        C.check_number(f"{prefix}hl_sigma", self.hl_sigma, C.positive, "> 0")

    def build(self, ctx: registry.Context) -> HLGaussCritic:
        v_min, v_max = self.value_range(ctx)
        return HLGaussCritic(**self.head(ctx), v_min=v_min, v_max=v_max, num_bins=self.num_bins,
                             sigma_ratio=self.hl_sigma)
