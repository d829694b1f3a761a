"""One writer per run directory: an advisory lock taken before anything is written.

    lock = runlock.acquire("runs/x")     # RunLocked if another live process holds it
    ...
    lock.release()                       # also released when the process ends, however

The lock is `fcntl.flock` on `DIR/.lock`, so the kernel drops it when its holder dies (a
SIGKILL or a crash leaves no stale lock to clean up); the file records the holder's pid and
host for the message a second writer gets. A lock file left by a dead process is simply
taken over. flock is per host: two hosts writing to one shared directory are not stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from typing import Optional

LOCK_FILE = ".lock"


class RunLocked(RuntimeError):
    """Another live process writes to this run directory."""


class RunLock:
    """A held lock (`release` it, or let the process end)."""

    def __init__(self, path: str, fd: int):
        self.path, self._fd = path, fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)  # no holder recorded
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __del__(self):
        self.release()


def holder(run_dir: str, name: str = LOCK_FILE) -> Optional[dict]:
    """What the lock file records ({pid, host}), or None if unreadable or empty."""
    try:
        with open(os.path.join(run_dir, name)) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def acquire(run_dir: str, name: str = LOCK_FILE) -> RunLock:
    """Creates `run_dir` if needed and locks it for this process (the lock file `name`: a
    sweep's processes each hold their own); raises RunLocked naming the holder if another
    process has it."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        who = holder(run_dir, name) or {}
        raise RunLocked(f"{run_dir} is in use by jaxac process {who.get('pid', '?')} on "
                        f"{who.get('host', 'this host')}: wait for it to end or choose another directory.") from None
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    return RunLock(path, fd)
