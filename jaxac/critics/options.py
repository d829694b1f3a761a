"""Critic choice and options as config fields, shared by every algorithm's Config.

`CriticOptions` is a dataclass mixin: PPO, A2C and SAC configs inherit its fields, so the
same `--critic c51 --num-bins 51` works for all of them and a float option (e.g. `hl_sigma`,
`gauss_beta`, `flow_noise`) can be vmapped like any other hyperparameter. `build_critic`
turns the fields into a critic object; the algorithms only ever see the critic protocol.

Critics with bins or a noise interval need a value range. Unless `v_min`/`v_max` are set it
comes from the environment's declared reward bounds `[r_lo, r_hi]` (times `reward_scale`):
`[min(0, r_lo), max(0, r_hi)] / (1 - gamma)`, which contains every discounted return.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import jax.numpy as jnp
from flax import struct

from jaxac import config as C
from jaxac.critics.categorical import CategoricalCritic, HLGaussCritic
from jaxac.critics.flow import ACTOR_VALUES, FlowCritic
from jaxac.critics.gaussian import GaussianCritic
from jaxac.critics.quantile import QuantileCritic
from jaxac.critics.scalar import ScalarCritic

# name -> (one-line description, reference); the README's table is generated from the same text
CRITICS: Dict[str, Tuple[str, str]] = {
    "scalar": ("one number, squared error", "-"),
    "c51": ("categorical over a fixed support, projected target, cross-entropy",
            "Bellemare et al. 2017"),
    "quantile": ("M quantiles at midpoint fractions, quantile Huber loss", "Dabney et al. 2018"),
    "tqc": ("quantile members, pooled target atoms with the top d per member dropped",
            "Kuznetsov et al. 2020"),
    "hlgauss": ("categorical head, cross-entropy to a Gaussian-smoothed scalar target",
                "Farebrother et al. 2024"),
    "gaussian": ("mean and std, Gaussian NLL, pessimistic mu - beta sigma", "STAC, Oezalp 2026"),
    "flow": ("velocity field integrated from noise to a value (flow matching)",
             "floq, Agrawalla et al. 2025"),
}
NEEDS_RANGE = ("c51", "hlgauss", "flow")


def preferred_aggregate(critic: str) -> str:
    """The ensemble rule a critic is used with when `aggregate="auto"`."""
    return "truncate" if critic == "tqc" else "min"


def check_aggregate(critic: str, rule: str) -> None:
    """Truncation drops the largest quantiles: only quantile critics have them."""
    if rule == "truncate" and critic not in ("quantile", "tqc"):
        raise C.ConfigError(
            f"aggregate='truncate' is invalid for critic={critic!r}: truncation drops the "
            f"largest quantiles, use critic='tqc' (or 'quantile')."
        )


@struct.dataclass
class CriticOptions:
    """Critic fields. Static: critic, critic_hidden, num_bins, num_quantiles, tqc_drop, v_min, v_max,
    critic_layer_norm, critic_dropout, flow_steps, flow_samples, flow_bins, flow_actor.
    Leaves: hl_sigma, huber_kappa, gauss_beta, flow_noise."""

    critic: str = C.static("scalar")
    critic_hidden: Tuple[int, ...] = C.static(())  # critic torso; () = the policy's `hidden`
    num_bins: int = C.static(101)  # c51 atoms, hlgauss bins
    num_quantiles: int = C.static(25)  # quantile, tqc
    tqc_drop: int = C.static(2)  # target atoms dropped per ensemble member (tqc)
    v_min: Optional[float] = C.static(None)  # value range (c51, hlgauss, flow); None: from env
    v_max: Optional[float] = C.static(None)
    critic_layer_norm: bool = C.static(False)
    critic_dropout: float = C.static(0.0)
    flow_steps: int = C.static(8)  # K Euler steps
    flow_samples: int = C.static(8)  # R noise samples per target
    flow_bins: int = C.static(51)  # histogram embedding of z
    # integrate | distill. The integration itself, not floq's distilled head, which lags: PPO
    # CartPole 8 seeds x 5e5, 489 vs 414; SAC Pendulum UTD 1, 8 seeds x 2e4, -161.9 vs -428.8
    flow_actor: str = C.static("integrate")
    hl_sigma: float = 0.75  # HL-Gauss std in bin widths
    huber_kappa: float = 1.0
    gauss_beta: float = 0.0  # pessimism of the Gaussian critic
    flow_noise: float = 0.25  # kappa: noise interval as a fraction of the value range

    def validate_critic(self, env: Any, env_params: Any) -> None:
        """Checks every critic field; `env` is the unwrapped environment (for its reward range)."""
        C.check_choice("critic", self.critic, tuple(CRITICS))
        if self.critic_hidden != () and (
            not isinstance(self.critic_hidden, tuple)
            or any(not isinstance(h, int) or h < 1 for h in self.critic_hidden)
        ):
            raise C.ConfigError(
                f"critic_hidden={self.critic_hidden!r} is invalid: use a tuple of positive layer "
                f"widths, or () for the policy's `hidden`."
            )
        C.check_choice("flow_actor", self.flow_actor, ACTOR_VALUES)
        for name in ("num_bins", "flow_bins"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 2:
                raise C.ConfigError(f"{name}={getattr(self, name)!r} is invalid: use an integer >= 2.")
        for name in ("num_quantiles", "flow_steps", "flow_samples"):
            C.check_positive_int(name, getattr(self, name))
        if not isinstance(self.tqc_drop, int) or not 0 <= self.tqc_drop < self.num_quantiles:
            raise C.ConfigError(
                f"tqc_drop={self.tqc_drop!r} is invalid: use an integer in [0, num_quantiles="
                f"{self.num_quantiles})."
            )
        C.check_number("critic_dropout", self.critic_dropout, lambda x: (x >= 0) & (x < 1), "in [0, 1)")
        C.check_number("hl_sigma", self.hl_sigma, C.positive, "> 0")
        C.check_number("huber_kappa", self.huber_kappa, C.positive, "> 0")
        C.check_number("gauss_beta", self.gauss_beta, C.non_negative, ">= 0")
        C.check_number("flow_noise", self.flow_noise, lambda x: (x > 0) & (x <= 1), "in (0, 1]")
        if (self.v_min is None) != (self.v_max is None):
            raise C.ConfigError("v_min and v_max are invalid: set both or neither.")
        if self.v_min is not None and not self.v_min < self.v_max:
            raise C.ConfigError(f"v_min={self.v_min}, v_max={self.v_max} are invalid: need v_min < v_max.")
        if self.critic in NEEDS_RANGE and self.v_min is None:
            if reward_range(env, env_params) is None:
                raise C.ConfigError(
                    f"critic={self.critic!r} needs a value range and env={self.env!r} declares no "
                    f"reward bounds: set v_min and v_max."
                )
            C.check_number("gamma", self.gamma, lambda g: g < 1,
                           f"< 1 for critic={self.critic!r} without v_min/v_max (the range is r/(1-gamma))")

    def value_range(self, env: Any, env_params: Any) -> Tuple[Any, Any]:
        """(v_min, v_max): the fields if set, else from the env's reward bounds and gamma."""
        if self.v_min is not None:
            return self.v_min, self.v_max
        lo, hi = reward_range(env, env_params)
        scale = self.reward_scale / (1.0 - self.gamma)
        return jnp.minimum(0.0, lo) * scale, jnp.maximum(0.0, hi) * scale

    def build_critic(self, env: Any, env_params: Any, hidden, activation: str, weight_init: str = "orthogonal"):
        """The critic object for these fields (one member; SAC wraps it in an `Ensemble`).
        `hidden` is the policy's torso, used unless `critic_hidden` is set; `weight_init` the
        algorithm's `network_init`."""
        head = dict(hidden=tuple(self.critic_hidden or hidden), activation=activation,
                    layer_norm=self.critic_layer_norm, dropout=self.critic_dropout, weight_init=weight_init)
        name = self.critic
        if name == "scalar":
            return ScalarCritic(**head)
        if name in ("quantile", "tqc"):
            return QuantileCritic(**head, num_quantiles=self.num_quantiles, kappa=self.huber_kappa)
        if name == "gaussian":
            return GaussianCritic(**head, beta=self.gauss_beta)
        v_min, v_max = self.value_range(env, env_params)
        if name == "c51":
            return CategoricalCritic(**head, v_min=v_min, v_max=v_max, num_bins=self.num_bins)
        if name == "hlgauss":
            return HLGaussCritic(**head, v_min=v_min, v_max=v_max, num_bins=self.num_bins,
                                 sigma_ratio=self.hl_sigma)
        if name == "flow":
            return FlowCritic(**head, v_min=v_min, v_max=v_max, steps=self.flow_steps,
                              noise_fraction=self.flow_noise, num_samples=self.flow_samples,
                              num_bins=self.flow_bins, actor_value=self.flow_actor)
        raise ValueError(f"unknown critic {name!r}; choose one of {', '.join(CRITICS)}")


def reward_range(env: Any, env_params: Any) -> Optional[Tuple[float, float]]:
    """The environment's declared per-step reward bounds, or None (wrappers do not change
    rewards, so the innermost environment's declaration is used)."""
    base = getattr(env, "unwrapped", env)
    declared = getattr(base, "reward_range", None)
    return None if declared is None else declared(env_params)
