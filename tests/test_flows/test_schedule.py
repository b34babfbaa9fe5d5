"""A real Prefect server, the nightly deployment served on it, and one run triggered through the API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

KHABAR = str(Path(sys.executable).with_name("khabar"))

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check, timeout_s: float, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as sink:
        return subprocess.Popen([KHABAR, *args], env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment mentions marker (the test's own Prefect home)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def get(client: httpx.Client, path: str):
    response = client.get(path)
    return response.json() if response.status_code == 200 else None


def post(client: httpx.Client, path: str, body: dict):
    """The created object, or None on a transient server error (SQLite 'database is locked' -> 5xx)."""
    response = client.post(path, json=body)
    if response.status_code >= 500:
        return None
    assert response.status_code == 201, (response.status_code, response.text)
    return response.json()


def test_served_nightly_deployment_is_scheduled_and_runs_on_a_real_server(tmp_path):
    from fixtures.make_sample_corpus import write_corpus

    from tasks.tables import read_table

    write_corpus(tmp_path / "raw")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KHABAR_"))}
    env |= {"PREFECT_HOME": str(home), "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server = start(["server", "--port", str(port)], env, tmp_path / "server.log")
    serving = None
    try:
        with httpx.Client(base_url=api, timeout=10) as client:
            wait_for("the Prefect server", lambda: _healthy(client), 180)
            serving = start(
                ["serve", "--cron", "0 2 * * *", "--timezone", "Asia/Riyadh", "--raw", str(tmp_path / "raw"),
                 "--out", str(tmp_path / "out"), "--workers", "1"],
                env | {"PREFECT_API_URL": api},
                tmp_path / "serve.log",
            )  # fmt: skip
            deployment = wait_for(
                "the deployment", lambda: get(client, "/deployments/name/khabar-nightly/nightly"), 120
            )
            (schedule,) = deployment["schedules"]
            assert schedule["schedule"]["cron"] == "0 2 * * *"
            assert schedule["schedule"]["timezone"] == "Asia/Riyadh"
            assert schedule["active"]

            run = wait_for(
                "the server to create a flow run",
                lambda: post(client, f"/deployments/{deployment['id']}/create_flow_run", {}),
                60,
            )
            final = wait_for(
                "the triggered run to finish",
                lambda: _finished(get(client, f"/flow_runs/{run['id']}")),
                240,
                every_s=1,
            )
            assert final["state"]["type"] == "COMPLETED", (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        if serving is not None:
            stop(serving)
        stop(server)
    out = tmp_path / "out"
    assert len(read_table(out, "documents")) == 12
    (record,) = read_table(out, "runs").to_pylist()
    assert (record["kind"], record["trigger"], record["flow_run_id"]) == ("nightly", "deployment", run["id"])
    # Children of the stopped process groups (the server's workers, the flow run's pool) exit too.
    wait_for("no process left running", lambda: not processes_with(str(home)), 30)


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/health").status_code == 200
    except httpx.HTTPError:
        return False


def _finished(flow_run: dict | None) -> dict | None:
    if flow_run and flow_run["state"] and flow_run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
        return flow_run
    return None
