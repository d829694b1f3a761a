"""Proximal Policy Optimisation (clipped objective) for discrete and continuous actions.

    cfg = jaxac.ppo.Config(env="CartPole-v1", total_steps=500_000)
    state, metrics = jax.jit(jaxac.ppo.train)(cfg, jax.random.key(0))

One update = one rollout of `num_steps` x `num_envs`, GAE with separate bootstrap values, then
`update_epochs` passes of `num_minibatches` clipped-objective steps. The value function is a
`jaxac.critics` critic used through its protocol only.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxac import config as C
from jaxac.algos import common
from jaxac.critics import CRITICS, Particles, make_critic
from jaxac.networks import ACTIVATIONS, policy_for, sampling_policy
from jaxac.returns import gae
from jaxac.rollout import EnvCarry, episode_metrics, reset_envs, unroll
from jaxac.train import run
from jaxac.types import Array, Metrics, PRNGKey


@struct.dataclass
class Config:
    """PPO hyperparameters. Defaults are PureJaxRL's CartPole configuration.

    Static (structure): env, env_kwargs, total_steps, num_envs, num_steps, update_epochs,
    num_minibatches, hidden, activation, critic, continuous_dist, anneal_lr, clip_value_loss,
    normalize_advantages, init_log_std. Leaves (vmappable floats): the rest.
    """

    env: str = C.static("CartPole-v1")
    env_kwargs: Tuple[Tuple[str, Any], ...] = C.static(())
    total_steps: int = C.static(500_000)
    num_envs: int = C.static(4)
    num_steps: int = C.static(128)
    update_epochs: int = C.static(4)
    num_minibatches: int = C.static(4)
    hidden: Tuple[int, ...] = C.static((64, 64))
    activation: str = C.static("tanh")
    critic: str = C.static("scalar")
    continuous_dist: str = C.static("gaussian")
    anneal_lr: bool = C.static(True)
    clip_value_loss: bool = C.static(True)
    normalize_advantages: bool = C.static(True)
    learning_rate: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    adam_eps: float = 1e-5
    reward_scale: float = 1.0
    init_log_std: float = C.static(0.0)

    def __post_init__(self):
        if not C.checking():
            return
        for name in ("total_steps", "num_envs", "num_steps", "update_epochs", "num_minibatches"):
            C.check_positive_int(name, getattr(self, name))
        common.check_env(self.env, self.env_kwargs)
        C.check_choice("activation", self.activation, tuple(ACTIVATIONS))
        C.check_choice("critic", self.critic, tuple(CRITICS))
        C.check_choice("continuous_dist", self.continuous_dist, ("gaussian", "tanh_gaussian"))
        if any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise C.ConfigError(f"hidden={self.hidden!r} is invalid: use positive layer widths.")
        if self.batch_size % self.num_minibatches:
            raise C.ConfigError(
                f"num_minibatches={self.num_minibatches} is invalid: it must divide the batch "
                f"num_envs * num_steps = {self.batch_size}; e.g. use one of "
                f"{[d for d in range(1, 65) if self.batch_size % d == 0]}."
            )
        if self.total_steps < self.batch_size:
            raise C.ConfigError(
                f"total_steps={self.total_steps} is invalid: it must be at least one batch "
                f"(num_envs * num_steps = {self.batch_size})."
            )
        C.check_number("learning_rate", self.learning_rate, C.positive, "> 0")
        C.check_number("gamma", self.gamma, C.unit_interval, "in [0, 1]")
        C.check_number("gae_lambda", self.gae_lambda, C.unit_interval, "in [0, 1]")
        C.check_number("clip_eps", self.clip_eps, C.positive, "> 0")
        C.check_number("ent_coef", self.ent_coef, C.non_negative, ">= 0")
        C.check_number("vf_coef", self.vf_coef, C.non_negative, ">= 0")
        C.check_number("max_grad_norm", self.max_grad_norm, C.positive, "> 0")
        C.check_number("adam_eps", self.adam_eps, C.positive, "> 0")
        C.check_number("reward_scale", self.reward_scale, C.positive, "> 0")
        C.check_number("init_log_std", self.init_log_std, lambda x: abs(x) < 10, "in (-10, 10)")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.batch_size

    @property
    def steps_per_update(self) -> int:
        return self.batch_size


@struct.dataclass
class State:
    params: Dict[str, Any]  # {"actor": ..., "critic": ...}
    opt_state: optax.OptState
    env: EnvCarry
    key: PRNGKey
    update_step: Array  # int32 count of completed updates


@struct.dataclass
class Batch:
    """Flattened rollout data for the minibatch loss, leaves [N, ...]."""

    obs: Array
    action: Array
    log_prob: Array
    value: Array
    advantage: Array
    target: Array


class Components(NamedTuple):
    """What `cfg` builds: wrapped env and its params, policy net and distribution, critic,
    optimiser. Rebuilt (cheaply, at trace time) by `init` and `update`; tests and evaluation
    use it to read values and actions out of a trained state."""

    env: Any
    env_params: Any
    net: Any
    dist: Any
    critic: Any
    tx: optax.GradientTransformation


def components(cfg: Config) -> Components:
    """Environment, policy network, action distribution, critic and optimiser for `cfg`."""
    env, env_params = common.training_env(cfg.env, cfg.env_kwargs)
    net, dist = policy_for(
        env.action_space(env_params), cfg.hidden, cfg.activation, cfg.continuous_dist,
        init_log_std=cfg.init_log_std,
    )
    critic = make_critic(cfg.critic, hidden=cfg.hidden, activation=cfg.activation)
    steps_per_update = cfg.update_epochs * cfg.num_minibatches
    scale = common.linear_decay(cfg.num_updates, steps_per_update) if cfg.anneal_lr else None
    tx = common.optimizer(cfg.learning_rate, cfg.max_grad_norm, cfg.adam_eps, "adam", scale)
    return Components(env, env_params, net, dist, critic, tx)


def init(cfg: Config, key: PRNGKey) -> State:
    env, env_params, net, dist, critic, tx = components(cfg)
    key, k_env, k_actor, k_critic = jax.random.split(key, 4)
    carry = reset_envs(env, env_params, k_env, cfg.num_envs)
    params = {"actor": net.init(k_actor, carry.obs[0]), "critic": critic.init(k_critic, carry.obs[0], None)}
    return State(params, tx.init(params), carry, key, jnp.zeros((), jnp.int32))


def _loss(cfg: Config, net, dist, critic, params, batch: Batch, key: PRNGKey) -> Tuple[Array, Metrics]:
    out = net.apply(params["actor"], batch.obs)
    log_prob = dist.log_prob(out, batch.action)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
    adv = batch.advantage
    if cfg.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    clipped = jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps)
    policy_loss = -jnp.minimum(ratio * adv, clipped * adv).mean()
    key_entropy, key_value = jax.random.split(key)
    entropy = dist.entropy(out, key_entropy).mean()
    old = (batch.value, cfg.clip_eps) if cfg.clip_value_loss else (None, None)
    value_loss, _ = critic.loss(
        params["critic"], batch.obs, None, Particles.point(batch.target), key_value, *old
    )
    value_loss = value_loss.mean()
    total = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
    return total, {
        "loss": total,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": ((ratio - 1.0) - log_ratio).mean(),
        "clip_fraction": (jnp.abs(ratio - 1.0) > cfg.clip_eps).mean(),
    }


def _shuffled_minibatches(batch: Batch, perm: Array, num_minibatches: int) -> Batch:
    """`batch` reordered by `perm` and split into [num_minibatches, size, ...]."""
    return jax.tree.map(lambda x: x[perm].reshape((num_minibatches, -1) + x.shape[1:]), batch)


def update(cfg: Config, state: State) -> Tuple[State, Metrics]:
    """One rollout and `update_epochs` x `num_minibatches` gradient steps."""
    env, env_params, net, dist, critic, tx = components(cfg)
    key, k_roll, k_value, k_perm, k_mb = jax.random.split(state.key, 5)
    policy = sampling_policy(net, dist)
    carry, traj = unroll(env, env_params, policy, state.params["actor"], state.env, k_roll, cfg.num_steps)

    # one critic pass over [obs; next_obs] (next_obs is pre-reset: truncation bootstraps)
    both = critic.value(state.params["critic"], jnp.concatenate([traj.obs, traj.next_obs]), None, k_value)
    value, next_value = jnp.split(both, 2)
    advantage, target = gae(
        traj.reward * cfg.reward_scale, value, next_value,
        traj.terminated, traj.truncated, cfg.gamma, cfg.gae_lambda,
    )
    batch = Batch(traj.obs, traj.action, traj.log_prob, value, advantage, target)
    batch = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), batch)
    grad_fn = jax.grad(lambda p, b, k: _loss(cfg, net, dist, critic, p, b, k), has_aux=True)

    def minibatch_step(carry, xs):
        params, opt_state = carry
        mb, k = xs
        grads, metrics = grad_fn(params, mb, k)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), metrics

    def epoch(carry, xs):
        perm, keys = xs
        mbs = _shuffled_minibatches(batch, perm, cfg.num_minibatches)
        return jax.lax.scan(minibatch_step, carry, (mbs, keys))

    # every epoch's permutation and minibatch keys in one batched draw each (see `unroll`)
    n = batch.obs.shape[0]
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(k_perm, cfg.update_epochs))
    mb_keys = jax.random.split(k_mb, cfg.update_epochs * cfg.num_minibatches).reshape(cfg.update_epochs, -1)
    (params, opt_state), metrics = jax.lax.scan(epoch, (state.params, state.opt_state), (perms, mb_keys))
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics["explained_variance"] = common.explained_variance(value, target)
    metrics.update(episode_metrics(traj))
    new_state = State(params, opt_state, carry, key, state.update_step + 1)
    return new_state, metrics


def train(cfg: Config, key: PRNGKey) -> Tuple[State, Metrics]:
    """`init` then `cfg.num_updates` updates in one `lax.scan`; metrics are [num_updates]."""
    return run(init, update, cfg, key)
