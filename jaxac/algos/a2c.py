"""Advantage Actor-Critic (synchronous A2C) for discrete and continuous actions.

    cfg = jaxac.a2c.Config(env="CartPole-v1", total_steps=500_000)
    state, metrics = jax.jit(jaxac.a2c.train)(cfg, jax.random.key(0))

One update = a short rollout (`rollout_length` x `num_envs`, 5 x 8 by default), n-step returns
(GAE with lambda = 1 by default) bootstrapped through the critic protocol, and one gradient
step of `-A log pi + vf_coef * value_loss - ent_coef * entropy` on the whole batch.
Defaults follow Stable-Baselines3 / the RL zoo: RMSprop (decay 0.99, eps 1e-5, eps inside the
square root and the square average initialised to 1 as in TensorFlow's RMSprop, which SB3's
`RMSpropTFLike` copies), lr 7e-4, gradient clip 0.5, no entropy bonus, no advantage
normalisation.
"""

from __future__ import annotations

from typing import Tuple

import jax

from jaxac import config as C
from jaxac.algos import onpolicy
from jaxac.algos.onpolicy import State  # noqa: F401  (part of the API)
from jaxac.optim import Optim
from jaxac.rng import classic_threefry
from jaxac.train import run
from jaxac.types import Metrics, PRNGKey


@C.group
class Config(onpolicy.Config):
    """A2C hyperparameters; defaults are SB3's A2C with the RL zoo's 8 CartPole envs
    (RMSprop 7e-4, eps 1e-5, gradient clip 0.5, constant rate; lambda 1, no entropy bonus,
    no advantage normalisation). A2C adds no fields of its own."""

    num_envs: int = C.static(8)
    optim: Optim = Optim(name="rmsprop", schedule="constant", learning_rate=7e-4, eps=1e-5, max_grad_norm=0.5)
    rollout_length: int = C.static(5)
    advantage: onpolicy.AdvantageConfig = onpolicy.AdvantageConfig(normalize=False, gae_lambda=1.0)
    ent_coef: float = 0.0


def components(cfg: Config) -> onpolicy.Components:
    """Environment, policy network, action distribution, critic and optimiser for `cfg`."""
    return onpolicy.components(cfg, 1)


@classic_threefry
def init(cfg: Config, key: PRNGKey) -> State:
    """The state before the first update: reset environments, initial networks and optimiser."""
    return onpolicy.init(cfg, components(cfg), key)


@classic_threefry
def update(cfg: Config, state: State) -> Tuple[State, Metrics]:
    """One rollout and one gradient step on all of it."""
    comps = components(cfg)
    key, k_collect, k_loss = jax.random.split(state.key, 3)
    collected, batch, _, rollout_metrics = onpolicy.collect(cfg, comps, state, k_collect)

    def loss_fn(params, batch, k):
        return onpolicy.loss(cfg, comps, params, batch, k)

    params, opt_state, metrics = onpolicy.gradient_step(
        comps, loss_fn, state.params, state.opt_state, batch, k_loss
    )
    metrics.update(onpolicy.policy_change(comps, params["actor"], batch))
    metrics.update(rollout_metrics)
    return collected.replace(params=params, opt_state=opt_state, key=key,
                             update_step=state.update_step + 1), metrics


def train(cfg: Config, key: PRNGKey) -> Tuple[State, Metrics]:
    """`init` then `cfg.num_updates` updates in one `lax.scan`; metrics are [num_updates]."""
    return run(init, update, cfg, key)


def smoke_config() -> Config:
    """The smallest sensible run (4 updates on CartPole, tiny networks)."""
    return Config(env="CartPole-v1", total_steps=4 * 5 * 4, num_envs=4, rollout_length=5, policy=dict(hidden=(16,)),
                  critic=dict(hidden=(16,)))
