"""Soft Actor-Critic for continuous (tanh-Gaussian) and discrete (categorical) actions.

    cfg = jaxac.sac.Config(env="Pendulum-v1", total_steps=20_000)
    state, metrics = jax.jit(jaxac.sac.train)(cfg, jax.random.key(0))

SAC is a learner on the off-policy spine (`jaxac.algos.offpolicy`): `init` fills the replay
buffer with `learning_starts` steps of uniformly random actions (or, `warmup="policy"`, of the
initial policy's); each update collects `rollout_length` steps from each of `num_envs`
environments with the current policy and takes `utd * rollout_length * num_envs` gradient
steps (`utd`: gradient steps per env step; 8 for a high update-to-data ratio, 0.25 for one step
per 4 env steps), each on a fresh uniform minibatch of the buffer:

    y        = r + gamma (1 - terminated) E_{a'~pi}[ Qbar(s', a') - alpha log pi(a'|s') ]
    critic   = sum over ensemble members of the critic's loss against y
    actor    = E_{a~pi}[ alpha log pi(a|s) - Q(s, a) ]          (Q: members aggregated)
    alpha    = log_alpha * stopgrad(H(pi(.|s)) - target_entropy)
    Qbar    <- (1 - tau) Qbar + tau Q                           (Polyak, every step)

Continuous actions estimate the expectations with one reparameterised tanh-Gaussian sample;
discrete actions compute them exactly over all actions (Christodoulou 2019), the critic
seeing a one-hot action. Both are the same code: a "policy expectation" is a set of actions
with weights (one sample of weight 1, or every action weighted by its probability), and the
soft target is the matching mixture of the critic's particles, so any critic of
`jaxac.critics` serves as Q. `terminated` transitions bootstrap with zero; truncated ones
from the stored pre-reset `next_obs`. The three losses share one backward pass (stop-
gradients keep them apart) and have their own Adam optimisers.

Target entropy: `-target_entropy_scale * |A|` for continuous actions (the SAC paper's
-|A| by default; brax uses 0.5) and `target_entropy_ratio * log|A|` for discrete ones
(0.5 by default: Christodoulou's 0.98 keeps the policy nearly uniform on small action
sets).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxac import config as C
from jaxac import critics
from jaxac.algos import common, offpolicy
from jaxac.algos.offpolicy import Item, State, critic_action
from jaxac.critics import Ensemble, Particles
from jaxac.env import Box, Discrete
from jaxac.networks import PolicyConfig, init_policy, sampling_policy
from jaxac.normalize import ObsNorm
from jaxac.rng import classic_threefry
from jaxac.rollout import Policy
from jaxac.train import run
from jaxac.types import Array, Metrics, PRNGKey


@C.group
class SacOptim(offpolicy.ActorCriticOptim):
    """SAC's three Adam optimisers share `name`, `schedule`, `eps` and `max_grad_norm`;
    `learning_rate` is the actor's, `critic_learning_rate` the critic's (None: the actor's)
    and `alpha_learning_rate` the temperature's (0 keeps alpha fixed)."""

    alpha_learning_rate: float = C.leaf(3e-4, "the temperature's learning rate (0: alpha fixed)")
    def validate(self, prefix: str = "optim.") -> None:
        super().validate(prefix)
        C.check_number(f"{prefix}alpha_learning_rate", self.alpha_learning_rate, C.non_negative,
                       ">= 0 (0 keeps alpha fixed)")

    def transforms(self, num_updates: int, steps_per_update: int) -> Dict[str, optax.GradientTransformation]:
        return {"actor": self.transform(num_updates, steps_per_update),
                "critic": self.transform(num_updates, steps_per_update, self.critic_rate()),
                "alpha": self.transform(num_updates, steps_per_update, self.alpha_learning_rate)}


@C.group
class Config(offpolicy.Config):
    """SAC hyperparameters; defaults are the SAC paper's (2x256 ReLU, lr 3e-4, tau 0.005,
    minibatch 256, one gradient step per env step).

    Besides the off-policy ones (`jaxac.algos.offpolicy.Config`), leaves: init_alpha,
    target_entropy_scale, target_entropy_ratio. The policy is a tanh-Gaussian with a
    state-dependent std (or categorical for discrete actions).
    """

    policy: PolicyConfig = PolicyConfig(hidden=(256, 256), activation="relu", distribution="tanh_gaussian",
                                        state_dependent_std=True)
    optim: SacOptim = SacOptim()
    init_alpha: float = C.leaf(1.0, 'initial temperature')
    target_entropy_scale: float = C.leaf(1.0, 'continuous target entropy is -scale * |A|')
    target_entropy_ratio: float = C.leaf(0.5, 'discrete target entropy is ratio * log |A|')
    def validate(self, prefix: str = "") -> None:
        super().validate(prefix)
        if self.policy.distribution != "tanh_gaussian" or not self.policy.state_dependent_std:
            raise C.ConfigError(
                f"policy.distribution={self.policy.distribution!r}, policy.state_dependent_std="
                f"{self.policy.state_dependent_std} are invalid for SAC: its policy is a tanh-Gaussian "
                f"with a state-dependent std (distribution='tanh_gaussian', state_dependent_std=True)."
            )
        C.check_number("init_alpha", self.init_alpha, C.positive, "> 0")
        C.check_number("target_entropy_scale", self.target_entropy_scale, lambda x: abs(x) < 100, "in (-100, 100)")
        C.check_number("target_entropy_ratio", self.target_entropy_ratio, lambda x: (x >= 0) & (x < 1), "in [0, 1)")


class Components(NamedTuple):
    """What a config builds: wrapped env and its params, policy net and distribution, the
    critic ensemble, the optimisers, and the entropy target. Tests and evaluation use it to
    read values and actions out of a trained state."""

    env: Any
    env_params: Any
    net: Any
    dist: Any
    critic: Ensemble
    tx: Dict[str, optax.GradientTransformation]
    num_actions: int  # |A| for discrete actions, 0 for continuous
    target_entropy: Any
    obs_norm: ObsNorm


def components(cfg: Config) -> Components:
    """Environment, policy network, action distribution, critic ensemble and optimisers for `cfg`."""
    env, env_params = common.training_env(cfg.env, cfg.env_kwargs)
    space = env.action_space(env_params)
    net, dist = cfg.policy.build(space)
    if isinstance(space, Box):  # a state-dependent log-std, bounded as in CleanRL / jaxrl
        dist = dataclasses.replace(dist, log_std_min=-5.0, log_std_max=2.0)
    critic = critics.ensemble(cfg.critic, common.critic_context(cfg, env, env_params), cfg.num_critics,
                              cfg.aggregate)
    tx = cfg.optim.transforms(cfg.num_updates, cfg.gradient_steps_per_update)
    if isinstance(space, Discrete):
        num_actions = int(space.n)
        target_entropy = cfg.target_entropy_ratio * np.log(num_actions)
    elif isinstance(space, Box):
        num_actions = 0
        target_entropy = -cfg.target_entropy_scale * int(np.prod(space.shape))
    else:
        raise TypeError(f"unsupported action space {space!r}")
    return Components(env, env_params, net, dist, critic, tx, num_actions, target_entropy,
                      cfg.obs.norm())


def init_params(cfg: Config, comps: Components, k_actor: PRNGKey, k_critic: PRNGKey, obs: Array,
                action: Array) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Actor, twin critics and their target copy, log-temperature, and their optimisers."""
    critic_params = comps.critic.init(k_critic, obs, action)
    params = {
        "actor": init_policy(comps.net, k_actor, obs),
        "critic": critic_params,
        "target_critic": critic_params,
        "log_alpha": jnp.log(jnp.asarray(cfg.init_alpha, jnp.float32)),
    }
    opt_state = {"actor": comps.tx["actor"].init(params["actor"]),
                 "critic": comps.tx["critic"].init(params["critic"]),
                 "alpha": comps.tx["alpha"].init(params["log_alpha"])}
    return params, opt_state


def behaviour(cfg: Config, comps: Components) -> Policy:
    """SAC collects with samples of its own stochastic policy."""
    return sampling_policy(comps.net, comps.dist)


def policy_expectation(comps: Components, actor_params, obs: Array, carry: Any, key: PRNGKey):
    """Actions, weights and log-probs [B, M, ...] that estimate E_{a~pi(.|s)}[f(s, a)] as
    sum_m w_m f(s, a_m): M = 1 reparameterised sample (continuous) or M = |A| (discrete);
    `carry` [B, ...] is the policy's carry in `obs`."""
    out, _ = comps.net.apply(actor_params, obs, carry)
    if comps.num_actions:
        log_p = jax.nn.log_softmax(out)  # [B, A]
        actions = jnp.broadcast_to(jnp.arange(comps.num_actions), log_p.shape)
        return critic_action(comps, actions), jnp.exp(log_p), log_p
    u, log_p = comps.dist.sample_and_log_prob(out, key)
    return jnp.tanh(u)[:, None], jnp.ones(log_p.shape + (1,)), log_p[:, None]


def _q_each(fn, params, obs: Array, actions: Array, key: PRNGKey):
    """`fn` (a critic method) over the M actions of each state: obs [B, D], actions [B, M, ...]."""
    m = actions.shape[1]
    obs_m = jnp.broadcast_to(obs[:, None], (obs.shape[0], m) + obs.shape[1:])
    return fn(params, obs_m, actions, key)


def losses(cfg: Config, comps: Components, params, batch: Item, key: PRNGKey) -> Tuple[Array, Metrics]:
    """Critic + actor + temperature losses; stop-gradients keep each on its own parameters."""
    k_next, k_target, k_loss, k_pi, k_q = jax.random.split(key, 5)
    alpha = jnp.exp(jax.lax.stop_gradient(params["log_alpha"]))
    frozen_actor = jax.lax.stop_gradient(params["actor"])

    # critic: soft TD target, a mixture over the policy's next actions
    next_a, next_w, next_logp = policy_expectation(comps, frozen_actor, batch.next_obs, batch.next_policy_carry, k_next)
    q_next = _q_each(comps.critic.target, params["target_critic"], batch.next_obs, next_a, k_target)
    n = batch.obs.shape[0]  # [B, M, K] -> one mixture of M*K particles per sample
    soft = Particles((q_next.atoms - (alpha * next_logp)[..., None]).reshape(n, -1),
                     (q_next.weights * next_w[..., None]).reshape(n, -1))
    discount = cfg.gamma * (1.0 - batch.terminated.astype(jnp.float32))
    target = jax.lax.stop_gradient(soft.affine(batch.reward * cfg.reward_scale, discount))
    critic_loss, _ = comps.critic.loss(params["critic"], batch.obs, critic_action(comps, batch.action), target, k_loss)
    critic_loss = critic_loss.mean()

    # actor: through the (frozen) critics' aggregated value of the policy's own actions
    a, w, logp = policy_expectation(comps, params["actor"], batch.obs, batch.policy_carry, k_pi)
    frozen_critic = jax.lax.stop_gradient(params["critic"])
    q = _q_each(comps.critic.value, frozen_critic, batch.obs, a, k_q)
    actor_loss = (w * (alpha * logp - q)).sum(-1).mean()

    entropy = -(w * logp).sum(-1)
    alpha_loss = (params["log_alpha"] * jax.lax.stop_gradient(entropy - comps.target_entropy)).mean()
    total = critic_loss + actor_loss + alpha_loss
    return total, {
        "critic_loss": critic_loss, "actor_loss": actor_loss, "alpha_loss": alpha_loss,
        "alpha": alpha, "entropy": entropy.mean(), "q_mean": (w * q).sum(-1).mean(),
    }


def gradient_step(cfg: Config, comps: Components, params, opt_state, batch: Item, key: PRNGKey,
                  step: Array = 0):
    """One step of all three optimisers, then the Polyak update of the target critic."""
    grads, metrics = jax.grad(lambda p: losses(cfg, comps, p, batch, key), has_aux=True)(params)
    new = dict(params)
    new_opt = {}
    for part, name in (("actor", "actor"), ("critic", "critic"), ("log_alpha", "alpha")):
        updates, new_opt[name] = comps.tx[name].update(grads[part], opt_state[name], params[part])
        new[part] = optax.apply_updates(params[part], updates)
    new["target_critic"] = offpolicy.polyak(new["critic"], params["target_critic"], cfg.tau)
    return new, new_opt, metrics


LEARNER = offpolicy.Learner(components, init_params, behaviour, gradient_step)


@classic_threefry
def init(cfg: Config, key: PRNGKey) -> State:
    """The state before the first update: networks, optimisers, and a replay buffer already
    holding `learning_starts` warm-up steps."""
    return offpolicy.init(LEARNER, cfg, key)


@classic_threefry
def update(cfg: Config, state: State) -> Tuple[State, Metrics]:
    """Collect `rollout_length` x `num_envs` steps, then `gradient_steps_per_update` steps."""
    return offpolicy.update(LEARNER, cfg, state)


def train(cfg: Config, key: PRNGKey) -> Tuple[State, Metrics]:
    """`init` (warm-up included) then `cfg.num_updates` updates in one `lax.scan`."""
    return run(init, update, cfg, key)


extend = offpolicy.extend  # a longer run grows the replay buffer (Session.resume(total_steps=))


def smoke_config() -> Config:
    """The smallest sensible run (64 warm-up steps and 4 updates on Pendulum, tiny networks)."""
    return Config(env="Pendulum-v1", total_steps=64 + 2 * 4, num_envs=2, learning_starts=64, minibatch_size=16,
                  buffer_size=128, policy=dict(hidden=(16,)), critic=dict(hidden=(16,)))


def buffer_bytes(cfg: Config) -> int:
    """Replay memory per seed in bytes (obs dtype and capacity are config fields)."""
    return offpolicy.buffer_bytes(LEARNER, cfg)
