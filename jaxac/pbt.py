"""Population-based training (Jaderberg et al. 2017): exploit and explore across the member axis.

    hypers = [pbt.Hyper.parse("optim.learning_rate=loguniform:1e-5:1e-2")]
    values, state, parents = pbt.exploit_explore(key, fitness, values, state, hypers, pbt.Explore())

A population is the vmapped member axis of a run: `values` holds each member's current
hyperparameters ({path: [P]}, float fields of the config, nested ones included) and `state`
its whole learner state (leaves [P, ...]). Every `ready` updates the members are ranked by
`fitness` [P]; each member of the bottom `fraction` copies the whole state of a member drawn
from the top `fraction` (parameters, optimiser moments, target networks, observation
statistics: everything in the state, bit for bit, but its own PRNG key, so that the copy does
not repeat its donor's episodes) and its hyperparameters, then explores:
with probability `resample` it draws each hyperparameter afresh within its bounds, otherwise
it multiplies it by one of the `perturb` factors (drawn per hyperparameter) and clips it to
the bounds. The others keep their state and values. The step is array code on [P] leaves,
so inside a jitted program it runs on a population sharded over devices too, those of
several processes included (XLA gathers what the copies need; `jaxac.distributed`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
from flax import struct as flax_struct

from jaxac import config as C
from jaxac import parallel, stream, sweep
from jaxac.types import Array, PRNGKey

PERIODS = 20  # exploit steps of a run whose `ready` is not given
MANY_STEPS = 200  # more exploit steps than this: a warning (slow chunks, few episodes per ranking)


@dataclasses.dataclass(frozen=True)
class Hyper:
    """A hyperparameter PBT moves: a float config field and its bounds (`log`: drawn and
    bounded on a log scale)."""

    path: str
    low: float
    high: float
    log: bool = False

    @classmethod
    def parse(cls, item: str) -> "Hyper":
        """`FIELD=uniform:LOW:HIGH` or `FIELD=loguniform:LOW:HIGH` (0 < LOW), as --hyper."""
        sample = sweep.Sample.parse(item, flag="--hyper", choice=False)
        low, high = sample.args
        return cls(sample.path, float(low), float(high), sample.distribution == "loguniform")

    def check(self, cfg: Any) -> None:
        """The field exists and is a float leaf (ConfigError naming the fix otherwise)."""
        if not sweep.is_float_leaf(cfg, self.path):
            raise C.ConfigError(f"--hyper {self.path} is invalid: {self.path} is not a float field; PBT "
                                f"moves float fields only (fix structural ones with their train flag).")

    def draw(self, key: PRNGKey, shape: Tuple[int, ...]) -> Array:
        """Values drawn within the bounds (log-uniform when `log`)."""
        if self.log:
            return jnp.exp(jax.random.uniform(key, shape, minval=math.log(self.low), maxval=math.log(self.high)))
        return jax.random.uniform(key, shape, minval=self.low, maxval=self.high)

    def clip(self, x: Array) -> Array:
        return jnp.clip(x, self.low, self.high)


@dataclasses.dataclass(frozen=True)
class Explore:
    """How a population is renewed: the bottom `fraction` (0 < fraction <= 0.5) copies from
    the top `fraction`, then perturbs by one of `perturb` or, with probability `resample`,
    draws afresh."""

    fraction: float = 0.25
    perturb: Tuple[float, ...] = (0.8, 1.25)
    resample: float = 0.25

    def __post_init__(self):
        if not 0 < self.fraction <= 0.5:
            raise C.ConfigError(f"fraction={self.fraction} is invalid: use 0 < fraction <= 0.5 (the bottom and "
                                f"top fractions must not overlap).")
        if not self.perturb or any(not f > 0 for f in self.perturb):
            raise C.ConfigError(f"perturb={self.perturb} is invalid: use positive factors, e.g. 0.8,1.25.")
        if not 0 <= self.resample <= 1:
            raise C.ConfigError(f"resample={self.resample} is invalid: use a probability in [0, 1].")

    def replaced(self, population: int) -> int:
        """Members replaced (and donors) at each exploit: at least one."""
        return max(1, int(population * self.fraction))


def ranks(fitness: Array) -> Array:
    """[P] member indices from worst to best; NaN (no episode ended, diverged) counts as worst,
    ties keep member order."""
    return jnp.argsort(jnp.where(jnp.isnan(fitness), -jnp.inf, fitness), stable=True)


def exploit_explore(key: PRNGKey, fitness: Array, values: Dict[str, Array], state: Any,
                    hypers: Sequence[Hyper], explore: Explore = Explore()) -> Tuple[Dict[str, Array], Any, Array]:
    """One exploit-and-explore step of a population of P members.

    Args:
      key: PRNG key of this step.
      fitness: [P], higher is better.
      values: {hyper path: [P]} each member's current hyperparameters.
      state: the learner state, every leaf [P, ...].
      hypers: the bounds of each path in `values`.

    Returns:
      (values [P] each, state, parents [P] int32: the member each one's state now comes
      from, itself if it was not replaced).
    """
    population = fitness.shape[0]
    k = explore.replaced(population)
    order = ranks(fitness)
    bottom, top = order[:k], order[population - k:]
    k_donor, k_way, k_factor, k_draw = jax.random.split(key, 4)
    donors = top[jax.random.randint(k_donor, (k,), 0, k)]
    parents = jnp.arange(population, dtype=jnp.int32).at[bottom].set(donors.astype(jnp.int32))
    replaced = jnp.zeros(population, bool).at[bottom].set(True)
    state = jax.tree.map(lambda x: x[parents], state)
    redraw = replaced & (jax.random.uniform(k_way, (population,)) < explore.resample)
    factors = jnp.asarray(explore.perturb, jnp.float32)
    out = {}
    for i, h in enumerate(hypers):
        inherited = values[h.path][parents]
        factor = factors[jax.random.randint(jax.random.fold_in(k_factor, i), (population,), 0, len(explore.perturb))]
        moved = jnp.where(redraw, h.draw(jax.random.fold_in(k_draw, i), (population,)), h.clip(inherited * factor))
        out[h.path] = jnp.where(replaced, moved, values[h.path]).astype(values[h.path].dtype)
    return out, state, parents


@dataclasses.dataclass(frozen=True)
class Population:
    """A PBT run's settings: the `hypers` it moves, `ready` updates between exploit steps
    (None: a `PERIODS`th of the run's, see `for_run`), how it explores, and the `seed` of its
    draws (initial values and every step's).
    `fitness_episodes`: 0 ranks members by the mean return of their recent training episodes;
    N > 0 by their deterministic policy's mean return over N fresh episodes at each step."""

    hypers: Tuple[Hyper, ...]
    ready: Optional[int] = None
    explore: Explore = Explore()
    seed: int = 0
    keep: Tuple[str, ...] = ()  # learner-state fields a replaced member keeps (SAC: "buffer")
    fitness_episodes: int = 0

    def check(self, cfg: Any, members: int, state_fields: Sequence[str] = ()) -> None:
        """Everything is checked before compiling (one-line ConfigError naming the fix);
        `state_fields`: the algorithm's state fields, which `keep` must name."""
        if not self.hypers:
            raise C.ConfigError("PBT needs at least one --hyper FIELD=uniform:LOW:HIGH (or loguniform).")
        paths = [h.path for h in self.hypers]
        twice = sorted({p for p in paths if paths.count(p) > 1})
        if twice:
            raise C.ConfigError(f"--hyper {twice[0]} is given twice: give each field once.")
        for h in self.hypers:
            h.check(cfg)
        if not isinstance(self.ready, int) or self.ready < 1:
            raise C.ConfigError(f"--ready {self.ready!r} is invalid: use an integer >= 1 (updates between exploits).")
        if self.ready >= cfg.num_updates:
            raise C.ConfigError(f"--ready {self.ready} is invalid: the run has {cfg.num_updates} updates, so no "
                                f"exploit step would be taken; use at most {max(1, cfg.num_updates - 1)} "
                                f"(updates between exploit steps) or train longer.")
        steps = (cfg.num_updates - 1) // self.ready
        if steps > MANY_STEPS:
            warnings.warn(f"--ready {self.ready}: {steps} exploit steps, each after {self.ready} update(s) = "
                          f"{self.ready * cfg.steps_per_update} env step(s) per member; every step ends a compiled "
                          f"chunk (slow), and members are ranked on the few episodes that end in so short a "
                          f"period. --ready {max(1, cfg.num_updates // PERIODS)} takes {PERIODS} steps.",
                          C.JaxacWarning, stacklevel=3)
        if members < 2:
            raise C.ConfigError(f"--population {members} is invalid: PBT needs at least 2 members.")
        if not isinstance(self.fitness_episodes, int) or self.fitness_episodes < 0:
            raise C.ConfigError(f"--fitness eval:{self.fitness_episodes!r} is invalid: use a number of episodes "
                                f">= 1 (or --fitness train).")
        unknown = [f for f in self.keep if state_fields and f not in state_fields]
        if unknown:
            raise C.ConfigError(f"--keep {unknown[0]} is invalid: the state's fields are {', '.join(state_fields)}.")

    def for_run(self, cfg: Any) -> "Population":
        """These settings with `ready` chosen for `cfg`'s run when None: a `PERIODS`th of its
        updates (an update is one rollout for PPO, `rollout_length` steps of every env for SAC)."""
        if self.ready is not None:
            return self
        return dataclasses.replace(self, ready=max(1, cfg.num_updates // PERIODS))

    def to_dict(self) -> Dict[str, Any]:
        return {"hypers": [dataclasses.asdict(h) for h in self.hypers], "ready": self.ready,
                "explore": {**dataclasses.asdict(self.explore), "perturb": list(self.explore.perturb)},
                "seed": self.seed, "keep": list(self.keep), "fitness_episodes": self.fitness_episodes}

    @classmethod
    def from_dict(cls, record: Dict[str, Any]) -> "Population":
        explore = dict(record["explore"])
        explore["perturb"] = tuple(explore["perturb"])
        return cls(tuple(Hyper(**h) for h in record["hypers"]), int(record["ready"]), Explore(**explore),
                   int(record["seed"]), tuple(record.get("keep", ())), int(record.get("fitness_episodes", 0)))

    @staticmethod
    def parse_fitness(text: str) -> int:
        """`fitness_episodes` of --fitness: `train` (0) or `eval:N`."""
        name, _, episodes = text.partition(":")
        if name == "train" and not episodes:
            return 0
        if name == "eval" and episodes.isdigit() and int(episodes) > 0:
            return int(episodes)
        raise C.ConfigError(f"--fitness {text!r} is invalid: use train (recent training episodes) or eval:N "
                            f"(the deterministic policy over N episodes, N >= 1).")

    def initial_values(self, members: int) -> Dict[str, Array]:
        """{path: [members]} drawn within each hyperparameter's bounds."""
        key = jax.random.key(self.seed)
        return {h.path: h.draw(jax.random.fold_in(key, i), (members,)) for i, h in enumerate(self.hypers)}

    def axes(self, cfg: Any) -> Any:
        return C.axes(cfg, **{h.path: 0 for h in self.hypers})


@flax_struct.dataclass
class PopState:
    """A population's state: every leaf [P, ...] (sharded like seeds)."""

    learner: Any  # the algorithm's state of each member
    values: Dict[str, Array]  # [P] each hyperparameter's current value
    fitness: Array  # [P] the last fitness measured (NaN before any)
    period: Array  # [P] int32 chunks of `ready` updates done (the same for every member)


def with_values(cfg: Any, values: Dict[str, Array]) -> Any:
    """`cfg` with its PBT fields set to the members' values ([P] arrays)."""
    with C.unchecked():
        return C.replace(cfg, **values)


def recent_fitness(metrics: Dict[str, Array], count: Array) -> Array:
    """[P] mean return of the training episodes that ended in the first `count` updates of a
    chunk's metrics ([P, capacity] each); NaN where none ended."""
    rows = jnp.arange(metrics["episodes"].shape[1]) < count
    episodes = jnp.where(rows, metrics["episodes"], 0).astype(jnp.float32)
    total = jnp.where(episodes > 0, jnp.nan_to_num(metrics["episode_return"]) * episodes, 0.0).sum(1)
    ended = episodes.sum(1)
    return jnp.where(ended > 0, total / jnp.maximum(ended, 1.0), jnp.nan)


def population_chunk(member_run: Any, population: Population, num_updates: int, member_eval: Any = None):
    """The compiled chunk of a PBT run: `ready` updates of every member (`member_run`, the
    vmapped and sharded chunk of the algorithm), then, unless the run ends there, one exploit
    and explore step over the population, ranked by `member_eval(cfg, learner, keys)` ([P]
    deterministic returns) when given, else by the recent training return. Metrics gain
    `pbt_parent` (on the update an exploit step follows, the member each one's state was copied
    from, itself if none; on every other update itself) and `hyper/<path>` (the value used)."""
    ready = population.ready

    def chunk(cfg, ps: PopState, n):
        learner, metrics, finite = member_run(with_values(cfg, ps.values), ps.learner, n)
        fitness = ps.fitness
        if member_eval is None:
            recent = recent_fitness(metrics, n)
            fitness = jnp.where(jnp.isnan(recent), ps.fitness, recent)
        members = fitness.shape[0]
        # no step after the run's last update (the count of chunks done is the count of updates
        # done over `ready`, also in a run extended from a shorter one)
        step = (n == ready) & ((ps.period[0] + 1) * ready < num_updates)
        key = jax.random.fold_in(jax.random.key(population.seed + 1), ps.period[0])

        def exploit(operands):
            values, learner, fitness = operands
            if member_eval is not None:  # fresh episodes of every member's deterministic policy
                keys = jax.random.split(jax.random.fold_in(key, 1), members)
                fitness = member_eval(with_values(cfg, values), learner, keys)
            new_values, new_learner, parents = exploit_explore(key, fitness, values, learner, population.hypers,
                                                               population.explore)
            # each member keeps its own PRNG stream (a copied key would make the copy repeat its
            # donor's episodes and actions), and the fields asked for, e.g. its replay buffer
            kept = tuple(population.keep) + (("key",) if hasattr(learner, "key") else ())
            if kept:
                new_learner = new_learner.replace(**{f: getattr(learner, f) for f in kept})
            return new_values, new_learner, parents, fitness

        def keep(operands):
            values, learner, fitness = operands
            return values, learner, jnp.arange(members, dtype=jnp.int32), fitness

        values, learner, parents, fitness = jax.lax.cond(step, exploit, keep, (ps.values, learner, fitness))
        capacity = metrics["episodes"].shape[1]
        # the copy is made after the chunk's last update: the parent is recorded on that row only
        at_step = (jnp.arange(capacity) == n - 1)[None, :]
        own = jnp.arange(members, dtype=jnp.int32)[:, None]
        metrics = dict(metrics, pbt_parent=jnp.where(at_step, parents[:, None], own),
                       **{f"hyper/{p}": jnp.broadcast_to(v[:, None], (members, capacity)).astype(jnp.float32)
                          for p, v in ps.values.items()})
        return PopState(learner, values, fitness[parents], ps.period + 1), metrics, finite

    return chunk


class PopulationRunner(stream.Runner):
    """`jaxac.stream.Runner` for a PBT population: the state is a `PopState`, each chunk is
    `ready` updates then the exploit and explore step (see `population_chunk`), all in one
    compiled program over the members' devices."""

    def __init__(self, module, cfg: Any, members: int, devices: Sequence[Any] = None,
                 population: Population = None):
        super().__init__(module, cfg, members, population.ready, devices)
        self.population = population
        axes = population.axes(cfg)
        self._member_init = parallel.over_seeds(module.init, (axes, 0), self.devices)

        def member_chunk(c, s, n):
            s, metrics = stream.run_some(module.update, c, s, n, self.chunk_updates)
            return s, metrics, stream.params_finite(s.params)

        member_run = parallel.over_seeds(member_chunk, (axes, 0, None), self.devices)
        member_eval = None
        if population.fitness_episodes:
            from jaxac import evaluate

            def deterministic(c, s, k):
                return evaluate.episodes(module, c, s, k, population.fitness_episodes)[0].mean()

            member_eval = parallel.over_seeds(deterministic, (axes, 0, 0), self.devices)
        kwargs: Dict[str, Any] = dict(donate_argnums=1)
        if len(self.devices) > 1:  # the next chunk takes the state as this one leaves it
            kwargs["out_shardings"] = jax.sharding.NamedSharding(parallel._mesh(self.devices),
                                                                 parallel.P(parallel.AXIS))
        self._chunk = jax.jit(population_chunk(member_run, population, cfg.num_updates, member_eval), **kwargs)

    def init(self, cfg: Any, keys: Any) -> PopState:
        members = len(keys)
        values = parallel.place(self.population.initial_values(members), self.devices)
        learner = self._member_init(with_values(self.cfg, values), parallel.place(keys, self.devices))
        return parallel.place(PopState(learner, values, jnp.full((members,), jnp.nan, jnp.float32),
                                       jnp.zeros((members,), jnp.int32)), self.devices)


def initial_state(module: Any, cfg: Any, keys: Any, population: Population) -> PopState:
    """The population's state before training (one device; the template for restoring)."""
    members = len(keys)
    values = population.initial_values(members)
    learner = jax.jit(jax.vmap(module.init, in_axes=(population.axes(cfg), 0)))(with_values(cfg, values), keys)
    return PopState(learner, values, jnp.full((members,), jnp.nan, jnp.float32), jnp.zeros((members,), jnp.int32))


def acting(cfg: Any, state: Any, population: Population | None) -> Tuple[Any, Any, Any]:
    """(config, its vmap axes, the members' learner states) to act or evaluate with: a PBT
    state's members with their current hyperparameters, else `state` as it is."""
    if population is None or not isinstance(state, PopState):
        return cfg, None, state
    return with_values(cfg, state.values), population.axes(cfg), state.learner


def lineage(metrics: Dict[str, Any], ready: int, updates: int) -> List[Dict[str, Any]]:
    """One row per copy (update, member replaced, parent copied, each hyperparameter's value
    from then on) of the exploit steps in a run's metrics ([P, updates] each, with
    `pbt_parent` and `hyper/...`); a member that kept its own state has no row."""
    import numpy as np

    parents = np.asarray(metrics["pbt_parent"])
    names = [k for k in metrics if k.startswith("hyper/")]
    rows = []
    for u in range(ready, updates, ready):  # after update u (1-based): column u - 1; values from column u
        for m in np.flatnonzero(parents[:, u - 1] != np.arange(parents.shape[0])):
            m = int(m)
            rows.append({"update": u, "member": m, "parent": int(parents[m, u - 1]),
                         **{n[len("hyper/"):]: float(np.asarray(metrics[n])[m, u]) for n in names}})
    return rows
