"""Population-based training (Jaderberg et al. 2017): exploit and explore across the member axis.

    hypers = [pbt.Hyper.parse("optim.learning_rate=loguniform:1e-5:1e-2")]
    values, state, parents = pbt.exploit_explore(key, fitness, values, state, hypers, pbt.Explore())

A population is the vmapped member axis of a run: `values` holds each member's current
hyperparameters ({path: [P]}, float fields of the config, nested ones included) and `state`
its whole learner state (leaves [P, ...]). Every `ready` updates the members are ranked by
`fitness` [P]; each member of the bottom `fraction` copies the whole state of a member drawn
from the top `fraction` (parameters, optimiser moments, target networks, observation
statistics: everything in the state, bit for bit) and its hyperparameters, then explores:
with probability `resample` it draws each hyperparameter afresh within its bounds, otherwise
it multiplies it by one of the `perturb` factors (drawn per hyperparameter) and clips it to
the bounds. The others keep their state and values. The step is array code on [P] leaves,
so inside a jitted program it runs on a population sharded over devices too (XLA gathers
what the copies need).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Sequence, Tuple

import jax
import jax.numpy as jnp

from jaxac import config as C
from jaxac import sweep
from jaxac.types import Array, PRNGKey


@dataclasses.dataclass(frozen=True)
class Hyper:
    """A hyperparameter PBT moves: a float config field and its bounds (`log`: drawn and
    bounded on a log scale)."""

    path: str
    low: float
    high: float
    log: bool = False

    @classmethod
    def parse(cls, item: str) -> "Hyper":
        """`FIELD=uniform:LOW:HIGH` or `FIELD=loguniform:LOW:HIGH` (0 < LOW), as --hyper."""
        sample = sweep.Sample.parse(item, flag="--hyper", choice=False)
        low, high = sample.args
        return cls(sample.path, float(low), float(high), sample.distribution == "loguniform")

    def check(self, cfg: Any) -> None:
        """The field exists and is a float leaf (ConfigError naming the fix otherwise)."""
        if not sweep.is_float_leaf(cfg, self.path):
            raise C.ConfigError(f"--hyper {self.path} is invalid: {self.path} is not a float field; PBT "
                                f"moves float fields only (fix structural ones with their train flag).")

    def draw(self, key: PRNGKey, shape: Tuple[int, ...]) -> Array:
        """Values drawn within the bounds (log-uniform when `log`)."""
        if self.log:
            return jnp.exp(jax.random.uniform(key, shape, minval=math.log(self.low), maxval=math.log(self.high)))
        return jax.random.uniform(key, shape, minval=self.low, maxval=self.high)

    def clip(self, x: Array) -> Array:
        return jnp.clip(x, self.low, self.high)


@dataclasses.dataclass(frozen=True)
class Explore:
    """How a population is renewed: the bottom `fraction` (0 < fraction <= 0.5) copies from
    the top `fraction`, then perturbs by one of `perturb` or, with probability `resample`,
    draws afresh."""

    fraction: float = 0.25
    perturb: Tuple[float, ...] = (0.8, 1.25)
    resample: float = 0.25

    def __post_init__(self):
        if not 0 < self.fraction <= 0.5:
            raise C.ConfigError(f"fraction={self.fraction} is invalid: use 0 < fraction <= 0.5 (the bottom and "
                                f"top fractions must not overlap).")
        if not self.perturb or any(not f > 0 for f in self.perturb):
            raise C.ConfigError(f"perturb={self.perturb} is invalid: use positive factors, e.g. 0.8,1.25.")
        if not 0 <= self.resample <= 1:
            raise C.ConfigError(f"resample={self.resample} is invalid: use a probability in [0, 1].")

    def replaced(self, population: int) -> int:
        """Members replaced (and donors) at each exploit: at least one."""
        return max(1, int(population * self.fraction))


def ranks(fitness: Array) -> Array:
    """[P] member indices from worst to best; NaN (no episode ended, diverged) counts as worst,
    ties keep member order."""
    return jnp.argsort(jnp.where(jnp.isnan(fitness), -jnp.inf, fitness), stable=True)


def exploit_explore(key: PRNGKey, fitness: Array, values: Dict[str, Array], state: Any,
                    hypers: Sequence[Hyper], explore: Explore = Explore()) -> Tuple[Dict[str, Array], Any, Array]:
    """One exploit-and-explore step of a population of P members.

    Args:
      key: PRNG key of this step.
      fitness: [P], higher is better.
      values: {hyper path: [P]} each member's current hyperparameters.
      state: the learner state, every leaf [P, ...].
      hypers: the bounds of each path in `values`.

    Returns:
      (values [P] each, state, parents [P] int32: the member each one's state now comes
      from, itself if it was not replaced).
    """
    population = fitness.shape[0]
    k = explore.replaced(population)
    order = ranks(fitness)
    bottom, top = order[:k], order[population - k:]
    k_donor, k_way, k_factor, k_draw = jax.random.split(key, 4)
    donors = top[jax.random.randint(k_donor, (k,), 0, k)]
    parents = jnp.arange(population, dtype=jnp.int32).at[bottom].set(donors.astype(jnp.int32))
    replaced = jnp.zeros(population, bool).at[bottom].set(True)
    state = jax.tree.map(lambda x: x[parents], state)
    redraw = replaced & (jax.random.uniform(k_way, (population,)) < explore.resample)
    factors = jnp.asarray(explore.perturb, jnp.float32)
    out = {}
    for i, h in enumerate(hypers):
        inherited = values[h.path][parents]
        factor = factors[jax.random.randint(jax.random.fold_in(k_factor, i), (population,), 0, len(explore.perturb))]
        moved = jnp.where(redraw, h.draw(jax.random.fold_in(k_draw, i), (population,)), h.clip(inherited * factor))
        out[h.path] = jnp.where(replaced, moved, values[h.path]).astype(values[h.path].dtype)
    return out, state, parents
