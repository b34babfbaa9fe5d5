"""Read-only DuckDB over the output folder: one view per table over the committed parts, and nothing else.

Three layers, each enough on its own against every write path found so far:
1. Only a plain read runs: DuckDB parses the text, and it must be exactly one SELECT-like statement
   (SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE), or EXPLAIN of one; never EXPLAIN ANALYZE,
   which executes its statement.
2. DuckDB never touches the file system: each table is an Arrow dataset over the committed parts,
   registered in memory (Arrow reads the files, read-only), and DuckDB's external access is switched
   off and the configuration locked. COPY, EXPORT, ATTACH of a file, INSTALL, read_text or glob fail
   whatever statement carries them, and no SET can switch them back on.
3. DuckDB spills to a private temporary folder (mode 0700, removed afterwards) that queries cannot
   read; a memory limit, a timeout and results streamed in batches bound what one query may use.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from reports.scope import Scope, quoted
from reports.views import add_entity_names, base_name, view_statements
from schemas import TABLES
from tasks.storage import empty_table
from tasks.tables import Snapshot, load_for_reading

BATCH_ROWS = 10_000


class QueryError(ValueError):
    pass


class QueryInterrupted(QueryError):
    """The user pressed Ctrl-C (or sent SIGINT) while the query ran."""


@dataclass(frozen=True)
class QueryLimits:
    """What one query may use: DuckDB's memory (it spills beyond it), wall time, threads."""

    memory_limit: str = "2GB"
    timeout_s: float = 60.0
    threads: int | None = None  # DuckDB's default: one per core


