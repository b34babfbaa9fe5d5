"""The same flow on a Dask cluster (flows.executors): a real dask.distributed LocalCluster on loopback.

Each test starts what it needs and stops it: a cluster of its own, or the one khabar starts for a run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures.stories import write_stories
from pipeline import read_all, run_pipeline

from reports import report_names, report_sql
from reports.query import connect, run_query
from schemas import DOCUMENT_TABLES
from tasks.check import check_tables

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api_url")]

KHABAR = str(Path(sys.executable).with_name("khabar"))
RUN_COLUMNS = {"run_id", "processed_at"}  # when and by which run a row was written: differ between runs
REPORT_RUN_COLUMNS = {"last_run_id", "last_run_started_at", "last_run_duration_s"}


def rows_of(out: Path) -> dict[str, list[tuple]]:
    """Every document table's rows, less the columns that name the run, in a stable order."""
    rows = {}
    for table in DOCUMENT_TABLES:
        data = read_all(out, table)
        data = data.select([c for c in data.column_names if c not in RUN_COLUMNS])
        rows[table] = sorted(tuple(map(repr, row.values())) for row in data.to_pylist())
    return rows


def reports_of(out: Path) -> dict[str, list[tuple]]:
    """Every report's rows, less the columns that describe the last run (its id, start and duration)."""
    reports = {}
    with connect(out) as tables:
        for name in report_names():
            columns, rows = run_query(tables, report_sql(name))
            keep = [i for i, c in enumerate(columns) if c not in REPORT_RUN_COLUMNS]
            reports[name] = [tuple(row[i] for i in keep) for row in rows]
    return reports


def test_a_run_on_a_local_dask_cluster_writes_exactly_what_a_local_run_writes(tmp_path, raw_corpus, sample_output):
    summary = run_pipeline(raw_corpus, tmp_path / "out", executor="dask", workers=2, shard_size=3)

    assert (summary.docs_new, summary.docs_failed, summary.n_shards, summary.workers) == (12, 0, 6, 2)
    assert rows_of(tmp_path / "out") == rows_of(sample_output)  # same doc_ids, same rows, same offsets
    assert reports_of(tmp_path / "out") == reports_of(sample_output)
    assert check_tables(tmp_path / "out").problems == []


@pytest.fixture
def cluster():
    """A Dask cluster of two single-threaded worker processes, each watched by a Nanny, on loopback."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as local,
        Client(local) as client,
    ):
        yield client


def test_a_worker_killed_in_the_middle_of_a_run_loses_nothing(tmp_path, cluster):
    raw, out, n = write_stories(tmp_path / "raw", 300), tmp_path / "out", 300
    pids = cluster.run(os.getpid)  # worker address -> process id
    finished = {}
    run = threading.Thread(
        target=lambda: finished.update(
            summary=run_pipeline(raw, out, executor="dask", dask_address=cluster.scheduler.address, shard_size=10)
        )
    )
    run.start()
    deadline = time.monotonic() + 120
    while not (busy := [w for w, keys in cluster.processing().items() if keys]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert busy, "no shard ever ran on the cluster"
    os.kill(pids[busy[0]], signal.SIGKILL)  # an out-of-memory kill: the Nanny starts a new worker
    run.join(timeout=300)
    assert not run.is_alive()

    first = finished["summary"]
    assert (first.docs_new, first.docs_failed) == (n, 0)  # Dask ran the killed worker's shard again elsewhere

    rerun = run_pipeline(raw, out, executor="dask", dask_address=cluster.scheduler.address)
    assert rerun.docs_new == 0
    assert len(read_all(out, "documents")) == n
    assert {row["status"] for row in read_all(out, "files").to_pylist()} == {"processed"}
    assert check_tables(out).problems == []
    cluster.wait_for_workers(2, timeout=60)  # the Nanny replaced the killed worker
    assert set(cluster.run(os.getpid).values()) - set(pids.values())
    loads = cluster.run(_extractor_loads)  # worker -> (loads, reuses) of the entity backend
    assert all(loaded <= 1 for loaded, _ in loads.values()), loads  # once per worker process, not per shard
    assert sum(reused for _, reused in loads.values()) >= 1, loads


def _extractor_loads() -> tuple[int, int]:
    """On a worker: how often the entity backend was loaded, and how often a shard found it loaded."""
    from tasks.entities import load_extractor

    info = load_extractor.cache_info()
    return info.misses, info.hits


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_dask_address_fails_in_seconds_with_one_sentence(tmp_path, raw_corpus):
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.monotonic()
    args = ["--raw", str(raw_corpus), "--out", str(tmp_path / "out"), "--executor", "dask", "--dask-address", address]
    done = subprocess.run(
        [KHABAR, "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 10
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: no Dask scheduler answers at {address} (Connection refused); start one with `dask scheduler`"
    ]
    assert not (tmp_path / "out").exists()


def test_a_dask_address_without_the_dask_executor_is_a_bad_option(tmp_path, raw_corpus):
    done = subprocess.run(
        [KHABAR, "run", "--raw", str(raw_corpus), "--dask-address", "tcp://127.0.0.1:8786"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "needs the dask executor" in done.stderr and "Traceback" not in done.stderr


def test_workers_on_other_hosts_need_a_prefect_api_they_can_reach(monkeypatch):
    """The temporary server and a plain `khabar server` listen on loopback, which a worker elsewhere
    cannot reach: the run says what to do instead of failing every shard task."""
    from types import SimpleNamespace

    from flows.executors import DaskShards, ExecutorError

    def shards_with_workers(*addresses: str) -> DaskShards:
        shards = DaskShards.__new__(DaskShards)
        info = {"workers": {address: {} for address in addresses}}
        shards.runner = SimpleNamespace(client=SimpleNamespace(scheduler_info=lambda n_workers: info))
        return shards

    monkeypatch.setattr("flows.prefect_api.configured_api_url", lambda: "http://127.0.0.1:4200/api")
    shards_with_workers("tcp://127.0.0.1:40001")._check_workers_reach_the_api()  # all on this host: fine
    with pytest.raises(ExecutorError, match=r"other hosts \(10\.0\.0\.7\).*khabar server --host 0\.0\.0\.0"):
        shards_with_workers("tcp://127.0.0.1:40001", "tcp://10.0.0.7:40002")._check_workers_reach_the_api()
    monkeypatch.setattr("flows.prefect_api.configured_api_url", lambda: "http://flows.example:4200/api")
    shards_with_workers("tcp://10.0.0.7:40002")._check_workers_reach_the_api()  # a server they can reach
