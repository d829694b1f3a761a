"""Named per-environment hyperparameters, all in one place.

A preset is an overlay of the Config: top-level fields, and groups as dicts of the fields
they change (`{"policy": {"hidden": (32,) * 4}}`). `config("ppo", "Pendulum-v1",
total_steps=...)` builds the algorithm's Config from the preset for that environment (none:
the algorithm's defaults) with overrides on top; an override's name may be a dotted path
(`**{"optim.learning_rate": 1e-3}`). Each preset was measured here; docs/benchmarks lists the
results.
"""

from __future__ import annotations

from typing import Any, Dict

from jaxac import config as C
from jaxac.algos import ALGORITHMS, get  # noqa: F401  (ALGORITHMS: part of this module's API)


# brax.training's PPO networks: policy 4 x 32 swish, tanh-squashed Gaussian with a
# state-dependent softplus std, LeCun-uniform init; value 5 x 256
BRAX_PPO_POLICY = dict(hidden=(32,) * 4, activation="swish", distribution="tanh_gaussian",
                       state_dependent_std=True, std="softplus", init="lecun_uniform")
BRAX_PPO_CRITIC = dict(name="scalar", hidden=(256,) * 5)


def _brax_ppo(unroll_length: int, epochs: int, gamma: float, reward_scale: float,
              ent_coef: float, learning_rate: float = 3e-4) -> Dict[str, Any]:
    """brax.training PPO's settings in jaxac's terms, sized for a CPU.

    brax collects `batch_size * num_minibatches` trajectories of `unroll_length` steps per
    iteration with `num_envs` environments, then takes `num_updates_per_batch` epochs of
    `num_minibatches` steps. With 256 environments and 8 minibatches (brax on a CPU; the
    published 2048 envs x 32 minibatches are GPU sizes) that is 256 envs x 8 unrolls = 256 x
    (8 * unroll_length) steps here. Everything else is brax's: its networks (policy 4 x 32,
    value 5 x 256, swish, tanh-squashed Gaussian), its policy (a state-dependent std through
    softplus + 0.001, LeCun-uniform init of every layer), no gradient clipping, clip 0.3, Adam
    eps 1e-8, no value clipping, normalised observations and advantages, no LR annealing, and
    its shape of update: the rollout is folded into the observation statistics before the
    update, minibatches are whole `unroll_length` segments, and every minibatch re-estimates
    its segments' advantages from its value loss's forward pass (`advantage.estimator=
    "vtrace"`: brax's `r + gamma * vs' - V`). docs/benchmarks/brax.md gives the measured returns.
    """
    return dict(
        num_envs=256, rollout_length=8 * unroll_length, num_minibatches=8, update_epochs=epochs,
        gamma=gamma, reward_scale=reward_scale, ent_coef=ent_coef, clip_eps=0.3, clip_value_loss=False,
        segment_length=unroll_length,
        advantage=dict(estimator="vtrace", gae_lambda=0.95),
        optim=dict(learning_rate=learning_rate, schedule="constant", max_grad_norm=1e9, eps=1e-8),
        obs=dict(normalize=True, stats_before_update=True),
        policy=BRAX_PPO_POLICY, critic=BRAX_PPO_CRITIC,
    )


# brax's published per-environment PPO settings (its training colab): unroll length, epochs,
# discount, reward scaling, entropy cost. hopper has no published PPO setting; it takes the
# one brax uses for ant and the pendulums.
_BRAX_PPO = {
    "brax/inverted_pendulum": dict(_brax_ppo(5, 4, 0.97, 10.0, 1e-2), total_steps=300_000),
    "brax/inverted_double_pendulum": dict(_brax_ppo(5, 4, 0.97, 10.0, 1e-2), total_steps=2_000_000),
    "brax/hopper": dict(_brax_ppo(5, 4, 0.97, 10.0, 1e-2), total_steps=5_000_000),
    "brax/ant": dict(_brax_ppo(5, 4, 0.97, 10.0, 1e-2), total_steps=5_000_000),
    "brax/halfcheetah": dict(_brax_ppo(20, 8, 0.95, 1.0, 1e-3), total_steps=5_000_000),
}


