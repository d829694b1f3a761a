"""SAC and A2C throughput, and SAC side by side with rejax's SAC on Pendulum-v1.

    python benchmarks/sac_a2c.py --rejax-python /path/to/venv-with-rejax/bin/python
    python benchmarks/sac_a2c.py --quick             # small budgets, no rejax, to check it works

Writes benchmarks/results/sac_a2c.md. The rejax peer (`benchmarks/rejax_sac_peer.py`) needs
rejax 0.1.3 with gymnax<1, which cannot share jaxac's environment, so it runs in its own
interpreter; both learners are timed from process start to exit, one after the other, in this
one script run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from throughput import measure_side_by_side  # noqa: E402

from jaxac import presets  # noqa: E402
from jaxac.algos import a2c, sac  # noqa: E402
import report  # noqa: E402
from jaxac.summary import final_return  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def vmapped(module, cfg, seeds):
    keys = jax.random.split(jax.random.key(0), seeds)
    return (lambda: jax.vmap(lambda c, k: module.train(c, k), in_axes=(None, 0))), (cfg, keys)


def sac_throughput(utd: float, seeds: int, total: int, reps: int):
    cfg = presets.config("sac", "Pendulum-v1", total_steps=total, utd=utd)
    compile_s, run_s, _ = measure_side_by_side([vmapped(sac, cfg, seeds)], reps)[0]
    env_steps = seeds * cfg.num_updates * cfg.steps_per_update
    grad_steps = seeds * cfg.num_updates * cfg.gradient_steps_per_update
    return env_steps / run_s, grad_steps / run_s, compile_s


def a2c_throughput(seeds: int, total: int, reps: int):
    cfg = a2c.Config(total_steps=total)
    compile_s, run_s, (_, metrics) = measure_side_by_side([vmapped(a2c, cfg, seeds)], reps)[0]
    ret = float(np.nanmean(final_return(jax.device_get(metrics))))
    return seeds * cfg.num_updates * cfg.steps_per_update / run_s, compile_s, ret


def timed_process(cmd):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"{cmd} failed:\n{out.stderr[-3000:]}")
    return wall, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--rejax-python", default=os.environ.get("REJAX_PYTHON"),
                        help="interpreter with rejax 0.1.3 + gymnax<1 (skipped when not given)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "sac_a2c.md"))
    args = parser.parse_args()
    sac_total = 3_000 if args.quick else 10_000
    a2c_total = 20_000 if args.quick else 200_000
    rows = row = report.Rows()

    lines = [
        *report.header("SAC and A2C: throughput, and SAC side by side with rejax", report.command(__file__)),
        "- throughput is measured after compile (minimum of repeated runs), over all seeds.",
        "",
        "| SAC Pendulum-v1 preset (64x64, batch 128) | seeds | env steps/s | gradient steps/s | compile s |",
        "|---|---|---|---|---|",
    ]
    for utd in (1, 8):
        for seeds in (1, 8):
            env_sps, grad_sps, comp = sac_throughput(utd, seeds, sac_total // (1 if utd == 1 else 4), args.reps)
            row(f"UTD {utd}", seeds, f"{env_sps:,.0f}", f"{grad_sps:,.0f}", f"{comp:.1f}")
    rows.append("")
    rows.append("| A2C CartPole-v1 (8 envs x 5 steps) | seeds | env steps/s | compile s | final return |")
    rows.append("|---|---|---|---|---|")
    for seeds in (1, 8):
        sps, comp, ret = a2c_throughput(seeds, a2c_total, args.reps)
        row("defaults", seeds, f"{sps:,.0f}", f"{comp:.1f}", f"{ret:.1f}")
    rows.append("")

    if args.rejax_python and not args.quick:
        rows.append("SAC Pendulum-v1, 8 seeds x 2e4 env steps in one vmapped call, process start to exit:")
        rows.append("")
        rows.append("| learner | command | wall s | compile s | final return |")
        rows.append("|---|---|---|---|---|")
        cmd = [sys.executable, "-m", "jaxac.cli", "train", "sac", "--env", "Pendulum-v1", "--seeds", "8"]
        wall, out = timed_process(cmd)
        compile_s = float(re.search(r"compiled in ([\d.]+) s", out).group(1))
        final = re.search(r"final return .*?: (-?[\d.]+) ± ([\d.]+)", out)
        row("jaxac (preset: 64x64, batch 128, lr 1e-3)", "`jaxac train sac --env Pendulum-v1 --seeds 8`",
            f"{wall:.1f}", f"{compile_s:.1f}", f"{final.group(1)} ± {final.group(2)} (training episodes, last 5%)")
        peer_wall, peer_out = timed_process([args.rejax_python, os.path.join(HERE, "rejax_sac_peer.py")])
        peer = json.loads(peer_out.strip().splitlines()[-1])
        row("rejax 0.1.3 (defaults: 64x64, lr 3e-4)", "`python benchmarks/rejax_sac_peer.py`",
            f"{peer_wall:.1f}", f"{peer['compile_s']:.1f}",
            f"{peer['final_mean']:.1f} (deterministic eval, 128 episodes)")
        rows.append("")
        rows.append(f"jaxac / rejax wall time: **{wall / peer_wall:.2f}x**")

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines + rows) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
