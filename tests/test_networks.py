"""Initialisers and action distributions."""

import re

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxac.algos import ppo
from jaxac.networks import ActionDist, orthogonal


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (64, 2), (128, 96), (3, 1)])
def test_orthogonal_matches_flax_without_lapack(shape):
    key = jax.random.key(3)
    ours = orthogonal(1.3)(key, shape)
    np.testing.assert_allclose(ours, nn.initializers.orthogonal(1.3)(key, shape), atol=2e-6)
    small = min(shape)
    gram = ours.T @ ours if shape[0] >= shape[1] else ours @ ours.T
    np.testing.assert_allclose(gram, 1.69 * np.eye(small), atol=1e-5)


def test_vmapped_training_graph_has_no_lapack_custom_calls():
    """Batched LAPACK kernels deadlock XLA's CPU pool when two run at once (see `orthogonal`)."""
    cfg = ppo.Config(env="Pendulum-v1", total_steps=512, num_envs=4, rollout_length=32)
    keys = jax.random.split(jax.random.key(0), 4)
    text = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0))).lower(cfg, keys).as_text()
    assert re.findall(r'custom_call_target\s*=\s*"([^"]+)"', text) == []


def test_tanh_gaussian_log_prob_matches_distrax_transformed():
    dist = ActionDist("tanh_gaussian")
    mean, log_std = jnp.array([[0.3, -1.0]]), jnp.array([[-0.5, 0.2]])
    u, logp = dist.sample_and_log_prob((mean, log_std), jax.random.key(0))
    ref = distrax.Transformed(distrax.MultivariateNormalDiag(mean, jnp.exp(log_std)),
                              distrax.Block(distrax.Tanh(), 1))
    np.testing.assert_allclose(logp, ref.log_prob(jnp.tanh(u)), rtol=1e-4)
    np.testing.assert_allclose(dist.log_prob((mean, log_std), u), logp, rtol=1e-6)


def test_sampling_with_predrawn_noise_has_the_distribution_and_its_log_prob():
    """The rollout's sampler (Gumbel-max / mean + std * noise) draws from the distribution,
    and the log-prob it returns is the distribution's own at the sample."""
    cat = ActionDist("categorical", size=3)
    logits = jnp.log(jnp.array([0.2, 0.5, 0.3]))
    noise = cat.noise(jax.random.key(0), (40_000,))
    assert noise.shape == (40_000, 3)
    a, logp = cat.sample_with_noise(jnp.broadcast_to(logits, (40_000, 3)), noise)
    np.testing.assert_allclose(np.bincount(np.asarray(a), minlength=3) / 40_000, [0.2, 0.5, 0.3], atol=0.01)
    np.testing.assert_allclose(logp, jnp.log(jnp.array([0.2, 0.5, 0.3]))[a], rtol=1e-5)
    for kind in ("gaussian", "tanh_gaussian"):
        for std, to_std in (("exp", jnp.exp), ("softplus", lambda r: jax.nn.softplus(r) + 1e-3)):
            dist = ActionDist(kind, size=2, std=std)
            mean, raw = jnp.array([0.3, -1.0]), jnp.array([-0.5, 0.2])
            out = (jnp.broadcast_to(mean, (40_000, 2)), jnp.broadcast_to(raw, (40_000, 2)))
            u, logp = dist.sample_with_noise(out, dist.noise(jax.random.key(1), (40_000,)))
            np.testing.assert_allclose(u.mean(0), mean, atol=0.02)
            np.testing.assert_allclose(u.std(0), to_std(raw), rtol=0.02)
            np.testing.assert_allclose(logp, dist.log_prob(out, u), rtol=1e-4, atol=1e-4)


def test_softplus_std_is_brax_and_keeps_a_gradient_where_exp_is_clipped():
    """std = softplus(raw) + 0.001 (brax's NormalTanhDistribution). Far below log_std_min the
    clipped exp parameterisation has no gradient to the std; softplus still has one."""
    raw = jnp.array([-8.0, 0.0, 3.0])
    soft = ActionDist("gaussian", log_std_min=-5.0, std="softplus")
    clip = ActionDist("gaussian", log_std_min=-5.0)
    np.testing.assert_allclose(soft._base((jnp.zeros(3), raw)).stddev(),
                               np.log1p(np.exp(np.asarray(raw))) + 1e-3, rtol=1e-5)
    for dist, has_grad in ((soft, True), (clip, False)):
        grad = jax.grad(lambda r: dist.log_prob((jnp.zeros(1), r), jnp.ones(1)).sum())(raw[:1])
        assert (abs(float(grad[0])) > 0) == has_grad


def test_tanh_gaussian_log_prob_is_finite_when_saturated():
    dist = ActionDist("tanh_gaussian")
    u = jnp.array([[30.0, -30.0]])  # tanh(u) == +-1 in float32
    logp = dist.log_prob((jnp.zeros((1, 2)), jnp.zeros((1, 2))), u)
    assert np.isfinite(np.asarray(logp)).all()


def test_categorical_and_gaussian_entropy_exact():
    cat = ActionDist("categorical")
    np.testing.assert_allclose(cat.entropy(jnp.zeros(4), None), np.log(4), rtol=1e-6)
    gauss = ActionDist("gaussian")
    h = gauss.entropy((jnp.zeros(2), jnp.zeros(2)), None)
    np.testing.assert_allclose(h, 2 * 0.5 * np.log(2 * np.pi * np.e), rtol=1e-6)


