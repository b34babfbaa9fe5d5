"""Worker processes for shard work, forked from a server process that imported the shard code once.

Prefect's ProcessPoolTaskRunner spawns each worker as a fresh interpreter that imports Prefect and
khabar (about 3 s of CPU per worker, paid again on every run) and runs Prefect's task engine
there. Here the flow runs its shard tasks on threads, and each task hands its shard to one of
these processes: forked from multiprocessing's fork server, which imports the shard code (not
Prefect) once, so a worker starts in milliseconds and runs plain Python. One worker runs shards
in the flow's own process. A worker dies with the fork server, and the fork server with khabar.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.forkserver
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

from tasks.shards import ShardResult, ShardSpec, process_shard

PRELOAD = ["tasks.shards"]  # what the fork server imports once, for every worker it forks
_PR_SET_PDEATHSIG = 1


def start_fork_server() -> None:
    """Start the fork server now, so that it imports the shard code while the caller does other work."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent (the fork server) dies, whatever killed it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ShardWorkers:
    """Runs shards in worker processes (or in this process for one worker) while it is open.

    Every shard is queued to the workers when it opens, so a worker that finishes one shard starts
    the next at once instead of idling while Prefect closes one task run and starts another (about
    a tenth of a second each, twice per shard); each shard's task then waits for its own result.
    """

    _active: ShardWorkers | None = None

    def __init__(self, workers: int, queued: Sequence[ShardSpec] = ()) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._queued = list(queued)
        self._futures: dict[str, tuple[ProcessPoolExecutor, Future[ShardResult]]] = {}

    def __enter__(self) -> ShardWorkers:
        ShardWorkers._active = self
        if self.workers > 1 and self._queued:
            executor = self._pool()
            self._futures = {spec.part: (executor, executor.submit(process_shard, spec)) for spec in self._queued}
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        ShardWorkers._active = None
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    @classmethod
    def active(cls) -> ShardWorkers | None:
        return cls._active

    def run(self, spec: ShardSpec) -> ShardResult:
        """Process one shard in a worker; a worker that died breaks the pool, which is replaced for the retry."""
        if self.workers <= 1:
            with self._lock:  # one worker: one shard at a time, here, whatever the task runner's threads
                return process_shard(spec)
        with self._lock:
            queued = self._futures.pop(spec.part, None)  # a retry finds none and submits anew
        if queued is None:
            executor = self._pool()
            queued = (executor, executor.submit(process_shard, spec))
        executor, future = queued
        try:
            return future.result()
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:  # replaced once, for every shard that was on it
                    self._executor = None
            raise

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                start_fork_server()
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("forkserver"), initializer=_die_with_parent
                )
            return self._executor


def run_shard(spec: ShardSpec) -> ShardResult:
    """One shard, in the open ShardWorkers' processes, or right here (a Dask worker, a plain call)."""
    workers = ShardWorkers.active()
    return workers.run(spec) if workers is not None else process_shard(spec)
