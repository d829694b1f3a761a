"""Sweep specifications: which settings of a config a sweep trains, checked before compiling.

    result = jaxac.sweep.run("ppo", cfg, grids=["optim.learning_rate=1e-4,3e-4"], seeds=8, out="sw")
    result.table[0]                                  # the best setting (see jaxac.sweep_run)

The pieces:

    spec = sweep.Spec.parse(grids=["optim.learning_rate=1e-4,3e-4,1e-3", "ent_coef=0,0.01"],
                            samples=["clip_eps=uniform:0.1:0.3"], trials=4)
    spec.check(cfg)                                  # ConfigError naming the field and the fix
    settings = spec.settings(seed=0)                 # [{path: value}], grid x trials
    for fixed, floats in sweep.groups(cfg, settings):   # one compiled program per group
        cfgs, axes = sweep.stack(cfg.replace(**fixed), floats)

A sweep is a grid (cartesian product of listed values) times `trials` random draws of the
sampled fields (`uniform:LOW:HIGH`, `loguniform:LOW:HIGH`, `choice:A,B,C`). A field that is a
float pytree leaf varies inside one compiled program (`stack` gives the batched config and
its vmap axes); any other field (network sizes, `num_envs`, the critic) is structural and
splits the settings into groups, one program each. Grid values of a tuple field are written
with `:` between tuples and `,` inside one: `policy.hidden=64,64:128,128`.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import itertools
import math
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from jaxac import config as C

FLOAT_TYPES = ("float", "Optional[float]")  # annotations of the fields that are pytree leaves
DISTRIBUTIONS = ("uniform", "loguniform", "choice")


def _field(cfg: Any, path: str) -> dataclasses.Field:
    """The dataclass field at dotted `path` (ConfigError naming the closest paths if none)."""
    try:
        C.get(cfg, path)
    except C.ConfigError:
        known = [p for p, _ in C.paths(cfg)] + [f.name for f in dataclasses.fields(cfg)]
        close = difflib.get_close_matches(path, known, n=3, cutoff=0.6)
        hint = f"did you mean {' / '.join(close)}?" if close else "see `jaxac train ALGO --help`"
        raise C.ConfigError(f"sweep field {path!r} is not a config field: {hint}")
    *parents, name = path.split(".")
    node = C.get(cfg, ".".join(parents)) if parents else cfg
    return next(f for f in dataclasses.fields(node) if f.name == name)


def is_float_leaf(cfg: Any, path: str) -> bool:
    """Whether the config field at `path` is a float leaf (so it can vary inside one program)."""
    return _field(cfg, path).type in FLOAT_TYPES


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a name: a critic, an activation, ...


def _split(item: str, flag: str) -> Tuple[str, str]:
    path, sep, values = item.partition("=")
    if not sep or not path or not values.strip():
        raise C.ConfigError(f"{flag} {item!r} is invalid: use FIELD=VALUES, e.g. {flag} optim.learning_rate=1e-4,3e-4.")
    return path.strip(), values.strip()


@dataclasses.dataclass(frozen=True)
class Grid:
    """A field's listed values; the grids of a spec are crossed."""

    path: str
    values: Tuple[Any, ...]

    @classmethod
    def parse(cls, item: str) -> "Grid":
        """`FIELD=V1,V2,...`; tuple values `FIELD=64,64:128,128` (`:` between tuples)."""
        path, text = _split(item, "--grid")
        if ":" in text:
            values = tuple(tuple(_literal(v) for v in part.split(",") if v.strip()) for part in text.split(":"))
        else:
            values = tuple(_literal(v) for v in text.split(",") if v.strip())
        if not values or any(v == () for v in values):
            raise C.ConfigError(f"--grid {item!r} is invalid: give at least one value for {path}.")
        return cls(path, values)


