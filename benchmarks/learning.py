"""The headline learning runs, as a user runs them: each `jaxac train` command in its own
process, with its wall time from process start to exit, the training episodes' final return
and the deterministic policy's (from the run's config.json).

    python benchmarks/learning.py            # writes benchmarks/results/learning.md and .json
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

import report

RUNS = [
    ("PPO CartPole-v1, PureJaxRL's defaults, 8 seeds x 5e5", "jaxac train ppo --env CartPole-v1 --seeds 8 --total-steps 500000"),
    ("A2C CartPole-v1, defaults, 8 seeds x 5e5", "jaxac train a2c --env CartPole-v1 --seeds 8 --total-steps 500000"),
    ("PPO Pendulum-v1, preset, 8 seeds x 3e5", "jaxac train ppo --env Pendulum-v1 --seeds 8"),
    ("SAC Pendulum-v1, preset, 8 seeds x 2e4", "jaxac train sac --env Pendulum-v1 --seeds 8"),
    ("discrete SAC CartPole-v1, preset, 4 seeds x 2e5", "jaxac train sac --env CartPole-v1 --seeds 4"),
]


def spread(values) -> str:
    v = np.asarray(values, np.float64)
    return f"**{v.mean():.1f}** ± {v.std():.1f} ({v.min():.1f} .. {v.max():.1f})"


def main() -> None:
    lines = report.header("Learning runs from the command line", report.command())
    lines += ["- each command in a fresh process with its own run directory (`--out`), the compilation",
              "  cache off (`--compile-cache off`): wall is process start to exit, cold",
              "- final return: the training episodes that ended in the last 5% of updates, mean ± std over",
              "  seeds (min .. max); deterministic: the policy's mean action or argmax, 5 episodes per seed",
              "", "<!-- --8<-- [start:table] -->",  # the docs include the table from here
              "| run | command | final return | deterministic policy | compile s | wall s |",
              "|---|---|---|---|---:|---:|"]
    rows, data = report.Rows(), []
    jaxac = os.path.join(os.path.dirname(sys.executable), "jaxac")
    for title, command in RUNS:
        with tempfile.TemporaryDirectory() as out:
            argv = [jaxac] + shlex.split(command)[1:] + ["--out", out, "--no-progress", "--compile-cache", "off"]
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            with open(os.path.join(out, "config.json")) as fh:
                run = json.load(fh)
        rows(title, f"`{command}`", spread(run["final_return_per_seed"]), spread(run["eval_return_per_seed"]),
             f"{run['compile_seconds']:.1f}", f"{wall:.1f}")
        data.append(dict(title=title, command=command, wall_seconds=wall, compile_seconds=run["compile_seconds"],
                         final_return=run["final_return_per_seed"], eval_return=run["eval_return_per_seed"]))
    report.write("learning", lines + rows + ["<!-- --8<-- [end:table] -->"], data)


if __name__ == "__main__":
    main()
