"""More seeds for one head-to-head row: final returns only, brax.training against jaxac.

    python benchmarks/vs_brax_returns.py --algo ppo --env halfcheetah --seeds 4 8 --merge benchmarks/results/vs_brax.json

Four seeds a side (what `vs_brax.py --seeds 4` affords in its 100 minutes) cannot tell a
learner that is worse from one that had unlucky seeds. This trains seeds [A, B) of one row on
both sides at the same budget and settings as `vs_brax.py` (brax in its own venv, one process
per seed; jaxac in one vmapped call, split over the CPU's cores by `--cpu-devices 2`), nothing
timed, and with `--merge` adds the seeds 0..n-1 that an earlier `vs_brax.py` run recorded
for that row. It reports every seed's final evaluation (and, for the seeds it trains, its
initial policy's: how far training moved), the difference of means +- 2 standard errors and a
two-sided rank-sum (Mann-Whitney) test, exact for up to a million splits of the seeds. Writes
benchmarks/results/vs_brax_returns_<algo>_<env>.{md,json}.

A variant of jaxac's side (to look for the cause of a gap) reuses brax's seeds from such a
file and trains only jaxac, with config fields replacing the preset's:

    python benchmarks/vs_brax_returns.py --algo ppo --env halfcheetah --seeds 0 8 --brax-from benchmarks/results/vs_brax_returns_ppo_halfcheetah.json --set policy.state_dependent_std=true --out /tmp/variant
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vs_brax  # noqa: E402  (one definition of the budget, settings and evaluation)


def rank_sum_p(a: list, b: list) -> float:
    """Two-sided p of the rank-sum statistic: the share of splits of the pooled values into
    groups of len(a) and len(b) whose rank sum for the first group is at least as far from
    its mean as `a`'s (ties get mid-ranks). Exact over all splits up to a million of them
    (8 vs 8 seeds: 12,870); beyond that, over 200,000 random ones."""
    pooled = sorted(a + b)
    rank = {v: statistics.fmean(i + 1 for i, w in enumerate(pooled) if w == v) for v in pooled}
    ranks = [rank[v] for v in a + b]
    centre = len(a) * (len(pooled) + 1) / 2
    observed = abs(sum(rank[v] for v in a) - centre)
    if math.comb(len(ranks), len(a)) <= 10**6:
        splits = list(itertools.combinations(ranks, len(a)))
    else:
        draw = random.Random(0)
        splits = [draw.sample(ranks, len(a)) for _ in range(200_000)]
    return sum(abs(sum(s) - centre) >= observed - 1e-9 for s in splits) / len(splits)


def brax_returns(algo: str, env: str, steps: int, seeds: range, python: str, timeout: int) -> list:
    """brax.training's (final, initial) evaluation for each seed, one peer process per seed."""
    spec = vs_brax.brax_spec(algo, env, steps)
    peer = [python, os.path.join(HERE, "brax_peer.py")]
    out = []
    for seed in seeds:
        run = vs_brax.run_json(peer + [json.dumps(dict(spec, seed=seed))], timeout)
        if run["steps"] != steps:
            raise RuntimeError(f"budgets differ: brax took {run['steps']} steps, jaxac {steps}")
        out.append((run["final_eval"], run["eval_curve"][0][1]))
        print(f"brax seed {seed}: {out[-1][0]:.1f} (initial policy {out[-1][1]:.1f})", flush=True)
    return out


def jaxac_returns(algo: str, env: str, steps: int, seeds: range, overrides: dict) -> list:
    """jaxac's (final, initial) evaluation for each seed, all seeds in one vmapped call;
    `overrides`: config fields that replace the preset's (a variant of jaxac's side)."""
    import jax
    import numpy as np

    from jaxac import presets

    module, cfg = presets.ALGORITHMS[algo], vs_brax.jaxac_config(algo, env, steps, **overrides)
    evaluate_fn = vs_brax.evaluator(module, cfg)
    keys = jax.vmap(jax.random.key)(jax.numpy.arange(seeds.start, seeds.stop))
    states = jax.jit(jax.vmap(module.init, in_axes=(None, 0)))(cfg, keys)
    initial = np.asarray(jax.vmap(evaluate_fn, in_axes=(0, None))(states, jax.random.key(123))[0]).mean(1)
    out = list(zip(vs_brax.seed_evals(module, cfg, evaluate_fn, seeds), initial.tolist()))
    print(f"jaxac seeds {list(seeds)}: {[(round(f, 1), round(i, 1)) for f, i in out]}", flush=True)
    return out


