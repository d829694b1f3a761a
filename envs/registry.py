"""Environment registry: `make(name, **kwargs) -> (env, params)`.

Keyword arguments override fields of the environment's params (e.g. `max_steps=200`); for
probes, `continuous=True` selects the continuous-action variant; for `brax/<name>`,
`backend`, `episode_length`, `action_repeat` and brax's constructor keywords (see
`jaxac.envs.brax_adapter`).
"""

from __future__ import annotations

import difflib
import functools
import importlib
from typing import Any, Callable, Dict, Tuple

from jaxac.envs import brax_adapter, classic, gymnax_adapter, playground_adapter, probes


class UnknownEnvironmentError(ValueError):
    """Raised by `make` for a name that is not registered."""


def _params_env(cls) -> Callable[..., Tuple[Any, Any]]:
    def factory(**kwargs):
        env = cls()
        params = env.default_params()
        unknown = sorted(set(kwargs) - set(params.__dataclass_fields__))
        if unknown:
            allowed = ", ".join(sorted(params.__dataclass_fields__))
            raise ValueError(f"{cls.__name__} has no parameter(s) {unknown}; allowed: {allowed}")
        return env, params.replace(**kwargs)

    return factory


def _probe_env(cls) -> Callable[..., Tuple[Any, Any]]:
    def factory(continuous: bool = False, **kwargs):
        env = cls(continuous=bool(continuous))
        return env, env.default_params().replace(**kwargs)

    return factory


REGISTRY: Dict[str, Callable[..., Tuple[Any, Any]]] = {
    "CartPole-v1": _params_env(classic.CartPole),
    "Pendulum-v1": _params_env(classic.Pendulum),
    "Acrobot-v1": _params_env(classic.Acrobot),
    "MountainCar-v0": _params_env(classic.MountainCar),
    "MountainCarContinuous-v0": _params_env(classic.MountainCarContinuous),
    **{f"probe/{name}": _probe_env(cls) for name, cls in probes.PROBES.items()},
    **{f"brax/{name}": functools.partial(brax_adapter.make, name) for name in brax_adapter.BRAX_ENVS},
    **{f"playground/{name}": functools.partial(playground_adapter.make, name)
       for name in playground_adapter.DM_CONTROL_ENVS},
}


GYMNAX_PREFIX = "gymnax/"  # any gymnax id, e.g. gymnax/Breakout-MinAtar (needs the gymnax extra)


def registered() -> Tuple[str, ...]:
    """All registered environment names (plus every gymnax id when gymnax is installed)."""
    try:
        import gymnax
    except ImportError:
        return tuple(REGISTRY)
    return tuple(REGISTRY) + tuple(GYMNAX_PREFIX + n for n in gymnax.registered_envs)


def _make_gymnax(gymnax_id: str, kwargs) -> Tuple[Any, Any]:
    try:
        return gymnax_adapter.make(gymnax_id, **kwargs)
    except ValueError as err:
        if "has no environment" not in str(err):
            raise
        import gymnax

        close = difflib.get_close_matches(gymnax_id, gymnax.registered_envs, n=3, cutoff=0.3)
        hint = f" Did you mean {', '.join(repr(GYMNAX_PREFIX + c) for c in close)}?" if close else ""
        raise UnknownEnvironmentError(f"Unknown environment {GYMNAX_PREFIX + gymnax_id!r}.{hint}") from None


def register(name: str, factory: Callable[..., Tuple[Any, Any]]) -> None:
    """Registers a user's environment: `factory(**kwargs) -> (env, params)`, with `env`
    obeying `jaxac.env.Env`. Registering a name again replaces it."""
    if not callable(factory):
        raise TypeError(f"register_env({name!r}, ...) needs a callable factory, got {factory!r}")
    REGISTRY[name] = factory


def _make_imported(name: str, kwargs) -> Tuple[Any, Any]:
    """`module.path:factory`: imports the module and calls the factory with `kwargs`."""
    module_name, _, attr = name.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise UnknownEnvironmentError(f"Unknown environment {name!r}: {err}.") from None
    out = factory(**kwargs)
    if not (isinstance(out, tuple) and len(out) == 2 and callable(getattr(out[0], "step", None))):
        raise UnknownEnvironmentError(f"{name} returned {type(out).__name__}, not (env, params).")
    return out


def make(name: str, **kwargs) -> Tuple[Any, Any]:
    """Builds a registered environment and its params; `module.path:factory` imports the
    module and calls `factory(**kwargs)`, which returns `(env, params)`.

    Raises:
      UnknownEnvironmentError: naming the closest registered names.
    """
    if ":" in name and name not in REGISTRY:
        return _make_imported(name, kwargs)
    if name.startswith(GYMNAX_PREFIX):
        return _make_gymnax(name[len(GYMNAX_PREFIX):], kwargs)
    try:
        factory = REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownEnvironmentError(
            f"Unknown environment {name!r}.{hint} Known: {', '.join(REGISTRY)}."
        ) from None
    return factory(**kwargs)
