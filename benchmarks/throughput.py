"""Throughput of jaxac's PPO against a PureJaxRL-shaped PPO, and env-only stepping, on CartPole.

    python benchmarks/throughput.py                    # full run, writes benchmarks/results/throughput.md
    python benchmarks/throughput.py --quick            # smaller budgets, to check it works

Everything runs in this one process, side by side, so ratios are meaningful on a noisy shared
machine. Compile time is AOT `lower().compile()` time; steps/s is measured on a second call of
the compiled function (after a warm-up call) and counts env steps over all seeds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import jax
import numpy as np

import jaxac
from jaxac import parallel
from jaxac.algos import ppo
from jaxac.env import wrap_for_training
import report  # benchmarks/ (the script's directory is on the path)
from jaxac.summary import final_return

sys.path.insert(0, os.path.dirname(__file__))
import purejaxrl_ppo  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def timed_compile_and_run(fn, *args):
    """(compile seconds, run seconds on the 2nd call, output of the 2nd call)."""
    compile_s, run_s, out = measure_side_by_side([(lambda: fn, args)], reps=1)[0]
    return compile_s, run_s, out


def measure_side_by_side(jobs, reps: int):
    """[(min compile s, min run s, output)] for each (make_fn, args) job.

    `make_fn()` builds a fresh function each time, so that no compile is served from jax's
    caches.
    The jobs are compiled `reps` times and then run `reps` times in alternation, and the
    minimum of each is kept: on a shared machine the load drifts over a run, and the
    minimum of interleaved repeats is the figure least affected by it.
    """
    compile_s = [[] for _ in jobs]
    run_s = [[] for _ in jobs]
    compiled = [None] * len(jobs)
    for _ in range(reps):
        for i, (make_fn, args) in enumerate(jobs):
            t0 = time.perf_counter()
            compiled[i] = jax.jit(make_fn()).lower(*args).compile()
            compile_s[i].append(time.perf_counter() - t0)
    outs = [jax.block_until_ready(c(*args)) for c, (_, args) in zip(compiled, jobs)]  # warm-up
    for _ in range(reps):
        for i, (c, (_, args)) in enumerate(zip(compiled, jobs)):
            t0 = time.perf_counter()
            outs[i] = jax.block_until_ready(c(*args))
            run_s[i].append(time.perf_counter() - t0)
    return [(min(c), min(r), o) for c, r, o in zip(compile_s, run_s, outs)]


def env_only(num_envs: int, num_steps: int):
    base, params = jaxac.make("CartPole-v1")
    env = wrap_for_training(base)

    def run(key):
        keys = jax.random.split(key, num_envs)
        state, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

        def step(state, key):
            k_act, k_env = jax.random.split(key)
            actions = jax.random.randint(k_act, (num_envs,), 0, 2)
            state, ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_env, num_envs), state, actions, params)
            return state, ts.obs.sum() + ts.done.sum()  # data-dependent, so XLA keeps the work

        _, sums = jax.lax.scan(step, state, jax.random.split(key, num_steps))
        return sums.sum()

    compile_s, run_s, _ = timed_compile_and_run(run, jax.random.key(0))
    return num_envs * num_steps / run_s, compile_s


def jaxac_job(cfg, seeds: int):
    keys = jax.random.split(jax.random.key(0), seeds)
    return (lambda: jax.vmap(lambda c, k: ppo.train(c, k), in_axes=(None, 0))), (cfg, keys)


def jaxac_split_job(cfg, seeds: int):
    """jaxac with its seeds split over the CPU's devices (what `jaxac train` does)."""
    devices = parallel.seed_devices(seeds)
    keys = parallel.place(jax.random.split(jax.random.key(0), seeds), devices)
    return (lambda: parallel.over_seeds(ppo.train, (None, 0), devices)), (cfg, keys)


def jaxac_result(cfg, seeds, compile_s, run_s, out):
    steps = seeds * cfg.num_updates * cfg.steps_per_update
    return steps / run_s, compile_s, float(np.nanmean(final_return(jax.device_get(out[1]))))


def jaxac_ppo(cfg, seeds: int, reps: int = 1):
    return jaxac_result(cfg, seeds, *measure_side_by_side([jaxac_job(cfg, seeds)], reps)[0])


def reference_job(config, seeds: int):
    keys = jax.random.split(jax.random.key(0), seeds)
    return (lambda: jax.vmap(purejaxrl_ppo.make_train(config))), (keys,)


