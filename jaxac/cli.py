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
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

from jaxac import config as C
from jaxac import presets
from jaxac.checkpoint import CheckpointError
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
        p.add_argument("--devices", type=int, default=None, metavar="N",
                       help="devices the seeds are split over (N must divide --seeds); default: "
                            "every GPU, or on a CPU one device per core (as many as divide the seeds)")
        p.add_argument("--out", default=None, help="run directory for metrics.csv/config.json")
        p.add_argument("--no-preset", action="store_true", help="ignore the env's preset")
        p.add_argument("--chunk-updates", type=int, default=None,
                       help="updates per compiled chunk (progress/log interval); default: 1%% of the run")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.add_argument("--checkpoint-every", type=int, default=10,
                       help="save a checkpoint every N chunks (and at the end; needs --out)")
        _add_config_flags(p, module.Config)
    resume = sub.add_parser("resume", help="continue a run from its latest checkpoint")
    resume.add_argument("run_dir", help="the --out directory of the run")
    resume.add_argument("--no-progress", action="store_true", help="no progress bar")
    resume.add_argument("--devices", type=int, default=None, metavar="N",
                        help="devices the seeds are split over (as for train)")
    ev = sub.add_parser("eval", help="run the deterministic policy of every seed of a saved run")
    ev.add_argument("run_dir", help="the --out directory of the run")
    ev.add_argument("--episodes", type=int, default=10, help="episodes per seed")
    ev.add_argument("--seed", type=int, default=0, help="PRNG seed of the evaluation episodes")
    ev.add_argument("--json", default=None, metavar="FILE", help="also write the returns to FILE")
    ev.add_argument("--render", default=None, metavar="FILE.html",
                    help="also write brax's HTML viewer of one episode (brax envs only)")
    ev.add_argument("--render-seed", type=int, default=0, metavar="N",
                    help="which training seed's policy --render shows")
    pl = sub.add_parser("plot", help="learning curves of runs (mean and 95%% band over seeds) to an image")
    pl.add_argument("run_dirs", nargs="+", help="--out directories of runs (finished or not)")
    pl.add_argument("-o", "--output", default="curves.png", help="image file (png, svg, pdf)")
    pl.add_argument("--labels", nargs="+", default=None, help="legend labels, one per run")
    pl.add_argument("--points", type=int, default=50, help="windows along the run")
    pl.add_argument("--title", default=None)
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
    if args.env_kwarg:  # on top of the preset's env kwargs, not instead of them
        base = dict(presets.preset(args.algo, args.env).get("env_kwargs", ())) if not args.no_preset else {}
        overrides["env_kwargs"] = tuple({**base, **dict(_parse_env_kwargs(args.env_kwarg))}.items())
    return presets.config(args.algo, args.env, use_preset=not args.no_preset, **overrides)


def cmd_train(args: argparse.Namespace) -> int:
    if args.seeds < 1:
        raise C.ConfigError(f"--seeds {args.seeds} is invalid: use at least 1.")
    if args.chunk_updates is not None and args.chunk_updates < 1:
        raise C.ConfigError(f"--chunk-updates {args.chunk_updates} is invalid: use at least 1.")
    if args.checkpoint_every < 1:
        raise C.ConfigError(f"--checkpoint-every {args.checkpoint_every} is invalid: use at least 1.")
    if args.out and os.path.exists(os.path.join(args.out, "checkpoints")):
        raise C.ConfigError(f"--out {args.out} already holds a run: continue it with "
                            f"`jaxac resume {args.out}` or choose another directory.")
    devices = _devices(args.devices, args.seeds)  # first: building a config may start jax
    cfg = _config_from_args(args)
    run = dict(algorithm=args.algo, seeds=args.seeds, seed=args.seed,
               chunk_updates=args.chunk_updates, checkpoint_every=args.checkpoint_every)
    return _execute(cfg, run, args.out, args.no_progress, resume=False, devices=devices)


def cmd_resume(args: argparse.Namespace) -> int:
    from jaxac import runs

    devices = _devices(args.devices, runs.record(args.run_dir)["run"]["seeds"])
    run = runs.load(args.run_dir)
    return _execute(run.cfg, run.run, args.run_dir, args.no_progress, resume=True, devices=devices)


