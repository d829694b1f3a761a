"""Every critic inside SAC on Pendulum-v1, at UTD 1 and at a high UTD, many seeds per call.

    python benchmarks/critics.py                       # full run (long on a 2-core CPU)
    python benchmarks/critics.py --quick               # tiny budgets, to check it works
    python benchmarks/critics.py --critics scalar flow --utds 8 --steps 5000 --append
    python benchmarks/critics.py --env brax/inverted_pendulum --set num_envs=8 "policy.hidden=(64, 64)"

For each (critic, UTD) all seeds train in one `jit(vmap(train))` call from the SAC Pendulum
preset with only `critic` and `utd` changed (and the critic's defaults), plus the `--set`
overrides, which apply to every row. Reported per run:
final return (mean over seeds of the training episodes that ended in the last 5% of the run),
its 95% bootstrap confidence interval over seeds, compile and training wall time. Learning
curves (mean and 95% band over seeds) go to a PNG next to the table. Needs matplotlib
(`pip install -e .[plot]`).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shlex
import sys
import time

import jax
import numpy as np

from jaxac import presets
from jaxac.algos import sac
from jaxac.critics import names as critic_names
import report  # benchmarks/ (the script's directory is on the path)
from jaxac.plot import band, bootstrap_ci, curve
from jaxac.summary import final_return

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_overrides(items) -> dict:
    """["num_envs=8", "policy.hidden=(64, 64)"] -> {"num_envs": 8, "policy.hidden": (64, 64)}; a value that
    is not a Python literal stays a string."""
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[name] = text
    return out


def run_one(critic: str, utd: float, seeds: int, total_steps: int, env: str, overrides=None):
    cfg = presets.config("sac", env, **{**(overrides or {}), "critic": critic, "utd": utd,
                                        "total_steps": total_steps})
    keys = jax.random.split(jax.random.key(0), seeds)
    train = jax.jit(jax.vmap(sac.train, in_axes=(None, 0)))
    t0 = time.perf_counter()
    compiled = train.lower(cfg, keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, metrics = compiled(cfg, keys)
    metrics = jax.device_get(metrics)
    train_s = time.perf_counter() - t0
    finals = final_return(metrics)
    updates = np.arange(1, cfg.num_updates + 1)
    steps, returns = curve(metrics, cfg.warmup_steps + updates * cfg.steps_per_update, points=40)
    return {
        "critic": critic, "utd": utd, "seeds": seeds, "total_steps": total_steps,
        "final_per_seed": finals.tolist(), "final_mean": float(np.nanmean(finals)),
        "ci95": bootstrap_ci(finals), "compile_s": compile_s, "train_s": train_s,
        "curve_steps": steps.tolist(), "curve": returns.tolist(),
    }


def plot(results, path: str, env: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    utds = sorted({r["utd"] for r in results})
    fig, axes = plt.subplots(1, len(utds), figsize=(6 * len(utds), 4.2), squeeze=False)
    for ax, utd in zip(axes[0], utds):
        for r in (r for r in results if r["utd"] == utd):
            x, y = np.asarray(r["curve_steps"]), np.asarray(r["curve"], float)
            ended = np.isfinite(y).any(0)  # windows where some episode ended (short windows may have none)
            x, y = x[ended], y[:, ended]
            mean, low, high = band(y)
            line, = ax.plot(x, mean, label=r["critic"])
            ax.fill_between(x, low, high, alpha=0.2, color=line.get_color())
        ax.set_title(f"SAC {env}, UTD {utd:g}, {results[0]['seeds']} seeds (mean, 95% band)")
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--critics", nargs="+", default=list(critic_names()))
    parser.add_argument("--utds", nargs="+", type=float, default=[1.0, 8.0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", nargs="+", type=int, default=[20_000, 8_000],
                        help="env steps per seed, one per UTD (a high UTD is run on fewer)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--append", action="store_true",
                        help="keep the rows of an earlier run (other critic/UTD) in the outputs")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every row, e.g. num_envs=8 'policy.hidden=(64, 64)'")
    parser.add_argument("--out", default=None,
                        help="output path without extension (default: results/critics for "
                             "Pendulum-v1, results/critics_<env> otherwise)")
    parser.add_argument("--replot", action="store_true", help="redraw the PNG from the saved JSON")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    if args.out is None:
        name = "critics" if args.env == "Pendulum-v1" else "critics_" + args.env.replace("/", "_")
        args.out = os.path.join(HERE, "results", name)
    if args.replot:
        with open(args.out + ".json") as fh:
            plot(json.load(fh)["results"], args.out + ".png", args.env)
        return
    if args.quick:
        args.seeds, args.steps = 2, [1_500] * len(args.utds)
    if len(args.steps) != len(args.utds):
        parser.error("give one --steps value per --utds value")

    results, commands = [], [f"python benchmarks/{os.path.basename(__file__)} {shlex.join(sys.argv[1:])}".rstrip()]
    if args.append and os.path.exists(args.out + ".json"):
        with open(args.out + ".json") as fh:
            earlier = json.load(fh)
        results, commands = earlier["results"], earlier["commands"] + commands
    for utd, steps in zip(args.utds, args.steps):
        for critic in args.critics:
            r = run_one(critic, utd, args.seeds, steps, args.env, overrides)
            results = [q for q in results if (q["critic"], q["utd"]) != (critic, utd)] + [r]
            print(f"{critic:9s} UTD {utd:g}: {r['final_mean']:8.1f} "
                  f"[{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]  compile {r['compile_s']:.1f} s, "
                  f"train {r['train_s']:.1f} s", flush=True)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as fh:
        json.dump({"results": results, "commands": commands}, fh)
    plot(results, args.out + ".png", args.env)
    lines = [
        *report.header(f"Critics inside SAC on {args.env}", *commands),
        f"- SAC preset for {args.env} with `critic` and `utd` changed"
        + (f" and {', '.join(f'`{k}={v!r}`' for k, v in overrides.items())}" if overrides else "")
        + "; all seeds of a row "
        "in one vmapped call. Final return: training episodes that ended in the last 5% of the "
        "run, mean over seeds, 95% bootstrap CI over seeds. Wall times are for all seeds.",
        f"- learning curves: [{os.path.basename(args.out)}.png]({os.path.basename(args.out)}.png)",
        "",
        "| critic | UTD | seeds | env steps | final return | 95% CI | compile s | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r["utd"], list(critic_names()).index(r["critic"]))):
        lines.append(f"| {r['critic']} | {r['utd']:g} | {r['seeds']} | {r['total_steps']:,} | {r['final_mean']:.1f} | "
                     f"[{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] | {r['compile_s']:.1f} | {r['train_s']:.1f} |")
    with open(args.out + ".md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}.md, .json and .png")


if __name__ == "__main__":
    main()
