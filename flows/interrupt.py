"""Ctrl-C and SIGTERM: the first asks the run to stop, keeping what it committed; the second exits at once.

While shards run, the first signal stops the workers (the shards they held are dropped, their
uncommitted parts deleted) and lets the run end cleanly: every shard committed so far stays, and the
files of the rest are read again by the next run, as after a crash. Before or after the shards (the
run's start, its bookkeeping), the first signal raises KeyboardInterrupt as usual. A second signal
exits at once (exit 130): that is as safe as `kill -9`, which a run survives by design, and the
children end with khabar (flows/processes.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

EXIT_CODE = 130  # 128 + SIGINT, as shells report an interrupted command

_requested = threading.Event()
_on_stop: list[Callable[[], None]] = []  # while shards run: how to stop them


class Stopped(Exception):
    """A shard dropped because the run was asked to stop (never recorded as failed, never retried)."""


class RunInterrupted(Exception):
    """The run stopped on a signal; what it committed stays. Its message is the sentence for the user."""

    @classmethod
    def after(cls, committed: int, total: int) -> RunInterrupted:
        return cls(f"interrupted: {committed} of {total} shards committed, the rest will be processed by the next run")


def requested() -> bool:
    """Whether a signal asked the run to stop."""
    return _requested.is_set()


@contextlib.contextmanager
def stoppable(stop: Callable[[], None]) -> Iterator[None]:
    """While the block runs, the first signal calls `stop` (from the signal handler) instead of raising."""
    _on_stop.append(stop)
    try:
        yield
    finally:
        _on_stop.remove(stop)


def _handle(signum: int, frame: FrameType | None) -> None:
    if _requested.is_set():
        os._exit(EXIT_CODE)
    _requested.set()
    if not _on_stop:
        raise KeyboardInterrupt
    for stop in list(_on_stop):
        stop()


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Install the handlers for SIGINT and SIGTERM in the main thread for the block (a CLI command)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    _requested.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
