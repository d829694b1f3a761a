"""jaxac: JAX-native actor-critic RL; a whole training run is one pure, vmappable function."""

from jaxac import memory as _memory

_memory.tune_malloc()  # before jax starts its threads: flat memory on CPU devices (JAXAC_MALLOC=off)

from jaxac import parallel as _parallel

_parallel.split_cpu()  # before jax starts its backend: one CPU device per core (JAXAC_CPU_DEVICES)

from jaxac import env, types  # noqa: F401  (import order: envs depend on jaxac.env)
from jaxac import envs  # noqa: F401
from jaxac import compile_cache, memory, parallel, presets  # noqa: F401
from jaxac import critics  # noqa: F401
from jaxac.algos import a2c, pdppo, ppo, sac, td3
from jaxac.config import ConfigError, axes, replace
from jaxac.envs import make, registered
from jaxac.envs.registry import register as register_env
from jaxac.session import Result, Session
from jaxac.sweep_run import Sweep, SweepResult
from jaxac import pbt, sweep  # noqa: F401  (jaxac.pbt.Population, jaxac.sweep.run)
from jaxac import checkpoint, config, evaluate, summary  # noqa: F401  (used as jaxac.evaluate.episodes, ...)

__version__ = "0.1.0"

__all__ = ["ppo", "a2c", "sac", "td3", "pdppo", "critics", "presets", "parallel", "make", "registered", "register_env",
           "ConfigError", "axes", "replace", "Session", "Result", "Sweep", "SweepResult",
           "__version__"]