def earlier_row(path: str, algo: str, env: str, steps: int) -> dict:
    """The row for (algo, env, brax's networks) of a `vs_brax.py` results file, which must
    have run `steps` env steps."""
    with open(path) as fh:
        rows = [r for r in json.load(fh)
                if r["algo"] == algo and r["env"] == env and r["networks"] == "brax's"]
    if not rows:
        raise SystemExit(f"{path} has no {algo} {env} row")
    if rows[0]["steps"] != steps:
        raise SystemExit(f"{path} ran {algo} {env} at {rows[0]['steps']} steps, not {steps}")
    return rows[0]


def read_run(path: str) -> dict:
    """The one run a results file of this script holds."""
    with open(path) as fh:
        return json.load(fh)[0]


def int_keys(seeds: dict) -> dict:
    """{seed: value} as read back from JSON, which turned the seeds into strings."""
    return {int(k): v for k, v in seeds.items()}


def earlier_brax(path: str, algo: str, env: str, steps: int) -> tuple:
    """brax's ({seed: final}, {seed: initial}) from an earlier results file of this script,
    or of `vs_brax.py` (its row for brax's networks; it records no initial policies)."""
    run = read_run(path)
    if "networks" in run:
        row = earlier_row(path, algo, env, steps)
        return dict(enumerate(row["brax"]["seed_evals"])), {}
    if (run["algo"], run["env"], run["steps"]) != (algo, env, steps):
        raise SystemExit(f"{path} is {run['algo']} {run['env']} at {run['steps']} steps, "
                         f"not {algo} {env} at {steps}")
    return int_keys(run["brax"]), int_keys(run.get("initial", {}).get("brax", {}))


