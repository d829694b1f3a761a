"""PPO on a brax environment with a run directory: stop half-way (as a preemption would), then
resume from the checkpoint and evaluate the saved policy. Needs the `brax` extra.

    python examples/brax_checkpoint_resume.py --out runs/brax-ip     # brax/inverted_pendulum
    python examples/brax_checkpoint_resume.py --tiny
"""

import argparse
import tempfile

import numpy as np

import jaxac


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="brax/inverted_pendulum")
    parser.add_argument("--steps", type=int, default=98_304, help="env steps per seed")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    parser.add_argument("--tiny", action="store_true", help="16 envs, 4 updates")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="jaxac-brax-")

    overrides = {"total_steps": args.steps}
    if args.tiny:  # the preset's shape of update at a fraction of its size
        overrides = {"total_steps": 4 * 16 * 20, "num_envs": 16, "num_minibatches": 4}
    cfg = jaxac.presets.config("ppo", args.env, **overrides)  # brax.training's PPO settings, sized for a CPU

    # a session is what `jaxac train --out DIR` runs; `stop` plays the part of SIGTERM
    chunks = []
    session = jaxac.Session("ppo", cfg, seeds=args.seeds, out=out, chunk_updates=1, checkpoint_every=1)
    half = cfg.num_updates // 2
    first = session.run(on_chunk=lambda p: chunks.append(p.update), stop=lambda: chunks[-1] >= half)
    print(f"stopped at update {first.updates} of {cfg.num_updates} (saved: {out}/checkpoints)")

    resumed = jaxac.Session.resume(out).run()  # what `jaxac resume DIR` runs, in this or a new process
    print(f"resumed to update {resumed.updates}; training return per seed "
          f"{np.round(np.asarray(resumed.final_return, np.float64), 1)}")

    returns, lengths, step = jaxac.evaluate.run_dir(out, num_episodes=2)  # what `jaxac eval DIR` runs
    print(f"deterministic policy at update {step}: {np.round(returns.mean(axis=1), 1)} per seed")


if __name__ == "__main__":
    main()