@dataclasses.dataclass(frozen=True)
class Sample:
    """A field drawn `--trials` times per grid point: `uniform`, `loguniform` or `choice`."""

    path: str
    distribution: str
    args: Tuple[Any, ...]

    @classmethod
    def parse(cls, item: str, flag: str = "--sample", choice: bool = True) -> "Sample":
        """`FIELD=uniform:LOW:HIGH`, `FIELD=loguniform:LOW:HIGH` or (with `choice`)
        `FIELD=choice:A,B,C`; `flag` names the option in messages."""
        path, text = _split(item, flag)
        name, _, rest = text.partition(":")
        usage = (f"{flag} {item!r} is invalid: use {path}=uniform:LOW:HIGH"
                 + (f", {path}=loguniform:LOW:HIGH (0 < LOW) or {path}=choice:A,B,C" if choice
                    else f" or {path}=loguniform:LOW:HIGH (0 < LOW)"))
        if name == "choice" and choice:
            values = tuple(_literal(v) for v in rest.split(",") if v.strip())
            if not values:
                raise C.ConfigError(usage + ".")
            return cls(path, name, values)
        bounds = rest.split(":")
        try:
            low, high = (float(b) for b in bounds)
        except ValueError:
            raise C.ConfigError(usage + ".") from None
        if name not in ("uniform", "loguniform") or not all(map(math.isfinite, (low, high))):
            raise C.ConfigError(usage + ".")
        if not low < high:
            fix = f"swap them: {path}={name}:{bounds[1]}:{bounds[0]}" if low > high else "give a range"
            raise C.ConfigError(f"{flag} {item!r} is invalid: LOW ({bounds[0]}) must be below HIGH ({bounds[1]}); "
                                f"{fix}.")
        if name == "loguniform" and low <= 0:
            raise C.ConfigError(f"{flag} {item!r} is invalid: loguniform needs 0 < LOW (it draws log(value)); "
                                f"use uniform for a range from {bounds[0]}.")
        return cls(path, name, (low, high))

    def draw(self, rng: np.random.Generator) -> Any:
        if self.distribution == "choice":
            return self.args[int(rng.integers(len(self.args)))]
        low, high = self.args
        if self.distribution == "uniform":
            return float(rng.uniform(low, high))
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))


@dataclasses.dataclass(frozen=True)
class Spec:
    """Grids times `trials` draws of the samples (trials 1 without samples)."""

    grids: Tuple[Grid, ...] = ()
    samples: Tuple[Sample, ...] = ()
    trials: int = 1

    @classmethod
    def parse(cls, grids: Sequence[str] = (), samples: Sequence[str] = (), trials: Any = None) -> "Spec":
        if trials is not None and not samples:
            raise C.ConfigError("--trials is given without --sample: add --sample FIELD=DISTRIBUTION, "
                                "or drop --trials for a grid.")
        if trials is not None and (not isinstance(trials, int) or trials < 1):
            raise C.ConfigError(f"--trials {trials!r} is invalid: use an integer >= 1.")
        spec = cls(tuple(Grid.parse(g) for g in grids), tuple(Sample.parse(s) for s in samples),
                   1 if trials is None else trials)
        if samples and trials is None:
            raise C.ConfigError("--sample needs --trials N: the number of random draws of the sampled fields "
                                "(each draw trains --seeds seeds).")
        paths = [g.path for g in spec.grids] + [s.path for s in spec.samples]
        twice = sorted({p for p in paths if paths.count(p) > 1})
        if twice:
            raise C.ConfigError(f"sweep field {twice[0]} is given twice: give each field once.")
        if not paths:
            raise C.ConfigError("a sweep needs --grid FIELD=VALUES or --sample FIELD=DISTRIBUTION.")
        return spec

    def check(self, cfg: Any) -> None:
        """Every field exists; sampled ranges are over float fields; every setting builds a
        valid config (so nothing fails after compiling)."""
        for s in self.samples:
            if s.distribution != "choice" and not is_float_leaf(cfg, s.path):
                raise C.ConfigError(f"--sample {s.path}={s.distribution}:... is invalid: {s.path} is not a "
                                    f"float field; give it a grid or choice:A,B instead.")
        for g in self.grids:
            _field(cfg, g.path)
        for setting in self.settings(seed=0):
            try:
                C.replace(cfg, **setting)
            except C.ConfigError as err:
                raise C.ConfigError(f"sweep setting {setting} is invalid: {err}") from None

    def settings(self, seed: int = 0) -> List[Dict[str, Any]]:
        """Every setting, grid-major: {path: value} of each swept field. Draws come from
        `seed` (the same spec and seed give the same settings)."""
        rng = np.random.default_rng(seed)
        grid = list(itertools.product(*(g.values for g in self.grids)))
        out = []
        for values in grid:
            for _ in range(self.trials):
                setting = {g.path: v for g, v in zip(self.grids, values)}
                setting.update({s.path: s.draw(rng) for s in self.samples})
                out.append(setting)
        return out


