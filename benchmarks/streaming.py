"""What streaming costs: chunked runs (default chunk size) against the single compiled call.

    python benchmarks/streaming.py            # writes benchmarks/results/streaming.md
    python benchmarks/streaming.py --quick    # small budgets, to check it works

Both forms run the same config and seeds in this one process; each is timed `--reps` times,
alternating, after compilation, and the minimum is kept (a shared machine drifts).
The chunked time includes `init` and the host work between chunks (metrics to the host).
"""

from __future__ import annotations

import argparse
import os
import time

import jax

from jaxac import presets, stream
import report  # benchmarks/ (the script's directory is on the path)

HERE = os.path.dirname(os.path.abspath(__file__))


def compare(algo: str, env: str, seeds: int, total: int, reps: int):
    module = presets.ALGORITHMS[algo]
    cfg = presets.config(algo, env, total_steps=total)
    keys = jax.random.split(jax.random.key(0), seeds)
    single = jax.jit(jax.vmap(module.train, in_axes=(None, 0))).lower(cfg, keys).compile()
    runner = stream.Runner(module, cfg, seeds)
    runner.compile(runner.init(cfg, keys))

    def run_single():
        jax.block_until_ready(single(cfg, keys))

    def run_chunked():
        runner.run(runner.init(cfg, keys), 0)

    times = {"single": [], "chunked": []}
    run_single(), run_chunked()  # warm-up
    for _ in range(reps):
        for name, fn in (("single", run_single), ("chunked", run_chunked)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    steps = seeds * (cfg.warmup_steps + cfg.num_updates * cfg.steps_per_update)
    best = {k: min(v) for k, v in times.items()}
    return cfg, runner.chunk_updates, steps / best["single"], steps / best["chunked"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "streaming.md"))
    args = parser.parse_args()
    jobs = [("ppo", "CartPole-v1", 8, 500_000), ("sac", "Pendulum-v1", 8, 20_000)]
    if args.quick:
        jobs = [(a, e, 2, t // 10) for a, e, _, t in jobs]
    lines = [
        *report.header("Streaming overhead: default chunks vs one compiled call", report.command(__file__)),
        f"- env steps/s over all seeds, min of {args.reps} alternating repeats after compile",
        "",
        "| run | seeds | env steps per seed | updates per chunk | single call steps/s | chunked steps/s | chunked / single |",
        "|---|---|---|---|---|---|---|",
    ]
    for algo, env, seeds, total in jobs:
        cfg, chunk, single, chunked = compare(algo, env, seeds, total, args.reps)
        lines.append(f"| {algo} {env} (preset) | {seeds} | {total:,} | {chunk} of {cfg.num_updates} | "
                     f"{single:,.0f} | {chunked:,.0f} | **{chunked / single:.3f}** |")
        print(lines[-1], flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
