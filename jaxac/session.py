"""A run in the library: a config over many seeds in compiled chunks, with its run directory.

    session = jaxac.Session("ppo", cfg, seeds=8, out="runs/x", checkpoint_every=10)
    result = session.run(on_chunk=lambda p: print(p.update, p.mean_return))
    result.final_return, result.eval_return          # [seeds] each
    # later, in another process (a preempted job, a Ctrl-C):
    result = jaxac.Session.resume("runs/x").run()

A session owns what sits around `jaxac.stream.Runner`: the devices the seeds are split over,
the run directory (`config.json`, `metrics.csv`, TensorBoard files, orbax checkpoints) and
its lock (one writer), the checkpoint cadence (every `checkpoint_every` chunks, at the end,
and when stopped), resume (bitwise: a resumed run's metrics equal an uninterrupted one's;
from the newest intact checkpoint, damaged ones set aside), the NaN guard (the run stops at
the first non-finite loss or parameter, keeping the last good checkpoint), SIGTERM and
Ctrl-C (the run stops at the next chunk boundary and saves; see `jaxac.signals`), write
errors (one-line `WriteError` / `CheckpointError`, earlier checkpoints intact) and the
compilation cache (`jaxac.compile_cache`). The CLI is a thin client.

The end-of-run figures are the training episodes' mean return over the last 5% of updates
and, beside it, the deterministic policy's mean return over `eval_episodes` fresh episodes
per seed: on long-episode tasks the training figure counts the early failures that ended
in the window and under-reports a policy that has learned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from jaxac import algos, distributed, parallel, runlock, signals, stream
from jaxac import config as C

CHECKPOINTS = "checkpoints"


class WriteError(OSError):
    """A file of the run directory could not be written (a full disk, a lost mount); the
    message names the path and the cause. Earlier checkpoints are intact."""


@contextlib.contextmanager
def _writing(what: str) -> Iterator[None]:
    """Turns an OSError while writing `what` into a one-line WriteError."""
    try:
        yield
    except WriteError:
        raise
    except OSError as err:
        path = err.filename or what
        raise WriteError(err.errno, f"could not write {path}: {err.strerror or err}") from None


@dataclasses.dataclass(frozen=True)
class Result:
    """What a session's `run` returns. Arrays are numpy with a leading seed axis."""

    state: Any  # every seed's state after the last chunk run (on device)
    metrics: Dict[str, np.ndarray]  # [seeds, updates] from update 1 (a resumed run's history included)
    updates: int  # updates completed
    interrupted: bool  # stopped (SIGTERM, Ctrl-C or `stop`) before the last update
    compile_seconds: float
    train_seconds: float  # this call's chunks
    env_steps_per_second: float  # over all seeds, this call's chunks
    final_return: np.ndarray  # [seeds] training episodes that ended in the last 5% of updates
    eval_return: Optional[np.ndarray]  # [seeds] deterministic policy, eval_episodes each (None: not run)
    signal: Optional[int] = None  # the SIGINT/SIGTERM that stopped the run (None: none)


