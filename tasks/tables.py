"""The output tables as Delta Lake tables, and the snapshots that pin the versions committed together.

Each table of schemas.TABLES is a Delta table in its own folder under the output folder, so any
reader that speaks Delta (polars, DuckDB, Spark, Trino) sees exactly the committed rows. Writers
first write Parquet parts into a table's folder (invisible: no log entry names them), then commit
them with one Delta transaction per table.

Delta commits one table at a time, and a step (a shard's rows, a run's bookkeeping, a reprocess)
touches several. After the tables of a step are committed, khabar appends a row to `_commits`,
itself a Delta table: the version of every table as of that step. Readers through khabar read the
tables at the versions of its last row (or of a run's last row, for --as-of), so never half a
step. A writer, under the folder's lock, starts by restoring any table that a crash left ahead of
the last snapshot, and by deleting the parts that no commit took (khabar-named, written by the
crashed run, in no version of the table). Files that earlier versions need stay until `vacuum`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from schemas import COMMITS, TABLES
from tasks.faults import failpoint
from tasks.lock import LOCK_NAME
from tasks.storage import (
    COMMITS_TABLE,
    TMP_PREFIX,
    OutputFolderError,
    Part,
    check_folders,
    read_parts,
    run_of,
    schema_of,
    table_dir,
    to_arrow,
    write_part,
)

LOG_DIR = "_delta_log"
ALL_TABLES = (COMMITS_TABLE, *TABLES)  # _commits first: it is created before the tables it pins
# History on purpose: Delta's logs are kept (--as-of reads old versions), data files until `khabar vacuum`.
_CONFIG = {"delta.logRetentionDuration": "interval 36500 days", "delta.enableExpiredLogCleanup": "false"}


class TableError(OutputFolderError):
    """A table's log or files are not what khabar committed; the message says what, in one sentence."""


def _delta():  # deltalake is imported when a table is first opened, not by every command
    import deltalake
    import deltalake.transaction

    return deltalake


@contextmanager
def _delta_log(folder: str | Path) -> Iterator[None]:
    """Turn deltalake's errors (a log truncated or edited by hand, a version that is gone) into one sentence."""
    from deltalake.exceptions import DeltaError

    try:
        yield
    except DeltaError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TableError(
            f"the Delta log of {folder} is unreadable ({first}); restore it from a backup or rebuild the folder"
        ) from None


@dataclass(frozen=True)
class Snapshot:
    """The versions of every table that belong together: what readers through khabar read."""

    out_dir: str
    versions: Mapping[str, int] = field(default_factory=dict)  # empty: nothing committed yet
    run_id: str = ""  # the run that committed it
    committed_at: datetime | None = None

    def files(self, table: str) -> list[Path]:
        """The table's committed Parquet files at this snapshot, in name order."""
        return [table_dir(self.out_dir, table) / name for name, _ in self.actions(table)]

    def paths(self, table: str) -> tuple[str, ...]:
        """The committed parts, relative to the output folder (<table>/<name>.parquet)."""
        return tuple(f"{table}/{name}" for name, _ in self.actions(table))

    def actions(self, table: str) -> tuple[tuple[str, int], ...]:
        """(file name, size) of each committed file, as the table's log records them."""
        if table not in self.versions:
            return ()
        return _committed_files(str(table_dir(self.out_dir, table)), self.versions[table], _log_stamp(self, table))


def _log_stamp(snapshot: Snapshot, table: str) -> tuple[int, int]:
    """What tells one table's log from another's at the same path (a folder rebuilt under a running process)."""
    first = table_dir(snapshot.out_dir, table) / LOG_DIR / f"{0:020d}.json"
    try:
        stat = first.stat()
    except OSError:  # deltalake says what is wrong with the log when it reads it
        return 0, 0
    return stat.st_ino, stat.st_mtime_ns


@cache
def _committed_files(folder: str, version: int, _stamp: tuple[int, int]) -> tuple[tuple[str, int], ...]:
    with _delta_log(folder):
        table = _delta().DeltaTable(folder, version=version)
        actions = pa.RecordBatchReader.from_stream(table.get_add_actions(flatten=True)).read_all()  # pa.table(): pandas
    pairs = zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(), strict=True)
    return tuple(sorted(pairs))


