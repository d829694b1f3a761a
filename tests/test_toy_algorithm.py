"""The algorithm protocol from outside jaxac: this test file is an algorithm (a policy
gradient with a learned baseline and a loss of its own, on the on-policy spine's rollout),
registered from here, and it runs through `train`, `jaxac train`, `jaxac resume` (extended),
`jaxac eval`, a sweep and PBT without an edit to jaxac. A module that lacks part of the
protocol is refused at registration (tests/test_matrix.py)."""

import json
import sys
from typing import Tuple

import jax
import numpy as np
import pytest

from jaxac import algos, cli
from jaxac import config as C
from jaxac.algos import onpolicy
from jaxac.algos.onpolicy import State  # noqa: F401  (the protocol's State)
from jaxac.critics import Particles
from jaxac.train import run


@C.group
class Config(onpolicy.Config):
    """A toy policy gradient: advantages standardised, one gradient step per rollout."""

    num_envs: int = C.static(4)
    rollout_length: int = C.static(32)


def components(cfg: Config) -> onpolicy.Components:
    return onpolicy.components(cfg, 1)


def init(cfg: Config, key) -> State:
    return onpolicy.init(cfg, components(cfg), key)


def loss(cfg: Config, comps, params, batch, key) -> Tuple[jax.Array, dict]:
    """-A log pi (A standardised) + the critic's loss against the lambda-returns."""
    out, _ = comps.net.apply(params["actor"], batch.obs, batch.policy_carry)
    log_prob = comps.dist.log_prob(out, batch.action)
    adv = (batch.advantage - batch.advantage.mean()) / (batch.advantage.std() + 1e-8)
    value, _ = comps.critic.loss(params["critic"], batch.obs, None, Particles.point(batch.target), key)
    total = -(log_prob * adv).mean() + value.mean()
    return total, {"loss": total}


def update(cfg: Config, state: State):
    comps = components(cfg)
    key, k_collect, k_loss = jax.random.split(state.key, 3)
    state, batch, _, metrics = onpolicy.collect(cfg, comps, state, k_collect)
    params, opt_state, step = onpolicy.gradient_step(comps, lambda p, b, k: loss(cfg, comps, p, b, k),
                                                     state.params, state.opt_state, batch, k_loss)
    metrics.update(step)
    return state.replace(params=params, opt_state=opt_state, key=key, update_step=state.update_step + 1), metrics


def train(cfg: Config, key):
    return run(init, update, cfg, key)


def smoke_config() -> Config:
    return Config(env="CartPole-v1", total_steps=4 * 32 * 4, policy=dict(hidden=(16,)))


@pytest.fixture
def registered():
    algos.register("toy-pg", sys.modules[__name__])
    yield
    del algos.ALGORITHMS["toy-pg"]


def test_a_toy_algorithm_runs_through_train_the_cli_resume_eval_sweep_and_pbt(registered, tmp_path, capsys):
    _, metrics = jax.jit(train, static_argnums=0)(smoke_config(), jax.random.key(0))
    assert np.isfinite(np.asarray(metrics["loss"])).all()

    flags = ["--env", "CartPole-v1", "--policy.hidden", "16", "--no-progress"]
    run_dir, sweep_dir, pbt_dir = (str(tmp_path / n) for n in ("run", "sweep", "pbt"))
    assert cli.main(["train", "toy-pg", *flags, "--seeds", "2", "--total-steps", "1024", "--out", run_dir]) == 0
    assert cli.main(["resume", run_dir, "--total-steps", "1536", "--no-progress"]) == 0
    record = json.load(open(f"{run_dir}/config.json"))
    assert record["algorithm"] == "toy-pg" and record["config"]["total_steps"] == 1536
    assert cli.main(["eval", run_dir, "--episodes", "2"]) == 0
    assert cli.main(["sweep", "toy-pg", *flags, "--grid", "optim.learning_rate=1e-3,3e-3", "--total-steps", "512",
                     "--out", sweep_dir]) == 0
    assert cli.main(["pbt", "toy-pg", *flags, "--population", "4", "--ready", "2", "--total-steps", "1024",
                     "--hyper", "optim.learning_rate=loguniform:1e-4:1e-2", "--out", pbt_dir]) == 0
    assert "error" not in capsys.readouterr().err
