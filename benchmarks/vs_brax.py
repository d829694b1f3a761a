"""Head-to-head with brax.training: the same env, backend, hyperparameters and step budget.

    python benchmarks/vs_brax.py                                   # PPO and SAC, 3 envs
    python benchmarks/vs_brax.py --algos ppo --envs inverted_pendulum --quick

brax.training 0.14.2 crashes on jax 0.10 (`jax.device_put_replicated` is gone), so it runs
in its own virtual environment pinned to jax 0.9.2, created on first use (`--brax-venv`,
default ~/.cache/jaxac/brax-venv) and driven as a subprocess (`brax_peer.py`). jaxac runs
in a subprocess of this interpreter too, so both sides start cold and are measured alike:

- total compile: every trace, lowering and XLA compile in the process (jax.monitoring),
  training and evaluation alike;
- steady steps/s: brax's own `training/sps` over its epochs after the second (its PPO
  compiles in the first two); jaxac's run after an AOT compile (one compiled call);
- env-only steps/s: `jit(scan(vmap(env.step)))` of the raw brax env at the same num_envs;
- final evaluation: deterministic policy, 16 episodes, per seed. The timed runs are seed 0;
  `--seeds N` adds seeds 1..N-1 on both sides for the returns alone (brax: one process per
  seed; jaxac: one vmapped call), since one seed of a bimodal task (SAC on inverted_pendulum
  ends near 50 or at 1000) says little about which learner learns better.

jaxac's settings are its presets (`jaxac.presets`, mirroring brax's published settings) and
brax's are derived from them field by field (`brax_kwargs`), so the two cannot drift apart.
Writes benchmarks/results/vs_brax.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BRAX_PINS = ["jax==0.9.2", "jaxlib==0.9.2", "brax==0.14.2"]
# brax's unroll length per env (its published PPO settings); jaxac's rollout_length is 8 of them
UNROLL = {"inverted_pendulum": 5, "hopper": 5, "halfcheetah": 20, "ant": 5,
          "inverted_double_pendulum": 5}
# CPU budgets in jaxac updates per brax epoch (brax runs 10 epochs): (PPO, SAC). A budget is
# a whole number of updates on both sides, so both take exactly the same env steps.
EPOCH_UPDATES = {"inverted_pendulum": (3, 40), "hopper": (1, 10), "halfcheetah": (1, 10)}
QUICK = {"inverted_pendulum": (1, 4), "hopper": (1, 4), "halfcheetah": (1, 4)}
EPOCHS = 10
EVAL_EPISODES = 16
sys.path.insert(0, HERE)
from brax_peer import COMPILE_EVENTS  # noqa: E402  (one definition of "compile time" for both)


def jaxac_config(algo: str, env: str, steps: int, small: bool = False, **overrides):
    """jaxac's preset; `small`: 64 x 64 networks for policy and critic instead of brax's;
    `overrides`: other config fields replacing the preset's."""
    from jaxac import presets

    sizes = {"policy.hidden": (64, 64), "critic.hidden": (64, 64)} if small else {}
    return presets.config(algo, f"brax/{env}", total_steps=steps, **sizes, **overrides)


def budget(algo: str, env: str, epoch_updates: int) -> int:
    """Env steps of EPOCHS x `epoch_updates` updates (plus SAC's warm-up)."""
    cfg = jaxac_config(algo, env, 10**9)
    return cfg.warmup_steps + EPOCHS * epoch_updates * cfg.steps_per_update


