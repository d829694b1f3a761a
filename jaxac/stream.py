"""Streaming: a long run as compiled chunks of updates, so the host can watch it.

    state, metrics = jaxac.stream.train(jaxac.ppo, cfg, keys, chunk_updates=50,
                                        on_chunk=lambda p: print(p.update, p.mean_return))

`jaxac train` uses it for its progress bar.

All seeds (`keys` [S]) are vmapped, and split over the devices (`jaxac.parallel`). One
compiled function runs *up to* `chunk_updates` updates: the number to run is a runtime
argument (a `while` loop with a dynamic trip count writing metrics into a fixed
[chunk_updates] buffer), so every chunk, including a shorter last one and the chunks of a
resumed run, reuses the same executable. Between chunks the
host gets the chunk's metrics (for progress bars, logs and checkpoints). `jaxac.<algo>.train`
stays the single-call form for sweeps.

Guard: after every chunk the host checks the chunk's loss metrics (every metric but the
episode statistics, which are NaN by design when no episode ended) and a per-seed "all
parameters finite" flag computed inside the chunk; the first non-finite value raises
`NonFiniteError` naming the seed, update and metric, before the chunk reaches `on_chunk`, so
a checkpointing callback never saves a broken state.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxac import parallel
from jaxac.summary import episode_mean
from jaxac.types import Array, Metrics


# NaN by design when no episode ended in an update; everything else must stay finite
EPISODE_METRICS = ("episode_return", "episode_length", "episodes")


class NonFiniteError(FloatingPointError):
    """A loss metric or a parameter of some seed became NaN or infinite."""

    def __init__(self, seed: int, update: int, metric: str, env_steps: int):
        self.seed, self.update, self.metric, self.env_steps = seed, update, metric, env_steps
        where = "a parameter" if metric == "parameters" else f"metric {metric!r}"
        super().__init__(
            f"{where} of seed {seed} became non-finite at update {update} (env step {env_steps:,} "
            f"per seed); the usual causes are a learning rate or reward scale that is too large"
        )


def params_finite(params: Any) -> Array:
    """True if every floating-point leaf of `params` is finite (a scalar bool)."""
    leaves = [jnp.isfinite(x).all() for x in jax.tree.leaves(params)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    return jnp.stack(leaves).all() if leaves else jnp.asarray(True)


def first_non_finite(metrics: Dict[str, np.ndarray], finite_params: np.ndarray) -> Optional[Tuple[int, int, str]]:
    """(seed, update index in the chunk, metric) of the earliest non-finite loss metric
    ([seeds, n] each), else of a seed whose parameters are not all finite (index n - 1, metric
    "parameters"), else None."""
    found = []
    for name, values in metrics.items():
        if name in EPISODE_METRICS:
            continue
        where = np.argwhere(~np.isfinite(values))  # rows (seed, index)
        if len(where):
            seed, index = where[np.lexsort((where[:, 0], where[:, 1]))[0]]  # earliest, lowest seed
            found.append((int(index), int(seed), name))
    if found:
        index, seed, name = min(found)
        return seed, index, name
    bad_params = np.flatnonzero(~np.asarray(finite_params))
    if bad_params.size:
        return int(bad_params[0]), next(iter(metrics.values())).shape[1] - 1, "parameters"
    return None


def run_some(update: Callable, cfg: Any, state: Any, count: Any, capacity: int) -> Tuple[Any, Metrics]:
    """`count` (<= capacity, may be traced) updates; metrics [capacity], rows >= count zero."""
    # jit: the body below reuses the trace eval_shape makes (XLA inlines the call: same program)
    update = jax.jit(update)
    example = jax.eval_shape(lambda s: update(cfg, s)[1], state)
    buffer = jax.tree.map(lambda x: jnp.zeros((capacity,) + x.shape, x.dtype), example)

    def body(i, carry):
        state, buf = carry
        state, metrics = update(cfg, state)
        buf = jax.tree.map(lambda b, m: jax.lax.dynamic_update_index_in_dim(b, m, i, 0), buf, metrics)
        return state, buf

    return jax.lax.fori_loop(0, count, body, (state, buffer))


@dataclasses.dataclass(frozen=True)
class Progress:
    """What the host sees after each chunk (metrics are numpy, [seeds, updates of the chunk])."""

    update: int  # updates completed
    num_updates: int
    env_steps: int  # per seed, warm-up included
    total_env_steps: int
    elapsed_s: float  # since the first chunk started (compile excluded)
    steps_per_second: float  # env steps over all seeds, this run so far
    mean_return: float  # over seeds, episodes that ended in this chunk (NaN if none)
    metrics: Dict[str, np.ndarray]
    state: Any  # device state after the chunk (for checkpoints)


def default_chunk(num_updates: int) -> int:
    """About 100 chunks per run: progress every 1% at < 1% overhead (see benchmarks)."""
    return max(1, -(-num_updates // 100))


class Runner:
    """Compiled `init` and chunk functions for one algorithm, config shape and seed count.

    `compile(state)` builds the chunk executable ahead of time (the CLI times it); `run`
    compiles on first use otherwise. The executable is fixed, so no chunk can recompile.
    """

    def __init__(self, module, cfg: Any, num_seeds: int, chunk_updates: Optional[int] = None,
                 devices: Optional[Sequence[Any]] = None, cfg_axes: Any = None):
        chunk_updates = default_chunk(cfg.num_updates) if chunk_updates is None else chunk_updates
        self.module, self.cfg, self.chunk_updates = module, cfg, max(1, min(chunk_updates, cfg.num_updates))
        self.num_seeds, self.cfg_axes = num_seeds, cfg_axes
        # the seeds are split over the devices (all of jax's by default; see jaxac.parallel)
        self.devices = parallel.seed_devices(num_seeds, devices)
        # cfg_axes: a sweep's members differ in float fields (a batched config, jaxac.sweep)
        self.device_cfg = cfg if cfg_axes is None else parallel.place(cfg, self.devices, cfg_axes)
        self._init = parallel.over_seeds(module.init, (cfg_axes, 0), self.devices)

        def chunk(c, s, n):
            s, metrics = run_some(module.update, c, s, n, self.chunk_updates)
            return s, metrics, params_finite(s.params)

        # the state is donated: the replay buffer is updated in place, not copied per chunk
        self._chunk = parallel.over_seeds(chunk, (cfg_axes, 0, None), self.devices, donate_argnums=1)
        self.executable = None

    def init(self, cfg: Any, keys: Any) -> Any:
        """The vmapped `module.init` of every key [S], split over the runner's devices (`cfg`:
        the runner's, batched along `cfg_axes` if it has them)."""
        cfg = self.device_cfg if cfg is self.cfg else cfg
        return self._init(cfg, parallel.place(keys, self.devices))

    def init_shapes(self, keys: Any) -> Any:
        """The shapes and dtypes `init(cfg, keys)` gives, with their device placement,
        computed without running it (for a memory estimate before allocating)."""
        shapes = jax.eval_shape(self._init, self.device_cfg, keys)
        if len(self.devices) == 1:
            sharding = jax.sharding.SingleDeviceSharding(self.devices[0])
        else:
            sharding = jax.sharding.NamedSharding(parallel._mesh(self.devices), parallel.P(parallel.AXIS))
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)

    def place(self, state: Any) -> Any:
        """`state` (e.g. restored from a checkpoint) split over the runner's devices."""
        if isinstance(jax.tree.leaves(state)[0], jax.ShapeDtypeStruct):
            return state
        return parallel.place(state, self.devices)

    def compile(self, state: Any) -> float:
        """Compiles the chunk function for `state`'s shapes (arrays, or `init_shapes`);
        returns seconds taken."""
        t0 = time.perf_counter()
        self.executable = self._chunk.lower(self.device_cfg, self.place(state), jnp.int32(1)).compile()
        return time.perf_counter() - t0

    def memory_bytes(self) -> int:
        """Peak bytes the compiled chunk holds on each device (XLA's memory analysis:
        arguments, outputs not aliased to them, and temporaries); 0 where XLA gives none."""
        stats = self.executable.memory_analysis() if self.executable is not None else None
        if stats is None:
            return 0
        return int(stats.argument_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes
                   + stats.temp_size_in_bytes)

    def env_steps(self, updates: int) -> int:
        return self.cfg.warmup_steps + updates * self.cfg.steps_per_update

    def run(self, state: Any, start: int, on_chunk: Optional[Callable[[Progress], Any]] = None,
            stop: Optional[Callable[[], bool]] = None,
            check_finite: bool = True) -> Tuple[Any, Dict[str, np.ndarray], int]:
        """Updates from `start` to `cfg.num_updates`, or until `stop()` is true at a chunk
        boundary. Returns (state, metrics [seeds, updates run], updates completed).

        Raises `NonFiniteError` (unless `check_finite` is off) at the first chunk where a loss
        metric or a parameter of any seed is NaN/inf; that chunk is not passed to `on_chunk`.

        `state` is consumed (donated to the first chunk); so is each `Progress.state` by the
        next chunk: copy it (e.g. to host) inside `on_chunk` to keep it."""
        if self.executable is None:
            self.compile(state)
        state = self.place(state)
        cfg, done, chunks = self.cfg, start, []
        t0 = time.perf_counter()
        # on several processes' devices every process runs the same chunks: a stop is joint
        joint = parallel.any_process if parallel.spans_processes(self.devices) else bool
        while done < cfg.num_updates and not joint(bool(stop and stop())):
            n = min(self.chunk_updates, cfg.num_updates - done)
            state, metrics, finite = self.executable(self.device_cfg, state, jnp.int32(n))
            metrics = {k: v[:, :n] for k, v in parallel.host(metrics).items()}
            bad = first_non_finite(metrics, parallel.host(finite)) if check_finite else None
            if bad:
                seed, index, name = bad
                raise NonFiniteError(seed, done + index + 1, name, self.env_steps(done + index + 1))
            done += n
            chunks.append(metrics)
            if on_chunk:
                elapsed = time.perf_counter() - t0
                on_chunk(Progress(
                    update=done, num_updates=cfg.num_updates, env_steps=self.env_steps(done),
                    total_env_steps=self.env_steps(cfg.num_updates), elapsed_s=elapsed,
                    steps_per_second=self.num_seeds * (done - start) * cfg.steps_per_update / max(elapsed, 1e-9),
                    mean_return=chunk_return(metrics), metrics=metrics, state=state,
                ))
        return state, concat(chunks), done


def concat(chunks) -> Dict[str, np.ndarray]:
    """Chunks' metrics [seeds, n_i] joined along updates ({} for no chunks)."""
    return {k: np.concatenate([c[k] for c in chunks], 1) for k in chunks[0]} if chunks else {}


def chunk_return(metrics: Dict[str, np.ndarray]) -> float:
    """Mean return over seeds of the episodes that ended in a chunk (NaN if none ended)."""
    return float(episode_mean(metrics["episode_return"], metrics["episodes"], axis=None))


def train(module, cfg: Any, keys: Any, chunk_updates: Optional[int] = None,
          on_chunk: Optional[Callable[[Progress], Any]] = None,
          devices: Optional[Sequence[Any]] = None) -> Tuple[Any, Dict[str, np.ndarray]]:
    """`module.train` for every key, as chunks: (state [seeds], metrics [seeds, num_updates]);
    the seeds split over `devices` (default: all)."""
    runner = Runner(module, cfg, len(keys), chunk_updates, devices)
    state, metrics, _ = runner.run(runner.init(cfg, keys), 0, on_chunk)
    return state, metrics
