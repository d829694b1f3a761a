"""Where one jaxac update's time goes on a brax env, and the fastest any learner could be.

    python benchmarks/profile_update.py                       # PPO and SAC presets, 3 envs
    python benchmarks/profile_update.py --algos ppo --envs hopper

The head-to-head with brax.training (`vs_brax.py`) asks for steps/s ratios (PPO 1.5x, SAC
1.2x). Both learners run the same env steps and the same gradient steps through the same
networks, so this script measures, in one process, how one update of jaxac's brax preset
splits into

- the rollout (`jaxac.rollout.unroll`: policy, brax step, auto-reset, transitions), next to
  the raw brax env alone (`jit(scan(vmap(step)))`, random actions) at the same num_envs;
- PPO's critic pass for GAE (values of obs and next_obs, GAE, observation statistics);
- the gradient steps (PPO's epochs x minibatches, SAC's steps per update), with their
  FLOPs from XLA's cost analysis of one compiled step, and the rate they run at next to
  this machine's dense matmul rate (a scan of chained 256-wide f32 matmuls);

and estimates the steps/s of a learner that does this arithmetic with no overhead: env steps
at the raw env's speed plus the gradient steps' FLOPs at the matmul rate. It is an estimate,
not a strict bound: the rate is measured on chained forward matmuls, and a backward pass's
wider contractions can run faster (brax's SAC on hopper beat it by 9% in one run). A steps/s
target well above it needs less arithmetic, not a faster implementation.
Writes benchmarks/results/profile_update.{md,json}.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from vs_brax import env_only_sps, write_results  # noqa: E402  (one env-only measurement, one writer)

ENVS = ("inverted_pendulum", "hopper", "halfcheetah")


def best_time(fn, *args, reps: int = 3) -> float:
    """Minimum seconds of `reps` calls of the jitted `fn` after one warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return min(times)


def flops(fn, *args) -> float:
    """XLA's FLOP count of one call of `fn` (its compiled cost analysis)."""
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def matmul_gflops(rows: int, width: int = 256, depth: int = 64) -> float:
    """f32 GFLOP/s of `depth` chained [rows, width] @ [width, width] matmuls in one jit."""
    w = jax.random.normal(jax.random.key(0), (depth, width, width)) / jnp.sqrt(width)
    x = jax.random.normal(jax.random.key(1), (rows, width))

    @jax.jit
    def chain(x, w):
        return jax.lax.scan(lambda h, wi: (h @ wi, ()), x, w)[0]

    return 2 * rows * width * width * depth / best_time(chain, x, w) / 1e9


def raw_env_seconds(env_name: str, num_envs: int, steps: int) -> float:
    """Seconds for `steps` steps of `num_envs` raw brax envs (vs_brax's env-only measurement)."""
    return num_envs * steps / env_only_sps(env_name, num_envs, steps)


def rollout_fn(comps, num_steps: int):
    """The jitted rollout an update runs: the algorithm's sampling policy on normalised
    observations, `num_steps` steps of the training env from `state.env`."""
    from jaxac.networks import sampling_policy
    from jaxac.normalize import normalized_policy
    from jaxac.rollout import unroll

    @jax.jit
    def rollout(state, key):
        policy = normalized_policy(sampling_policy(comps.net, comps.dist), comps.obs_norm, state.obs_stats)
        return unroll(comps.env, comps.env_params, policy, state.params["actor"], state.env, key, num_steps)

    return rollout