def _is_table(out: Path, name: str) -> bool:
    """Whether the table was created: its log holds its first commit (a creation cut short by a full disk
    or a kill leaves an empty log folder, and the next writer creates the table)."""
    return (table_dir(out, name) / LOG_DIR / f"{0:020d}.json").is_file()


def latest_snapshot(out_dir: str | Path) -> Snapshot:
    """The last committed step's versions; an empty snapshot when the folder holds no tables yet."""
    out = Path(out_dir)
    if not _is_table(out, COMMITS_TABLE):
        return Snapshot(str(out))
    with _delta_log(table_dir(out, COMMITS_TABLE)):
        commits = _delta().DeltaTable(str(table_dir(out, COMMITS_TABLE)))
        if commits.version() == 0:  # created, nothing committed: every table as created
            return Snapshot(str(out), {name: 0 for name in TABLES if _is_table(out, name)})
        last = _last_pin(commits)
    info = last.get("khabar") or {}
    try:
        versions = {name: int(info["versions"][name]) for name in TABLES}
        committed_at = datetime.fromtimestamp(last["timestamp"] / 1000, UTC)
        return Snapshot(str(out), versions, str(info["run_id"]), committed_at)
    except (KeyError, TypeError, ValueError):
        raise TableError(
            f"the last commit in {table_dir(out, COMMITS_TABLE)} was not made by khabar; restore the folder from a "
            "backup or rebuild it"
        ) from None


def _last_pin(commits: Any) -> dict:
    """The newest commit of _commits that pins versions (a compaction of _commits itself pins none)."""
    for limit in (4, None):
        for commit in commits.history(limit):
            if "versions" in (commit.get("khabar") or {}):
                return commit
    return commits.history(1)[0]


def snapshot_of_run(out_dir: str | Path, run_id: str) -> Snapshot:
    """The tables as the run committed them: the last step it committed (khabar sql --as-of)."""
    out = Path(out_dir)
    snapshot = latest_snapshot(out)
    if not snapshot.versions:
        raise TableError(f"{out} holds no committed run yet")
    commits = read_parts(snapshot_files_of_commits(out), COMMITS_TABLE)
    rows = [r for r in commits.to_pylist() if r["run_id"] == run_id]
    if not rows:
        raise TableError(f"no run {run_id} committed anything in {out}; `khabar runs` lists the runs")
    last = max(rows, key=lambda r: (r["committed_at"], *[r[f"{n}_version"] for n in TABLES]))
    found = Snapshot(str(out), {n: last[f"{n}_version"] for n in TABLES}, run_id, last["committed_at"])
    return _checked(found, f"the files of run {run_id}'s tables were vacuumed; it can no longer be read")


def snapshot_files_of_commits(out: Path) -> list[Path]:
    """_commits' own committed files (it is read at its latest version)."""
    with _delta_log(table_dir(out, COMMITS_TABLE)):
        version = _delta().DeltaTable(str(table_dir(out, COMMITS_TABLE))).version()
    snapshot = Snapshot(str(out), {COMMITS_TABLE: version})
    return snapshot.files(COMMITS_TABLE)


def load_for_reading(out_dir: str | Path, as_of: str | None = None) -> Snapshot:
    """The snapshot to read (the latest, or a run's), its files checked to be there with their committed sizes."""
    out = Path(out_dir)
    problems = audit(out).problems(out)
    if problems:
        raise TableError(problems[0])
    if as_of:
        return snapshot_of_run(out, as_of)
    return _checked(latest_snapshot(out), "")


def _checked(snapshot: Snapshot, vacuumed: str) -> Snapshot:
    for table in snapshot.versions:
        try:
            actions = snapshot.actions(table)
        except TableError:
            _refuse_older(snapshot, table)
            raise
        for name, size in actions:
            path = table_dir(snapshot.out_dir, table) / name
            try:
                found = path.stat().st_size
            except FileNotFoundError:
                raise TableError(vacuumed or f"committed part {path} is missing; run `khabar check`") from None
            if found != size:
                raise TableError(f"committed part {path} was changed since khabar wrote it; run `khabar check`")
    return snapshot


