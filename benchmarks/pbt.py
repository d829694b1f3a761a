"""PBT against random search of the same compute: same members, steps and bounds.

    python benchmarks/pbt.py                 # writes benchmarks/results/pbt.md (about 10 min, 2 cores)
    python benchmarks/pbt.py --reps 2        # a quicker look

For each task and repetition r (seed r), both methods train `--members` members for the
task's budget with the same hyperparameter bounds: random search draws each member's values
once (`jaxac sweep --sample ... --trials M`, one seed each); PBT (`jaxac pbt`) draws them
alike, then every `ready` updates the bottom quarter copies a top-quarter member and
perturbs its values. Each method's result is its best member, chosen by its training return
at the end (the last 5% of updates for random search, the last exploit period's for PBT),
scored by that member's deterministic policy over 10 evaluation episodes. Reported: the
mean over repetitions with a 95% bootstrap interval, and each repetition's score.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TASKS = {
    "PPO Acrobot-v1": ("ppo", "Acrobot-v1", dict(total_steps=200_000),
                       ["optim.learning_rate=loguniform:1e-5:1e-2", "ent_coef=uniform:0:0.05"]),
    "SAC Pendulum-v1": ("sac", "Pendulum-v1", {},
                        ["optim.learning_rate=loguniform:1e-5:1e-2", "gamma=uniform:0.9:0.999"]),
}
EPISODES = 10


def random_search(algo, cfg, hypers, members, rep):
    import jaxac

    result = jaxac.sweep.run(algo, cfg, samples=hypers, trials=members, seeds=1, seed=rep,
                             eval_episodes=EPISODES)
    train, evals = result.train_return[:, 0], result.eval_return[:, 0]
    return float(evals[np.nanargmax(np.where(np.isnan(train), -np.inf, train))])


def population_based(algo, cfg, hypers, members, rep):
    from jaxac import Session, pbt

    population = pbt.Population(tuple(pbt.Hyper.parse(h) for h in hypers), ready=max(1, cfg.num_updates // 10),
                                seed=rep)
    result = Session(algo, cfg, seeds=members, seed=rep, eval_episodes=EPISODES, population=population).run()
    fitness = np.asarray(result.state.fitness)
    return float(result.eval_return[np.nanargmax(np.where(np.isnan(fitness), -np.inf, fitness))])


def main() -> None:
    import report

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--members", type=int, default=16)
    args = parser.parse_args()

    import jax

    from jaxac import parallel, presets
    from jaxac.plot import bootstrap_ci

    parallel.use_cpu_devices(parallel.default_cpu_devices(args.members))
    lines = report.header("PBT against random search of the same compute", report.command())
    lines += ["", f"{args.members} members per run, {args.reps} repetitions per task and method; the best "
                  f"member by training return, scored by its deterministic policy over {EPISODES} episodes; "
                  f"{len(jax.devices())} CPU devices.", "",
              "| task | budget per member | method | best member's score (mean over reps) | 95% CI | per repetition |",
              "|---|---:|---|---:|---|---|"]
    rows, data = report.Rows(), {}
    for task, (algo, env, overrides, hypers) in TASKS.items():
        cfg = presets.config(algo, env, **overrides)
        budget = cfg.warmup_steps + cfg.num_updates * cfg.steps_per_update
        for method, fn in (("random search", random_search), ("PBT", population_based)):
            scores = [fn(algo, cfg, hypers, args.members, rep) for rep in range(args.reps)]
            lo, hi = bootstrap_ci(np.asarray(scores))
            rows(task, f"{budget:,}", method, f"{np.mean(scores):.1f}", f"[{lo:.1f}, {hi:.1f}]",
                 ", ".join(f"{s:.1f}" for s in scores))
            data[f"{task} / {method}"] = scores
    lines += rows
    lines += ["", "Bounds: " + "; ".join(f"{task}: {', '.join(h)}" for task, (_, _, _, h) in TASKS.items()) + ".",
              "PBT: ready = a tenth of the run's updates, the bottom quarter copies the top quarter, "
              "perturbation x0.8 / x1.25, redraw with probability 0.25."]
    report.write("pbt", lines, data)


if __name__ == "__main__":
    main()
