"""TD3: learning on Pendulum (default run: short; slow: the CLI at 8 seeds x 2e4 steps with
the deterministic evaluation), probes (Q-values with discounting and truncation
bootstrapping, the best action), the delayed actor and target updates, target policy
smoothing, exploration noise, config errors."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac import cli
from jaxac.algos import offpolicy, td3
from jaxac.summary import final_return
from probe_helpers import train_on_probe


def test_learns_pendulum_short_budget():
    """Default-run learning test: 2 seeds x 8e3 steps of the preset (random play: about -1200)."""
    cfg = jaxac.presets.config("td3", "Pendulum-v1", total_steps=8_000)
    states, m = jax.jit(jax.vmap(td3.train, in_axes=(None, 0)))(cfg, jax.random.split(jax.random.key(0), 2))
    assert np.nanmean(final_return(m, fraction=0.1)) >= -700
    state = jax.tree.map(lambda x: x[0], states)
    evaluation = jaxac.evaluate.episodes(td3, cfg, state, jax.random.key(1), num_episodes=2)
    assert np.mean(np.asarray(evaluation)) >= -700


@pytest.mark.slow
def test_cli_pendulum_8_seeds_evaluates_at_least_minus_200(tmp_path, capsys):
    out = tmp_path / "run"
    cli.main(["train", "td3", "--env", "Pendulum-v1", "--seeds", "8", "--out", str(out)])
    record = json.loads((out / "config.json").read_text())
    assert np.mean(record["eval_return_per_seed"]) >= -200, record["eval_return_per_seed"]


def probe_config(name, **kwargs):
    return td3.Config(
        env=f"probe/{name}", env_kwargs=(("continuous", True),), total_steps=3_000, num_envs=4,
        rollout_length=2, learning_starts=256, minibatch_size=64, policy=dict(hidden=(32, 32)),
        optim=dict(learning_rate=3e-3), gamma=0.9, tau=0.05, **kwargs)


def test_probe_q_values_discount_and_bootstrap_from_the_final_observation():
    value, _ = train_on_probe(td3, probe_config("truncation"))
    for obs, q in {0.0: 9.0, 1.0: 10.0}.items():  # zero-bootstrap would give ~2.7, reset-obs ~7
        for a in (-0.5, 0.5):
            assert value(obs, a) == pytest.approx(q, rel=0.05), (obs, a)


def test_probe_best_action():
    value, action = train_on_probe(td3, probe_config("obs_action"))
    assert action(1.0)[0] == pytest.approx(0.5, abs=0.1)
    assert action(-1.0)[0] == pytest.approx(-0.5, abs=0.1)
    assert value(1.0, 0.5) == pytest.approx(1.0, abs=0.05)  # Q(s, a) = 1 - (a - 0.5 s)^2


@pytest.fixture(scope="module")
def started():
    cfg = td3.smoke_config()
    state = jax.jit(td3.init)(cfg, jax.random.key(0))
    comps = td3.components(cfg)
    batch = jax.tree.map(lambda x: x[:16], state.buffer.data)
    return cfg, comps, state, batch


def _changed(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("step,delayed", [(0, False), (1, True), (2, False), (5, True)])
def test_actor_and_targets_move_every_policy_delay_steps(started, step, delayed):
    cfg, comps, state, batch = started
    params, opt, metrics = jax.jit(lambda *args: td3.gradient_step(cfg, comps, *args))(
        state.params, state.opt_state, batch, jax.random.key(1), jnp.int32(step))
    assert _changed(params["critic"], state.params["critic"])  # the critic learns on every step
    for part in ("actor", "target_actor", "target_critic"):
        assert _changed(params[part], state.params[part]) == delayed, part
    assert _changed(opt["actor"], state.opt_state["actor"]) == delayed
    assert np.isfinite(float(metrics["actor_loss"])) and np.isfinite(float(metrics["critic_loss"]))


def test_target_smoothing_noise_is_clipped(started):
    cfg, comps, state, batch = started
    target = lambda **kw: float(td3.critic_loss(cfg.replace(**kw), comps, state.params["critic"], state.params,
                                                batch, jax.random.key(2))[1]["target_mean"])
    exact = target(policy_noise=0.0)
    assert target(policy_noise=10.0, noise_clip=0.0) == pytest.approx(exact, abs=1e-6)  # clipped to nothing
    assert target(policy_noise=10.0, noise_clip=0.5) != pytest.approx(exact, abs=1e-6)


def test_exploration_adds_gaussian_noise_to_the_deterministic_action():
    """The initial actor's action is near 0 (output scale 0.01), so collected actions are
    N(0, exploration_noise^2) up to that offset; with no noise they are the actor's own."""
    cfg = td3.Config(env="Pendulum-v1", total_steps=3_000, learning_starts=2_000, warmup="policy",
                     policy=dict(hidden=(16,)), exploration_noise=0.3)
    state = jax.jit(td3.init)(cfg, jax.random.key(0))
    actions = np.asarray(state.buffer.data.action[:2_000])
    assert abs(actions.mean()) < 0.05 and actions.std() == pytest.approx(0.3, abs=0.03)
    quiet = jax.jit(td3.init)(cfg.replace(exploration_noise=0.0), jax.random.key(0))
    comps = td3.components(cfg)
    obs = quiet.buffer.data.obs[:100]
    np.testing.assert_allclose(quiet.buffer.data.action[:100], td3.act(comps, quiet.params["actor"], obs)[0],
                               atol=1e-6)


def test_buffer_and_protocol_come_from_the_spine():
    cfg = td3.Config(env="Pendulum-v1", total_steps=20_000)
    assert td3.State is offpolicy.State and td3.extend is offpolicy.extend
    assert td3.buffer_bytes(cfg) == jaxac.sac.buffer_bytes(jaxac.sac.Config(env="Pendulum-v1", total_steps=20_000))


@pytest.mark.parametrize("kwargs,field", [
    (dict(env="CartPole-v1"), "invalid for td3: its actions are Discrete"),
    (dict(policy=dict(distribution="tanh_gaussian")), r"policy\.distribution"),
    (dict(policy=dict(state_dependent_std=True)), r"policy\.distribution"),
    (dict(exploration_noise=-0.1), "exploration_noise"),
    (dict(policy_noise=-1.0), "policy_noise"),
    (dict(noise_clip=-1.0), "noise_clip"),
    (dict(policy_delay=0), "policy_delay"),
    (dict(utd=0), "utd"),
    (dict(obs=dict(stats_before_update=True)), r"obs\.stats_before_update"),
])
def test_invalid_config_raises_naming_field(kwargs, field):
    with pytest.raises(jaxac.ConfigError, match=field):
        td3.Config(**kwargs)
