"""Seeds across devices: the vmapped seed axis split over the devices, one shard each.

    states, metrics = jaxac.parallel.train(jaxac.ppo, cfg, keys)   # keys [S] over jax.devices()

`over_seeds(fn, in_axes, devices)` is `vmap(fn, in_axes)` with its seed axis sharded over a
1-D mesh of `devices` (`shard_map`): every device runs the same vmapped program on its
S / D seeds, with no communication between them. A seed's results do not depend on the
split beyond float rounding (a shard vmaps fewer seeds, and XLA may order a reduction
differently for another batch size, as it may when vmapping another number of seeds); with
the same devices and seeds a run is bitwise reproducible. On a multi-GPU host this puts the
seeds on every GPU.

On a CPU, XLA runs one program on one core (its intra-op threads do not help the small
matrices of RL networks), so an S-seed vmapped run leaves the other cores idle. Splitting
the CPU into several XLA devices runs the shards on separate cores (the throughput
benchmark measures it: benchmarks/throughput.py). So `import jaxac`
splits the CPU into one XLA device per core (`split_cpu`), unless jax's CPU device count
was set already (`JAX_NUM_CPU_DEVICES`, `jax.config`, XLA_FLAGS) or its backend started;
`JAXAC_CPU_DEVICES=N` asks for N, `=off` leaves jax alone. `Session`, `Sweep` and PBT
then split their members over the most devices that divide them (`member_devices`; an
explicit `devices=` list or count overrides), as the CLI's `--devices` does.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence, Tuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxac.config import unchecked
from jaxac.types import Metrics

AXIS = "seeds"


CPU_DEVICES_ENV = "JAXAC_CPU_DEVICES"
_SPLIT: Optional[int] = None  # the CPU device count `split_cpu` chose at import (None: none)


def cores() -> int:
    """The cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def split_cpu() -> Optional[int]:
    """One XLA CPU device per core (`import jaxac` calls it), or `$JAXAC_CPU_DEVICES` of them
    ("off": none), if jax's count is unset and its backend not started; returns the count set
    (None: jax left as it was)."""
    global _SPLIT
    setting = os.environ.get(CPU_DEVICES_ENV, "").strip().lower()
    if setting in ("off", "0", "no", "false", "none"):
        return None
    if setting and not setting.isdigit():
        raise ValueError(f"{CPU_DEVICES_ENV}={setting!r} is invalid: use a positive integer or off")
    user_set = (jax.config.jax_num_cpu_devices != -1
                or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""))
    if user_set and not setting:
        return None
    try:
        use_cpu_devices(int(setting) if setting else cores())
    except RuntimeError:  # jax's backend already started: its devices stay as they are
        return None
    _SPLIT = jax.config.jax_num_cpu_devices
    return _SPLIT


def split_by_jaxac() -> bool:
    """jax's CPU device count is still the one `split_cpu` chose (not the user's)."""
    return _SPLIT is not None and jax.config.jax_num_cpu_devices == _SPLIT


def request_devices(count: Optional[int]) -> None:
    """Makes at least `count` CPU devices if jax's backend has not started (a user may ask
    for more devices than cores); later, a count jax lacks is refused by `member_devices`."""
    if count is not None and count > max(jax.config.jax_num_cpu_devices, 1):
        try:
            use_cpu_devices(count)
        except RuntimeError:
            pass


def member_devices(members: int, devices: Any = None, local: bool = False) -> Tuple[Any, ...]:
    """The devices `members` members (seeds) are split over: `devices` a sequence (its first
    D that divide the members), a count (exactly that many; it must divide the members), or
    None (the most of jax's devices that divide them). `local`: this process's devices only
    (a sweep's batches), and a count need not divide the members (batches are cut to fit)."""
    if devices is not None and not isinstance(devices, int):
        return tuple(devices) if local else seed_devices(members, devices)
    available = tuple(jax.local_devices() if local else jax.devices())
    if devices is None:
        return available if local else seed_devices(members, available)
    from jaxac.config import ConfigError

    if isinstance(devices, bool) or devices < 1 or (not local and members % devices):
        what = "a positive integer" if local else f"a positive divisor of the {members} seeds/members"
        raise ConfigError(f"devices={devices} is invalid: use {what}.")
    if devices > len(available):
        raise ConfigError(f"devices={devices} is invalid: jax has {len(available)} {available[0].platform} "
                          f"device(s){' in this process' if local else ''} (more CPU devices can be asked for "
                          f"before jax starts: {CPU_DEVICES_ENV}={devices}).")
    return available[:devices]


