"""Several processes (hosts) in one sweep: `jax.distributed` set up from flags or a cluster.

    process = jaxac.distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)
    process.index, process.count          # this process, of how many
    jaxac.distributed.barrier("done")      # every process waits for the others

`initialize` with no arguments starts a single process, unless the job runs under SLURM
with more than one task, where jax reads the coordinator, count and rank from SLURM's
environment. On CPUs the collectives go through gloo (one CPU device per process is
enough). A sweep gives each process its own members (`jaxac.sweep_run`): training needs
no communication between members, so the only collective is the barrier at the end. A
PBT run (`jaxac.pbt`) puts its population on every process's devices: one program, whose
exploit step moves members' states between processes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from jaxac import config as C


@dataclasses.dataclass(frozen=True)
class Process:
    """This process's place in a `jax.distributed` job (0 of 1 without one)."""

    index: int = 0
    count: int = 1


def _under_slurm() -> bool:
    """A SLURM job step with several tasks (jax's own cluster detection reads the rest)."""
    try:
        return "SLURM_JOB_ID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1
    except ValueError:
        return False


def initialize(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None) -> Process:
    """Joins the job's processes (`jax.distributed.initialize`) before jax starts its
    backends; returns this process's place. All three arguments, or none (SLURM or one
    process)."""
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise C.ConfigError("--coordinator, --num-processes and --process-id go together: give all three "
                            "(or none, under SLURM or for one process).")
    if all(given):
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise C.ConfigError(f"--process-id {process_id} is invalid: use 0..{num_processes - 1} "
                                f"for --num-processes {num_processes}.")
        if ":" not in coordinator:
            raise C.ConfigError(f"--coordinator {coordinator!r} is invalid: use HOST:PORT.")
    elif not _under_slurm():
        return Process()
    import jax

    if jax.distributed.is_initialized():
        return current()
    if all(given) and num_processes == 1:
        return Process()
    if _cpu_only():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        from jaxac import parallel

        if parallel.split_by_jaxac():  # one CPU device per process, unless the user asked for more
            parallel.use_cpu_devices(1)
    if all(given):
        jax.distributed.initialize(coordinator, num_processes, process_id)
    else:
        jax.distributed.initialize()
    return current()


def _cpu_only() -> bool:
    """No accelerator is asked for (JAX_PLATFORMS) or installed (checked without starting jax)."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    import importlib.util

    return not any(importlib.util.find_spec(p) for p in ("jax_cuda12_plugin", "jax_cuda13_plugin", "libtpu"))


def current() -> Process:
    """This process's place in the job (0 of 1 when jax.distributed is not set up; then no
    backend is started, so CPU devices can still be split)."""
    import jax

    if not jax.distributed.is_initialized():
        return Process()
    return Process(jax.process_index(), jax.process_count())


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier `name` (a collective over every device)."""
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
