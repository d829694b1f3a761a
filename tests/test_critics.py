"""Critic family: hand-derived losses and projections, the protocol's shapes for every critic,
ensemble aggregation (min, mean, TQC truncation), value ranges and config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac.algos import ppo, sac
from jaxac import critics
from jaxac.algos import common
from jaxac.critics import Ensemble, Particles

CRITICS = critics.names()
from jaxac.critics.categorical import categorical_projection, cross_entropy, hl_gauss_probs
from jaxac.critics.ensemble import aggregate_particles
from jaxac.critics.flow import euler_integrate
from jaxac.critics.gaussian import gaussian_nll
from jaxac.critics.quantile import quantile_huber_loss

P = lambda atoms, weights: Particles(jnp.array(atoms, jnp.float32), jnp.array(weights, jnp.float32))


# --- C51 projection -----------------------------------------------------------------------
def test_projection_splits_by_distance_and_keeps_mass_on_exact_points():
    support = jnp.array([0.0, 1.0, 2.0])
    # 0.5 splits evenly; 2.0 lies on a point (l == u); 3.0 and -1.0 are clipped to the ends
    probs = categorical_projection(P([0.5, 2.0, 3.0, -1.0], [0.25] * 4), support)
    np.testing.assert_allclose(probs, [0.375, 0.125, 0.5], atol=1e-6)


def test_projection_of_a_td_backup_of_the_support():
    support = jnp.array([0.0, 1.0, 2.0])
    target = P(support, [0.2, 0.3, 0.5]).affine(jnp.array(1.0), jnp.array(0.5))  # atoms 1, 1.5, 2
    np.testing.assert_allclose(categorical_projection(target, support), [0.0, 0.35, 0.65], atol=1e-6)


def test_projection_mass_on_every_support_point_of_a_wide_support():
    support = jnp.linspace(-10.0, 10.0, 51)
    for j in (0, 7, 25, 50):
        probs = categorical_projection(Particles.point(support[j]), support)
        assert float(probs[j]) == pytest.approx(1.0, abs=1e-5)
        assert float(probs.sum()) == pytest.approx(1.0, abs=1e-6)


def test_projection_is_batched():
    support = jnp.linspace(0.0, 4.0, 5)
    atoms = jnp.array([[[0.5], [3.0]], [[4.0], [1.25]]])  # [2, 2, 1]
    probs = categorical_projection(Particles(atoms, jnp.ones_like(atoms)), support)
    assert probs.shape == (2, 2, 5)
    np.testing.assert_allclose(probs[1, 1], [0, 0.75, 0.25, 0, 0], atol=1e-6)


# --- HL-Gauss -----------------------------------------------------------------------------
def test_hl_gauss_bins_are_normal_cdf_differences_over_the_covered_mass():
    edges = jnp.array([0.0, 1.0, 2.0])
    # y = 0.5, sigma = 0.5: standardised edges -1, 1, 3
    phi = np.array([0.15865525, 0.84134475, 0.99865010])
    raw = np.diff(phi)
    probs = hl_gauss_probs(Particles.point(jnp.array(0.5)), edges, 0.5)
    np.testing.assert_allclose(probs, raw / raw.sum(), rtol=1e-5)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-6)


def test_hl_gauss_symmetric_target_between_two_bins():
    probs = hl_gauss_probs(Particles.point(jnp.array(1.0)), jnp.array([0.0, 1.0, 2.0]), 1.0)
    np.testing.assert_allclose(probs, [0.5, 0.5], atol=1e-6)


def test_cross_entropy_of_a_one_hot_target():
    logits = jnp.log(jnp.array([0.2, 0.3, 0.5]))
    assert float(cross_entropy(jnp.array([0.0, 0.0, 1.0]), logits)) == pytest.approx(-np.log(0.5), rel=1e-5)


# --- quantiles ------------------------------------------------------------------------------
def test_quantile_huber_on_two_quantiles_and_one_atom():
    # tau = (0.25, 0.75); delta = +0.5 and -0.5; each |tau - 1[delta<0]| = 0.25, Huber = 0.125
    loss = quantile_huber_loss(jnp.array([0.0, 1.0]), Particles.point(jnp.array(0.5)), 1.0)
    assert float(loss) == pytest.approx(0.03125, rel=1e-6)


def test_quantile_huber_on_two_atoms_uses_the_linear_branch():
    # m=1 (tau .25): deltas 0, 2 -> 0 and .25*1.5; m=2 (tau .75): deltas -1, 1 -> .25*.5, .75*.5
    loss = quantile_huber_loss(jnp.array([0.0, 1.0]), P([0.0, 2.0], [0.5, 0.5]), 1.0)
    assert float(loss) == pytest.approx(((0.0 + 0.375) / 2 + (0.125 + 0.375) / 2) / 2, rel=1e-6)


# --- Gaussian ---------------------------------------------------------------------------------
def test_gaussian_nll():
    nll = gaussian_nll(jnp.array(0.0), jnp.array(2.0), Particles.point(jnp.array(1.0)))
    assert float(nll) == pytest.approx(0.125 + np.log(2.0) + 0.5 * np.log(2 * np.pi), rel=1e-6)


# --- flow integration -----------------------------------------------------------------------
def test_euler_integration_of_a_constant_field_is_exact():
    assert float(euler_integrate(lambda z, t: 3.0 * jnp.ones_like(z), jnp.array(1.0), 8)) == 4.0


def test_euler_integration_is_the_left_riemann_sum():
    # dz/dt = 2t: Euler from t=0 with K steps gives sum_i 2 (i/K) / K = (K - 1) / K
    z = euler_integrate(lambda z, t: 2.0 * t * jnp.ones_like(z), jnp.array(0.0), 8)
    assert float(z) == pytest.approx(7 / 8, rel=1e-6)


def test_flow_target_of_the_straight_path_field_reaches_the_target():
    """With v = (y - z) / (1 - t) (the straight path's field), one Euler step lands on y."""
    y = 5.0
    z = euler_integrate(lambda z, t: (y - z) / (1.0 - t), jnp.array(-3.0), 1)
    assert float(z) == pytest.approx(y)


# --- ensembles ------------------------------------------------------------------------------
def test_tqc_truncation_of_a_known_pooled_set():
    members = Particles(jnp.array([[1.0, 5.0, 3.0], [2.0, 6.0, 4.0]]), jnp.full((2, 3), 1 / 3))
    out = aggregate_particles(members, "truncate", drop=1)  # drop 1 per member: 6 and 5
    np.testing.assert_allclose(out.atoms, [1, 2, 3, 4])
    np.testing.assert_allclose(out.weights, [0.25] * 4, rtol=1e-6)


def test_min_rule_picks_the_member_with_the_lower_mean_per_sample():
    members = Particles(jnp.array([[[0.0, 4.0], [9.0, 9.0]], [[1.0, 1.0], [0.0, 2.0]]]),
                        jnp.full((2, 2, 2), 0.5))  # [E=2, B=2, N=2]
    out = aggregate_particles(members, "min")
    np.testing.assert_allclose(out.atoms, [[1.0, 1.0], [0.0, 2.0]])


def test_mean_rule_pools_with_equal_weight():
    members = Particles(jnp.array([[1.0], [3.0]]), jnp.ones((2, 1)))
    out = aggregate_particles(members, "mean")
    assert float(out.mean()) == pytest.approx(2.0)


# --- every critic through the protocol ------------------------------------------------------
def _build(cfg):
    """The config's critic (one member) for Pendulum."""
    return cfg.critic.build(common.critic_context(cfg, *jaxac.make("Pendulum-v1")))


def _member(name, **kwargs):
    fields = critics.entries()[name].spec.__dataclass_fields__
    options = {k: v for k, v in dict(num_bins=11, num_quantiles=5, drop=1, samples=3, **kwargs).items()
               if k in fields}
    return _build(sac.Config(env="Pendulum-v1", critic=critics.spec(name, **options), policy=dict(hidden=(8,))))


@pytest.mark.parametrize("name,kwargs", [(c, {}) for c in CRITICS] + [("flow", {"actor_value": "distill"})],
                         ids=list(CRITICS) + ["flow-distill"])
def test_protocol_shapes_and_finite_gradients(name, kwargs):
    """Q(s, a) through an ensemble; V(s) is exercised by the PPO/A2C tests."""
    critic = Ensemble(_member(name, **kwargs), 2, "truncate" if name == "tqc" else "min", 1)
    obs = jax.random.normal(jax.random.key(0), (6, 3))
    act = jnp.ones((6, 1))
    params = critic.init(jax.random.key(1), obs[0], act[0])
    k = jax.random.key(2)
    assert critic.value(params, obs, act, k).shape == (6,)
    target = critic.target(params, obs, act, k)
    assert target.atoms.shape == target.weights.shape and target.atoms.shape[0] == 6
    np.testing.assert_allclose(target.weights.sum(-1), 1.0, rtol=1e-5)
    backup = target.affine(jnp.ones(6), 0.99 * jnp.ones(6))
    grads = jax.grad(lambda p: critic.loss(p, obs, act, backup, k)[0].mean())(params)
    leaves = jax.tree.leaves(grads)
    assert all(np.isfinite(np.asarray(g)).all() for g in leaves)
    assert any(np.abs(np.asarray(g)).sum() > 0 for g in leaves)


def test_gaussian_value_is_pessimistic_by_beta():
    cfg = lambda beta: sac.Config(critic=dict(name="gaussian", beta=beta), policy=dict(hidden=(8,)))
    obs, act = jnp.ones((4, 3)), jnp.zeros((4, 1))
    neutral, pessimistic = (_build(c) for c in (cfg(0.0), cfg(0.5)))
    p = neutral.init(jax.random.key(0), obs[0], act[0])
    mean, std = neutral.mean_std(p, obs, act, None)
    np.testing.assert_allclose(pessimistic.value(p, obs, act), mean - 0.5 * std, rtol=1e-6)


def test_flow_value_is_the_integration_by_default_or_a_distilled_head():
    obs, act = jnp.ones((2, 3)), jnp.zeros((2, 1))
    critic = _member("flow")
    params = critic.init(jax.random.key(0), obs[0], act[0])
    assert set(params) == {"velocity"}
    centre = jnp.full(2, 0.5 * (critic.v_min + critic.v_max))
    np.testing.assert_allclose(critic.value(params, obs, act), critic.integrate(params, jnp.concatenate([obs, act], -1), centre),
                               rtol=1e-6)
    distill = _member("flow", actor_value="distill")
    params = distill.init(jax.random.key(0), obs[0], act[0])
    assert set(params) == {"velocity", "distill"}
    backup = Particles(jnp.zeros((2, 1)), jnp.ones((2, 1)))
    _, metrics = distill.loss(params, obs, act, backup, jax.random.key(1))
    assert metrics["distill_error"].shape == (2,)


# --- value range and config errors ---------------------------------------------------------
def test_value_range_from_reward_bounds_and_gamma():
    def value_range(cfg):
        return cfg.critic.value_range(common.critic_context(cfg, *jaxac.make(cfg.env)))

    lo, hi = value_range(ppo.Config(critic="c51", gamma=0.99))
    assert (float(lo), float(hi)) == pytest.approx((0.0, 100.0))
    lo, hi = value_range(sac.Config(critic="c51", gamma=0.9, reward_scale=0.1))
    assert float(lo) == pytest.approx(-16.2736044, rel=1e-5) and float(hi) == 0.0
    assert value_range(sac.Config(critic=dict(name="c51", v_min=-5.0, v_max=5.0))) == (-5.0, 5.0)


@pytest.mark.parametrize("kwargs,field", [
    (dict(critic="c52"), "critic"),
    (dict(critic=dict(name="c51", num_bins=1)), r"critic\.num_bins=1 is invalid"),
    (dict(critic=dict(name="c51", v_min=1.0)), r"critic\.v_min"),
    (dict(critic=dict(name="c51", v_min=1.0, v_max=0.0)), r"critic\.v_min"),
    (dict(critic=dict(name="tqc", drop=25)), r"critic\.drop"),
    (dict(critic=dict(name="flow", actor_value="both")), r"critic\.actor_value"),
    (dict(critic=dict(name="flow", noise=0.0)), r"critic\.noise"),
    (dict(critic=dict(name="gaussian", dropout=1.0)), r"critic\.dropout"),
    (dict(critic=dict(name="scalar", num_bins=11)), "num_bins"),  # options of the named critic only
    (dict(critic="c51", gamma=1.0), "gamma"),
])
def test_bad_critic_options_name_the_field(kwargs, field):
    for module in (ppo, sac):
        with pytest.raises(jaxac.ConfigError, match=field):
            module.Config(**kwargs)


def test_truncation_needs_a_quantile_critic():
    with pytest.raises(jaxac.ConfigError, match="truncate"):
        sac.Config(critic="c51", aggregate="truncate")
    assert sac.Config(critic="tqc").ensemble_rule == "truncate"
    assert sac.Config(critic="quantile").ensemble_rule == "min"


def test_critic_hidden_sizes_the_critic_torso_and_leaves_the_policy_alone():
    from jaxac.algos import ppo
    from jaxac.config import ConfigError

    cfg = ppo.Config(env="CartPole-v1", policy=dict(hidden=(8,)), critic=dict(hidden=(16, 16)))
    state = ppo.init(cfg, jax.random.key(0))
    critic_shapes = {x.shape for x in jax.tree.leaves(state.params["critic"])}
    actor_shapes = {x.shape for x in jax.tree.leaves(state.params["actor"])}
    assert {(4, 16), (16, 16)} <= critic_shapes and (4, 8) not in critic_shapes
    assert (4, 8) in actor_shapes and (4, 16) not in actor_shapes
    with pytest.raises(ConfigError, match=r"critic\.hidden"):
        ppo.Config(env="CartPole-v1", critic=dict(hidden=(0,)))
