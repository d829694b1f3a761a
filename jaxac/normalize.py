"""Observation normalisation from running statistics kept in the training state.

    norm = ObsNorm(enabled=True)
    stats = norm.init(obs_shape)              # mean 0, variance 1, count 0
    stats = norm.update(stats, obs_batch)     # obs_batch [N, *obs_shape]
    x = norm(stats, obs)                      # (obs - mean) / sqrt(var + eps), clipped to +-10

The statistics are a pytree in each algorithm's `State`, so a seed sweep keeps one set per
seed (they are vmapped with everything else) and checkpoints save and restore them. The
batch update is Chan et al.'s parallel merge of (count, mean, M2), exact for any batch
size: a whole rollout is folded in at once rather than one observation at a time.

Written here rather than taken from brax.training's `running_statistics`: that module lives
in the trainer package that does not run on the pinned jax, averages over a pmap axis we do
not have, and keeps its state in a structure of its own;
this one is twenty lines with the same maths.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax.numpy as jnp
from flax import struct

from jaxac import config as C
from jaxac.types import Array

# SB3's VecNormalize clip: normalised observations beyond 10 standard deviations are
# outliers that would otherwise saturate tanh layers and spike the gradient.
CLIP = 10.0
EPS = 1e-8


@struct.dataclass
class RunningStats:
    """Mean and (population) variance of every observation seen so far, and their count."""

    mean: Array  # [*obs_shape] float32
    var: Array  # [*obs_shape] float32
    count: Array  # [] float32


def init_stats(shape: Sequence[int]) -> RunningStats:
    """No observations yet: mean 0 and variance 1, so normalising is the identity."""
    return RunningStats(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32),
                        jnp.zeros((), jnp.float32))


def merge(stats: RunningStats, batch: Array) -> RunningStats:
    """`stats` updated with `batch` [N, *obs_shape] (Chan et al.'s parallel update)."""
    batch = batch.astype(jnp.float32)
    n = jnp.asarray(batch.shape[0], jnp.float32)
    b_mean = batch.mean(0)
    b_var = batch.var(0)
    total = stats.count + n
    delta = b_mean - stats.mean
    mean = stats.mean + delta * (n / total)
    m2 = stats.var * stats.count + b_var * n + delta**2 * (stats.count * n / total)
    return RunningStats(mean, m2 / total, total)


def normalize(stats: RunningStats, obs: Array, clip: float = CLIP) -> Array:
    """(obs - mean) / sqrt(var + eps), clipped to [-clip, clip]; obs [..., *obs_shape]."""
    x = (obs.astype(jnp.float32) - stats.mean) / jnp.sqrt(stats.var + EPS)
    return jnp.clip(x, -clip, clip)


@dataclasses.dataclass(frozen=True)
class ObsNorm:
    """What an algorithm does with observations: normalise them (`enabled`) or pass them on.

    Disabled, it still carries (unused) statistics, so a state has the same structure either
    way and the algorithms have no branch on it.
    """

    enabled: bool = False

    def init(self, shape: Sequence[int]) -> RunningStats:
        return init_stats(shape)

    def update(self, stats: RunningStats, batch: Array) -> RunningStats:
        """Folds `batch` [N, *obs_shape] into `stats` (unchanged when disabled)."""
        return merge(stats, batch) if self.enabled else stats

    def __call__(self, stats: RunningStats, obs: Array) -> Array:
        return normalize(stats, obs) if self.enabled else obs


def normalized_policy(policy, norm: ObsNorm, stats: RunningStats):
    """`policy` (a `jaxac.rollout.Policy`) acting on `norm(stats, obs)`."""
    def act(params, obs, carry, noise):
        return policy.act(params, norm(stats, obs), carry, noise)
    return policy._replace(act=act)


@C.group
class ObsConfig(C.Group):
    """What the learner does with observations (static): `normalize` them with running
    statistics, and (on-policy) `stats_before_update`: False, the update normalises with the
    statistics the policy acted on (probability ratios start at exactly 1); True,
    brax.training's order: the rollout is folded into the statistics first and the whole
    update uses the new ones."""

    normalize: bool = C.static(False, 'normalise observations with running statistics')
    stats_before_update: bool = C.static(False, "update statistics before the update")
    def norm(self) -> ObsNorm:
        return ObsNorm(self.normalize)