def use_cpu_devices(n: int) -> None:
    """Makes jax's CPU backend `n` devices. Must run before jax first uses a device
    (the backend's device count is fixed when it starts); raises RuntimeError after."""
    if n < 1:
        raise ValueError(f"n={n} is invalid: use a positive number of CPU devices")
    if max(jax.config.jax_num_cpu_devices, 1) == n:  # -1: unset, one device
        return
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as err:  # the backend already started
        raise RuntimeError(
            f"cannot split the CPU into {n} devices: jax has already started its backends "
            f"with {jax.config.jax_num_cpu_devices} ({err}); call use_cpu_devices first"
        ) from None


def default_cpu_devices(num_seeds: int, cores: Optional[int] = None) -> int:
    """CPU devices worth having for `num_seeds` seeds: the most, at one per core
    (`os.cpu_count()` by default), that divide the seeds into whole shards."""
    cores = max(1, cores or os.cpu_count() or 1)
    return max(d for d in range(1, min(cores, num_seeds) + 1) if num_seeds % d == 0)


def seed_devices(num_seeds: int, devices: Optional[Sequence[Any]] = None) -> Tuple[Any, ...]:
    """The first D of `devices` (default: all of jax's), D the largest count <= len(devices)
    that divides `num_seeds` (a shard is a whole number of seeds)."""
    devices = tuple(jax.devices() if devices is None else devices)
    count = max(d for d in range(1, len(devices) + 1) if num_seeds % d == 0)
    return devices[:count]


def _mesh(devices: Sequence[Any]) -> Mesh:
    return Mesh(list(devices), (AXIS,))


def _spec(axis: Optional[int]) -> P:
    if axis not in (None, 0):
        raise ValueError(f"only a leading seed axis (in_axes 0 or None) can be sharded, got {axis}")
    return P(AXIS) if axis == 0 else P()


def over_seeds(fn: Callable, in_axes: Sequence[Optional[int]], devices: Sequence[Any],
               **jit_kwargs) -> Callable:
    """`jit(vmap(fn, in_axes))` whose seed axis (0 of each input with axis 0, and of every
    output) is split over `devices`; with one device, exactly `jit(vmap(fn, in_axes))`.

    Every input must be passed positionally; those with axis None are replicated. An axis
    may be a tree (a config with its swept fields at 0, `jaxac.config.axes`)."""
    for axis in jax.tree.leaves(tuple(in_axes)):  # None leaves are no leaves: the rest must be 0
        _spec(axis)
    batched = jax.vmap(fn, in_axes=tuple(in_axes))
    if len(devices) == 1:
        return jax.jit(batched, **jit_kwargs)
    mesh = _mesh(devices)

    def flat(*args):
        # shard_map sees each argument as its list of leaves, one spec per leaf: a spec tree
        # in a config's shape would be rebuilt (and validated) as a config inside jax
        trees = [jax.tree_util.tree_flatten(a) for a in args]
        specs = tuple([_spec(a) for a in leaf_axes(arg, axis)] for arg, axis in zip(args, in_axes))

        def inner(*leaves):
            return batched(*(treedef.unflatten(part) for (_, treedef), part in zip(trees, leaves)))

        # check_vma off: the replicated inputs (config, counts) are not marked as varying, and
        # no collective is ever needed, so there is nothing for the check to protect
        sharded = jax.shard_map(inner, mesh=mesh, in_specs=specs, out_specs=P(AXIS), check_vma=False)
        return sharded(*(leaves for leaves, _ in trees))

    flat.__name__ = flat.__qualname__ = getattr(fn, "__name__", "flat")  # jax names the program after it
    return jax.jit(flat, **jit_kwargs)


