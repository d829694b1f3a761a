"""PPO on CartPole-v1 over many seeds from Python: one compiled call, seeds split over devices.

    python examples/ppo_cartpole_seeds.py            # 16 seeds x 2e5 steps
    python examples/ppo_cartpole_seeds.py --tiny     # a smoke run
"""

import argparse

import jax
import numpy as np

import jaxac


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per seed")
    parser.add_argument("--tiny", action="store_true", help="4 seeds x 1e4 steps")
    args = parser.parse_args(argv)
    seeds, steps = (4, 10_000) if args.tiny else (args.seeds, args.steps)

    # on a CPU, `import jaxac` made one XLA device per core; the seeds are split over them
    cfg = jaxac.ppo.Config(env="CartPole-v1", total_steps=steps)
    keys = jax.random.split(jax.random.key(0), seeds)
    states, metrics = jaxac.parallel.train(jaxac.ppo, cfg, keys)  # vmap over seeds, split over devices

    final = np.asarray(jaxac.summary.final_return(metrics), np.float64)  # [seeds]: last 5% of training episodes
    module = jaxac.ppo
    evaluate = jax.jit(jax.vmap(lambda s, k: jaxac.evaluate.episodes(module, cfg, s, k, 5)))
    returns = np.asarray(evaluate(states, jax.random.split(jax.random.key(1), seeds))[0], np.float64)  # [seeds, 5]
    print(f"{seeds} seeds x {steps} steps on {len(jax.devices())} device(s)")
    print("training return per seed:", " ".join(f"{r:.1f}" for r in final))
    print("deterministic policy per seed:", " ".join(f"{r:.1f}" for r in returns.mean(axis=1)),
          f"(mean {returns.mean():.1f})")


if __name__ == "__main__":
    main()
