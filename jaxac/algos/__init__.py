"""Algorithms: each module has Config, State, init, update, train, components (what
evaluation acts with) and smoke_config (the smallest sensible run, which the conformance
suite runs in every mode and device layout). `ALGORITHMS` maps a name to its module;
`register` adds one (a module, or any object with those seven names)."""

from __future__ import annotations

from typing import Any, Dict

ALGORITHMS: Dict[str, Any] = {}
REQUIRED = ("Config", "State", "init", "update", "train", "components", "smoke_config")
# what the run layer reads of every algorithm's config and state (docs/design/algorithm-protocol.md)
CONFIG_PROPERTIES = ("num_updates", "steps_per_update", "warmup_steps")
STATE_FIELDS = ("params", "obs_stats")


def register(name: str, module: Any) -> None:
    """Makes `module` an algorithm that the CLI, sessions, sweeps and PBT find by `name`, once
    it provides the protocol (docs/design/algorithm-protocol.md): `Config` (with
    `CONFIG_PROPERTIES`), `State` (with `STATE_FIELDS`), `init`, `update`, `train`,
    `components`, `smoke_config`. A module that does not is refused with one line."""
    missing = [n for n in REQUIRED if not hasattr(module, n)]
    missing += [f"Config.{n}" for n in CONFIG_PROPERTIES
                if not missing and not hasattr(module.Config, n)]
    missing += [f"State.{n}" for n in STATE_FIELDS
                if not missing and n not in getattr(module.State, "__dataclass_fields__", {})]
    if missing:
        raise TypeError(f"algorithm {name!r} lacks {', '.join(missing)} (see docs/design/algorithm-protocol.md)")
    ALGORITHMS[name] = module


def get(name: str) -> Any:
    """The registered algorithm module called `name`; `ConfigError` naming the choices otherwise."""
    from jaxac.config import ConfigError

    if name not in ALGORITHMS:
        raise ConfigError(f"algorithm {name!r} is invalid: choose one of {', '.join(map(repr, ALGORITHMS))}.")
    return ALGORITHMS[name]


from jaxac.algos import a2c, pdppo, ppo, sac, td3  # noqa: E402  (they import this package's submodules)

register("ppo", ppo)
register("a2c", a2c)
register("sac", sac)
register("pdppo", pdppo)
register("td3", td3)