def profile_ppo(env_name: str, reps: int) -> dict:
    from jaxac import presets
    from jaxac.algos import onpolicy, ppo
    cfg = presets.config("ppo", f"brax/{env_name}", total_steps=10**7)
    comps = ppo.components(cfg)
    state = jax.jit(ppo.init)(cfg, jax.random.key(0))

    rollout = rollout_fn(comps, cfg.rollout_length)

    collect = jax.jit(lambda s, k: onpolicy.collect(cfg, comps, s, k))
    update = jax.jit(functools.partial(ppo.update, cfg))
    _, batch, _, _ = collect(state, jax.random.key(1))
    minibatch = jax.tree.map(lambda x: x[: cfg.minibatch_size], batch)

    def one_step(params, opt_state, mb, key):
        def loss_fn(p, m, k):
            return onpolicy.loss(cfg, comps, p, m, k, cfg.clip_eps, cfg.clip_value_loss)
        return onpolicy.gradient_step(comps, loss_fn, params, opt_state, mb, key)

    t_update = best_time(update, state, reps=reps)
    t_collect = best_time(collect, state, jax.random.key(1), reps=reps)
    t_rollout = best_time(rollout, state, jax.random.key(1), reps=reps)
    steps = cfg.update_epochs * cfg.num_minibatches
    sgd_flops = steps * flops(one_step, state.params, state.opt_state, minibatch, jax.random.key(2))
    return dict(
        algo="ppo", env=env_name, num_envs=cfg.num_envs, rollout_steps=cfg.rollout_length,
        env_steps=cfg.steps_per_update, gradient_steps=steps, batch=cfg.minibatch_size,
        update_s=t_update, rollout_s=t_rollout, critic_pass_s=t_collect - t_rollout,
        gradient_s=t_update - t_collect, gradient_flops=sgd_flops,
        raw_env_s=raw_env_seconds(env_name, cfg.num_envs, cfg.rollout_length),
        matmul_rows=cfg.minibatch_size)


def profile_sac(env_name: str, reps: int) -> dict:
    from jaxac import buffers, presets
    from jaxac.algos import sac
    cfg = presets.config("sac", f"brax/{env_name}", total_steps=10**7)
    comps = sac.components(cfg)
    state = jax.jit(sac.init)(cfg, jax.random.key(0))

    rollout = rollout_fn(comps, cfg.rollout_length)

    update = jax.jit(functools.partial(sac.update, cfg))
    batch = buffers.sample(state.buffer, jax.random.key(1), cfg.batch_size)

    def one_step(params, opt_state, batch, key):
        return sac.gradient_step(cfg, comps, params, opt_state, batch, key)

    t_update = best_time(update, state, reps=reps)
    t_rollout = best_time(rollout, state, jax.random.key(1), reps=reps)
    steps = cfg.gradient_steps_per_update
    return dict(
        algo="sac", env=env_name, num_envs=cfg.num_envs, rollout_steps=cfg.rollout_length,
        env_steps=cfg.steps_per_update, gradient_steps=steps, batch=cfg.minibatch_size,
        update_s=t_update, rollout_s=t_rollout, critic_pass_s=0.0,
        gradient_s=t_update - t_rollout,
        gradient_flops=steps * flops(one_step, state.params, state.opt_state, batch, jax.random.key(2)),
        raw_env_s=raw_env_seconds(env_name, cfg.num_envs, cfg.rollout_length),
        matmul_rows=cfg.minibatch_size)


TARGETS = {"ppo": 1.5, "sac": 1.2}


def derived(row: dict, brax_sps: dict) -> dict:
    """Rates, shares and the bound from one profile row (and brax's steps/s, if known)."""
    n, t = row["env_steps"], row["update_s"]
    gflops = row["gradient_flops"] / row["gradient_s"] / 1e9
    bound = n / (row["raw_env_s"] + row["gradient_flops"] / (row["matmul_gflops"] * 1e9))
    out = dict(steps_per_s=n / t, rollout_share=row["rollout_s"] / t,
               critic_pass_share=row["critic_pass_s"] / t, gradient_share=row["gradient_s"] / t,
               rollout_vs_raw_env=row["raw_env_s"] / row["rollout_s"], gradient_gflops=gflops,
               bound_steps_per_s=bound, jaxac_vs_bound=n / t / bound)
    brax = brax_sps.get(f"{row['algo']} {row['env']}")
    if brax:
        out["brax_steps_per_s"] = brax
        out["target_steps_per_s"] = TARGETS[row["algo"]] * brax
        out["target_vs_bound"] = out["target_steps_per_s"] / bound
    return out


