"""jaxac's environments (installed as `jaxac.envs`): classic control, probes, the registry."""

from jaxac.envs.registry import UnknownEnvironmentError, make, registered

__all__ = ["make", "registered", "UnknownEnvironmentError"]
