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
import functools
import warnings
from typing import Any, Callable, Dict, Iterator, Mapping, Tuple

import jax
import numpy as np
from flax import struct

_CHECKING = contextvars.ContextVar("jaxac_config_checking", default=True)


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field and the fix."""


class JaxacWarning(UserWarning):
    """A setting that runs but probably not as meant; the CLI shows it as one line."""


def static(default: Any, doc: str = "", choices: Any = None) -> Any:
    """A structural config field: part of the compiled program, not a pytree leaf. `doc` is
    its one-line meaning (the CLI's help), `choices` its allowed values if they are few."""
    return struct.field(pytree_node=False, default=default, metadata={"doc": doc, "choices": choices})


def leaf(default: Any, doc: str = "") -> Any:
    """A float hyperparameter: a pytree leaf, so `jax.vmap` can sweep it."""
    return struct.field(pytree_node=True, default=default, metadata={"doc": doc})


def field_doc(config_cls: Any, name: str) -> Tuple[str, Any]:
    """(doc, choices) of field `name`: the nearest class in the MRO that documents it (a
    subclass that only changes a default need not repeat the doc)."""
    for cls in (config_cls if isinstance(config_cls, type) else type(config_cls)).__mro__:
        f = getattr(cls, "__dataclass_fields__", {}).get(name)
        if f is not None and f.metadata.get("doc"):
            return f.metadata["doc"], f.metadata.get("choices")
    return "", None


@contextlib.contextmanager
def unchecked() -> Iterator[None]:
    """Builds config-shaped trees that are not configs (e.g. vmap `in_axes`)."""
    token = _CHECKING.set(False)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def checking() -> bool:
    """Whether configs are validated as they are built (off inside `unchecked()`)."""
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
    """`ConfigError` unless `value` is one of `choices`."""
    if value not in choices:
        raise ConfigError(
            f"{name}={value!r} is invalid: choose one of {', '.join(map(repr, choices))}."
        )


def check_positive_int(name: str, value: Any) -> None:
    """`ConfigError` unless `value` is an integer >= 1."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name}={value!r} is invalid: {name} must be an integer >= 1.")


def is_number(value: Any) -> bool:
    """A number or numeric array (traced ones too), never a bool or a string."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, float, np.integer, np.floating, jax.core.Tracer)):
        return True
    dtype = getattr(value, "dtype", None)  # numpy and jax arrays (a vmapped sweep's values)
    return dtype is not None and np.issubdtype(dtype, np.number)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


# field annotation -> (test, what to use); fields of other annotations are checked by their group
TYPES: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "float": (is_number, "a number"),
    "Optional[float]": (lambda v: v is None or is_number(v), "a number, or None"),
    "int": (_is_int, "an integer"),
    "bool": (lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "Tuple[int, ...]": (lambda v: isinstance(v, tuple) and all(map(_is_int, v)), "a tuple of integers"),
}


def check_types(config: Any, prefix: str = "") -> None:
    """Raises ConfigError for a field whose value is not of its annotated kind, in `config`
    and its groups: a string in a float or boolean field is an error, never a truthy value."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if is_group(value):
            check_types(value, prefix + f.name + ".")
            continue
        test, kind = TYPES.get(f.type, (None, ""))
        if test is not None and not test(value):
            raise ConfigError(f"{prefix}{f.name}={value!r} is invalid: use {kind}.")


def check_divides(name: str, value: int, total: int, what: str) -> None:
    """Raises ConfigError unless `value` divides `total` (`what`: how `total` is made, for
    the message, e.g. "the batch num_envs * rollout_length"); the message lists divisors to use."""
    if total % value:
        raise ConfigError(
            f"{name}={value} is invalid: it must divide {what} = {total}; e.g. use one of "
            f"{[d for d in range(1, min(total, 64) + 1) if total % d == 0]}."
        )


def positive(x):
    """x > 0 (a predicate for `check_number`)."""
    return x > 0


def non_negative(x):
    """x >= 0 (a predicate for `check_number`)."""
    return x >= 0


def unit_interval(x):
    """0 <= x <= 1 (a predicate for `check_number`)."""
    return (x >= 0) & (x <= 1)


# ---- nested configs: groups, dotted paths, dicts ----------------------------------------------


# flat config fields of earlier versions -> their path in the config tree
RENAMED = {
    "hidden": "policy.hidden", "activation": "policy.activation",
    "continuous_dist": "policy.distribution", "state_dependent_std": "policy.state_dependent_std",
    "init_log_std": "policy.init_log_std", "policy_std": "policy.std", "network_init": "policy.init",
    "learning_rate": "optim.learning_rate", "adam_eps": "optim.eps", "optimizer_eps": "optim.eps",
    "optimizer": "optim.name", "max_grad_norm": "optim.max_grad_norm", "anneal_lr": "optim.schedule",
    "actor_lr": "optim.learning_rate", "critic_lr": "optim.critic_learning_rate",
    "alpha_lr": "optim.alpha_learning_rate",
    "normalize_observations": "obs.normalize", "obs_stats_before_update": "obs.stats_before_update",
    "gae_lambda": "advantage.gae_lambda", "normalize_advantages": "advantage.normalize",
    "advantage": "advantage.estimator",
    "critic_hidden": "critic.hidden", "critic_layer_norm": "critic.layer_norm",
    "critic_dropout": "critic.dropout", "num_bins": "critic.num_bins", "num_quantiles": "critic.num_quantiles",
    "tqc_drop": "critic.drop", "v_min": "critic.v_min", "v_max": "critic.v_max",
    "hl_sigma": "critic.hl_sigma", "huber_kappa": "critic.kappa", "gauss_beta": "critic.beta",
    "flow_noise": "critic.noise", "flow_steps": "critic.steps", "flow_samples": "critic.samples",
    "flow_bins": "critic.bins", "flow_actor": "critic.actor_value",
}


# fields renamed so that one concept has one name in every algorithm: old name -> new name,
# accepted (with a warning) until the next release wherever the config has the new one
ALIASES = {"num_steps": "rollout_length", "batch_size": "minibatch_size"}


def dealias(kind: type, fields: Mapping[str, Any], warn: bool = True) -> Dict[str, Any]:
    """`fields` (top-level names of a `kind` config) with old names (`ALIASES`) given their new
    ones; `warn`: say so once per name (a user's code; records of earlier runs are silent)."""
    out = dict(fields)
    for old, new in ALIASES.items():
        if old in out and old not in kind.__dataclass_fields__ and new in kind.__dataclass_fields__:
            if new in out:
                raise ConfigError(f"{old} and {new} are one field ({old} is its old name): give {new} only.")
            if warn:
                warnings.warn(f"{old} is now {new}; the old name is accepted until the next release.",
                              JaxacWarning, stacklevel=3)
            out[new] = out.pop(old)
    return out


def group(cls: type) -> type:
    """Class decorator of every config and config group: a frozen flax pytree dataclass whose
    `replace` is `jaxac.config.replace` (dotted paths; a dict overlays a group's current
    fields; a critic also takes a name), and whose constructor takes a renamed field's old name
    (`ALIASES`, with a warning) and names the path of a field given by an old flat name
    (`Config(learning_rate=...)`: optim.learning_rate)."""
    cls = struct.dataclass(cls)
    cls.replace = group_replace
    init = cls.__init__

    @functools.wraps(init)
    def checked_init(self, *args: Any, **kwargs: Any) -> None:
        kwargs = dealias(type(self), kwargs)
        for name in kwargs:
            if name not in type(self).__dataclass_fields__:
                raise ConfigError(unknown_field(self, name))
        init(self, *args, **kwargs)

    cls.__init__ = checked_init
    return cls


def unknown_field(config: Any, name: str) -> str:
    """The message for a field `name` that `config` (an instance or class) does not have."""
    kind = type(config) if not isinstance(config, type) else config
    owner = f"{kind.__module__.rsplit('.', 1)[-1]}.{kind.__qualname__}"
    if name in RENAMED and RENAMED[name].split(".")[0] in kind.__dataclass_fields__:
        group_name, field = RENAMED[name].split(".", 1)
        return (f"{owner} has no field {name!r}: it is now {RENAMED[name]} "
                f"({group_name}={{{field!r}: ...}}, or .replace(**{{{RENAMED[name]!r}: ...}})).")
    names = ", ".join(f.name for f in dataclasses.fields(kind))
    return f"{owner} has no field {name!r}: choose one of {names}."


def group_replace(self, **changes: Any) -> Any:
    """A group's `replace`: fields by name or dotted path, checked."""
    return replace(self, **changes)


@group
class Group:
    """Base of every config and config group (a frozen pytree dataclass). `validate(prefix)`
    checks the concrete fields; `prefix` is the group's dotted path, for messages."""

    def validate(self, prefix: str = "") -> None:
        """Subclasses check their fields; the base has none."""


def is_group(value: Any) -> bool:
    """A config (sub-)tree node, as opposed to a field value."""
    return isinstance(value, Group)


def get(config: Any, path: str) -> Any:
    """The value at a dotted `path`, e.g. `get(cfg, "optim.learning_rate")`."""
    value = config
    for part in path.split("."):
        if not is_group(value) or part not in {f.name for f in dataclasses.fields(value)}:
            raise ConfigError(f"unknown config field {path!r}: {_known(config, path)}")
        value = getattr(value, part)
    return value


def _known(config: Any, path: str) -> str:
    """Which names exist at the level where `path` goes wrong (for error messages)."""
    node, prefix = config, ""
    for part in path.split(".")[:-1]:
        names = {f.name for f in dataclasses.fields(node)} if is_group(node) else set()
        if part not in names or not is_group(getattr(node, part)):
            break
        node, prefix = getattr(node, part), prefix + part + "."
    names = [prefix + f.name for f in dataclasses.fields(node)] if is_group(node) else []
    return f"choose one of {', '.join(names)}" if names else "no such group"


def _replace_one(config: Any, parts: list, value: Any) -> Any:
    head, rest = parts[0], parts[1:]
    if not is_group(config) or head not in {f.name for f in dataclasses.fields(config)}:
        raise KeyError(head)
    if not rest:
        return dataclasses.replace(config, **{head: assign(getattr(config, head), value)})
    return dataclasses.replace(config, **{head: _replace_one(getattr(config, head), rest, value)})


def replace(config: Any, **paths: Any) -> Any:
    """`config` with the values at dotted paths replaced (parents before their children):
    `replace(cfg, **{"critic": "c51", "critic.num_bins": 51, "optim.learning_rate": 1e-3})`.
    A group given a dict is that group with those fields replaced; see `coerce_groups`."""
    if not paths:
        return config
    paths = dealias(type(config), paths)
    check = checking()
    with unchecked():  # the result is checked once: a half-applied change may be invalid
        for path in sorted(paths, key=lambda p: p.count(".")):
            try:
                config = _replace_one(config, path.split("."), paths[path])
            except KeyError:
                if path in RENAMED:
                    raise ConfigError(f"unknown config field {path!r}: it is now {RENAMED[path]}.") from None
                raise ConfigError(f"unknown config field {path!r}: {_known(config, path)}") from None
    if check:
        config.validate()
    return config


def axes(config: Any, **paths: int) -> Any:
    """A vmap `in_axes` tree for `config`: `None` everywhere but the named float fields,
    which may be nested: `jax.vmap(train, in_axes=(axes(cfg, **{"optim.learning_rate": 0}), None))`.
    """
    for path in paths:
        get(config, path)
    with unchecked():
        tree = jax.tree.map(lambda _: None, config)
        for path, axis in sorted(paths.items(), key=lambda kv: kv[0].count(".")):
            tree = _replace_one(tree, path.split("."), axis)
        return tree


def paths(config: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """(dotted path, value) of every field that is not itself a group, depth first."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if is_group(value):
            yield from paths(value, prefix + f.name + ".")
        else:
            yield prefix + f.name, value


def assign(current: Any, value: Any) -> Any:
    """What a field holding `current` holds after being set to `value`: a dict overlays a
    group; a switchable group (one that records its kind, such as a critic spec, with a
    `name` and `switch(name)`) also takes a name, or a dict with a `name`, and keeps its
    options when the name is its own."""
    if not is_group(current) or is_group(value):
        return value
    switchable = getattr(current, "switchable", False)
    if switchable and isinstance(value, str):
        return current if value == current.name else current.switch(value)
    if isinstance(value, Mapping):
        rest = dict(value)
        if switchable:
            name = rest.pop("name", current.name)
            current = current if name == current.name else current.switch(name)
        return replace(current, **rest)
    raise ConfigError(f"{value!r} is invalid for a {type(current).__name__}: give a "
                      f"{type(current).__name__} or a dict of its fields.")


def to_dict(config: Any) -> Dict[str, Any]:
    """The config as JSON-friendly nested dicts (tuples become lists; a group that records
    its kind, such as a critic, adds `name`). `from_dict`-able by the Config class."""
    out: Dict[str, Any] = {}
    if getattr(config, "switchable", False):
        out["name"] = config.name
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if is_group(value):
            out[f.name] = to_dict(value)
        elif hasattr(value, "shape"):
            out[f.name] = np.asarray(value).tolist()
        elif isinstance(value, tuple):
            out[f.name] = _listify(value)
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[f.name] = value
        else:  # an object (e.g. an environment instance): recorded, not restorable
            out[f.name] = object_text(value)
    return out


def object_text(value: Any) -> str:
    """How a record names an object: its repr, or its class where the repr holds an address
    (so that two runs on equal objects record the same text)."""
    text = repr(value)
    return f"<{type(value).__module__}.{type(value).__qualname__} object>" if " at 0x" in text else text


def _listify(value):
    return [_listify(v) for v in value] if isinstance(value, tuple) else value


def _tuplify(value):
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _tuplify(v) for k, v in value.items()}
    return value


def from_dict(config_cls: Any, fields: Mapping[str, Any]) -> Any:
    """The inverse of `to_dict`: nested dicts become groups, lists the tuples fields hold (a
    record of an earlier version may use a field's old name, `ALIASES`)."""
    return config_cls(**{k: _tuplify(v) for k, v in dealias(config_cls, fields, warn=False).items()})


def coerce_groups(config: Any) -> None:
    """Turns group fields given as a dict (or, for a switchable group such as the critic, a
    name) into the group itself, by `assign` onto the field's default: so
    `ppo.Config(optim={"learning_rate": 1e-3})` keeps PPO's other optimiser settings. Called
    from a config's `__post_init__`; the stored value is always the group."""
    for f in dataclasses.fields(config):
        value, default = getattr(config, f.name), f.default
        if is_group(default) and value is not None and not is_group(value):
            object.__setattr__(config, f.name, assign(default, value))


def validate_groups(config: Any, prefix: str = "") -> None:
    """Calls `validate(prefix)` of every group field (the message then names the full path)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if is_group(value):
            value.validate(prefix + f.name + ".")
