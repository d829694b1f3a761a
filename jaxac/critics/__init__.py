"""Critics: interchangeable value representations behind one protocol (see `base`).

Every critic registers an options dataclass (a `Spec`) under its name (`registry`); a
config's `critic` field holds one. `entries()` lists the names with a one-line description
and a reference; `register` adds a critic from user code.
"""

from jaxac.critics.base import Critic, Head, Particles
from jaxac.critics.registry import (
    Context, RangedSpec, Spec, check_aggregate, ensemble, entries, names, register, reward_range, spec,
)
from jaxac.critics.ensemble import Ensemble

# the built-in critics register themselves on import, in the order they are listed
from jaxac.critics.scalar import ScalarCritic, ScalarSpec  # noqa: E402
from jaxac.critics.categorical import C51Spec, CategoricalCritic, HLGaussCritic, HLGaussSpec  # noqa: E402
from jaxac.critics.quantile import QuantileCritic, QuantileSpec, TQCSpec  # noqa: E402
from jaxac.critics.gaussian import GaussianCritic, GaussianSpec  # noqa: E402
from jaxac.critics.flow import FlowCritic, FlowSpec  # noqa: E402

__all__ = [
    "Critic", "Head", "Particles", "Spec", "RangedSpec", "Context", "register", "spec", "names", "entries",
    "ensemble", "check_aggregate", "reward_range", "Ensemble",
    "ScalarCritic", "CategoricalCritic", "HLGaussCritic", "QuantileCritic", "GaussianCritic", "FlowCritic",
    "ScalarSpec", "C51Spec", "HLGaussSpec", "QuantileSpec", "TQCSpec", "GaussianSpec", "FlowSpec",
]
