"""Run directories written by `jaxac train --out DIR`: reading them back.

    DIR/config.json    algorithm, config, run settings (seeds, seed, chunking), versions
    DIR/metrics.csv    one row per seed and update
    DIR/tb/            TensorBoard event files
    DIR/checkpoints/   orbax checkpoints of the whole vmapped state

`load(DIR)` gives the config; `restore(DIR)` the trained state of every seed, e.g. for
`jaxac.evaluate`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, NamedTuple, Optional

from jaxac import config as C
from jaxac import critics, networks, sources


class Run(NamedTuple):
    """A run directory as read back: its algorithm, module, config and run settings."""

    algorithm: str
    module: Any  # jaxac.ppo / a2c / sac
    cfg: Any
    run: Dict[str, Any]  # seeds, seed, chunk_updates, checkpoint_every
    record: Dict[str, Any]  # the whole config.json


def record(run_dir: str) -> Dict[str, Any]:
    """`run_dir/config.json` as written (ConfigError if absent or not a run's); touches no jax."""
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path) as fh:
            out = json.load(fh)
        out["algorithm"], out["run"]["seeds"], out["config"]  # what every run's record has
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise C.ConfigError(f"{run_dir} is not a jaxac run directory ({path}: {err}).") from None
    return out


def load(run_dir: str, env: Any = None) -> Run:
    """The run's algorithm, Config and settings from `run_dir/config.json` (ConfigError if absent).
    `env`: the environment object a run trained on an object needs again (a directory records
    only its repr)."""
    from jaxac import presets

    rec = record(run_dir)
    algo = rec["algorithm"]
    if algo not in presets.ALGORITHMS:
        raise C.ConfigError(f"{run_dir} is not a jaxac run directory (unknown algorithm {algo!r}).")
    return Run(algo, presets.ALGORITHMS[algo], config_of(presets.ALGORITHMS[algo].Config, rec, run_dir, env),
               rec["run"], rec)


def config_of(config_cls: Any, rec: Dict[str, Any], where: str, env: Any = None) -> Any:
    """The Config a run's (or sweep's) record `rec` in directory `where` holds, its environment's
    code found again first (`jaxac.envs.registry.recall`); one-line ConfigErrors for an
    environment that cannot be found and for a record this version cannot read."""
    from jaxac.envs import registry

    fields = dict(rec["config"])
    src = rec.get("env_source") or {}
    if env is not None:
        if not isinstance(env, str) and fields.get("env") != C.object_text(env):
            raise C.ConfigError(f"env={env!r} is not the environment {where} was trained on "
                                f"({fields.get('env')}).")
        fields["env"] = env
    elif "object" in src:
        raise C.ConfigError(f"{where} was trained on an environment object ({src['object']}), which a run "
                            f"directory cannot record: pass the object again from Python (env=...), or "
                            f"register a factory with jaxac.register_env and train on its name.")
    else:
        try:
            registry.recall(fields.get("env"), src)
        except registry.UnknownEnvironmentError as err:
            raise C.ConfigError(f"{where}: {err}") from None
    recall(rec.get("critic_source") or {}, critics.names(), "critic", where)
    recall(rec.get("network_source") or {}, tuple(networks.NETWORKS), "policy network", where)
    try:
        return C.from_dict(config_cls, fields)
    except (TypeError, C.ConfigError) as err:
        raise C.ConfigError(f"{where}/config.json does not fit this jaxac's {rec['algorithm']} config ({err}); "
                            f"it was probably written by an earlier version.") from None


def meta(run: Run) -> Dict[str, Any]:
    """What a checkpoint of this run records and `restore` checks (JSON-normalised)."""
    out = {"algorithm": run.algorithm, "seeds": run.run["seeds"], "seed": run.run["seed"],
           "config": C.to_dict(run.cfg)}
    if run.run.get("members"):  # a sweep's batch (jaxac.sweep.Members)
        out["members"] = run.run["members"]
    if run.run.get("population"):  # a PBT run (jaxac.pbt.Population)
        out["population"] = run.run["population"]
    return json.loads(json.dumps(out))


def members(run: Run):
    """The sweep members of a sweep's batch (`jaxac.sweep.Members`), None for a train run."""
    from jaxac import sweep

    record = run.run.get("members")
    return sweep.Members.from_dict(record) if record else None


def population(run: Run):
    """The PBT settings of a PBT run (`jaxac.pbt.Population`), None otherwise."""
    from jaxac import pbt

    record = run.run.get("population")
    return pbt.Population.from_dict(record) if record else None


def inputs(run: Run):
    """(config, its vmap axes, [seeds] keys) the run's seeds (a sweep's members) train with."""
    from jaxac import sweep

    return sweep.inputs(run.cfg, run.run["seeds"], run.run["seed"], members(run))


def initial_state(run: Run) -> Any:
    """The vmapped state every seed of the run starts from (the template for `restore`)."""
    import jax

    cfg, axes, keys = inputs(run)
    if population(run) is not None:
        from jaxac import pbt

        return pbt.initial_state(run.module, cfg, keys, population(run))
    return jax.jit(jax.vmap(run.module.init, in_axes=(axes, 0)))(cfg, keys)


def recall(recorded: Dict[str, Dict[str, Any]], registered, what: str, where: str) -> None:
    """Imports the modules of a run's user-registered parts (`what`: critics, a policy network)
    that are not `registered` here (registration happens at import); ConfigError naming a
    module that cannot be imported."""
    for name, src in recorded.items():
        if name not in registered:
            try:
                sources.load(src["module"], src.get("path"), f"{what} {name!r}")
            except sources.Missing as err:
                raise C.ConfigError(f"{where}: {err}") from None


def restore(run_dir: str, step: Optional[int] = None,
            on_damaged: Optional[Callable[[int, str], Any]] = None, env: Any = None):
    """(Run, state of every seed [seeds, ...], step) from the run's newest intact checkpoint
    (damaged newer ones are passed to `on_damaged(step, reason)`), or from `step`'s; raises
    `jaxac.checkpoint.CheckpointError` if there is none, or it does not fit. `env`: as for `load`."""
    from jaxac import checkpoint

    run = load(run_dir, env)
    if step is not None:
        checkpoint.check_step(os.path.join(run_dir, "checkpoints"), step)
    found = checkpoint.load(os.path.join(run_dir, "checkpoints"), like=initial_state(run),
                            expect=meta(run), step=step, on_damaged=on_damaged)
    return run, found.state, found.step
