"""One writer at a time per output folder: an exclusive lock that the kernel releases if its holder dies."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_NAME = ".khabar.lock"


class LockedError(RuntimeError):
    pass


@contextmanager
def output_lock(out_dir: str | Path, what: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the folder's write lock; wait up to wait_s for another writer, then fail with who holds it.

    flock is released by the kernel when the holding process exits, even on SIGKILL, so a lock
    left by a killed run is never stale: the next writer simply takes it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _in_use(out, path) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "what": what, "since": datetime.now(UTC).isoformat()}).encode())
        os.fsync(fd)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_not_locked(out_dir: str | Path) -> None:
    """LockedError now if another writer holds the folder: a look for failing fast, not a hold (the run
    takes the lock itself later)."""
    path = Path(out_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # no lock file: no writer yet (an unreadable one is the run's to report)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _in_use(Path(out_dir), path) from None
    finally:
        os.close(fd)


def _in_use(out: Path, path: Path) -> LockedError:
    return LockedError(f"{out} is in use by {holder(path)}; wait for it to finish")


def holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return "another khabar process"
    return f"another khabar {info.get('what', 'process')} (pid {info.get('pid')}, since {info.get('since')})"
