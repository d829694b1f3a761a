"""TD3: Twin Delayed DDPG (Fujimoto, van Hoof, Meger 2018) on the off-policy spine.

    cfg = jaxac.td3.Config(env="Pendulum-v1", total_steps=20_000)
    state, metrics = jax.jit(jaxac.td3.train)(cfg, jax.random.key(0))

A deterministic actor `a = tanh(mu(s))` collects with Gaussian exploration noise in the
[-1, 1] action range, `clip(a + exploration_noise * eps, -1, 1)`; the spine
(`jaxac.algos.offpolicy`) stores the steps and takes `utd` gradient steps per env step, each:

    a'     = clip(tanh(mu_bar(s')) + clip(policy_noise * eps, -noise_clip, noise_clip), -1, 1)
    y      = r + gamma (1 - terminated) Qbar(s', a')      (members aggregated: the min of two)
    critic = sum over ensemble members of the critic's loss against y
    actor  = -Q_1(s, tanh(mu(s)))                          every `policy_delay`-th step,
    mu_bar, Qbar <- Polyak(tau)                            on the same steps

as in the authors' code: the actor follows the first member, with the critic just updated.
The critic is any registered critic (`critic=c51`, `hlgauss`, ...): its target is a set of
particles, so the min over members and the backup are the same for scalar and distributional
critics. `terminated` transitions bootstrap with zero; truncated ones from the pre-reset
`next_obs`. Continuous actions only.
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import optax

from jaxac import config as C
from jaxac import critics
from jaxac.algos import common, offpolicy
from jaxac.algos.offpolicy import Item, State
from jaxac.critics import Ensemble
from jaxac.env import Box
from jaxac.networks import NETWORKS, ActionDist, PolicyConfig, init_policy
from jaxac.normalize import ObsNorm
from jaxac.rng import classic_threefry
from jaxac.rollout import Policy
from jaxac.train import run
from jaxac.types import Array, Metrics, PRNGKey


@C.group
class Config(offpolicy.Config):
    """TD3 hyperparameters; defaults are the TD3 paper's (2x256 ReLU, Adam 3e-4, tau 0.005,
    minibatch 256, exploration noise 0.1, target noise 0.2 clipped at 0.5, actor every 2nd step).

    Besides the off-policy ones (`jaxac.algos.offpolicy.Config`), static: policy_delay;
    leaves: exploration_noise, policy_noise, noise_clip (in units of the [-1, 1] action
    range). The actor is deterministic: `policy.distribution` and `policy.state_dependent_std`
    do not apply.
    """

    policy: PolicyConfig = PolicyConfig(hidden=(256, 256), activation="relu")
    policy_delay: int = C.static(2, 'critic steps per actor (and target) step')
    exploration_noise: float = C.leaf(0.1, 'std of the Gaussian exploration noise on actions')
    policy_noise: float = C.leaf(0.2, 'std of the target-policy smoothing noise')
    noise_clip: float = C.leaf(0.5, 'clip of the target-policy smoothing noise')
    def size_fields(self):
        return super().size_fields() + ("policy_delay",)

    def action_spaces(self):
        return (Box,)

    def validate(self, prefix: str = "") -> None:
        super().validate(prefix)
        if self.policy.distribution != "auto" or self.policy.state_dependent_std:
            raise C.ConfigError(
                f"policy.distribution={self.policy.distribution!r}, policy.state_dependent_std="
                f"{self.policy.state_dependent_std} are invalid for TD3: its actor is deterministic "
                f"(leave distribution='auto', state_dependent_std=False)."
            )
        C.check_number("exploration_noise", self.exploration_noise, C.non_negative, ">= 0")
        C.check_number("policy_noise", self.policy_noise, C.non_negative, ">= 0")
        C.check_number("noise_clip", self.noise_clip, C.non_negative, ">= 0")


class Components(NamedTuple):
    """What a config builds: wrapped env and its params, the actor network (pre-tanh outputs)
    and its deterministic distribution, the critic ensemble and the two optimisers."""

    env: Any
    env_params: Any
    net: Any
    dist: ActionDist
    critic: Ensemble
    tx: Dict[str, optax.GradientTransformation]
    num_actions: int  # 0: continuous actions only
    obs_norm: ObsNorm


def components(cfg: Config) -> Components:
    """Environment, actor, critic ensemble and optimisers for `cfg`."""
    env, env_params = common.training_env(cfg.env, cfg.env_kwargs)
    dim = int(env.action_space(env_params).shape[0])
    net = NETWORKS[cfg.policy.network](cfg.policy.hidden, dim, False, cfg.policy.activation,
                                       weight_init=cfg.policy.init)  # raw outputs: the pre-tanh action
    critic = critics.ensemble(cfg.critic, common.critic_context(cfg, env, env_params), cfg.num_critics,
                              cfg.aggregate)
    steps = cfg.gradient_steps_per_update
    tx = {"actor": cfg.optim.transform(cfg.num_updates, max(steps // cfg.policy_delay, 1)),
          "critic": cfg.optim.transform(cfg.num_updates, steps, cfg.optim.critic_rate())}
    return Components(env, env_params, net, ActionDist("tanh_deterministic", size=dim), critic, tx, 0,
                      cfg.obs.norm())


def init_params(cfg: Config, comps: Components, k_actor: PRNGKey, k_critic: PRNGKey, obs: Array,
                action: Array) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Actor and twin critics, their target copies, and the two optimisers."""
    actor = init_policy(comps.net, k_actor, obs)
    critic = comps.critic.init(k_critic, obs, action)
    params = {"actor": actor, "critic": critic, "target_actor": actor, "target_critic": critic}
    opt_state = {"actor": comps.tx["actor"].init(actor), "critic": comps.tx["critic"].init(critic)}
    return params, opt_state


