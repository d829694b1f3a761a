"""Probe environments: tiny MDPs whose values and best actions are known in closed form.

After Andy Jones' "Debugging RL, without the agonizing pain". Each probe isolates one thing
an actor-critic must get right. Observations are 1-d; a probe is discrete (2 actions) or
continuous (1-d action in [-1, 1]) by its `continuous` flag.

| probe       | what it checks                    | known values (discount g)                  |
|-------------|-----------------------------------|--------------------------------------------|
| constant    | value fitting at all              | V = 1                                      |
| obs         | value depends on the observation  | V(o) = o, o in {-1, +1}                    |
| delayed     | discounting across two steps      | V(0) = g, V(1) = 1                         |
| action      | the policy finds the good action  | best action 1 (discrete) / 0.5 (continuous)|
| obs_action  | action must depend on observation | best action: 1 iff o > 0 / 0.5 * o         |
| truncation  | time-limit bootstrapping          | V(1) = 1/(1-g), V(0) = g/(1-g)             |
| multi_action| every dimension of a MultiDiscrete action | best: (2, 1, 0) if o > 0, else (0, 0, 3) |
| post_decision | both critics of PDPPO, a random reward | V_x(+1) = 0.9, V_x(-1) = 0.1; best a = 1 iff o > 0, then V = 0.9 |

`truncation` never terminates: it starts in state 0, moves to state 1 and stays there, paying
reward = state, and is truncated after `horizon` steps. Only a learner that bootstraps a
truncated step from the *final* observation learns the infinite-horizon values above.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxac.env import Box, Discrete, MultiDiscrete, make_timestep
from jaxac.types import Array


@struct.dataclass
class ProbeParams:
    """The probes' episode length."""

    horizon: int = struct.field(pytree_node=False, default=3)


@struct.dataclass
class ProbeState:
    """A probe's one number of state and the step count."""

    s: Array  # float32 scalar: the observation's value
    time: Array


@dataclasses.dataclass(frozen=True)
class Probe:
    """Shared mechanics; subclasses define `_start` and `_transition`."""

    continuous: bool = False

    def default_params(self) -> ProbeParams:
        return ProbeParams()

    def reset(self, key, params):
        state = ProbeState(self._start(key), jnp.zeros((), jnp.int32))
        return state, make_timestep(self._obs(state), 0.0, False, False)

    def step(self, key, state, action, params):
        reward, s_next, terminated = self._transition(state.s, self._scalar(action))
        state = ProbeState(jnp.asarray(s_next, jnp.float32), state.time + 1)
        truncated = state.time >= params.horizon
        return state, make_timestep(self._obs(state), reward, terminated, truncated)

    def observation_space(self, params):
        return Box(-1.0, 1.0, (1,))

    def action_space(self, params):
        return Box(-1.0, 1.0, (1,)) if self.continuous else Discrete(2)

    def reward_range(self, params):
        """Rewards lie in [-1, 1], continuous action rewards 1 - (a - best)^2 in [-1.25, 1]."""
        return -1.25, 1.0

    @staticmethod
    def _obs(state: ProbeState) -> Array:
        return jnp.reshape(state.s, (1,)).astype(jnp.float32)

    @staticmethod
    def _scalar(action: Array) -> Array:
        return jnp.reshape(action, (-1,))[0].astype(jnp.float32)

    def _start(self, key) -> Array:
        return jnp.zeros((), jnp.float32)

    def _transition(self, s: Array, a: Array) -> Tuple[Array, Array, Array]:
        raise NotImplementedError

    def _action_reward(self, a: Array, best: Array) -> Array:
        """+1 for the best action, -1 otherwise (discrete); 1 - (a - best)^2 (continuous)."""
        if self.continuous:
            return 1.0 - (a - best) ** 2
        return jnp.where(a == best, 1.0, -1.0)


def _random_sign(key) -> Array:
    return jnp.where(jax.random.bernoulli(key), 1.0, -1.0)


