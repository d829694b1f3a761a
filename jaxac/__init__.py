"""jaxac: JAX-native actor-critic RL; a whole training run is one pure, vmappable function."""

from jaxac import env, types  # noqa: F401  (import order: envs depend on jaxac.env)
from jaxac import envs  # noqa: F401
from jaxac import parallel, presets  # noqa: F401
from jaxac.algos import a2c, ppo, sac
from jaxac.config import ConfigError, axes
from jaxac.envs import make, registered

__version__ = "0.1.0"

__all__ = ["ppo", "a2c", "sac", "presets", "parallel", "make", "registered", "ConfigError", "axes", "__version__"]
