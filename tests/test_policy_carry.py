"""A policy network with a carry of its own (`jaxac.networks.register_network`): the carry is
initialised per environment, reset exactly where an episode ends (terminated or truncated),
stored with each step, replayed by the losses (on- and off-policy) and used by evaluation,
checkpoints and `load_policy`. The test network counts the steps of its episode and
alternates its preferred action with the count, so a loss or an evaluation that ignored the
carry would act differently."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxac
from jaxac import evaluate, networks
from jaxac.algos import onpolicy, ppo, sac
from jaxac.networks import sampling_policy
from jaxac.rollout import unroll


class Counter(nn.Module):
    """Logits = a linear layer of the observation + 5 (+1 / -1 by the parity of the count)."""

    hidden: Sequence[int]
    out_dim: int
    continuous: bool
    activation: str = "tanh"
    state_dependent_std: bool = False
    init_log_std: float = 0.0
    weight_init: str = "orthogonal"
    frozen: bool = False  # the count never moves: what ignoring the carry would act like

    def initial_carry(self, batch_shape):
        return jnp.zeros(batch_shape, jnp.int32)

    @nn.compact
    def __call__(self, obs, carry):
        parity = jnp.where(carry % 2 == 0, 1.0, -1.0)[..., None]
        logits = nn.Dense(self.out_dim)(obs) + 5.0 * parity * jnp.array([1.0, -1.0])
        return logits, carry if self.frozen else carry + 1


class Frozen(Counter):
    frozen: bool = True


@pytest.fixture(scope="module", autouse=True)
def registered():
    networks.register_network("counter", Counter)
    networks.register_network("frozen", Frozen)
    yield
    del networks.NETWORKS["counter"], networks.NETWORKS["frozen"]


# CartPole cut at 30 steps: the counter's episodes end both ways (it balances 20 to 70 steps)
ENV = dict(env="CartPole-v1", env_kwargs=(("max_steps", 30),))


def ppo_config(network="counter", **kw):
    return ppo.Config(**ENV, total_steps=256, num_envs=4, rollout_length=32, num_minibatches=2,
                      update_epochs=1, policy=dict(network=network, hidden=(8,)), **kw)


def test_the_carry_starts_counts_and_resets_at_every_episode_end():
    cfg = ppo_config()
    state = jax.jit(ppo.init)(cfg, jax.random.key(0))
    comps = ppo.components(cfg)
    assert (np.asarray(state.env.policy) == 0).all()  # initialised per environment
    _, traj = jax.jit(lambda s, k: unroll(comps.env, comps.env_params, sampling_policy(comps.net, comps.dist),
                                          s.params["actor"], s.env, k, 128))(state, jax.random.key(1))
    carry, after = np.asarray(traj.policy_carry), np.asarray(traj.next_policy_carry)
    terminated, truncated = np.asarray(traj.terminated), np.asarray(traj.truncated)
    assert terminated.any() and truncated.any()
    np.testing.assert_array_equal(carry, np.asarray(traj.episode_length) - 1)  # the step within its episode
    np.testing.assert_array_equal(after, carry + 1)  # stored before any reset
    ended = (terminated | truncated)[:-1]
    assert (carry[1:][ended] == 0).all() and (carry[1:][~ended] > 0).all()  # reset exactly there


def test_the_on_policy_loss_replays_the_stored_carry():
    cfg = ppo_config()
    comps = ppo.components(cfg)
    state = jax.jit(ppo.init)(cfg, jax.random.key(0))
    _, batch, _, _ = jax.jit(lambda s, k: onpolicy.collect(cfg, comps, s, k))(state, jax.random.key(1))
    kl = lambda b: float(onpolicy.policy_change(comps, state.params["actor"], b)["approx_kl"])  # noqa: E731
    assert kl(batch) == pytest.approx(0.0, abs=1e-7)  # the rollout's own log-probs, recomputed
    assert kl(batch.replace(policy_carry=jnp.zeros_like(batch.policy_carry))) > 1e-2  # what not replaying gives
    loss = lambda b: float(onpolicy.loss(cfg, comps, state.params, b, jax.random.key(2), 0.2)[1]["entropy"])  # noqa: E731
    assert loss(batch) != loss(batch.replace(policy_carry=jnp.zeros_like(batch.policy_carry)))  # the loss reads it
    _, metrics = jax.jit(ppo.update, static_argnums=0)(cfg, state)
    assert np.isfinite(float(metrics["loss"]))


def test_the_off_policy_buffer_stores_and_the_losses_read_the_carry():
    cfg = sac.Config(**ENV, total_steps=64 + 2 * 8, num_envs=2, learning_starts=64, minibatch_size=16,
                     buffer_size=128, warmup="policy", policy=dict(network="counter", hidden=(8,)),
                     critic=dict(hidden=(8,)))
    state = jax.jit(sac.init)(cfg, jax.random.key(0))
    data = state.buffer.data
    first = np.asarray(data.policy_carry[:2])  # the first step of each environment
    assert (first == 0).all()
    np.testing.assert_array_equal(np.asarray(data.next_policy_carry[:64]), np.asarray(data.policy_carry[:64]) + 1)
    _, metrics = jax.jit(sac.train, static_argnums=0)(cfg, jax.random.key(0))
    assert np.isfinite(np.asarray(metrics["critic_loss"])).all()


def test_evaluation_acts_with_the_carry():
    """Alternating pushes (the counter's) balance CartPole far longer than always pushing one
    way (the frozen count's): evaluation that dropped the carry would look like the latter."""
    lengths = {}
    for network in ("counter", "frozen"):
        cfg = ppo.Config(env="CartPole-v1", total_steps=256, num_envs=4, rollout_length=32,
                         policy=dict(network=network, hidden=(8,)))
        state = jax.jit(ppo.init)(cfg, jax.random.key(0))
        _, length = jax.jit(lambda s, k: evaluate.episodes(ppo, cfg, s, k, num_episodes=8))(state, jax.random.key(2))
        lengths[network] = float(np.mean(np.asarray(length)))
    assert lengths["frozen"] < 15 and lengths["counter"] > 2 * lengths["frozen"], lengths


def test_a_stateful_policy_runs_through_a_session_and_loads_to_act(tmp_path):
    out = str(tmp_path / "run")
    result = jaxac.Session("ppo", ppo_config(), seeds=2, eval_episodes=1, out=out).run()
    assert np.isfinite(result.eval_return).all()
    act, env, params = evaluate.load_policy(out, seed=1)
    _, ts = env.reset(jax.random.key(0), params)
    action, carry = act(ts.obs, None)  # an episode's start
    action2, carry2 = act(ts.obs, carry)
    assert int(carry[0]) == 1 and int(carry2[0]) == 2 and int(action) != int(action2)  # the parity flips
    longer = jaxac.Session.resume(out, eval_episodes=0, total_steps=256 + 2 * 128).run()
    assert longer.updates == result.updates + 2


def test_a_network_without_the_protocol_is_refused_in_one_line():
    class Plain(nn.Module):
        hidden: Sequence[int]

        @nn.compact
        def __call__(self, obs):
            return nn.Dense(2)(obs)

    with pytest.raises(TypeError, match=r"policy network 'plain' lacks out_dim, .*initial_carry"):
        networks.register_network("plain", Plain)
    with pytest.raises(jaxac.ConfigError, match=r"policy\.network='nope' is invalid"):
        ppo.Config(policy=dict(network="nope"))
