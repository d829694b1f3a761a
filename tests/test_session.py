"""The run session in the library: run directory, checkpoints, stop and resume in another
process bit for bit, evaluation beside the training return, the NaN guard."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxac
from jaxac import Session, stream
from jaxac.algos import ppo, sac

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = {
    "ppo": ppo.Config(env="CartPole-v1", total_steps=4 * 16 * 12, num_envs=4, rollout_length=16, update_epochs=1,
                      num_minibatches=2, policy=dict(hidden=(16,))),
    "sac": sac.Config(env="Pendulum-v1", total_steps=64 + 2 * 12, num_envs=2, learning_starts=64,
                      minibatch_size=16, buffer_size=128, policy=dict(hidden=(16,))),
}
RESUME = ("import sys; import jaxac; r = jaxac.Session.resume(sys.argv[1], eval_episodes=2).run(); "
          "print('done', r.updates, r.interrupted)")


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_stop_then_resume_in_a_new_process_equals_an_uninterrupted_run(algo, tmp_path):
    cfg = CONFIGS[algo]
    whole = Session(algo, cfg, seeds=2, out=str(tmp_path / "whole"), chunk_updates=2, eval_episodes=2).run()
    assert whole.updates == cfg.num_updates and not whole.interrupted
    assert whole.metrics["episode_return"].shape == (2, cfg.num_updates)
    assert whole.final_return.shape == (2,) and whole.eval_return.shape == (2,)
    assert np.isfinite(whole.eval_return).all()
    record = json.load(open(tmp_path / "whole" / "config.json"))
    assert len(record["eval_return_per_seed"]) == 2 and record["run"]["chunk_updates"] == 2

    chunks = []
    part = Session(algo, cfg, seeds=2, out=str(tmp_path / "part"), chunk_updates=2, checkpoint_every=5,
                   eval_episodes=2).run(on_chunk=chunks.append, stop=lambda: len(chunks) >= 2)
    assert part.interrupted and part.updates == 4 and part.eval_return is None
    assert [p.update for p in chunks] == [2, 4]
    out = subprocess.run([sys.executable, "-c", RESUME, str(tmp_path / "part")], capture_output=True,
                         text=True, timeout=300, cwd=HERE)
    assert out.returncode == 0 and f"done {cfg.num_updates} False" in out.stdout, out.stderr[-2000:]
    assert (tmp_path / "part" / "metrics.csv").read_text() == (tmp_path / "whole" / "metrics.csv").read_text()


def test_a_session_refuses_a_used_directory_and_bad_settings(tmp_path):
    cfg = CONFIGS["ppo"]
    Session("ppo", cfg, out=str(tmp_path / "r"), eval_episodes=0).run()
    with pytest.raises(jaxac.ConfigError, match="already holds a run"):
        Session("ppo", cfg, out=str(tmp_path / "r"))
    for kwargs, name in ((dict(seeds=0), "seeds"), (dict(chunk_updates=0), "chunk_updates"),
                         (dict(checkpoint_every=0), "checkpoint_every")):
        with pytest.raises(jaxac.ConfigError, match=name):
            Session("ppo", cfg, **kwargs)
    with pytest.raises(jaxac.ConfigError, match="not jaxac.sac.Config"):
        Session("sac", cfg)
    with pytest.raises(jaxac.ConfigError, match="algorithm 'dqn'"):
        Session("dqn", cfg)


def test_a_diverging_session_raises_and_names_the_last_checkpoint(tmp_path):
    cfg = CONFIGS["ppo"].replace(**{"optim.learning_rate": 1e30})
    with pytest.raises(stream.NonFiniteError) as err:
        Session("ppo", cfg, out=str(tmp_path / "nan"), chunk_updates=1, checkpoint_every=1).run()
    assert err.value.update >= 1 and err.value.last_checkpoint is None or err.value.last_checkpoint < err.value.update


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_a_finished_run_extended_equals_the_run_trained_to_that_length(algo, tmp_path):
    """`jaxac resume RUN --total-steps N` (Session.resume(total_steps=N)) continues a finished
    run to N; with a constant learning rate it is bit for bit the run trained to N at once."""
    from jaxac import cli, runs

    cfg = jaxac.replace(CONFIGS[algo], **{"optim.schedule": "constant"})
    short = cfg.replace(total_steps=cfg.total_steps - 6 * cfg.steps_per_update)
    whole = Session(algo, cfg, seeds=2, out=str(tmp_path / "whole"), chunk_updates=2, eval_episodes=0).run()
    run = str(tmp_path / "run")
    Session(algo, short, seeds=2, out=run, chunk_updates=2, eval_episodes=0).run()
    assert cli.main(["resume", run, "--total-steps", str(short.total_steps - 1)]) == 2  # shorter: one line
    assert cli.main(["resume", run, "--total-steps", str(cfg.total_steps), "--no-progress",
                     "--eval-episodes", "0"]) == 0
    record = runs.record(run)
    assert record["config"]["total_steps"] == cfg.total_steps and record["extended_from"] == [short.total_steps]
    _, state, step = runs.restore(run)
    assert step == cfg.num_updates
    def data(x):
        return jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x

    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(whole.state)):
        np.testing.assert_array_equal(np.asarray(data(a)), np.asarray(data(b)))
    assert (tmp_path / "run" / "metrics.csv").read_text() == (tmp_path / "whole" / "metrics.csv").read_text()