def brax_kwargs(algo: str, env: str, cfg, small: bool = False) -> dict:
    """brax.training's arguments equal to jaxac's `cfg` (a brax preset; `small` networks)."""
    if cfg.critic.name != "scalar" or cfg.critic.layer_norm or cfg.critic.dropout:
        raise ValueError("brax has only the plain scalar critic")
    common = dict(num_envs=cfg.num_envs, discounting=cfg.gamma, reward_scaling=cfg.reward_scale,
                  normalize_observations=cfg.obs.normalize, num_eval_envs=EVAL_EPISODES)
    if algo == "ppo":
        # brax's default networks are the preset's: policy 4 x 32, value 5 x 256, swish
        assert small or (cfg.policy.hidden == (32,) * 4 and cfg.critic.hidden == (256,) * 5)
        assert cfg.policy.activation == "swish"
        unroll = UNROLL[env]
        batch, rest = divmod(cfg.num_envs * cfg.rollout_length, unroll * cfg.num_minibatches)
        assert rest == 0 and cfg.rollout_length % unroll == 0
        return dict(common, learning_rate=cfg.optim.learning_rate, entropy_cost=cfg.ent_coef,
                    unroll_length=unroll, batch_size=batch, num_minibatches=cfg.num_minibatches,
                    num_updates_per_batch=cfg.update_epochs, clipping_epsilon=cfg.clip_eps,
                    gae_lambda=cfg.advantage.gae_lambda, normalize_advantage=cfg.advantage.normalize,
                    max_grad_norm=None if cfg.optim.max_grad_norm >= 1e8 else cfg.optim.max_grad_norm)
    assert small or cfg.policy.hidden == (256, 256)
    assert cfg.policy.activation == "relu" and cfg.optim.critic_learning_rate in (None, cfg.optim.learning_rate)
    assert cfg.optim.alpha_learning_rate == 3e-4, "brax's temperature optimiser is Adam at 3e-4"
    return dict(common, learning_rate=cfg.optim.learning_rate, batch_size=cfg.minibatch_size, tau=cfg.tau,
                min_replay_size=cfg.learning_starts, max_replay_size=cfg.buffer_capacity,
                grad_updates_per_step=cfg.gradient_steps_per_update)


def jaxac_worker(spec: dict) -> dict:
    """Runs inside a fresh process: jaxac's side of one comparison."""
    import jax

    compile_s = [0.0]
    jax.monitoring.register_event_duration_secs_listener(
        lambda e, d, **_: compile_s.__setitem__(0, compile_s[0] + d) if e in COMPILE_EVENTS else None)
    import functools

    import numpy as np

    from jaxac import presets
    from jaxac.train import run_updates

    algo, env = spec["algo"], spec["env"]
    cfg = jaxac_config(algo, env, spec["steps"], spec["small"])
    module = presets.ALGORITHMS[algo]
    key = jax.random.key(spec.get("seed", 0))
    # init (SAC's warm-up) apart from the updates, as brax's training/sps leaves out its prefill
    t0 = time.perf_counter()
    state = jax.block_until_ready(jax.jit(module.init)(cfg, key))
    initial = state
    updates = jax.jit(functools.partial(run_updates, module.update, cfg, num_updates=cfg.num_updates))
    compiled = updates.lower(state).compile()
    t1 = time.perf_counter()
    state, _ = jax.block_until_ready(compiled(state))
    run_s = time.perf_counter() - t1
    evaluate_fn = evaluator(module, cfg)
    returns, _ = evaluate_fn(state, jax.random.key(123))
    total_compile = compile_s[0]
    # the untrained policy's return (brax reports its own at step 0), to see how far training
    # moved; the evaluation is already compiled
    initial_eval = float(np.asarray(evaluate_fn(initial, jax.random.key(123))[0]).mean())
    result = {"initial_eval": initial_eval, "compile_s": total_compile, "steady_sps": cfg.num_updates * cfg.steps_per_update / run_s,
              "init_and_compile_wall_s": t1 - t0, "run_s": run_s,
              "final_eval": float(np.asarray(returns).mean()), "steps": cfg.total_steps,
              "env_only_sps": env_only_sps(env, cfg.num_envs), "jax": jax.__version__}
    result["seed_evals"] = [result["final_eval"]] + seed_evals(
        module, cfg, evaluate_fn, range(1, spec.get("seeds", 1)))
    return result


def evaluator(module, cfg):
    """The final evaluation both sides get: `(state, key) -> (returns [EVAL_EPISODES], ...)`
    of the deterministic policy over whole episodes of at most 1000 steps."""
    import functools

    import jax

    from jaxac import evaluate

    return jax.jit(functools.partial(evaluate.episodes, module, cfg, num_episodes=EVAL_EPISODES,
                                     max_steps=1000))