def test_orthogonal_stack_gives_each_shape_an_orthogonal_matrix():
    from jaxac.networks import orthogonal_stack

    shapes, scales = [(4, 64), (64, 64), (64, 2), (3, 1), (1, 5)], [1.0, 2.0, 0.5, 1.0, 3.0]
    mats = orthogonal_stack(jax.random.key(0), shapes, scales)
    for m, shape, scale in zip(mats, shapes, scales):
        assert m.shape == shape and np.isfinite(np.asarray(m)).all()
        gram = m.T @ m if shape[0] >= shape[1] else m @ m.T
        np.testing.assert_allclose(gram, scale**2 * np.eye(min(shape)), atol=1e-5)
    # distinct layers get distinct draws
    assert not np.allclose(mats[0][:, :4], mats[1][:4, :4])


def test_mlp_init_is_orthogonal_and_apply_matches_init_shapes():
    from jaxac.networks import MLP

    net = MLP((64, 32), 3, out_scale=0.01)
    params = net.init(jax.random.key(1), jnp.zeros((7,)))["params"]
    k0, k2 = params["Dense_0"]["kernel"], params["Dense_2"]["kernel"]
    np.testing.assert_allclose(k0 @ k0.T, 2.0 * np.eye(7), atol=1e-5)  # sqrt(2) gain, wide
    np.testing.assert_allclose(k2.T @ k2, 1e-4 * np.eye(3), atol=1e-8)
    assert net.apply({"params": params}, jnp.ones((5, 7))).shape == (5, 3)
    other = net.init(jax.random.key(2), jnp.zeros((7,)))["params"]["Dense_0"]["kernel"]
    assert not np.allclose(k0, other)


def test_lecun_uniform_init_is_brax_on_every_layer():
    """network_init="lecun_uniform": U(+-sqrt(3 / fan_in)) kernels on every layer, the policy's
    output layer included (no 0.01 gain), zero biases."""
    from jaxac.networks import PolicyNet
    params = PolicyNet((256, 256), 2, True, "relu", True, weight_init="lecun_uniform").init(
        jax.random.key(0), jnp.zeros(64))["params"]["MLP_0"]
    for name, fan_in in (("Dense_0", 64), ("Dense_1", 256), ("Dense_2", 256)):
        kernel, bound = np.asarray(params[name]["kernel"]), np.sqrt(3.0 / fan_in)
        assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.95 * bound
        assert kernel.var() == pytest.approx(1.0 / fan_in, rel=0.1)
        assert not np.asarray(params[name]["bias"]).any()


@pytest.mark.parametrize("state_dependent", [False, True])
def test_ppo_policy_std_is_a_free_parameter_or_a_network_output(state_dependent):
    """PPO's default std is one free parameter per action dimension (PureJaxRL); with
    `state_dependent_std` it is a second output of the network (brax's tanh-normal policy), so
    it differs between observations and the network has no separate log_std parameter."""
    cfg = ppo.Config(env="Pendulum-v1", total_steps=512, num_envs=4, rollout_length=32,
                     policy=dict(std="softplus", init="lecun_uniform", state_dependent_std=state_dependent))
    comps = ppo.components(cfg)
    params = ppo.init(cfg, jax.random.key(0)).params["actor"]["params"]
    assert ("log_std" in params) is not state_dependent
    assert params["MLP_0"][f"Dense_{len(cfg.policy.hidden)}"]["kernel"].shape[-1] == 1 + state_dependent
    obs = jax.random.normal(jax.random.key(1), (2, 3)) * 3.0
    _, log_std = comps.dist._mean_log_std(comps.net.apply({"params": params}, obs)[0])
    assert log_std.shape == (2, 1)
    assert (abs(float(log_std[0, 0] - log_std[1, 0])) > 1e-4) is state_dependent


def test_multi_categorical_is_independent_categoricals_over_each_dimensions_own_choices():
    from jaxac.env import MultiDiscrete
    from jaxac.networks import policy_for

    net, dist = policy_for(MultiDiscrete((3, 2)), (8,), "tanh", "gaussian")
    out = jax.random.normal(jax.random.key(0), (5, 6)) * 3  # [B, D * K] with K = 3
    noise = dist.noise(jax.random.key(1), (5,))
    action, log_prob = dist.sample_with_noise(out, noise)
    assert noise.shape == (5, 2, 3) and action.shape == (5, 2)
    assert (action[:, 0] < 3).all() and (action[:, 1] < 2).all()  # never the masked third choice
    first = jax.nn.log_softmax(out[:, 0:3])
    second = jax.nn.log_softmax(out[:, 3:5])  # dimension 1's own two choices
    want = first[jnp.arange(5), action[:, 0]] + second[jnp.arange(5), action[:, 1]]
    np.testing.assert_allclose(log_prob, want, rtol=1e-5)
    np.testing.assert_allclose(dist.log_prob(out, action), want, rtol=1e-5)
    entropy = dist.entropy(out, jax.random.key(2))
    want_entropy = -(jnp.exp(first) * first).sum(-1) - (jnp.exp(second) * second).sum(-1)
    np.testing.assert_allclose(entropy, want_entropy, rtol=1e-5)
    assert (dist.mode(out)[:, 1] < 2).all()
