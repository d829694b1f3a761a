"""Critics: interchangeable value representations behind one protocol (see `base`)."""

from jaxac.critics.base import Critic, Particles
from jaxac.critics.scalar import ScalarCritic

CRITICS = {"scalar": ScalarCritic}


def make_critic(name: str, **kwargs) -> Critic:
    """A critic by name (`CRITICS` lists them) with its keyword options."""
    if name not in CRITICS:
        raise ValueError(f"unknown critic {name!r}; choose one of {', '.join(CRITICS)}")
    return CRITICS[name](**kwargs)


__all__ = ["Critic", "Particles", "ScalarCritic", "CRITICS", "make_critic"]
