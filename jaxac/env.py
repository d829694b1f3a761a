"""The environment contract jaxac owns, its spaces, and the wrappers every algorithm uses.

Contract (one environment, no batch axis; vmap for batches):

    reset(key, params) -> (state, TimeStep)
    step(key, state, action, params) -> (state, TimeStep)

`state` and `params` are frozen pytree dataclasses; the environment object itself holds only
static configuration (it is hashable and never traced). Time limits are part of the
environment (it reports `truncated`); automatic reset and episode statistics are wrappers.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Tuple, Union

import jax
import jax.numpy as jnp
from flax import struct

from jaxac.types import Array, PRNGKey, TimeStep


@struct.dataclass
class Discrete:
    """Actions 0..n-1."""

    n: int = struct.field(pytree_node=False)

    @property
    def shape(self) -> Tuple[int, ...]:
        return ()

    def sample(self, key: PRNGKey) -> Array:
        """A uniformly random action [] int32."""
        return jax.random.randint(key, (), 0, self.n)


@struct.dataclass
class MultiDiscrete:
    """One choice per dimension: action[d] in 0..nvec[d]-1 (e.g. one decision per machine)."""

    nvec: Tuple[int, ...] = struct.field(pytree_node=False)

    def __post_init__(self):
        if not self.nvec or any(int(n) < 1 for n in self.nvec):
            raise ValueError(f"MultiDiscrete sizes {tuple(self.nvec)} are invalid: use one size >= 1 per dimension")

    @property
    def shape(self) -> Tuple[int, ...]:
        return (len(self.nvec),)

    def sample(self, key: PRNGKey) -> Array:
        """A uniformly random choice per dimension [dims] int32."""
        return jax.random.randint(key, self.shape, 0, jnp.asarray(self.nvec))


@struct.dataclass
class Box:
    """A box in R^shape with (broadcastable) bounds `low` and `high`."""

    low: Any
    high: Any
    shape: Tuple[int, ...] = struct.field(pytree_node=False)

    def sample(self, key: PRNGKey) -> Array:
        """A uniformly random point of the box [shape]."""
        return jax.random.uniform(key, self.shape, minval=self.low, maxval=self.high)


Space = Union[Discrete, MultiDiscrete, Box]


class Env(Protocol):
    """What jaxac needs from an environment: pure functions of explicit state and params
    (frozen pytree dataclasses) for one environment; jaxac vmaps them. Optional methods:
    `reward_range(params) -> (low, high)` (critics with bins take their value range from it)
    and `post_decision(state, action, params) -> obs` (post-decision PPO)."""

    def default_params(self) -> Any:
        """The parameters used when none are given (`jaxac.make` overrides fields by keyword)."""
        ...

    def reset(self, key: PRNGKey, params: Any) -> Tuple[Any, TimeStep]:
        """A fresh episode: its state and first TimeStep (reward 0, not done)."""
        ...

    def step(self, key: PRNGKey, state: Any, action: Array, params: Any) -> Tuple[Any, TimeStep]:
        """One step: the next state and its TimeStep with `terminated` and `truncated` apart;
        no automatic reset (the `AutoReset` wrapper adds it)."""
        ...

    def observation_space(self, params: Any) -> Box:
        """The observation's shape and bounds."""
        ...

    def action_space(self, params: Any) -> Space:
        """`Discrete`, `MultiDiscrete` or `Box`."""
        ...


def make_timestep(obs: Array, reward: Array, terminated: Array, truncated: Array) -> TimeStep:
    """A TimeStep for a base environment: no reset happened, no statistics tracked."""
    return TimeStep(
        obs=obs,
        reward=jnp.asarray(reward, jnp.float32),
        terminated=jnp.asarray(terminated, bool),
        truncated=jnp.asarray(truncated, bool) & ~jnp.asarray(terminated, bool),
        final_obs=obs,
        episode_return=jnp.zeros((), jnp.float32),
        episode_length=jnp.zeros((), jnp.int32),
    )


@dataclasses.dataclass(frozen=True)
class Wrapper:
    """Base for wrappers: delegate everything to `env` (static, hashable, never traced)."""

    env: Any

    def default_params(self):
        return self.env.default_params()

    def reset(self, key, params):
        return self.env.reset(key, params)

    def step(self, key, state, action, params):
        return self.env.step(key, state, action, params)

    def observation_space(self, params):
        return self.env.observation_space(params)

    def action_space(self, params):
        return self.env.action_space(params)

    def post_decision(self, state, action, params):
        """The base environment's post-decision observation (see `has_post_decision`)."""
        return self.env.post_decision(state, action, params)

    @property
    def unwrapped(self):
        return getattr(self.env, "unwrapped", self.env)