def table(rows) -> str:
    lines = ["| algo | env | update (env steps) | jaxac steps/s | rollout | critic pass | gradient steps | "
             "rollout vs raw env | gradient GFLOP/s (matmul rate) | bound steps/s | jaxac / bound | "
             "brax steps/s | target / bound |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r["derived"]
        brax = (f"{d['brax_steps_per_s']:,.0f} | **{d['target_vs_bound']:.2f}**"
                if "brax_steps_per_s" in d else "- | -")
        lines.append(
            f"| {r['algo'].upper()} | {r['env']} | {r['env_steps']:,} ({r['gradient_steps']} x batch "
            f"{r['batch']:,}) | {d['steps_per_s']:,.0f} | {d['rollout_share']:.0%} | "
            f"{d['critic_pass_share']:.0%} | {d['gradient_share']:.0%} | {d['rollout_vs_raw_env']:.2f} | "
            f"{d['gradient_gflops']:.0f} ({r['matmul_gflops']:.0f}) | {d['bound_steps_per_s']:,.0f} | "
            f"{d['jaxac_vs_bound']:.2f} | {brax} |")
    return "\n".join(lines)


def brax_steps_per_s(path: str) -> dict:
    """brax.training's steady steps/s per 'algo env' from a vs_brax results file (brax's networks)."""
    if not os.path.exists(path):
        return {}
    with open(path) as fh:
        rows = json.load(fh)
    return {f"{r['algo']} {r['env']}": r["brax"]["steady_sps"] for r in rows if r["networks"] == "brax's"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["ppo", "sac"], choices=["ppo", "sac"])
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--reps", type=int, default=3, help="timed calls per piece (the minimum is kept)")
    parser.add_argument("--brax-results", default=os.path.join(HERE, "results", "vs_brax.json"),
                        help="vs_brax.py's results, for brax's steps/s next to the bound")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "profile_update"))
    args = parser.parse_args()
    from jaxac.logging import versions

    brax_sps = brax_steps_per_s(args.brax_results)
    rows = []
    for env in args.envs:
        for algo in args.algos:
            print(f"{algo} {env} ...", flush=True)
            row = (profile_ppo if algo == "ppo" else profile_sac)(env, args.reps)
            row["matmul_gflops"] = matmul_gflops(row["matmul_rows"])
            row["derived"] = derived(row, brax_sps)
            rows.append(row)
            print(table(rows[-1:]), flush=True)
    header = (
        "# Where one jaxac update's time goes (brax presets, generalized backend)\n\n"
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU; "
        f"{', '.join(f'{k} {v}' for k, v in versions().items())}.\n\n"
        f"Command: `python benchmarks/profile_update.py {' '.join(sys.argv[1:])}`\n\n"
        "Shares are of one compiled update (min of the timed calls). *rollout vs raw env*: the "
        "raw brax env's time for the same steps over jaxac's rollout's (1.00 = the rollout costs "
        "no more than the physics). *gradient GFLOP/s*: XLA's FLOP count of the update's gradient "
        "steps over their time, next to this machine's rate for chained 256-wide f32 matmuls at "
        "the same batch. *bound*: env steps / (raw env time + gradient FLOPs at the matmul "
        "rate), an estimate (not a strict bound) of the steps/s of a learner that adds nothing "
        "to the physics and runs every gradient FLOP at the matmul rate. *target / bound* > 1: "
        "the steps/s target (PPO 1.5x, SAC 1.2x brax.training's, from vs_brax.json) is above "
        "that estimate.\n\n")
    write_results(args.out, header + table(rows), rows)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    main()