def parse_overrides(pairs: list) -> dict:
    """`["policy.std=softplus", "policy.init_log_std=-0.35"]` -> {"policy.std": "softplus",
    "policy.init_log_std": -0.35}: each value is read as JSON (lists become tuples, the type of the
    config's sequence fields), else kept as a string."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            value = json.loads(value)
            out[key] = tuple(value) if isinstance(value, list) else value
        except json.JSONDecodeError:
            out[key] = value
    return out


def report(algo: str, env: str, steps: int, brax: dict, mine: dict, initial: dict) -> str:
    """The markdown table: each seed's final return on both sides (and its initial policy's,
    where measured), the means and the two tests. `initial`: {"brax": {seed: r}, "jaxac": ...}."""
    def cell(side, seed):
        start = initial[side].get(seed)
        return "" if start is None else f" (from {start:.0f})"

    lines = ["| seed | brax final (initial) | jaxac final (initial) |", "|---|---|---|"]
    for seed in sorted(set(brax) | set(mine)):
        lines.append(f"| {seed} | {brax.get(seed, float('nan')):.1f}{cell('brax', seed)} | "
                     f"{mine.get(seed, float('nan')):.1f}{cell('jaxac', seed)} |")
    a, b = list(brax.values()), list(mine.values())
    lines.append(f"| mean | **{statistics.fmean(a):.1f}** | **{statistics.fmean(b):.1f}** |")
    lines.append(f"| median | {statistics.median(a):.1f} | {statistics.median(b):.1f} |")
    diff = vs_brax.difference({"seed_evals": a}, {"seed_evals": b})
    return "\n".join(lines) + (
        f"\n\njaxac - brax (difference of means +- 2 s.e.): {diff}. Two-sided rank-sum "
        f"test: p = {rank_sum_p(a, b):.2g} ({len(a)} vs {len(b)} seeds).")


def table(path: str) -> str:
    """`report` of a results file."""
    run = read_run(path)
    initial = {side: int_keys(d) for side, d in run.get("initial", {"brax": {}, "jaxac": {}}).items()}
    return report(run["algo"], run["env"], run["steps"], int_keys(run["brax"]), int_keys(run["jaxac"]), initial)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=["ppo", "sac"])
    parser.add_argument("--env", choices=list(vs_brax.EPOCH_UPDATES))
    parser.add_argument("--seeds", type=int, nargs=2, metavar=("FIRST", "END"),
                        help="train seeds FIRST..END-1 on both sides (jaxac's only, with --brax-from)")
    parser.add_argument("--merge", metavar="JSON", default=None,
                        help="a vs_brax.py results file whose seeds 0..n-1 of this row to add")
    parser.add_argument("--brax-from", metavar="JSON", default=None,
                        help="take brax's returns from an earlier results file of this script "
                             "or of vs_brax.py instead of training brax (to compare jaxac variants with one brax run)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a jaxac config field replacing the preset's (repeatable; VALUE is "
                             "JSON, e.g. --set policy.state_dependent_std=true); needs --out")
    parser.add_argument("--brax-venv", default=os.path.expanduser("~/.cache/jaxac/brax-venv"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per brax seed")
    parser.add_argument("--cpu-devices", type=int, default=1, metavar="N",
                        help="split jaxac's seeds over N CPU devices, one core each (jaxac.parallel)")
    parser.add_argument("--out", default=None, help="default results/vs_brax_returns_<algo>_<env>")
    parser.add_argument("--table", metavar="JSON", default=None,
                        help="print the table of an earlier run's results file and exit")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if not (args.algo and args.env and args.seeds):
        parser.error("--algo, --env and --seeds are required")
    if args.set and not args.out:
        parser.error("--set needs --out (a variant must not overwrite the preset's results)")
    overrides = parse_overrides(args.set)
    from jaxac import parallel

    parallel.use_cpu_devices(args.cpu_devices)  # before jax starts its backend
    algo, env = args.algo, args.env
    steps = vs_brax.budget(algo, env, vs_brax.EPOCH_UPDATES[env][0 if algo == "ppo" else 1])
    seeds = range(*args.seeds)
    brax, mine, initial = {}, {}, {"brax": {}, "jaxac": {}}
    if args.merge:
        row = earlier_row(args.merge, algo, env, steps)
        brax.update(enumerate(row["brax"]["seed_evals"]))
        mine.update(enumerate(row["jaxac"]["seed_evals"]))
        if set(brax) & set(seeds):
            raise SystemExit(f"seeds {sorted(set(brax) & set(seeds))} are already in {args.merge}")
    if args.brax_from:
        finals, starts = earlier_brax(args.brax_from, algo, env, steps)
        brax.update(finals)
        initial["brax"].update(starts)
        sides = [("jaxac", jaxac_returns(algo, env, steps, seeds, overrides))]
    else:
        python = vs_brax.ensure_brax_venv(args.brax_venv)
        sides = [("brax", brax_returns(algo, env, steps, seeds, python, args.timeout)),
                 ("jaxac", jaxac_returns(algo, env, steps, seeds, overrides))]
    for side, runs in sides:
        {"brax": brax, "jaxac": mine}[side].update((s, f) for s, (f, _) in zip(seeds, runs))
        initial[side].update((s, i) for s, (_, i) in zip(seeds, runs))
    import jax

    header = (f"# {algo.upper()} {env}: final returns of brax.training and jaxac over more seeds\n\n"
              f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
              f"no GPU. jaxac on jax {jax.__version__}, brax.training 0.14.2 on jax 0.9.2 (its own "
              f"venv). Budget {steps:,} env steps, settings and evaluation (deterministic policy, "
              f"{vs_brax.EVAL_EPISODES} episodes) as `vs_brax.py`"
              f"{'; jaxac preset with ' + json.dumps(overrides) if overrides else ''}.\n\nCommand: "
              f"`python benchmarks/vs_brax_returns.py {' '.join(sys.argv[1:])}`\n\n")
    out = args.out or os.path.join(HERE, "results", f"vs_brax_returns_{algo}_{env}")
    vs_brax.write_results(out, header + report(algo, env, steps, brax, mine, initial),
                          [{"algo": algo, "env": env, "steps": steps, "brax": brax, "jaxac": mine,
                            "initial": initial, "overrides": overrides}])


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    main()
