"""Worker processes for shard work, forked from a server process that imported the shard code once.

Prefect's ProcessPoolTaskRunner spawns each worker as a fresh interpreter that imports Prefect and
khabar (about 3 s of CPU per worker, paid again on every run) and runs Prefect's task engine
there. Here the flow runs its shard tasks on threads, and each task hands its shard to one of
these processes: forked from multiprocessing's fork server, which imports the shard code (not
Prefect) once, so a worker starts in milliseconds and runs plain Python. One worker runs shards
in the flow's own process, unless they start ahead of the flow run (flows.lifecycle.plan_ahead): a
worker process then runs them while Prefect starts. A worker dies with the fork server, and the fork
server with khabar.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flows import interrupt
from flows.processes import die_with_parent, environment_set
from tasks.shards import ShardResult, ShardSpec, process_shard

if TYPE_CHECKING:
    from prefect.utilities.annotations import quote  # of a ShardSpec

    from tasks.entities import NerConfig

# What the fork server imports once, for every worker it forks:
# - the command's entry point: multiprocessing runs the command's main script again in each worker it starts,
#   and khabar's console script imports flows.entry (which loads the command line only when called);
#   preloaded, the script finds it imported. (Python 3.11's "__main__" preload would run the script itself
#   once, but its fork server is never given the script's path.)
# - the shard code; and pandas, which pyarrow imports on the first pa.array() of a Python list (0.6 s a
#   worker, on its first shard);
# - flows.fork_server_exit, imported by the fork server alone: it exits without its interpreter's finalization.
PRELOAD = ["flows.entry", "flows.workers", "tasks.shards", "pandas", "flows.fork_server_exit"]
_EXIT_WAIT_S = 5.0  # a killed worker exits in milliseconds; a stuck kernel call is not waited for longer


def _start_worker() -> None:
    """A worker dies with the fork server, and leaves Ctrl-C and SIGTERM to khabar, which stops it."""
    die_with_parent()
    _release_the_fork_server()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _release_the_fork_server() -> None:
    """Drop this worker's copy of khabar's end of the fork server's "alive" pipe.

    The fork server exits when every copy is closed, and multiprocessing gives one to each process it
    forks: after a SIGKILL of khabar, the fork server lived as long as its workers, and they (dying
    with it) as long as it did, forever. Without the copies, khabar's death closes the pipe, the
    fork server exits, and its workers with it.
    """
    server = multiprocessing.forkserver._forkserver
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
        setattr(server, "_forkserver_alive_fd", None)  # noqa: B010 (a private attribute, not typed)


def start_fork_server(ner: NerConfig | None = None) -> None:
    """Start the fork server now, so that it imports the shard code while the caller does other work; given
    the run's entity configuration, it builds the extractor too (tasks.entities.preload). A fork server
    already running is kept as it is."""
    from tasks.entities.preload import as_environment

    extractor_env = as_environment(ner) if ner is not None else {}
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        [*PRELOAD, "tasks.entities.preload"] if extractor_env else PRELOAD
    )
    with environment_set(extractor_env):  # the fork server's, read when it starts
        multiprocessing.forkserver.ensure_running()


class ShardWorkers:
    """Runs shards in worker processes (or in this process for one worker, unless ahead of the flow) while open.

    Every shard is queued to the workers when it opens, so a worker that finishes one shard starts
    the next at once instead of idling while Prefect closes one task run and starts another (about
    a tenth of a second each, twice per shard); each shard's task then waits for its own result.
    """

    _active: ShardWorkers | None = None

    def __init__(self, workers: int, queued: Sequence[ShardSpec] = (), ahead_of_flow: bool = False) -> None:
        self.workers = workers
        # One worker in this process saves starting the fork server, unless it started already to run the shards
        # while Prefect starts: in this process they would wait for the flow run (1.2 s of 7.8 for 300 articles).
        self.in_process = workers <= 1 and not ahead_of_flow
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._queued = list(queued)
        self._futures: dict[str, tuple[ProcessPoolExecutor, Future[ShardResult]]] = {}
        self._released: list[multiprocessing.process.BaseProcess] = []  # released workers, exiting
        self._stopped = False

    def __enter__(self) -> ShardWorkers:
        ShardWorkers._active = self
        if not self.in_process and self._queued:
            self.queue(self._queued)
        return self

    def queue(self, specs: Sequence[ShardSpec]) -> None:
        """Queue more shards to the workers, starting them if need be (a run planned ahead of its flow queues
        each shard as soon as it is planned); with one worker in this process, each runs when its task does."""
        if self.in_process:
            return
        executor = self._pool()
        with self._lock:
            self._futures.update((spec.part, (executor, executor.submit(process_shard, spec))) for spec in specs)

    def __exit__(self, *exc: object | TracebackType) -> None:
        ShardWorkers._active = None
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None
        _wait_exited(self._released, timeout_s=_EXIT_WAIT_S)

    @classmethod
    def active(cls) -> ShardWorkers | None:
        return cls._active

    def stop(self) -> None:
        """Kill the workers now and drop every shard not finished (called from a signal handler: no lock).
        Returns once the workers have exited, so that nothing they write outlasts the run's clean-up."""
        self._stopped = True
        executor = self._executor
        if executor is not None:
            processes = list((executor._processes or {}).values())  # the pool has no public kill
            for process in processes:
                process.kill()
            executor.shutdown(wait=False, cancel_futures=True)
            _wait_exited(processes, timeout_s=_EXIT_WAIT_S)

    def release(self) -> None:
        """Every shard is done: the workers exit now, not when the block ends (which then only waits for them).
        They held 800 MB at 50,000 articles (their caches, and what a shard's documents had used) while the
        run wrote its files table and read its top entities, the peak of the whole run."""
        with self._lock:
            if self._executor is not None:
                self._released.extend((self._executor._processes or {}).values())  # awaited by __exit__
                self._executor.shutdown(wait=False)
                self._executor = None

    def submit(self, task: Any, spec: quote) -> Any:
        """Start a shard's task on one of the flow's threads; it waits there for the shard queued to a worker."""
        return task.submit(spec)

    def run(self, spec: ShardSpec) -> ShardResult:
        """Process one shard in a worker; a worker that died breaks the pool, which is replaced for the retry."""
        if self._stopped:
            raise interrupt.Stopped(spec.part)
        if self.in_process:
            with self._lock:  # one worker: one shard at a time, here, whatever the task runner's threads
                if self._stopped:
                    raise interrupt.Stopped(spec.part)
                return process_shard(spec)
        with self._lock:
            queued = self._futures.pop(spec.part, None)  # a retry finds none and submits anew
        if queued is None:
            executor = self._pool()
            queued = (executor, executor.submit(process_shard, spec))
        executor, future = queued
        try:
            return future.result()
        except BaseException as exc:
            if self._stopped:  # killed on purpose: not a failure to record or retry
                raise interrupt.Stopped(spec.part) from None
            if isinstance(exc, BrokenProcessPool):
                with self._lock:
                    if self._executor is executor:  # replaced once, for every shard that was on it
                        self._executor = None
            raise

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                start_fork_server()
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("forkserver"), initializer=_start_worker
                )
            return self._executor


def _wait_exited(processes: Sequence[multiprocessing.process.BaseProcess], timeout_s: float) -> None:
    """Wait until each process has exited (its sentinel is ready), for timeout_s at most."""
    deadline = time.monotonic() + timeout_s
    pending = [process.sentinel for process in processes]
    while pending and (left := deadline - time.monotonic()) > 0:
        ready = multiprocessing.connection.wait(pending, left)
        pending = [sentinel for sentinel in pending if sentinel not in ready]


def run_shard(spec: ShardSpec) -> ShardResult:
    """One shard, in the open ShardWorkers' processes, or right here (a Dask worker, a plain call)."""
    workers = ShardWorkers.active()
    return workers.run(spec) if workers is not None else process_shard(spec)
