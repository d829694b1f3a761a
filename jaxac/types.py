"""Typed containers shared by environments, rollouts and algorithms.

Every container is a frozen pytree dataclass with fixed fields, so that jit, vmap, scan and
checkpointing see the same structure at every step (no string-keyed extras).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import jax
from flax import struct

Array = jax.Array
PRNGKey = jax.Array
Metrics = Dict[str, Array]


@struct.dataclass
class TimeStep:
    """What an environment returns from `reset` and `step` (one environment, no batch axis).

    Attributes:
      obs: observation the agent acts on next; after an automatic reset, the reset observation.
      reward: reward of the transition that led here (0 at reset).
      terminated: the MDP reached a terminal state; bootstrap with zero.
      truncated: the episode was cut by a time limit; bootstrap from `final_obs`.
      final_obs: observation reached by the transition, before any automatic reset. Equal to
        `obs` when no reset happened.
      episode_return: undiscounted return of the episode so far including this reward; filled
        by the `EpisodeStats` wrapper (0 otherwise). At a done step it is the completed return.
      episode_length: number of steps of the episode so far, filled like `episode_return`.
    """

    obs: Array
    reward: Array
    terminated: Array
    truncated: Array
    final_obs: Array
    episode_return: Array
    episode_length: Array

    @property
    def done(self) -> Array:
        return self.terminated | self.truncated


@struct.dataclass
class Transition:
    """A batch of transitions collected by `jaxac.rollout.unroll`, with shape [T, B, ...].

    Attributes:
      obs: observation the action was taken in.
      action: the policy's own sample (e.g. the pre-tanh Gaussian sample), so that log-probs
        can be recomputed exactly.
      env_action: the action the environment received (in [-1, 1] for continuous control
        before the environment's rescaling; the integer action for discrete control).
      log_prob: the behaviour policy's log-probability of `action` (on-policy ratios).
      reward, terminated, truncated: as in `TimeStep`.
      next_obs: the observation reached, before any automatic reset (bootstrap input).
      episode_return, episode_length: statistics of completed episodes where `done`.
      post_obs: the post-decision observation of (obs, action), when the rollout was asked
        for it (`unroll(..., post_decision=True)`), else None.
      policy_carry: the policy's own carry the action was taken with (() for a feed-forward
        policy), so that a loss replays the step exactly.
      next_policy_carry: the carry after the step, before any reset at an episode's end (what
        the policy acts with in `next_obs`).
    """

    obs: Array
    action: Array
    env_action: Array
    log_prob: Array
    reward: Array
    terminated: Array
    truncated: Array
    next_obs: Array
    episode_return: Array
    episode_length: Array
    post_obs: Optional[Array] = None
    policy_carry: Any = ()
    next_policy_carry: Any = ()

    @property
    def done(self) -> Array:
        return self.terminated | self.truncated


Params = Any
