"""Sweeps: settings x seeds trained as the vmapped members of one compiled program per group.

    spec = jaxac.sweep.Spec.parse(grids=["optim.learning_rate=1e-4,2.5e-4,1e-3"], samples=[])
    result = jaxac.Sweep("ppo", cfg, spec, seeds=8, out="sw").run()
    result.table[0]                      # the best setting: its values, eval_return_mean, ci, iqm
    jaxac.Sweep.resume("sw").run()       # after Ctrl-C, SIGTERM or SIGKILL, in a new process

Member m is setting m // seeds with seed m % seeds; seed r of every setting trains with key
r of `jax.random.split(jax.random.key(seed), seeds)`, as seed r of `jaxac train --seeds
SEEDS` does, so a member equals that run's seed (float rounding) and the settings are
compared on common seeds. The swept float fields are arrays over the members inside the
program; structural fields (sizes, `num_envs`, the critic) split the settings into groups,
one program each, run one after another.

Memory: a group's members run in batches that fit. Before allocating anything, jaxac
compiles the chunk for the largest batch asked for (`max_members`), reads XLA's memory
analysis of it (arguments, outputs and temporaries per device), and shrinks the batch until
it fits in the memory available (on CPU devices `MemAvailable`, on accelerators the
device's free memory; `memory_limit` bytes overrides). The batches of a group share one
program (a smaller last batch gets its own).

Processes: in a `jax.distributed` job each process trains its own share of every group's
members (contiguous blocks), on its local devices, and writes its batches' run directories
into the shared sweep directory; members need no communication, so none is paid for. After
a barrier, process 0 reads every batch's results and writes the summary.

The sweep directory:
    sweep.json          algorithm, base config, spec, seeds, settings, command, versions
    runs/g<G>-m<M>/     one `jaxac.Session` run directory per batch (G: group, M: its first
                        member): config.json (with its members), metrics.csv (seed column:
                        the member's place in the batch), tb/ (one run per setting),
                        checkpoints/, results.json (per-member figures once finished)
    members.csv         one row per member: setting, seed, batch, swept values, returns
    summary.csv         one row per setting, best first: swept values, eval_return_mean,
                        ci_low, ci_high (95% bootstrap over seeds), iqm, seeds, train_return_mean
    scores.json         per-seed final scores, {env: {setting label: [score per seed]}}

The eval return of a member is its deterministic policy's mean over `eval_episodes`
evaluation episodes whose keys are folded away from every training key; the training
episodes' return over the last 5% of updates is the second column.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import shutil
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from jaxac import algos, distributed, runlock, signals
from jaxac import config as C
from jaxac import sweep as S

SPEC_FILE = "sweep.json"
RUNS = "runs"
RESULTS = "results.json"


@dataclasses.dataclass(frozen=True)
class Batch:
    """Members (ids: setting * seeds + seed) of one group trained in one call."""

    group: int
    ids: Tuple[int, ...]

    @property
    def name(self) -> str:
        return f"g{self.group}-m{self.ids[0]:05d}"


@dataclasses.dataclass(frozen=True)
class Progress:
    """What `on_chunk` sees: the batch and its chunk's progress (`jaxac.stream.Progress`)."""

    batch: Batch
    index: int  # of this process's batches
    batches: int
    chunk: Any


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What `Sweep.run` returns: per setting and seed, the final figures, and the ranked table."""

    settings: List[Dict[str, Any]]
    eval_return: np.ndarray  # [settings, seeds] deterministic policy (NaN: diverged, or not trained here)
    train_return: np.ndarray  # [settings, seeds] training episodes, last 5% of updates
    diverged: np.ndarray  # [settings, seeds] a loss or parameter became non-finite
    table: List[Dict[str, Any]]  # summary rows, best first (empty while unfinished)
    interrupted: bool
    signal: Optional[int]
    batches: List[Batch]  # this process's
    programs: int  # chunk programs this process compiled
    seconds: float


def default_budget(devices: Sequence[Any]) -> int:
    """Bytes a batch may use over all `devices`: 70% of the host's available memory for CPU
    devices (they share it), else 90% of the least free accelerator memory times the count."""
    if devices[0].platform == "cpu":
        return int(0.7 * available_host_memory())
    free = []
    for d in devices:
        stats = d.memory_stats() or {}
        free.append(stats.get("bytes_limit", 0) - stats.get("bytes_in_use", 0))
    return int(0.9 * min(free) * len(devices)) if min(free) > 0 else int(0.7 * available_host_memory())


def available_host_memory() -> int:
    """MemAvailable from /proc/meminfo (the physical memory size where there is none)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def whole(count: int, devices: int) -> int:
    """`count` rounded down to a multiple of `devices` (a shard is a whole number of members)."""
    return count if count < devices else count - count % devices


