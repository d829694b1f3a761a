"""The off-policy spine: what every replay-buffer actor-critic (SAC, TD3) shares.

    state = offpolicy.init(learner, cfg, key)       # networks + a buffer holding the warm-up
    state, metrics = offpolicy.update(learner, cfg, state)

An update collects `rollout_length` steps from each of `num_envs` environments with the
learner's behaviour policy, adds them to the replay buffer, and takes
`utd * rollout_length * num_envs` gradient steps, each on a fresh uniform minibatch
normalised with the statistics that include the new steps. The buffer keeps raw
observations (in `obs_dtype`) and the pre-reset `next_obs`, so truncated transitions
bootstrap from the episode's final observation and `terminated` ones with zero.

An algorithm on this spine is a `Learner`: how it builds its components, initialises its
parameters and optimisers, acts while collecting, and takes one gradient step. Everything
else (config fields and checks, warm-up, buffer, the collect -> add -> scan loop, replay
memory, lengthening a run) lives here once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxac import buffers
from jaxac import config as C
from jaxac import critics
from jaxac.algos import common
from jaxac.env import Box, Discrete
from jaxac.normalize import RunningStats, normalized_policy
from jaxac.optim import Optim
from jaxac.rollout import EnvCarry, Policy, episode_metrics, stateless, unroll
from jaxac.types import Array, Metrics, PRNGKey

WARMUPS = ("uniform", "policy")
OBS_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@C.group
class ActorCriticOptim(Optim):
    """Separate Adam optimisers for the actor and the critic that share `name`, `schedule`,
    `eps` and `max_grad_norm`; `learning_rate` is the actor's, `critic_learning_rate` the
    critic's (None: the actor's)."""

    critic_learning_rate: Optional[float] = C.leaf(None, "the critic's learning rate (unset: learning_rate)")
    def validate(self, prefix: str = "optim.") -> None:
        super().validate(prefix)
        if self.critic_learning_rate is not None:
            C.check_number(f"{prefix}critic_learning_rate", self.critic_learning_rate, C.positive, "> 0")

    def critic_rate(self) -> Any:
        return self.learning_rate if self.critic_learning_rate is None else self.critic_learning_rate


@C.group
class Config(common.Config):
    """What every off-policy algorithm's config has, besides the shared ones.

    Static: rollout_length, utd, minibatch_size, buffer_size, learning_starts, num_critics,
    aggregate, obs_dtype, warmup. Leaf: tau. `aggregate="auto"` is the critic's preferred
    ensemble rule ("truncate" for tqc, "min" otherwise).
    """

    env: Any = C.static("Pendulum-v1")
    total_steps: int = C.static(20_000)
    num_envs: int = C.static(1)
    optim: ActorCriticOptim = ActorCriticOptim()
    rollout_length: int = C.static(1, 'steps per environment between gradient phases')
    utd: float = C.static(1.0, 'gradient steps per environment step')
    minibatch_size: int = C.static(256, 'replay samples per gradient step')
    buffer_size: int = C.static(1_000_000, 'replay capacity (capped at total_steps)')
    learning_starts: int = C.static(1_000, 'warm-up steps before the first gradient step')
    num_critics: int = C.static(2, 'critic ensemble size')
    aggregate: str = C.static("auto", "how ensemble members combine (auto: the critic's preference)", choices=("auto",) + critics.registry.AGGREGATES)
    obs_dtype: str = C.static("float32", 'dtype of stored observations', choices=tuple(OBS_DTYPES))
    # initial policy (brax.training's prefill)
    warmup: str = C.static("uniform", 'warm-up actions: uniform, or from the initial policy', choices=WARMUPS)
    tau: float = C.leaf(0.005, 'Polyak rate of the target networks')
    def size_fields(self):
        return super().size_fields() + ("rollout_length", "minibatch_size", "buffer_size", "learning_starts",
                                        "num_critics")

    def action_spaces(self):
        return (Discrete, Box)  # the critic takes one action: one-hot (discrete) or the vector

    def validate(self, prefix: str = "") -> None:
        super().validate(prefix)
        if self.obs.stats_before_update:
            raise C.ConfigError("obs.stats_before_update=True is invalid off-policy: minibatches "
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
        if self.minibatch_size > self.learning_starts:
            raise C.ConfigError(
                f"minibatch_size={self.minibatch_size} is invalid: it must not exceed learning_starts="
                f"{self.learning_starts}, the transitions in the buffer at the first gradient "
                f"step; lower minibatch_size or raise learning_starts."
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
    continuous control; the integer action for discrete); `policy_carry` and
    `next_policy_carry` are the policy's carry in `obs` and in `next_obs` (() for a
    feed-forward policy: nothing stored)."""

    obs: Array
    action: Array
    reward: Array
    terminated: Array
    next_obs: Array
    policy_carry: Any = ()
    next_policy_carry: Any = ()


