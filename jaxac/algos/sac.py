"""Soft Actor-Critic for continuous (tanh-Gaussian) and discrete (categorical) actions.

    cfg = jaxac.sac.Config(env="Pendulum-v1", total_steps=20_000)
    state, metrics = jax.jit(jaxac.sac.train)(cfg, jax.random.key(0))

`init` fills the replay buffer with `learning_starts` steps of uniformly random actions (or,
`warmup="policy"`, of the initial policy's). Each update then collects `rollout_length` steps
from each of `num_envs` environments with the current policy and takes
`utd * rollout_length * num_envs` gradient steps (`utd`: gradient steps per env step; 8 for a
high update-to-data ratio, 0.25 for one step per 4 env steps), each on a fresh uniform
minibatch of the buffer:

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
from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxac import buffers
from jaxac import config as C
from jaxac import critics
from jaxac.algos import common
from jaxac.critics import Ensemble, Particles
from jaxac.env import Box, Discrete
from jaxac.networks import PolicyConfig, sampling_policy
from jaxac.optim import Optim
from jaxac.normalize import ObsNorm, RunningStats, normalized_policy
from jaxac.rng import classic_threefry
from jaxac.rollout import EnvCarry, Policy, episode_metrics, unroll
from jaxac.train import run
from jaxac.types import Array, Metrics, PRNGKey

WARMUPS = ("uniform", "policy")
OBS_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@C.group
class SacOptim(Optim):
    """SAC's three Adam optimisers share `name`, `schedule`, `eps` and `max_grad_norm`;
    `learning_rate` is the actor's, `critic_learning_rate` the critic's (None: the actor's)
    and `alpha_learning_rate` the temperature's (0 keeps alpha fixed)."""

    critic_learning_rate: Optional[float] = C.leaf(None, "the critic's learning rate (unset: learning_rate)")
    alpha_learning_rate: float = C.leaf(3e-4, "the temperature's learning rate (0: alpha fixed)")
    def validate(self, prefix: str = "optim.") -> None:
        super().validate(prefix)
        if self.critic_learning_rate is not None:
            C.check_number(f"{prefix}critic_learning_rate", self.critic_learning_rate, C.positive, "> 0")
        C.check_number(f"{prefix}alpha_learning_rate", self.alpha_learning_rate, C.non_negative,
                       ">= 0 (0 keeps alpha fixed)")

    def transforms(self, num_updates: int, steps_per_update: int) -> Dict[str, optax.GradientTransformation]:
        critic_rate = self.learning_rate if self.critic_learning_rate is None else self.critic_learning_rate
        return {"actor": self.transform(num_updates, steps_per_update),
                "critic": self.transform(num_updates, steps_per_update, critic_rate),
                "alpha": self.transform(num_updates, steps_per_update, self.alpha_learning_rate)}


@C.group
class Config(common.Config):
    """SAC hyperparameters; defaults are the SAC paper's (2x256 ReLU, lr 3e-4, tau 0.005,
    batch 256, one gradient step per env step).

    Static, besides the shared ones: rollout_length, utd, batch_size, buffer_size,
    learning_starts, num_critics, aggregate, obs_dtype, warmup. Leaves, besides the shared
    ones: tau, init_alpha, target_entropy_scale, target_entropy_ratio. The policy is a
    tanh-Gaussian with a state-dependent std (or categorical for discrete actions);
    `aggregate="auto"` is the critic's preferred ensemble rule ("truncate" for tqc, "min"
    otherwise).
    """

    env: Any = C.static("Pendulum-v1")
    total_steps: int = C.static(20_000)
    num_envs: int = C.static(1)
    policy: PolicyConfig = PolicyConfig(hidden=(256, 256), activation="relu", distribution="tanh_gaussian",
                                        state_dependent_std=True)
    optim: SacOptim = SacOptim()
    rollout_length: int = C.static(1, 'steps per environment between gradient phases')
    utd: float = C.static(1.0, 'gradient steps per environment step')
    batch_size: int = C.static(256, 'replay minibatch size')
    buffer_size: int = C.static(1_000_000, 'replay capacity (capped at total_steps)')
    learning_starts: int = C.static(1_000, 'warm-up steps before the first gradient step')
    num_critics: int = C.static(2, 'critic ensemble size')
    aggregate: str = C.static("auto", "how ensemble members combine (auto: the critic's preference)", choices=("auto",) + critics.registry.AGGREGATES)
    obs_dtype: str = C.static("float32", 'dtype of stored observations', choices=tuple(OBS_DTYPES))
    # initial policy (brax.training's prefill)
    warmup: str = C.static("uniform", 'warm-up actions: uniform, or from the initial policy', choices=WARMUPS)
    tau: float = C.leaf(0.005, 'Polyak rate of the target critic')
    init_alpha: float = C.leaf(1.0, 'initial temperature')
    target_entropy_scale: float = C.leaf(1.0, 'continuous target entropy is -scale * |A|')
    target_entropy_ratio: float = C.leaf(0.5, 'discrete target entropy is ratio * log |A|')
    def size_fields(self):
        return super().size_fields() + ("rollout_length", "batch_size", "buffer_size", "learning_starts",
                                        "num_critics")

    def action_spaces(self):
        return (Discrete, Box)  # the critic takes one action: one-hot (discrete) or the vector

    def validate(self, prefix: str = "") -> None:
        super().validate(prefix)
        if self.policy.distribution != "tanh_gaussian" or not self.policy.state_dependent_std:
            raise C.ConfigError(
                f"policy.distribution={self.policy.distribution!r}, policy.state_dependent_std="
                f"{self.policy.state_dependent_std} are invalid for SAC: its policy is a tanh-Gaussian "
                f"with a state-dependent std (distribution='tanh_gaussian', state_dependent_std=True)."
            )
        if self.obs.stats_before_update:
            raise C.ConfigError("obs.stats_before_update=True is invalid for SAC: off-policy minibatches "
                                "are always normalised with the statistics that include the newest steps.")
        steps = self.utd * self.steps_per_update
        if not isinstance(self.utd, (int, float)) or self.utd <= 0 or steps != round(steps):
            raise C.ConfigError(
                f"utd={self.utd!r} is invalid: it must be > 0 and utd * num_envs * "
                f"rollout_length (= {steps}) a whole number of gradient steps per update."
            )
        critics.check_aggregate(self.critic, self.aggregate)
        C.check_choice("obs_dtype", self.obs_dtype, tuple(OBS_DTYPES))
        C.check_choice("warmup", self.warmup, WARMUPS)
        if self.batch_size > self.learning_starts:
            raise C.ConfigError(
                f"batch_size={self.batch_size} is invalid: it must not exceed learning_starts="
                f"{self.learning_starts}, the transitions in the buffer at the first gradient "
                f"step; lower batch_size or raise learning_starts."
            )
        if self.learning_starts > self.buffer_capacity:
            raise C.ConfigError(
                f"learning_starts={self.learning_starts} is invalid: it exceeds the buffer "
                f"capacity {self.buffer_capacity}; raise buffer_size."
            )
        if self.num_updates < 1:
            raise C.ConfigError(
                f"total_steps={self.total_steps} is invalid: it must exceed learning_starts="
                f"{self.learning_starts} by at least one update ({self.steps_per_update} steps)."
            )
        C.check_number("tau", self.tau, lambda x: (x > 0) & (x <= 1), "in (0, 1]")
        C.check_number("init_alpha", self.init_alpha, C.positive, "> 0")
        C.check_number("target_entropy_scale", self.target_entropy_scale, lambda x: abs(x) < 100, "in (-100, 100)")
        C.check_number("target_entropy_ratio", self.target_entropy_ratio, lambda x: (x >= 0) & (x < 1), "in [0, 1)")

    @property
    def ensemble_rule(self) -> str:
        return critics.registry.aggregate_rule(self.critic, self.aggregate)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.rollout_length

    @property
    def warmup_steps(self) -> int:
        """Warm-up env steps `init` takes (learning_starts rounded up to whole batches)."""
        return -(-self.learning_starts // self.num_envs) * self.num_envs

    @property
    def num_updates(self) -> int:
        return (self.total_steps - self.warmup_steps) // self.steps_per_update

    @property
    def gradient_steps_per_update(self) -> int:
        return int(round(self.utd * self.steps_per_update))

    @property
    def buffer_capacity(self) -> int:
        """The buffer never needs to hold more than the whole run."""
        return min(self.buffer_size, self.total_steps)


@struct.dataclass
class Item:
    """One stored transition. `action` is what the critic sees (the env action in [-1, 1] for
    continuous control; the integer action for discrete)."""

    obs: Array
    action: Array
    reward: Array
    terminated: Array
    next_obs: Array


@struct.dataclass
class State:
    """Everything a SAC run carries between updates, the replay buffer included (one seed;
    vmapped, every leaf gains a leading member axis). A checkpoint saves it whole."""

    params: Dict[str, Any]  # {"actor", "critic", "target_critic", "log_alpha"}
    opt_state: Dict[str, Any]  # {"actor", "critic", "alpha"}
    buffer: buffers.Buffer
    env: EnvCarry
    key: PRNGKey
    update_step: Array
    obs_stats: RunningStats  # observation normaliser's statistics (unused when it is off)


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


def critic_action(comps: Components, action: Array) -> Array:
    """What the critic sees of an action: one-hot for discrete, the [-1, 1] vector otherwise."""
    if comps.num_actions:
        return jax.nn.one_hot(action, comps.num_actions)
    return action


def random_policy(comps: Components) -> Policy:
    """Uniform actions for the warm-up, drawn for the whole warm-up at once (the noise is the
    action; log-probs are not used off-policy)."""
    def noise(key, shape):
        if comps.num_actions:
            return jax.random.randint(key, shape, 0, comps.num_actions)
        action_shape = tuple(comps.env.action_space(comps.env_params).shape)
        return jax.random.uniform(key, tuple(shape) + action_shape, minval=-1.0, maxval=1.0)

    def act(params, obs, a):
        return a, a, jnp.zeros(obs.shape[:1])
    return Policy(noise, act)


def _items(traj) -> Item:
    flat = lambda x: x.reshape((-1,) + x.shape[2:])
    return Item(flat(traj.obs), flat(traj.env_action), flat(traj.reward),
                flat(traj.terminated), flat(traj.next_obs))


@classic_threefry
def init(cfg: Config, key: PRNGKey) -> State:
    """The state before the first update: networks, optimisers, and a replay buffer already
    holding `learning_starts` warm-up steps."""
    comps = components(cfg)
    key, k_env, k_actor, k_critic, k_warm = jax.random.split(key, 5)
    carry, obs = common.start(comps.env, comps.env_params, cfg.num_envs, k_env)
    space = comps.env.action_space(comps.env_params)
    example_action = jnp.zeros((), jnp.int32) if comps.num_actions else jnp.zeros(space.shape, jnp.float32)
    critic_params = comps.critic.init(k_critic, obs, critic_action(comps, example_action))
    params = {
        "actor": comps.net.init(k_actor, obs),
        "critic": critic_params,
        "target_critic": critic_params,
        "log_alpha": jnp.log(jnp.asarray(cfg.init_alpha, jnp.float32)),
    }
    opt_state = {"actor": comps.tx["actor"].init(params["actor"]),
                 "critic": comps.tx["critic"].init(params["critic"]),
                 "alpha": comps.tx["alpha"].init(params["log_alpha"])}
    buf = buffers.init(_example_item(cfg, comps), cfg.buffer_capacity)
    if cfg.warmup == "policy":
        warm = normalized_policy(sampling_policy(comps.net, comps.dist), comps.obs_norm,
                                 comps.obs_norm.init(obs.shape))
    else:
        warm = random_policy(comps)
    carry, traj = unroll(comps.env, comps.env_params, warm, params["actor"], carry, k_warm,
                         cfg.warmup_steps // cfg.num_envs)
    items = _items(traj)
    buf = buffers.add(buf, items)
    stats = comps.obs_norm.update(comps.obs_norm.init(obs.shape), items.obs)
    return State(params, opt_state, buf, carry, key, jnp.zeros((), jnp.int32), stats)


def policy_expectation(comps: Components, actor_params, obs: Array, key: PRNGKey):
    """Actions, weights and log-probs [B, M, ...] that estimate E_{a~pi(.|s)}[f(s, a)] as
    sum_m w_m f(s, a_m): M = 1 reparameterised sample (continuous) or M = |A| (discrete)."""
    out = comps.net.apply(actor_params, obs)
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
    next_a, next_w, next_logp = policy_expectation(comps, frozen_actor, batch.next_obs, k_next)
    q_next = _q_each(comps.critic.target, params["target_critic"], batch.next_obs, next_a, k_target)
    n = batch.obs.shape[0]  # [B, M, K] -> one mixture of M*K particles per sample
    soft = Particles((q_next.atoms - (alpha * next_logp)[..., None]).reshape(n, -1),
                     (q_next.weights * next_w[..., None]).reshape(n, -1))
    discount = cfg.gamma * (1.0 - batch.terminated.astype(jnp.float32))
    target = jax.lax.stop_gradient(soft.affine(batch.reward * cfg.reward_scale, discount))
    critic_loss, _ = comps.critic.loss(params["critic"], batch.obs, critic_action(comps, batch.action), target, k_loss)
    critic_loss = critic_loss.mean()

    # actor: through the (frozen) critics' aggregated value of the policy's own actions
    a, w, logp = policy_expectation(comps, params["actor"], batch.obs, k_pi)
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


def gradient_step(cfg: Config, comps: Components, params, opt_state, batch: Item, key: PRNGKey):
    """One step of all three optimisers, then the Polyak update of the target critic."""
    grads, metrics = jax.grad(lambda p: losses(cfg, comps, p, batch, key), has_aux=True)(params)
    new = dict(params)
    new_opt = {}
    for part, name in (("actor", "actor"), ("critic", "critic"), ("log_alpha", "alpha")):
        updates, new_opt[name] = comps.tx[name].update(grads[part], opt_state[name], params[part])
        new[part] = optax.apply_updates(params[part], updates)
    new["target_critic"] = optax.incremental_update(new["critic"], params["target_critic"], cfg.tau)
    return new, new_opt, metrics


@classic_threefry
def update(cfg: Config, state: State) -> Tuple[State, Metrics]:
    """Collect `rollout_length` x `num_envs` steps, then `gradient_steps_per_update` steps.

    The buffer keeps raw observations; minibatches are normalised with the statistics that
    include the new steps (off-policy, nothing ties them to the acting policy's).
    """
    comps = components(cfg)
    key, k_roll, k_grad = jax.random.split(state.key, 3)
    norm = comps.obs_norm
    policy = normalized_policy(sampling_policy(comps.net, comps.dist), norm, state.obs_stats)
    carry, traj = unroll(comps.env, comps.env_params, policy, state.params["actor"], state.env,
                         k_roll, cfg.rollout_length)
    items = _items(traj)
    buf = buffers.add(state.buffer, items)
    stats = norm.update(state.obs_stats, items.obs)

    def step(carry, k):
        params, opt_state = carry
        k_sample, k_loss = jax.random.split(k)
        batch = buffers.sample(buf, k_sample, cfg.batch_size)
        batch = batch.replace(obs=norm(stats, batch.obs), next_obs=norm(stats, batch.next_obs))
        params, opt_state, metrics = gradient_step(cfg, comps, params, opt_state, batch, k_loss)
        return (params, opt_state), metrics

    keys = jax.random.split(k_grad, cfg.gradient_steps_per_update)
    (params, opt_state), metrics = jax.lax.scan(step, (state.params, state.opt_state), keys)
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics.update(episode_metrics(traj))
    return State(params, opt_state, buf, carry, key, state.update_step + 1, stats), metrics


def train(cfg: Config, key: PRNGKey) -> Tuple[State, Metrics]:
    """`init` (warm-up included) then `cfg.num_updates` updates in one `lax.scan`."""
    return run(init, update, cfg, key)


def extend(state: State, cfg: Config) -> State:
    """One seed's state continued as a run of `cfg.total_steps` (`Session.resume(total_steps=)`):
    a replay buffer that was capped at the shorter run's length grows to the new capacity."""
    return state.replace(buffer=buffers.grow(state.buffer, cfg.buffer_capacity))


def smoke_config() -> Config:
    """The smallest sensible run (64 warm-up steps and 4 updates on Pendulum, tiny networks)."""
    return Config(env="Pendulum-v1", total_steps=64 + 2 * 4, num_envs=2, learning_starts=64, batch_size=16,
                  buffer_size=128, policy=dict(hidden=(16,)), critic=dict(hidden=(16,)))


def _example_item(cfg: Config, comps: Components) -> Item:
    """One stored transition's shapes and dtypes (observations in `cfg.obs_dtype`)."""
    obs = jnp.zeros(comps.env.observation_space(comps.env_params).shape, OBS_DTYPES[cfg.obs_dtype])
    space = comps.env.action_space(comps.env_params)
    action = jnp.zeros((), jnp.int32) if comps.num_actions else jnp.zeros(space.shape, jnp.float32)
    return Item(obs, action, jnp.zeros((), jnp.float32), jnp.zeros((), bool), obs)


def buffer_bytes(cfg: Config) -> int:
    """Replay memory per seed in bytes (obs dtype and capacity are config fields)."""
    return buffers.nbytes(_example_item(cfg, components(cfg)), cfg.buffer_capacity)
