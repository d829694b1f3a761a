"""gymnax 1.x environments through jaxac's environment contract.

    env, params = jaxac.make("gymnax/Breakout-MinAtar", max_steps_in_episode=1000)

Any id in `gymnax.registered_envs` works as `gymnax/<id>`. Keywords that name a field of the
environment's params (e.g. `max_steps_in_episode`) override it; any other keyword goes to
gymnax's constructor. The adapter calls gymnax's `reset_env` / `step_env` (which do not
auto-reset; jaxac's `AutoReset` does that, keeping the final observation) and reports
gymnax 1.x's `is_truncated` (its time limit) as `truncated` and `step_env`'s done as
`terminated`. Observations are flattened to float32 vectors (MinAtar's are [10, 10, C]
booleans), so every jaxac network takes them as they are.

gymnax is an optional dependency (`pip install -e ".[gymnax]"`; gymnax 1.0.1 also needs
`six`, which the extra installs), imported on first use.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Tuple

import jax.numpy as jnp
import numpy as np

from jaxac.env import Box, Discrete, make_timestep


@functools.lru_cache(maxsize=None)
def load(name: str, kwargs: Tuple[Tuple[str, Any], ...] = ()) -> Tuple[Any, Any]:
    """gymnax's (environment, default params) for `name`."""
    try:
        import gymnax
    except ImportError as err:
        raise ImportError(f"gymnax/{name} needs gymnax: pip install -e '.[gymnax]' ({err})") from None
    if name not in gymnax.registered_envs:
        raise ValueError(f"gymnax has no environment {name!r}; it has: {', '.join(gymnax.registered_envs)}")
    return gymnax.make(name, **dict(kwargs))


def _flat(obs) -> Any:
    return jnp.reshape(obs, (-1,)).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class GymnaxEnv:
    """A gymnax environment (`name`, constructor `kwargs`) as a jaxac environment."""

    name: str
    kwargs: Tuple[Tuple[str, Any], ...] = ()

    @property
    def gymnax_env(self) -> Any:
        return load(self.name, self.kwargs)[0]

    def default_params(self) -> Any:
        return load(self.name, self.kwargs)[1]

    def reset(self, key, params):
        obs, state = self.gymnax_env.reset_env(key, params)
        return state, make_timestep(_flat(obs), 0.0, False, False)

    def step(self, key, state, action, params):
        env = self.gymnax_env
        obs, state, reward, terminated, _ = env.step_env(key, state, action, params)
        truncated = env.is_truncated(state, params)
        return state, make_timestep(_flat(obs), reward, terminated, truncated)

    def observation_space(self, params) -> Box:
        shape = self.gymnax_env.observation_space(params).shape
        return Box(-jnp.inf, jnp.inf, (int(np.prod(shape)),))

    def action_space(self, params):
        space = self.gymnax_env.action_space(params)
        if hasattr(space, "n"):
            return Discrete(int(space.n))
        if type(space).__name__ == "Box":
            return Box(space.low, space.high, tuple(space.shape))
        raise TypeError(f"gymnax/{self.name}: unsupported action space {space!r}")


def make(name: str, **kwargs) -> Tuple[GymnaxEnv, Any]:
    """`gymnax/<name>` for the registry: params-field keywords override the params, the rest
    go to gymnax's constructor."""
    _, params = load(name)
    fields = set(getattr(params, "__dataclass_fields__", {}))
    overrides = {k: v for k, v in kwargs.items() if k in fields}
    constructor = tuple(sorted((k, v) for k, v in kwargs.items() if k not in fields))
    env = GymnaxEnv(name, constructor)
    env.default_params()  # fail here on a bad constructor keyword, not inside a trace
    from jaxac.envs.registry import override_params

    return env, override_params(f"gymnax/{name}", env.default_params(), overrides)
