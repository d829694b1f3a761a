"""Sweeps end to end: one program per group, members equal to train runs, memory-bounded
batches, the sweep directory and its summary, SIGKILL then resume, bad specs, and a
2-process jax.distributed sweep on CPU."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import jaxac
from jaxac import Session, Sweep, cli, sweep, sweep_run
from jaxac.algos import ppo

from compile_log import chunk_compiles

HERE = os.path.dirname(os.path.abspath(__file__))
CFG = ppo.Config(env="CartPole-v1", total_steps=4 * 16 * 12, num_envs=4, rollout_length=16, update_epochs=1,
                 num_minibatches=2, policy=dict(hidden=(16,)))
LR = sweep.Spec.parse(grids=["optim.learning_rate=1e-4,1e-3,3e-3"])
OPTIONS = dict(seeds=2, chunk_updates=4, eval_episodes=2, compile_cache=False)
TINY = ["--total-steps", str(CFG.total_steps), "--num-envs", "4", "--rollout-length", "16", "--update-epochs", "1",
        "--num-minibatches", "2", "--policy.hidden", "16", "--seeds", "2", "--eval-episodes", "2",
        "--no-progress", "--compile-cache", "off"]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sweep") / "whole")
    with chunk_compiles() as seen:
        result = Sweep("ppo", CFG, LR, out=out, **OPTIONS).run()
    return out, result, len(seen)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_members_run_in_one_program_and_each_equals_a_train_run_of_its_setting(whole):
    out, result, compiles = whole
    assert compiles == 1 and result.programs == 1 and len(result.batches) == 1
    assert result.eval_return.shape == (3, 2) and not result.interrupted
    for s, setting in enumerate(result.settings):
        alone = Session("ppo", jaxac.replace(CFG, **setting), seeds=2, chunk_updates=4, eval_episodes=2,
                        compile_cache=False).run()
        np.testing.assert_allclose(result.eval_return[s], alone.eval_return, rtol=1e-5)
        np.testing.assert_allclose(result.train_return[s], alone.final_return, rtol=1e-5)


def test_the_sweep_directory_has_a_ranked_summary_members_and_rliable_scores(whole):
    out, result, _ = whole
    rows = read_csv(os.path.join(out, "summary.csv"))
    assert [r["optim.learning_rate"] for r in rows] == [str(r["optim.learning_rate"]) for r in result.table]
    means = [float(r["eval_return_mean"]) for r in rows]
    assert means == sorted(means, reverse=True) and all(r["seeds"] == "2" for r in rows)
    for r in rows:
        assert float(r["ci_low"]) <= float(r["eval_return_mean"]) <= float(r["ci_high"])
        assert {"iqm", "train_return_mean"} <= set(r)
    members = read_csv(os.path.join(out, "members.csv"))
    assert len(members) == 6 and {m["batch"] for m in members} == {"g0-m00000"}
    scores = json.load(open(os.path.join(out, "scores.json")))
    assert list(scores) == ["CartPole-v1"] and len(scores["CartPole-v1"]) == 3
    assert all(len(v) == 2 for v in scores["CartPole-v1"].values())
    record = json.load(open(os.path.join(out, "runs", "g0-m00000", "config.json")))
    assert record["run"]["members"]["ids"] == list(range(6))
    assert sorted(os.listdir(os.path.join(out, "runs", "g0-m00000", "tb"))) == [
        "mean", "setting_0", "setting_1", "setting_2"]


def test_a_structural_field_splits_the_sweep_into_one_program_per_group(tmp_path):
    spec = sweep.Spec.parse(grids=["policy.hidden=16:32", "optim.learning_rate=1e-4,1e-3"])
    with chunk_compiles() as seen:
        result = Sweep("ppo", CFG, spec, out=str(tmp_path / "s"), **OPTIONS).run()
    assert len(seen) == 2 and result.programs == 2
    assert [b.name for b in result.batches] == ["g0-m00000", "g1-m00004"]
    assert len(result.table) == 4 and np.isfinite(result.eval_return).all()


def test_a_sweep_too_large_for_its_memory_runs_in_batches_with_the_same_results(whole, tmp_path):
    _, unsplit, _ = whole
    probe = Sweep("ppo", CFG, LR, **OPTIONS)
    one = probe._bytes(0, sweep_run.Batch(0, (0,)), jax.devices(), {})
    limit = int(2.5 * one)  # two members fit, three do not
    with chunk_compiles() as seen:
        result = Sweep("ppo", CFG, LR, out=str(tmp_path / "s"), memory_limit=limit, **OPTIONS).run()
    assert [len(b.ids) for b in result.batches] == [2, 2, 2]
    assert len(seen) <= 2  # the probe's size, then the batches' (one program for all three)
    np.testing.assert_allclose(result.eval_return, unsplit.eval_return, rtol=1e-4)
    np.testing.assert_allclose(result.train_return, unsplit.train_return, rtol=1e-4)
    capped = Sweep("ppo", CFG, LR, max_members=4, **OPTIONS).run()
    assert [len(b.ids) for b in capped.batches] == [3, 3]


def test_sac_members_whose_replay_buffers_do_not_fit_at_once_run_in_batches():
    cfg = jaxac.sac.Config(env="Pendulum-v1", total_steps=64 + 2 * 4, num_envs=2, learning_starts=64,
                           minibatch_size=16, buffer_size=4096, policy=dict(hidden=(16,)))
    spec = sweep.Spec.parse(grids=["optim.learning_rate=1e-4,1e-3"])
    probe = Sweep("sac", cfg, spec, seeds=2, eval_episodes=1, compile_cache=False)
    one = probe._bytes(0, sweep_run.Batch(0, (0,)), jax.devices(), {})
    assert one > jaxac.sac.buffer_bytes(cfg)  # the estimate holds the replay buffer
    result = Sweep("sac", cfg, spec, seeds=2, eval_episodes=1, compile_cache=False,
                   memory_limit=int(1.5 * one)).run()
    assert [len(b.ids) for b in result.batches] == [1, 1, 1, 1] and np.isfinite(result.eval_return).all()


@pytest.mark.parametrize("flags,needle", [
    (["--grid", "optim.lerning_rate=1e-4"], "did you mean optim.learning_rate"),
    (["--sample", "rollout_length=uniform:8:16", "--trials", "2"], "rollout_length is not a float field"),
    (["--grid", "optim.learning_rate="], "use FIELD=VALUES"),
    (["--grid", "ent_coef=,"], "give at least one value for ent_coef"),
    (["--sample", "ent_coef=normal:0:1"], "ent_coef=uniform:LOW:HIGH"),
    (["--grid", "ent_coef=0,0.01", "--trials", "4"], "--trials is given without --sample"),
    (["--sample", "ent_coef=uniform:0:0.1"], "--sample needs --trials N"),
    (["--seeds", "2"], "a sweep needs --grid"),
    (["--grid", "gamma=0.9,1.5"], "gamma"),
])
def test_bad_specs_fail_before_compiling_with_one_line(flags, needle, tmp_path, capsys):
    out = tmp_path / "never"
    code = cli.main(["sweep", "ppo", "--out", str(out), "--no-progress", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def _cli(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "jaxac.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=HERE, **kwargs)


SLOWER = ["--total-steps", str(4 * 16 * 60), "--chunk-updates", "1", "--checkpoint-every", "2",
          "--max-members", "2", "--grid", "optim.learning_rate=1e-4,1e-3"]


def test_a_sweep_killed_with_sigkill_and_resumed_equals_the_uninterrupted_sweep(tmp_path):
    whole_dir, part_dir = str(tmp_path / "whole"), str(tmp_path / "part")
    done = _cli(["sweep", "ppo", *TINY, *SLOWER, "--out", whole_dir])
    part = _cli(["sweep", "ppo", *TINY, *SLOWER, "--out", part_dir])
    deadline = time.time() + 240
    second = os.path.join(part_dir, "runs", "g0-m00002", "checkpoints")
    while time.time() < deadline and part.poll() is None:
        if os.path.isdir(second) and any(n.isdigit() for n in os.listdir(second)):
            break
        time.sleep(0.02)
    assert part.poll() is None, "the sweep ended before it could be killed"
    part.send_signal(signal.SIGKILL)
    part.wait(60)
    assert not os.path.exists(os.path.join(part_dir, "summary.csv"))
    scores = str(tmp_path / "scores.json")
    resumed = _cli(["resume", part_dir, "--no-progress", "--compile-cache", "off", "--json", scores])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert done.wait(300) == 0, done.stderr.read()[-2000:]
    for name in ("summary.csv", "members.csv"):
        assert open(os.path.join(part_dir, name)).read() == open(os.path.join(whole_dir, name)).read()
    for batch in ("g0-m00000", "g0-m00002"):
        assert (open(os.path.join(part_dir, "runs", batch, "metrics.csv")).read()
                == open(os.path.join(whole_dir, "runs", batch, "metrics.csv")).read())
    assert "optim.learning_rate" in out and "eval_return_mean" in out
    assert json.load(open(scores)) == json.load(open(os.path.join(whole_dir, "scores.json")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_their_own_members_and_process_0_writes_the_summary(tmp_path):
    """jax.distributed with 2 local CPU processes (gloo), one device each: the same
    per-member results as one process."""
    one_dir, two_dir = str(tmp_path / "one"), str(tmp_path / "two")
    grid = ["--grid", "optim.learning_rate=1e-4,1e-3,3e-3", "--devices", "1"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    one = _cli(["sweep", "ppo", *TINY, *grid, "--out", one_dir], env=env)
    port = _free_port()
    procs = [_cli(["sweep", "ppo", *TINY, *grid, "--out", two_dir, "--coordinator", f"localhost:{port}",
                   "--num-processes", "2", "--process-id", str(i)], env=env) for i in range(2)]
    try:
        outs = [p.communicate(timeout=300) for p in procs + [one]]
    finally:
        for p in procs + [one]:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs + [one], outs):
        assert p.returncode == 0, err[-3000:]
    assert sorted(os.listdir(os.path.join(two_dir, "runs"))) == ["g0-m00000", "g0-m00003"]
    a = read_csv(os.path.join(one_dir, "members.csv"))
    b = read_csv(os.path.join(two_dir, "members.csv"))
    assert [r["member"] for r in a] == [r["member"] for r in b]
    for column in ("eval_return", "train_return"):
        np.testing.assert_allclose([float(r[column]) for r in b], [float(r[column]) for r in a], rtol=1e-4)
    assert "(process 0 of 2)" in outs[0][0]
    assert "eval_return_mean" in outs[0][0] and "eval_return_mean" not in outs[1][0]


def test_a_diverging_setting_is_marked_and_ranked_last_without_stopping_the_others(tmp_path):
    spec = sweep.Spec.parse(grids=["optim.learning_rate=1e30,1e-3"])
    result = Sweep("ppo", CFG, spec, out=str(tmp_path / "s"), **OPTIONS).run()
    assert result.diverged[0].all() and not result.diverged[1].any()
    assert np.isnan(result.eval_return[0]).all() and np.isfinite(result.eval_return[1]).all()
    assert [r["optim.learning_rate"] for r in result.table] == [1e-3, 1e30]
    assert result.table[1]["diverged"] == 2 and np.isnan(result.table[1]["eval_return_mean"])
    rows = read_csv(os.path.join(str(tmp_path / "s"), "members.csv"))
    assert [r["diverged"] for r in rows] == ["True", "True", "False", "False"]


def test_plot_draws_a_sweeps_top_settings_and_its_sensitivity(whole, tmp_path):
    pytest.importorskip("matplotlib")
    out, _, _ = whole
    assert cli.main(["plot", out, "-o", str(tmp_path / "c.png"), "--top", "2"]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "c-sensitivity.png").stat().st_size > 1000
    from jaxac import plot

    rows, runs = plot.sweep_curves(out)
    assert len(runs) == 3 and runs[0].metrics["episode_return"].shape == (2, CFG.num_updates)
    assert runs[0].name == f"learning_rate={rows[0]['optim.learning_rate']}"


@pytest.mark.parametrize("kwargs,needle", [
    (dict(coordinator="localhost:1234"), "go together"),
    (dict(coordinator="localhost:1234", num_processes=2, process_id=2), "--process-id 2 is invalid"),
    (dict(coordinator="localhost", num_processes=2, process_id=0), "use HOST:PORT"),
])
def test_process_flags_are_checked_before_jax_distributed_starts(kwargs, needle):
    from jaxac import distributed

    with pytest.raises(jaxac.ConfigError, match=needle):
        distributed.initialize(**kwargs)


def test_one_process_needs_no_jax_distributed(monkeypatch):
    from jaxac import distributed

    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert distributed.initialize() == distributed.Process(0, 1)
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert distributed.initialize() == distributed.Process(0, 1)  # a one-task job is one process
