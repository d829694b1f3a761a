"""Reference peer: a PureJaxRL-shaped single-file PPO (make_train(config) -> train(rng)).

Follows the structure of PureJaxRL's `ppo.py` (actor-critic module, values and log-probs
computed inside the rollout, GAE on `values[t+1]`, epochs x minibatches of the clipped
objective) so that jaxac's throughput is compared against the code its users know. Two
deliberate differences, both needed to run here:
- the environment is jaxac's pure-JAX CartPole-v1 with auto-reset (gymnax is not a jaxac
  dependency); both learners step the same dynamics;
- orthogonal init uses jaxac's LAPACK-free initializer: flax's QR-based one deadlocks XLA's
  CPU thread pool under `vmap` over seeds on jax 0.10 (see `jaxac.networks.orthogonal`).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import distrax

from jaxac.env import wrap_for_training
from jaxac.envs import make
from jaxac.networks import orthogonal

CONFIG = {
    "LR": 2.5e-4, "NUM_ENVS": 4, "NUM_STEPS": 128, "TOTAL_TIMESTEPS": 5e5, "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4, "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01,
    "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5, "ANNEAL_LR": True,
}


class ActorCritic(nn.Module):
    action_dim: int

    @nn.compact
    def __call__(self, x):
        a = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)))(x))
        a = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)))(a))
        logits = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01))(a)
        c = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)))(x))
        c = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)))(c))
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(c)
        return distrax.Categorical(logits=logits), jnp.squeeze(value, -1)


class Transition(NamedTuple):
    done: jnp.ndarray
    action: jnp.ndarray
    value: jnp.ndarray
    reward: jnp.ndarray
    log_prob: jnp.ndarray
    obs: jnp.ndarray
    info: dict


def make_train(config):
    config = dict(config)
    config["NUM_UPDATES"] = int(config["TOTAL_TIMESTEPS"] // config["NUM_STEPS"] // config["NUM_ENVS"])
    config["MINIBATCH_SIZE"] = config["NUM_ENVS"] * config["NUM_STEPS"] // config["NUM_MINIBATCHES"]
    base, env_params = make("CartPole-v1")
    env = wrap_for_training(base)

    def linear_schedule(count):
        frac = 1.0 - (count // (config["NUM_MINIBATCHES"] * config["UPDATE_EPOCHS"])) / config["NUM_UPDATES"]
        return config["LR"] * frac

    def train(rng):
        network = ActorCritic(2)
        rng, _rng = jax.random.split(rng)
        network_params = network.init(_rng, jnp.zeros(4))
        lr = linear_schedule if config["ANNEAL_LR"] else config["LR"]
        tx = optax.chain(optax.clip_by_global_norm(config["MAX_GRAD_NORM"]), optax.adam(lr, eps=1e-5))
        opt_state = tx.init(network_params)
        rng, _rng = jax.random.split(rng)
        reset_rng = jax.random.split(_rng, config["NUM_ENVS"])
        env_state, ts = jax.vmap(env.reset, in_axes=(0, None))(reset_rng, env_params)
        obsv = ts.obs

        def _update_step(runner_state, unused):
            def _env_step(runner_state, unused):
                params, opt_state, env_state, last_obs, rng = runner_state
                rng, _rng = jax.random.split(rng)
                pi, value = network.apply(params, last_obs)
                action = pi.sample(seed=_rng)
                log_prob = pi.log_prob(action)
                rng, _rng = jax.random.split(rng)
                rng_step = jax.random.split(_rng, config["NUM_ENVS"])
                env_state, ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(rng_step, env_state, action, env_params)
                info = {"returned_episode_returns": ts.episode_return, "returned_episode": ts.done}
                transition = Transition(ts.done, action, value, ts.reward, log_prob, last_obs, info)
                return (params, opt_state, env_state, ts.obs, rng), transition

            runner_state, traj_batch = jax.lax.scan(_env_step, runner_state, None, config["NUM_STEPS"])
            params, opt_state, env_state, last_obs, rng = runner_state
            _, last_val = network.apply(params, last_obs)

            def _calculate_gae(traj_batch, last_val):
                def _get_advantages(gae_and_next_value, transition):
                    gae, next_value = gae_and_next_value
                    done, value, reward = transition.done, transition.value, transition.reward
                    delta = reward + config["GAMMA"] * next_value * (1 - done) - value
                    gae = delta + config["GAMMA"] * config["GAE_LAMBDA"] * (1 - done) * gae
                    return (gae, value), gae

                _, advantages = jax.lax.scan(
                    _get_advantages, (jnp.zeros_like(last_val), last_val), traj_batch, reverse=True, unroll=16
                )
                return advantages, advantages + traj_batch.value

            advantages, targets = _calculate_gae(traj_batch, last_val)

            def _update_epoch(update_state, unused):
                def _update_minbatch(train_state, batch_info):
                    params, opt_state = train_state
                    traj_batch, advantages, targets = batch_info

                    def _loss_fn(params, traj_batch, gae, targets):
                        pi, value = network.apply(params, traj_batch.obs)
                        log_prob = pi.log_prob(traj_batch.action)
                        value_pred_clipped = traj_batch.value + (value - traj_batch.value).clip(
                            -config["CLIP_EPS"], config["CLIP_EPS"])
                        value_losses = jnp.square(value - targets)
                        value_losses_clipped = jnp.square(value_pred_clipped - targets)
                        value_loss = 0.5 * jnp.maximum(value_losses, value_losses_clipped).mean()
                        ratio = jnp.exp(log_prob - traj_batch.log_prob)
                        gae = (gae - gae.mean()) / (gae.std() + 1e-8)
                        loss_actor1 = ratio * gae
                        loss_actor2 = jnp.clip(ratio, 1.0 - config["CLIP_EPS"], 1.0 + config["CLIP_EPS"]) * gae
                        loss_actor = -jnp.minimum(loss_actor1, loss_actor2).mean()
                        entropy = pi.entropy().mean()
                        total_loss = loss_actor + config["VF_COEF"] * value_loss - config["ENT_COEF"] * entropy
                        return total_loss, (value_loss, loss_actor, entropy)

                    grad_fn = jax.value_and_grad(_loss_fn, has_aux=True)
                    total_loss, grads = grad_fn(params, traj_batch, advantages, targets)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), total_loss

                params, opt_state, traj_batch, advantages, targets, rng = update_state
                rng, _rng = jax.random.split(rng)
                batch_size = config["MINIBATCH_SIZE"] * config["NUM_MINIBATCHES"]
                permutation = jax.random.permutation(_rng, batch_size)
                batch = (traj_batch, advantages, targets)
                batch = jax.tree.map(lambda x: x.reshape((batch_size,) + x.shape[2:]), batch)
                shuffled = jax.tree.map(lambda x: jnp.take(x, permutation, axis=0), batch)
                minibatches = jax.tree.map(
                    lambda x: jnp.reshape(x, [config["NUM_MINIBATCHES"], -1] + list(x.shape[1:])), shuffled)
                (params, opt_state), total_loss = jax.lax.scan(_update_minbatch, (params, opt_state), minibatches)
                return (params, opt_state, traj_batch, advantages, targets, rng), total_loss

            update_state = (params, opt_state, traj_batch, advantages, targets, rng)
            update_state, loss_info = jax.lax.scan(_update_epoch, update_state, None, config["UPDATE_EPOCHS"])
            params, opt_state, _, _, _, rng = update_state
            runner_state = (params, opt_state, env_state, last_obs, rng)
            return runner_state, traj_batch.info

        rng, _rng = jax.random.split(rng)
        runner_state = (network_params, opt_state, env_state, obsv, _rng)
        runner_state, metric = jax.lax.scan(_update_step, runner_state, None, config["NUM_UPDATES"])
        return {"runner_state": runner_state, "metrics": metric}

    return train
