"""Run bookkeeping in the output folder: the state a run starts from, the files snapshot, the run record."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from schemas import FILES, RUNS
from tasks.inventory import FileRecord
from tasks.storage import committed_parts, part_path, read_parts, read_table, to_arrow, write_parquet


def new_run_id(started_at: datetime) -> str:
    """Sortable run id: UTC start time to the microsecond, plus a random suffix."""
    return f"{started_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"


@dataclass
class State:
    """What earlier runs left: the files table and the documents already made."""

    files: dict[str, FileRecord]
    known_docs: dict[str, str]  # doc_id -> path

    @property
    def quarantined_hashes(self) -> dict[str, FileRecord]:
        return {r.content_hash: r for r in self.files.values() if r.status == "quarantined" and r.content_hash}


def latest_files_part(out_dir: str | Path) -> Path | None:
    """The files table is one snapshot per run; the newest (run ids sort by time) is current."""
    parts = committed_parts(out_dir, "files")
    return parts[-1] if parts else None


def load_state(out_dir: str | Path) -> State:
    latest = latest_files_part(out_dir)
    files_table = read_parts([latest] if latest else [], "files")
    mtimes = files_table.column("mtime").cast(pa.int64()).to_pylist()
    files = {}
    for row, mtime_us in zip(files_table.drop_columns("mtime").to_pylist(), mtimes, strict=True):
        files[row["path"]] = FileRecord(**row, mtime_us=mtime_us)
    docs = read_table(out_dir, "documents", columns=["doc_id", "path"])
    return State(files, dict(zip(docs["doc_id"].to_pylist(), docs["path"].to_pylist(), strict=True)))


def write_files_table(out_dir: str | Path, run_id: str, records: list[FileRecord]) -> Path:
    cols: dict[str, list] = {name: [] for name in FILES.names}
    for record in records:
        row = asdict(record)
        row["mtime"] = row.pop("mtime_us")  # integers are microseconds for a timestamp[us] column
        for name in FILES.names:
            cols[name].append(row[name])
    path = part_path(out_dir, "files", run_id)
    write_parquet(to_arrow(cols, FILES), path)
    return path


def write_run_record(out_dir: str | Path, record: dict) -> Path:
    """The run's row, written last: a run without it did not finish."""
    path = part_path(out_dir, "runs", record["run_id"])
    write_parquet(to_arrow({name: [record[name]] for name in RUNS.names}, RUNS), path)
    return path
