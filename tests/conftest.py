"""Every test process starts jax with exactly one CPU device.

`jaxac train` splits a CPU into one XLA device per core when it is the first to start jax
(jaxac.parallel); an in-process CLI test that happened to run first would do that for the
whole worker. Starting the backend here keeps every test on one device, whatever the order;
tests/test_parallel.py runs the multi-device cases in subprocesses of their own.

The tests (and the CLI processes they start, through the environment) share one private
compilation cache of their own, so they neither read nor fill the user's.
"""

import os
import tempfile

import jax

from jaxac import compile_cache

os.environ.setdefault(compile_cache.ENV, os.path.join(tempfile.gettempdir(), f"jaxac-tests-{os.getuid()}", "compile"))
os.makedirs(os.path.dirname(os.environ[compile_cache.ENV]), mode=0o700, exist_ok=True)

jax.config.update("jax_num_cpu_devices", 1)
jax.devices()
