"""JAX's persistent compilation cache, on by default in a directory private to the user.

    jaxac.compile_cache.enable()            # ${XDG_CACHE_HOME:-~/.cache}/jaxac/compile, mode 0700
    jaxac.compile_cache.enable("/scratch/me/jaxac-cache")
    JAXAC_COMPILE_CACHE=off jaxac train ...  # or a directory; `--compile-cache` on the CLI

A run's executables (init, chunks, evaluation) are stored after their first compile and
loaded by the next process that compiles the same program with the same jax, jaxlib and
device kind: a second run of a config starts in a few seconds instead of tens (brax physics
the most). The cache holds executable code, so its directory must be writable by its owner
only: `enable` creates it with mode 0700 and refuses (turning the cache off, with a
warning) a directory that another user owns or that others can write to.

`jaxac train` and `jaxac.Session` call `enable()` unless the cache is turned off or jax
already has a cache directory (yours wins). jax reads the setting at its first compile
with a cache: enable it before compiling.
"""

from __future__ import annotations

import collections
import os
import stat
import warnings
from typing import Optional

ENV = "JAXAC_COMPILE_CACHE"
OFF = ("off", "0", "false", "no", "none", "")

_events: collections.Counter = collections.Counter()  # jax's cache events in this process
_listening = False


def default_dir() -> str:
    """`${XDG_CACHE_HOME:-~/.cache}/jaxac/compile`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxac", "compile")


def resolve(setting: Optional[str] = None) -> Optional[str]:
    """The cache directory for `setting` (a directory, or "off"), else $JAXAC_COMPILE_CACHE,
    else `default_dir()`; None when turned off."""
    value = setting if setting is not None else os.environ.get(ENV)
    if value is None:
        return default_dir()
    if value.strip().lower() in OFF:
        return None
    return os.path.abspath(os.path.expanduser(value))


def private_dir(path: str) -> Optional[str]:
    """Why `path` cannot hold executable code for this user (None: it can): created with mode
    0700 if absent; it must be a directory this user owns that no one else can write to."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
    except OSError as err:
        return f"{path} cannot be created: {err.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"{path} belongs to another user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} can be written by other users (chmod 700 it)"
    return None


def enable(setting: Optional[str] = None) -> Optional[str]:
    """Turns the persistent cache on in `resolve(setting)`; returns the directory in use
    (None: off). A directory jax was already given is kept (and returned)."""
    import jax

    _listen()
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    path = resolve(setting)
    if path is None:
        return None
    problem = private_dir(path)
    if problem:
        warnings.warn(f"jaxac: compilation cache off: {problem}", stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    # every executable of a run, however fast it compiled (the default skips those under 1 s)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path


def _count(event: str, **_) -> None:
    if event.startswith("/jax/compilation_cache/"):
        _events[event.rsplit("/", 1)[1]] += 1


def _listen() -> None:
    global _listening
    if not _listening:
        import jax

        jax.monitoring.register_event_listener(_count)
        _listening = True


def counts() -> collections.Counter:
    """Cache hits and misses (entries written) seen in this process so far: compare two
    readings around a compile."""
    _listen()
    return collections.Counter({k: _events[k] for k in ("cache_hits", "cache_misses")})
