"""Every process khabar starts ends with it, however khabar ends (SIGKILL included).

Linux can signal a child when the thread that started it dies (`PR_SET_PDEATHSIG`); a child asks
for that first thing, and exits at once if its parent is already gone. Elsewhere this is a no-op:
children there end only when khabar stops them. Also here: the environment the children started in a
block inherit (environment_set).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterator

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals = signal.SIGKILL, parent: int | None = None) -> None:
    """In a child: receive `sig` when the parent dies; exit now if it has died already (`parent`: its pid)."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig))
    if parent is not None and os.getppid() != parent:  # it died between our fork and the prctl
        os._exit(1)


def ends_with_this_process(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen: the child gets `sig` when this process dies.

    Linux sends it when the *thread* that started the child ends: call Popen from a thread that lives
    as long as the child should (the main thread).
    """
    parent = os.getpid()
    return lambda: die_with_parent(sig, parent)


@contextlib.contextmanager
def environment_set(values: dict[str, str]) -> Iterator[None]:
    """These environment variables for the block (and whatever process starts in it), then as they were."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