def _devices(requested: Optional[int], seeds: int) -> list:
    """The devices to split `seeds` over: `requested` of them, or by default every
    accelerator, or on a CPU one XLA device per core (as many as divide the seeds; see
    jaxac.parallel). Sets up the CPU devices, so it runs before anything touches jax."""
    import jax

    from jaxac import parallel

    if requested is not None and (requested < 1 or seeds % requested):
        raise C.ConfigError(f"--devices {requested} is invalid: use a positive divisor of --seeds {seeds}.")
    try:
        parallel.use_cpu_devices(requested or parallel.default_cpu_devices(seeds))
    except RuntimeError:  # jax already started (a second run in one process): keep its devices
        pass
    available = jax.devices()
    if requested is None:
        return list(parallel.seed_devices(seeds, available))
    if requested > len(available):
        raise C.ConfigError(f"--devices {requested} is invalid: jax has {len(available)} "
                            f"{available[0].platform} device(s).")
    return available[:requested]


def cmd_eval(args: argparse.Namespace) -> int:
    from jaxac import evaluate

    if args.episodes < 1:
        raise C.ConfigError(f"--episodes {args.episodes} is invalid: use at least 1.")
    if args.render:  # checked (env, seed) before the evaluation's compile
        ret, length = evaluate.render_dir(args.run_dir, args.render, args.render_seed, args.seed)
        print(f"{args.render}: seed {args.render_seed}, one episode, return {ret:.2f} (length {length})")
    returns, lengths, step = evaluate.run_dir(args.run_dir, args.episodes, args.seed)
    print(f"{args.run_dir}: checkpoint at update {step}, deterministic policy, "
          f"{args.episodes} episode(s) per seed")
    for s, (r, n) in enumerate(zip(returns, lengths)):
        print(f"  seed {s}: return {r.mean():.2f} ± {r.std():.2f} (length {n.mean():.0f})")
    seed_means = returns.mean(1)
    print(f"  all seeds: return {returns.mean():.2f} ± {seed_means.std():.2f} (std over seed means), "
          f"{returns.std():.2f} over all episodes")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"run": args.run_dir, "step": step, "returns": returns.tolist(),
                       "lengths": lengths.tolist(), "mean": float(returns.mean())}, fh, indent=2)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from jaxac import plot

    if args.labels and len(args.labels) != len(args.run_dirs):
        raise C.ConfigError(f"--labels has {len(args.labels)} labels for {len(args.run_dirs)} runs.")
    if args.points < 1:
        raise C.ConfigError(f"--points {args.points} is invalid: use at least 1.")
    try:
        runs = [plot.load_run(d) for d in args.run_dirs]
        plot.plot_curves(runs, args.output, args.labels, args.points, args.title)
    except (FileNotFoundError, ValueError, ImportError) as err:
        raise C.ConfigError(str(err)) from None
    print(plot.summary_table(runs))
    print(f"wrote {args.output}")
    return 0


