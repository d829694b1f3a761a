"""PDPPO against PPO on stochastic operations-research tasks: two lot-sizing settings of
Felizardo et al. 2025 and the slippery FrozenLake.

    python benchmarks/pdppo.py                  # writes benchmarks/results/pdppo.md and .png (about 12 min, 2 cores)
    python benchmarks/pdppo.py --seeds 4        # a quicker look

Each method trains `--seeds` seeds in one vmapped call with the task's preset (the same
networks, budget and settings for PPO and PDPPO; `jaxac/presets.py`). Every seed's final
deterministic policy is then scored on the same `EPISODES` episodes (the same demand draws
or slips for every method, `jaxac.evaluate.run_episodes`), and so are two references: the
uniformly random policy and, for lot sizing, the best (s, S) reorder heuristic of a grid
(chosen on other episodes). Reported: the mean cost (lot sizing) or success rate (lake) over
seeds with a 95% bootstrap interval, the training episodes' figure over the last 5% of
updates, and the learning curves.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TASKS = {  # name: (env, env kwargs, lower is better)
    "LotSizing 15 items x 5 machines": ("LotSizing-v0", (("setting", "15items_5machines"),), True),
    "LotSizing 20 items x 10 machines": ("LotSizing-v0", (("setting", "20items_10machines"),), True),
    "FrozenLake-v1 4x4 slippery": ("FrozenLake-v1", (), False),
}
METHODS = {"PPO": ("ppo", {}), "PDPPO": ("pdppo", {}), "PDPPO, released code's loss": ("pdppo", {"dual_loss": "code"})}
EPISODES = 100
GRID = [(r, u) for r in (0.5, 1.0, 2.0, 3.0, 4.0) for u in (2.0, 4.0, 6.0, 8.0, 12.0) if u > r]


def base(env, env_kwargs):
    import jaxac

    return jaxac.make(env, **dict(env_kwargs))


def score_policy(env, params, act, key):
    """[EPISODES] returns of the deterministic `act(obs [E]) -> action [E]`."""
    import jax

    from jaxac import evaluate

    return np.asarray(jax.jit(lambda k: evaluate.run_episodes(env, params, act, k, EPISODES)[0])(key))


def heuristic(env, params, tune_key, key):
    """((reorder, up_to), [EPISODES] returns) of the best reorder heuristic on `tune_key`'s
    episodes, scored on `key`'s."""
    import jax

    from jaxac.envs import lot_sizing

    def act_for(r, u):
        policy = lot_sizing.reorder_policy(params, r, u)
        return lambda obs: jax.vmap(lambda o: policy(lot_sizing.state_of(o, params)))(obs)

    best = max(GRID, key=lambda ru: score_policy(env, params, act_for(*ru), tune_key).mean())
    return best, score_policy(env, params, act_for(*best), key)


def optimal_success(env, params) -> float:
    """The lake's best success probability within the time limit (finite-horizon value
    iteration over the exact transitions)."""
    import jax.numpy as jnp

    cells, goal = env.cells, np.asarray(env._letters("G"))
    ends = goal | np.asarray(env._letters("H"))
    sr = float(params.success_rate)
    fail = (1 - sr) / 2
    moves = np.asarray([[int(env.move(jnp.int32(c), jnp.int32(d))) for d in range(4)] for c in range(cells)])
    value = np.zeros(cells)
    for _ in range(params.max_steps):
        q = np.zeros((cells, 4))
        for a in range(4):
            slips = (((a - 1) % 4, fail), (a, sr), ((a + 1) % 4, fail)) if params.is_slippery else ((a, 1.0),)
            for d, p in slips:
                nxt = moves[:, d]
                q[:, a] += p * np.where(goal[nxt], 1.0, np.where(ends[nxt], 0.0, value[nxt]))
        value = np.where(ends, 0.0, q.max(1))
    return float(value[int(np.argmax(np.asarray(env._letters("S"))))])


