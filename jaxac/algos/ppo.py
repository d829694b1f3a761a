"""Proximal Policy Optimisation (clipped objective) for discrete and continuous actions.

    cfg = jaxac.ppo.Config(env="CartPole-v1", total_steps=500_000)
    state, metrics = jax.jit(jaxac.ppo.train)(cfg, jax.random.key(0))

One update = one rollout of `num_steps` x `num_envs`, GAE with separate bootstrap values, then
`update_epochs` passes of `num_minibatches` clipped-objective steps. The value function is a
`jaxac.critics` critic used through its protocol only. Rollout, batch and loss are shared with
A2C (`jaxac.algos.onpolicy`).
"""

from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxac import config as C
from jaxac.algos import onpolicy
from jaxac.algos.onpolicy import Batch, State  # noqa: F401  (part of the API)
from jaxac.rng import classic_threefry
from jaxac.train import run
from jaxac.types import Array, Metrics, PRNGKey


@struct.dataclass
class Config(onpolicy.Config):
    """PPO hyperparameters. Defaults are PureJaxRL's CartPole configuration.

    Static (structure), besides the shared ones: update_epochs, num_minibatches,
    clip_value_loss, recompute_advantages. Leaves (vmappable floats), besides the shared ones:
    clip_eps, adam_eps.
    """

    update_epochs: int = C.static(4)
    num_minibatches: int = C.static(4)
    clip_value_loss: bool = C.static(True)
    # True: every epoch re-estimates advantages and value targets with the critic as it is
    # then (Andrychowicz et al. 2021, "What matters in on-policy RL"), at the cost of one
    # critic pass over the rollout per epoch; False: the rollout's estimates for all epochs
    recompute_advantages: bool = C.static(False)
    clip_eps: float = 0.2
    adam_eps: float = 1e-5

    def validate(self) -> None:
        super().validate()
        for name in ("update_epochs", "num_minibatches"):
            C.check_positive_int(name, getattr(self, name))
        if self.batch_size % self.num_minibatches:
            raise C.ConfigError(
                f"num_minibatches={self.num_minibatches} is invalid: it must divide the batch "
                f"num_envs * num_steps = {self.batch_size}; e.g. use one of "
                f"{[d for d in range(1, 65) if self.batch_size % d == 0]}."
            )
        C.check_number("clip_eps", self.clip_eps, C.positive, "> 0")
        C.check_number("adam_eps", self.adam_eps, C.positive, "> 0")

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


def components(cfg: Config) -> onpolicy.Components:
    """Environment, policy network, action distribution, critic and optimiser (Adam) for `cfg`."""
    return onpolicy.components(cfg, "adam", cfg.adam_eps, cfg.update_epochs * cfg.num_minibatches)


@classic_threefry
def init(cfg: Config, key: PRNGKey) -> State:
    return onpolicy.init(cfg, components(cfg), key)


def _shuffled_minibatches(batch: Batch, perm: Array, num_minibatches: int) -> Batch:
    """`batch` reordered by `perm` and split into [num_minibatches, size, ...]."""
    return jax.tree.map(lambda x: x[perm].reshape((num_minibatches, -1) + x.shape[1:]), batch)


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

    def epoch(carry, xs):
        i, k, keys = xs
        # drawn inside the epoch: with all epochs' permutations drawn up front as one
        # [epochs, n] array, the vmapped update measured ~12% slower on CPU (the unvmapped
        # one did not change)
        mbs = _shuffled_minibatches(epoch_batch(i, carry[0]["critic"]),
                                    jax.random.permutation(k, cfg.batch_size), cfg.num_minibatches)
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
