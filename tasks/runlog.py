"""Run bookkeeping in the output folder: the state a run starts from, the files snapshot, the run record."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path

import pyarrow as pa

from schemas import FILES, QUARANTINE, RUNS
from tasks.inventory import FileRecord, RawChanges
from tasks.quarantine import CONTENT_REASONS
from tasks.storage import Part, to_arrow, write_part
from tasks.tables import Snapshot, load_for_reading, read_table


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
        return {
            r.content_hash: r
            for r in self.files.values()
            if r.status == "quarantined" and r.content_hash and r.reason in CONTENT_REASONS
        }


# The last state read, by the committed files it was read from: a run that looked at the folder
# before taking the lock (raw_status) reads it once, not twice, when no commit came between.
_last_state: tuple[tuple[object, ...], State] | None = None


def load_state(out_dir: str | Path, snapshot: Snapshot) -> State:
    """The state the snapshot's files and documents tables hold (not to be modified by the caller)."""
    global _last_state
    key = (str(Path(out_dir).resolve()), snapshot.actions("files"), snapshot.actions("documents"))
    if _last_state is not None and _last_state[0] == key:
        return _last_state[1]
    state = _read_state(out_dir, snapshot)
    _last_state = (key, state)  # khabar's part names are unique per run: the same names, the same rows
    return state


def _read_state(out_dir: str | Path, snapshot: Snapshot) -> State:
    files_table = read_table(out_dir, "files", snapshot=snapshot)
    mtimes = files_table.column("mtime").cast(pa.int64()).to_pylist()
    files = {}
    for row, mtime_us in zip(files_table.drop_columns("mtime").to_pylist(), mtimes, strict=True):
        files[row["path"]] = FileRecord(**row, mtime_us=mtime_us)
    docs = read_table(out_dir, "documents", columns=["doc_id", "path"], snapshot=snapshot)
    return State(files, dict(zip(docs["doc_id"].to_pylist(), docs["path"].to_pylist(), strict=True)))


def fingerprint_counts(out_dir: str | Path) -> dict[str, int]:
    """How many current documents (reports/views.py) each pipeline fingerprint made."""
    snapshot = load_for_reading(out_dir)
    current = set(read_table(out_dir, "files", ["doc_id"], snapshot=snapshot).column(0).to_pylist())
    docs = read_table(out_dir, "documents", ["doc_id", "fingerprint"], snapshot=snapshot)
    counts: dict[str, int] = {}
    for doc_id, fingerprint in zip(docs["doc_id"].to_pylist(), docs["fingerprint"].to_pylist(), strict=True):
        if doc_id in current:
            counts[fingerprint] = counts.get(fingerprint, 0) + 1
    return counts


def raw_status(raw_dir: str | Path, out_dir: str | Path) -> RawChanges:
    """The raw folder against the last run's files table (all new before the first run); reads no file.

    Looked at without the lock: a run with nothing to read needs no workers and no Prefect server."""
    from tasks.inventory import raw_changes, scan_raw

    if not Path(out_dir).is_dir():
        return raw_changes(scan_raw(raw_dir), {})
    snapshot = load_for_reading(out_dir)
    return raw_changes(scan_raw(raw_dir), load_state(out_dir, snapshot).files, snapshot.actions("files"))


def write_files_table(out_dir: str | Path, run_id: str, records: list[FileRecord]) -> Part:
    """The files table as of this run, as one part."""
    fields = {name: name for name in FILES.names} | {"mtime": "mtime_us"}  # microseconds for timestamp[us]
    cols = {name: list(map(attrgetter(attribute), records)) for name, attribute in fields.items()}
    return write_part(out_dir, "files", run_id, to_arrow(cols, FILES))


def write_quarantine(out_dir: str | Path, run_id: str, records: list[FileRecord]) -> Part:
    """This run's quarantined files as one part (possibly empty)."""
    now = datetime.now(UTC)
    cols: dict[str, list] = {
        "run_id": [run_id] * len(records),
        "path": [r.path for r in records],
        "size_bytes": [r.size_bytes for r in records],
        "content_hash": [r.content_hash or None for r in records],
        "reason": [r.reason or "unknown" for r in records],
        "detail": [r.detail or "" for r in records],
        "quarantined_at": [now] * len(records),
    }
    return write_part(out_dir, "quarantine", run_id, to_arrow(cols, QUARANTINE))


def write_run_record(out_dir: str | Path, record: dict) -> Part:
    """The run's row as one part."""
    return write_part(out_dir, "runs", record["run_id"], to_arrow({name: [record[name]] for name in RUNS.names}, RUNS))
