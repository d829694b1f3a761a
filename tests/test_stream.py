"""Streaming: chunked runs reuse one executable, report progress, and equal the single call."""

import contextlib

import jax
import numpy as np
import pytest

from jaxac import stream
from jaxac.algos import ppo

PPO_CFG = ppo.Config(env="CartPole-v1", total_steps=4 * 32 * 7, num_envs=4, num_steps=32,
                     update_epochs=1, num_minibatches=2, hidden=(16,))


@contextlib.contextmanager
def count_compiles():
    """Counts XLA backend compilations inside the block."""
    events = []
    listener = lambda event, duration, **kw: events.append(event)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield lambda: events.count("/jax/core/compile/backend_compile_duration")
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


# SAC goes through the same Runner in tests/test_checkpoint.py (bitwise resume)
@pytest.mark.parametrize("module,cfg", [(ppo, PPO_CFG)], ids=["ppo"])
def test_chunks_reuse_one_executable_and_match_the_single_call(module, cfg):
    keys = jax.random.split(jax.random.key(0), 2)
    seen = []
    runner = stream.Runner(module, cfg, 2, chunk_updates=3)  # 7 updates: chunks of 3, 3, 1
    state = runner.init(cfg, keys)
    runner.compile(state)
    with count_compiles() as compiles:
        state, metrics, done = runner.run(state, 0, seen.append)
        assert compiles() == 0, "a chunk compiled"
    assert done == cfg.num_updates == 7
    assert [p.update for p in seen] == [3, 6, 7]
    assert [p.metrics["episodes"].shape for p in seen] == [(2, 3), (2, 3), (2, 1)]
    assert seen[-1].env_steps == cfg.warmup_steps + 7 * cfg.steps_per_update
    assert all(p.steps_per_second > 0 for p in seen)

    _, single = jax.jit(jax.vmap(module.train, in_axes=(None, 0)))(cfg, keys)
    for k, v in single.items():
        np.testing.assert_allclose(metrics[k], np.asarray(v), rtol=1e-5, atol=1e-6, err_msg=k)
    assert int(state.update_step[0]) == 7


def test_stop_at_a_chunk_boundary_and_continue():
    keys = jax.random.split(jax.random.key(1), 2)
    runner = stream.Runner(ppo, PPO_CFG, 2, chunk_updates=2)
    calls = []
    state, first, done = runner.run(runner.init(PPO_CFG, keys), 0, calls.append, stop=lambda: len(calls) >= 2)
    assert done == 4 and first["loss"].shape == (2, 4)
    state, rest, done = runner.run(state, done)
    assert done == 7 and rest["loss"].shape == (2, 3)
    _, straight, _ = runner.run(runner.init(PPO_CFG, keys), 0)
    for k in straight:
        np.testing.assert_array_equal(np.concatenate([first[k], rest[k]], 1), straight[k], err_msg=k)
