"""SAC with a distributional critic (HL-Gauss by default) on Pendulum-v1, several seeds at once.

    python examples/sac_distributional_pendulum.py                  # 2 seeds x 1e4 steps
    python examples/sac_distributional_pendulum.py --critic tqc     # any registered critic
    python examples/sac_distributional_pendulum.py --tiny
"""

import argparse

import jax
import numpy as np

import jaxac


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--critic", default="hlgauss", help="a registered critic: " + ", ".join(jaxac.critics.names()))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--tiny", action="store_true", help="2 seeds x 1,500 steps")
    args = parser.parse_args(argv)
    seeds, steps = (2, 1_500) if args.tiny else (args.seeds, args.steps)

    # the Pendulum preset (64 x 64 networks, batch 128) with the critic swapped; a critic with
    # bins takes its value range from the environment's reward bounds
    cfg = jaxac.presets.config("sac", "Pendulum-v1", total_steps=steps, learning_starts=min(1_000, steps // 2),
                               critic=args.critic)
    session = jaxac.Session("sac", cfg, seeds=seeds, eval_episodes=5)  # no directory: nothing written
    result = session.run()
    print(f"SAC + {args.critic} critic {jaxac.config.to_dict(cfg.critic)}")
    print(f"{seeds} seeds x {steps} steps, compiled in {result.compile_seconds:.1f} s")
    print("training return per seed:    ", " ".join(f"{r:.1f}" for r in np.asarray(result.final_return)))
    print("deterministic policy per seed:", " ".join(f"{r:.1f}" for r in np.asarray(result.eval_return)))


if __name__ == "__main__":
    main()
