"""Compile time of a run in a new process, without and with jaxac's compilation cache.

    python benchmarks/compile_cache.py            # writes benchmarks/results/compile_cache.md

For each configuration, `jaxac train` runs three times in fresh processes against a fresh,
empty cache directory: the first compiles and fills the cache, the second and third load
from it. Reported: the "compiled in" time the CLI prints (initial state, restore, chunk
executable) and the whole process's wall time, first run against the mean of the next two.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CONFIGS = {
    "PPO CartPole-v1": ["ppo", "--env", "CartPole-v1", "--total-steps", "2048"],
    "SAC Pendulum-v1": ["sac", "--env", "Pendulum-v1", "--total-steps", "2000"],
    "PPO brax/halfcheetah": ["ppo", "--env", "brax/halfcheetah", "--total-steps", "40960", "--num-envs", "16"],
}


def one_run(args, cache: str) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "jaxac.cli", "train", *args, "--seeds", "2", "--no-progress",
                          "--eval-episodes", "0", "--compile-cache", cache], capture_output=True, text=True,
                         timeout=1800)
    wall = time.perf_counter() - t0
    found = re.search(r"compiled in ([0-9.]+) s \(cached: (yes|no)\)", out.stdout)
    if out.returncode or not found:
        raise RuntimeError(f"{args}: {out.stderr[-800:]}")
    return {"compile_s": float(found.group(1)), "cached": found.group(2) == "yes", "wall_s": wall}


BREAKDOWN = """
import sys, time
import jax, jax.numpy as jnp
import jaxac
from jaxac import compile_cache, stream
compile_cache.enable(sys.argv[1])
cfg = jaxac.presets.config("ppo", "CartPole-v1", total_steps=2048)
t0 = time.perf_counter()
runner = stream.Runner(jaxac.ppo, cfg, 2, None, jax.devices()[:1])
state = jax.block_until_ready(runner.init(cfg, jax.random.split(jax.random.key(0), 2)))
t1 = time.perf_counter()
traced = runner._chunk.trace(cfg, runner.place(state), jnp.int32(1))
t2 = time.perf_counter()
lowered = traced.lower()
t3 = time.perf_counter()
lowered.compile()
t4 = time.perf_counter()
print(f"{t1 - t0:.2f} {t2 - t1:.2f} {t3 - t2:.2f} {t4 - t3:.2f}")
"""


def breakdown() -> list:
    """Rows: where PPO CartPole's compile time goes, cold and cached (jax's AOT steps, timed apart)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("cold", "cached", "cached"):
            out = subprocess.run([sys.executable, "-c", BREAKDOWN, os.path.join(tmp, "cache")],
                                 capture_output=True, text=True, timeout=600)
            rows.append((label, *map(float, out.stdout.split())))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = p.parse_args()
    import report

    rows, results = report.Rows(), {}
    rows("run", "compile s, cold", "compile s, cached (mean of 2)", "cached / cold", "process s, cold",
         "process s, cached", "cached / cold")
    rows(*["---"] * 7)
    for name in args.configs:
        with tempfile.TemporaryDirectory() as tmp:
            cache = os.path.join(tmp, "cache")
            cold, *warm = [one_run(CONFIGS[name], cache) for _ in range(3)]
        assert not cold["cached"] and all(w["cached"] for w in warm), (cold, warm)
        warm_c = sum(w["compile_s"] for w in warm) / len(warm)
        warm_w = sum(w["wall_s"] for w in warm) / len(warm)
        results[name] = {"cold": cold, "warm": warm}
        rows(name, f"{cold['compile_s']:.1f}", f"{warm_c:.1f}", f"**{warm_c / cold['compile_s']:.2f}**",
             f"{cold['wall_s']:.1f}", f"{warm_w:.1f}", f"{warm_w / cold['wall_s']:.2f}")
    parts = report.Rows()
    parts("PPO CartPole-v1, one process each", "init (trace, compile, run) s", "trace chunk s",
          "lower chunk s", "compile chunk s")
    parts(*["---"] * 5)
    for label, *seconds in breakdown():
        parts(label, *(f"{x:.2f}" for x in seconds))
    lines = report.header("Compilation cache: the same run in a new process", report.command())
    lines += ["- `jaxac train ... --seeds 2 --compile-cache DIR`, three processes per run against one fresh",
              "  cache directory; 'compile s' is what the CLI prints (initial state, chunk executable).", ""]
    lines += rows + ["", "Where the time goes (one device):", ""] + parts
    lines += ["", "The cache stores XLA's executables: tracing the program in Python and lowering it to",
              "StableHLO run again in every process, and they are most of what a cached start costs."]
    report.write("compile_cache", lines, results)


if __name__ == "__main__":
    main()
