"""The conformance matrix: every registered algorithm (`jaxac.algos.ALGORITHMS`, each from its
`smoke_config()`) in every mode (train, a sweep over one float field of each config group,
PBT, SIGKILL then resume) and every device layout (1 device, 2 CPU devices in one process,
2 `jax.distributed` processes of 1 device each). Nothing here names an algorithm: one
registered later gets its cases without an edit (a test shows it).

What each case checks is what the docs promise (docs/guide/distributed.md, "What is
reproduced"): every run ends with finite losses; a run resumed after SIGKILL equals the
uninterrupted run bit for bit; the same members in the same batches give bitwise the same
numbers in any layout (2 processes x 1 device = 1 process x 2 devices); a member alone is
not bitwise the member inside a larger batch, so that is not checked.

Default run (about 30 s of compile per algorithm, most of it shared through the tests'
compilation cache): 1 device in this process for every algorithm, and train + sweep + PBT +
SIGKILL/resume on 2 CPU devices for the first algorithm of each spine (each `State` class: the
run layer sees a state's layout, which algorithms on one spine share). Slow
(`pytest -m slow tests/test_matrix.py`): 2 devices for the others, and the 2-process layout
in every mode.
Modes run in subprocesses of `matrix_worker.py`, each with a timeout.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import types

import jax
import numpy as np
import pytest

import jaxac
from jaxac import algos

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 420


def cases(modes=("train", "sweep", "pbt", "resume")):
    """(algorithm, mode) for every registered algorithm: the matrix's rows."""
    return [(name, mode) for name in algos.ALGORITHMS for mode in modes]


ALGOS = sorted({name for name, _ in cases()})


def spine_leaders():
    """The first registered algorithm of each `State` class."""
    first = {}
    for name, module in algos.ALGORITHMS.items():
        first.setdefault(module.State, name)
    return set(first.values())


TWO_DEVICES = [a if a in spine_leaders() else pytest.param(a, marks=pytest.mark.slow) for a in ALGOS]


