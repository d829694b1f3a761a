"""MuJoCo Playground's DM Control Suite environments through jaxac's environment contract.

    env, params = jaxac.make("playground/CartpoleBalance", episode_length=1000, action_repeat=1)

Playground (PyPI `playground`, module `mujoco_playground`) is the suite brax's team now
maintains on MJX. Its environments have brax's interface (`reset(rng)`, `step(state,
action)`, states with `obs`, `reward`, `done`), so they go through the brax adapter's
stepping unchanged: truncation at `episode_length` (the final observation kept), the env's
own `done` as termination, `action_repeat` summing rewards. Only the loading differs: the
model files of the DM Control Suite ship inside the package, so they work offline
(locomotion and manipulation suites that download assets at run time are left out).

Keywords other than `episode_length` and `action_repeat` override the environment's
Playground config (e.g. `ctrl_dt=0.02`). `impl` is MJX's implementation: "jax" (the
default here; Playground defaults to "warp", which needs an NVIDIA GPU) or "warp".

Playground is an optional dependency (`pip install -e ".[playground]"`), imported on first use.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional, Tuple

from jaxac.env import Box
from jaxac.envs import lapack_free
from jaxac.envs.brax_adapter import BraxEnv, BraxParams, check_counts

# the DM Control Suite ids of playground 0.2 (listed here so the registry needs no import)
DM_CONTROL_ENVS = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
    "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
    "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop", "HopperStand",
    "HumanoidRun", "HumanoidStand", "HumanoidWalk", "PendulumSwingup", "PointMass",
    "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
)
IMPLS = ("jax", "warp")


def _suite():
    try:
        from mujoco_playground import dm_control_suite
    except ImportError as err:
        raise ImportError(f"playground environments need MuJoCo Playground: pip install -e "
                          f"'.[playground]' ({err})") from None
    return dm_control_suite


@functools.lru_cache(maxsize=None)
def load(name: str, impl: str, overrides: Tuple[Tuple[str, Any], ...] = ()) -> Any:
    """Playground's environment object (cached: building one compiles its MuJoCo model).
    MJX's Cholesky runs as XLA loops (`jaxac.envs.lapack_free`: LAPACK's can deadlock two
    CPU devices)."""
    lapack_free.patch_engines()
    return _suite().load(name, config_overrides={"impl": impl, **dict(overrides)})


@functools.lru_cache(maxsize=None)
def observation_size(name: str, impl: str, overrides: Tuple[Tuple[str, Any], ...] = ()) -> int:
    """Playground computes this by tracing `reset` each time it is asked: once is enough."""
    size = load(name, impl, overrides).observation_size
    if not isinstance(size, int):
        raise TypeError(f"playground/{name} has structured observations {size}; only flat "
                        f"(state) observations are supported")
    return size


@dataclasses.dataclass(frozen=True)
class PlaygroundEnv(BraxEnv):
    """A Playground environment (`name`, MJX `backend` = impl, config `kwargs`); stepping,
    truncation and action repeat are the brax adapter's."""

    backend: str = "jax"

    @property
    def brax_env(self) -> Any:
        return load(self.name, self.backend, self.kwargs)

    def observation_space(self, params) -> Box:
        return Box(-float("inf"), float("inf"), (observation_size(self.name, self.backend, self.kwargs),))


def make(name: str, episode_length: Optional[int] = None, action_repeat: int = 1,
         impl: str = "jax", **overrides) -> Tuple[PlaygroundEnv, BraxParams]:
    """`playground/<name>` for the registry. `episode_length` defaults to the env's config's."""
    if impl not in IMPLS:
        raise ValueError(f"impl={impl!r} is invalid: choose one of {IMPLS}")
    suite = _suite()
    if name not in suite.ALL_ENVS:
        raise ValueError(f"playground has no environment {name!r}")
    config = suite.get_default_config(name)
    unknown = sorted(set(overrides) - set(config.keys()))
    if unknown:
        raise ValueError(f"{unknown} are not config fields of playground/{name}; it has "
                         f"{sorted(config.keys())}")
    if episode_length is None:
        episode_length = int(config.episode_length)
    check_counts(episode_length, action_repeat)
    env = PlaygroundEnv(name, impl, tuple(sorted(overrides.items())))
    env.brax_env  # fail here (not inside a trace) on a bad config override
    return env, BraxParams(episode_length, action_repeat)
