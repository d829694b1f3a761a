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
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from jaxac import config as C
from jaxac import sources
from jaxac.envs import brax_adapter, classic, frozen_lake, gymnax_adapter, lot_sizing, playground_adapter, probes


class UnknownEnvironmentError(ValueError):
    """Raised by `make` for a name that is not registered."""


COUNT_WORDS = ("steps", "length", "horizon", "episode")  # integer params that count, so >= 1


def _checked(name: str, key: str, default: Any, value: Any) -> Any:
    """`value` for param `key` whose default is `default`, in the default's kind (a whole
    float becomes an integer); ValueError naming what to use otherwise."""
    def bad(kind: str):
        return ValueError(f"{key}={value!r} is invalid: use {kind}")

    if isinstance(default, (bool, np.bool_)):
        if not isinstance(value, (bool, np.bool_)):
            raise bad("True or False")
        return value
    if isinstance(default, (int, np.integer)):
        if not C.is_number(value) or np.ndim(value) or not float(value).is_integer():
            raise bad("an integer")
        value = int(value)
        if any(w in key for w in COUNT_WORDS) and value < 1:
            raise bad("an integer >= 1")
        return value
    if C.is_number(default) or (hasattr(default, "shape") and np.ndim(default) == 0):
        if not C.is_number(value) or np.ndim(value) or not np.isfinite(value):
            raise bad("a finite number")
        return value
    return value  # arrays and objects: the environment checks them


def override_params(name: str, params: Any, kwargs: Dict[str, Any]) -> Any:
    """`params` (a dataclass) with the fields in `kwargs` replaced, each checked against its
    default's kind (type, counts >= 1); an unknown key is a ValueError with the closest names."""
    fields = list(getattr(params, "__dataclass_fields__", {}))
    for key in kwargs:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=3, cutoff=0.5)
            hint = f"did you mean {' / '.join(close)}? " if close else ""
            raise ValueError(f"{name} has no parameter {key!r}: {hint}it has {', '.join(sorted(fields))}")
    return params.replace(**{k: _checked(name, k, getattr(params, k), v) for k, v in kwargs.items()})


def _params_env(cls) -> Callable[..., Tuple[Any, Any]]:
    def factory(**kwargs):
        env = cls()
        return env, override_params(cls.__name__, env.default_params(), kwargs)

    return factory


def _probe_env(cls) -> Callable[..., Tuple[Any, Any]]:
    def factory(continuous: bool = False, **kwargs):
        if not isinstance(continuous, (bool, np.bool_)):
            raise ValueError(f"continuous={continuous!r} is invalid for {cls.__name__}: use True or False")
        env = cls(continuous=bool(continuous))
        return env, override_params(cls.__name__, env.default_params(), kwargs)

    return factory


REGISTRY: Dict[str, Callable[..., Tuple[Any, Any]]] = {
    "CartPole-v1": _params_env(classic.CartPole),
    "Pendulum-v1": _params_env(classic.Pendulum),
    "Acrobot-v1": _params_env(classic.Acrobot),
    "MountainCar-v0": _params_env(classic.MountainCar),
    "MountainCarContinuous-v0": _params_env(classic.MountainCarContinuous),
    "FrozenLake-v1": frozen_lake.make,
    "LotSizing-v0": lot_sizing.make,
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
    return _users(name, factory, kwargs)


def _users(name: str, factory: Callable[..., Tuple[Any, Any]], kwargs) -> Tuple[Any, Any]:
    """A user's factory called with `kwargs`: its result checked to be (env, params), and each
    keyword that names a param checked against the default's kind (a string for a number is
    one line here, not a traceback from inside the compiled step)."""
    out = factory(**kwargs)
    if not (isinstance(out, tuple) and len(out) == 2 and callable(getattr(out[0], "step", None))):
        raise UnknownEnvironmentError(f"{name} returned {type(out).__name__}, not (env, params).")
    default_params = getattr(out[0], "default_params", None)
    defaults = default_params() if callable(default_params) else None
    for key, value in kwargs.items():
        if hasattr(defaults, key) and hasattr(out[1], key):
            _checked(name, key, getattr(defaults, key), value)
    return out


def _is_users(factory: Callable[..., Any]) -> bool:
    """`factory` was registered by a user (jaxac's own live in jaxac.envs)."""
    return sources.is_users(getattr(getattr(factory, "func", factory), "__module__", None))


def source(name: Any) -> Optional[Dict[str, str]]:
    """Where the code of environment `name` lives, so that a run can find it again from another
    directory or process (`jaxac.sources.where`, and for a name registered from Python
    "factory", its qualified name); {"object": text} for an environment object (not
    recordable); None for jaxac's own and gymnax's environments."""
    if not isinstance(name, str):
        return {"object": C.object_text(name)}
    if name in REGISTRY:
        factory = REGISTRY[name]
        if not _is_users(factory):
            return None
        factory = getattr(factory, "func", factory)
        return {**sources.where(factory.__module__), "factory": getattr(factory, "__qualname__", "")}
    if ":" in name:
        return sources.where(name.partition(":")[0])
    return None


def recall(name: str, src: Optional[Dict[str, str]]) -> None:
    """Makes environment `name` of a run buildable again from its recorded `source`: imports its
    module (`jaxac.sources.load`); a name registered from Python is registered again from its
    module (importing a module that registers at import does it). Raises
    UnknownEnvironmentError saying what is missing."""
    if not src or "module" not in src or name in REGISTRY:
        return
    what = f"environment {name!r}"
    try:
        module = sources.load(src["module"], src.get("path"), what)
    except sources.Missing as err:
        raise UnknownEnvironmentError(str(err)) from None
    qualname = src.get("factory")
    if qualname and name not in REGISTRY:
        factory = module
        for part in qualname.split("."):
            factory = getattr(factory, part, None)
        if not callable(factory):
            raise UnknownEnvironmentError(
                f"{what} was registered from Python with {src['module']}.{qualname}, which is not a "
                f"module-level function: register it again with jaxac.register_env({name!r}, factory) "
                f"before using this run.")
        register(name, factory)


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
    return _users(name, factory, kwargs) if _is_users(factory) else factory(**kwargs)
