"""Train any algorithm on a probe environment and read its learned values and actions."""

import jax
import jax.numpy as jnp
import numpy as np


def train_on_probe(module, cfg):
    """(value(o[, a]) -> float, action(o) -> array) of `module` trained with `cfg`."""
    state, _ = jax.jit(module.train)(cfg, jax.random.key(0))
    parts = module.components(cfg)

    def value(o, a=None):
        obs = jnp.array([[o]], jnp.float32)
        if a is None:
            return float(parts.critic.value(state.params["critic"], obs, None, jax.random.key(0))[0])
        act = jnp.array([a])
        act = jax.nn.one_hot(act, parts.num_actions) if parts.num_actions else act[:, None].astype(jnp.float32)
        return float(parts.critic.value(state.params["critic"], obs, act, jax.random.key(0))[0])

    def action(o):
        out = parts.net.apply(state.params["actor"], jnp.array([[o]], jnp.float32))[0]
        return np.asarray(parts.dist.to_env(parts.dist.mode(out)))[0]

    return value, action
