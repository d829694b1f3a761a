"""One process of the conformance matrix (tests/test_matrix.py): runs a registered algorithm's
`smoke_config()` in the modes asked for and prints one JSON line of what came out.

    python matrix_worker.py ALGO OUT MODE[,MODE...] [--kill-at N] [--devices N]
                            [--coordinator H:P --num-processes N --process-id I]

Modes: train (2 seeds, a checkpoint every update), resume (the run in OUT/train), sweep (one
float field of each config group sampled, 2 settings), pbt (2 members moving a learning rate).
`--kill-at N`: train SIGKILLs itself after update N's checkpoint is written.
"""

import argparse
import dataclasses
import json
import os
import signal
import sys

import numpy as np


def float_fields(cfg):
    """One float field of each config group that has one (the first with a non-zero value):
    {dotted path: value}."""
    from jaxac import config as C
    from jaxac import sweep

    chosen = {}
    for path, value in C.paths(cfg):
        group = path.rpartition(".")[0]
        if group not in chosen and sweep.is_float_leaf(cfg, path) and value:
            chosen[group] = (path, float(value))
    return dict(chosen.values())


def _metrics(metrics):
    return {k: np.asarray(v, np.float64).tolist() for k, v in sorted(metrics.items())}


def _finite(metrics):
    """Every metric but the episode statistics (NaN while no episode ended) is finite."""
    return all(np.isfinite(np.asarray(v)).all() for k, v in metrics.items() if not k.startswith("episode_"))


def train(algo, out, devices, kill_at):
    import jaxac

    cfg = jaxac.algos.get(algo).smoke_config()

    def on_chunk(progress):
        if kill_at is not None and progress.update == kill_at + 1:  # update kill_at's checkpoint is written
            os.kill(os.getpid(), signal.SIGKILL)

    session = jaxac.Session(algo, cfg, seeds=2, out=os.path.join(out, "train"), chunk_updates=1,
                            checkpoint_every=1, devices=devices, eval_episodes=1)
    result = session.run(on_chunk=on_chunk)
    return dict(devices=len(session.devices_used), metrics=_metrics(result.metrics), finite=_finite(result.metrics),
                eval=np.asarray(result.eval_return, np.float64).tolist())


def resume(algo, out, devices, kill_at):
    import jaxac

    session = jaxac.Session.resume(os.path.join(out, "train"), devices=devices, eval_episodes=1)
    session.compile()
    start = session.start_update
    result = session.run()
    return dict(devices=len(session.devices_used), start=start, metrics=_metrics(result.metrics),
                finite=_finite(result.metrics))


def sweep(algo, out, devices, kill_at):
    import jaxac
    from jaxac import sweep as S

    cfg = jaxac.algos.get(algo).smoke_config()
    fields = float_fields(cfg)
    samples = [f"{p}=uniform:{0.9 * v}:{v}" if v > 0 else f"{p}=uniform:{v}:{0.9 * v}" for p, v in fields.items()]
    sw = jaxac.Sweep(algo, cfg, S.Spec.parse([], samples, 2), seeds=1, out=os.path.join(out, "sweep"),
                     chunk_updates=2, eval_episodes=1, devices=devices)
    result = sw.run()
    evals = np.asarray(result.eval_return, np.float64)
    return dict(devices=len(sw.local_devices()), fields=sorted(fields), members=int(evals.size),
                finite=bool(np.isfinite(evals).all()), eval=evals.tolist())


def pbt(algo, out, devices, kill_at):
    import jaxac
    from jaxac import pbt as P

    cfg = jaxac.algos.get(algo).smoke_config()
    path = next(p for p in float_fields(cfg) if p.startswith("optim."))
    value = float(jaxac.config.get(cfg, path))
    population = P.Population((P.Hyper(path, value / 2, value * 2, log=True),), ready=2)
    session = jaxac.Session(algo, cfg, seeds=2, out=os.path.join(out, "pbt"), devices=devices, eval_episodes=1,
                            population=population)
    result = session.run()
    return dict(devices=len(session.devices_used), hyper=path, metrics=_metrics(result.metrics),
                finite=_finite(result.metrics))


MODES = dict(train=train, resume=resume, sweep=sweep, pbt=pbt)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("algo")
    parser.add_argument("out")
    parser.add_argument("modes")
    parser.add_argument("--kill-at", type=int)
    parser.add_argument("--devices", type=int)
    parser.add_argument("--coordinator")
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--process-id", type=int)
    args = parser.parse_args()
    from jaxac import distributed

    process = distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    results = {mode: MODES[mode](args.algo, args.out, args.devices, args.kill_at) for mode in args.modes.split(",")}
    print(json.dumps(dict(process=dataclasses.asdict(process), **results)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
