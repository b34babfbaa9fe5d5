"""The temporary Prefect server: waiting for it must not take the CPU the run needs meanwhile."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from pathlib import Path

import pytest

from flows.prefect_api import PrefectServerError, TemporaryServer


@pytest.fixture
def starting_server(tmp_path: Path):
    """A TemporaryServer whose process is alive (a `sleep`) but whose port answers nothing yet."""
    server = TemporaryServer(tmp_path / "server.log")
    server.process = subprocess.Popen(["sleep", "30"])
    yield server
    if server.process is not None:
        server.process.kill()
        server.process.wait()


def test_waiting_for_the_server_costs_little_cpu(starting_server: TemporaryServer) -> None:
    # The server takes 7 s of CPU to start on 2 cores while the run hashes its files and forks its workers:
    # polling it must cost next to nothing (each httpx.get built an SSL context: 0.4 s of CPU per second).
    cpu, wall = time.process_time(), time.perf_counter()
    with pytest.raises(PrefectServerError, match="did not start in 2 s"):
        starting_server.wait_ready(timeout_s=2)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert wall >= 2
    assert cpu < 0.1 * wall, f"{cpu:.2f} s of CPU in {wall:.1f} s of waiting"


def test_wait_ready_returns_once_health_answers(starting_server: TemporaryServer) -> None:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(b"true")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Health)
    starting_server.port = httpd.server_address[1]
    threading.Timer(0.5, httpd.serve_forever).start()
    try:
        started = time.perf_counter()
        starting_server.wait_ready(timeout_s=10)
        assert 0.4 < time.perf_counter() - started < 5
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_wait_ready_says_when_the_server_exited(tmp_path: Path) -> None:
    server = TemporaryServer(tmp_path / "server.log")
    server.process = subprocess.Popen(["sh", "-c", "exit 3"])
    with pytest.raises(PrefectServerError, match="exited with code 3"):
        server.wait_ready(timeout_s=10)


def test_the_temporary_server_skips_block_registration(prefect_api_url: str) -> None:
    # khabar's flows use no blocks; registering Prefect's 50-odd block types (and importing every installed
    # collection, prefect-dask and Dask with it, to hash them) took about 1 s of each run's start.
    import httpx

    answer = httpx.post(f"{prefect_api_url}/block_types/filter", json={}, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == []


def test_the_temporary_server_runs_only_what_a_run_needs(prefect_api_url: str) -> None:
    # Each service the server runs costs CPU per event (a run's 40 shard tasks make 120), on the workers' cores.
    import httpx

    settings = httpx.get(f"{prefect_api_url}/admin/settings", timeout=10).json()
    assert settings["server"]["ui"]["enabled"] is False
    assert settings["server"]["services"]["triggers"]["enabled"] is False
    assert settings["server"]["events"]["stream_out_enabled"] is False
    assert settings["server"]["services"]["task_run_recorder"]["enabled"] is True  # the run's history stays


def test_a_flow_on_the_temporary_server_sends_no_heartbeats(prefect_api_url: str) -> None:
    # Heartbeats let a server notice a crashed flow run; the temporary server dies with the run, so nobody
    # would. Their thread sleeps in 1 s steps and the flow's end joins it: 0.5 s of every run's end, on average.
    from prefect import flow
    from prefect.settings import get_current_settings

    @flow
    def heartbeat_frequency() -> int | None:
        return get_current_settings().flows.heartbeat_frequency

    assert heartbeat_frequency() is None


def test_a_flow_on_a_configured_server_keeps_its_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    import contextvars

    from prefect.settings import get_current_settings

    import flows.prefect_api

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")  # no temporary server is started
    monkeypatch.setattr(flows.prefect_api, "configured_api_url", lambda: "http://127.0.0.1:4200/api")

    def frequencies() -> tuple[int | None, int | None]:
        configured = get_current_settings().flows.heartbeat_frequency
        with flows.prefect_api.prefect_api() as api:
            assert api.server is None
            return configured, get_current_settings().flows.heartbeat_frequency

    # A fresh context: the session's temporary server (prefect_api_url) switched heartbeats off in this one.
    configured, during_the_run = contextvars.Context().run(frequencies)
    assert configured is not None
    assert during_the_run == configured


def test_a_server_given_to_the_block_is_asked_to_stop_and_left_to_its_caller(
    starting_server: TemporaryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`khabar run` gives its server to the block and stops it itself, after its workers: the block's end only
    asks it to stop, so that the workers' exit overlaps the server's (0.15 s, its events written)."""
    import flows.prefect_api

    monkeypatch.setattr(flows.prefect_api, "configured_api_url", lambda: None)
    monkeypatch.setattr(flows.prefect_api, "drain_prefect_queues", lambda: None)
    with flows.prefect_api.prefect_api(starting_server) as api:
        assert api.server is starting_server
    assert starting_server.process is not None, "the block waited for the server: its caller's to do"
    assert starting_server.process.wait(timeout=5) == -15  # asked to stop: SIGTERM
    starting_server.stop()
    assert starting_server.process is None


def test_stopping_the_server_kills_one_that_does_not_exit(tmp_path: Path) -> None:
    """A server that ignores SIGTERM is killed after the wait (here shortened); one that exits is not waited
    for past its exit."""
    from flows.prefect_api import _exited_within

    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 30"])
    time.sleep(0.2)  # the trap is set
    stubborn.terminate()
    assert not _exited_within(stubborn, timeout_s=0.5)
    stubborn.kill()
    started = time.perf_counter()
    assert _exited_within(stubborn, timeout_s=10)
    assert time.perf_counter() - started < 5
    stubborn.wait()