def reference_result(config, seeds, compile_s, run_s, out):
    info = jax.device_get(out["metrics"])
    done = np.asarray(info["returned_episode"]).reshape(seeds, info["returned_episode"].shape[1], -1)
    rets = np.asarray(info["returned_episode_returns"]).reshape(done.shape)
    window = max(1, int(round(done.shape[1] * 0.05)))
    final = (rets[:, -window:] * done[:, -window:]).sum((1, 2)) / np.maximum(done[:, -window:].sum((1, 2)), 1)
    updates = int(config["TOTAL_TIMESTEPS"] // config["NUM_STEPS"] // config["NUM_ENVS"])
    steps = seeds * updates * config["NUM_STEPS"] * config["NUM_ENVS"]
    return steps / run_s, compile_s, float(final.mean())


def cli_wall_time(seeds: int, total_steps: int) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "jaxac.cli", "train", "ppo", "--env", "CartPole-v1",
                          "--seeds", str(seeds), "--total-steps", str(total_steps)],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repeats; the minimum is kept")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "throughput.md"))
    args = parser.parse_args()
    # one XLA device per core, as `jaxac train` sets up; everything but the "split" rows runs
    # on the first device alone, as before
    parallel.use_cpu_devices(os.cpu_count() or 1)
    total = 50_000 if args.quick else 500_000
    total_64 = 20_000 if args.quick else 100_000
    rows = row = report.Rows()

    lines = [
        *report.header("Throughput: jaxac PPO vs a PureJaxRL-shaped PPO (CartPole-v1)", report.command(__file__)),
        "- steps/s count env steps over all seeds, measured after a warm-up call; compile is",
        "  `jit(f).lower().compile()` time. jaxac and the peer are compiled, then run, `--reps`",
        f"  times in alternation ({args.reps} here) and the minimum of each is reported (the machine is",
        "  shared; the minimum of interleaved repeats is least affected by its load).",
        "  Both learners step the same pure-JAX CartPole.",
        "",
    ]

    print("env-only stepping (random actions)", flush=True)
    rows.append("| env-only | envs | steps/s | compile s |")
    rows.append("|---|---|---|---|")
    env_sps = {}
    for n in (4, 64):
        sps, comp = env_only(n, 20_000 if n == 4 else 2_000)
        env_sps[n] = sps
        row("CartPole-v1", n, f"{sps:,.0f}", f"{comp:.2f}")
    rows.append("")

    rows.append("| learner | envs x steps | seeds | env steps per seed | steps/s (all seeds) | compile s | final return | train / env-only |")
    rows.append("|---|---|---|---|---|---|---|---|")
    cfg4 = ppo.Config(total_steps=total)
    ref_cfg = dict(purejaxrl_ppo.CONFIG, TOTAL_TIMESTEPS=total)
    cfg64 = ppo.Config(total_steps=total, num_envs=64, rollout_length=16)
    for seeds in (1, 8):
        n = len(parallel.seed_devices(seeds))
        split = n > 1
        jobs = [jaxac_job(cfg4, seeds), reference_job(ref_cfg, seeds)]
        results = measure_side_by_side(jobs + ([jaxac_split_job(cfg4, seeds)] if split else []), args.reps)
        sps, comp, ret = jaxac_result(cfg4, seeds, *results[0])
        row("jaxac, one device", "4 x 128", seeds, f"{total:,}", f"{sps:,.0f}", f"{comp:.2f}", f"{ret:.1f}", f"{sps / (env_sps[4] * seeds):.2f}")
        sps_r, comp_r, ret_r = reference_result(ref_cfg, seeds, *results[1])
        row("PureJaxRL-shaped", "4 x 128", seeds, f"{total:,}", f"{sps_r:,.0f}", f"{comp_r:.2f}", f"{ret_r:.1f}", f"{sps_r / (env_sps[4] * seeds):.2f}")
        row("**ratio jaxac one device / peer**", "", seeds, "", f"**{sps / sps_r:.2f}x**", f"**{comp / comp_r:.2f}x**", "", "")
        if split:
            sps, comp, ret = jaxac_result(cfg4, seeds, *results[2])
            row(f"jaxac, seeds over {n} CPU devices (`jaxac train`'s default)", "4 x 128", seeds, f"{total:,}",
                f"{sps:,.0f}", f"{comp:.2f}", f"{ret:.1f}", f"{sps / (env_sps[4] * seeds):.2f}")
            row(f"**ratio jaxac {n} devices / peer**", "", seeds, "", f"**{sps / sps_r:.2f}x**",
                f"**{comp / comp_r:.2f}x**", "", "")
    sps, comp, ret = jaxac_ppo(cfg4.replace(total_steps=total_64), 64)
    row("jaxac, one device", "4 x 128", 64, f"{total_64:,}", f"{sps:,.0f}", f"{comp:.2f}", f"{ret:.1f}", "")
    for seeds in (1, 8):
        sps, comp, ret = jaxac_ppo(cfg64, seeds)
        row("jaxac, one device", "64 x 16", seeds, f"{total:,}", f"{sps:,.0f}", f"{comp:.2f}", f"{ret:.1f}", f"{sps / (env_sps[64] * seeds):.2f}")
    sps, comp, ret = jaxac_ppo(cfg64.replace(total_steps=total_64), 64)
    row("jaxac, one device", "64 x 16", 64, f"{total_64:,}", f"{sps:,.0f}", f"{comp:.2f}", f"{ret:.1f}", "")
    rows.append("")

    wall = cli_wall_time(8, total)
    rows.append(f"CLI wall time, process start to exit, `jaxac train ppo --env CartPole-v1 --seeds 8 "
                f"--total-steps {total}`: **{wall:.1f} s**.")
    print(rows[-1])

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines + rows) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