def _refuse_older(snapshot: Snapshot, table: str) -> None:
    """Say so when a table's log ends before the version khabar pinned (a log restored from an older backup)."""
    folder = table_dir(snapshot.out_dir, table)
    with _delta_log(folder):
        version = _delta().DeltaTable(str(folder)).version()
    if version < snapshot.versions[table]:
        raise TableError(
            f"the {table} table in {snapshot.out_dir} is at version {version}, older than the version "
            f"{snapshot.versions[table]} khabar committed; restore it or rebuild the folder"
        )


def read_table(
    out_dir: str | Path, table: str, columns: list[str] | None = None, snapshot: Snapshot | None = None
) -> pa.Table:
    """A table's committed rows (at the latest snapshot, or the one given)."""
    return read_parts((snapshot or load_for_reading(out_dir)).files(table), table, columns)


@dataclass
class FolderAudit:
    """What the table folders hold besides committed tables."""

    foreign: list[Path] = field(default_factory=list)  # not written by khabar: never touched
    unlogged: list[str] = field(default_factory=list)  # table folders with khabar parts but no Delta log
    temporary: list[Path] = field(default_factory=list)  # khabar's temporary files of an interrupted write
    tables_without_commits: bool = False  # tables, but no _commits to say which versions belong together

    def problems(self, out_dir: str | Path) -> list[str]:
        """One sentence per kind of problem; empty when the folder is sound."""
        out, found = Path(out_dir), []
        if self.foreign:
            found.append(
                f"{out} holds files khabar did not write in its table folders ({_some(self.foreign)}); "
                "move them out or choose another output folder (khabar never deletes them)"
            )
        if self.unlogged:
            found.append(
                f"{out} holds khabar parts without a Delta log ({_some(self.unlogged)}): the log was lost or the "
                "folder was written by a khabar before Delta tables; restore it or rebuild the folder, khabar will "
                "not guess"
            )
        if self.tables_without_commits:
            found.append(
                f"{out} holds tables but no {COMMITS_TABLE} table saying which versions belong together; "
                "restore it or rebuild the folder, khabar will not guess"
            )
        return found


def _some(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:3])
    return shown + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def audit(out_dir: str | Path) -> FolderAudit:
    """Sort what the table folders hold: Delta logs, khabar's parts and temporary files, or foreign files."""
    out = Path(out_dir)
    found = FolderAudit()
    for name in ALL_TABLES:
        folder = table_dir(out, name)
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            found.foreign.append(folder)
            continue
        if not folder.is_dir():
            continue
        has_log, has_parts = False, False
        for path in sorted(folder.iterdir()):
            if path.name == LOG_DIR and path.is_dir() and not path.is_symlink():
                has_log = True
            elif path.is_symlink() or not path.is_file() or run_of(path.name) is None:
                found.foreign.append(path)
            elif path.name.startswith(TMP_PREFIX):
                found.temporary.append(path)
            else:
                has_parts = True
        if has_parts and not has_log:
            found.unlogged.append(name)
    if not _is_table(out, COMMITS_TABLE) and any(_is_table(out, name) for name in TABLES):
        found.tables_without_commits = True
    return found


def check_before_writing(raw_dir: str | Path, out_dir: str | Path) -> None:
    """What a writer can check before it starts anything heavy; the flow checks again under the lock."""
    check_folders(raw_dir, out_dir)
    out = Path(out_dir)
    if not out.exists():  # the run creates it: its nearest existing folder must take new files
        parent = next(p for p in out.absolute().parents if p.exists())
        if not os.access(parent, os.W_OK):
            raise OutputFolderError(f"cannot create the output folder {out_dir}: {parent} is not writable")
        return
    try:
        with open(out / LOCK_NAME, "a"):  # the first file a writer writes
            pass
    except OSError as exc:
        raise OutputFolderError(f"cannot write to the output folder {out_dir}: {exc.strerror or exc}") from None
    load_for_reading(out)  # the folder's audit, every table's log and committed files


