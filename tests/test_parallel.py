"""Seeds split over devices (jaxac.parallel): per-seed results equal one device's (to float
rounding: a shard vmaps fewer seeds, which can reorder XLA's reductions, as vmapping another
number of seeds does), from the API, the chunked runner and the CLI. The test process has
one CPU device (conftest.py); the multi-device cases run in subprocesses that split the CPU
in two."""

import csv
import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import jaxac
from jaxac import cli, parallel
from jaxac.algos import ppo

CFG = ppo.Config(env="CartPole-v1", total_steps=4 * 32 * 3, num_envs=4, rollout_length=32,
                 update_epochs=1, num_minibatches=2, policy=dict(hidden=(16,)))


def test_seed_devices_takes_the_most_devices_that_divide_the_seeds():
    devices = ["d0", "d1", "d2", "d3"]
    assert parallel.seed_devices(8, devices) == ("d0", "d1", "d2", "d3")
    assert parallel.seed_devices(6, devices) == ("d0", "d1", "d2")
    assert parallel.seed_devices(5, devices) == ("d0",)
    assert parallel.seed_devices(2, devices[:1]) == ("d0",)


def test_the_cli_makes_as_many_cpu_devices_as_it_can_use():
    assert parallel.default_cpu_devices(8, cores=2) == 2
    assert parallel.default_cpu_devices(3, cores=2) == 1  # 3 seeds do not split in two
    assert parallel.default_cpu_devices(6, cores=4) == 3
    assert parallel.default_cpu_devices(1, cores=16) == 1


def test_only_a_leading_seed_axis_can_be_split():
    with pytest.raises(ValueError, match="leading seed axis"):
        parallel.over_seeds(lambda x: x, (1,), jax.devices())


def test_one_device_is_the_plain_vmapped_call():
    keys = jax.random.split(jax.random.key(0), 2)
    _, split = parallel.train(ppo, CFG, keys)
    _, plain = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(CFG, keys)
    for k in plain:
        np.testing.assert_array_equal(np.asarray(split[k]), np.asarray(plain[k]), err_msg=k)


def test_cpu_devices_are_fixed_once_jax_has_started():
    parallel.use_cpu_devices(1)  # what it already has: nothing to do
    with pytest.raises(RuntimeError, match="already started"):
        parallel.use_cpu_devices(2)


TWO_DEVICES = textwrap.dedent("""
    import jax, numpy as np
    from jaxac import parallel, stream
    from jaxac.algos import ppo, sac
    parallel.use_cpu_devices(2)
    assert len(jax.devices()) == 2
    cases = [
        (ppo, ppo.Config(env="CartPole-v1", total_steps=4 * 32 * 3, num_envs=4, rollout_length=32,
                         update_epochs=1, num_minibatches=2, policy=dict(hidden=(16,)))),
        (sac, sac.Config(env="Pendulum-v1", total_steps=300, learning_starts=200, minibatch_size=32,
                         policy=dict(hidden=(16,)), num_envs=2, rollout_length=5)),
    ]
    keys = jax.random.split(jax.random.key(0), 4)
    for module, cfg in cases:
        states, split = parallel.train(module, cfg, keys)
        assert len(jax.tree.leaves(states)[0].sharding.device_set) == 2
        _, one = parallel.train(module, cfg, keys, devices=jax.devices()[:1])
        runner = stream.Runner(module, cfg, 4, chunk_updates=2)
        assert len(runner.devices) == 2
        _, chunked, _ = runner.run(runner.init(cfg, keys), 0)
        for k in one:
            close = dict(rtol=1e-4, atol=1e-6, err_msg=k)
            np.testing.assert_allclose(np.asarray(split[k]), np.asarray(one[k]), **close)
            np.testing.assert_allclose(chunked[k], np.asarray(one[k]), **close)
    print("same on 2 devices")
""")


def test_two_cpu_devices_give_each_seed_the_same_results_as_one():
    out = subprocess.run([sys.executable, "-c", TWO_DEVICES], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "same on 2 devices" in out.stdout


ARGS = ["train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--total-steps", "1536",
        "--rollout-length", "32", "--policy.hidden", "16", "--no-progress"]


def test_the_cli_splits_seeds_over_devices_without_changing_them(tmp_path):
    runs = {}
    for n in (1, 2):
        out = subprocess.run([sys.executable, "-m", "jaxac.cli", *ARGS, "--devices", str(n),
                              "--out", str(tmp_path / str(n))], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        runs[n] = out
    assert "on 2 cpu devices" in runs[2].stdout and "devices" not in runs[1].stdout
    rows = [list(csv.DictReader(open(tmp_path / str(n) / "metrics.csv"))) for n in (1, 2)]
    assert len(rows[0]) == len(rows[1]) == 2 * 12
    for a, b in zip(*rows):
        assert a.keys() == b.keys() and (a["seed"], a["step"]) == (b["seed"], b["step"])
        np.testing.assert_allclose([float(a[k] or "nan") for k in a], [float(b[k] or "nan") for k in b],
                                   rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("devices,needle", [("3", "positive divisor of the 2 seeds"),
                                            ("0", "positive divisor"),
                                            ("2", "jax has 1 cpu device")])
def test_bad_device_counts_are_one_line_errors(capsys, devices, needle):
    # this process has started jax with one CPU device, so 2 cannot be had here
    assert cli.main([*ARGS, "--devices", devices]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_package_exposes_it():
    import jaxac

    assert jaxac.parallel.train is parallel.train


DEFAULT_SPLIT = textwrap.dedent("""
    import json, jaxac
    from jaxac.algos import ppo
    cfg = ppo.smoke_config()
    session = jaxac.Session("ppo", cfg, seeds=8)
    three = jaxac.Session("ppo", cfg, seeds=3)
    sweep = jaxac.Sweep("ppo", cfg, jaxac.sweep.Spec.parse(["optim.learning_rate=1e-3,3e-4"], [], None))
    print(json.dumps([len(session.devices), len(three.devices), len(sweep.local_devices()),
                      jaxac.parallel.cores()]))
""")


def test_the_library_splits_the_cpu_per_core_as_the_cli_does():
    env = {k: v for k, v in os.environ.items() if k not in ("JAXAC_CPU_DEVICES", "JAX_NUM_CPU_DEVICES")}
    out = subprocess.run([sys.executable, "-c", DEFAULT_SPLIT], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    eight, three, sweep, cores = json.loads(out.stdout.splitlines()[-1])
    assert eight == parallel.default_cpu_devices(8, cores) and sweep == cores
    assert three == parallel.default_cpu_devices(3, cores)
    forced = subprocess.run([sys.executable, "-c", DEFAULT_SPLIT], capture_output=True, text=True, timeout=300,
                            env={**env, "JAXAC_CPU_DEVICES": "4"})
    assert json.loads(forced.stdout.splitlines()[-1])[:3] == [4, 3, 4], forced.stderr[-2000:]


def test_a_count_of_devices_is_checked_against_the_members():
    with pytest.raises(jaxac.ConfigError, match="positive divisor of the 3"):
        parallel.member_devices(3, 2)
    with pytest.raises(jaxac.ConfigError, match="jax has 1 cpu device"):
        parallel.member_devices(2, 2)
    assert parallel.member_devices(2, 1) == tuple(jax.devices()[:1])
    assert parallel.member_devices(5, None, local=True) == tuple(jax.local_devices())
