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
                    raise LockedError(f"{out} is in use by {holder(path)}; wait for it to finish") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "what": what, "since": datetime.now(UTC).isoformat()}).encode())
        os.fsync(fd)
        yield
    finally:
        os.close(fd)  # releases the lock


def holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return "another khabar process"
    return f"another khabar {info.get('what', 'process')} (pid {info.get('pid')}, since {info.get('since')})"
