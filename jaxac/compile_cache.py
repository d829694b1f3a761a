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

A bad entry must not crash every later run. So, in the directories jaxac sets up:
- processes that must not share executables do not: each (jax, jaxlib, platform, device
  count, process count, XLA_FLAGS) has a subdirectory of its own (`layout_tag`);
- an entry is written to a temporary file and renamed into place, so no reader ever sees
  half an entry (jax's own file cache writes in place);
- a reader leaves a marker (`reading/KEY@HOST@PID`) from the read until the executable is
  loaded; a marker whose process is gone means that process died loading the entry, and an
  entry whose load raised an error is bad too: such entries are quarantined
  (`quarantine/KEY`, with the reason), compiled afresh and never read or written again.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import os
import pathlib
import socket
import stat
import threading
import warnings
from typing import Dict, Optional, Tuple

from jax._src import compilation_cache as _jax_cache
from jax._src.compilation_cache_interface import CacheInterface

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
    path = os.path.join(path, layout_tag())
    problem = private_dir(os.path.dirname(path)) or private_dir(path)  # the base, then its layout
    if problem:
        warnings.warn(f"jaxac: compilation cache off: {problem}", stacklevel=2)
        return None
    _guard(path)
    jax.config.update("jax_compilation_cache_dir", path)
    # every executable of a run, however fast it compiled (the default skips those under 1 s)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return path


def layout_tag() -> str:
    """The subdirectory of this process's executables: jax and jaxlib versions, platform,
    device and process counts, and a digest of XLA_FLAGS (starts jax's backend). Executables
    of another layout are never offered to jax (a deserialised executable may not match it)."""
    import jax
    import jaxlib

    flags = hashlib.sha256(os.environ.get("XLA_FLAGS", "").encode()).hexdigest()[:8]
    return (f"jax{jax.__version__}-jaxlib{jaxlib.__version__}-{jax.default_backend()}{jax.device_count()}"
            f"-p{jax.process_count()}-x{flags}")


class GuardedCache(CacheInterface):
    """jax's persistent cache in `path`, with atomic writes, read markers and a quarantine
    (see the module's docstring); entries are files `KEY-cache`, as in jax's own."""

    def __init__(self, path: str):
        self.path = self._path = pathlib.Path(path)
        for sub in ("reading", "quarantine"):
            (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._host = socket.gethostname().replace("@", "_")
        self._pending: Dict[int, Tuple[str, pathlib.Path]] = {}  # thread -> (key, marker) of a read
        self._lock = threading.Lock()

    def entry(self, key: str) -> pathlib.Path:
        return self.path / f"{key}-cache"

    def get(self, key: str) -> Optional[bytes]:
        """The entry's bytes (None: absent or quarantined); a marker stays until it is loaded."""
        self.settle()
        if self.quarantined(key) or not self.entry(key).exists():
            return None
        marker = self.path / "reading" / f"{key}@{self._host}@{os.getpid()}"
        marker.touch()
        with self._lock:
            self._pending[threading.get_ident()] = (key, marker)
        return self.entry(key).read_bytes()

    def put(self, key: str, value: bytes) -> None:
        """Writes the entry atomically, unless present or quarantined. jax puts right after a
        failed load of the same key: that entry is quarantined instead."""
        with self._lock:
            pending = self._pending.pop(threading.get_ident(), None)
        if pending is not None:
            if pending[0] == key:
                self.quarantine(key, "loading it raised an error")
            pending[1].unlink(missing_ok=True)
        if self.quarantined(key) or self.entry(key).exists():
            return
        tmp = self.path / f".{key}.{self._host}.{os.getpid()}.tmp"
        tmp.write_bytes(value)
        os.replace(tmp, self.entry(key))

    def settle(self, all_threads: bool = False) -> None:
        """A read that was followed by a hit (or by this thread's next cache call, or a clean
        exit) loaded without killing the process: its marker goes."""
        with self._lock:
            done = list(self._pending) if all_threads else [threading.get_ident()]
            markers = [self._pending.pop(t)[1] for t in done if t in self._pending]
        for marker in markers:
            marker.unlink(missing_ok=True)

    def quarantined(self, key: str) -> bool:
        """The entry is quarantined, or a marker shows a process of this host died loading it
        (it is quarantined now)."""
        if (self.path / "quarantine" / key).exists():
            return True
        for marker in (self.path / "reading").glob(f"{key}@*"):
            _, host, pid = marker.name.rsplit("@", 2)
            if host == self._host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                self.quarantine(key, f"process {pid} died while loading it")
                marker.unlink(missing_ok=True)
                return True
        return False

    def quarantine(self, key: str, why: str) -> None:
        """Never reads or writes `key` again (a warning says so once)."""
        (self.path / "quarantine" / key).write_text(why + "\n")
        _events["quarantined"] += 1
        warnings.warn(f"jaxac: compilation cache entry {key[:24]}... in {self.path} quarantined ({why}): "
                      f"it is compiled afresh and never read again", stacklevel=2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


_guarded: Dict[str, GuardedCache] = {}  # jaxac's cache directories, by path
_jax_file_cache = _jax_cache.get_file_cache  # jax's own, for every other directory


def _file_cache(path):
    """jax's `get_file_cache` hook: a GuardedCache for jaxac's directories."""
    cache = _guarded.get(os.path.abspath(str(path)))
    return (cache, str(path)) if cache is not None else _jax_file_cache(path)


def _settle_all() -> None:
    for cache in _guarded.values():
        cache.settle(all_threads=True)


def _guard(path: str) -> None:
    """Makes jax open `path` as a GuardedCache when it first compiles with a cache."""
    _guarded.setdefault(path, GuardedCache(path))
    if _jax_cache.get_file_cache is not _file_cache:
        _jax_cache.get_file_cache = _file_cache
        atexit.register(_settle_all)  # a clean exit ends every read


def active() -> Optional[GuardedCache]:
    """The guarded cache jax uses in this process (None: none, or not one of jaxac's)."""
    cache = getattr(_jax_cache, "_cache", None)
    return cache if isinstance(cache, GuardedCache) else None


def _count(event: str, **_) -> None:
    if event.startswith("/jax/compilation_cache/"):
        _events[event.rsplit("/", 1)[1]] += 1
        if event.endswith("/cache_hits") and active() is not None:  # loaded: the read is over
            active().settle()


def _listen() -> None:
    global _listening
    if not _listening:
        import jax

        jax.monitoring.register_event_listener(_count)
        _listening = True


def counts() -> collections.Counter:
    """Cache hits, misses (entries written) and entries quarantined in this process so far:
    compare two readings around a compile."""
    _listen()
    return collections.Counter({k: _events[k] for k in ("cache_hits", "cache_misses", "quarantined")})
