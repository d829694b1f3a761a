"""Command line: `jaxac train {ppo,a2c,sac} --env CartPole-v1 --seeds 8 --total-steps 500000 --out runs/cp`.

Every Config field is a flag (generated from the dataclass, so the CLI never drifts from the
API); unset flags take the environment's preset, then the Config default. Built on argparse
(standard library): the flags are generated from dataclass fields, which argparse does
directly, and it adds no dependency.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import os
import sys
import time
from typing import Any, Dict, List, Optional

from jaxac import config as C
from jaxac import presets
from jaxac.envs import registry

_SKIP = {"env", "env_kwargs"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_config_flags(parser: argparse.ArgumentParser, config_cls) -> None:
    group = parser.add_argument_group(f"{config_cls.__module__.split('.')[-1]} config fields")
    for f in dataclasses.fields(config_cls):
        if f.name in _SKIP:
            continue
        default = f.default
        help_text = f"default {default!r}"
        kwargs: Dict[str, Any] = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text)
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, tuple):
            kwargs.update(nargs="+", type=int, metavar="N")
        elif isinstance(default, (int, float, str)):
            kwargs["type"] = type(default)
        elif default is None:  # optional numbers (v_min, v_max)
            kwargs["type"] = float
        group.add_argument(_flag(f.name), **kwargs)


def _parse_env_kwargs(items: List[str]) -> tuple:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise C.ConfigError(f"--env-kwarg {item!r} is invalid: use KEY=VALUE, e.g. max_steps=200.")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        pairs.append((key, parsed))
    return tuple(pairs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxac", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train an algorithm over several seeds in one call")
    algos = train.add_subparsers(dest="algo", required=True, metavar="ALGO")
    for name, module in presets.ALGORITHMS.items():
        p = algos.add_parser(name, help=f"train {name.upper()}",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.add_argument("--env", default="CartPole-v1", help="registered environment name")
        p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                       help="environment parameter override (repeatable)")
        p.add_argument("--seeds", type=int, default=1, help="seeds run in one vmapped call")
        p.add_argument("--seed", type=int, default=0, help="base PRNG seed")
        p.add_argument("--out", default=None, help="run directory for metrics.csv/config.json")
        p.add_argument("--no-preset", action="store_true", help="ignore the env's preset")
        p.add_argument("--chunk-updates", type=int, default=None,
                       help="updates per compiled chunk (progress/log interval); default: 1%% of the run")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        _add_config_flags(p, module.Config)
    sub.add_parser("envs", help="list registered environments")
    return parser


def _config_from_args(args: argparse.Namespace):
    module = presets.ALGORITHMS[args.algo]
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(module.Config)
        if f.name not in _SKIP and hasattr(args, f.name)
    }
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    overrides["env_kwargs"] = _parse_env_kwargs(args.env_kwarg)
    return presets.config(args.algo, args.env, use_preset=not args.no_preset, **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from jaxac import logging as run_logs
    from jaxac.summary import final_return

    from jaxac import stream

    start = time.perf_counter()
    if args.seeds < 1:
        raise C.ConfigError(f"--seeds {args.seeds} is invalid: use at least 1.")
    if args.chunk_updates is not None and args.chunk_updates < 1:
        raise C.ConfigError(f"--chunk-updates {args.chunk_updates} is invalid: use at least 1.")
    cfg = _config_from_args(args)
    module = presets.ALGORITHMS[args.algo]
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)

    t0 = time.perf_counter()
    runner = stream.Runner(module, cfg, args.seeds, args.chunk_updates)
    state = runner.init(cfg, keys)  # includes the warm-up steps of off-policy algorithms
    runner.compile(state)
    compile_s = time.perf_counter() - t0
    env_steps = runner.env_steps(cfg.num_updates)
    print(f"{args.algo} on {cfg.env}: {args.seeds} seed(s) x {env_steps:,} "
          f"env steps; compiled in {compile_s:.1f} s", flush=True)

    t0 = time.perf_counter()
    with _progress_bar(args, env_steps) as on_chunk:
        _, metrics, _ = runner.run(state, 0, on_chunk)
    run_s = time.perf_counter() - t0
    total_steps = args.seeds * env_steps
    finals = final_return(metrics)
    print(f"trained in {run_s:.1f} s: {total_steps / run_s:,.0f} env steps/s over all seeds", flush=True)
    print(f"final return (episodes in the last 5% of training): "
          f"{np.nanmean(finals):.1f} ± {np.nanstd(finals):.1f} over {args.seeds} seed(s)")

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        seeds = np.arange(args.seeds)
        run_logs.write_metrics_csv(os.path.join(args.out, "metrics.csv"), metrics,
                                   cfg.steps_per_update, seeds, first_step=cfg.warmup_steps)
        run_logs.write_config(
            os.path.join(args.out, "config.json"), args.algo, cfg,
            seeds=args.seeds, seed=args.seed, command=sys.argv,
            compile_seconds=compile_s, train_seconds=run_s,
            final_return_per_seed=[float(x) for x in finals],
        )
        print(f"wrote {args.out}/metrics.csv and {args.out}/config.json")
    print(f"total wall time {time.perf_counter() - start:.1f} s")
    return 0


@contextlib.contextmanager
def _progress_bar(args: argparse.Namespace, total_steps: int):
    """A tqdm bar over env steps per seed (rate over all seeds, ETA, mean return over seeds);
    yields the per-chunk callback. tqdm: small, ubiquitous, and it handles terminals, pipes
    and notebooks; it writes to stderr so stdout stays parseable."""
    if args.no_progress:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total_steps, unit="step", desc=f"{args.algo} {args.seeds} seed(s)",
              dynamic_ncols=True, mininterval=0.5) as bar:
        def on_chunk(p):
            bar.update(p.env_steps - bar.n)
            bar.set_postfix_str(f"return {p.mean_return:.1f}, {p.steps_per_second:,.0f} steps/s all seeds",
                                refresh=True)
        yield on_chunk


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "envs":
            print("\n".join(registry.registered()))
            return 0
        return cmd_train(args)
    except (C.ConfigError, registry.UnknownEnvironmentError) as err:
        print(f"jaxac: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
