"""Every test process starts jax with exactly one CPU device.

`jaxac train` splits a CPU into one XLA device per core when it is the first to start jax
(jaxac.parallel); an in-process CLI test that happened to run first would do that for the
whole worker. Starting the backend here keeps every test on one device, whatever the order;
tests/test_parallel.py runs the multi-device cases in subprocesses of their own.
"""

import jax

jax.config.update("jax_num_cpu_devices", 1)
jax.devices()