@dataclasses.dataclass(frozen=True)
class AutoReset(Wrapper):
    """Resets finished episodes inside `step`, keeping the pre-reset observation in `final_obs`.

    Under vmap a reset has to be computed for every environment anyway (a `cond` becomes a
    `select`), so it is computed unconditionally and selected with `where`.
    """

    def step(self, key, state, action, params):
        key_step, key_reset = jax.random.split(key)
        reset_state, reset_ts = self.env.reset(key_reset, params)
        return self.step_or_reset(key_step, state, action, params, reset_state, reset_ts.obs)

    def step_or_reset(self, key, state, action, params, reset_state, reset_obs):
        """Steps, then continues from (`reset_state`, `reset_obs`) where the episode ended.

        `step` draws the reset itself; `jaxac.rollout.unroll` draws all the resets of a
        rollout in one batched call instead (on CPU each random draw is a loop of its own,
        so one draw per rollout instead of one per step is a large saving).
        """
        state, ts = self.env.step(key, state, action, params)
        done = ts.done
        state = jax.tree.map(lambda r, s: jnp.where(_bcast(done, s), r, s), reset_state, state)
        obs = jnp.where(_bcast(done, ts.obs), reset_obs, ts.obs)
        return state, ts.replace(obs=obs, final_obs=ts.obs)


@struct.dataclass
class EpisodeStatsState:
    """The wrapped environment's state and the running episode's return and length."""

    inner: Any
    episode_return: Array
    episode_length: Array


@dataclasses.dataclass(frozen=True)
class EpisodeStats(Wrapper):
    """Tracks the running return and length; a done step carries the completed episode's.

    Wrap it *inside* `AutoReset` (`AutoReset(EpisodeStats(env))`) so the counters restart with
    the episode.
    """

    def reset(self, key, params):
        inner, ts = self.env.reset(key, params)
        zero_r, zero_l = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return EpisodeStatsState(inner, zero_r, zero_l), ts

    def step(self, key, state, action, params):
        inner, ts = self.env.step(key, state.inner, action, params)
        ret = state.episode_return + ts.reward
        length = state.episode_length + 1
        new_state = EpisodeStatsState(inner, ret, length)
        return new_state, ts.replace(episode_return=ret, episode_length=length)

    def post_decision(self, state, action, params):
        return self.env.post_decision(state.inner, action, params)


@dataclasses.dataclass(frozen=True)
class RescaleAction(Wrapper):
    """Maps actions from [-1, 1] (clipped) to the environment's Box bounds.

    Policies of every algorithm act in [-1, 1]; this keeps bounds out of the networks.
    """

    def step(self, key, state, action, params):
        return self.env.step(key, state, self._scaled(action, params), params)

    def post_decision(self, state, action, params):
        return self.env.post_decision(state, self._scaled(action, params), params)

    def _scaled(self, action, params):
        return to_bounds(action, self.env.action_space(params))

    def action_space(self, params):
        space = self.env.action_space(params)
        return Box(-1.0, 1.0, space.shape)


def to_bounds(action: Array, space: Box) -> Array:
    """A policy's action in [-1, 1] (clipped) mapped to `space`'s bounds (`RescaleAction`)."""
    unit = jnp.clip(action, -1.0, 1.0)
    low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)
    return low + (unit + 1.0) * 0.5 * (high - low)


def has_post_decision(env) -> bool:
    """The (base) environment provides `post_decision(state, action, params) -> obs`: the
    observation of the state after the deterministic part of a step, before its random part
    (same shape as the observation)."""
    return callable(getattr(getattr(env, "unwrapped", env), "post_decision", None))


def wrap_for_training(env) -> Wrapper:
    """The standard stack: action rescaling (continuous), episode statistics, auto-reset."""
    if isinstance(env.action_space(env.default_params()), Box):
        env = RescaleAction(env)
    return AutoReset(EpisodeStats(env))


def _bcast(mask: Array, like: Array) -> Array:
    """Broadcasts a scalar-per-env mask against a leaf with trailing dims."""
    return jnp.reshape(mask, mask.shape + (1,) * (jnp.ndim(like) - jnp.ndim(mask)))
