"""Parquet parts under the output folder: their names, atomic writes with explicit schemas, and reads.

A part is one Parquet file of one table, written by a shard or a run and invisible until
tasks.tables commits it to the table's Delta log.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import COMMITS, TABLES
from tasks.faults import failpoint

TMP_PREFIX = ".tmp-"
COMMITS_TABLE = "_commits"  # khabar's own table of committed steps (tasks.tables)
_COMPRESSION = "zstd"
# The names khabar gives its files (tasks.runlog.new_run_id, then an optional shard suffix), and the
# temporary names they have while written. Only files named so, of a run khabar recorded, are deleted.
RUN_ID = r"\d{8}T\d{12}Z-[0-9a-f]{6}"
_PART_NAME = re.compile(
    rf"(?:{re.escape(TMP_PREFIX)}[0-9a-f]{{32}}-)?(?P<run_id>{RUN_ID})(?:-kept|-compact)?(?:-\d{{5}})?\.parquet"
)


class OutputFolderError(RuntimeError):
    """The output folder is not one khabar can safely read or write; the message says why, in one sentence."""


@dataclass(frozen=True)
class Part:
    """One Parquet file of a table, as written."""

    path: str  # relative to the output folder, POSIX separators: <table>/<name>.parquet
    size: int  # bytes
    sha256: str  # of the file's bytes as written
    rows: int = 0

    @property
    def table(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.split("/", 1)[1]


def table_dir(out_dir: str | Path, table: str) -> Path:
    return Path(out_dir) / table


def part_path(out_dir: str | Path, table: str, part: str) -> Path:
    """Where one part (a shard's or a run's file) of a table lives."""
    return table_dir(out_dir, table) / f"{part}.parquet"


def relative(out_dir: str | Path, path: Path) -> str:
    """A part's path relative to the output folder: <table>/<name>.parquet."""
    return path.relative_to(out_dir).as_posix()


def run_of(file_name: str) -> str | None:
    """The run that wrote a file, if its name is one khabar gives its parts (temporary names included)."""
    match = _PART_NAME.fullmatch(file_name)
    return match["run_id"] if match else None


def to_arrow(columns: dict[str, list], schema: pa.Schema) -> pa.Table:
    """Column lists to a table of exactly this schema (never an inferred one)."""
    return pa.Table.from_arrays([arrow_array(columns[field.name], field.type) for field in schema], schema=schema)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def arrow_array(values: list, kind: pa.DataType) -> pa.Array:
    """One column. Strings, numbers, booleans and microsecond timestamps go through arro3 (deltalake's Arrow library):
    pyarrow imports pandas on its first conversion of a Python list (0.6 s, a fifth of a run with nothing
    new to read). Other types (dates, lists: only shards write them) through pyarrow."""
    from arro3.core import Array, DataType

    try:
        if (
            pa.types.is_string(kind)
            or pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_boolean(kind)
        ):
            return pa.array(Array(values, DataType.from_arrow(kind)))
        if pa.types.is_timestamp(kind) and kind.unit == "us":
            micros = [v if v is None or isinstance(v, int) else _micros(v) for v in values]
            return pa.array(Array(micros, DataType.int64())).view(kind)
    except (TypeError, ValueError, OverflowError, AttributeError):
        pass  # a value of the wrong type: pyarrow's conversion says what is wrong, as it always did
    return pa.array(values, type=kind)


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is read as UTC, as pyarrow reads it."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def write_part(out_dir: str | Path, table: str, name: str, data: pa.Table) -> Part:
    """Write one part of a table atomically (not yet committed) and return it with its size, sha256 and rows."""
    path = part_path(out_dir, table, name)
    size, digest = write_parquet(data, path)
    return Part(relative(out_dir, path), size, digest, data.num_rows)


def write_parquet(table: pa.Table, path: Path) -> tuple[int, str]:
    """Write atomically: temporary file, fsync, rename into place, fsync the folder. Returns (size, sha256)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, compression=_COMPRESSION)
    body = buffer.getvalue()
    tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        with open(tmp, "wb") as sink:
            sink.write(body)
            sink.flush()
            os.fsync(sink.fileno())
        failpoint("parquet.before_rename")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return body.size, hashlib.sha256(body).hexdigest()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def schema_of(table: str) -> pa.Schema:
    """The explicit schema of a table of schemas.TABLES, or of khabar's own _commits."""
    return COMMITS if table == COMMITS_TABLE else TABLES[table]


def empty_table(schema: pa.Schema) -> pa.Table:
    """A table of no rows with exactly `schema`. Not schema.empty_table(), which builds its columns from
    Python lists and so imports pandas: 0.6 s before the first run's shards could start."""
    return pa.Table.from_batches([], schema=schema)


def read_parts(paths: list[Path], table: str, columns: list[str] | None = None) -> pa.Table:
    """Read files of one table with its schema; an empty list gives an empty table of that schema."""
    schema = schema_of(table)
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    if not paths:
        return empty_table(schema)
    return pa.concat_tables(_read_part(p, schema) for p in paths)


def _read_part(path: Path, schema: pa.Schema) -> pa.Table:
    """One part as exactly `schema` (a column the part lacks is read as nulls).

    Through ParquetFile when the part has every column: pq.read_table goes through pyarrow.dataset,
    whose first use imports pandas, 0.6 s of every command that reads the tables.
    """
    with pq.ParquetFile(path) as part:
        if set(schema.names) <= set(part.schema_arrow.names):
            table = part.read(columns=schema.names)
            return table if table.schema.equals(schema, check_metadata=True) else table.cast(schema)
    return pq.read_table(path, schema=schema, columns=schema.names)


def check_folders(raw_dir: str | Path, out_dir: str | Path) -> None:
    """Refuse an output folder that is, or is inside, the raw folder: khabar would read its own output
    as articles, and its table folders would hold articles (which it must never delete)."""
    raw, out = Path(raw_dir).resolve(), Path(out_dir).resolve()
    if out == raw or out.is_relative_to(raw):
        raise OutputFolderError(
            f"the output folder {out_dir} is inside the raw folder {raw_dir}; choose an output folder outside it"
        )
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise OutputFolderError(f"the output folder {out_dir} is a file; name a folder")


def write_failure(out_dir: str | Path, exc: OSError) -> str:
    """The one sentence for a write that failed mid-run (disk full, folder gone read-only)."""
    return (
        f"could not write to the output folder {out_dir} ({_reason(exc)}); "
        "what was committed is kept, and the next run goes on from there"
    )


def _reason(exc: OSError) -> str:
    """The operating system's reason: Python's strerror, or the `(os error N)` deep in deltalake's message."""
    if exc.strerror:
        return exc.strerror
    codes = re.findall(r"\(os error (\d+)\)", str(exc))
    return os.strerror(int(codes[-1])) if codes else str(exc).strip().splitlines()[0]


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256) of a file's bytes."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
