"""FrozenLake-v1 in pure JAX, transition for transition gymnasium 1.x's, with post-decision states.

    env, params = jaxac.make("FrozenLake-v1")                  # 4x4, slippery, 100-step limit
    env, params = jaxac.make("FrozenLake-v1", map_name="8x8", is_slippery=False)

The agent walks a frozen lake from S to G (reward 1) without falling into a hole H (reward
0; both end the episode). Actions: 0 left, 1 down, 2 right, 3 up. On slippery ice the move
goes the intended way with probability `success_rate` (gymnasium's 1/3) and to either
perpendicular side with (1 - success_rate) / 2 each; a move off the edge stays put. The
time limit is gymnasium's FrozenLake-v1 registration's, 100 steps on either map (its
FrozenLake8x8-v1 has 200: pass max_steps=200), reported as `truncated`.

Observations are one-hot over the cells ([rows * cols] float32; gymnasium's is the cell
index). The post-decision state (Felizardo et al. 2025) is the cell the intended move
reaches before the ice decides: `post_decision(state, action, params)` returns it one-hot,
in the observation's shape.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxac.env import Box, Discrete, make_timestep
from jaxac.types import Array

MAPS = {  # gymnasium's
    "4x4": ("SFFF", "FHFH", "FFFH", "HFFG"),
    "8x8": ("SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF", "FFFHFFFF", "FHHFFFHF", "FHFFHFHF", "FFFHFFFG"),
}
MOVES = ((0, -1), (1, 0), (0, 1), (-1, 0))  # (row, col) of left, down, right, up


@struct.dataclass
class FrozenLakeParams:
    """Whether the ice is slippery, how often a slippery move goes the intended way, and the time limit."""

    success_rate: float = 1.0 / 3.0  # probability that a slippery move goes the intended way
    is_slippery: bool = struct.field(pytree_node=False, default=True)
    max_steps: int = struct.field(pytree_node=False, default=100)


@struct.dataclass
class FrozenLakeState:
    """The agent's cell and the step count."""

    cell: Array  # int32 row * cols + col
    time: Array  # int32 steps taken


@dataclasses.dataclass(frozen=True)
class FrozenLake:
    """FrozenLake-v1 on `desc` (rows of S/F/H/G, static)."""

    desc: Tuple[str, ...] = MAPS["4x4"]

    @property
    def shape(self) -> Tuple[int, int]:
        return len(self.desc), len(self.desc[0])

    @property
    def cells(self) -> int:
        return self.shape[0] * self.shape[1]

    def _letters(self, letter: str) -> Array:
        """[cells] bool: where the map has `letter`."""
        return jnp.asarray([c == letter for row in self.desc for c in row])

    def default_params(self) -> FrozenLakeParams:
        return FrozenLakeParams()

    def move(self, cell: Array, direction: Array) -> Array:
        """The cell one step in `direction` (0 left, 1 down, 2 right, 3 up), staying on the map."""
        rows, cols = self.shape
        d_row, d_col = jnp.asarray(MOVES, jnp.int32)[direction].T
        row = jnp.clip(cell // cols + d_row, 0, rows - 1)
        col = jnp.clip(cell % cols + d_col, 0, cols - 1)
        return (row * cols + col).astype(jnp.int32)

    def direction(self, key, action: Array, params: FrozenLakeParams) -> Array:
        """The direction the ice gives: `action`, or on slippery ice a perpendicular one."""
        if not params.is_slippery:
            return jnp.asarray(action, jnp.int32)
        fail = (1.0 - params.success_rate) / 2.0
        offset = jax.random.choice(key, jnp.asarray([-1, 0, 1]), p=jnp.stack([fail, params.success_rate, fail]))
        return ((action + offset) % 4).astype(jnp.int32)

    def reset(self, key, params):
        start = jnp.argmax(self._letters("S")).astype(jnp.int32)  # gymnasium's maps have one start
        state = FrozenLakeState(start, jnp.zeros((), jnp.int32))
        return state, make_timestep(self._obs(state.cell), 0.0, False, False)

    def step(self, key, state, action, params):
        cell = self.move(state.cell, self.direction(key, action, params))
        time = state.time + 1
        goal, hole = self._letters("G")[cell], self._letters("H")[cell]
        state = FrozenLakeState(cell, time)
        return state, make_timestep(self._obs(cell), goal.astype(jnp.float32), goal | hole, time >= params.max_steps)

    def post_decision(self, state, action, params) -> Array:
        """One-hot [cells] of the cell the intended move reaches, before any slip."""
        return self._obs(self.move(state.cell, jnp.asarray(action, jnp.int32)))

    def _obs(self, cell: Array) -> Array:
        return jax.nn.one_hot(cell, self.cells, dtype=jnp.float32)

    def observation_space(self, params):
        return Box(0.0, 1.0, (self.cells,))

    def reward_range(self, params):
        return 0.0, 1.0

    def action_space(self, params):
        return Discrete(4)


def make(map_name: str = "4x4", **kwargs):
    """(FrozenLake on gymnasium's `map_name` map, params with `kwargs` applied)."""
    from jaxac.envs.registry import override_params

    if map_name not in MAPS:
        raise ValueError(f"map_name={map_name!r} is invalid: use one of {', '.join(MAPS)}")
    env = FrozenLake(MAPS[map_name])
    params = override_params("FrozenLake-v1", env.default_params(), kwargs)
    if not 0.0 <= float(params.success_rate) <= 1.0:
        raise ValueError(f"success_rate={params.success_rate!r} is invalid: use a probability in [0, 1]")
    return env, params
