"""The Prefect API a run talks to: the configured server, or a private temporary one started quietly.

Prefect's own temporary server is started lazily by every process that needs an API, so a
process pool starts one server per worker on one SQLite file ("database is locked"), and its
shutdown at interpreter exit races the event and log workers (CancelledError tracebacks).
Here one server is started up front, every worker is pointed at it through PREFECT_API_URL,
the event and log queues are drained while it still runs, and then it is stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flows.processes import ends_with_this_process, environment_set

# Set before Prefect is imported (its settings and logging are read at import).
QUIET_ENV = {
    "DO_NOT_TRACK": "1",  # no client telemetry
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no server telemetry (an ERROR line when offline)
    # Run logs go to the API (the UI), not the console: a failing shard or a full disk is one sentence
    # from khabar, with the detail in the files table, instead of Prefect's tracebacks.
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
}

_STARTUP_TIMEOUT_S = 60.0


class PrefectServerError(RuntimeError):
    pass


def quiet_prefect_environment() -> None:
    """Default Prefect's settings for a batch CLI; values the user set win."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def stream_prefect_logs() -> None:
    """Prefect's run logs to the console too (--verbose); set before Prefect is imported, which reads its
    logging settings then (and before the temporary server starts, whose log then has them too)."""
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "INFO"


def configured_api_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url


class TemporaryServer:
    """A Prefect API server in a subprocess on a free loopback port, its output in a log file."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",  # runs only the services a temporary server needs
            "PREFECT__SERVER_FINAL": "1",
            # khabar's flows use no blocks: registering Prefect's block types, and importing every installed
            # collection (prefect-dask, so Dask) to see whether they changed, cost each start about 1 s.
            "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
            "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
            # Nothing listens to a server that lives for one run: no automations to trigger (they belong to
            # a real server), no UI to stream events to. About 1 s of the server's CPU per 40 shard tasks,
            # taken from the workers.
            "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
            "PREFECT_SERVER_EVENTS_STREAM_OUT_ENABLED": "false",
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self._command(),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Ctrl-C at the terminal is khabar's to handle (it stops the server last), and no server
                # outlives a killed khabar.
                start_new_session=True,
                preexec_fn=ends_with_this_process(signal.SIGTERM),
            )

    def _command(self) -> list[str]:
        app = "prefect.server.api.server:create_app"
        uvicorn = ["-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(self.port)]
        return [sys.executable, *uvicorn, "--log-level", "error", "--lifespan", "on"]

    def wait_ready(self, timeout_s: float = _STARTUP_TIMEOUT_S) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrefectServerError(
                    f"the temporary Prefect server exited with code {self.process.returncode}; see {self.log_path}"
                )
            if self._healthy():
                return
            time.sleep(0.1)
        raise PrefectServerError(
            f"the temporary Prefect server did not start in {timeout_s:.0f} s; see {self.log_path}"
        )

    def _healthy(self) -> bool:
        """Whether the server answers its health check. Plain http.client: an httpx call builds an SSL
        context each time (20 ms of CPU), which polling every 0.1 s took from the run's own start."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/api/health")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def begin_stop(self) -> None:
        """Ask the server to stop (its events and logs are written as it does: about 0.15 s), without waiting."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()

    def stop(self) -> None:
        """Stop the server and wait until it has."""
        if self.process is None:
            return
        self.begin_stop()
        if not _exited_within(self.process, timeout_s=10):
            self.process.kill()
        self.process.wait()
        self.process = None


def _exited_within(process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Whether the process exits within timeout_s: woken by its exit (a pidfd), where Popen.wait(timeout) polls
    with sleeps that grow to 50 ms."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux 5.3 or later, or reaped already
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        return bool(select.select([pidfd], [], [], timeout_s)[0])
    finally:
        os.close(pidfd)


@dataclass(frozen=True)
class PrefectAPI:
    url: str
    server: TemporaryServer | None = None

    def wait_ready(self) -> None:
        """Block until the API answers (a configured server is assumed up)."""
        if self.server is not None:
            self.server.wait_ready()


# The server the entry point started before the command line loaded (flows.entry), until a command takes it.
_started_early: TemporaryServer | None = None


def start_temporary_server_early() -> None:
    """Start the temporary server now, for the command about to load (start_temporary_server() hands it over),
    unless the environment names a server; stopped at exit if no command takes it."""
    global _started_early
    quiet_prefect_environment()  # the server inherits the environment the command line would set first
    _started_early = start_temporary_server()
    if _started_early is not None:
        atexit.register(_stop_unclaimed)


def _stop_unclaimed() -> None:
    if _started_early is not None:
        _started_early.stop()


def start_temporary_server() -> TemporaryServer | None:
    """Start a temporary server now, unless the environment names one, or hand over the one started early
    for this command; not awaited.

    Called before Prefect is even imported: the server's start (mostly importing Prefect's server,
    4 to 8 s on 2 cores) then overlaps the caller's own, until it calls wait_ready(). A profile may
    still name a server: prefect_api() checks and stops this one then.
    """
    global _started_early
    if _started_early is not None:
        server, _started_early = _started_early, None
        return server
    if os.environ.get("PREFECT_API_URL"):
        return None
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    server = TemporaryServer(home / "khabar-temporary-server.log")
    server.start()
    return server


@contextlib.contextmanager
def prefect_api(server: TemporaryServer | None = None) -> Iterator[PrefectAPI]:
    """The API to use: the configured one, or a temporary server (the one given, started if need be)
    for the duration of the block; the caller awaits it with wait_ready().

    A server the caller gave is the caller's to stop: the block ends by asking it to (begin_stop), so that
    what the caller does next (its workers' exit) overlaps the server's own end."""
    given = server is not None
    if server is None:
        server = start_temporary_server()
    try:
        url = configured_api_url()
        if url:
            if server is not None:
                server.stop()
                server = None
            yield PrefectAPI(url)
            return
        assert server is not None
        # The environment, not a context-local override: Prefect's background threads (event and
        # log forwarding) and the worker processes must all see this URL, or each starts a server.
        with _api_url_in_environment(server.api_url), _without_heartbeats():
            try:
                yield PrefectAPI(server.api_url, server)
            finally:
                drain_prefect_queues()
    finally:
        if server is not None and given:
            server.begin_stop()
        elif server is not None:
            server.stop()


@contextlib.contextmanager
def _api_url_in_environment(url: str) -> Iterator[None]:
    from prefect.context import refresh_global_settings_context

    try:
        with environment_set({"PREFECT_API_URL": url}):
            refresh_global_settings_context()
            yield
    finally:
        refresh_global_settings_context()  # with the URL as it was


@contextlib.contextmanager
def _without_heartbeats() -> Iterator[None]:
    """Flow runs send no heartbeats: they let a server notice a crashed run, and a temporary server dies with
    its run. Their thread sleeps in 1 s steps, and a flow's end waits for it: 0.5 s of each run, on average."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def drain_prefect_queues() -> None:
    """Deliver queued run logs and events while the server still listens."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=10, at_exit=False)


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