@dataclasses.dataclass(frozen=True)
class ConstantReward(Probe):
    """Reward 1, then the episode ends: V = 1."""

    def _transition(self, s, a):
        return 1.0, s, True


@dataclasses.dataclass(frozen=True)
class ObsReward(Probe):
    """Reward = the observation, +1 or -1: V(o) = o."""

    def _start(self, key):
        return _random_sign(key)

    def _transition(self, s, a):
        return s, s, True


@dataclasses.dataclass(frozen=True)
class DelayedReward(Probe):
    """Reward 1 only on the second step: V(0) = gamma, V(1) = 1."""

    def _transition(self, s, a):
        second = s > 0.5
        return jnp.where(second, 1.0, 0.0), jnp.ones(()), second


@dataclasses.dataclass(frozen=True)
class ActionReward(Probe):
    """Reward for the action alone: best action 1 (discrete) or 0.5 (continuous)."""

    def _transition(self, s, a):
        best = 0.5 if self.continuous else 1.0
        return self._action_reward(a, best), s, True


@dataclasses.dataclass(frozen=True)
class ObsActionReward(Probe):
    """Reward for the action given the observation: best 1 iff o > 0 (discrete) or 0.5 o."""

    def _start(self, key):
        return _random_sign(key)

    def _transition(self, s, a):
        best = 0.5 * s if self.continuous else jnp.where(s > 0, 1.0, 0.0)
        return self._action_reward(a, best), s, True


@dataclasses.dataclass(frozen=True)
class TruncationOnly(Probe):
    """Never terminates, reward = state, truncated at the horizon: V(1) = 1/(1 - gamma)."""

    def _transition(self, s, a):
        return s, jnp.ones(()), False


@dataclasses.dataclass(frozen=True)
class MultiActionReward(Probe):
    """MultiDiscrete actions (3, 2, 4 choices): reward = mean over the dimensions of +1 for
    the best choice, -1 otherwise; the best choices depend on the observation's sign."""

    NVEC = (3, 2, 4)
    BEST = ((0, 0, 3), (2, 1, 0))  # o < 0, o > 0

    def __post_init__(self):
        if self.continuous:
            raise ValueError("continuous=True is invalid for probe/multi_action: its actions are MultiDiscrete")

    def _start(self, key):
        return _random_sign(key)

    def step(self, key, state, action, params):
        best = jnp.asarray(self.BEST)[(state.s > 0).astype(jnp.int32)]
        reward = jnp.where(jnp.asarray(action) == best, 1.0, -1.0).mean()
        state = ProbeState(state.s, state.time + 1)
        return state, make_timestep(self._obs(state), reward, True, False)

    def action_space(self, params):
        return MultiDiscrete(self.NVEC)


@dataclasses.dataclass(frozen=True)
class PostDecisionReward(Probe):
    """A decision, then chance: o = +-1 at random; the post-decision observation is
    x = o (2a - 1) (+1: the action matched the sign); then the reward is 1 with probability
    0.5 + 0.4 x, else 0, and the episode ends. V_x(x) = 0.5 + 0.4 x."""

    def __post_init__(self):
        if self.continuous:
            raise ValueError("continuous=True is invalid for probe/post_decision: its actions are discrete")

    def _start(self, key):
        return _random_sign(key)

    def _decided(self, s, action):
        return s * (2.0 * self._scalar(action) - 1.0)

    def step(self, key, state, action, params):
        x = self._decided(state.s, action)
        reward = jax.random.bernoulli(key, 0.5 + 0.4 * x).astype(jnp.float32)
        state = ProbeState(state.s, state.time + 1)
        return state, make_timestep(self._obs(state), reward, True, False)

    def post_decision(self, state, action, params):
        return jnp.reshape(self._decided(state.s, action), (1,)).astype(jnp.float32)


PROBES = {
    "constant": ConstantReward,
    "obs": ObsReward,
    "delayed": DelayedReward,
    "action": ActionReward,
    "obs_action": ObsActionReward,
    "truncation": TruncationOnly,
    "multi_action": MultiActionReward,
    "post_decision": PostDecisionReward,
}