def _brax_sac(reward_scale: float, gamma: float, learning_rate: float, minibatch_size: int,
              utd: float, learning_starts: int) -> Dict[str, Any]:
    """brax.training SAC's settings in jaxac's terms: 128 environments per step, Adam at one
    rate for actor and critic and at 3e-4 for the temperature (brax fixes that one), brax's
    2 x 256 ReLU networks with their LeCun-uniform init and policy std (softplus + 0.001),
    brax's warm-up (the initial policy acts), target entropy -0.5 |A|, normalised
    observations; `utd` = grad_updates_per_step / num_envs. docs/benchmarks/brax.md gives the measured
    returns."""
    return dict(
        num_envs=128, minibatch_size=minibatch_size, utd=utd, learning_starts=learning_starts,
        gamma=gamma, reward_scale=reward_scale, target_entropy_scale=0.5, warmup="policy",
        optim=dict(learning_rate=learning_rate, critic_learning_rate=None, alpha_learning_rate=3e-4),
        policy=dict(hidden=(256, 256), activation="relu", std="softplus", init="lecun_uniform"),
        obs=dict(normalize=True),
    )


# hopper is brax's published SAC setting (reward scaling 30, discount 0.997, lr 6e-4, batch
# 512, 64 gradient steps per 128 env steps, 8192 warm-up steps); halfcheetah takes it with
# halfcheetah's reward scale of 1 (its rewards are larger); inverted_pendulum is the CPU
# setting of the brax comparison (16 gradient steps per 128 env steps).
_BRAX_SAC = {
    "brax/inverted_pendulum": dict(_brax_sac(10.0, 0.97, 6e-4, 256, 0.125, 8192), total_steps=150_000),
    "brax/hopper": dict(_brax_sac(30.0, 0.997, 6e-4, 512, 0.5, 8192), total_steps=1_000_000),
    "brax/halfcheetah": dict(_brax_sac(1.0, 0.997, 6e-4, 512, 0.5, 8192), total_steps=1_000_000),
}

# Lot sizing (Felizardo et al. 2025): one 100-period episode per environment and rollout,
# 128 x 128 networks and entropy about the released code's, and costs of ~100 a period scaled
# by 1e-3 so the value loss does not swamp the clipped gradient; PPO and PDPPO share it.
_LOT_SIZING = dict(total_steps=200_000, num_envs=8, rollout_length=100, update_epochs=4, num_minibatches=4,
                   ent_coef=0.01, reward_scale=1e-3, policy=dict(hidden=(128, 128)), optim=dict(learning_rate=5e-4))

PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    "ppo": {
        "LotSizing-v0": _LOT_SIZING,
        # PureJaxRL's defaults; the slippery lake needs a few hundred thousand steps
        "FrozenLake-v1": dict(total_steps=300_000),
        # PureJaxRL's defaults are the Config defaults.
        "CartPole-v1": {},
        # Many short parallel rollouts, 10 epochs, no value clipping and rewards scaled by 0.1
        # so the value loss does not dominate the clipped global gradient norm.
        "Pendulum-v1": dict(
            total_steps=300_000, num_envs=16, rollout_length=128, update_epochs=10,
            num_minibatches=32, gamma=0.95, advantage=dict(gae_lambda=0.95), optim=dict(learning_rate=1e-3),
            ent_coef=0.0, reward_scale=0.1, clip_value_loss=False,
        ),
        # brax's own PPO test configuration for its `fast` env (brax/training/agents/ppo/
        # train_test.py: 64 envs, unroll 5, 4 epochs of 8 minibatches, lr 3e-4, entropy 1e-2,
        # gamma 0.95, reward scaling 10, no advantage normalisation, 2^15 steps).
        "brax/fast": dict(
            env_kwargs=(("episode_length", 128),), total_steps=2**15, num_envs=64, rollout_length=5,
            update_epochs=4, num_minibatches=8, ent_coef=1e-2, gamma=0.95, reward_scale=10.0,
            optim=dict(learning_rate=3e-4, schedule="constant"), advantage=dict(normalize=False),
            policy=dict(distribution="tanh_gaussian", hidden=(64, 64)),
        ),
        **_BRAX_PPO,
    },
    "pdppo": {
        "LotSizing-v0": _LOT_SIZING,
        "FrozenLake-v1": dict(total_steps=300_000),
    },
    "a2c": {
        # SB3 / RL-zoo defaults are the Config defaults (8 envs x 5 steps, RMSprop 7e-4).
        "CartPole-v1": {},
    },
    "sac": {
        # SB3 zoo's Pendulum budget and learning rate, with rejax's 64x64 networks (the same
        # sizes as the peer in the benchmark) and minibatches of 128, which learn as well as 256
        # at half the compute.
        "Pendulum-v1": dict(total_steps=20_000, policy=dict(hidden=(64, 64)), minibatch_size=128,
                            optim=dict(learning_rate=1e-3, alpha_learning_rate=1e-3)),
        # Discrete SAC: exact expectations over the 2 actions, target entropy 0.5 log 2.
        "CartPole-v1": dict(total_steps=200_000, num_envs=4, rollout_length=4, utd=0.25,
                            policy=dict(hidden=(64, 64)), tau=0.01, learning_starts=2_000,
                            optim=dict(learning_rate=3e-4, critic_learning_rate=1e-3)),
        # brax's SAC test configuration for `fast` (64 envs, batch 64, lr 3e-4, reward
        # scaling 10, 2^15 steps) with one gradient step per env step.
        "brax/fast": dict(env_kwargs=(("episode_length", 128),), total_steps=2**15, num_envs=64,
                          minibatch_size=64, learning_starts=1024, policy=dict(hidden=(64, 64)),
                          reward_scale=10.0),
        **_BRAX_SAC,
    },
    "td3": {
        # SB3 zoo's Pendulum budget and learning rate, with the SAC preset's 64x64 networks
        # and minibatches of 128.
        "Pendulum-v1": dict(total_steps=20_000, policy=dict(hidden=(64, 64)), minibatch_size=128,
                            optim=dict(learning_rate=1e-3)),
        # the SAC preset's setting of brax's `fast` test
        "brax/fast": dict(env_kwargs=(("episode_length", 128),), total_steps=2**15, num_envs=64,
                          minibatch_size=64, learning_starts=1024, policy=dict(hidden=(64, 64)),
                          reward_scale=10.0),
    },
}


def preset(algo: str, env: str) -> Dict[str, Any]:
    """The preset overlay for (algorithm, environment); {} when there is none."""
    return dict(PRESETS.get(algo, {}).get(env, {}))


def config(algo: str, env: Any, use_preset: bool = True, **overrides) -> Any:
    """The algorithm's Config for `env`: its preset (if any, and `env` is a name), then
    `overrides` (field names, dotted paths, or groups as dicts), applied parents first."""
    renamed(overrides)
    base = preset(algo, env) if use_preset and isinstance(env, str) else {}
    with C.unchecked():  # the preset alone may not be valid until the overrides apply
        cfg = C.replace(get(algo).Config(env=env, **base), **overrides)
    cfg.validate()
    return cfg


def renamed(overrides: Dict[str, Any]) -> None:
    """Raises ConfigError naming the new path for an override that is a flat field of earlier
    versions (`learning_rate` is now `optim.learning_rate`; `advantage="vtrace"` is now
    `advantage.estimator`, while `advantage={...}` is the group)."""
    for name, value in overrides.items():
        if name in RENAMED and not (isinstance(value, dict) or C.is_group(value)):
            raise C.ConfigError(f"{name} is now {RENAMED[name]}.")


RENAMED = C.RENAMED  # flat config fields of earlier versions -> their path in the config tree
