"""Parquet files under the output folder: atomic writes with explicit schemas, and reads of committed files."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import DOCUMENT_TABLES, TABLES

TMP_PREFIX = ".tmp-"
_COMPRESSION = "zstd"


def table_dir(out_dir: str | Path, table: str) -> Path:
    return Path(out_dir) / table


def part_path(out_dir: str | Path, table: str, part: str) -> Path:
    """Where one part (a shard's or a run's file) of a table lives."""
    return table_dir(out_dir, table) / f"{part}.parquet"


def to_arrow(columns: dict[str, list], schema: pa.Schema) -> pa.Table:
    """Column lists to a table of exactly this schema (never an inferred one)."""
    return pa.Table.from_pydict({name: columns[name] for name in schema.names}, schema=schema)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write atomically: temporary file, fsync, rename into place, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        with open(tmp, "wb") as sink:
            pq.write_table(table, sink, compression=_COMPRESSION)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def committed_parts(out_dir: str | Path, table: str) -> list[Path]:
    """The table's committed Parquet files, sorted by name (temporary files are never listed)."""
    folder = table_dir(out_dir, table)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(TMP_PREFIX))


def read_parts(paths: list[Path], table: str, columns: list[str] | None = None) -> pa.Table:
    """Read files of one table with its schema; an empty list gives an empty table of that schema."""
    schema = TABLES[table]
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    if not paths:
        return schema.empty_table()
    return pa.concat_tables(pq.read_table(p, schema=schema, columns=columns) for p in paths)


def read_table(out_dir: str | Path, table: str, columns: list[str] | None = None) -> pa.Table:
    return read_parts(committed_parts(out_dir, table), table, columns)


def remove_leftovers(out_dir: str | Path) -> list[Path]:
    """Delete what an interrupted run left: temporary files, and shard parts whose documents part is missing.

    A shard writes its documents part last, so a shard without one never committed.
    """
    removed = []
    for table in TABLES:
        folder = table_dir(out_dir, table)
        if folder.is_dir():
            for tmp in folder.glob(f"{TMP_PREFIX}*"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    committed = {p.stem for p in committed_parts(out_dir, "documents")}
    for table in DOCUMENT_TABLES:
        for part in committed_parts(out_dir, table):
            if part.stem not in committed:
                part.unlink(missing_ok=True)
                removed.append(part)
    return removed
