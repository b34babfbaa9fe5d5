"""Keeping the tables healthy over years of nightly runs: compact small files, vacuum old ones, prune on purpose.

Each is a writer: it runs under the output folder's lock (tasks.lock) and commits at most one
step (tasks.tables), so readers through khabar see the tables before it or after it, never between.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from schemas import TABLES
from tasks.lock import output_lock
from tasks.runlog import load_state, new_run_id, write_files_table
from tasks.storage import COMMITS_TABLE, Part, read_parts, table_dir, write_part
from tasks.tables import ALL_TABLES, Snapshot, TableWriter

TARGET_FILE_BYTES = 64 << 20  # what compaction aims at: big enough for readers, small enough to hold in memory
SMALL_FILE_BYTES = TARGET_FILE_BYTES // 4  # files below this are merged
# _commits gains a one-row file per step, compaction's own included: merged once it holds this many
COMMITS_AT_LEAST = 50
COMPACT_WHEN_SMALL_FILES = 200  # the nightly flow compacts a table holding more small files than this


@dataclass
class CompactResult:
    merged: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (files before, files after)


def small_files(writer: TableWriter, table: str) -> list[tuple[str, int]]:
    """A table's committed files below SMALL_FILE_BYTES (_commits, which no snapshot pins, at its latest)."""
    snapshot = writer.snapshot
    if table == COMMITS_TABLE:
        snapshot = Snapshot(writer.out_dir, {table: writer.table(table).version()})
    return [(name, size) for name, size in snapshot.actions(table) if size < SMALL_FILE_BYTES]


def compact(out_dir: str | Path, run_id: str | None = None, lock_wait_s: float = 0.0) -> CompactResult:
    """Merge each table's small files into files of about TARGET_FILE_BYTES; rows and their order within
    a table's files are kept, and the whole change is one step (at most one Delta commit per table)."""
    run_id = run_id or new_run_id(datetime.now(UTC))
    with output_lock(out_dir, "compact", wait_s=lock_wait_s):
        writer = TableWriter.open(out_dir, run_id)
        result = compact_open(writer)
        writer.finish()
        return result


def compact_open(writer: TableWriter, at_least: int = 2) -> CompactResult:
    """Compaction by a writer that holds the lock: each table with at least `at_least` small files."""
    result = CompactResult()
    add: dict[str, list[Part]] = {}
    remove: list[str] = []
    for table in (*TABLES, COMMITS_TABLE):
        needed = max(COMMITS_AT_LEAST if table == COMMITS_TABLE else 2, at_least)
        if sum(1 for _ in table_dir(writer.out_dir, table).glob("*.parquet")) < needed:
            continue  # fewer files on disk than that: no need to read the log
        small = small_files(writer, table)
        if len(small) < needed:
            continue
        bins: list[list[str]] = [[]]
        filled = 0
        for name, size in small:
            if filled and filled + size > TARGET_FILE_BYTES:
                bins.append([])
                filled = 0
            bins[-1].append(name)
            filled += size
        folder = table_dir(writer.out_dir, table)
        add[table] = [
            write_part(
                writer.out_dir,
                table,
                f"{writer.run_id}-compact-{i:05d}",
                read_parts([folder / name for name in names], table),
            )
            for i, names in enumerate(bins)
        ]
        remove += [f"{table}/{name}" for name, _ in small]
        result.merged[table] = (len(small), len(bins))
    if add:
        writer.commit("compact", add=add, remove=remove)
    return result


@dataclass
class VacuumResult:
    deleted: dict[str, list[str]] = field(default_factory=dict)  # table -> file names (would be) deleted


def vacuum(
    out_dir: str | Path, retain_days: float = 7, dry_run: bool = False, lock_wait_s: float = 0.0
) -> VacuumResult:
    """Delete the files that no version younger than `retain_days` needs (never one the current tables
    read); `khabar sql --as-of` a run older than that then says its files were vacuumed."""
    if retain_days < 0:
        raise ValueError("--retain-days must be 0 or more")
    result = VacuumResult()
    with output_lock(out_dir, "vacuum", wait_s=lock_wait_s):
        writer = TableWriter.open(out_dir, new_run_id(datetime.now(UTC)))
        for table in ALL_TABLES:
            deleted = writer.table(table).vacuum(
                retention_hours=int(retain_days * 24), dry_run=dry_run, enforce_retention_duration=False
            )
            if deleted:
                result.deleted[table] = sorted(deleted)
        if not dry_run:
            writer.pin("vacuum")  # vacuum adds its own entries to the Delta logs: pin the versions it left
    return result


@dataclass
class PruneResult:
    paths: list[str] = field(default_factory=list)  # missing files whose rows go
    doc_ids: list[str] = field(default_factory=list)  # documents that go with them


def prune_missing(out_dir: str | Path, dry_run: bool = False, lock_wait_s: float = 0.0) -> PruneResult:
    """Remove, on purpose, the files gone from the raw folder (status missing) and the documents that
    only they held, from every table, as one step."""
    from tasks.reprocess import parts_without

    with output_lock(out_dir, "prune", wait_s=lock_wait_s):
        run_id = new_run_id(datetime.now(UTC))
        writer = TableWriter.open(out_dir, run_id)
        files = load_state(out_dir, writer.snapshot).files
        gone = sorted(path for path, record in files.items() if record.status == "missing")
        still_held = {r.doc_id for r in files.values() if r.status != "missing" and r.doc_id}
        doc_ids = sorted({d for p in gone if (d := files[p].doc_id)} - still_held)
        result = PruneResult(gone, doc_ids)
        if dry_run or not gone:
            return result
        add, remove = parts_without(out_dir, writer.snapshot, set(doc_ids), run_id) if doc_ids else ({}, [])
        kept = [files[path] for path in sorted(files) if files[path].status != "missing"]
        add["files"] = [write_files_table(out_dir, run_id, kept)]
        writer.commit("prune", add=add, remove=[*remove, *writer.snapshot.paths("files")])
        writer.finish()
    return result


__all__ = [
    "CompactResult",
    "PruneResult",
    "VacuumResult",
    "compact",
    "prune_missing",
    "vacuum",
]