@struct.dataclass
class State:
    """Everything an off-policy run carries between updates, the replay buffer included (one
    seed; vmapped, every leaf gains a leading member axis). A checkpoint saves it whole."""

    params: Dict[str, Any]  # "actor" and "critic" at least; the learner's own entries besides
    opt_state: Dict[str, Any]
    buffer: buffers.Buffer
    env: EnvCarry
    key: PRNGKey
    update_step: Array
    obs_stats: RunningStats  # observation normaliser's statistics (unused when it is off)


@dataclasses.dataclass(frozen=True)
class Learner:
    """What an algorithm adds to the spine (all pure functions).

    components(cfg) -> an object with `env`, `env_params`, `net` (the policy network),
        `obs_norm` and `num_actions` (|A| for discrete actions, 0 for continuous) besides the
        learner's own parts.
    init_params(cfg, comps, k_actor, k_critic, obs [D], critic_action [...]) ->
        (params, opt_state); `params["actor"]` is what the behaviour policy acts with.
    behaviour(cfg, comps) -> the `Policy` that collects (on normalised observations).
    gradient_step(cfg, comps, params, opt_state, batch: Item [B], key, step) ->
        (params, opt_state, metrics); `step` counts gradient steps from 0 over the run.
    """

    components: Callable[[Any], Any]
    init_params: Callable[..., Tuple[Dict[str, Any], Dict[str, Any]]]
    behaviour: Callable[[Any, Any], Policy]
    gradient_step: Callable[..., Tuple[Dict[str, Any], Dict[str, Any], Metrics]]


def critic_action(comps: Any, action: Array) -> Array:
    """What the critic sees of an action: one-hot for discrete, the [-1, 1] vector otherwise."""
    if comps.num_actions:
        return jax.nn.one_hot(action, comps.num_actions)
    return action


def random_policy(comps: Any) -> Policy:
    """Uniform actions for the warm-up, drawn for the whole warm-up at once (the noise is the
    action; log-probs are not used off-policy). The policy network's starting carry passes
    through, so warm-up items are stored like the learner's."""
    def noise(key, shape):
        if comps.num_actions:
            return jax.random.randint(key, shape, 0, comps.num_actions)
        action_shape = tuple(comps.env.action_space(comps.env_params).shape)
        return jax.random.uniform(key, tuple(shape) + action_shape, minval=-1.0, maxval=1.0)

    def act(params, obs, a):
        return a, a, jnp.zeros(obs.shape[:1])
    return Policy(noise, stateless(act), lambda num_envs: comps.net.initial_carry((num_envs,)))


def polyak(online: Any, target: Any, tau: Any) -> Any:
    """target <- (1 - tau) target + tau online."""
    return optax.incremental_update(online, target, tau)


def items(traj) -> Item:
    """A rollout's transitions [T, B, ...] as buffer items [T * B, ...]."""
    flat = lambda x: x.reshape((-1,) + x.shape[2:])
    return Item(flat(traj.obs), flat(traj.env_action), flat(traj.reward), flat(traj.terminated),
                flat(traj.next_obs), *jax.tree.map(flat, (traj.policy_carry, traj.next_policy_carry)))


def example_action(comps: Any) -> Array:
    """One action as the buffer stores it: an int32 index, or the [-1, 1] vector."""
    if comps.num_actions:
        return jnp.zeros((), jnp.int32)
    return jnp.zeros(comps.env.action_space(comps.env_params).shape, jnp.float32)