def worker(algo, out, modes, *flags, devices_env="2"):
    """Starts matrix_worker.py with `devices_env` CPU devices (see `finish`)."""
    env = {**os.environ, "JAXAC_CPU_DEVICES": devices_env}
    return subprocess.Popen([sys.executable, os.path.join(HERE, "matrix_worker.py"), algo, str(out), modes, *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=HERE)


def finish(proc, timeout=TIMEOUT):
    """(return code, the worker's JSON line or None, its stderr); killed after `timeout` s."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"matrix worker timed out after {timeout} s: {err[-3000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return proc.returncode, (json.loads(lines[-1]) if lines else None), err


def equal(a, b):
    """Bitwise equality of two metrics dicts (NaN where NaN)."""
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


@pytest.mark.parametrize("algo", ALGOS)
def test_one_device(algo, tmp_path):
    """A run with its directory; then its policy loaded to act in the raw environment, and the
    run extended by two updates (`Session.resume(total_steps=)`)."""
    module = algos.get(algo)
    cfg = module.smoke_config()
    out = str(tmp_path / "run")
    session = jaxac.Session(algo, cfg, seeds=2, eval_episodes=1, out=out)
    result = session.run()
    assert len(session.devices_used) == 1 and result.updates == cfg.num_updates
    for key, value in result.metrics.items():
        assert value.shape == (2, cfg.num_updates), key
        if not key.startswith("episode_"):
            assert np.isfinite(value).all(), key
    assert np.isfinite(result.eval_return).all()

    act, env, params = jaxac.evaluate.load_policy(out, seed=1)
    _, ts = env.reset(jax.random.key(0), params)
    action = np.asarray(act(ts.obs))
    space = env.action_space(params)
    if hasattr(space, "low"):  # a Box: within its bounds
        assert action.shape == tuple(space.shape) and (space.low <= action).all() and (action <= space.high).all()
    else:
        assert np.issubdtype(action.dtype, np.integer) and (action >= 0).all()

    longer = jaxac.Session.resume(out, eval_episodes=0, total_steps=cfg.total_steps + 2 * cfg.steps_per_update)
    extended = longer.run()
    assert longer.extended_from == cfg.total_steps and extended.updates == cfg.num_updates + 2
    assert all(np.isfinite(v).all() for k, v in extended.metrics.items() if not k.startswith("episode_"))


@pytest.mark.parametrize("algo", TWO_DEVICES)
def test_two_cpu_devices_every_mode_and_sigkill_then_resume(algo, tmp_path):
    rc, whole, err = finish(worker(algo, tmp_path / "whole", "train,sweep,pbt"))
    assert rc == 0, err[-3000:]
    for mode in ("train", "sweep", "pbt"):
        assert whole[mode]["devices"] == 2 and whole[mode]["finite"], (mode, err[-2000:])
    assert whole["sweep"]["members"] == 2 and whole["sweep"]["fields"]

    rc, _, err = finish(worker(algo, tmp_path / "part", "train", "--kill-at", "2"))
    assert rc == -signal.SIGKILL, err[-3000:]
    rc, resumed, err = finish(worker(algo, tmp_path / "part", "resume"))
    assert rc == 0, err[-3000:]
    assert resumed["resume"]["devices"] == 2 and 1 <= resumed["resume"]["start"] <= 2
    equal(resumed["resume"]["metrics"], whole["train"]["metrics"])
    assert ((tmp_path / "part" / "train" / "metrics.csv").read_text()
            == (tmp_path / "whole" / "train" / "metrics.csv").read_text())


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_two_processes_equal_two_devices_bitwise(algo, tmp_path):
    one = worker(algo, tmp_path / "one", "train,pbt")
    rc, alone, err = finish(one)
    assert rc == 0, err[-3000:]
    address = f"127.0.0.1:{_free_port()}"
    procs = [worker(algo, tmp_path / "two", "train,pbt", "--coordinator", address, "--num-processes", "2",
                    "--process-id", str(i), devices_env="1") for i in range(2)]
    outs = [finish(p) for p in procs]
    for rc, _, err in outs:
        assert rc == 0, err[-3000:]
    for _, joint, _ in outs:
        assert joint["train"]["devices"] == 2 and joint["train"]["finite"]
        equal(joint["train"]["metrics"], alone["train"]["metrics"])
        equal(joint["pbt"]["metrics"], alone["pbt"]["metrics"])
    # a sweep's processes train their own members: every member finite, process 0 writes the summary
    address = f"127.0.0.1:{_free_port()}"
    procs = [worker(algo, tmp_path / "sweep", "sweep", "--coordinator", address, "--num-processes", "2",
                    "--process-id", str(i), devices_env="1") for i in range(2)]
    outs = [finish(p) for p in procs]
    for rc, result, err in outs:
        assert rc == 0 and result["sweep"]["finite"], err[-3000:]


def test_a_registered_algorithm_gets_its_cases_without_an_edit(tmp_path):
    from jaxac.algos import ppo

    copy = types.SimpleNamespace(**{n: getattr(ppo, n) for n in algos.REQUIRED})
    algos.register("ppo-copy", copy)
    try:
        assert {mode for name, mode in cases() if name == "ppo-copy"} == {"train", "sweep", "pbt", "resume"}
        test_one_device("ppo-copy", tmp_path)
    finally:
        del algos.ALGORITHMS["ppo-copy"]
    with pytest.raises(TypeError, match="smoke_config"):
        algos.register("incomplete", types.SimpleNamespace(Config=None, State=None, init=None, update=None,
                                                           train=None))

    class Stateless:  # a State without the fields the run layer reads
        __dataclass_fields__ = {"params": None}

    with pytest.raises(TypeError, match=r"algorithm 'no-stats' lacks State.obs_stats \(see docs/design"):
        algos.register("no-stats", types.SimpleNamespace(**{**vars(copy), "State": Stateless}))
    assert "no-stats" not in algos.ALGORITHMS