class TableWriter:
    """Commits a writer's parts, a step at a time, and leaves the folder as sound as it found it.

    Opened under the folder's lock (tasks.lock). Each commit makes one step visible to khabar's
    readers at once: the tables' Delta commits, then the step's row in _commits.
    """

    def __init__(self, out_dir: str | Path, run_id: str) -> None:
        self.out_dir = str(out_dir)
        self.run_id = run_id
        self._tables: dict[str, Any] = {}
        self._committed: dict[str, set[str]] = {}  # file names this writer committed, per table
        self._steps = 0
        self.snapshot = Snapshot(self.out_dir)

    @classmethod
    def open(cls, out_dir: str | Path, run_id: str) -> TableWriter:
        """Start writing as run_id: check the folder, create missing tables, undo a crash's half step,
        delete the parts no commit took. Refuses (OutputFolderError) foreign files and lost logs."""
        writer = cls(out_dir, run_id)
        out = Path(out_dir)
        found = audit(out)
        problems = found.problems(out)
        if problems:
            raise OutputFolderError(problems[0])
        for path in found.temporary:
            path.unlink(missing_ok=True)
        with _delta_log(out):
            writer._open_tables()
        return writer

    def _open_tables(self) -> None:
        out, deltalake = Path(self.out_dir), _delta()
        pinned = latest_snapshot(out)
        created = False
        for name in ALL_TABLES:
            folder = table_dir(out, name)
            if _is_table(out, name):
                self._tables[name] = deltalake.DeltaTable(str(folder))
            elif pinned.run_id:  # a step was committed with this table: it was there
                raise TableError(f"the {name} table in {out} is gone; restore it or rebuild the folder")
            else:
                self._tables[name] = deltalake.DeltaTable.create(
                    str(folder), schema=schema_of(name), mode="ignore", configuration=_CONFIG
                )
                created = True
        if created:  # no step committed yet: every table as created
            pinned = latest_snapshot(out)
        for name in TABLES:
            if self._tables[name].version() < pinned.versions[name]:
                _refuse_older(pinned, name)
        ahead = [name for name in TABLES if self._tables[name].version() > pinned.versions[name]]
        for name in ahead:  # a crash between a step's commits: back to the step before it
            self._tables[name].restore(pinned.versions[name])
            self._tables[name].update_incremental()
        self._sweep(lambda run_id: run_id >= pinned.run_id, pinned)
        self.snapshot = pinned if not ahead else self.pin("recover")
        if self._add_new_columns():
            self.snapshot = self.pin("upgrade")

    def _add_new_columns(self) -> bool:
        """Give a table written by an earlier khabar the columns its schema has gained since (always nullable:
        its earlier files read them as nulls), so that Delta readers see them; True when a table changed."""
        deltalake, changed = _delta(), False
        for name in TABLES:
            have = {f.name for f in self._tables[name].schema().fields}
            new = [f for f in schema_of(name) if f.name not in have]
            if not new:
                continue
            required = [f.name for f in new if not f.nullable]
            if required:
                raise TableError(
                    f"the {name} table in {self.out_dir} lacks the required columns {', '.join(required)}; "
                    "it was written by another khabar version: rebuild the folder"
                )
            self._tables[name].alter.add_columns(list(deltalake.Schema.from_arrow(pa.schema(new)).fields))
            changed = True
        return changed

    def commit(
        self, kind: str, add: Mapping[str, Iterable[Part]] | None = None, remove: Iterable[str] = ()
    ) -> Snapshot:
        """Commit parts added and removed (relative paths) as one step; returns the step's snapshot."""
        now_ms = int(time.time() * 1000)
        actions: dict[str, list] = {}
        digests: dict[str, dict[str, str]] = {}
        transaction = _delta().transaction
        for table, parts in (add or {}).items():
            for part in parts:
                actions.setdefault(table, []).append(self._add_action(part))
                digests.setdefault(table, {})[part.name] = part.sha256
        sizes: dict[str, dict[str, int]] = {}
        for rel in remove:
            table, name = rel.split("/", 1)
            if table not in sizes:  # read from the log only for a table that loses files
                sizes[table] = dict(self.snapshot.actions(table)) if table in self.snapshot.versions else {}
            actions.setdefault(table, []).append(
                transaction.RemoveAction(name, True, now_ms, sizes[table].get(name), None)
            )
        failpoint("commit.before_tables")
        for i, table in enumerate(name for name in (*TABLES, COMMITS_TABLE) if actions.get(name)):
            if i:
                failpoint("commit.between_tables")
            self._commit_table(table, actions[table], {"run_id": self.run_id, "sha256": digests.get(table, {})})
        failpoint("commit.before_snapshot")
        return self.pin(kind)

    def _add_action(self, part: Part) -> Any:
        """The Delta log's entry for a part this writer wrote."""
        mtime_ms = int((Path(self.out_dir) / part.path).stat().st_mtime * 1000)
        stats = json.dumps({"numRecords": part.rows})
        return _delta().transaction.AddAction(part.name, part.size, {}, mtime_ms, True, stats)

    def _commit_table(self, table: str, actions: list, khabar: dict) -> None:
        added = (a.path for a in actions if isinstance(a, _delta().transaction.AddAction))
        self._committed.setdefault(table, set()).update(added)
        delta = self._tables[table]
        delta.create_write_transaction(
            actions,
            mode="append",
            schema=schema_of(table),
            commit_properties=_delta().transaction.CommitProperties(custom_metadata={"khabar": khabar}),
        )
        delta.update_incremental()  # the next commit reads from here, not from where the writer opened

    def table(self, name: str) -> Any:
        """The writer's deltalake.DeltaTable of one table (for operations khabar leaves to deltalake)."""
        return self._tables[name]

    def pin(self, kind: str) -> Snapshot:
        """Append the step's row to _commits: the version every table is at now, which readers then read."""
        versions = {name: self._tables[name].version() for name in TABLES}
        now = datetime.now(UTC)
        row: dict[str, list] = {"run_id": [self.run_id], "kind": [kind], "committed_at": [now]}
        row |= {f"{name}_version": [versions[name]] for name in TABLES}
        part = write_part(self.out_dir, COMMITS_TABLE, f"{self.run_id}-{self._next_step():05d}", to_arrow(row, COMMITS))
        info = {"run_id": self.run_id, "kind": kind, "versions": versions, "sha256": {part.name: part.sha256}}
        self._commit_table(COMMITS_TABLE, [self._add_action(part)], info)
        self.snapshot = Snapshot(self.out_dir, versions, self.run_id, now)
        return self.snapshot

    def _next_step(self) -> int:
        taken = {p.name for p in table_dir(self.out_dir, COMMITS_TABLE).glob(f"{self.run_id}-*.parquet")}
        while f"{self.run_id}-{self._steps:05d}.parquet" in taken:
            self._steps += 1
        self._steps += 1
        return self._steps - 1

    def finish(self) -> None:
        """Delete this run's parts that no commit took (a shard that failed after writing some tables), and
        its temporary files (a worker killed while it wrote a part: Ctrl-C)."""
        for name in self._tables:
            for path in sorted(table_dir(self.out_dir, name).glob("*.parquet")):  # temporary names included
                if run_of(path.name) == self.run_id and path.name not in self._committed.get(name, ()):
                    path.unlink(missing_ok=True)

    def _sweep(self, ours: Any, pinned: Snapshot) -> None:
        """Delete khabar-named parts that are in no version of their table and were written by a run `ours`
        names. Delta's own accounting (a dry-run vacuum) is asked only about tables holding such a candidate."""
        for name, delta in self._tables.items():
            committed = {file_name for file_name, _ in pinned.actions(name)} if name in pinned.versions else set()
            candidates = [
                p.name
                for p in table_dir(self.out_dir, name).glob("*.parquet")
                if p.name not in committed and (run_id := run_of(p.name)) is not None and ours(run_id)
            ]
            if not candidates:
                continue
            unreferenced = set(
                delta.vacuum(retention_hours=0, dry_run=True, enforce_retention_duration=False, full=True)
            )
            unreferenced -= set(delta.vacuum(retention_hours=0, dry_run=True, enforce_retention_duration=False))
            for file_name in sorted(unreferenced & set(candidates)):
                (table_dir(self.out_dir, name) / file_name).unlink(missing_ok=True)


def committed_digests(out_dir: str | Path, table: str) -> dict[str, str]:
    """sha256 of each file as khabar wrote it, from the commits in the table's log."""
    with _delta_log(table_dir(out_dir, table)):
        history = _delta().DeltaTable(str(table_dir(out_dir, table))).history()
    digests: dict[str, str] = {}
    for commit in reversed(history):
        digests |= ((commit.get("khabar") or {}).get("sha256")) or {}
    return digests


__all__ = [
    "ALL_TABLES",
    "FolderAudit",
    "Snapshot",
    "TableError",
    "TableWriter",
    "audit",
    "check_before_writing",
    "committed_digests",
    "latest_snapshot",
    "load_for_reading",
    "read_table",
    "snapshot_of_run",
]
