"""The khabar command's entry point (flows.entry): a command that runs a flow starts its server first."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.processes import processes_with

from flows.entry import runs_a_flow

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "runs"),
    [
        (["run"], True),
        (["run", "--raw", "data/raw", "--workers", "2"], True),
        (["-v", "run"], True),
        (["--quiet", "reprocess", "--all"], True),
        (["run", "--help"], False),
        (["run", "--dry-run"], False),
        (["reprocess", "--stale", "--dry-run"], False),
        (["report", "top-entities"], False),
        (["sql", "run"], False),  # "run" is the query here, not the command
        (["--version"], False),
        ([], False),
    ],
)
def test_the_commands_that_run_a_flow_are_told_apart_from_the_others(args, runs):
    assert runs_a_flow(args) is runs


def _python(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KHABAR_"))}
    env["PREFECT_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=60
    )


def test_the_server_started_early_is_the_one_the_command_gets(tmp_path):
    code = """
import flows.prefect_api as api
api.start_temporary_server_early()
early = api._started_early
taken = api.start_temporary_server()
print(early is not None and taken is early, api._started_early is None)
taken.stop()
"""
    assert _python(code, tmp_path / "home").stdout.split() == ["True", "True"]


def test_a_server_started_early_that_no_command_took_is_stopped_before_khabar_exits(tmp_path):
    """As when the options are bad or the output folder is in use: the server is stopped by khabar itself,
    not left to die after it (the death signal is for a killed khabar)."""
    home = tmp_path / "home"
    code = "import flows.prefect_api as api; api.start_temporary_server_early(); print(api._started_early.process.pid)"
    started = time.monotonic()
    done = _python(code, home)
    assert time.monotonic() - started < 20
    assert int(done.stdout) > 0
    assert not processes_with(str(home)), "the unclaimed server outlived khabar"


@pytest.mark.parametrize(("args", "streams"), [(["-v", "run"], True), (["run"], False)])
def test_the_server_started_early_logs_as_verbose_asks(tmp_path, args, streams):
    """--verbose sets Prefect's console logging before Prefect is read; the server started before the command
    line loads inherits it, as it did when the command line started it."""
    code = f"""
import flows.entry, flows.prefect_api as api
flows.entry.start_for({args!r})
environ = open(f"/proc/{{api._started_early.process.pid}}/environ", "rb").read().split(b"\\0")
print(b"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=INFO" in environ)
"""
    assert _python(code, tmp_path / "home").stdout.strip() == str(streams)