def _execute(cfg, run: dict, out: Optional[str], no_progress: bool, resume: bool, devices: list) -> int:
    """Trains (or continues) `run` in chunks: progress bar, checkpoints every
    `checkpoint_every` chunks and at the end, Ctrl-C stops at a chunk boundary and saves."""
    import signal

    import jax
    import numpy as np

    from jaxac import checkpoint, runs, stream
    from jaxac import logging as run_logs
    from jaxac.summary import final_return

    start = time.perf_counter()
    algo, seeds = run["algorithm"], run["seeds"]
    module = presets.ALGORITHMS[algo]
    keys = jax.random.split(jax.random.key(run["seed"]), seeds)
    ckpt_dir = os.path.join(out, "checkpoints") if out else None
    meta = runs.meta(runs.Run(algo, module, cfg, run, {}))

    t0 = time.perf_counter()
    runner = stream.Runner(module, cfg, seeds, run["chunk_updates"], devices)
    state = runner.init(cfg, keys)  # includes the warm-up steps of off-policy algorithms
    done, history = 0, {}
    if resume:
        state, _, done = checkpoint.restore(ckpt_dir, like=state, expect=meta)
        history = checkpoint.restore_history(ckpt_dir, done)
    runner.compile(state)
    compile_s = time.perf_counter() - t0
    env_steps, first_update = runner.env_steps(cfg.num_updates), done
    print(f"{algo} on {cfg.env}: {seeds} seed(s) x {env_steps:,} env steps"
          f"{f' on {len(devices)} {devices[0].platform} devices' if len(devices) > 1 else ''}"
          f"{f'; resuming at update {done} of {cfg.num_updates}' if resume else ''}; "
          f"compiled in {compile_s:.1f} s", flush=True)

    def write_logs(metrics):
        run_logs.write_metrics_csv(os.path.join(out, "metrics.csv"), metrics, cfg.steps_per_update,
                                   np.arange(seeds), first_step=cfg.warmup_steps)

    if out and not resume:
        os.makedirs(out, exist_ok=True)
        run_logs.write_config(os.path.join(out, "config.json"), algo, cfg, run=run, command=sys.argv)

    chunks = [history] if history else []
    seen, interrupted = 0, False
    board = (run_logs.TensorBoard(os.path.join(out, "tb"), seeds,
                                  purge_step=runner.env_steps(done) + 1 if resume else None)
             if out else None)

    def interrupt(*_):
        nonlocal interrupted
        interrupted = True

    def save(p):
        merged = stream.concat(chunks)
        checkpoint.save(ckpt_dir, p.update, p.state, meta, history=merged)
        write_logs(merged)

    def on_chunk(p, bar=None):
        nonlocal seen
        chunks.append(p.metrics)
        seen += 1
        if board:
            board.write(p.env_steps, p.metrics)
        if bar:
            bar(p)
        if out and (seen % run["checkpoint_every"] == 0 or p.update == cfg.num_updates or interrupted):
            save(p)

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        t0 = time.perf_counter()
        with _progress_bar(algo, seeds, env_steps, no_progress, runner.env_steps(done)) as bar:
            _, _, done = runner.run(state, done, lambda p: on_chunk(p, bar), stop=lambda: interrupted)
        run_s = time.perf_counter() - t0
    except stream.NonFiniteError as err:
        last = checkpoint.latest_step(ckpt_dir) if ckpt_dir else None
        kept = (f"the last good checkpoint (update {last}) is kept in {ckpt_dir}" if last is not None
                else "no checkpoint was saved before it")
        print(f"jaxac: error: training stopped: {err}; {kept}", file=sys.stderr)
        return 3
    finally:
        signal.signal(signal.SIGINT, previous)
        if board:
            board.close()
    if interrupted and done < cfg.num_updates:
        where = f"; resume with: jaxac resume {out}" if out else " (no --out: nothing was saved)"
        print(f"interrupted at update {done} of {cfg.num_updates}{where}", flush=True)
        return 130

    metrics = stream.concat(chunks)
    finals = final_return(metrics)
    trained = seeds * (cfg.num_updates - first_update) * cfg.steps_per_update
    print(f"trained in {run_s:.1f} s: {trained / run_s:,.0f} env steps/s over all seeds", flush=True)
    print(f"final return (episodes in the last 5% of training): "
          f"{np.nanmean(finals):.1f} ± {np.nanstd(finals):.1f} over {seeds} seed(s)")
    if out:
        run_logs.update_config(os.path.join(out, "config.json"), compile_seconds=compile_s,
                               train_seconds=run_s, final_return_per_seed=[float(x) for x in finals])
        print(f"wrote {out}/metrics.csv, {out}/config.json, {out}/tb (TensorBoard) and {out}/checkpoints")
    print(f"total wall time {time.perf_counter() - start:.1f} s")
    return 0


@contextlib.contextmanager
def _progress_bar(algo: str, seeds: int, total_steps: int, off: bool, initial: int = 0):
    """A tqdm bar over env steps per seed (rate over all seeds, ETA, mean return over seeds);
    yields the per-chunk callback. tqdm: small, ubiquitous, and it handles terminals, pipes
    and notebooks; it writes to stderr so stdout stays parseable."""
    if off:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total_steps, initial=initial, unit="step", desc=f"{algo} {seeds} seed(s)",
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
        if args.command == "resume":
            return cmd_resume(args)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "plot":
            return cmd_plot(args)
        return cmd_train(args)
    except (C.ConfigError, registry.UnknownEnvironmentError, CheckpointError) as err:
        print(f"jaxac: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
