"""Named per-environment hyperparameters, all in one place.

`config("ppo", "Pendulum-v1", total_steps=...)` builds the algorithm's Config from the preset
for that environment (none: the algorithm's defaults) with overrides on top. Each preset was
measured here; the README lists the results.
"""

from __future__ import annotations

from typing import Any, Dict

from jaxac.algos import a2c, ppo, sac

ALGORITHMS = {"ppo": ppo, "a2c": a2c, "sac": sac}


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
    its segments' advantages from its value loss's forward pass (`advantage="vtrace"`:
    brax's `r + gamma * vs' - V`).

    On PPO halfcheetah at 409,600 steps over 8 seeds this gives a mean of 47.5 (median 47.6)
    against brax's 123.7 (median 58; one brax seed at 560): rank-sum p = 0.13. jaxac's own
    policy (a free std starting at 1 and a 0.01-scale head) with the per-epoch re-estimate
    gave 36.7 (p = 0.003): its deterministic actions barely left zero in 10 updates
    (benchmarks/results/vs_brax_returns_ppo_halfcheetah*.md).
    """
    return dict(
        num_envs=256, num_steps=8 * unroll_length, num_minibatches=8, update_epochs=epochs,
        gamma=gamma, gae_lambda=0.95, reward_scale=reward_scale, ent_coef=ent_coef,
        learning_rate=learning_rate, clip_eps=0.3, clip_value_loss=False, anneal_lr=False,
        max_grad_norm=1e9, adam_eps=1e-8, normalize_observations=True, activation="swish",
        hidden=(32,) * 4, critic_hidden=(256,) * 5, continuous_dist="tanh_gaussian",
        state_dependent_std=True, policy_std="softplus", network_init="lecun_uniform",
        obs_stats_before_update=True, segment_length=unroll_length, advantage="vtrace",
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


def _brax_sac(reward_scale: float, gamma: float, learning_rate: float, batch_size: int,
              utd: float, learning_starts: int) -> Dict[str, Any]:
    """brax.training SAC's settings in jaxac's terms: 128 environments per step, Adam at one
    rate for actor and critic and at 3e-4 for the temperature (brax fixes that one), brax's
    2 x 256 ReLU networks with their LeCun-uniform init and policy std (softplus + 0.001),
    brax's warm-up (the initial policy acts), target entropy -0.5 |A|, normalised
    observations; `utd` = grad_updates_per_step / num_envs.

    On inverted_pendulum both learners reach 1000 on 8 of 8 seeds at 123,392 steps
    (benchmarks/results/vs_brax_ip_sac_long.md). At 59,392 steps learning is mid-way and
    bimodal (a seed balances or sits near 50); seeds above 300 there: jaxac's own choices
    (orthogonal init with a 0.01 policy head, exp of a clipped log-std, uniform warm-up) 0
    of 16, softplus std alone 2 of 16, this preset 3 of 16 (4 of 16 with the temperature at
    6e-4); brax.training 4 of 8."""
    return dict(
        num_envs=128, batch_size=batch_size, utd=utd, learning_starts=learning_starts,
        gamma=gamma, reward_scale=reward_scale, actor_lr=learning_rate, critic_lr=learning_rate,
        alpha_lr=3e-4, hidden=(256, 256), activation="relu", target_entropy_scale=0.5,
        normalize_observations=True, policy_std="softplus", network_init="lecun_uniform",
        warmup="policy",
    )


# hopper is brax's published SAC setting (reward scaling 30, discount 0.997, lr 6e-4, batch
# 512, 64 gradient steps per 128 env steps, 8192 warm-up steps); halfcheetah takes it with
# halfcheetah's reward scale of 1 (its rewards are larger); inverted_pendulum is the CPU
# setting of ../shared/ANCHORS.md (16 gradient steps per 128 env steps).
_BRAX_SAC = {
    "brax/inverted_pendulum": dict(_brax_sac(10.0, 0.97, 6e-4, 256, 0.125, 8192), total_steps=150_000),
    "brax/hopper": dict(_brax_sac(30.0, 0.997, 6e-4, 512, 0.5, 8192), total_steps=1_000_000),
    "brax/halfcheetah": dict(_brax_sac(1.0, 0.997, 6e-4, 512, 0.5, 8192), total_steps=1_000_000),
}

PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    "ppo": {
        # PureJaxRL's defaults are the Config defaults.
        "CartPole-v1": {},
        # Many short parallel rollouts, 10 epochs, no value clipping and rewards scaled by 0.1
        # so the value loss does not dominate the clipped global gradient norm. 4 seeds reach
        # -157..-171 at 3e5 steps.
        "Pendulum-v1": dict(
            total_steps=300_000, num_envs=16, num_steps=128, update_epochs=10,
            num_minibatches=32, gamma=0.95, gae_lambda=0.95, learning_rate=1e-3,
            ent_coef=0.0, reward_scale=0.1, clip_value_loss=False,
        ),
        # brax's own PPO test configuration for its `fast` env (brax/training/agents/ppo/
        # train_test.py: 64 envs, unroll 5, 4 epochs of 8 minibatches, lr 3e-4, entropy 1e-2,
        # gamma 0.95, reward scaling 10, no advantage normalisation, 2^15 steps).
        "brax/fast": dict(
            env_kwargs=(("episode_length", 128),), total_steps=2**15, num_envs=64, num_steps=5,
            update_epochs=4, num_minibatches=8, learning_rate=3e-4, ent_coef=1e-2, gamma=0.95,
            reward_scale=10.0, normalize_advantages=False, anneal_lr=False,
            continuous_dist="tanh_gaussian", hidden=(64, 64),
        ),
        **_BRAX_PPO,
    },
    "a2c": {
        # SB3 / RL-zoo defaults are the Config defaults (8 envs x 5 steps, RMSprop 7e-4).
        "CartPole-v1": {},
    },
    "sac": {
        # SB3 zoo's Pendulum budget and learning rate, with rejax's 64x64 networks (the same
        # sizes as the peer in the benchmark) and minibatches of 128: 8 seeds reach the same
        # -156 mean as with 256 (per seed -118..-234 either way) at half the compute.
        "Pendulum-v1": dict(total_steps=20_000, hidden=(64, 64), batch_size=128, actor_lr=1e-3,
                            critic_lr=1e-3, alpha_lr=1e-3),
        # Discrete SAC: exact expectations over the 2 actions, target entropy 0.5 log 2.
        "CartPole-v1": dict(total_steps=200_000, num_envs=4, rollout_length=4, utd=0.25, hidden=(64, 64),
                            actor_lr=3e-4, critic_lr=1e-3, alpha_lr=3e-4, tau=0.01,
                            learning_starts=2_000),
        # brax's SAC test configuration for `fast` (64 envs, batch 64, lr 3e-4, reward
        # scaling 10, 2^15 steps) with one gradient step per env step.
        "brax/fast": dict(env_kwargs=(("episode_length", 128),), total_steps=2**15, num_envs=64,
                          batch_size=64, learning_starts=1024, hidden=(64, 64), reward_scale=10.0),
        **_BRAX_SAC,
    },
}


def preset(algo: str, env: str) -> Dict[str, Any]:
    """The preset overrides for (algorithm, environment); {} when there is none."""
    return dict(PRESETS.get(algo, {}).get(env, {}))


def config(algo: str, env: str, use_preset: bool = True, **overrides) -> Any:
    """The algorithm's Config for `env`: preset (if any) then `overrides`."""
    fields = preset(algo, env) if use_preset else {}
    fields.update(overrides)
    return ALGORITHMS[algo].Config(env=env, **fields)
