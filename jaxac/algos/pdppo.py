"""Post-Decision PPO with dual critics (Felizardo et al. 2025, "Post-Decision Proximal Policy
Optimization with Dual Critic Networks", arXiv 2504.05150), for environments whose steps are
a deterministic decision followed by a random outcome (lot sizing, slippery lakes).

    cfg = jaxac.pdppo.Config(env="LotSizing-v0", total_steps=500_000)
    state, metrics = jax.jit(jaxac.pdppo.train)(cfg, jax.random.key(0))

A step from s_t under a_t first reaches the post-decision state s^x_t = f(s_t, a_t) (the
environment's `post_decision`: production done, demand not drawn), then the random outcome
gives s_{t+1}. Besides PPO's critic V(s) PDPPO learns V_x(s^x), whose input removes the
action's deterministic effect from the variance the critic must explain. With the value
targets R_t (PPO's lambda-returns under V) and A_t PPO's advantage, the policy's advantage is

    A^PD_t = max(A_t, R_t - V_x(s^x_t))     (= R_t - min(V(s_t), V_x(s^x_t)) for GAE)

and the clipped surrogate, entropy bonus and epochs of minibatches are PPO's (this module
reuses `jaxac.algos.ppo` and the on-policy code; nothing of PPO is copied). The value loss is,
by `dual_loss`:

- "paper" (default): each critic regresses R_t with its own loss, V(s_t) and V_x(s^x_t)
  (summed; one optimiser over all parameters, where the paper has one per network, which for
  Adam differs only through the global gradient-norm clip);
- "code": the released code's 0.5 (min(V(s_t), V_x(s^x_t)) - R_t)^2, where only the smaller
  estimate learns. The released code also uses Monte-Carlo returns normalised per batch:
  set `advantage.gae_lambda=1` for Monte-Carlo returns (the normalisation is not offered).

Either critic may be any registered one (`critic`, `post_critic`).
"""

from __future__ import annotations

from typing import Tuple

from jaxac import config as C
from jaxac import critics
from jaxac.algos import onpolicy, ppo
from jaxac.algos.ppo import State, components, init, update  # noqa: F401  (the algorithm's API)
from jaxac.env import has_post_decision
from jaxac.train import run
from jaxac.types import Metrics, PRNGKey


@C.group
class Config(ppo.Config):
    """PPO's fields, a second critic `post_critic` of the post-decision observation, and
    `dual_loss` ("paper" or "code", see the module). The environment must provide
    post-decision states."""

    env: str = C.static("LotSizing-v0", 'registered name, "module:factory", or an environment object')
    post_critic: critics.Spec = critics.spec("scalar")
    dual_loss: str = C.static("paper", "each critic to R (paper) or min(V, V_x) to R (code)",
                              choices=onpolicy.DUAL_LOSSES)

    def validate_env(self, env, env_params) -> None:
        if not has_post_decision(env):
            raise C.ConfigError(f"env={self.env!r} is invalid for pdppo: it has no post-decision states (a "
                                f"post_decision(state, action, params) method); LotSizing-v0 and FrozenLake-v1 "
                                f"have them, or train it with ppo.")

    def validate(self, prefix: str = "") -> None:
        C.check_choice("dual_loss", self.dual_loss, onpolicy.DUAL_LOSSES)
        if self.dual_loss == "code" and not (self.critic.regression and self.post_critic.regression):
            raise C.ConfigError(f"dual_loss='code' is invalid with critic={self.critic.name!r}, post_critic="
                                f"{self.post_critic.name!r}: min(V, V_x) needs squared-error critics (scalar).")
        if self.segment_length or self.recompute_advantages:
            raise C.ConfigError("segment_length and recompute_advantages are invalid for pdppo: its advantages "
                                "come from the rollout's two critics; leave them 0 and False.")
        super().validate(prefix)


def train(cfg: Config, key: PRNGKey) -> Tuple[State, Metrics]:
    """`init` then `cfg.num_updates` updates in one `lax.scan`; metrics are [num_updates]."""
    return run(init, update, cfg, key)


def smoke_config() -> Config:
    """The smallest sensible run (4 updates on the post-decision probe, tiny networks)."""
    return Config(env="probe/post_decision", total_steps=4 * 16 * 4, num_envs=4, rollout_length=16, update_epochs=1,
                  num_minibatches=2, policy=dict(hidden=(16,)), critic=dict(hidden=(16,)),
                  post_critic=dict(hidden=(16,)))
