"""Critics: interchangeable value representations behind one protocol (see `base`).

`options.CriticOptions` holds the config fields that choose and shape a critic;
`options.CRITICS` lists the names with a one-line description and a reference.
"""

from jaxac.critics.base import Critic, Particles
from jaxac.critics.categorical import CategoricalCritic, HLGaussCritic
from jaxac.critics.ensemble import Ensemble
from jaxac.critics.flow import FlowCritic
from jaxac.critics.gaussian import GaussianCritic
from jaxac.critics.options import CRITICS, CriticOptions, preferred_aggregate
from jaxac.critics.quantile import QuantileCritic
from jaxac.critics.scalar import ScalarCritic

__all__ = [
    "Critic", "Particles", "ScalarCritic", "CategoricalCritic", "HLGaussCritic", "QuantileCritic",
    "GaussianCritic", "FlowCritic", "Ensemble", "CRITICS", "CriticOptions", "preferred_aggregate",
]
