"""rejax's SAC on Pendulum-v1, 8 seeds x 2e4 steps in one vmapped call (the benchmark's peer).

Run with a Python that has rejax 0.1.3 and gymnax<1 (rejax breaks on gymnax 1.x's 6-value
step), e.g. a separate venv: `pip install rejax==0.1.3 "gymnax<1" jax==0.10.2 jaxlib==0.10.2`.
rejax's defaults: 64x64 ReLU networks, 1 env, one gradient step per env step, lr 3e-4,
batch 256, 2048 random warm-up steps. Prints one JSON line.
"""

import json
import sys
import time

import jax
import numpy as np
from rejax import SAC


def main(seeds: int = 8, total: int = 20_000) -> None:
    algo = SAC.create(env="Pendulum-v1", total_timesteps=total, eval_freq=total // 4)
    train = jax.jit(jax.vmap(SAC.train, in_axes=(None, 0)))
    keys = jax.random.split(jax.random.key(0), seeds)
    t0 = time.perf_counter()
    compiled = train.lower(algo, keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, (_, returns) = compiled(algo, keys)
    returns = np.asarray(jax.device_get(returns))  # [seeds, num_evals, 128 episodes]
    run_s = time.perf_counter() - t0
    final = returns[:, -1].mean(-1)
    print(json.dumps({"compile_s": compile_s, "run_s": run_s, "steps_per_s": seeds * total / run_s,
                      "final_eval_return_per_seed": final.tolist(), "final_mean": float(final.mean()),
                      "jax": jax.__version__}))


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