class Sweep:
    """`spec`'s settings of `cfg` x `seeds` seeds of `algorithm`. `out`: the sweep directory
    (None: nothing written); `max_members`: the most members in one call; `memory_limit`:
    bytes a batch may use (default: see `default_budget`); `devices`: this process's devices
    the members are split over, a list or a count (default: every local device); `eval_episodes` (>= 1): the
    deterministic episodes behind each member's eval return. The rest as for
    `jaxac.Session`. Everything is checked here, before anything compiles."""

    def __init__(self, algorithm: str, cfg: Any, spec: S.Spec, seeds: int = 1, seed: int = 0,
                 out: Optional[str] = None, chunk_updates: Optional[int] = None, checkpoint_every: int = 10,
                 eval_episodes: int = 5, max_members: Optional[int] = None, memory_limit: Optional[int] = None,
                 devices: Union[None, int, Sequence[Any]] = None, compile_cache: Union[bool, str] = True,
                 command: Optional[Sequence[str]] = None, _resume: bool = False,
                 _settings: Optional[List[Dict[str, Any]]] = None):
        module = algos.get(algorithm)
        if not isinstance(cfg, module.Config):
            raise C.ConfigError(f"cfg is a {type(cfg).__name__}, not jaxac.{algorithm}.Config.")
        for name, value in (("seeds", seeds), ("eval_episodes", eval_episodes), ("checkpoint_every", checkpoint_every)):
            if not isinstance(value, int) or value < 1:
                raise C.ConfigError(f"{name}={value!r} is invalid: use an integer >= 1.")
        for name, value in (("max_members", max_members), ("memory_limit", memory_limit)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise C.ConfigError(f"{name}={value!r} is invalid: use an integer >= 1 (or leave it unset).")
        spec.check(cfg)
        self.algorithm, self.module, self.cfg, self.spec = algorithm, module, cfg, spec
        self.seeds, self.seed, self.out = seeds, seed, out
        self.chunk_updates, self.checkpoint_every, self.eval_episodes = chunk_updates, checkpoint_every, eval_episodes
        self.max_members, self.memory_limit, self.devices = max_members, memory_limit, devices
        self.compile_cache, self.command, self.resuming = compile_cache, list(command or []), _resume
        self.settings = spec.settings(seed) if _settings is None else _settings  # resumed: as recorded
        self.groups = S.group_indices(cfg, self.settings)
        self._lock = None
        if isinstance(devices, int):  # a count this process cannot have is refused before anything runs
            self.local_devices()
        if out:
            if not _resume and os.path.exists(os.path.join(out, SPEC_FILE)):
                raise C.ConfigError(f"{out} already holds a sweep: continue it with `jaxac resume {out}` "
                                    f"or choose another directory.")

    @classmethod
    def resume(cls, out: str, **kwargs: Any) -> "Sweep":
        """The sweep in `out`, to continue: finished batches are kept, the others resume
        from their newest intact checkpoint. `kwargs`: devices, max_members, memory_limit,
        eval_episodes, compile_cache."""
        from jaxac import runs

        rec = record(out)
        module = algos.get(rec["algorithm"])
        cfg = runs.config_of(module.Config, rec, out)
        spec = S.Spec.parse(rec["spec"]["grids"], rec["spec"]["samples"], rec["spec"]["trials"])
        run = rec["run"]
        options = dict(seeds=run["seeds"], seed=run["seed"], chunk_updates=run["chunk_updates"],
                       checkpoint_every=run["checkpoint_every"], eval_episodes=run["eval_episodes"],
                       max_members=run.get("max_members"))
        options.update({k: v for k, v in kwargs.items() if v is not None})
        settings = [{p: tuple(v) if isinstance(v, list) else v for p, v in s.items()} for s in rec["settings"]]
        return cls(rec["algorithm"], cfg, spec, out=out, command=rec.get("command"), _resume=True,
                   _settings=settings, **options)

    @property
    def members(self) -> int:
        return len(self.settings) * self.seeds

    def group_config(self, group: int) -> Any:
        return C.replace(self.cfg, **self.groups[group][0])

    def members_of(self, batch: Batch) -> S.Members:
        floats = tuple(S.split(self.cfg, self.settings[m // self.seeds])[1] for m in batch.ids)
        return S.Members(floats, tuple(m % self.seeds for m in batch.ids), self.seeds, batch.ids)

    def local_devices(self) -> List[Any]:
        """The devices this process splits its members over (`devices`: a list, a count, or
        None: every local device; see `jaxac.parallel.member_devices`)."""
        from jaxac import parallel

        return list(parallel.member_devices(self.members, self.devices, local=True))

    def _write_record(self) -> None:
        from jaxac import logging as run_logs

        os.makedirs(self.out, exist_ok=True)
        spec = {"grids": [_grid_text(g) for g in self.spec.grids],
                "samples": [_sample_text(s) for s in self.spec.samples],
                "trials": self.spec.trials if self.spec.samples else None}
        run_logs.write_config(os.path.join(self.out, SPEC_FILE), self.algorithm, self.cfg, spec=spec,
                              run=dict(seeds=self.seeds, seed=self.seed, chunk_updates=self.chunk_updates,
                                       checkpoint_every=self.checkpoint_every, eval_episodes=self.eval_episodes,
                                       max_members=self.max_members),
                              settings=self.settings, groups=[fixed for fixed, _ in self.groups],
                              command=self.command)

    def _done_batches(self) -> Dict[int, List[Batch]]:
        """Batches already in the directory, by group (their members are kept as they are)."""
        out: Dict[int, List[Batch]] = {}
        root = os.path.join(self.out, RUNS) if self.out else None
        if not root or not os.path.isdir(root):
            return out
        for name in sorted(os.listdir(root)):
            try:
                with open(os.path.join(root, name, "config.json")) as fh:
                    ids = tuple(json.load(fh)["run"]["members"]["ids"])
            except (OSError, ValueError, KeyError):
                continue  # killed before its config was written: its members are planned again
            group = int(name.split("-")[0][1:])
            out.setdefault(group, []).append(Batch(group, ids))
        return out

    def _budget(self, devices: Sequence[Any]) -> int:
        return self.memory_limit or default_budget(devices)

    def _plan(self, group: int, ids: List[int], devices: Sequence[Any], programs: Dict[int, Any]) -> List[Batch]:
        """`ids` of `group` in batches that fit (compiling the chunk for the batch size on
        the way: the program is kept in `programs` for the batches to reuse)."""
        if not ids:
            return []
        size = min(len(ids), self.max_members or len(ids))  # the runner uses the devices that divide it
        budget = self._budget(devices)
        while True:
            need = self._bytes(group, Batch(group, tuple(ids[:size])), devices, programs)
            if need <= budget or size == 1:
                break
            size = whole(max(1, int(size * budget / need)), len(devices))
        count = -(-len(ids) // size)
        if count > 1:  # equal batches, each a whole number of members per device, where that allows
            size = min(size, -(-len(ids) // count))
            size = whole(size, len(devices)) if size >= len(devices) else size
            count = -(-len(ids) // size)
        return [Batch(group, tuple(ids[i * size:(i + 1) * size])) for i in range(count)]

    def _bytes(self, group: int, batch: Batch, devices: Sequence[Any], programs: Dict[int, Any]) -> int:
        """Peak bytes of one chunk of `batch` over the devices it runs on (compiled from
        shapes alone: nothing is allocated)."""
        from jaxac import session as session_mod

        probe = session_mod.Session(self.algorithm, self.group_config(group), len(batch.ids), self.seed,
                                    chunk_updates=self.chunk_updates, devices=devices, eval_episodes=0,
                                    compile_cache=False, members=self.members_of(batch))
        runner = probe.runner()
        if len(batch.ids) not in programs:
            _, _, keys = probe.inputs()
            runner.compile(runner.init_shapes(keys))
            programs[len(batch.ids)] = runner.executable
        runner.executable = programs[len(batch.ids)]
        return runner.memory_bytes() * len(runner.devices)

    def plan(self, process: Optional[distributed.Process] = None,
             programs: Optional[Dict[int, Dict[int, Any]]] = None) -> List[Batch]:
        """This process's batches: those in the directory (shared out in turn), then its
        block of each group's remaining members in batches that fit."""
        process = process or distributed.current()
        programs = {} if programs is None else programs
        devices = self.local_devices()
        done = self._done_batches()
        mine: List[Batch] = []
        for group, (_, settings) in enumerate(self.groups):
            found = done.get(group, [])
            mine += [b for i, b in enumerate(found) if i % process.count == process.index]
            covered = {m for b in found for m in b.ids}
            ids = [s * self.seeds + r for s in settings for r in range(self.seeds)]
            rest = [m for m in ids if m not in covered]
            block = [list(map(int, part)) for part in np.array_split(rest, process.count)][process.index]
            mine += self._plan(group, block, devices, programs.setdefault(group, {}))
        return mine

    def run(self, on_chunk: Optional[Callable[[Progress], Any]] = None,
            on_batch: Optional[Callable[[int, int, Batch], Any]] = None,
            stop: Optional[Callable[[], bool]] = None, catch_interrupt: bool = True) -> SweepResult:
        """Trains every batch of this process (a finished batch is read, not retrained),
        then, on process 0 after every process has finished, writes members.csv,
        summary.csv and scores.json. `on_batch(index, count, batch)` runs before each batch,
        `on_chunk(Progress)` after each chunk; SIGINT/SIGTERM (with `catch_interrupt`) or
        `stop()` end the sweep at the next chunk boundary, saved."""
        from jaxac import compile_cache as cache

        t0 = time.perf_counter()
        process = distributed.current()
        if self.out:
            os.makedirs(self.out, exist_ok=True)
            self._lock = runlock.acquire(self.out, name=f".lock-{process.index}")
        try:
            if self.compile_cache is not False:
                cache.enable(None if self.compile_cache is True else self.compile_cache)
            if self.out and process.index == 0 and not self.resuming:
                self._write_record()
            stopped = threading.Event()
            guard = (signals.stop_on_signals(stopped, self._second_signal()) if catch_interrupt
                     else contextlib.nullcontext(signals.Caught()))
            with guard as caught:
                result = self._run(process, on_chunk, on_batch, lambda: stopped.is_set() or bool(stop and stop()))
            return dataclasses.replace(result, signal=caught.signum, seconds=time.perf_counter() - t0)
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def _second_signal(self) -> str:
        if not self.out:
            return "exiting (no sweep directory: nothing was saved)"
        return f"exiting without saving; resume from the newest checkpoints with: jaxac resume {self.out}"

    def _run(self, process, on_chunk, on_batch, stop) -> SweepResult:
        from jaxac.session import Session

        programs: Dict[int, Dict[int, Any]] = {}
        batches = self.plan(process, programs)
        devices = self.local_devices()
        eval_r = np.full((len(self.settings), self.seeds), np.nan)
        train_r = np.full_like(eval_r, np.nan)
        diverged = np.zeros(eval_r.shape, bool)
        interrupted = False
        for index, batch in enumerate(batches):
            if stop():
                interrupted = True
                break
            if on_batch:
                on_batch(index, len(batches), batch)
            out = os.path.join(self.out, RUNS, batch.name) if self.out else None
            found = _results(out)
            if found is not None:
                _fill(eval_r, train_r, diverged, self.seeds, found)
                continue
            resume = bool(out) and _has_checkpoint(out)
            if out and not resume:  # killed before its first checkpoint was whole: start it afresh
                shutil.rmtree(os.path.join(out, "checkpoints"), ignore_errors=True)
            session = Session(self.algorithm, self.group_config(batch.group), len(batch.ids), self.seed, out,
                              self.chunk_updates, self.checkpoint_every, devices, self.eval_episodes,
                              command=self.command, compile_cache=False, members=self.members_of(batch),
                              programs=programs.setdefault(batch.group, {}), check_finite=False,
                              _resume=resume)
            chunk_cb = (lambda p, b=batch, i=index: on_chunk(Progress(b, i, len(batches), p))) if on_chunk else None
            result = session.run(on_chunk=chunk_cb, stop=stop, catch_interrupt=False)
            if result.interrupted:
                interrupted = True
                break
            bad = non_finite_members(result)
            found = {"ids": list(batch.ids),
                     "eval_return": [float("nan") if b else float(x) for x, b in zip(result.eval_return, bad)],
                     "train_return": [float("nan") if b else float(x) for x, b in zip(result.final_return, bad)],
                     "diverged": [bool(b) for b in bad]}
            if out:
                from jaxac import logging as run_logs

                run_logs.write_json(os.path.join(out, RESULTS), found)
            _fill(eval_r, train_r, diverged, self.seeds, found)
        table: List[Dict[str, Any]] = []
        if not interrupted:
            distributed.barrier(f"jaxac-sweep-{self.out or ''}")
            if process.count > 1 and self.out:  # the other processes' members, from their batches
                eval_r, train_r, diverged = self._gather()
            if process.index == 0 and (np.isfinite(eval_r) | diverged).all():
                table = summary_rows(self.settings, eval_r, train_r, diverged, self.swept())
                if self.out:
                    self._write_summary(eval_r, train_r, diverged, table)
        return SweepResult(self.settings, eval_r, train_r, diverged, table, interrupted, None, batches,
                           sum(len(p) for p in programs.values()), 0.0)

    def swept(self) -> List[str]:
        """The swept fields' paths, grids then samples."""
        return [g.path for g in self.spec.grids] + [s.path for s in self.spec.samples]

    def _gather(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        eval_r = np.full((len(self.settings), self.seeds), np.nan)
        train_r = np.full_like(eval_r, np.nan)
        diverged = np.zeros(eval_r.shape, bool)
        root = os.path.join(self.out, RUNS)
        for name in sorted(os.listdir(root)):
            found = _results(os.path.join(root, name))
            if found is not None:
                _fill(eval_r, train_r, diverged, self.seeds, found)
        return eval_r, train_r, diverged

    def _write_summary(self, eval_r: np.ndarray, train_r: np.ndarray, diverged: np.ndarray,
                       table: List[Dict[str, Any]]) -> None:
        swept = self.swept()
        write_csv(os.path.join(self.out, "summary.csv"), table)
        batch_of = {}
        root = os.path.join(self.out, RUNS)
        for name in sorted(os.listdir(root)):
            found = _results(os.path.join(root, name))
            for m in (found or {}).get("ids", []):
                batch_of[m] = name
        rows = []
        for s, setting in enumerate(self.settings):
            for r in range(self.seeds):
                m = s * self.seeds + r
                rows.append({"member": m, "setting": s, "seed": r, "batch": batch_of.get(m, ""),
                             **{p: show(setting[p]) for p in swept},
                             "eval_return": eval_r[s, r], "train_return": train_r[s, r],
                             "diverged": bool(diverged[s, r])})
        write_csv(os.path.join(self.out, "members.csv"), rows)
        from jaxac import logging as run_logs

        run_logs.write_json(os.path.join(self.out, "scores.json"), scores(self.cfg.env, self.algorithm,
                                                                          self.settings, swept, eval_r))


def _has_checkpoint(out: str) -> bool:
    from jaxac import checkpoint

    return checkpoint.latest_step(os.path.join(out, "checkpoints")) is not None


def _results(out: Optional[str]) -> Optional[Dict[str, Any]]:
    """A finished batch's results.json (None: not finished, or no directory)."""
    if not out:
        return None
    try:
        with open(os.path.join(out, RESULTS)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _fill(eval_r: np.ndarray, train_r: np.ndarray, diverged: np.ndarray, seeds: int,
          found: Dict[str, Any]) -> None:
    bad = found.get("diverged", [False] * len(found["ids"]))
    for m, e, t, b in zip(found["ids"], found["eval_return"], found["train_return"], bad):
        at = (m // seeds, m % seeds)
        eval_r[at], train_r[at], diverged[at] = e, t, b


def non_finite_members(result: Any) -> np.ndarray:
    """[members] bool: a loss metric or a parameter of the member became NaN or infinite
    (its state is then meaningless, and its returns are not counted)."""
    import jax

    from jaxac import stream

    bad = np.zeros(len(result.final_return), bool)
    for name, values in result.metrics.items():
        if name not in stream.EPISODE_METRICS:
            bad |= ~np.isfinite(np.asarray(values)).all(1)
    finite = jax.jit(jax.vmap(stream.params_finite))(result.state.params)
    return bad | ~np.asarray(finite)


def show(value: Any) -> Any:
    """A setting's value as a table cell (a tuple as `64,64`)."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


def label(setting: Dict[str, Any], swept: Sequence[str]) -> str:
    """`learning_rate=0.0003 ent_coef=0.01`: a setting's swept values, by their last name."""
    return " ".join(f"{p.split('.')[-1]}={show(setting[p])}" for p in swept)


def summary_rows(settings: Sequence[Dict[str, Any]], eval_r: np.ndarray, train_r: np.ndarray,
                 diverged: np.ndarray, swept: Sequence[str]) -> List[Dict[str, Any]]:
    """One row per setting, best eval return first: swept values, eval_return_mean (the
    deterministic policy's), ci_low,
    ci_high (95% bootstrap over seeds), iqm, seeds, train_return_mean, diverged (seeds whose
    training became non-finite: the setting's figures are then NaN and it ranks last),
    setting (its index)."""
    from jaxac.plot import bootstrap_ci, iqm

    rows = []
    for s, setting in enumerate(settings):
        bad = int(diverged[s].sum())
        lo, hi = bootstrap_ci(eval_r[s], seed=s) if not bad else (float("nan"), float("nan"))
        rows.append({**{p: show(setting[p]) for p in swept},
                     "eval_return_mean": float(np.mean(eval_r[s])) if not bad else float("nan"),
                     "ci_low": lo, "ci_high": hi, "iqm": iqm(eval_r[s]) if not bad else float("nan"),
                     "seeds": int(eval_r.shape[1]),
                     "train_return_mean": float(np.nanmean(train_r[s])) if not bad and np.isfinite(train_r[s]).any()
                     else float("nan"),
                     "diverged": bad, "setting": s})
    return sorted(rows, key=lambda r: (bool(r["diverged"]), -np.nan_to_num(r["eval_return_mean"], nan=-np.inf),
                                       r["setting"]))


def scores(env: str, algorithm: str, settings: Sequence[Dict[str, Any]], swept: Sequence[str],
           eval_r: np.ndarray) -> Dict[str, Dict[str, List[float]]]:
    """Per-seed final scores as rliable-style tools read them: {task: {algorithm: [seeds]}},
    one algorithm entry per setting (`ppo learning_rate=0.001`)."""
    return {env: {f"{algorithm} {label(s, swept)}": [float(x) for x in eval_r[i]] for i, s in enumerate(settings)}}


def write_csv(path: str, rows: Sequence[Dict[str, Any]]) -> None:
    """Writes `rows` (dicts with the same keys) to `path` atomically."""
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def record(out: str) -> Dict[str, Any]:
    """`out/sweep.json` (ConfigError if absent)."""
    path = os.path.join(out, SPEC_FILE)
    try:
        with open(path) as fh:
            rec = json.load(fh)
        rec["algorithm"], rec["config"], rec["spec"], rec["run"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise C.ConfigError(f"{out} is not a jaxac sweep directory ({path}: {err}).") from None
    return rec


def is_sweep(path: str) -> bool:
    """Whether `path` is a sweep directory (it has the sweep's spec file)."""
    return os.path.exists(os.path.join(path, SPEC_FILE))


def _grid_text(g: S.Grid) -> str:
    if any(isinstance(v, tuple) for v in g.values):
        return f"{g.path}=" + ":".join(",".join(map(str, v)) for v in g.values)
    return f"{g.path}=" + ",".join(map(repr, g.values))


def _sample_text(s: S.Sample) -> str:
    if s.distribution == "choice":
        return f"{s.path}=choice:" + ",".join(map(repr, s.args))
    return f"{s.path}={s.distribution}:{s.args[0]!r}:{s.args[1]!r}"


def format_table(rows: Sequence[Dict[str, Any]], top: Optional[int] = None) -> str:
    """The ranked summary as aligned text."""
    rows = list(rows)[:top] if top else list(rows)
    if not rows:
        return "(no finished settings)"
    names = [k for k in rows[0] if k != "setting"]
    cells = [[f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in names] for r in rows]
    widths = [max(len(n), *(len(c[i]) for c in cells)) for i, n in enumerate(names)]
    lines = ["rank  " + "  ".join(n.rjust(w) for n, w in zip(names, widths))]
    lines += [f"{i + 1:>4}  " + "  ".join(c.rjust(w) for c, w in zip(cell, widths)) for i, cell in enumerate(cells)]
    return "\n".join(lines)
