"""Replay buffer: wrap-around, sampling only filled slots, dtypes, memory, vmap."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxac import buffers


def example():
    return {"obs": jnp.zeros((3,), jnp.bfloat16), "action": jnp.zeros((), jnp.int32),
            "reward": jnp.zeros((), jnp.float32)}


def items(start, n):
    i = start + jnp.arange(n)
    return {"obs": jnp.stack([i, i, i], -1).astype(jnp.float32), "action": i, "reward": i * 1.0}


def test_add_fills_then_wraps_around_overwriting_the_oldest():
    buf = buffers.init(example(), 5)
    assert buf.capacity == 5 and int(buf.size) == 0
    buf = buffers.add(buf, items(0, 3))
    assert int(buf.size) == 3 and int(buf.insert) == 3
    buf = buffers.add(buf, items(3, 4))  # 3,4 fill the end; 5,6 overwrite slots 0,1
    assert int(buf.size) == 5 and int(buf.insert) == 2
    np.testing.assert_array_equal(buf.data["action"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buf.data["obs"][:, 0].astype(np.float32), [5, 6, 2, 3, 4])


def test_sample_draws_only_filled_slots_and_casts_floats_back():
    buf = buffers.add(buffers.init(example(), 100), items(10, 7))
    batch = buffers.sample(buf, jax.random.key(0), 1000)
    assert set(np.asarray(batch["action"]).tolist()) == set(range(10, 17))
    assert batch["obs"].dtype == jnp.float32 and batch["action"].dtype == jnp.int32
    np.testing.assert_array_equal(batch["obs"][:, 0], batch["reward"])


def test_stored_dtype_and_memory_per_seed():
    buf = buffers.init(example(), 10)
    assert buf.data["obs"].dtype == jnp.bfloat16
    assert buffers.nbytes(example(), 10) == 10 * (3 * 2 + 4 + 4) + 2 * 4


def test_vmapped_buffers_are_independent():
    bufs = jax.vmap(lambda _: buffers.init(example(), 4))(jnp.arange(2))
    bufs = jax.vmap(buffers.add)(bufs, jax.vmap(lambda s: items(s, 3))(jnp.array([0, 100])))
    np.testing.assert_array_equal(bufs.data["action"][:, :3], [[0, 1, 2], [100, 101, 102]])
    batch = jax.jit(jax.vmap(buffers.sample, in_axes=(0, 0, None)), static_argnums=2)(
        bufs, jax.random.split(jax.random.key(0), 2), 50)
    assert np.asarray(batch["action"][0]).max() < 3 and np.asarray(batch["action"][1]).min() >= 100