def seed_evals(module, cfg, evaluate_fn, seeds: range) -> list:
    """Final evaluation returns of `seeds`, trained in one vmapped call (untimed), split over
    jax's devices where there are several (`jaxac.parallel`; one device in a worker)."""
    import jax
    import numpy as np

    from jaxac import parallel

    if not seeds:
        return []
    keys = jax.vmap(jax.random.key)(jax.numpy.arange(seeds.start, seeds.stop))
    states, _ = parallel.train(module, cfg, keys)
    returns, _ = jax.vmap(evaluate_fn, in_axes=(0, None))(states, jax.random.key(123))
    return [float(r) for r in np.asarray(returns).mean(1)]


def env_only_sps(name: str, num_envs: int, steps: int = 100) -> float:
    """brax's env alone: `jit(scan(vmap(step)))` with uniform random actions (2nd call)."""
    import jax
    from brax import envs

    env = envs.get_environment(name, backend="generalized")
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), num_envs))

    @jax.jit
    def roll(state, key):
        def body(s, k):
            a = jax.random.uniform(k, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
            return jax.vmap(env.step)(s, a), ()
        return jax.lax.scan(body, state, jax.random.split(key, steps))[0]

    # twice: the carry's dtypes after a step differ from reset's, so the 2nd call recompiles
    for k in range(2):
        state = jax.block_until_ready(roll(state, jax.random.key(k)))
    t = time.perf_counter()
    jax.block_until_ready(roll(state, jax.random.key(2)))
    return num_envs * steps / (time.perf_counter() - t)


def ensure_brax_venv(path: str) -> str:
    python = os.path.join(path, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {path} ({' '.join(BRAX_PINS)}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *BRAX_PINS], check=True)
    return python


def run_json(cmd, timeout: int) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"{cmd[:2]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def brax_spec(algo: str, env: str, steps: int, small: bool = False) -> dict:
    """What `brax_peer.py` runs: brax.training's side of jaxac's preset at `steps`."""
    cfg = jaxac_config(algo, env, steps, small)
    return {"hidden": [(64, 64), (64, 64)] if small else None, "algo": algo, "env": env,
            "backend": "generalized", "num_timesteps": steps, "episode_length": 1000,
            "kwargs": brax_kwargs(algo, env, cfg, small),
            # brax splits the budget into num_evals - 1 epochs, the last 8 of them steady
            "num_evals": EPOCHS + 1}


def compare(algo: str, env: str, steps: int, brax_python: str, timeout: int, small: bool,
            seeds: int = 1) -> dict:
    spec = brax_spec(algo, env, steps, small)
    peer = [brax_python, os.path.join(HERE, "brax_peer.py")]
    brax = run_json(peer + [json.dumps(spec)], timeout)
    brax["seed_evals"] = [brax["final_eval"]] + [
        run_json(peer + [json.dumps(dict(spec, seed=seed))], timeout)["final_eval"]
        for seed in range(1, seeds)]
    mine = run_json([sys.executable, __file__, "--worker", json.dumps(
        {"algo": algo, "env": env, "steps": steps, "small": small, "seeds": seeds})], timeout)
    if brax["steps"] != mine["steps"]:
        raise RuntimeError(f"budgets differ: brax took {brax['steps']} steps, jaxac {mine['steps']}")
    return {"algo": algo, "env": env, "steps": steps, "networks": "64x64" if small else "brax's",
            "brax": brax, "jaxac": mine,
            "brax_kwargs": spec["kwargs"],
            "sps_ratio": mine["steady_sps"] / brax["steady_sps"],
            "compile_ratio": mine["compile_s"] / brax["compile_s"]}


TARGETS = {"ppo": (1.5, 0.5), "sac": (1.2, 0.7)}  # (min steps/s ratio, max compile ratio)


def table(rows) -> str:
    lines = ["| algo | env | networks | steps | brax steps/s | jaxac steps/s | ratio (target) | env-only steps/s "
             "| brax compile | jaxac compile | ratio (target) | brax eval | jaxac eval | jaxac - brax |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, j = r["brax"], r["jaxac"]
        s_t, c_t = TARGETS[r["algo"]]
        lines.append(
            f"| {r['algo'].upper()} | {r['env']} | {r['networks']} | {r['steps']:,} | {b['steady_sps']:,.0f} | "
            f"{j['steady_sps']:,.0f} | **{r['sps_ratio']:.2f}x** (>= {s_t}) | {j['env_only_sps']:,.0f} | "
            f"{b['compile_s']:.1f} s | {j['compile_s']:.1f} s | **{r['compile_ratio']:.2f}x** (<= {c_t}) | "
            f"{evals(b)} | {evals(j)} | {difference(b, j)} |")
    return "\n".join(lines)


def difference(brax: dict, mine: dict) -> str:
    """jaxac's mean final return minus brax's, +- twice its standard error (Welch), and
    whether that interval holds 0 ("within noise"), is above it or below it."""
    import statistics

    a, b = brax.get("seed_evals", []), mine.get("seed_evals", [])
    if len(a) < 2 or len(b) < 2:
        return "-"
    diff = statistics.fmean(b) - statistics.fmean(a)
    err = 2 * (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
    verdict = "within noise" if abs(diff) <= err else ("better" if diff > 0 else "worse")
    return f"{diff:+.1f} +- {err:.1f} ({verdict})"


def evals(side: dict) -> str:
    """Seed 0's final return; with more seeds, their mean and each seed's."""
    runs = side.get("seed_evals", [side["final_eval"]])
    if len(runs) < 2:
        return f"{side['final_eval']:.1f}"
    return f"{sum(runs) / len(runs):.1f} ({', '.join(f'{r:.0f}' for r in runs)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["ppo", "sac"], choices=["ppo", "sac"])
    parser.add_argument("--envs", nargs="+", default=list(EPOCH_UPDATES), choices=list(EPOCH_UPDATES))
    parser.add_argument("--quick", action="store_true", help="small budgets, to check it works")
    parser.add_argument("--brax-venv", default=os.path.expanduser("~/.cache/jaxac/brax-venv"))
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per side and run")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "vs_brax"))
    parser.add_argument("--small-networks", nargs="*", default=["inverted_pendulum"], metavar="ENV",
                        help="envs that also get a row with 64x64 networks on both sides (where "
                             "the learner's matrix multiplies dominate less)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds whose final returns are reported (speed is timed on seed 0)")
    parser.add_argument("--epoch-updates", type=int, default=None, metavar="N",
                        help="jaxac updates per brax epoch for every row (the budget is 10 epochs "
                             "of N updates, plus SAC's warm-up); default: EPOCH_UPDATES per env")
    parser.add_argument("--table", metavar="JSON", default=None,
                        help="print the table of an earlier run's results file and exit")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(jaxac_worker(json.loads(args.worker))))
        return
    if args.table:
        with open(args.table) as fh:
            print(table(json.load(fh)))
        return
    brax_python = ensure_brax_venv(args.brax_venv)
    budgets = QUICK if args.quick else EPOCH_UPDATES
    rows = []
    for env in args.envs:
        for algo in args.algos:
            steps = budget(algo, env, args.epoch_updates or budgets[env][0 if algo == "ppo" else 1])
            for small in (False, True) if env in args.small_networks else (False,):
                print(f"{algo} {env} {steps} steps{' (64x64)' if small else ''} ...", flush=True)
                rows.append(compare(algo, env, steps, brax_python, args.timeout, small, args.seeds))
                print(table(rows[-1:]), flush=True)
    import jax

    header = (f"# jaxac vs brax.training (same env, backend, hyperparameters, budget)\n\n"
              f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
              f"no GPU. jaxac on jax {jax.__version__}; brax.training 0.14.2 on jax "
              f"{rows[0]['brax']['jax']} (its own venv). Speed from seed 0; final returns over "
              f"{args.seeds} seed(s) each (mean, then per seed); backend generalized, "
              f"episode length 1000.\n\nCommand: `python benchmarks/vs_brax.py "
              f"{' '.join(sys.argv[1:])}`\n\n")
    write_results(args.out, header + table(rows), rows)


def write_results(out: str, markdown: str, rows: list) -> None:
    """`out`.md (the header and table) and `out`.json (the raw rows)."""
    with open(out + ".md", "w") as fh:
        fh.write(markdown + "\n")
    with open(out + ".json", "w") as fh:
        json.dump(rows, fh, indent=2)
    print(f"wrote {out}.md and .json")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    main()
