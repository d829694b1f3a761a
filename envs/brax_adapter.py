"""brax environments through jaxac's environment contract.

    env, params = jaxac.make("brax/hopper", backend="generalized", episode_length=1000, action_repeat=1)

Every environment brax ships (`BRAX_ENVS`) is registered as `brax/<name>`. `backend`
(generalized | positional | spring | mjx) and any other keyword of brax's environment
constructor (e.g. `ctrl_cost_weight=0.1`) select the brax environment; `episode_length` and
`action_repeat` are params. Semantics, as brax's `EpisodeWrapper`:

- one `step` applies the action `action_repeat` times and sums the rewards;
- the episode is *truncated* when its env-step count (repeats included) reaches
  `episode_length`, unless brax's own `done` (e.g. hopper falling) ended it on that step,
  which is *termination*. `final_obs` is the last observation either way (the training stack's
  `AutoReset` keeps it before resetting).

Unlike brax.training's auto-reset (which restarts every episode of an env from the same
cached initial state), jaxac resets each episode from a fresh random initial state.

brax is an optional dependency (`pip install -e ".[brax]"`), imported on first use.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxac.env import Box, make_timestep
from jaxac.envs import lapack_free
from jaxac.types import Array

BRAX_ENVS = ("ant", "fast", "halfcheetah", "hopper", "humanoid", "humanoidstandup",
             "inverted_double_pendulum", "inverted_pendulum", "pusher", "reacher", "swimmer",
             "walker2d")
BACKENDS = ("generalized", "positional", "spring", "mjx")


@functools.lru_cache(maxsize=None)
def load(name: str, backend: str, kwargs: Tuple[Tuple[str, Any], ...] = ()) -> Any:
    """brax's environment object (cached: building one parses its MJCF model)."""
    try:
        from brax import envs
    except ImportError as err:
        raise ImportError(f"brax/{name} needs brax: pip install -e '.[brax]' ({err})") from None
    _patch_fluid_clip()
    lapack_free.patch_engines()  # LAPACK's Cholesky can deadlock two CPU devices
    extra = dict(kwargs)
    if name != "fast":  # the test env takes no backend
        extra["backend"] = backend
    return envs.get_environment(name, **extra)


class _ClipCompat:
    """jax.numpy, with the `clip(x, a_min=, a_max=)` keywords that jax 0.10 removed."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)

    def clip(self, x, min=None, max=None, *, a_min=None, a_max=None):  # noqa: A002 (jnp's names)
        return self._module.clip(x, a_min if min is None else min, a_max if max is None else max)


def _patch_fluid_clip() -> None:
    """brax 0.14.2's fluid model (the swimmer's viscosity and density forces) calls
    `jnp.clip(x, a_min=1e-12)`, which jax 0.10 removed, so `brax/swimmer` fails to trace.
    This gives `brax.fluid` (only that module) a jax.numpy that accepts the old keywords."""
    import inspect

    from brax import fluid

    if "a_min" in inspect.signature(jnp.clip).parameters or isinstance(fluid.jp, _ClipCompat):
        return
    fluid.jp = _ClipCompat(fluid.jp)


@struct.dataclass
class BraxParams:
    """Episode length and action repeat of a brax environment."""

    episode_length: int = struct.field(pytree_node=False, default=1000)
    action_repeat: int = struct.field(pytree_node=False, default=1)


@struct.dataclass
class BraxState:
    """brax's own state and the env-step count (for truncation)."""

    inner: Any  # brax.envs.State: pipeline_state, obs, reward, done, metrics, info
    time: Array  # int32 env steps of the episode so far (action repeats included)


