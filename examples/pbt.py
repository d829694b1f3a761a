"""Population-based training: 8 PPO members on CartPole-v1 whose learning rate and entropy
coefficient are exploited and explored inside the compiled chunk.

    python examples/pbt.py --out pbt-run          # 8 members x 1.5e5 steps
    python examples/pbt.py --tiny
The same run from the CLI:
    jaxac pbt ppo --env CartPole-v1 --population 8 --ready 5 --hyper optim.learning_rate=loguniform:1e-4:1e-2 --hyper ent_coef=uniform:0:0.02 --total-steps 150000 --out pbt-run
"""

import argparse
import csv
import os
import tempfile

import numpy as np

import jaxac
from jaxac.pbt import Explore, Hyper, Population


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150_000, help="env steps per member")
    parser.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    parser.add_argument("--tiny", action="store_true", help="4 members, 2 exploit steps")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="jaxac-pbt-")
    members, ready, steps = (4, 2, 4 * 512 + 512) if args.tiny else (8, 5, args.steps)

    population = Population(
        hypers=(Hyper.parse("optim.learning_rate=loguniform:1e-4:1e-2"), Hyper.parse("ent_coef=uniform:0:0.02")),
        ready=ready,  # updates between exploit steps
        explore=Explore(fraction=0.25, perturb=(0.8, 1.25), resample=0.25),
    )
    cfg = jaxac.ppo.Config(env="CartPole-v1", total_steps=steps)
    result = jaxac.Session("ppo", cfg, seeds=members, population=population, out=out, eval_episodes=5).run()

    values = jaxac.parallel.host(result.state.values)  # {field: [members]}: each member's current values
    best = int(np.nanargmax(result.eval_return))
    with open(os.path.join(out, "lineage.csv")) as f:
        steps_taken = sum(1 for _ in csv.DictReader(f))
    print(f"{members} members x {steps} steps; {steps_taken} members replaced over the run (lineage.csv)")
    print(f"eval return (deterministic policy) per member: {np.round(np.asarray(result.eval_return, np.float64), 1)}")
    print(f"best member {best}: learning_rate {values['optim.learning_rate'][best]:.2e}, "
          f"ent_coef {values['ent_coef'][best]:.4f}")


if __name__ == "__main__":
    main()
