"""Config machinery shared by every algorithm.

A config is a frozen pytree dataclass: structural fields (sizes, names, flags) are static
metadata, float hyperparameters are leaves, so `jax.vmap` can sweep them. Validation runs at
construction on every concrete value and raises `ConfigError` naming the field, the bad value
and what is allowed. Traced values (inside jit/vmap) are skipped: they were checked when the
concrete config was built.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Any, Callable, Iterator

import jax
import numpy as np
from flax import struct

_CHECKING = contextvars.ContextVar("jaxac_config_checking", default=True)


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field and the fix."""


def static(default: Any) -> Any:
    """A structural config field: part of the compiled program, not a pytree leaf."""
    return struct.field(pytree_node=False, default=default)


@contextlib.contextmanager
def unchecked() -> Iterator[None]:
    """Builds config-shaped trees that are not configs (e.g. vmap `in_axes`)."""
    token = _CHECKING.set(False)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def checking() -> bool:
    return _CHECKING.get()


def _concrete(value: Any):
    """The value as a numpy array, or None when it is traced or not numeric."""
    if isinstance(value, jax.core.Tracer) or isinstance(value, bool) or value is None:
        return None
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything unconvertible is not ours to check
        return None
    return arr if np.issubdtype(arr.dtype, np.number) else None


def check_number(name: str, value: Any, ok: Callable[[np.ndarray], np.ndarray], allowed: str) -> None:
    """Raises ConfigError unless every element of a concrete `value` satisfies `ok`."""
    arr = _concrete(value)
    if arr is None:
        return
    if not np.all(ok(arr)) or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name}={value!r} is invalid: {name} must be {allowed}.")


def check_choice(name: str, value: Any, choices) -> None:
    if value not in choices:
        raise ConfigError(
            f"{name}={value!r} is invalid: choose one of {', '.join(map(repr, choices))}."
        )


def check_positive_int(name: str, value: Any) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name}={value!r} is invalid: {name} must be an integer >= 1.")


def check_divides(name: str, value: int, total: int, what: str) -> None:
    """Raises ConfigError unless `value` divides `total` (`what`: how `total` is made, for
    the message, e.g. "the batch num_envs * num_steps"); the message lists divisors to use."""
    if total % value:
        raise ConfigError(
            f"{name}={value} is invalid: it must divide {what} = {total}; e.g. use one of "
            f"{[d for d in range(1, min(total, 64) + 1) if total % d == 0]}."
        )


def positive(x):
    return x > 0


def non_negative(x):
    return x >= 0


def unit_interval(x):
    return (x >= 0) & (x <= 1)


def axes(config: Any, **fields: int) -> Any:
    """A vmap `in_axes` tree for `config`: `None` everywhere but the named float fields.

    Example: `jax.vmap(train, in_axes=(axes(cfg, learning_rate=0), None))`.
    """
    unknown = set(fields) - {f.name for f in dataclasses.fields(config)}
    if unknown:
        raise ConfigError(f"unknown config field(s) {sorted(unknown)} in axes()")
    with unchecked():
        none = jax.tree.map(lambda _: None, config)
        return none.replace(**fields)
