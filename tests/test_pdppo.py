"""PDPPO: dual critics on a probe with a post-decision state, lot sizing from the CLI, and
the configs it refuses before compiling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac.algos import pdppo


def test_both_critics_learn_known_values_on_a_probe_with_a_post_decision_state():
    cfg = pdppo.Config(env="probe/post_decision", total_steps=16 * 16 * 150, num_envs=16, rollout_length=16,
                       update_epochs=4, num_minibatches=4, gamma=0.9, optim=dict(learning_rate=3e-3),
                       ent_coef=0.0, clip_value_loss=False, policy=dict(hidden=(32, 32)))
    state, _ = jax.jit(pdppo.train)(cfg, jax.random.key(0))
    comps = pdppo.components(cfg)
    value = lambda o: float(comps.critic.value(state.params["critic"], jnp.array([[o]]), None, None)[0])  # noqa: E731
    post = lambda x: float(comps.post_critic.value(state.params["post_critic"], jnp.array([[x]]), None, None)[0])  # noqa: E731,E501
    act = lambda o: int(comps.dist.mode(comps.net.apply(state.params["actor"], jnp.array([[o]]))[0])[0])  # noqa: E731
    assert act(1.0) == 1 and act(-1.0) == 0  # match the sign
    assert post(1.0) == pytest.approx(0.9, abs=0.05)  # E[reward | matched], whatever the ice does
    assert value(1.0) == pytest.approx(0.9, abs=0.05) and value(-1.0) == pytest.approx(0.9, abs=0.05)
    assert post(-1.0) < 0.5  # learned while the policy still explored (true value 0.1)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(env="CartPole-v1"), "has no post-decision states"),
    (dict(dual_loss="mean"), "dual_loss"),
    (dict(dual_loss="code", post_critic="c51"), "needs squared-error critics"),
    (dict(segment_length=8, rollout_length=16), "segment_length and recompute_advantages are invalid for pdppo"),
])
def test_bad_pdppo_configs_fail_before_compiling_with_one_line(kwargs, needle):
    with pytest.raises(jaxac.ConfigError, match=needle) as err:
        pdppo.Config(**kwargs)
    assert len(str(err.value).splitlines()) == 1


def test_an_unknown_lot_sizing_setting_is_one_line_from_the_cli(capsys):
    from jaxac import cli

    code = cli.main(["train", "pdppo", "--env", "LotSizing-v0", "--env-kwarg", "setting=30items", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "setting='30items' is invalid: use one of 15items_5machines, 20items_10machines" in err


def test_the_code_variant_trains_only_the_smaller_estimate():
    from jaxac.algos import onpolicy
    from jaxac.critics import Particles

    cfg = pdppo.Config(env="probe/post_decision", dual_loss="code", num_envs=2, rollout_length=4, total_steps=8)
    comps = pdppo.components(cfg)
    state = pdppo.init(cfg, jax.random.key(0))
    obs, post = jnp.array([[1.0], [-1.0]]), jnp.array([[1.0], [1.0]])
    batch = onpolicy.Batch(obs, jnp.zeros(2, jnp.int32), jnp.zeros(2), jnp.zeros(2), jnp.zeros(2),
                           jnp.array([5.0, -5.0]), post, jnp.zeros(2))
    def loss(p):  # V's prediction comes from its loss's metrics, as in `onpolicy.loss`
        value = comps.critic.loss(p["critic"], obs, None, Particles.point(batch.target), None)[1]["value"]
        return onpolicy.dual_value_loss(cfg, comps, p, batch, jax.random.key(1), None, value, None).sum()

    grads = jax.grad(loss)(state.params)
    v = comps.critic.value(state.params["critic"], obs, None, None)
    v_x = comps.post_critic.value(state.params["post_critic"], post, None, None)
    smaller = np.asarray(v <= v_x)
    norm = lambda g: float(sum(jnp.abs(x).sum() for x in jax.tree.leaves(g)))  # noqa: E731
    # each sample's gradient reaches only the critic whose estimate is the smaller one
    assert (norm(grads["critic"]) > 0) == bool(smaller.any())
    assert (norm(grads["post_critic"]) > 0) == bool((~smaller).any())


def random_policy_cost(setting="15items_5machines", episodes=500):
    """Mean cost of a 100-period episode under uniformly random decisions."""
    from jaxac import evaluate

    env, params = jaxac.make("LotSizing-v0", setting=setting)
    returns = jax.jit(lambda k: evaluate.random_returns(env, params, k, episodes, params.horizon))(jax.random.key(7))
    return -float(returns.mean())


def test_pdppo_runs_lot_sizing_from_the_cli(tmp_path, capsys):
    from jaxac import cli

    code = cli.main(["train", "pdppo", "--env", "LotSizing-v0", "--seeds", "2", "--total-steps", "1600",
                     "--no-progress", "--compile-cache", "off", "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 0 and "deterministic policy" in out and "pdppo on LotSizing-v0" in out
    assert "post_explained_variance" in open(tmp_path / "r" / "metrics.csv").readline()


@pytest.mark.slow
def test_pdppo_cuts_lot_sizing_cost_by_30_percent_against_random_decisions(tmp_path):
    import json

    from jaxac import cli

    assert cli.main(["train", "pdppo", "--env", "LotSizing-v0", "--seeds", "8", "--no-progress",
                     "--out", str(tmp_path / "r")]) == 0
    record = json.load(open(tmp_path / "r" / "config.json"))
    cost = -np.mean(record["final_return_per_seed"])
    assert cost <= 0.7 * random_policy_cost(), (cost, random_policy_cost())


def test_the_cli_lists_and_sets_the_chosen_post_critics_options(capsys):
    from jaxac import cli

    with pytest.raises(SystemExit):
        cli.parse_args(["train", "pdppo", "--env", "FrozenLake-v1", "--post-critic", "hlgauss", "--help"])
    assert "--post-critic.hl-sigma" in capsys.readouterr().out
    args = cli.parse_args(["train", "pdppo", "--env", "FrozenLake-v1", "--post-critic", "hlgauss",
                           "--post-critic.hl-sigma", "0.5", "--critic", "c51", "--critic.num-bins", "31"])
    cfg = cli._config_from_args(args)
    assert (cfg.post_critic.name, cfg.post_critic.hl_sigma) == ("hlgauss", 0.5)
    assert (cfg.critic.name, cfg.critic.num_bins) == ("c51", 31)
