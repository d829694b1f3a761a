"""Replay buffer as pure functions over a fixed-capacity pytree.

    buf = buffers.init(example_item, capacity)       # leaves [capacity, ...]
    buf = buffers.add(buf, items)                    # items: leaves [N, ...], wraps around
    batch = buffers.sample(buf, key, batch_size)     # uniform over the filled slots

The buffer is an ordinary pytree in the training state, so it is vmapped over seeds, jitted
with the rest of training and checkpointed with it. Items are whatever pytree the algorithm
stores; SAC stores the pre-reset `next_obs` so that truncated transitions bootstrap from the
episode's final observation. Leaves keep the example's dtype (observations may be stored in
bfloat16); floating leaves come back as float32 when sampled.

Written here rather than taken from flashbax: flashbax 0.1.3 (its latest release, 2025) is
untested against jax 0.10, its trajectory buffer pairs consecutive items (which after an
automatic reset pairs the reset observation with the final step), and the item buffer we need
is the 30 lines below.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxac.types import Array, PRNGKey


@struct.dataclass
class Buffer:
    """A ring buffer of transitions held in the training state (one seed's)."""

    data: Any  # pytree, leaves [capacity, ...]
    insert: Array  # int32 slot the next item goes to
    size: Array  # int32 number of filled slots (<= capacity)

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]


def init(example: Any, capacity: int) -> Buffer:
    """An empty buffer for items shaped like `example` (one item, no batch axis).

    Each leaf is stored in the example's dtype (e.g. bfloat16 observations halve memory).
    """
    def slots(x):
        x = jnp.asarray(x)
        return jnp.zeros((capacity,) + x.shape, x.dtype)

    return Buffer(jax.tree.map(slots, example), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def add(buf: Buffer, items: Any) -> Buffer:
    """Writes N items (leaves [N, ...]) at the insert position, wrapping around; N <= capacity."""
    n = jax.tree.leaves(items)[0].shape[0]
    cap = buf.capacity
    idx = (buf.insert + jnp.arange(n)) % cap
    data = jax.tree.map(lambda d, x: d.at[idx].set(x.astype(d.dtype)), buf.data, items)
    return Buffer(data, (buf.insert + n) % cap, jnp.minimum(buf.size + n, cap))


def grow(buf: Buffer, capacity: int) -> Buffer:
    """`buf` with room for `capacity` items, its items in their slots: what a buffer of that
    capacity holds after the same additions, provided `buf` never wrapped (a buffer sized to
    a whole run never does). `capacity` >= `buf.capacity`."""
    extra = capacity - buf.capacity
    if extra < 0:
        raise ValueError(f"grow: capacity {capacity} is below the buffer's {buf.capacity}")
    if extra == 0:
        return buf
    data = jax.tree.map(lambda d: jnp.concatenate([d, jnp.zeros((extra,) + d.shape[1:], d.dtype)]), buf.data)
    return Buffer(data, jnp.where(buf.size == buf.capacity, buf.capacity, buf.insert).astype(jnp.int32), buf.size)


def sample(buf: Buffer, key: PRNGKey, batch_size: int) -> Any:
    """`batch_size` items drawn uniformly (with replacement) from the filled slots."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buf.size, 1))
    return jax.tree.map(lambda d: _as_float32(d[idx]), buf.data)


def _as_float32(x: Array) -> Array:
    return x.astype(jnp.float32) if jnp.issubdtype(x.dtype, jnp.floating) else x


def nbytes(example: Any, capacity: int) -> int:
    """Memory of one buffer (one seed) in bytes, computed without allocating it."""
    shapes = jax.eval_shape(lambda: init(example, capacity))
    return int(sum(np.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(shapes)))
