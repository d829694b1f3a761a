"""The critic registry: a critic is a registered options dataclass (a `Spec`) whose `build`
returns an object with the critic protocol (`jaxac.critics.base`).

A config's `critic` field holds a spec, so its options are a nested, typed group
(`critic.num_bins`), float options are pytree leaves (`jax.vmap` sweeps `critic.hl_sigma`),
and adding a critic touches no algorithm:

    @jaxac.critics.register("mine", "my critic, one line")
    @jaxac.config.group
    class MySpec(jaxac.critics.Spec):
        width: int = C.static(3)
        def build(self, ctx): return MyCritic(**self.head(ctx), width=self.width)

    jaxac.ppo.Config(critic="mine")      # or critic={"name": "mine", "width": 5}

Ensembles (SAC's twin critics, TQC) wrap any spec's critic (`ensemble`).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, NamedTuple, Optional, Tuple, Type

import jax.numpy as jnp

from jaxac import config as C
from jaxac.critics.ensemble import AGGREGATES, Ensemble
from jaxac.networks import check_hidden


class Context(NamedTuple):
    """What a critic is built against: the unwrapped environment and its params (for the
    declared reward range), the discount and reward scale (for value ranges) and the
    policy's network settings (the critic's torso defaults to them)."""

    env: Any
    env_params: Any
    gamma: Any
    reward_scale: Any
    hidden: Tuple[int, ...]
    activation: str
    weight_init: str


class Entry(NamedTuple):
    """A registered critic: its options class, a one-line description and its reference."""

    spec: Type["Spec"]
    description: str
    reference: str


_REGISTRY: Dict[str, Entry] = {}


@C.group
class Spec(C.Group):
    """Options every critic has: its torso (`hidden`, () = the policy's), layer norm and
    dropout. Subclasses add their own options and `build`. Class attributes: `name` (set by
    `register`), `default_aggregate` (the ensemble rule for `aggregate="auto"`),
    `truncatable` (whether "truncate" applies: the critic has quantile atoms to drop),
    `regression` (the loss is 0.5 (V - y)^2 and its metrics carry that V as `value`, so
    PPO's value clipping applies)."""

    switchable: ClassVar[bool] = True
    name: ClassVar[str] = ""
    default_aggregate: ClassVar[str] = "min"
    truncatable: ClassVar[bool] = False
    regression: ClassVar[bool] = False

    hidden: Tuple[int, ...] = C.static((), "critic hidden widths (none: policy's)")
    layer_norm: bool = C.static(False, 'layer norm in the critic')
    dropout: float = C.static(0.0, 'critic dropout rate')

    def switch(self, name: str) -> "Spec":
        return spec(name)

    def ensemble_drop(self) -> int:
        """Atoms per ensemble member that the "truncate" rule drops (truncatable critics)."""
        return 0

    def head(self, ctx: Context) -> Dict[str, Any]:
        """The keyword arguments of `jaxac.critics.base.Head` for this spec."""
        return dict(hidden=tuple(self.hidden or ctx.hidden), activation=ctx.activation,
                    layer_norm=self.layer_norm, dropout=self.dropout, weight_init=ctx.weight_init)

    def build(self, ctx: Context) -> Any:
        """The critic object (one member)."""
        raise NotImplementedError(f"critic spec {type(self).__name__} has no build()")

    def validate(self, prefix: str = "critic.") -> None:
        if self.hidden != ():  # () takes the policy's
            check_hidden(f"{prefix}hidden", self.hidden)
        C.check_number(f"{prefix}dropout", self.dropout, lambda x: (x >= 0) & (x < 1), "in [0, 1)")

    def validate_context(self, ctx: Context, prefix: str = "critic.") -> None:
        """Checks that need the environment (e.g. its reward range); none by default."""


@C.group
class RangedSpec(Spec):
    """A critic over a fixed value interval (bins, a noise interval). Unless `v_min`/`v_max`
    are set it comes from the environment's declared reward bounds [r_lo, r_hi] (times the
    reward scale): [min(0, r_lo), max(0, r_hi)] / (1 - gamma) holds every discounted return."""

    v_min: Optional[float] = C.static(None, "value range low (unset: from the env's reward bounds)")
    v_max: Optional[float] = C.static(None, "value range high (unset: from the env's reward bounds)")
    def validate(self, prefix: str = "critic.") -> None:
        super().validate(prefix)
        if (self.v_min is None) != (self.v_max is None):
            raise C.ConfigError(f"{prefix}v_min and {prefix}v_max are invalid: set both or neither.")
        if self.v_min is not None and not self.v_min < self.v_max:
            raise C.ConfigError(f"{prefix}v_min={self.v_min}, {prefix}v_max={self.v_max} are invalid: "
                                f"need v_min < v_max.")

    def validate_context(self, ctx: Context, prefix: str = "critic.") -> None:
        if self.v_min is not None:
            return
        if reward_range(ctx.env, ctx.env_params) is None:
            raise C.ConfigError(f"{prefix[:-1]}={self.name!r} needs a value range and the environment declares "
                                f"no reward bounds: set {prefix}v_min and {prefix}v_max.")
        C.check_number("gamma", ctx.gamma, lambda g: g < 1,
                       f"< 1 for {prefix[:-1]}={self.name!r} without v_min/v_max (the range is r/(1-gamma))")

    def value_range(self, ctx: Context) -> Tuple[Any, Any]:
        """(v_min, v_max): the fields if set, else from the env's reward bounds and gamma."""
        if self.v_min is not None:
            return self.v_min, self.v_max
        lo, hi = reward_range(ctx.env, ctx.env_params)
        scale = ctx.reward_scale / (1.0 - ctx.gamma)
        return jnp.minimum(0.0, lo) * scale, jnp.maximum(0.0, hi) * scale


def reward_range(env: Any, env_params: Any) -> Optional[Tuple[float, float]]:
    """The environment's declared per-step reward bounds, or None (wrappers do not change
    rewards, so the innermost environment's declaration is used)."""
    base = getattr(env, "unwrapped", env)
    declared = getattr(base, "reward_range", None)
    return None if declared is None else declared(env_params)


def register(name: str, description: str, reference: str = "-") -> Callable[[type], type]:
    """Class decorator: registers a `Spec` subclass under `name` (it sets the class's `name`).
    Registering a name again replaces the entry (re-imported user code)."""
    def decorate(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Spec)):
            raise TypeError(f"register({name!r}) needs a subclass of jaxac.critics.Spec, got {cls!r}")
        cls.name = name
        cls.replace = C.group_replace  # dotted paths and dict overlays, as every config group
        _REGISTRY[name] = Entry(cls, description, reference)
        return cls
    return decorate


def names() -> Tuple[str, ...]:
    """Every registered critic's name, in registration order."""
    return tuple(_REGISTRY)


def entries() -> Dict[str, Entry]:
    """name -> (spec class, one-line description, reference), in registration order."""
    return dict(_REGISTRY)


def spec(name: str, **options: Any) -> Spec:
    """The registered critic `name`'s spec with `options` (ConfigError naming the choices)."""
    if name not in _REGISTRY:
        raise C.ConfigError(f"critic={name!r} is invalid: choose one of {', '.join(map(repr, _REGISTRY))}.")
    return C.replace(_REGISTRY[name].spec(), **options)


def aggregate_rule(spec_: Spec, aggregate: str) -> str:
    """The ensemble rule: `aggregate`, or the critic's preferred one for "auto"."""
    return spec_.default_aggregate if aggregate == "auto" else aggregate


def check_aggregate(spec_: Spec, aggregate: str, name: str = "aggregate") -> None:
    """`ConfigError` unless `aggregate` is a rule that applies to this critic."""
    C.check_choice(name, aggregate, ("auto",) + AGGREGATES)
    if aggregate_rule(spec_, aggregate) == "truncate" and not spec_.truncatable:
        raise C.ConfigError(
            f"{name}='truncate' is invalid for critic={spec_.name!r}: truncation drops the largest "
            f"quantiles, use critic='tqc' (or 'quantile')."
        )


def ensemble(spec_: Spec, ctx: Context, size: int, aggregate: str) -> Ensemble:
    """`size` members of the spec's critic combined by `aggregate` (see `Ensemble`)."""
    return Ensemble(spec_.build(ctx), size, aggregate_rule(spec_, aggregate), spec_.ensemble_drop())