class Session:
    """Runs `algorithm` (a registered name) with `cfg` over `seeds` seeds (PRNG keys split
    from `seed`). `out`: the run directory (None: nothing is written, no checkpoints);
    `chunk_updates`: updates per compiled chunk (default about 1% of the run);
    `checkpoint_every`: chunks between checkpoints; `devices`: those the seeds are split
    over, a list or a count (default: the most of jax's devices that divide the seeds; on a
    CPU `import jaxac` made one per core, see `jaxac.parallel`); `eval_episodes`: deterministic
    episodes per seed at the end (0: none); `command`: recorded in config.json;
    `compile_cache`: True turns jax's persistent compilation cache on in its default place
    (see `jaxac.compile_cache`), a string is a directory or "off", False leaves jax as it is.
    `members` (`jaxac.sweep.Members`): the seeds are a sweep's members, each with its own
    float settings and key; `programs`: chunk executables by member count, shared by
    sessions of one config shape and devices (a sweep group's batches), reused, not recompiled;
    `check_finite` False: a seed whose loss or parameters become non-finite does not stop
    the others (a sweep marks such members diverged).

    A session with `out` locks the directory from construction to the end of `run` (or
    `close`): a second writer is refused with `jaxac.runlock.RunLocked`.

    In a job of several processes (`jaxac.distributed.initialize` first), every process
    constructs the same session: the members are split over all the job's devices
    (`job_devices`), process 0 writes the files, all take part in checkpoints, and a stop
    (a signal to any of them, or `stop`) is taken jointly at a chunk boundary."""

    def __init__(self, algorithm: str, cfg: Any, seeds: int = 1, seed: int = 0, out: Optional[str] = None,
                 chunk_updates: Optional[int] = None, checkpoint_every: int = 10,
                 devices: Union[None, int, Sequence[Any]] = None, eval_episodes: int = 5,
                 command: Optional[Sequence[str]] = None, compile_cache: Union[bool, str] = True,
                 members: Optional[Any] = None, programs: Optional[Dict[int, Any]] = None,
                 check_finite: bool = True, population: Optional[Any] = None,
                 _resume: bool = False, _checkpoint: Optional[int] = None):
        self.module = algos.get(algorithm)
        if not isinstance(cfg, self.module.Config):
            raise C.ConfigError(f"cfg is a {type(cfg).__name__}, not jaxac.{algorithm}.Config.")
        for name, value, least in (("seeds", seeds, 1), ("checkpoint_every", checkpoint_every, 1),
                                   ("eval_episodes", eval_episodes, 0)):
            if not isinstance(value, int) or value < least:
                raise C.ConfigError(f"{name}={value!r} is invalid: use an integer >= {least}.")
        if chunk_updates is not None and (not isinstance(chunk_updates, int) or chunk_updates < 1):
            raise C.ConfigError(f"chunk_updates={chunk_updates!r} is invalid: use an integer >= 1.")
        if members is not None and len(members) != seeds:
            raise C.ConfigError(f"seeds={seeds} is invalid: the run has {len(members)} sweep members.")
        self.algorithm, self.cfg, self.out, self.members, self.programs = algorithm, cfg, out, members, programs
        self.settings = dict(algorithm=algorithm, seeds=seeds, seed=seed, chunk_updates=chunk_updates,
                             checkpoint_every=checkpoint_every)
        if members is not None:
            self.settings["members"] = members.to_dict()
        if population is not None:
            population = population.for_run(cfg)
            population.check(cfg, seeds, [f.name for f in dataclasses.fields(self.module.State)])
            self.settings["population"] = population.to_dict()
        # a PBT member whose training diverges is replaced at the next exploit step
        self.check_finite, self.population = check_finite and population is None, population
        # a job of several processes trains one run together unless given only this process's
        # devices (a sweep's processes each train their own batches)
        self.process = distributed.current()
        if self.process.count > 1 and (devices is None or isinstance(devices, int)
                                       or parallel.spans_processes(devices)):
            devices = job_devices(seeds, devices)
        else:
            self.process = distributed.Process()
            devices = parallel.member_devices(seeds, devices)
        self.devices, self.eval_episodes, self.command = devices, eval_episodes, command
        self.settings["devices"] = len(devices)  # a resume splits the seeds the same way (same numbers)
        self.resuming, self.checkpoint = _resume, _checkpoint
        if _checkpoint is not None:  # before anything compiles
            from jaxac import checkpoint as ckpt

            ckpt.check_step(self.checkpoint_dir, _checkpoint)
        self.extended_from: Optional[int] = None  # the run's total_steps before `resume(total_steps=...)`
        self.compile_cache = compile_cache
        self.cache_dir: Optional[str] = None  # the compilation cache in use (after `compile`)
        self.cached: Optional[bool] = None  # the chunk executable came from that cache (None: no cache)
        self._runner = self._state = None
        self._done, self._history, self.compile_seconds = 0, {}, 0.0
        self.set_aside: List[Tuple[int, str, str]] = []  # (step, reason, new path) of checkpoints moved
        self._lock = None
        self._final_intact: Optional[bool] = None  # the last update's checkpoint reads back (when resuming)
        if out and not _resume and not isinstance(cfg.env, str):
            warnings.warn(f"{out} records the environment object {C.object_text(cfg.env)} only by its repr: "
                          f"evaluating or resuming it needs the object again (env=...); register a factory "
                          f"(jaxac.register_env) and train on its name to make the run reloadable.",
                          C.JaxacWarning, stacklevel=2)
        if out and not self.finished:  # a finished run is only read
            self._take_lock()  # before anything is written, and before the check below
            if not _resume and os.path.exists(os.path.join(out, CHECKPOINTS)):
                self.close()
                raise C.ConfigError(f"{out} already holds a run: continue it with Session.resume({out!r}) "
                                    f"(`jaxac resume {out}`) or choose another directory.")

    @classmethod
    def resume(cls, out: str, devices: Union[None, int, Sequence[Any]] = None, eval_episodes: int = 5,
               checkpoint: Optional[int] = None, compile_cache: Union[bool, str] = True,
               env: Any = None, total_steps: Optional[int] = None) -> "Session":
        """The session of the run in `out`, to continue from its newest intact checkpoint
        (or from `checkpoint`, an update with a checkpoint). `devices` None: as many as the
        run used, where jax has them (the same split gives bitwise the same numbers). `env`:
        the environment object again, for a run trained on one (a directory records its repr).
        `total_steps`: extends the run (finished or not) to this many env steps per seed,
        rounded down to whole updates as at the start; a learning-rate schedule that decays
        over the run is then stretched over the new length from where it stands."""
        from jaxac import runs

        run = runs.load(out, env)
        s = run.run
        if devices is None and distributed.current().count == 1:
            devices = _recorded_devices(s.get("devices"))
        cfg = run.cfg if total_steps is None else _extended(run.cfg, total_steps)
        session = cls(run.algorithm, cfg, s["seeds"], s["seed"], out, s.get("chunk_updates"),
                      s.get("checkpoint_every", 10), devices, eval_episodes, compile_cache=compile_cache,
                      members=runs.members(run), population=runs.population(run), _resume=True,
                      _checkpoint=checkpoint)
        session.extended_from = run.cfg.total_steps if cfg is not run.cfg else None
        return session

    @property
    def writer(self) -> bool:
        """This process writes the run's files (with several processes, process 0 does;
        every process takes part in its checkpoints)."""
        return self.process.index == 0

    def _joint(self, flag: bool, signum: Optional[int]) -> Tuple[bool, Optional[int]]:
        """(`flag` or-ed over the processes that run this session, the first signal any of them
        caught): a process stopped because another was signalled reports that signal."""
        if self.process.count == 1:
            return flag, signum
        every = parallel.every_process(np.asarray([flag, signum or 0], np.int32))
        signals_caught = [int(s) for s in every[:, 1] if s]
        return bool(every[:, 0].any()), (signals_caught[0] if signals_caught else None)

    def _take_lock(self) -> None:
        if self._lock is None:  # process 0 holds the run's lock, the others one each of their own
            name = runlock.LOCK_FILE if self.writer else f"{runlock.LOCK_FILE}-{self.process.index}"
            self._lock = runlock.acquire(self.out, name)

    def close(self) -> None:
        """Releases the run directory's lock (`run` does at its end)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def seeds(self) -> int:
        return self.settings["seeds"]

    @property
    def checkpoint_dir(self) -> Optional[str]:
        return os.path.join(self.out, CHECKPOINTS) if self.out else None

    @property
    def devices_used(self) -> Sequence[Any]:
        """The devices the seeds are split over (after `compile`)."""
        return self._runner.devices

    @property
    def finished(self) -> bool:
        """A resumed run that stands at its last update (before `compile`: its newest checkpoint,
        or the one asked for, is the last update's and reads back intact; a damaged one is not
        trusted, so the run continues from the newest intact one)."""
        from jaxac import checkpoint

        if self._runner is not None or not self.resuming:
            return self.resuming and self._done >= self.cfg.num_updates
        step = checkpoint.latest_step(self.checkpoint_dir) if self.checkpoint is None else self.checkpoint
        if (step or 0) < self.cfg.num_updates:
            return False
        if self._final_intact is None:
            shapes = self._init_shapes(self.cfg)
            self._final_intact = checkpoint.intact(self.checkpoint_dir, step, shapes, self._meta())
        return self._final_intact

    def _meta(self) -> Dict[str, Any]:
        """What this run's checkpoints record and `restore` checks."""
        from jaxac import runs

        return runs.meta(runs.Run(self.algorithm, self.module, self.cfg, self.settings, {}))

    @property
    def start_update(self) -> int:
        """Updates already done when this session started (after `compile`)."""
        return self._done

    def compile(self) -> float:
        """Initial state of every seed (restored from the newest intact checkpoint when
        resuming: damaged newer ones, and with `checkpoint` the newer ones, are set aside,
        see `set_aside`) and the chunk executable; seconds taken. `run` calls it if needed."""
        from jaxac import checkpoint, compile_cache

        if self._runner is not None:
            return self.compile_seconds
        if self.compile_cache is not False:
            self.cache_dir = compile_cache.enable(None if self.compile_cache is True else self.compile_cache)
        t0 = time.perf_counter()
        runner = self.runner()
        _, _, keys = self.inputs()
        state = runner.init(runner.cfg, keys)  # includes the warm-up steps of off-policy algorithms
        if self.resuming:
            damaged = []
            found = checkpoint.load(self.checkpoint_dir, like=self._shaped_as(state),
                                    expect=self._meta(), step=self.checkpoint,
                                    on_damaged=lambda step, why: damaged.append(step))
            newer = [s for s in checkpoint.steps(self.checkpoint_dir) if s > found.step]
            if newer:
                self._take_lock()
            with _writing(self.checkpoint_dir):  # the run continues from found.step: out of its way
                for step in newer:
                    reason = "damaged" if step in damaged else f"after-{found.step}"
                    path = checkpoint.set_aside(self.checkpoint_dir, step, reason) if self.writer else ""
                    self.set_aside.append((step, reason, path))
            if self.process.count > 1:  # every process has read before anything is written
                distributed.barrier("jaxac-restored")
            state, self._done, self._history = self._lengthened(found), found.step, found.history
        before = compile_cache.counts()
        if self.programs is not None and self.seeds in self.programs:
            runner.executable = self.programs[self.seeds]
        else:
            runner.compile(state)
        if self.programs is not None:
            self.programs[self.seeds] = runner.executable
        self._runner, self._state = runner, state
        self.compile_seconds = time.perf_counter() - t0
        if self.cache_dir:
            new = compile_cache.counts() - before
            self.cached = new["cache_hits"] > 0 and not new["cache_misses"]
        return self.compile_seconds

    def _shaped_as(self, state: Any):
        """The state a checkpoint is read as, by its meta: `state`, or for one written before
        the run was extended, the shapes of a run of the checkpoint's length."""
        import jax

        def like(meta):
            total = meta.get("config", {}).get("total_steps", self.cfg.total_steps)
            if total == self.cfg.total_steps:
                return state
            shapes = self._init_shapes(self.cfg.replace(total_steps=total))
            return jax.tree.map(lambda x, s: x if x.shape == s.shape else np.zeros(s.shape, s.dtype), state, shapes)

        return like

    def _init_shapes(self, cfg: Any) -> Any:
        """The shapes and dtypes of the members' initial state under `cfg` (a PBT run's
        population state included), computed without running anything."""
        import jax

        member_cfg, _, keys = self.inputs(cfg)
        if self.population is not None:
            from jaxac import pbt

            return jax.eval_shape(lambda k: pbt.initial_state(self.module, member_cfg, k, self.population), keys)
        return self.runner(cfg).init_shapes(keys)

    def _lengthened(self, found: Any) -> Any:
        """The restored state as this run's length needs it (an algorithm's `extend` grows what
        is sized to the run, such as SAC's replay buffer)."""
        total = found.meta.get("config", {}).get("total_steps", self.cfg.total_steps)
        extend = getattr(self.module, "extend", None)
        if total == self.cfg.total_steps or extend is None:
            return found.state
        import jax

        state = found.state
        learner = getattr(state, "learner", state)  # a PBT population's members
        grown = jax.jit(jax.vmap(lambda s: extend(s, self.cfg)))(learner)
        return state.replace(learner=grown) if learner is not state else grown

    def inputs(self, cfg: Any = None):
        """(config, its vmap axes, keys) of the members (`jaxac.sweep.inputs`), of this run's
        config or of `cfg`."""
        from jaxac import sweep

        return sweep.inputs(self.cfg if cfg is None else cfg, self.seeds, self.settings["seed"], self.members)

    def runner(self, cfg: Any = None) -> stream.Runner:
        """A new `jaxac.stream.Runner` for this session's members and devices (uncompiled), of
        this run's config or of `cfg`."""
        cfg, axes, _ = self.inputs(cfg)
        if self.population is not None:
            from jaxac import pbt

            return pbt.PopulationRunner(self.module, cfg, self.seeds, self.devices, self.population)
        return stream.Runner(self.module, cfg, self.seeds, self.settings["chunk_updates"], self.devices, axes)

    def env_steps(self, updates: int) -> int:
        """Env steps per seed after `updates` updates (warm-up included)."""
        return self.cfg.warmup_steps + updates * self.cfg.steps_per_update

    def run(self, on_chunk: Optional[Callable[[stream.Progress], Any]] = None,
            stop: Optional[Callable[[], bool]] = None, catch_interrupt: bool = True) -> Result:
        """Trains from where the session stands to the last update. `on_chunk(progress)`
        runs after every chunk (after its logs, before its checkpoint); `stop()` true after
        a chunk's `on_chunk` ends the run there, as SIGINT (Ctrl-C) or SIGTERM do with
        `catch_interrupt` (the state is saved first when the session has a run directory; a
        second signal ends the process at once, see `jaxac.signals`). A finished run (resumed
        at its last update) writes nothing.

        Raises `jaxac.stream.NonFiniteError` at the first non-finite loss or parameter (its
        `last_checkpoint` is the update of the last good checkpoint kept, None: none), and
        `WriteError` or `jaxac.checkpoint.CheckpointError` when a file cannot be written.
        """
        try:
            return self._run(on_chunk, stop, catch_interrupt)
        finally:
            self.close()

    def _run(self, on_chunk, stop, catch_interrupt) -> Result:
        from jaxac import checkpoint
        from jaxac import logging as run_logs
        from jaxac.summary import final_return

        self.compile()
        cfg, out, runner = self.cfg, self.out, self._runner
        meta = self._meta()
        first, seen = self._done, 0
        writes = bool(out) and first < cfg.num_updates  # a finished run changes no file
        if writes:
            self._take_lock()
        writes_files = writes and self.writer  # checkpoints: every process; files: process 0
        if writes_files and not self.resuming:
            with _writing(os.path.join(out, "config.json")):
                run_logs.write_config(os.path.join(out, "config.json"), self.algorithm, cfg,
                                      run=self.settings, command=list(self.command or []))
        if writes_files and self.extended_from is not None:  # the run's record says its new length
            path = os.path.join(out, "config.json")
            with _writing(path):
                from jaxac import runs

                lengths = runs.record(out).get("extended_from", []) + [self.extended_from]
                run_logs.update_config(path, config=C.to_dict(cfg), extended_from=lengths)
        chunks = [self._history] if self._history else []
        stopped = threading.Event()  # a stop request from `stop` or a signal
        board = None
        if writes_files:
            with _writing(os.path.join(out, "tb")):
                board = run_logs.TensorBoard(os.path.join(out, "tb"), self.seeds,
                                             purge_step=self.env_steps(first) + 1 if self.resuming else None,
                                             runs=self.members.board_runs() if self.members else None)

        def save(progress):
            merged = stream.concat(chunks)
            checkpoint.save(self.checkpoint_dir, progress.update, progress.state, meta, history=merged)
            if not self.writer:
                return
            with _writing(os.path.join(out, "metrics.csv")):
                run_logs.write_metrics_csv(os.path.join(out, "metrics.csv"), merged, cfg.steps_per_update,
                                           np.arange(self.seeds), first_step=cfg.warmup_steps)
            if self.population is not None:
                from jaxac import pbt

                with _writing(os.path.join(out, "lineage.csv")):
                    run_logs.write_rows(os.path.join(out, "lineage.csv"),
                                        pbt.lineage(merged, self.population.ready, progress.update))

        joint_signal = None  # the signal that stopped this run, in whichever process it arrived

        def each_chunk(progress):
            nonlocal seen
            chunks.append(progress.metrics)
            seen += 1
            if board:
                with _writing(os.path.join(out, "tb")):
                    board.write(progress.env_steps, progress.metrics)
            if on_chunk:
                on_chunk(progress)
            # every process must save the same chunks: a stop is decided jointly
            nonlocal joint_signal
            joint, joint_signal = self._joint(stopped.is_set() or bool(stop and stop()), caught.signum)
            if joint:
                stopped.set()
            if out and (seen % self.settings["checkpoint_every"] == 0 or progress.update == cfg.num_updates
                        or stopped.is_set()):
                save(progress)

        t0 = time.perf_counter()
        guard = (signals.stop_on_signals(stopped, self._second_signal()) if catch_interrupt
                 else contextlib.nullcontext(signals.Caught()))
        try:
            with guard as caught:
                state, _, done = runner.run(self._state, first, each_chunk, stop=stopped.is_set,
                                            check_finite=self.check_finite)
                if done < cfg.num_updates and joint_signal is None:  # all stopped together: which signal?
                    _, joint_signal = self._joint(True, caught.signum)
        except BaseException as err:
            if isinstance(err, stream.NonFiniteError):
                err.last_checkpoint = checkpoint.latest_step(self.checkpoint_dir) if out else None
                err.checkpoint_dir = self.checkpoint_dir
            if board:
                with contextlib.suppress(OSError):  # the first error is the one to report
                    board.close()
            raise
        finally:
            self._state = None  # donated to the chunks: a session runs once
        if board:
            with _writing(os.path.join(out, "tb")):
                board.close()
        train_s = time.perf_counter() - t0
        metrics = stream.concat(chunks)
        self._done, self._state, self._history, self.resuming = done, state, metrics, True
        finals = final_return(metrics) if metrics else np.full(self.seeds, np.nan)
        interrupted = done < cfg.num_updates
        evals = None if interrupted or not self.eval_episodes else self.evaluate(state)
        steps = self.seeds * (done - first) * cfg.steps_per_update
        result = Result(state, metrics, done, interrupted, self.compile_seconds, train_s,
                        steps / max(train_s, 1e-9), np.asarray(finals), evals, caught.signum or joint_signal)
        if writes_files and not interrupted:
            with _writing(os.path.join(out, "config.json")):
                run_logs.update_config(
                    os.path.join(out, "config.json"), compile_seconds=self.compile_seconds, train_seconds=train_s,
                    final_return_per_seed=[float(x) for x in finals],
                    eval_return_per_seed=None if evals is None else [float(x) for x in evals])
        return result

    def _second_signal(self) -> str:
        """What a second signal's one line says."""
        if not self.out:
            return "exiting (no run directory: nothing was saved)"
        return f"exiting without saving; resume from the newest checkpoint with: jaxac resume {self.out}"

    def evaluate(self, state: Any, episodes: Optional[int] = None, seed: Optional[int] = None) -> np.ndarray:
        """Every seed's deterministic policy: mean return over `episodes` (default
        `eval_episodes`) fresh episodes, [seeds]. Episode keys come from `seed` (default: the
        run's seed, folded so they differ from training's)."""
        import functools

        import jax

        from jaxac import evaluate

        n = episodes or self.eval_episodes
        key = jax.random.fold_in(jax.random.key(self.settings["seed"] if seed is None else seed), 1)
        keys = jax.random.split(key, self.seeds)
        if self.members is not None:  # seed r's episodes are those of seed r in every setting
            keys = jax.random.split(key, self.members.key_count)[np.asarray(self.members.seeds)]
        from jaxac import pbt

        fn = functools.partial(evaluate.episodes, self.module, num_episodes=n)
        devices, cfg, axes = self.devices_used, self._runner.device_cfg, self._runner.cfg_axes
        if self.population is not None:  # each member with its current hyperparameters
            cfg, axes, state = pbt.acting(self.cfg, state, self.population)
        returns, _ = parallel.over_seeds(fn, (axes, 0, 0), devices)(cfg, state, parallel.place(keys, devices))
        return parallel.host(returns).mean(1)


