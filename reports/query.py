"""Read-only DuckDB over the output folder: one view per table, only SELECT statements."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from schemas import TABLES
from tasks.manifest import load_manifest

_ALLOWED_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


class QueryError(ValueError):
    pass


def table_files(out_dir: str | Path) -> dict[str, list[Path]]:
    """The committed files behind each view, as the manifest lists them."""
    manifest = load_manifest(out_dir)
    return {name: manifest.parts(out_dir, name) for name in TABLES}


def connect(out_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per table; it can read those files and nothing else."""
    con = duckdb.connect(":memory:")
    parts = table_files(out_dir)
    for name, paths in parts.items():
        if paths:
            listing = ", ".join(_quote(str(p.resolve())) for p in paths)
            try:  # DuckDB reads the footers here: a damaged part fails now, with its path
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{listing}])")
            except duckdb.Error as exc:
                raise QueryError(_first_line(exc)) from None
        else:
            con.register(f"_{name}_empty", TABLES[name].empty_table())
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM _{name}_empty")
    allowed = ", ".join(_quote(str(p.resolve())) for paths in parts.values() for p in paths)
    con.execute(f"SET allowed_paths = [{allowed}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement (SELECT, WITH ... SELECT, DESCRIBE, SHOW, EXPLAIN); return columns and rows."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from None
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    if statements[0].type not in _ALLOWED_STATEMENTS:
        raise QueryError(f"only read-only queries are allowed here, not {statements[0].type.name}")
    try:
        relation = con.execute(sql)
        columns = [d[0] for d in relation.description or []]
        return columns, relation.fetchall()
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def top_entities(out_dir: str | Path, entity_parts: Sequence[str], limit: int = 10) -> list[dict[str, Any]]:
    """The most mentioned entities in some entity parts (a run's), for the run's table artifact."""
    if not entity_parts:
        return []
    con = duckdb.connect(":memory:")
    listing = ", ".join(_quote(str(Path(out_dir) / p)) for p in entity_parts)
    rows = con.execute(
        f"""
        select type, canonical_key, count(*) as mentions, count(distinct doc_id) as documents
        from read_parquet([{listing}])
        group by all
        order by mentions desc, documents desc, type, canonical_key
        limit {int(limit)}
        """
    ).fetchall()
    return [dict(zip(("type", "canonical_key", "mentions", "documents"), r, strict=True)) for r in rows]


__all__: Sequence[str] = ["QueryError", "connect", "run_query", "table_files", "top_entities"]
