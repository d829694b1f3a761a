"""Flat resident memory with several CPU devices: glibc malloc's arenas, bounded.

    jaxac.memory.tune_malloc()      # first thing in a script, before jax starts its threads
    MALLOC_ARENA_MAX=2 python ...   # the same from the shell (read when the process starts)

XLA's CPU runtime allocates and frees large buffers from many threads. glibc's malloc gives
threads arenas of their own (up to 8 per core) and returns an arena's free memory to the
system only from its top, so when the seeds are split over several CPU devices resident
memory can grow chunk after chunk until the kernel kills the run. Capping the number of
arenas bounds it; benchmarks/results/memory.md has the settings measured and their speed.

`import jaxac` calls `tune_malloc()`: it takes effect for the threads jax starts afterwards,
so import jaxac before your program's first jax computation (or set the environment
variable). `JAXAC_MALLOC=off` leaves malloc as it is, as does a `MALLOC_ARENA_MAX` of your
own. Only glibc is tuned: with another C library it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Optional

ENV = "JAXAC_MALLOC"
M_ARENA_MAX = -8  # glibc's mallopt parameter numbers (malloc.h)


def default_arenas() -> int:
    """One arena per core (at least 2): glibc's default is 8 per core, and a single arena
    serialises the devices' threads (see benchmarks/results/memory.md)."""
    return max(2, os.cpu_count() or 2)


def _glibc() -> Optional[ctypes.CDLL]:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return None
    return libc


def tune_malloc(arenas: Optional[int] = None) -> bool:
    """Caps glibc malloc at `arenas` arenas (default `default_arenas()`) for threads started
    from now on (call it before jax's backend starts). Returns whether it did: False when
    `JAXAC_MALLOC=off`, when `MALLOC_ARENA_MAX` is already set (yours wins), or when malloc is
    not glibc's."""
    if os.environ.get(ENV, "").lower() in ("off", "0", "false", "no") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, int(arenas or default_arenas())) == 1)
