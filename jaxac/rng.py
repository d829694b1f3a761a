"""One way of generating random bits for every draw jaxac makes.

jax's default `jax_threefry_partitionable=True` lays threefry's counters out so that a draw
sharded over devices needs no communication. jaxac never shards a draw (`jaxac.parallel`
splits whole seeds, each device drawing its own), and on a CPU that layout is expensive to
compile (docs/design/rng.md; the figures are in the throughput benchmark's results). So the
algorithms' `init` and `update` and the evaluation functions trace their
draws with the classic layout whatever the caller's setting, and a run's numbers do not
depend on that setting (tests/test_rng.py).
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

import jax

F = TypeVar("F", bound=Callable)


def classic_threefry(fn: F) -> F:
    """`fn` traced (and run) with `jax_threefry_partitionable` off."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.threefry_partitionable(False):
            return fn(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
