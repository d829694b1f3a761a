"""Environment registry: `make(name, **kwargs) -> (env, params)`.

Keyword arguments override fields of the environment's params (e.g. `max_steps=200`); for
probes, `continuous=True` selects the continuous-action variant.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, Tuple

from jaxac.envs import classic, probes


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
}


def registered() -> Tuple[str, ...]:
    """All registered environment names."""
    return tuple(REGISTRY)


def make(name: str, **kwargs) -> Tuple[Any, Any]:
    """Builds a registered environment and its params.

    Raises:
      UnknownEnvironmentError: naming the closest registered names.
    """
    try:
        factory = REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownEnvironmentError(
            f"Unknown environment {name!r}.{hint} Known: {', '.join(REGISTRY)}."
        ) from None
    return factory(**kwargs)