def place(tree: Any, devices: Sequence[Any], axes: Any = 0) -> Any:
    """`tree` (leaves with a leading seed axis) put on `devices`, split along that axis;
    `axes`: a tree of 0 / None over `tree` (None: the leaf is replicated). `devices` may span
    processes (`jax.distributed`): every process then passes the same whole `tree`."""
    if len(devices) == 1:
        return jax.device_put(tree, devices[0])
    mesh = _mesh(devices)
    leaves, treedef = jax.tree.flatten(tree)
    shardings = [NamedSharding(mesh, _spec(a)) for a in leaf_axes(tree, axes)]
    return jax.tree.unflatten(treedef, [_put(x, s) for x, s in zip(leaves, shardings)])


def leaf_axes(tree: Any, axes: Any) -> list:
    """The axis (0 or None) of each leaf of `tree`, in `jax.tree.leaves` order: `axes` is 0,
    None, or a tree of `tree`'s structure (`jaxac.config.axes`), where a field that is None in
    `tree` (an unset optional setting such as `max_grad_norm`) has no leaf and no axis."""
    count = len(jax.tree.leaves(tree))
    if axes is None or (isinstance(axes, int) and not isinstance(axes, bool)):
        return [axes] * count
    with unchecked():  # a config-shaped tree of axes is not a valid config
        return jax.tree.structure(tree).flatten_up_to(axes)


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _put(x: Any, sharding: NamedSharding) -> Any:
    """`x` on `sharding`. On devices of several processes each process builds its own shards
    from its copy of `x` (jax's `device_put` would first gather every copy to check that they
    agree); a typed PRNG key travels as its raw data and is wrapped there."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:  # already on the job's devices
        return x if x.sharding == sharding else jax.jit(lambda a: a, out_shardings=sharding)(x)
    if sharding.is_fully_addressable:
        return jax.device_put(x, sharding)
    data = np.asarray(jax.random.key_data(x) if _is_key(x) else x)
    array = jax.make_array_from_callback(data.shape, sharding, lambda index: data[index])
    return jax.random.wrap_key_data(array, impl=jax.random.key_impl(x)) if _is_key(x) else array


def host(tree: Any) -> Any:
    """`tree`'s arrays as numpy on this host, whole: parts on other processes' devices are
    gathered (every process must call it then); typed PRNG keys become their raw data."""
    leaves, treedef = jax.tree.flatten(jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree))
    remote = [isinstance(x, jax.Array) and not x.is_fully_addressable for x in leaves]
    local = jax.device_get([None if r else x for x, r in zip(leaves, remote)])  # one transfer
    if any(remote):
        from jax.experimental import multihost_utils

        local = [multihost_utils.process_allgather(x, tiled=True) if r else y
                 for x, y, r in zip(leaves, local, remote)]
    return jax.tree.unflatten(treedef, [np.asarray(x) for x in local])


def spans_processes(devices: Sequence[Any]) -> bool:
    """`devices` belong to more than one process: a program over them is run by all of them."""
    return len({d.process_index for d in devices}) > 1


def every_process(values: Any) -> np.ndarray:
    """`values` (a small array, the same shape everywhere) of every process of the job,
    stacked [processes, ...] in process order (every process must call it)."""
    values = np.asarray(values)
    if jax.process_count() == 1:
        return values[None]
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(values)).reshape((jax.process_count(),) + values.shape)


def any_process(flag: bool) -> bool:
    """`flag` or-ed over every process of the job (itself with one process): a decision all
    processes must take together, such as stopping at a chunk boundary."""
    return bool(np.any(every_process(np.asarray([flag], bool))))


def train(module, cfg: Any, keys: Any, devices: Optional[Sequence[Any]] = None) -> Tuple[Any, Metrics]:
    """`module.train(cfg, key)` for every key [S], the seeds split over `devices` (default
    all; see `seed_devices`): (states [S], metrics [S, num_updates])."""
    devices = seed_devices(len(keys), devices)
    return over_seeds(module.train, (None, 0), devices)(cfg, place(keys, devices))