def main() -> None:
    import report

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()

    import jax

    from jaxac import Session, algos, evaluate, parallel, presets
    from jaxac.plot import bootstrap_ci

    parallel.use_cpu_devices(parallel.default_cpu_devices(args.seeds))
    lines = report.header("PDPPO against PPO on stochastic operations-research tasks", report.command())
    lines += ["", f"{args.seeds} seeds per method in one vmapped call, each task's preset (`jaxac/presets.py`) "
                  f"for every method; every seed's deterministic policy scored on the same {EPISODES} episodes "
                  f"(same demand draws or slips); {len(jax.devices())} CPU devices.", "",
              "| task | budget per seed | method | deterministic policy, mean over seeds | 95% CI | "
              "training episodes, last 5% | per seed |", "|---|---:|---|---:|---|---:|---|"]
    rows, data, curves = report.Rows(), {}, {}
    eval_key, tune_key = jax.random.key(1234), jax.random.key(99)
    for task, (env_name, env_kwargs, cost) in TASKS.items():
        env, params = base(env_name, env_kwargs)
        sign = -1.0 if cost else 1.0  # costs are minus the returns
        f = (lambda x: f"{x:,.0f}") if cost else (lambda x: f"{x:.3f}")  # noqa: E731
        for method, (algo, overrides) in METHODS.items():
            cfg = presets.config(algo, env_name, env_kwargs=env_kwargs, **overrides)
            budget = cfg.num_updates * cfg.steps_per_update
            result = Session(algo, cfg, seeds=args.seeds, eval_episodes=0, compile_cache=False).run()
            module = algos.get(algo)
            play = functools.partial(evaluate.episodes, module, cfg, num_episodes=EPISODES)
            scores = sign * np.asarray(jax.jit(jax.vmap(play, in_axes=(0, None)))(result.state, eval_key)[0]).mean(1)
            train = sign * np.asarray(result.final_return)
            lo, hi = bootstrap_ci(scores)
            rows(task, f"{budget:,}", method, f(scores.mean()), f"[{f(lo)}, {f(hi)}]", f(np.nanmean(train)),
                 ", ".join(f(s) for s in scores))
            data[f"{task} / {method}"] = scores.tolist()
            curves[task, method] = sign * result.metrics["episode_return"]
        rand = sign * np.asarray(jax.jit(lambda k: evaluate.random_returns(env, params, k, EPISODES, 200))(eval_key))
        rows(task, "", "uniformly random actions", f(rand.mean()), "", "", "")
        data[f"{task} / random"] = float(rand.mean())
        if cost:
            (r, u), heur = heuristic(env, params, tune_key, eval_key)
            rows(task, "", f"(s, S) heuristic, reorder {r:g} / up to {u:g} periods of demand",
                 f(-heur.mean()), "", "", "")
            data[f"{task} / heuristic"] = float(-heur.mean())
        else:
            best = optimal_success(env, params)
            rows(task, "", "optimal policy (value iteration)", f(best), "", "", "")
            data[f"{task} / optimal"] = best
    lines += rows
    lines += ["", "Lot sizing: cost per 100-period episode (lower is better); FrozenLake: success rate (higher "
                  "is better). `PDPPO, released code's loss`: `dual_loss=\"code\"`.", "",
              "![learning curves](pdppo.png)"]
    plot(curves, os.path.join(HERE, "results", "pdppo.png"))
    report.write("pdppo", lines, data)


def plot(curves, path: str) -> None:
    """Training-episode cost (or success) per update: mean over seeds and a 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxac.plot import bootstrap_ci

    tasks = list(dict.fromkeys(t for t, _ in curves))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6))
    for ax, task in zip(np.atleast_1d(axes), tasks):
        for (t, method), values in curves.items():
            if t != task:
                continue
            values = np.asarray(values, np.float64)
            mean = np.nanmean(values, 0)
            band = np.asarray([bootstrap_ci(values[:, i], reps=500) for i in range(values.shape[1])])
            x = np.arange(1, values.shape[1] + 1)
            ax.plot(x, mean, label=method)
            ax.fill_between(x, band[:, 0], band[:, 1], alpha=0.2)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("update")
        ax.set_ylabel("cost" if "Lot" in task else "success")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
