"""A hyperparameter sweep: a grid crossed with random draws, every (setting, seed) a member of
one compiled program, ranked by the deterministic policy with bootstrap intervals.

    python examples/hyperparameter_sweep.py --out sw      # 3 x 2 settings x 4 seeds, PPO Acrobot-v1
    python examples/hyperparameter_sweep.py --tiny
The same sweep from the CLI:
    jaxac sweep ppo --env Acrobot-v1 --grid optim.learning_rate=3e-4,1e-3,3e-3 --sample ent_coef=uniform:0:0.02 --trials 2 --seeds 4 --total-steps 50000 --out sw
"""

import argparse
import tempfile

import jaxac


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000, help="env steps per member")
    parser.add_argument("--out", default=None, help="sweep directory (default: a temporary one)")
    parser.add_argument("--tiny", action="store_true", help="2 x 1 settings x 2 seeds, 4e3 steps")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="jaxac-sweep-")
    steps, grid, trials, seeds = (4_000, "optim.learning_rate=3e-4,3e-3", 1, 2) if args.tiny else \
        (args.steps, "optim.learning_rate=3e-4,1e-3,3e-3", 2, 4)

    cfg = jaxac.presets.config("ppo", "Acrobot-v1", total_steps=steps)
    result = jaxac.sweep.run("ppo", cfg, grids=[grid], samples=["ent_coef=uniform:0:0.02"], trials=trials,
                             seeds=seeds, out=out, eval_episodes=5)
    print(f"{len(result.settings)} settings x {seeds} seeds in {result.programs} compiled program(s), "
          f"{result.seconds:.0f} s; ranked by the deterministic policy (95% bootstrap CI over seeds):")
    for row in result.table:
        print(f"  learning_rate={row['optim.learning_rate']:.0e} ent_coef={row['ent_coef']:.4f}: "
              f"{row['eval_return_mean']:.1f} [{row['ci_low']:.1f}, {row['ci_high']:.1f}]")
    print(f"files: {out}/summary.csv, members.csv, scores.json; resume with jaxac.Sweep.resume({out!r}).run()")


if __name__ == "__main__":
    main()
