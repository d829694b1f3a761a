"""Run directories: `config.json` (config, versions, commit), `metrics.csv`, TensorBoard files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, Dict, Optional

import numpy as np

from jaxac import config as C
from jaxac.summary import episode_mean

FIRST_COLUMNS = ("seed", "update", "step", "episode_return", "episode_length", "episodes")


def versions() -> Dict[str, str]:
    """Python's and the installed versions of jaxac and its dependencies (recorded in config.json)."""
    out = {"python": sys.version.split()[0]}
    for pkg in ("jaxac", "jax", "jaxlib", "flax", "optax", "chex", "distrax", "numpy",
                "orbax-checkpoint", "tensorboardX"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> Optional[str]:
    """The commit of jaxac's checkout, or None outside a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(
            ["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def critic_sources(cfg: Any) -> Dict[str, Dict[str, Any]]:
    """{critic name: where its module is (`jaxac.sources.where`)} of the user-registered critics
    `cfg` uses (`critic`, PDPPO's `post_critic`), so that a run finds them again."""
    from jaxac import sources

    out = {}
    for name in cfg.critic_fields():
        spec = getattr(cfg, name)
        if sources.is_users(type(spec).__module__):
            out[spec.name] = sources.where(type(spec).__module__)
    return out


def network_sources(cfg: Any) -> Dict[str, Dict[str, Any]]:
    """{policy network name: where its module is} of a user-registered policy network that
    `cfg` uses (`policy.network`), so that a run finds it again."""
    from jaxac import networks, sources

    network = networks.NETWORKS.get(cfg.policy.network)
    if network is not None and sources.is_users(network.__module__):
        return {cfg.policy.network: sources.where(network.__module__)}
    return {}


def update_config(path: str, **extra: Any) -> None:
    """Adds or replaces top-level entries of a written config.json."""
    with open(path) as fh:
        record = json.load(fh)
    record.update(extra)
    write_json(path, record)


def write_json(path: str, record: Dict[str, Any]) -> None:
    """Writes `record` to a temporary file, then renames it: a full disk leaves the old file."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as fh:
            json.dump(record, fh, indent=2, default=str)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_config(path: str, algo: str, cfg: Any, **extra: Any) -> None:
    """Writes a run's config.json: algorithm, config, where a user's environment, critics and
    policy network were found (`jaxac.envs.registry.source`, `critic_sources`,
    `network_sources`), versions, commit and `extra` fields."""
    from jaxac.envs import registry

    record = {"algorithm": algo, "config": C.to_dict(cfg), "env_source": registry.source(cfg.env),
              "critic_source": critic_sources(cfg), "network_source": network_sources(cfg),
              "versions": versions(), "git_commit": git_commit(), **extra}
    write_json(path, record)


def write_metrics_csv(path: str, metrics: Dict[str, Any], steps_per_update: int,
                      seeds: Optional[np.ndarray] = None, first_step: int = 0) -> None:
    """One row per seed and update. `metrics` leaves are [num_seeds, num_updates].

    `step` counts env steps per seed at the end of each update, starting from `first_step`
    (the random warm-up steps an off-policy `init` takes)."""
    arrays = {k: np.asarray(v) for k, v in metrics.items()}
    num_seeds, num_updates = next(iter(arrays.values())).shape[:2]
    seeds = np.arange(num_seeds) if seeds is None else np.asarray(seeds)
    names = [c for c in FIRST_COLUMNS[3:] if c in arrays] + sorted(
        k for k in arrays if k not in FIRST_COLUMNS
    )
    updates = np.arange(1, num_updates + 1)
    tmp = path + ".tmp"  # written whole, then renamed: a reader never sees half a file
    try:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["seed", "update", "step", *names])
            for s in range(num_seeds):
                columns = [np.full(num_updates, seeds[s]), updates, first_step + updates * steps_per_update]
                columns += [arrays[n][s] for n in names]
                writer.writerows(zip(*(c.tolist() for c in columns)))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):  # a failed write leaves the previous file, and no debris
            os.remove(tmp)


def write_rows(path: str, rows: Any) -> None:
    """A CSV of dict rows (the first row's keys as columns; no rows: an empty file), replaced
    atomically."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", newline="") as fh:
            if rows:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def chunk_summary(metrics: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """One value per seed for a chunk's metrics ([seeds, n] each): the mean over the chunk's
    updates; episode statistics weighted by the episodes that ended in each update (NaN for a
    seed where none ended)."""
    count = np.asarray(metrics.get("episodes", 0), np.float64)
    out = {}
    for name, values in metrics.items():
        values = np.asarray(values, np.float64)
        if name == "episodes":
            out[name] = values.sum(1)
        elif name in ("episode_return", "episode_length"):
            out[name] = episode_mean(values, count, axis=1)
        else:
            out[name] = values.mean(1)
    return out


class TensorBoard:
    """TensorBoard event files under `log_dir`: one run per seed (`seed_0`, `seed_1`, ...; or
    per entry of `runs`, the mean of its seeds) and one for the mean over seeds (`mean`), so TensorBoard overlays them on shared tags. One point
    per chunk and metric (the chunk's mean), at the env step per seed where the chunk ended.

    TensorBoard's event format is written with tensorboardX's record writer (no TensorFlow),
    synchronously and flushed once per chunk: a write error (a full disk) is raised in the
    caller, where a background writer's queue would fill and block it forever. `purge_step`
    (a resumed run's first step) hides the events a killed run wrote past its checkpoint.
    """

    def __init__(self, log_dir: str, num_seeds: int, purge_step: Optional[int] = None,
                 runs: Optional[Dict[str, Any]] = None):
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        # runs: name -> the seeds it averages (a sweep: one run per setting, not per member)
        self.runs = {f"seed_{s}": [s] for s in range(num_seeds)} if runs is None else dict(runs)
        self.writers = []
        for name in list(self.runs) + ["mean"]:
            os.makedirs(os.path.join(log_dir, name), exist_ok=True)
            writer = EventsWriter(os.path.join(log_dir, name, "events"))
            self.writers.append(writer)  # before the first write: close() must see it
            if purge_step is not None:
                writer.write_event(Event(step=purge_step, wall_time=time.time(),
                                         session_log=SessionLog(status=SessionLog.START)))
        self.flush()

    def write(self, env_steps: int, metrics: Dict[str, np.ndarray]) -> None:
        """Logs one chunk's metrics ([seeds, n] each) at `env_steps`, flushed."""
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        def event(tag, value):
            return Event(wall_time=time.time(), step=int(env_steps),
                         summary=Summary(value=[Summary.Value(tag=tag, simple_value=float(value))]))

        summary = chunk_summary(metrics)
        *seeds, mean = self.writers
        for name, values in sorted(summary.items()):
            tag = f"{'episode' if name.startswith('episode') else 'train'}/{name}"
            for writer, members in zip(seeds, self.runs.values()):
                part = values[np.asarray(members)]
                if np.isfinite(part).any():
                    writer.write_event(event(tag, np.nanmean(part)))
            if np.isfinite(values).any():
                mean.write_event(event(tag, np.nanmean(values)))
        self.flush()

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        """Closes every file (after a write error too: the first close error is raised last)."""
        error = None
        for writer in self.writers:
            try:
                writer.close()
            except OSError as err:
                error = error or err
        self.writers = []
        if error:
            raise error
