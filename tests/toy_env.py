"""A user's own pure-JAX environment, defined outside jaxac (used by tests/test_registries.py
through `--env toy_env:make_env` and as an object): reach a target with one continuous action."""

import jax.numpy as jnp
from flax import struct

from jaxac.env import Box, make_timestep


@struct.dataclass
class Params:
    target: float = 0.5
    max_steps: int = 16


@struct.dataclass
class State:
    t: jnp.ndarray


class Reach:
    """Reward 1 - (a - target)^2 per step, episodes of `max_steps`."""

    def default_params(self) -> Params:
        return Params()

    def reset(self, key, params):
        return State(jnp.zeros((), jnp.int32)), make_timestep(jnp.ones(2), 0.0, False, False)

    def step(self, key, state, action, params):
        t = state.t + 1
        reward = 1.0 - (action[0] - params.target) ** 2
        obs = jnp.stack([jnp.ones(()), t / params.max_steps])
        return State(t), make_timestep(obs, reward, False, t >= params.max_steps)

    def observation_space(self, params):
        return Box(-jnp.inf, jnp.inf, (2,))

    def action_space(self, params):
        return Box(-1.0, 1.0, (1,))


def make_env(**kwargs):
    env = Reach()
    return env, env.default_params().replace(**kwargs)