def split(cfg: Any, setting: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(structural, float) parts of a setting."""
    return ({p: v for p, v in setting.items() if not is_float_leaf(cfg, p)},
            {p: v for p, v in setting.items() if is_float_leaf(cfg, p)})


def group_indices(cfg: Any, settings: Sequence[Dict[str, Any]]) -> List[Tuple[Dict[str, Any], List[int]]]:
    """Settings split by their structural values: [(structural {path: value}, [setting
    index])], in first-seen order; each group is one compiled program."""
    out: Dict[Tuple, Tuple[Dict[str, Any], List[int]]] = {}
    for i, setting in enumerate(settings):
        fixed, _ = split(cfg, setting)
        key = tuple(sorted((p, repr(v)) for p, v in fixed.items()))
        out.setdefault(key, (fixed, []))[1].append(i)
    return list(out.values())


def groups(cfg: Any, settings: Sequence[Dict[str, Any]]) -> List[Tuple[Dict[str, Any], List[Dict[str, Any]]]]:
    """Settings split by their structural values: [(structural {path: value}, [float-only
    settings])], in first-seen order; each group is one compiled program."""
    return [(fixed, [split(cfg, settings[i])[1] for i in idx]) for fixed, idx in group_indices(cfg, settings)]


@dataclasses.dataclass(frozen=True)
class Members:
    """The members of one compiled run of a sweep: member i trains the swept float fields
    `floats[i]` with key `seeds[i]` of `jax.random.split(jax.random.key(seed), key_count)`,
    so seed r of every setting is seed r of `jaxac train --seeds key_count` with that setting."""

    floats: Tuple[Dict[str, float], ...]
    seeds: Tuple[int, ...]
    key_count: int
    ids: Tuple[int, ...] = ()  # each member's number in its sweep (setting * key_count + seed)

    def __post_init__(self):
        if len(self.floats) != len(self.seeds) or not self.seeds:
            raise ValueError(f"members need one float setting per seed, got {len(self.floats)} and {len(self.seeds)}")

    def __len__(self) -> int:
        return len(self.seeds)

    def to_dict(self) -> Dict[str, Any]:
        return {"floats": [dict(f) for f in self.floats], "seeds": list(self.seeds), "key_count": self.key_count,
                "ids": list(self.ids)}

    @classmethod
    def from_dict(cls, record: Dict[str, Any]) -> "Members":
        return cls(tuple(dict(f) for f in record["floats"]), tuple(int(s) for s in record["seeds"]),
                   int(record["key_count"]), tuple(int(i) for i in record.get("ids", ())))

    def board_runs(self) -> Dict[str, List[int]]:
        """TensorBoard runs: one per setting (`setting_K`, the mean of its seeds here)."""
        out: Dict[str, List[int]] = {}
        ids = self.ids or tuple(range(len(self)))
        for i, member in enumerate(ids):
            out.setdefault(f"setting_{member // self.key_count}", []).append(i)
        return out

    def keys(self, seed: int) -> Any:
        """[M] PRNG keys, member i's from seed `seeds[i]`."""
        import jax
        import jax.numpy as jnp

        return jax.random.split(jax.random.key(seed), self.key_count)[jnp.asarray(self.seeds)]

    def config(self, cfg: Any) -> Tuple[Any, Any]:
        """(`cfg` with the swept float fields as [M] arrays, its vmap axes)."""
        return stack(cfg, self.floats)


def inputs(cfg: Any, seeds: int, seed: int, members: "Members | None") -> Tuple[Any, Any, Any]:
    """(config, its vmap axes (None: shared), [seeds] keys) of a run's members: the seeds of
    `jaxac train` (keys split from `seed`), or a sweep's `members`."""
    import jax

    if members is None:
        return cfg, None, jax.random.split(jax.random.key(seed), seeds)
    batched, axes = members.config(cfg)
    return batched, axes, members.keys(seed)


def stack(cfg: Any, floats: Sequence[Dict[str, Any]], repeat: int = 1) -> Tuple[Any, Any]:
    """(config whose swept float fields hold [len(floats) * repeat] arrays, its vmap axes):
    member m is setting m // repeat (so `repeat` seeds per setting sit next to each other)."""
    import jax.numpy as jnp

    paths = sorted({p for f in floats for p in f})
    if not paths:
        return cfg, C.axes(cfg)
    columns = {p: jnp.repeat(jnp.asarray([f.get(p, C.get(cfg, p)) for f in floats], jnp.float32), repeat)
               for p in paths}
    with C.unchecked():
        batched = C.replace(cfg, **columns)
    return batched, C.axes(cfg, **{p: 0 for p in paths})


def run(algorithm: str, cfg: Any, grids: Sequence[str] = (), samples: Sequence[str] = (), trials: Any = None,
        **kwargs: Any):
    """Parses the spec (as the CLI's --grid / --sample / --trials), checks it against `cfg`
    and runs `jaxac.Sweep(algorithm, cfg, spec, **kwargs)`: its `SweepResult`."""
    from jaxac.sweep_run import Sweep

    return Sweep(algorithm, cfg, Spec.parse(grids, samples, trials), **kwargs).run()