class ReadOnlyTables:
    """An in-memory DuckDB with one view per table over the committed parts; it cannot read or write files."""

    def __init__(
        self,
        out_dir: str | Path,
        limits: QueryLimits | None = None,
        snapshot: Snapshot | None = None,
        scope: Scope | None = None,
    ):
        self.limits = limits or QueryLimits()
        scope = scope or Scope()
        snapshot = snapshot or load_for_reading(out_dir)
        self._spill = tempfile.mkdtemp(prefix="khabar-sql-")  # mode 0700: private to this user
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._spill, True)
        config: dict[str, Any] = {"temp_directory": self._spill, "memory_limit": self.limits.memory_limit}
        if self.limits.threads:
            config["threads"] = self.limits.threads
        self.con = duckdb.connect(":memory:", config=config)
        import pyarrow.dataset as ds  # here, not at the top: it imports pandas (0.4 s), which a run's artifacts skip

        for name, schema in TABLES.items():
            paths = [str(p) for p in snapshot.files(name)]
            self.con.register(
                base_name(name), ds.dataset(paths, schema=schema, format="parquet") if paths else empty_table(schema)
            )
        for statement in view_statements(scope):
            self.con.execute(statement)
        add_entity_names(self.con)
        self.con.execute(f"SET VARIABLE top = {int(scope.top)}")
        for setting in ("autoinstall_known_extensions", "autoload_known_extensions"):
            self.con.execute(f"SET {setting} = false")
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")
        self.interrupted_by_user = False

    def close(self) -> None:
        self.con.close()
        self._cleanup()

    def __enter__(self) -> ReadOnlyTables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stream(self, sql: str, batch_rows: int = BATCH_ROWS) -> Stream:
        """Start one read-only statement; its rows arrive in record batches, within the time limit."""
        check_read_only(self.con, sql)
        return Stream(self, sql, batch_rows)

    def interrupt(self) -> None:
        with contextlib.suppress(duckdb.ConnectionException):  # closed meanwhile: nothing left to stop
            self.con.interrupt()

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Let Ctrl-C stop a running query. DuckDB runs without returning to Python, so Python's own
        handler would only run once the query ends; a thread woken by the signal interrupts DuckDB."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        done = threading.Event()

        def watch() -> None:
            with contextlib.suppress(OSError):
                while data := reader.recv(16):
                    if signal.SIGINT in data:
                        self.interrupted_by_user = True
                        break
            # Interrupt until the block ends: a signal that lands before DuckDB has started the query
            # finds nothing to interrupt, and the query would then run to its end.
            while self.interrupted_by_user and not done.is_set():
                self.con.interrupt()
                done.wait(0.05)

        watcher = threading.Thread(target=watch, name="khabar-sql-sigint", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            signal.set_wakeup_fd(previous)
            writer.close()
            watcher.join(timeout=1)
            reader.close()


# How a failing or interrupted query surfaces: DuckDB's errors, "Query interrupted" as a RuntimeError
# when it starts, an OSError from Arrow's stream when it is interrupted while rows are read.
_QUERY_FAILURES = (duckdb.Error, RuntimeError, OSError, pa.ArrowException)


class Stream:
    """The rows of one running query, in record batches; the timeout covers the whole read."""

    def __init__(self, tables: ReadOnlyTables, sql: str, batch_rows: int) -> None:
        self._tables = tables
        self._timed_out = threading.Event()
        timeout = tables.limits.timeout_s
        self._timer = threading.Timer(timeout, self._time_out) if timeout > 0 else None
        if self._timer:
            self._timer.daemon = True
            self._timer.start()
        try:
            relation = tables.con.sql(sql)
            self.columns: list[str] = list(relation.columns) if relation is not None else []
            self._reader = relation.to_arrow_reader(batch_rows) if relation is not None else None
        except _QUERY_FAILURES as exc:
            self.close()
            raise self._error(exc) from None

    def _time_out(self) -> None:
        self._timed_out.set()
        self._tables.interrupt()

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self._reader is None:
            return
        try:
            yield from self._reader
        except _QUERY_FAILURES as exc:
            raise self._error(exc) from None
        finally:
            self.close()

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Rows as Python values (see python_values)."""
        for batch in self.batches():
            columns = [python_values(column) for column in batch.columns]
            yield from zip(*columns, strict=True)

    def close(self) -> None:
        if self._timer:
            self._timer.cancel()

    def _error(self, exc: Exception) -> QueryError:
        if self._tables.interrupted_by_user:
            return QueryInterrupted("interrupted")
        if self._timed_out.is_set():
            return QueryError(f"the query ran longer than {self._tables.limits.timeout_s:g} s (see --timeout)")
        if isinstance(exc, duckdb.InterruptException) or "interrupted" in str(exc).lower():
            # Not the time limit: a Ctrl-C that DuckDB saw among Python's pending signals before the
            # watcher thread did, and acted on itself.
            return QueryInterrupted("interrupted")
        return QueryError(_first_line(exc))


_QUERY_STATEMENTS = frozenset({duckdb.StatementType.SELECT})


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise QueryError unless sql is exactly one SELECT-like statement, or EXPLAIN (not ANALYZE) of one."""
    statements = _statements(con, sql)
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    statement = statements[0]
    if statement.type is duckdb.StatementType.EXPLAIN:
        explained = _after_explain(statement.query)
        inner = _statements(con, explained) if explained else []
        if len(inner) != 1 or inner[0].type not in _QUERY_STATEMENTS:
            raise QueryError("only EXPLAIN of a SELECT is allowed here (EXPLAIN ANALYZE runs its statement)")
    elif statement.type not in _QUERY_STATEMENTS:
        raise QueryError(f"only read-only queries are allowed here, not {statement.type.name}")


def _statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    try:
        return list(con.extract_statements(sql))
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from None


def _after_explain(text: str) -> str | None:
    """The statement EXPLAIN explains: the text after the EXPLAIN keyword (comments before it skipped)."""
    tokens = [t for t in duckdb.tokenize(text) if t[1] != duckdb.token_type.comment]
    if len(tokens) < 2 or text[tokens[0][0] : tokens[0][0] + 7].upper() != "EXPLAIN":
        return None
    return text[tokens[1][0] :]


def connect(out_dir: str | Path, limits: QueryLimits | None = None) -> ReadOnlyTables:
    """The read-only tables of an output folder (close it, or use it as a context manager)."""
    return ReadOnlyTables(out_dir, limits)


def run_query(tables: ReadOnlyTables, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement and return its columns and all its rows (for results known to be small)."""
    stream = tables.stream(sql)
    return stream.columns, list(stream.rows())


def python_values(column: pa.Array) -> list[Any]:
    """A column as Python values; DuckDB's HUGEINT (sum, count of big tables) arrives as a decimal of
    scale 0 and is given back as the int it is."""
    values = column.to_pylist()
    if pa.types.is_decimal(column.type) and column.type.scale == 0:
        return [None if v is None else int(v) for v in values]
    return values


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def top_entities(out_dir: str | Path, entity_parts: Sequence[str], limit: int = 10) -> list[dict[str, Any]]:
    """The most mentioned entities in some entity parts (a run's), with their display names, for the run's
    table artifact (entity_names over these parts only).

    DuckDB reads the parts itself, on one thread: mentions are counted per entity as they stream by, and
    only the entities that can make the top (mentioned as often as the limit-th at least, ties included)
    are read again for their documents and display names. Loading a run's mentions into memory first
    made this the peak of a large run (a 50,000-article run's 630,000 mentions: 200 MB more).
    """
    if not entity_parts:
        return []
    files = ", ".join(quoted(str(Path(out_dir) / p)) for p in entity_parts)
    with duckdb.connect(":memory:", config={"threads": 1}) as con:
        con.execute(
            f"CREATE VIEW run_entities AS SELECT type, canonical_key, surface, doc_id FROM read_parquet([{files}])"
        )
        con.execute(
            "CREATE TEMP TABLE candidates AS "
            "WITH counts AS (SELECT type, canonical_key, count(*) AS mentions FROM run_entities GROUP BY ALL) "
            "SELECT type, canonical_key FROM counts WHERE mentions >= "
            "(SELECT min(mentions) FROM (SELECT mentions FROM counts ORDER BY mentions DESC LIMIT ?))",
            [limit],
        )
        con.execute(
            "CREATE VIEW entities AS SELECT * FROM run_entities SEMI JOIN candidates USING (type, canonical_key)"
        )
        add_entity_names(con)
        relation = con.execute(
            "SELECT type, name, canonical_key, count(*) AS mentions, count(DISTINCT doc_id) AS documents"
            " FROM entities JOIN entity_names USING (type, canonical_key) GROUP BY ALL"
            " ORDER BY mentions DESC, documents DESC, type, canonical_key LIMIT ?",
            [limit],
        )
        names = [d[0] for d in relation.description]
        return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]


__all__: Sequence[str] = [
    "QueryError",
    "QueryInterrupted",
    "QueryLimits",
    "ReadOnlyTables",
    "Stream",
    "check_read_only",
    "connect",
    "run_query",
    "top_entities",
]
