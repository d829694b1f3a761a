"""brax.training's PPO or SAC on one brax env, timed; run by `vs_brax.py` inside a virtual
environment pinned to jax 0.9.2 (brax.training 0.14.2 does not run on jax 0.10).

    python brax_peer.py '{"algo": "ppo", "env": "inverted_pendulum", "backend": "generalized",
                          "num_timesteps": 300000, "num_evals": 11, "kwargs": {...}}'

Prints one JSON line: total compile time (every trace, lowering and XLA compile in the
process, from jax.monitoring), steady steps/s (the median of brax's own `training/sps` over
the epochs after the second, since brax's PPO compiles in its first two), the final
evaluation reward, the evaluation reward after every epoch (`eval_curve`, from step 0: the
initial policy) and the process's training wall time.
"""

import json
import statistics
import sys
import time

import jax

COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


def main(spec: dict) -> dict:
    compile_s = [0.0]

    def listen(event, duration, **_):
        if event in COMPILE_EVENTS:
            compile_s[0] += duration

    jax.monitoring.register_event_duration_secs_listener(listen)

    from brax import envs
    from brax.training.agents.ppo import train as ppo
    from brax.training.agents.sac import train as sac

    env = envs.get_environment(spec["env"], backend=spec["backend"])
    progress = []

    def progress_fn(step, metrics):
        progress.append({"step": int(step), "time": time.perf_counter(),
                         **{k: float(v) for k, v in metrics.items() if k.startswith(("eval/episode_reward", "training/sps"))}})

    train = {"ppo": ppo.train, "sac": sac.train}[spec["algo"]]
    kwargs = dict(spec["kwargs"])
    if spec.get("hidden"):  # networks other than brax's defaults: (policy sizes, value sizes)
        import functools

        from brax.training.agents.ppo import networks as ppo_networks
        from brax.training.agents.sac import networks as sac_networks

        policy, value = (tuple(h) for h in spec["hidden"])
        kwargs["network_factory"] = (
            functools.partial(ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=policy,
                              value_hidden_layer_sizes=value)
            if spec["algo"] == "ppo" else
            functools.partial(sac_networks.make_sac_networks, hidden_layer_sizes=policy))
    start = time.perf_counter()
    train(environment=env, num_timesteps=spec["num_timesteps"], num_evals=spec["num_evals"],
          episode_length=spec["episode_length"], seed=spec.get("seed", 0),
          deterministic_eval=True, progress_fn=progress_fn, **kwargs)
    wall = time.perf_counter() - start
    sps = [p["training/sps"] for p in progress if "training/sps" in p]
    steady = sps[2:] if len(sps) > 2 else sps
    return {
        "compile_s": compile_s[0],
        "steady_sps": statistics.median(steady) if steady else float("nan"),
        "sps_per_epoch": sps,
        "final_eval": progress[-1].get("eval/episode_reward", float("nan")),
        # brax evaluates its initial policy at step 0: how far training moved from it
        "eval_curve": [[p["step"], p["eval/episode_reward"]] for p in progress if "eval/episode_reward" in p],
        "steps": progress[-1]["step"],
        "wall_s": wall,
        "jax": jax.__version__,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