def _strong(tree: Any) -> Any:
    """Every leaf with a concrete (non-weak) dtype: brax's reset returns some weakly typed
    scalars that its step returns strongly typed, which would make a scan carry started from
    a reset change type (and a chunked run compile twice)."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


def check_counts(episode_length: Any, action_repeat: Any) -> None:
    """Both must be integers >= 1 (ValueError naming the field otherwise)."""
    for field, value in (("episode_length", episode_length), ("action_repeat", action_repeat)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{field}={value!r} is invalid: use an integer >= 1")


@dataclasses.dataclass(frozen=True)
class BraxEnv:
    """A brax environment (`name`, `backend`, constructor `kwargs`) as a jaxac environment."""

    name: str
    backend: str = "generalized"
    kwargs: Tuple[Tuple[str, Any], ...] = ()
    # A brax state is large (the whole pipeline state): `unroll` must not pre-draw one reset
    # per step and environment; it draws one per environment per rollout instead.
    predraw_resets = False

    @property
    def brax_env(self) -> Any:
        return load(self.name, self.backend, self.kwargs)

    def default_params(self) -> BraxParams:
        return BraxParams()

    def reset(self, key, params):
        inner = _strong(self.brax_env.reset(key))
        state = BraxState(inner, jnp.zeros((), jnp.int32))
        return state, make_timestep(inner.obs, 0.0, False, False)

    def step(self, key, state, action, params):
        env = self.brax_env
        if params.action_repeat == 1:
            inner = env.step(state.inner, action)
            reward = inner.reward
        else:
            def repeat(s, _):
                s = env.step(s, action)
                return s, s.reward
            inner, rewards = jax.lax.scan(repeat, state.inner, None, length=params.action_repeat)
            reward = rewards.sum()
        inner = _strong(inner)
        time = state.time + params.action_repeat
        terminated = inner.done > 0.5
        truncated = (time >= params.episode_length) & ~terminated
        return BraxState(inner, time), make_timestep(inner.obs, reward, terminated, truncated)

    def observation_space(self, params) -> Box:
        size = self.brax_env.observation_size
        return Box(-jnp.inf, jnp.inf, (int(size),))

    def action_space(self, params) -> Box:
        return Box(-1.0, 1.0, (int(self.brax_env.action_size),))


def make(name: str, backend: str = "generalized", episode_length: int = 1000, action_repeat: int = 1,
         **kwargs) -> Tuple[BraxEnv, BraxParams]:
    """`brax/<name>` for the registry; `kwargs` go to brax's environment constructor."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is invalid: choose one of {BACKENDS}")
    check_counts(episode_length, action_repeat)
    env = BraxEnv(name, backend, tuple(sorted(kwargs.items())))
    env.brax_env  # fail here (not inside a trace) on a missing brax or a bad constructor kwarg
    return env, BraxParams(episode_length, action_repeat)


def brax_state(state: Any) -> BraxState:
    """The adapter's state inside a stack of wrapper states (each keeps its env's as `inner`)."""
    while not isinstance(state, BraxState):
        if not hasattr(state, "inner"):
            raise TypeError(f"no brax environment state in {type(state).__name__}")
        state = state.inner
    return state


def html(env: Any, states: Any, length: int, height: int = 480) -> str:
    """brax's HTML viewer of the first `length` + 1 of `states` (leaves [T, ...]; the state
    of `env`, the adapter or a wrapper around it)."""
    from brax.io import html as brax_html

    inner = brax_state(states).inner
    unwrapped = getattr(env, "unwrapped", env)
    if not isinstance(unwrapped, BraxEnv):
        raise TypeError(f"{type(unwrapped).__name__} is not a brax environment")
    brax_env = unwrapped.brax_env
    if not hasattr(brax_env, "sys"):
        raise TypeError(f"brax/{unwrapped.name} has no physical system to render")
    frames = [jax.tree.map(lambda x, t=t: x[t], inner.pipeline_state) for t in range(length + 1)]
    # brax's own viewers replay at the environment's control step, not the physics step
    sys = brax_env.sys.tree_replace({"opt.timestep": brax_env.dt})
    return brax_html.render(sys, frames, height=height)
