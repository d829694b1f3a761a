"""What every algorithm shares: the config fields and checks, environment and critic set-up.

`Config` is the base of every algorithm's Config: the environment, the run's size, the
groups (`policy`, `critic`, `optim`, `obs`) and the discount and reward scale. Groups are
nested frozen dataclasses (`jaxac.config.Group`): a dict overlays the algorithm's default
(`optim={"learning_rate": 1e-3}`), the critic also takes a registered name (`critic="c51"`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence, Tuple

import jax
import jax.numpy as jnp

from jaxac import config as C
from jaxac import critics
from jaxac.env import Box, Discrete, MultiDiscrete, wrap_for_training
from jaxac.envs import registry
from jaxac.networks import PolicyConfig
from jaxac.normalize import ObsConfig
from jaxac.optim import Optim
from jaxac.rollout import EnvCarry, reset_envs
from jaxac.types import PRNGKey


@C.group
class Config(C.Group):
    """Fields every algorithm has. Static: env (a registered name, "module:factory", or an
    environment object obeying `jaxac.env.Env`), env_kwargs (overrides of its params),
    total_steps, num_envs. Leaves: gamma, reward_scale. Groups: policy
    (`jaxac.networks.PolicyConfig`), critic (a registered `jaxac.critics.Spec`), optim
    (`jaxac.optim.Optim`), obs (`jaxac.normalize.ObsConfig`)."""

    env: Any = C.static("CartPole-v1", 'registered name, "module:factory", or an environment object')
    env_kwargs: Tuple[Tuple[str, Any], ...] = C.static((), "overrides of the environment's params")
    total_steps: int = C.static(500_000, 'environment steps per seed')
    num_envs: int = C.static(4, 'parallel environments per seed')
    policy: PolicyConfig = PolicyConfig()
    critic: critics.Spec = critics.spec("scalar")
    optim: Optim = Optim()
    obs: ObsConfig = ObsConfig()
    gamma: float = C.leaf(0.99, 'discount')
    reward_scale: float = C.leaf(1.0, 'rewards are multiplied by this before learning')
    def __post_init__(self):
        C.coerce_groups(self)
        if C.checking():
            self.validate()

    def validate(self, prefix: str = "") -> None:
        """The checks every algorithm shares; subclasses add theirs after calling this."""
        C.check_types(self)
        for name in self.size_fields():
            C.check_positive_int(name, getattr(self, name))
        env, env_params = check_env(self.env, self.env_kwargs)
        space = env.action_space(env_params)
        if not isinstance(space, self.action_spaces()):
            algo = type(self).__module__.rsplit(".", 1)[-1]
            raise C.ConfigError(f"env={self.env!r} is invalid for {algo}: its actions are {type(space).__name__}, and "
                                f"{algo} takes {' or '.join(t.__name__ for t in self.action_spaces())} actions"
                                f"{' (ppo and a2c take MultiDiscrete)' if isinstance(space, MultiDiscrete) else ''}.")
        self.validate_env(env, env_params)
        C.validate_groups(self)
        C.check_number("gamma", self.gamma, C.unit_interval, "in [0, 1]")
        C.check_number("reward_scale", self.reward_scale, C.positive, "> 0")
        for name in self.critic_fields():
            getattr(self, name).validate_context(critic_context(self, env, env_params), prefix=f"{name}.")

    def critic_fields(self) -> Tuple[str, ...]:
        """The fields that hold a critic chosen by name: `critic`, and PDPPO's `post_critic`."""
        return tuple(f.name for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), critics.Spec))

    def size_fields(self) -> Sequence[str]:
        """The integer sizes that must be >= 1."""
        return ("total_steps", "num_envs")

    def action_spaces(self) -> Tuple[type, ...]:
        """The action spaces the algorithm takes."""
        return (Discrete, MultiDiscrete, Box)

    def validate_env(self, env: Any, env_params: Any) -> None:
        """An algorithm's own checks against the (unwrapped) environment; none by default."""


def critic_context(cfg: Config, env: Any, env_params: Any) -> critics.Context:
    """What `cfg.critic` is built against (see `jaxac.critics.Context`)."""
    return critics.Context(env, env_params, cfg.gamma, cfg.reward_scale, cfg.policy.hidden,
                           cfg.policy.activation, cfg.policy.init)


def base_env(env: Any, env_kwargs: Tuple[Tuple[str, Any], ...]) -> Tuple[Any, Any]:
    """The environment, unwrapped, and its params: a registered name (or "module:factory")
    is made by the registry; an environment object takes its default params with
    `env_kwargs` replacing fields."""
    if isinstance(env, str):
        return registry.make(env, **dict(env_kwargs))
    params = env.default_params()
    return env, registry.override_params(type(env).__name__, params, dict(env_kwargs)) if env_kwargs else params


def training_env(env: Any, env_kwargs: Tuple[Tuple[str, Any], ...]) -> Tuple[Any, Any]:
    """The environment wrapped with action rescaling, statistics and auto-reset."""
    env, params = base_env(env, env_kwargs)
    return wrap_for_training(env), params


def check_env(env: Any, env_kwargs) -> Tuple[Any, Any]:
    """`base_env`, failing fast (before compiling) with a ConfigError on an unknown
    environment or bad env kwargs."""
    if not isinstance(env, str):
        missing = [m for m in ("default_params", "reset", "step", "observation_space", "action_space")
                   if not callable(getattr(env, m, None))]
        if missing:
            raise C.ConfigError(f"env={env!r} is invalid: give a registered name or an environment "
                                f"object with {', '.join(missing)} (see jaxac.env.Env).")
    try:
        return base_env(env, env_kwargs)
    except registry.UnknownEnvironmentError as err:
        raise C.ConfigError(f"env={env!r} is invalid: {err}") from None
    except (TypeError, ValueError) as err:
        raise C.ConfigError(f"env_kwargs for {env}: {err}.") from None


def start(env: Any, env_params: Any, num_envs: int, key: PRNGKey, net: Any) -> Tuple[EnvCarry, jax.Array]:
    """The first reset of `num_envs` environments, with the policy network `net`'s starting
    carry, and one observation (float32) to initialise networks with."""
    carry = reset_envs(env, env_params, key, num_envs, net.initial_carry((num_envs,)))
    return carry, carry.obs[0].astype(jnp.float32)


def explained_variance(pred, target):
    """1 - Var[target - pred] / Var[target] (NaN-free: 0 when the target is constant)."""
    var = jnp.var(target)
    return jnp.where(var > 0, 1.0 - jnp.var(target - pred) / jnp.maximum(var, 1e-12), 0.0)
