"""`train(config, key) -> (state, metrics)`: an algorithm's `init`, then its updates scanned.

Never jitted here: callers jit and vmap it (over seeds, or over float hyperparameters with
`jaxac.config.axes`).
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

import jax

from jaxac.types import Metrics, PRNGKey


def run(init: Callable, update: Callable, cfg: Any, key: PRNGKey) -> Tuple[Any, Metrics]:
    """`init(cfg, key)` then `cfg.num_updates` x `update(cfg, state)` in one `lax.scan`."""
    state = init(cfg, key)
    return run_updates(update, cfg, state, cfg.num_updates)


def run_updates(update: Callable, cfg: Any, state: Any, num_updates: int) -> Tuple[Any, Metrics]:
    """`num_updates` updates from `state`; metrics gain a leading [num_updates] axis."""
    return jax.lax.scan(lambda s, _: update(cfg, s), state, None, length=num_updates)
