"""Pieces every algorithm shares: environment set-up, optimiser, config checks."""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import jax.numpy as jnp
import optax
from flax import struct

from jaxac import config as C
from jaxac.env import wrap_for_training
from jaxac.envs import registry


@struct.dataclass
class NetworkOptions:
    """Network fields every algorithm's Config inherits (both static): `policy_std` is how a
    Gaussian policy's std comes from its raw output (exp | softplus + 0.001, brax's; see
    `jaxac.networks.ActionDist`), `network_init` the weight initialiser of actor and critic
    (orthogonal | lecun_uniform, brax's; see `jaxac.networks.MLP`)."""

    policy_std: str = C.static("exp")
    network_init: str = C.static("orthogonal")

    def validate_network(self) -> None:
        from jaxac.networks import NETWORK_INITS, STD_TRANSFORMS

        C.check_choice("policy_std", self.policy_std, STD_TRANSFORMS)
        C.check_choice("network_init", self.network_init, NETWORK_INITS)


def training_env(name: str, env_kwargs: Tuple[Tuple[str, Any], ...]) -> Tuple[Any, Any]:
    """The registered environment wrapped with action rescaling, statistics and auto-reset."""
    env, params = registry.make(name, **dict(env_kwargs))
    return wrap_for_training(env), params


def base_env(name: str, env_kwargs: Tuple[Tuple[str, Any], ...]) -> Tuple[Any, Any]:
    """The registered environment, unwrapped, and its params (for config validation)."""
    return registry.make(name, **dict(env_kwargs))


def check_env(name: str, env_kwargs) -> None:
    """Fails fast (before compiling) on an unknown environment or bad env kwargs."""
    try:
        registry.make(name, **dict(env_kwargs))
    except registry.UnknownEnvironmentError as err:
        raise C.ConfigError(f"env={name!r} is invalid: {err}") from None
    except (TypeError, ValueError) as err:
        raise C.ConfigError(f"env_kwargs={env_kwargs!r} is invalid for {name}: {err}") from None


def check_structure(cfg, positive_ints) -> None:
    """The structural checks every algorithm's Config shares: integer sizes, env, network."""
    from jaxac.critics import CRITICS
    from jaxac.networks import ACTIVATIONS

    for name in positive_ints:
        C.check_positive_int(name, getattr(cfg, name))
    check_env(cfg.env, cfg.env_kwargs)
    C.check_choice("activation", cfg.activation, tuple(ACTIVATIONS))
    C.check_choice("critic", cfg.critic, tuple(CRITICS))
    check_hidden(cfg.hidden)
    cfg.validate_network()


def check_hidden(hidden) -> None:
    if not isinstance(hidden, tuple) or any(not isinstance(h, int) or h < 1 for h in hidden):
        raise C.ConfigError(f"hidden={hidden!r} is invalid: use a tuple of positive layer widths.")


def optimizer(
    learning_rate: Any,
    max_grad_norm: Any,
    eps: Any,
    kind: str = "adam",
    lr_scale: Optional[Callable[[Any], Any]] = None,
) -> optax.GradientTransformation:
    """Global-norm clipping then Adam or RMSprop; `lr_scale(count)` multiplies the rate.

    Hyperparameters may be traced (vmapped), so the rate is a closure over them rather than
    a Python float baked into the chain.
    """
    schedule = (lambda count: learning_rate * lr_scale(count)) if lr_scale else learning_rate
    if kind == "adam":
        inner = optax.adam(schedule, eps=eps)
    elif kind == "rmsprop":
        # TensorFlow's RMSprop (SB3's RMSpropTFLike): eps inside the sqrt, average starts at 1
        inner = optax.rmsprop(schedule, decay=0.99, eps=eps, initial_scale=1.0, eps_in_sqrt=True)
    else:
        raise ValueError(f"unknown optimizer {kind!r}")
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), inner)


def linear_decay(total: int, per_step: int = 1) -> Callable[[Any], Any]:
    """1 -> 0 over `total` periods of `per_step` optimiser steps each."""
    return lambda count: 1.0 - (count // per_step) / total


def explained_variance(pred, target):
    """1 - Var[target - pred] / Var[target] (NaN-free: 0 when the target is constant)."""
    var = jnp.var(target)
    return jnp.where(var > 0, 1.0 - jnp.var(target - pred) / jnp.maximum(var, 1e-12), 0.0)
