"""Proximal Policy Optimisation (clipped objective) for discrete and continuous actions.

    cfg = jaxac.ppo.Config(env="CartPole-v1", total_steps=500_000)
    state, metrics = jax.jit(jaxac.ppo.train)(cfg, jax.random.key(0))

One update = one rollout of `rollout_length` x `num_envs`, GAE with separate bootstrap values, then
`update_epochs` passes of `num_minibatches` clipped-objective steps. Minibatches are of single
transitions, or (`segment_length`) of whole segments of consecutive steps whose advantages each
minibatch re-estimates with the current critic (brax.training's shape of update). The value function is a
`jaxac.critics` critic used through its protocol only. Rollout, batch and loss are shared with
A2C (`jaxac.algos.onpolicy`).
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp

from jaxac import config as C
from jaxac.algos import onpolicy
from jaxac.algos.onpolicy import Batch, State  # noqa: F401  (part of the API)
from jaxac.rng import classic_threefry
from jaxac.train import run
from jaxac.types import Array, Metrics, PRNGKey


@C.group
class Config(onpolicy.Config):
    """PPO hyperparameters. Defaults are PureJaxRL's CartPole configuration.

    Static, besides the shared ones: update_epochs, num_minibatches, clip_value_loss,
    recompute_advantages, segment_length. Leaf, besides the shared ones: clip_eps.
    """

    update_epochs: int = C.static(4, 'passes over each rollout')
    num_minibatches: int = C.static(4, 'minibatches per epoch')
    clip_eps: float = C.leaf(0.2, 'probability-ratio clip')
    # others have no clipped form and train unclipped
    clip_value_loss: bool = C.static(True, "PPO's clipped value loss (squared-error critics)")
    # then (Andrychowicz et al. 2021), at one critic pass over the rollout per epoch
    recompute_advantages: bool = C.static(False, 're-estimate advantages every epoch')
    # rollout. L > 0: minibatches of whole L-step segments of one env, each minibatch
    # re-estimating its segments' advantages with the current critic, bootstrapping from
    # the observation after each segment (brax.training's `unroll_length`)
    segment_length: int = C.static(0, 'minibatches of L-step segments (0: of steps)')
    def validate(self, prefix: str = "") -> None:
        super().validate(prefix)
        C.check_divides("num_minibatches", self.num_minibatches, self.steps_per_update,
                        "the batch num_envs * rollout_length")
        if self.segment_length:
            self._validate_segments()
        C.check_number("clip_eps", self.clip_eps, C.positive, "> 0")

    def size_fields(self):
        return super().size_fields() + ("update_epochs", "num_minibatches")

    def _validate_segments(self) -> None:
        C.check_positive_int("segment_length", self.segment_length)
        C.check_divides("segment_length", self.segment_length, self.rollout_length, "rollout_length")
        C.check_divides("num_minibatches", self.num_minibatches, self.num_segments,
                        f"the number of segments num_envs * rollout_length / segment_length="
                        f"{self.segment_length}")
        if self.recompute_advantages:
            raise C.ConfigError(
                "recompute_advantages=True is redundant with segment_length: every minibatch "
                "re-estimates its advantages already; leave recompute_advantages False."
            )

    @property
    def num_segments(self) -> int:
        """Segments per rollout when `segment_length` > 0."""
        return self.steps_per_update // self.segment_length if self.segment_length else 0

    @property
    def minibatch_size(self) -> int:
        return self.steps_per_update // self.num_minibatches


def components(cfg: Config) -> onpolicy.Components:
    """Environment, policy network, action distribution, critic and optimiser for `cfg`."""
    return onpolicy.components(cfg, cfg.update_epochs * cfg.num_minibatches)


@classic_threefry
def init(cfg: Config, key: PRNGKey) -> State:
    """The state before the first update: reset environments, initial networks and optimiser."""
    return onpolicy.init(cfg, components(cfg), key)


def _shuffled_minibatches(batch: Batch, perm: Array, num_minibatches: int) -> Batch:
    """`batch` reordered by `perm` and split into [num_minibatches, size, ...]."""
    return jax.tree.map(lambda x: x[perm].reshape((num_minibatches, -1) + x.shape[1:]), batch)


def _shuffled_segments(batch: Batch, seg: onpolicy.Segment, perm: Array, num_minibatches: int):
    """Time-major segments (`onpolicy.split_segments`, [L, S, ...]) reordered by `perm` over S
    and split into [num_minibatches, L, S / num_minibatches, ...] (`last_next_obs`, which
    has no time axis: [num_minibatches, S / num_minibatches, ...])."""
    def split(x):
        return jnp.moveaxis(x[:, perm].reshape((x.shape[0], num_minibatches, -1) + x.shape[2:]), 1, 0)
    after = seg.last_next_obs[perm].reshape((num_minibatches, -1) + seg.last_next_obs.shape[1:])
    batch, seg = jax.tree.map(split, (batch, seg.replace(last_next_obs=None)))
    return batch, seg.replace(last_next_obs=after)


@classic_threefry
def update(cfg: Config, state: State) -> Tuple[State, Metrics]:
    """One rollout and `update_epochs` x `num_minibatches` gradient steps."""
    comps = components(cfg)
    # one split for every key of the update: on CPU each random call is its own compiled
    # kernel (threefry), and their compile time adds up
    e, m = cfg.update_epochs, cfg.num_minibatches
    keys = jax.random.split(state.key, 2 + e * (1 + m))
    key, k_collect, perm_keys, mb_keys = keys[0], keys[1], keys[2 : 2 + e], keys[2 + e :].reshape(e, m)
    collected, batch, seg, rollout_metrics = onpolicy.collect(cfg, comps, state, k_collect)

    def loss_fn(params, mb, k):
        if cfg.segment_length:
            mb = onpolicy.with_estimates(cfg, comps, params["critic"], *mb)
        return onpolicy.loss(cfg, comps, params, mb, k, cfg.clip_eps, cfg.clip_value_loss)

    def minibatch_step(carry, xs):
        params, opt_state = carry
        mb, k = xs
        params, opt_state, metrics = onpolicy.gradient_step(comps, loss_fn, params, opt_state, mb, k)
        # one stacked output instead of one per metric: each is a kernel per step on CPU
        return (params, opt_state), jnp.stack([metrics[name] for name in onpolicy.STEP_METRICS])

    def epoch_batch(i, critic_params) -> Batch:
        if not cfg.recompute_advantages:
            return batch
        # the first epoch's critic is the rollout's, whose estimates `batch` holds already; the
        # epoch index is not vmapped, so under vmap this stays a branch and skips the pass
        return jax.lax.cond(
            i == 0, lambda: batch, lambda: onpolicy.reestimate(cfg, comps, critic_params, batch, seg)
        )

    segments = onpolicy.split_segments(batch, seg, cfg.segment_length) if cfg.segment_length else None

    def epoch_minibatches(i, k, critic_params):
        if cfg.segment_length:
            perm = jax.random.permutation(k, cfg.num_segments)
            return _shuffled_segments(*segments, perm, cfg.num_minibatches)
        perm = jax.random.permutation(k, cfg.steps_per_update)
        return _shuffled_minibatches(epoch_batch(i, critic_params), perm, cfg.num_minibatches)

    def epoch(carry, xs):
        i, k, keys = xs
        # drawn inside the epoch: one [n] permutation at a time keeps the vmapped update lean on CPU
        mbs = epoch_minibatches(i, k, carry[0]["critic"])
        return jax.lax.scan(minibatch_step, carry, (mbs, keys))

    (params, opt_state), metrics = jax.lax.scan(
        epoch, (state.params, state.opt_state), (jnp.arange(e), perm_keys, mb_keys)
    )
    metrics = dict(zip(onpolicy.STEP_METRICS, metrics.mean((0, 1))))
    metrics.update(onpolicy.policy_change(comps, params["actor"], batch, cfg.clip_eps))
    metrics.update(rollout_metrics)
    return collected.replace(params=params, opt_state=opt_state, key=key,
                             update_step=state.update_step + 1), metrics


def train(cfg: Config, key: PRNGKey) -> Tuple[State, Metrics]:
    """`init` then `cfg.num_updates` updates in one `lax.scan`; metrics are [num_updates]."""
    return run(init, update, cfg, key)


def smoke_config() -> Config:
    """The smallest sensible run (4 updates on CartPole, tiny networks): what the conformance
    suite runs of every registered algorithm."""
    return Config(env="CartPole-v1", total_steps=4 * 16 * 4, num_envs=4, rollout_length=16, update_epochs=1,
                  num_minibatches=2, policy=dict(hidden=(16,)), critic=dict(hidden=(16,)))
