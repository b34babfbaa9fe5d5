"""`khabar sql` cannot change anything: every write path tried leaves every file byte-identical.

Each query below once wrote, or could write, through DuckDB. Defence in depth means each is
stopped twice: by the statement check (only one plain SELECT-like statement) and by a DuckDB that
cannot touch the file system at all. The file-system layer is tested on its own too, by running
the statements behind the statement check's back.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from reports.query import ReadOnlyTables, check_read_only, run_query
from reports.views import VIEWS, base_name
from schemas import TABLES
from tasks.tables import load_for_reading

KHABAR = str(Path(sys.executable).with_name("khabar"))
runner = CliRunner()


@pytest.fixture
def out(tmp_path, sample_output) -> Path:
    shutil.copytree(sample_output, tmp_path / "out")
    return tmp_path / "out"


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def write_paths(out: Path) -> list[str]:
    """Statements that would write: into a committed part, the folder, or anywhere."""
    part = load_for_reading(out).files("documents")[0]
    runs_part = load_for_reading(out).files("runs")[0]
    copy_part = f"COPY (SELECT 'x' AS x) TO '{part}' (FORMAT parquet, USE_TMP_FILE false)"
    return [
        copy_part,
        f"COPY documents TO '{part}' (FORMAT parquet)",
        f"COPY (SELECT * FROM runs) TO '{runs_part}' (FORMAT parquet)",
        f"copy documents to '{out}/documents/extra.parquet'",
        f"/* a comment */ {copy_part}",
        f"EXPLAIN {copy_part}",
        f"EXPLAIN ANALYZE {copy_part}",
        f"EXPLAIN (ANALYZE) {copy_part}",
        f"explain analyse {copy_part}",
        f"SELECT 1; {copy_part}",
        f"{copy_part}; SELECT 1",
        f"SELECT * FROM query('{copy_part.replace(chr(39), chr(39) * 2)}')",
        f"EXPORT DATABASE '{out}/export'",
        f"EXPORT DATABASE '{out}/documents' (FORMAT parquet)",
        f"ATTACH '{out}/documents/evil.duckdb' AS evil",
        "ATTACH ':memory:' AS scratch",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        f"SET temp_directory = '{out}/documents'",
        "RESET enable_external_access",
        "PRAGMA enable_profiling",
        f"PRAGMA profiling_output = '{out}/documents/profile.json'",
        "CALL pragma_version()",
        "CHECKPOINT",
        "CREATE TABLE t AS SELECT 1 AS x",
        "DROP VIEW documents",
        "INSERT INTO documents SELECT * FROM documents",
        "DELETE FROM runs",
        f"SELECT * FROM read_parquet('{part}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('*')",
        f"SELECT * FROM read_text('{out}/_commits/_delta_log/{0:020d}.json')",
        f"COPY (SELECT 1 AS x) TO '{out}/runs/_delta_log/{99:020d}.json' (FORMAT json)",
    ]


def test_every_write_path_is_refused_and_every_file_stays_byte_identical(out, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    before = digests(out)
    for query in write_paths(out):
        result = runner.invoke(app, ["sql", query, "--out", str(out)])
        assert result.exit_code == 2, (query, result.output)
        assert result.output.startswith("Error: query failed: ") and result.output.count("\n") == 1, query
    assert digests(out) == before
    assert not (tmp_path / ".tmp").exists()  # DuckDB spilled nowhere near the working folder
    check = runner.invoke(app, ["check", "--out", str(out)])
    assert check.exit_code == 0 and check.output.startswith("ok: documents 12"), check.output


def test_duckdb_itself_cannot_touch_files_whatever_the_statement(out):
    """The second layer alone: every statement runs straight on the connection, past the statement check."""
    before = digests(out)
    with ReadOnlyTables(out) as tables:
        for query in write_paths(out):
            try:
                tables.con.execute(query)
            except Exception as exc:
                refused = str(exc)
            else:
                refused = ""
            # plain EXPLAIN runs nothing; DuckDB's query() takes only a SELECT
            touches_a_file = str(out) in query and not query.startswith(("EXPLAIN COPY", "SELECT * FROM query("))
            if touches_a_file:
                assert "Permission Error" in refused or "configuration has been locked" in refused, (query, refused)
    assert digests(out) == before


def test_plain_reads_still_work(out):
    with ReadOnlyTables(out) as tables:
        for query in (
            "SELECT count(*) FROM documents",
            "FROM documents SELECT count(*)",
            "WITH d AS (SELECT * FROM documents) SELECT count(*) FROM d",
            "DESCRIBE documents",
            "SHOW TABLES",
            "SUMMARIZE runs",
            "EXPLAIN SELECT count(*) FROM tokens",
            "/* note */ explain select 1",
        ):
            check_read_only(tables.con, query)
            columns, rows = run_query(tables, query)
            assert columns and rows, query
        assert run_query(tables, "SELECT count(*) FROM documents")[1] == [(12,)]
        names = {r[0] for r in run_query(tables, "SHOW TABLES")[1]}
        assert names == {*VIEWS, *(base_name(table) for table in TABLES)}


def test_files_in_the_working_folder_cannot_be_read(out, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "secret.txt").write_text("secret")
    for query in ("SELECT * FROM read_text('.tmp/secret.txt')", "SELECT * FROM glob('.tmp/*')"):
        result = runner.invoke(app, ["sql", query, "--out", str(out)])
        assert result.exit_code == 2 and "Permission Error" in result.output, result.output


def test_a_query_that_needs_more_memory_spills_privately(out, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    query = "SELECT count(DISTINCT s) FROM (SELECT repeat('x', 80) || range::VARCHAR AS s FROM range(3000000))"
    result = runner.invoke(
        app, ["sql", query, "--out", str(out), "--format", "csv"], env={"KHABAR_SQL_MEMORY_LIMIT": "100MB"}
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == "3000000"
    assert not (tmp_path / ".tmp").exists()


def khabar(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """khabar as a terminal's foreground job: Ctrl-C at its default even where this test process was
    started in the background (a shell's `&` ignores SIGINT, and children inherit that)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KHABAR_")}
    return subprocess.Popen(
        [KHABAR, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, **(env or {})},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


# Runs a command and prints the peak RSS (KiB) of it and its children on stderr's last line: a fresh
# parent, so no earlier child of the test process counts.
PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def test_a_large_result_streams_in_bounded_memory(out):
    """3 million rows as CSV: the process stays far below what holding them would take (1.5 GB before)."""
    query = "SELECT range AS n, 'مرحبا ' || range AS s FROM range(3000000)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KHABAR_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", PEAK_RSS, KHABAR, "sql", query, "--out", str(out), "--format", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines = sum(1 for _ in proc.stdout)
    peak_mb = int(proc.stderr.read().splitlines()[-1]) / 1024
    assert proc.wait(timeout=120) == 0 and lines == 3_000_001
    assert peak_mb < 500, f"peak RSS {peak_mb:.0f} MB"


def test_a_query_past_its_timeout_stops_with_one_sentence(out):
    started = time.monotonic()
    slow = "SELECT count(*) FROM range(1000000) a, range(1000000) b"
    result = runner.invoke(app, ["sql", slow, "--out", str(out), "--timeout", "1"])
    assert time.monotonic() - started < 15
    assert result.exit_code == 2
    assert result.output == "Error: query failed: the query ran longer than 1 s (see --timeout)\n"


def test_ctrl_c_stops_a_query_with_one_line_and_exit_130(out):
    proc = khabar("sql", "SELECT count(*) FROM range(1000000) a, range(1000000) b", "--out", str(out))
    time.sleep(4)  # past start-up, inside the query
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == "Error: interrupted\n"


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("SELECT '[/x]' AS v", "[/x]"),
        ("SELECT '[reuters] Cairo [x] 5' AS v", "[reuters] Cairo [x] 5"),
        ("SELECT '[link=https://example.com]click[/link]' AS v", "[link=https://example.com]click[/link]"),
        ('SELECT 1 AS "[bold]col[/bold]"', "[bold]col[/bold]"),
    ],
)
def test_values_and_names_are_shown_as_written_never_as_markup(out, query, shown):
    result = runner.invoke(app, ["sql", query, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert shown in result.output


def test_an_error_that_looks_like_markup_is_shown_as_written(out):
    result = runner.invoke(app, ["sql", 'SELECT * FROM "[/x]"', "--out", str(out)])
    assert result.exit_code == 2 and result.output.startswith("Error: query failed:")
    assert "MarkupError" not in result.output and "Traceback" not in result.output


def test_ctrl_c_just_before_the_query_starts_still_stops_it(out):
    """A SIGINT that lands after the handler is set but before DuckDB runs the query found nothing to
    interrupt, and the query then ran to its end (a CI run hung on a cross product of 10^12 rows)."""
    from reports.query import QueryError, QueryInterrupted, QueryLimits

    python_handler = signal.signal(signal.SIGINT, lambda *_: None)  # only the watcher acts, as inside C code
    try:
        with ReadOnlyTables(out, QueryLimits(timeout_s=20)) as tables, tables.interruptible():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the watcher has seen it; no query runs yet
            started = time.monotonic()
            with pytest.raises(QueryError) as raised:
                list(tables.stream("SELECT count(*) FROM range(1000000) a, range(1000000) b").rows())
    finally:
        signal.signal(signal.SIGINT, python_handler)
    assert isinstance(raised.value, QueryInterrupted), raised.value
    assert time.monotonic() - started < 10


def test_a_query_duckdb_stops_on_a_ctrl_c_it_saw_first_is_interrupted_not_failed(out):
    """DuckDB checks Python's pending signals while it runs and stops the query itself, which can
    come before the watcher thread marks the Ctrl-C: that is still an interruption (exit 130), not
    "query failed: Query interrupted" (a CI run under load printed that)."""
    import threading

    from reports.query import QueryError, QueryInterrupted, QueryLimits

    with ReadOnlyTables(out, QueryLimits(timeout_s=20)) as tables:
        threading.Timer(0.5, tables.con.interrupt).start()  # no flag set, as when DuckDB acts first
        with pytest.raises(QueryError) as raised:
            list(tables.stream("SELECT count(*) FROM range(1000000) a, range(1000000) b").rows())
    assert isinstance(raised.value, QueryInterrupted), raised.value
