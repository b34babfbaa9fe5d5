"""Parquet parts under the output folder: atomic writes with explicit schemas, reads of committed parts."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import TABLES
from tasks.faults import failpoint
from tasks.manifest import MANIFEST_NAME, Manifest, load_manifest

TMP_PREFIX = ".tmp-"
_COMPRESSION = "zstd"


def table_dir(out_dir: str | Path, table: str) -> Path:
    return Path(out_dir) / table


def part_path(out_dir: str | Path, table: str, part: str) -> Path:
    """Where one part (a shard's or a run's file) of a table lives."""
    return table_dir(out_dir, table) / f"{part}.parquet"


def relative(out_dir: str | Path, path: Path) -> str:
    """A part's path as the manifest records it."""
    return path.relative_to(out_dir).as_posix()


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
        failpoint("parquet.before_rename")
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


def committed_parts(out_dir: str | Path, table: str, manifest: Manifest | None = None) -> list[Path]:
    """The table's parts as the current manifest lists them (nothing uncommitted, nothing superseded)."""
    return (manifest or load_manifest(out_dir)).parts(out_dir, table)


def read_parts(paths: list[Path], table: str, columns: list[str] | None = None) -> pa.Table:
    """Read files of one table with its schema; an empty list gives an empty table of that schema."""
    schema = TABLES[table]
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    if not paths:
        return schema.empty_table()
    return pa.concat_tables(pq.read_table(p, schema=schema, columns=columns) for p in paths)


def read_table(
    out_dir: str | Path, table: str, columns: list[str] | None = None, manifest: Manifest | None = None
) -> pa.Table:
    return read_parts(committed_parts(out_dir, table, manifest), table, columns)


def collect_garbage(out_dir: str | Path, manifest: Manifest) -> list[Path]:
    """Delete what no manifest references: temporary files, parts of a crashed run, superseded parts.

    Called by a writer holding the folder's lock, before it writes; a reader that listed parts
    from the previous manifest has had until then to finish.
    """
    out = Path(out_dir)
    keep = manifest.referenced()
    removed = []
    for leftover in out.glob(f"{TMP_PREFIX}*"):
        if leftover.name.endswith(MANIFEST_NAME):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    for table in TABLES:
        folder = table_dir(out, table)
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and relative(out, path) not in keep:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
