"""SIGINT and SIGTERM for long runs: the first asks the run to stop, the second exits at once.

    stop = threading.Event()
    with signals.stop_on_signals(stop) as caught:    # caught.signum: the first signal, or None
        while not stop.is_set(): run_a_chunk()

Schedulers (SLURM, Kubernetes, preemptible VMs) send SIGTERM some seconds before SIGKILL;
Ctrl-C sends SIGINT. Python runs its signal handlers only when the main thread returns to
the interpreter, which it does not while XLA runs a chunk or compiles, so a handler alone
would answer a second signal only after the chunk. Here CPython's C-level handler writes
each signal's number to a pipe (`signal.set_wakeup_fd`) and a small thread reads it: the
first signal sets the stop flag (the run saves at the next chunk boundary), a second one
prints one line and ends the process with status 128 + signal number, immediately.

`exit_on_signals(message)` is the form for phases with nothing to save (compiling): the
first signal prints `message` and exits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
from typing import Callable, Iterator, Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_status(signum: int) -> int:
    """The shell's convention for a process ended by `signum`: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + int(signum)


def name(signum: int) -> str:
    """A signal's name: 15 -> `SIGTERM`."""
    return signal.Signals(signum).name


class Terminated(BaseException):
    """SIGTERM arrived outside a guarded phase (`raise_on_sigterm`), as KeyboardInterrupt is
    SIGINT's: the program can say one line and exit 143 instead of dying without a word."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def raise_on_sigterm() -> None:
    """From now on a SIGTERM outside `stop_on_signals` / `exit_on_signals` blocks (which put
    this handler back when they end) raises `Terminated` in the main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


@dataclasses.dataclass
class Caught:
    """The first signal received inside the block (None: none)."""

    signum: Optional[int] = None


def _exit_now(message: str, signum: int) -> None:
    try:
        sys.stderr.write(f"\njaxac: {message}\n")
        sys.stderr.flush()
    finally:
        os._exit(exit_status(signum))


@contextlib.contextmanager
def _watch(on_signal: Callable[[int, int], None]) -> Iterator[None]:
    """Inside, every SIGINT/SIGTERM calls `on_signal(signum, count)` from a watcher thread as
    soon as it arrives. Outside the main thread (where signals cannot be handled) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = {s: signal.signal(s, lambda *_: None) for s in SIGNALS}  # the Python-level no-op
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)

    def watch():
        count = 0
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:  # the write end closed: the block ended
                return
            for signum in data:
                if signum in SIGNALS:
                    count += 1
                    on_signal(signum, count)

    watcher = threading.Thread(target=watch, name="jaxac-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for s, handler in previous.items():
            if handler is not None:  # None: a handler installed outside Python, left alone
                signal.signal(s, handler)
        os.close(write_fd)
        watcher.join(timeout=5)
        os.close(read_fd)


@contextlib.contextmanager
def stop_on_signals(flag: threading.Event, second: str = "exiting without saving") -> Iterator[Caught]:
    """The first SIGINT/SIGTERM sets `flag`; a second one prints `second` and exits at once."""
    caught = Caught()

    def on_signal(signum: int, count: int) -> None:
        if count == 1:
            caught.signum = signum
            flag.set()
        else:
            _exit_now(f"second signal ({name(signum)}): {second}", signum)

    with _watch(on_signal):
        yield caught


@contextlib.contextmanager
def exit_on_signals(message: str) -> Iterator[None]:
    """The first SIGINT/SIGTERM prints `message` and exits at once (status 128 + signal)."""
    with _watch(lambda signum, _: _exit_now(f"{name(signum)}: {message}", signum)):
        yield
