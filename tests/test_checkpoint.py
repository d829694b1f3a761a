"""Checkpoints: bitwise resume in a new process (PPO, SAC with its replay buffer), and clear
errors for missing, corrupted and incompatible checkpoints."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jaxac import checkpoint, stream
from jaxac.algos import ppo, sac

CONFIGS = {
    "ppo": (ppo, ppo.Config(env="CartPole-v1", total_steps=4 * 32 * 7, num_envs=4, rollout_length=32,
                            update_epochs=1, num_minibatches=2, policy=dict(hidden=(16,)))),
    "sac": (sac, sac.Config(env="Pendulum-v1", total_steps=64 + 2 * 7, num_envs=2,
                            learning_starts=64, minibatch_size=16, policy=dict(hidden=(16,)))),
}
CHUNK = 2
KEYS = lambda: jax.random.split(jax.random.key(3), 2)

RESUME = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {tests!r})
    from test_checkpoint import CONFIGS, CHUNK, KEYS
    from jaxac import checkpoint, stream
    module, cfg = CONFIGS[{name!r}]
    runner = stream.Runner(module, cfg, 2, CHUNK)
    state, meta, step = checkpoint.restore({ckpt!r}, like=runner.init(cfg, KEYS()), expect={{"algorithm": {name!r}}})
    state, metrics, done = runner.run(state, step)
    np.savez({out!r}, **metrics)
""")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_resume_in_a_new_process_is_bitwise_identical(name, tmp_path):
    module, cfg = CONFIGS[name]
    runner = stream.Runner(module, cfg, 2, CHUNK)
    _, straight, _ = runner.run(runner.init(cfg, KEYS()), 0)

    ckpt = str(tmp_path / "ckpt")
    def save(p):
        checkpoint.save(ckpt, p.update, p.state, {"algorithm": name})
    chunks = []
    state, first, k = runner.run(runner.init(cfg, KEYS()), 0, lambda p: (save(p), chunks.append(p)),
                                 stop=lambda: len(chunks) >= 2)
    assert k == 4 and checkpoint.latest_step(ckpt) == 4

    out = str(tmp_path / "rest.npz")
    script = RESUME.format(tests=os.path.dirname(__file__), name=name, ckpt=ckpt, out=out)
    # the same device layout as this process (one CPU device): the same batches, bit for bit
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "JAXAC_CPU_DEVICES": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rest = np.load(out)
    for key in straight:
        np.testing.assert_array_equal(np.concatenate([first[key], rest[key]], 1), straight[key], err_msg=key)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    module, cfg = CONFIGS["ppo"]
    state = stream.Runner(module, cfg, 2, CHUNK).init(cfg, KEYS())
    ckpt = str(tmp_path_factory.mktemp("ck") / "ckpt")
    checkpoint.save(ckpt, 0, state, {"algorithm": "ppo"})
    return ckpt, state


def test_missing_checkpoint(tmp_path, saved):
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint"):
        checkpoint.restore(str(tmp_path / "none"), like=saved[1])


def test_checkpoint_from_another_algorithm(saved):
    ckpt, state = saved
    with pytest.raises(checkpoint.CheckpointError, match="algorithm is 'ppo', this run has 'sac'"):
        checkpoint.restore(ckpt, like=state, expect={"algorithm": "sac"})


def test_checkpoint_with_other_shapes(saved):
    ckpt, _ = saved
    module, cfg = CONFIGS["ppo"]
    other = cfg.replace(policy=dict(hidden=(8,)))
    with pytest.raises(checkpoint.CheckpointError, match="incompatible at"):
        checkpoint.restore(ckpt, like=stream.Runner(module, other, 2, CHUNK).init(other, KEYS()))


def test_corrupted_checkpoint_is_reported_and_left_alone(saved, tmp_path):
    ckpt, state = saved
    import shutil
    broken = str(tmp_path / "broken")
    shutil.copytree(ckpt, broken)
    files = [os.path.join(d, f) for d, _, fs in os.walk(broken) for f in fs if "state" in d]
    assert files
    for path in files:
        with open(path, "r+b") as fh:
            fh.truncate(max(0, os.path.getsize(path) // 2))
    before = {p: open(p, "rb").read() for p in files}
    with pytest.raises(checkpoint.CheckpointError, match="cannot be read|incompatible"):
        checkpoint.restore(broken, like=state)
    assert {p: open(p, "rb").read() for p in files} == before


def test_a_checkpoint_whose_arrays_do_not_match_its_digest_is_skipped_and_set_aside(saved, tmp_path):
    """Readable files with the wrong data (another writer's state under this step) are caught
    by the digest; `load` falls back to the newest intact checkpoint and says which it skipped."""
    import shutil

    import jax

    ckpt, state = saved
    run = str(tmp_path / "ckpt")
    shutil.copytree(ckpt, run)
    changed = jax.tree.map(lambda x: x + 1 if x.dtype == np.float32 else x, state)
    checkpoint.save(run, 5, changed, {"algorithm": "ppo"})
    shutil.rmtree(os.path.join(run, "5", "state"))
    shutil.copytree(os.path.join(run, "0", "state"), os.path.join(run, "5", "state"))
    skipped = []
    found = checkpoint.load(run, like=state, on_damaged=lambda step, why: skipped.append((step, why)))
    assert found.step == 0 and [s for s, _ in skipped] == [5] and "digest" in skipped[0][1]
    with pytest.raises(checkpoint.DamagedCheckpoint, match="intact: 0 \\(choose one with --checkpoint N\\)"):
        checkpoint.load(run, like=state, step=5)
    moved = checkpoint.set_aside(run, 5, "damaged")
    assert os.path.isdir(moved) and checkpoint.steps(run) == [0]