def _extended(cfg: Any, total_steps: int) -> Any:
    """`cfg` lengthened to `total_steps` (itself when that adds no update); ConfigError for a
    shorter run."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < cfg.total_steps:
        raise C.ConfigError(f"--total-steps {total_steps!r} is invalid: the run has total_steps={cfg.total_steps}; "
                            f"a resume extends a run, so give more.")
    longer = cfg.replace(total_steps=total_steps)
    return cfg if longer.num_updates == cfg.num_updates else longer


def _recorded_devices(count: Optional[int]) -> Optional[int]:
    """The device count a run recorded, if jax has that many (else None: the default)."""
    import jax

    return count if count and count <= len(jax.devices()) else None


def job_devices(seeds: int, devices: Union[None, int, Sequence[Any]] = None) -> Tuple[Any, ...]:
    """The devices of a job of several processes that `seeds` members are split over: `devices`
    (default every device of the job; a count must be this process's), checked to include each
    process's and to divide the members evenly (ConfigError naming the fix otherwise)."""
    import jax

    if isinstance(devices, int):
        local = len(jax.local_devices())
        if devices != local:
            raise C.ConfigError(f"devices={devices} is invalid in a job of {jax.process_count()} processes: each "
                                f"uses its {local} local device(s); leave the count out.")
        devices = None
    devices = tuple(jax.devices() if devices is None else devices)
    missing = sorted(set(range(jax.process_count())) - {d.process_index for d in devices})
    if missing:
        raise C.ConfigError(f"the devices given leave out process {missing[0]}: every process of the job "
                            f"must train a share (pass no devices to use all {len(jax.devices())}).")
    if seeds % len(devices):
        raise C.ConfigError(f"{seeds} seeds/members do not split evenly over the job's {len(devices)} devices "
                            f"({jax.process_count()} processes): use a multiple of {len(devices)}.")
    return devices
