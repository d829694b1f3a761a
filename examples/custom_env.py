"""Your own environment: a pure-JAX task written from scratch, registered by name, trained with
PPO, and evaluated. The same factory works from the CLI:

    jaxac train ppo --env examples.custom_env:make_reach --seeds 4    (run from the repository root)
    python examples/custom_env.py
    python examples/custom_env.py --tiny
"""

import argparse
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import jaxac
from jaxac.env import Box, make_timestep


@struct.dataclass
class ReachParams:
    max_steps: int = struct.field(pytree_node=False, default=50)  # static: it sizes nothing, but it is not swept
    speed: float = 0.1  # a float leaf: could be vmapped like a hyperparameter


@struct.dataclass
class ReachState:
    position: jax.Array  # [] float32
    target: jax.Array  # [] float32
    time: jax.Array  # [] int32


@dataclasses.dataclass(frozen=True)
class Reach:
    """Move a point on [-1, 1] to a random target. Observation (position, target); action a
    velocity in [-1, 1]; reward -|position - target| per step; truncated after `max_steps`."""

    def default_params(self) -> ReachParams:
        return ReachParams()

    def reset(self, key, params):
        position, target = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)
        state = ReachState(position, target, jnp.zeros((), jnp.int32))
        return state, make_timestep(self._obs(state), 0.0, False, False)

    def step(self, key, state, action, params):
        position = jnp.clip(state.position + params.speed * jnp.clip(action[0], -1.0, 1.0), -1.0, 1.0)
        state = ReachState(position, state.target, state.time + 1)
        reward = -jnp.abs(position - state.target)
        return state, make_timestep(self._obs(state), reward, False, state.time >= params.max_steps)

    def observation_space(self, params):
        return Box(-1.0, 1.0, (2,))

    def action_space(self, params):
        return Box(-1.0, 1.0, (1,))

    def reward_range(self, params):
        """Optional: declared bounds give critics with bins their value range."""
        return -2.0, 0.0

    @staticmethod
    def _obs(state):
        return jnp.stack([state.position, state.target]).astype(jnp.float32)


def make_reach(**kwargs):
    """The factory jaxac calls: keyword parameters in, (env, params) out."""
    return Reach(), ReachParams(**kwargs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--tiny", action="store_true", help="5e3 steps")
    args = parser.parse_args(argv)
    steps = 5_000 if args.tiny else args.steps

    jaxac.register_env("examples/reach", make_reach)
    cfg = jaxac.ppo.Config(env="examples/reach", env_kwargs=(("max_steps", 50),), total_steps=steps,
                           num_envs=8, rollout_length=64)
    keys = jax.random.split(jax.random.key(0), 4)
    states, metrics = jax.jit(jax.vmap(jaxac.ppo.train, in_axes=(None, 0)))(cfg, keys)
    evaluate = jax.jit(jax.vmap(lambda s, k: jaxac.evaluate.episodes(jaxac.ppo, cfg, s, k, 10)))
    returns = np.asarray(evaluate(states, jax.random.split(jax.random.key(1), 4))[0], np.float64)

    # the policy that moves straight to the target and stays, on the same kind of episodes
    env, params = make_reach(max_steps=50)
    best = jaxac.evaluate.run_episodes(env, params, lambda obs: jnp.clip((obs[..., 1:] - obs[..., :1]) / params.speed,
                                                                         -1.0, 1.0), jax.random.key(1), 100, 50)[0]
    print(f"PPO on Reach, 4 seeds x {steps} steps: first updates {float(np.nanmean(metrics['episode_return'][:, :3])):.1f}, "
          f"deterministic policy {returns.mean():.1f}; moving straight to the target: {float(best.mean()):.1f}")


if __name__ == "__main__":
    main()
