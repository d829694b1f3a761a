"""Counting the programs jax compiles, from its compile log (shared by sweep and PBT tests)."""

import contextlib
import logging

import jax


@contextlib.contextmanager
def chunk_compiles():
    """Collects the log records of every chunk program jax compiles inside the block."""
    seen = []

    class Count(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Compiling jit(chunk)"):
                seen.append(record)

    handler, logger = Count(), logging.getLogger("jax")
    logger.addHandler(handler)
    jax.config.update("jax_log_compiles", True)
    try:
        yield seen
    finally:
        jax.config.update("jax_log_compiles", False)
        logger.removeHandler(handler)
