"""Streaming: chunked runs reuse one executable, report progress, and equal the single call."""

import contextlib

import jax
import numpy as np
import pytest

from jaxac import stream
from jaxac.algos import ppo

PPO_CFG = ppo.Config(env="CartPole-v1", total_steps=4 * 32 * 7, num_envs=4, rollout_length=32,
                     update_epochs=1, num_minibatches=2, policy=dict(hidden=(16,)))


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


def test_first_non_finite_names_the_earliest_update_then_the_lowest_seed():
    ok = np.ones((3, 4), np.float32)
    episode = np.full((3, 4), np.nan)  # no episode ended: NaN by design, never an error
    loss = ok.copy()
    loss[2, 1] = np.inf
    kl = ok.copy()
    kl[1, 2] = kl[0, 2] = np.nan
    finite = np.array([True, True, True])
    assert stream.first_non_finite({"episode_return": episode, "loss": ok}, finite) is None
    assert stream.first_non_finite({"loss": loss, "approx_kl": kl}, finite) == (2, 1, "loss")
    assert stream.first_non_finite({"approx_kl": kl}, finite) == (0, 2, "approx_kl")
    assert stream.first_non_finite({"loss": ok}, np.array([True, False, False])) == (1, 3, "parameters")


def test_a_poisoned_seed_stops_the_run_before_its_chunk_is_saved(tmp_path):
    from jaxac import checkpoint

    keys = jax.random.split(jax.random.key(2), 2)
    runner = stream.Runner(ppo, PPO_CFG, 2, chunk_updates=2)
    ckpt = str(tmp_path / "ckpt")
    saved = []
    def save(p):
        checkpoint.save(ckpt, p.update, p.state, {"algorithm": "ppo"})
        saved.append(p.update)
    state, _, done = runner.run(runner.init(PPO_CFG, keys), 0, save, stop=lambda: len(saved) >= 2)
    assert done == 4 and checkpoint.latest_step(ckpt) == 4
    # seed 1's critic goes NaN: the next chunk's losses show it at its first update
    params = state.params
    params["critic"] = jax.tree.map(lambda x: x.at[1].set(np.nan), params["critic"])
    with pytest.raises(stream.NonFiniteError) as err:
        runner.run(state.replace(params=params), done, save)
    assert (err.value.seed, err.value.update) == (1, 5) and err.value.metric != "parameters"
    assert "seed 1" in str(err.value) and "update 5" in str(err.value)
    assert checkpoint.latest_step(ckpt) == 4  # the last good checkpoint is kept
