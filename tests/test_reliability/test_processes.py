"""Every process khabar starts ends with it: interrupted (Ctrl-C, SIGTERM), killed (SIGKILL) or stopped.

Real processes throughout: `khabar run` with its own temporary Prefect server and two workers, in a
private Prefect home whose path every child inherits in its environment, which is how a leftover
process is found.
"""

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
from fixtures.processes import processes_with

from tasks.check import check_tables
from tasks.tables import read_table

KHABAR = str(Path(sys.executable).with_name("khabar"))
N_STORIES = 1500
N_DOCUMENTS = N_STORIES + 1  # and one long story
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A Prefect home for this module's runs: each run starts its own temporary server there."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Enough distinct stories for a run of many shards (several seconds of work on two workers), the last
    of them one long story: while Prefect starts, the workers run every other shard (flows.lifecycle plans
    the run ahead), and without it the run could be done by its first commit, before a test interrupts it."""
    from fixtures.stories import write_long_story, write_stories

    root = write_stories(tmp_path_factory.mktemp("stories") / "raw", N_STORIES)
    write_long_story(root, megabytes=8)
    return root


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KHABAR_"))}
    return env | {"PREFECT_HOME": str(home), "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def start_run(
    raw: Path, out: Path, home: Path, workers: int = 2, api_url: str | None = None, executor: str = "processes"
) -> subprocess.Popen[str]:
    """`khabar run` in its own process group, as a shell runs a foreground job; its own temporary
    Prefect server unless api_url names one."""
    args = [KHABAR, "run", "--raw", str(raw), "--out", str(out), "--workers", str(workers), "--shard-size", "25"]
    args += ["--executor", executor]
    env = environment(home) | ({"PREFECT_API_URL": api_url} if api_url else {})
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def wait_for(what: str, check, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def committed_documents_parts(out: Path) -> int:
    from tasks.storage import OutputFolderError
    from tasks.tables import latest_snapshot

    try:
        return len(latest_snapshot(out).paths("documents"))
    except (OSError, OutputFolderError):
        return 0


def shards_running(run: subprocess.Popen[str], out: Path):
    """Once a shard is committed (the workers are busy with the next ones); fails if the run ended first."""

    def check() -> bool:
        assert run.poll() is None, "the run ended before it could be interrupted: give it more work"
        return committed_documents_parts(out) >= 1

    return check


def shards_written(run: subprocess.Popen[str], out: Path):
    """Once a shard has written its parts, committed or not: a run's shards start while Prefect starts."""

    def check() -> bool:
        assert run.poll() is None, "the run ended before it could be interrupted: give it more work"
        return any((out / "documents").glob("*.parquet"))

    return check


def assert_nothing_left(home: Path, within_s: float = 15) -> None:
    deadline = time.monotonic() + within_s
    while (left := processes_with(str(home))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, [_command_line(pid) for pid in left]


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:160].decode(errors="replace")
    except OSError:
        return f"{pid} (gone)"


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_ctrl_c_stops_the_run_keeps_what_it_committed_and_leaves_no_process(
    tmp_path, raw, home, prefect_api_url, executor
):
    out = tmp_path / "out"
    # The session's server: the flow starts in seconds, while shards remain. (A temporary server takes longer
    # to start than the workers take to run every shard ahead of it; its end is the next test's case.)
    run = start_run(raw, out, home, executor=executor, api_url=prefect_api_url)
    wait_for("a committed shard", shards_running(run, out), 120)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C at a terminal sends: the whole foreground group
    interrupted_at = time.monotonic()
    stdout, stderr = run.communicate(timeout=60)
    assert time.monotonic() - interrupted_at < 10
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    (line,) = [line for line in stderr.splitlines() if "interrupted" in line]
    assert " shards committed, the rest will be processed by the next run" in line
    assert_nothing_left(home)

    assert check_tables(out).problems == []  # what was committed stays, and nothing half-written is visible
    kept = len(read_table(out, "documents"))
    assert 25 <= kept < N_DOCUMENTS
    rerun = start_run(raw, out, home, api_url=prefect_api_url)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert len(read_table(out, "documents")) == N_DOCUMENTS
    statuses = {row["status"] for row in read_table(out, "files").to_pylist()}
    assert statuses == {"processed"}
    assert check_tables(out).problems == []


def test_ctrl_c_while_prefect_starts_drops_the_early_shards_and_leaves_no_process(tmp_path, raw, home, prefect_api_url):
    """The run is planned and its shards run while the temporary server starts; Ctrl-C then stops the
    workers and the server, deletes the parts no commit took, and frees the folder for the next run."""
    out = tmp_path / "out"
    run = start_run(raw, out, home)
    wait_for("a shard's parts", shards_written(run, out), 120)
    assert committed_documents_parts(out) == 0  # no flow run yet to commit them
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    (line,) = [line for line in stderr.splitlines() if "interrupted" in line]
    assert "what was committed stays, the rest will be processed by the next run" in line
    assert_nothing_left(home)

    assert check_tables(out).problems == []
    assert not list((out / "documents").glob("*.parquet"))  # the early shards' parts are gone
    rerun = start_run(raw, out, home, api_url=prefect_api_url)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert len(read_table(out, "documents")) == N_DOCUMENTS


def test_a_second_signal_exits_at_once_and_leaves_no_process(tmp_path, raw, home, prefect_api_url):
    out = tmp_path / "out"
    run = start_run(raw, out, home, api_url=prefect_api_url)  # the workers are what is left to stop
    wait_for("a committed shard", shards_running(run, out), 120)
    run.send_signal(signal.SIGTERM)  # as a service manager stops it
    run.send_signal(signal.SIGINT)
    run.communicate(timeout=30)
    assert run.returncode == 130
    assert_nothing_left(home)
    assert check_tables(out).problems == []


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_killing_khabar_leaves_no_worker_and_no_server(tmp_path, raw, home, executor, prefect_api_url):
    """An OOM kill or a CI timeout: SIGKILL to khabar alone, not its group; its children must follow it."""
    out = tmp_path / "out"
    api_url = prefect_api_url if executor == "dask" else None  # on Dask, the cluster is what must follow
    run = start_run(raw, out, home, executor=executor, api_url=api_url)
    wait_for("a shard's parts", shards_written(run, out), 120)
    assert len(processes_with(str(home))) >= (4 if executor == "processes" else 3)  # khabar, its server or
    # Dask's resource tracker, the fork server, the workers
    run.kill()
    run.communicate(timeout=30)
    assert_nothing_left(home)


def test_stopping_khabar_server_stops_prefect(tmp_path):
    home = tmp_path / "prefect-home"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [KHABAR, "server", "--port", str(port)],
        env=environment(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for("the server", healthy, 180)
    finally:
        server.terminate()  # `kill PID` of the khabar server process, not of a group
        server.wait(timeout=30)
    assert not healthy()
    assert_nothing_left(home)