def act(comps: Components, actor_params, obs: Array, carry: Any = ()) -> Tuple[Array, Any]:
    """The deterministic action tanh(mu(s)) in [-1, 1], [B, A], and the policy's next carry
    (`carry`: its carry in `obs`)."""
    out, carry = comps.net.apply(actor_params, obs, carry)
    return comps.dist.to_env(out), carry


def behaviour(cfg: Config, comps: Components) -> Policy:
    """The deterministic action plus clipped Gaussian exploration noise."""
    def noise(key, shape):
        return jax.random.normal(key, tuple(shape) + (comps.dist.size,))

    def explore(params, obs, carry, eps):
        a, carry = act(comps, params, obs, carry)
        a = jnp.clip(a + cfg.exploration_noise * eps, -1.0, 1.0)
        return a, a, jnp.zeros(obs.shape[:1]), carry
    return Policy(noise, explore, lambda num_envs: comps.net.initial_carry((num_envs,)))


def critic_loss(cfg: Config, comps: Components, critic_params, params, batch: Item, key: PRNGKey) -> Tuple[Array, Metrics]:
    """The members' loss against the clipped double-Q target of the smoothed target policy."""
    k_noise, k_target, k_loss = jax.random.split(key, 3)
    eps = jax.random.normal(k_noise, batch.action.shape)
    smoothing = jnp.clip(cfg.policy_noise * eps, -cfg.noise_clip, cfg.noise_clip)
    next_a = act(comps, params["target_actor"], batch.next_obs, batch.next_policy_carry)[0]
    next_a = jnp.clip(next_a + smoothing, -1.0, 1.0)
    q_next = comps.critic.target(params["target_critic"], batch.next_obs, next_a, k_target)
    discount = cfg.gamma * (1.0 - batch.terminated.astype(jnp.float32))
    target = jax.lax.stop_gradient(q_next.affine(batch.reward * cfg.reward_scale, discount))
    loss, _ = comps.critic.loss(critic_params, batch.obs, batch.action, target, k_loss)
    return loss.mean(), {"critic_loss": loss.mean(), "target_mean": target.mean().mean()}


def actor_loss(comps: Components, actor_params, critic_params, batch: Item, key: PRNGKey) -> Array:
    """-Q_1(s, tanh(mu(s))): the first member's value of the actor's own actions."""
    action = act(comps, actor_params, batch.obs, batch.policy_carry)[0]
    return -comps.critic.values(critic_params, batch.obs, action, key)[0].mean()


def gradient_step(cfg: Config, comps: Components, params, opt_state, batch: Item, key: PRNGKey,
                  step: Array):
    """A critic step; on every `policy_delay`-th step also an actor step against the updated
    critic and the Polyak update of both targets."""
    k_critic, k_actor = jax.random.split(key)
    grads, metrics = jax.grad(lambda c: critic_loss(cfg, comps, c, params, batch, k_critic), has_aux=True)(
        params["critic"])
    updates, critic_opt = comps.tx["critic"].update(grads, opt_state["critic"], params["critic"])
    critic = optax.apply_updates(params["critic"], updates)

    loss, grads = jax.value_and_grad(lambda a: actor_loss(comps, a, critic, batch, k_actor))(params["actor"])
    updates, actor_opt = comps.tx["actor"].update(grads, opt_state["actor"], params["actor"])
    actor = optax.apply_updates(params["actor"], updates)
    delayed = (step + 1) % cfg.policy_delay == 0
    keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(delayed, n, o), new, old)
    new = {"actor": keep(actor, params["actor"]), "critic": critic,
           "target_actor": keep(offpolicy.polyak(actor, params["target_actor"], cfg.tau), params["target_actor"]),
           "target_critic": keep(offpolicy.polyak(critic, params["target_critic"], cfg.tau), params["target_critic"])}
    metrics.update(actor_loss=loss, q_mean=-loss)
    return new, {"actor": keep(actor_opt, opt_state["actor"]), "critic": critic_opt}, metrics


LEARNER = offpolicy.Learner(components, init_params, behaviour, gradient_step)


@classic_threefry
def init(cfg: Config, key: PRNGKey) -> State:
    """The state before the first update: networks, optimisers, and a replay buffer already
    holding `learning_starts` warm-up steps."""
    return offpolicy.init(LEARNER, cfg, key)


@classic_threefry
def update(cfg: Config, state: State) -> Tuple[State, Metrics]:
    """Collect `rollout_length` x `num_envs` steps, then `gradient_steps_per_update` steps."""
    return offpolicy.update(LEARNER, cfg, state)


def train(cfg: Config, key: PRNGKey) -> Tuple[State, Metrics]:
    """`init` (warm-up included) then `cfg.num_updates` updates in one `lax.scan`."""
    return run(init, update, cfg, key)


extend = offpolicy.extend  # a longer run grows the replay buffer (Session.resume(total_steps=))


def smoke_config() -> Config:
    """The smallest sensible run (64 warm-up steps and 4 updates on Pendulum, tiny networks)."""
    return Config(env="Pendulum-v1", total_steps=64 + 2 * 4, num_envs=2, learning_starts=64, minibatch_size=16,
                  buffer_size=128, policy=dict(hidden=(16,)), critic=dict(hidden=(16,)))


def buffer_bytes(cfg: Config) -> int:
    """Replay memory per seed in bytes (obs dtype and capacity are config fields)."""
    return offpolicy.buffer_bytes(LEARNER, cfg)
