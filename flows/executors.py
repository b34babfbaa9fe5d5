"""Where a run's shard tasks execute: khabar's own worker processes, or a Dask cluster.

- processes (the default): flows.workers' pool on this machine. Each shard task runs on one of the
  flow's threads and hands its shard to a worker process.
- dask: the shard tasks go to prefect-dask's DaskTaskRunner, so Prefect's task engine runs each one on
  a Dask worker: a cluster whose scheduler is at --dask-address, or a LocalCluster started for the run
  (one single-threaded worker process per worker, on loopback) and stopped with it. A worker loads
  the entity backend once (tasks.entities.load_extractor is cached per process), takes a ShardSpec of
  paths and small values, writes its parts under the output folder and returns small stats.

Either way the flow's process is the only one that commits the tables (flows.lifecycle).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from prefect.utilities.annotations import quote  # of a ShardSpec

    from tasks.shards import ShardSpec

CONNECT_TIMEOUT_S = 10.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ExecutorError(RuntimeError):
    """The executor cannot run shards (a Dask scheduler that does not answer); one sentence."""


class ShardExecutor(Protocol):
    def submit(self, task: Any, spec: quote) -> Any:
        """Start one shard task; a Prefect future of its ShardResult."""

    def stop(self) -> None:
        """Drop every shard not finished (called from a signal handler)."""

    def release(self) -> None:
        """Every shard is done: let the processes that ran them go now, before the run's end."""


def scheduler_host_port(address: str) -> tuple[str, int]:
    """(host, port) of a Dask scheduler address, tcp://HOST:PORT or HOST:PORT; ValueError if it is not one."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or not port:
        raise ValueError(f"{address!r} is not a Dask scheduler address: write it as tcp://HOST:PORT")
    return parts.hostname, port


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """ExecutorError unless something listens at a Dask scheduler address."""
    try:
        with socket.create_connection(scheduler_host_port(address), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        hint = "start one with `dask scheduler`"
        raise ExecutorError(f"no Dask scheduler answers at {address} ({reason}); {hint}") from None


class DaskShards:
    """Shard tasks on a Dask cluster through prefect-dask, for the duration of the block."""

    def __init__(self, address: str | None, workers: int) -> None:
        from prefect_dask import DaskTaskRunner

        self.address = address
        # Dask's own log lines (a worker restarted, a task rescheduled) stay out of the terminal: what a run
        # did is its summary and the files table. Inherited by the worker processes of a local cluster.
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
        if address:
            check_reachable(address)  # at once, where the client's connection would wait out its timeout
            self.runner = DaskTaskRunner(address=address, client_kwargs={"timeout": f"{CONNECT_TIMEOUT_S:g}s"})
        else:
            cluster = {
                "n_workers": workers,
                "threads_per_worker": 1,  # shard work holds the GIL: one thread per process
                "processes": True,
                "host": "127.0.0.1",
                "dashboard_address": None,
                "preload": [__name__],  # dask_setup below, in each worker
            }
            self.runner = DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)
        self._futures: list[Any] = []
        self._open = False

    def __enter__(self) -> DaskShards:
        self.runner.__enter__()
        self._open = True
        try:
            self.runner.client  # noqa: B018 (connects now: a scheduler that does not answer fails here, in seconds)
        except (OSError, TimeoutError) as exc:
            self.__exit__(None, None, None)
            where = f"at {self.address}" if self.address else "locally"
            raise ExecutorError(f"could not connect to the Dask cluster {where}: {exc}") from None
        if self.address:
            try:
                self._check_workers_reach_the_api()
            except ExecutorError:
                self.__exit__(None, None, None)
                raise
        return self

    def _check_workers_reach_the_api(self) -> None:
        """Prefect's task engine on each worker reports to the flow's API: a worker on another host cannot
        reach one on this host's loopback (the temporary server, or `khabar server` without --host)."""
        from flows.prefect_api import configured_api_url

        api = urlsplit(configured_api_url() or "").hostname
        if api not in _LOOPBACK:
            return
        workers = self.runner.client.scheduler_info(n_workers=-1)["workers"]
        elsewhere = sorted({urlsplit(w).hostname or w for w in workers} - _LOOPBACK)
        if elsewhere:
            raise ExecutorError(
                f"Dask workers on other hosts ({', '.join(elsewhere)}) cannot reach the Prefect API on this "
                "host's loopback: start `khabar server --host 0.0.0.0` and export "
                "PREFECT_API_URL=http://THIS_HOST:4200/api"
            )

    def __exit__(self, *exc: object) -> None:
        if self._open:
            self._open = False
            self.runner.__exit__(*exc)

    def submit(self, task: Any, spec: quote) -> Any:
        # unquoted: prefect-dask walks the parameters itself (to swap futures), and a quoted spec failed there
        future = self.runner.submit(task, parameters={"spec": spec.unquote()})
        self._futures.append(future.wrapped_future)
        return future

    def release(self) -> None:
        """Nothing to do early: a local cluster's workers are stopped when the block ends, a remote one's stay."""

    def stop(self) -> None:
        """Cancel every shard not finished; a local cluster's workers are stopped when the block ends."""
        with contextlib.suppress(Exception):
            self.runner.client.cancel(self._futures, force=True)


def dask_setup(worker: Any) -> None:
    """Run by each worker of the local cluster as it starts: Ctrl-C at the terminal reaches the whole
    process group, and is khabar's to handle (it cancels the shards, then stops the cluster)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def shard_executor(
    kind: str, dask_address: str | None, workers: int, specs: list[ShardSpec]
) -> Iterator[ShardExecutor]:
    """The executor of a run's shards, open for the block; every spec is queued to it up front."""
    if kind == "dask":
        with DaskShards(dask_address, workers) as dask:
            yield dask
        return
    from flows.workers import ShardWorkers

    with ShardWorkers(workers, queued=specs) as pool:
        yield pool
