"""A listener the CLI installs to follow shard progress; the flow reports to it and never prints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Called with (shards done, shards total, documents done).
Listener = Callable[[int, int, int], None]

_listener: ContextVar[Listener | None] = ContextVar("khabar_progress", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def report(done: int, total: int, documents: int) -> None:
    listener = _listener.get()
    if listener is not None:
        listener(done, total, documents)