def example_item(cfg: Config, comps: Any) -> Item:
    """One stored transition's shapes and dtypes (observations in `cfg.obs_dtype`)."""
    obs = jnp.zeros(comps.env.observation_space(comps.env_params).shape, OBS_DTYPES[cfg.obs_dtype])
    carry = comps.net.initial_carry(())
    return Item(obs, example_action(comps), jnp.zeros((), jnp.float32), jnp.zeros((), bool), obs, carry, carry)


def init(learner: Learner, cfg: Config, key: PRNGKey) -> State:
    """The state before the first update: networks, optimisers, and a replay buffer already
    holding `cfg.warmup_steps` warm-up steps."""
    comps = learner.components(cfg)
    key, k_env, k_actor, k_critic, k_warm = jax.random.split(key, 5)
    carry, obs = common.start(comps.env, comps.env_params, cfg.num_envs, k_env, comps.net)
    params, opt_state = learner.init_params(cfg, comps, k_actor, k_critic, obs,
                                            critic_action(comps, example_action(comps)))
    buf = buffers.init(example_item(cfg, comps), cfg.buffer_capacity)
    if cfg.warmup == "policy":
        warm = normalized_policy(learner.behaviour(cfg, comps), comps.obs_norm, comps.obs_norm.init(obs.shape))
    else:
        warm = random_policy(comps)
    carry, traj = unroll(comps.env, comps.env_params, warm, params["actor"], carry, k_warm,
                         cfg.warmup_steps // cfg.num_envs)
    new = items(traj)
    buf = buffers.add(buf, new)
    stats = comps.obs_norm.update(comps.obs_norm.init(obs.shape), new.obs)
    return State(params, opt_state, buf, carry, key, jnp.zeros((), jnp.int32), stats)


def update(learner: Learner, cfg: Config, state: State) -> Tuple[State, Metrics]:
    """Collect `rollout_length` x `num_envs` steps, then `gradient_steps_per_update` steps.

    The buffer keeps raw observations; minibatches are normalised with the statistics that
    include the new steps (off-policy, nothing ties them to the acting policy's).
    """
    comps = learner.components(cfg)
    key, k_roll, k_grad = jax.random.split(state.key, 3)
    norm = comps.obs_norm
    policy = normalized_policy(learner.behaviour(cfg, comps), norm, state.obs_stats)
    carry, traj = unroll(comps.env, comps.env_params, policy, state.params["actor"], state.env,
                         k_roll, cfg.rollout_length)
    new = items(traj)
    buf = buffers.add(state.buffer, new)
    stats = norm.update(state.obs_stats, new.obs)

    def step(carry, xs):
        params, opt_state = carry
        k, index = xs
        k_sample, k_loss = jax.random.split(k)
        batch = buffers.sample(buf, k_sample, cfg.minibatch_size)
        batch = batch.replace(obs=norm(stats, batch.obs), next_obs=norm(stats, batch.next_obs))
        params, opt_state, metrics = learner.gradient_step(cfg, comps, params, opt_state, batch, k_loss, index)
        return (params, opt_state), metrics

    n = cfg.gradient_steps_per_update
    keys = jax.random.split(k_grad, n)
    first = state.update_step * n
    (params, opt_state), metrics = jax.lax.scan(step, (state.params, state.opt_state),
                                                (keys, first + jnp.arange(n, dtype=jnp.int32)))
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics.update(episode_metrics(traj))
    return State(params, opt_state, buf, carry, key, state.update_step + 1, stats), metrics


def extend(state: State, cfg: Config) -> State:
    """One seed's state continued as a run of `cfg.total_steps` (`Session.resume(total_steps=)`):
    a replay buffer that was capped at the shorter run's length grows to the new capacity."""
    return state.replace(buffer=buffers.grow(state.buffer, cfg.buffer_capacity))


def buffer_bytes(learner: Learner, cfg: Config) -> int:
    """Replay memory per seed in bytes (obs dtype and capacity are config fields)."""
    return buffers.nbytes(example_item(cfg, learner.components(cfg)), cfg.buffer_capacity)
