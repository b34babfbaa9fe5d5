"""Parquet parts under the output folder: atomic writes with explicit schemas, reads of committed parts,
and the audit that tells khabar's files from everything else before anything is read, written or deleted."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import TABLES
from tasks.faults import failpoint
from tasks.lock import LOCK_NAME
from tasks.manifest import (
    LEGACY_FORMAT,
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    OutputFolderError,
    Part,
    commit_manifest,
    load_manifest,
)

TMP_PREFIX = ".tmp-"
_COMPRESSION = "zstd"
# The names khabar gives its files (tasks.runlog.new_run_id, then an optional shard suffix), and the
# temporary names they have while written. Only files named so, of a run khabar recorded, are deleted.
RUN_ID = r"\d{8}T\d{12}Z-[0-9a-f]{6}"
_PART_NAME = re.compile(
    rf"(?:{re.escape(TMP_PREFIX)}[0-9a-f]{{32}}-)?(?P<run_id>{RUN_ID})(?:-kept)?(?:-\d{{5}})?\.parquet"
)
_TMP_MANIFEST = re.compile(rf"{re.escape(TMP_PREFIX)}[0-9a-f]{{32}}-{re.escape(MANIFEST_NAME)}")


def table_dir(out_dir: str | Path, table: str) -> Path:
    return Path(out_dir) / table


def part_path(out_dir: str | Path, table: str, part: str) -> Path:
    """Where one part (a shard's or a run's file) of a table lives."""
    return table_dir(out_dir, table) / f"{part}.parquet"


def relative(out_dir: str | Path, path: Path) -> str:
    """A part's path as the manifest records it."""
    return path.relative_to(out_dir).as_posix()


def run_of(file_name: str) -> str | None:
    """The run that wrote a file, if its name is one khabar gives its parts (temporary names included)."""
    match = _PART_NAME.fullmatch(file_name)
    return match["run_id"] if match else None


def to_arrow(columns: dict[str, list], schema: pa.Schema) -> pa.Table:
    """Column lists to a table of exactly this schema (never an inferred one)."""
    return pa.Table.from_pydict({name: columns[name] for name in schema.names}, schema=schema)


def write_part(out_dir: str | Path, table: str, name: str, data: pa.Table) -> Part:
    """Write one part of a table atomically and return it as the manifest records it (size, sha256)."""
    path = part_path(out_dir, table, name)
    size, digest = write_parquet(data, path)
    return Part(relative(out_dir, path), size, digest)


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


def read_parts(paths: list[Path], table: str, columns: list[str] | None = None) -> pa.Table:
    """Read files of one table with its schema; an empty list gives an empty table of that schema."""
    schema = TABLES[table]
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    if not paths:
        return schema.empty_table()
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


def read_table(
    out_dir: str | Path, table: str, columns: list[str] | None = None, manifest: Manifest | None = None
) -> pa.Table:
    """A table's committed rows (the current manifest's, or the one given)."""
    return read_parts((manifest or load_for_reading(out_dir)).parts(out_dir, table), table, columns)


@dataclass
class FolderAudit:
    """Every file in the output folder's table folders, sorted out against the manifest."""

    garbage: list[Path] = field(default_factory=list)  # khabar's leftovers: retired, uncommitted, temporary
    foreign: list[Path] = field(default_factory=list)  # not written by khabar
    unlisted: list[Path] = field(default_factory=list)  # khabar's parts that the manifest does not account for
    missing: list[str] = field(default_factory=list)  # committed parts that are gone
    resized: list[str] = field(default_factory=list)  # committed parts whose size is not the one committed
    has_manifest: bool = True

    def problems(self, out_dir: str | Path, parts: bool = True) -> list[str]:
        """One sentence per kind of problem; empty when the folder is sound. parts=False leaves out
        committed parts that are missing or resized (for a caller that checks each part itself)."""
        out, found = Path(out_dir), []
        if self.foreign:
            found.append(
                f"{out} holds files khabar did not write in its table folders ({_some(self.foreign)}); "
                "move them out or choose another output folder (khabar never deletes them)"
            )
        if self.unlisted and not self.has_manifest:
            found.append(
                f"{out} holds khabar tables ({_some(self.unlisted)}) but no {MANIFEST_NAME}: it was lost or written "
                "by a khabar before manifests; restore it or rebuild the folder, khabar will not guess"
            )
        elif self.unlisted:
            found.append(
                f"{out / MANIFEST_NAME} is older or emptier than the parts on disk (it does not list "
                f"{_some(self.unlisted)}); restore the newest manifest or rebuild the folder, khabar will not guess"
            )
        if self.missing and parts:
            found.append(f"committed parts are missing: {_some(self.missing)}; restore them or rebuild the folder")
        if self.resized and parts:
            found.append(
                f"committed parts were changed since khabar wrote them: {_some(self.resized)}; run `khabar check`"
            )
        return found


def _some(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:3])
    return shown + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def audit(out_dir: str | Path, manifest: Manifest) -> FolderAudit:
    """Sort every file of the table folders: committed, khabar's garbage, unlisted khabar parts, or foreign.

    A khabar-named part is garbage only when the manifest says so: it was retired, or its run is
    still open (started, never finished: a crash). A part of any other run that the manifest does
    not list means the manifest lost it (an older or emptied manifest), and nothing is deleted.
    """
    out = Path(out_dir)
    found = FolderAudit()
    found.has_manifest = manifest.version > 0
    committed = manifest.referenced()
    retired, open_runs = set(manifest.retired), set(manifest.open_runs)
    # A format 1 manifest kept no run bookkeeping, and its writers deleted whatever it did not list;
    # only a runs part older than the newest listed one (run records are never replaced) is suspect.
    legacy = manifest.format == LEGACY_FORMAT
    newest_run = max((run_of(Path(p).name) or "" for p in manifest.paths("runs")), default="")
    for name in TABLES:
        folder = table_dir(out, name)
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            found.foreign.append(folder)
            continue
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            rel = relative(out, path)
            run_id = run_of(path.name)
            if path.is_symlink() or not path.is_file() or run_id is None:
                found.foreign.append(path)
            elif rel in committed:
                if committed[rel].size >= 0 and path.stat().st_size != committed[rel].size:
                    found.resized.append(rel)
            elif rel in retired or run_id in open_runs or (legacy and (name != "runs" or run_id > newest_run)):
                found.garbage.append(path)
            else:
                found.unlisted.append(path)
    found.missing = sorted(rel for rel in committed if not (out / rel).is_file())
    found.garbage += sorted(p for p in out.glob(f"{TMP_PREFIX}*") if _TMP_MANIFEST.fullmatch(p.name))
    return found


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
    problems = audit(out, load_manifest(out)).problems(out)
    if problems:
        raise OutputFolderError(problems[0])


def write_failure(out_dir: str | Path, exc: OSError) -> str:
    """The one sentence for a write that failed mid-run (disk full, folder gone read-only)."""
    return (
        f"could not write to the output folder {out_dir} ({exc.strerror or exc}); "
        "what was committed is kept, and the next run goes on from there"
    )


def load_for_reading(out_dir: str | Path) -> Manifest:
    """The current manifest, its committed parts checked to be there with the sizes they were committed with."""
    manifest = load_manifest(out_dir)
    if not manifest.version:
        _refuse_unmanaged(out_dir)
    out = Path(out_dir)
    for rel, part in manifest.referenced().items():
        try:
            size = (out / rel).stat().st_size
        except FileNotFoundError:
            raise ManifestError(f"committed part {out / rel} is missing; run `khabar check`") from None
        if part.size >= 0 and size != part.size:
            raise ManifestError(f"committed part {out / rel} was changed since khabar wrote it; run `khabar check`")
    return manifest


def _refuse_unmanaged(out_dir: str | Path) -> None:
    """Table files without a manifest: a lost manifest, or someone else's folder. Say so instead of guessing."""
    problems = audit(out_dir, Manifest()).problems(out_dir)
    if problems:
        raise OutputFolderError(problems[0])


def open_for_writing(out_dir: str | Path, run_id: str) -> Manifest:
    """Start writing as run_id: check the folder, delete khabar's own leftovers, commit the run as open.

    Called under the folder's lock. Refuses (OutputFolderError) a folder with foreign files, a
    manifest that does not account for khabar's parts on disk, and missing or changed parts. A
    reader that listed parts from the previous manifest has had until now to finish with them.
    """
    out = Path(out_dir)
    manifest = load_manifest(out)
    found = audit(out, manifest)
    problems = found.problems(out)
    if problems:
        raise OutputFolderError(problems[0])
    for path in found.garbage:
        path.unlink(missing_ok=True)
    if manifest.format == LEGACY_FORMAT:
        manifest = _upgraded(out, manifest)
    return commit_manifest(out, manifest.started(run_id))


def finish_writing(out_dir: str | Path, manifest: Manifest, run_id: str) -> Manifest:
    """The run's last commit: its uncommitted parts deleted, then the manifest committed with the run closed."""
    remove_strays(out_dir, manifest, run_id)
    return commit_manifest(out_dir, manifest.finished(run_id))


def remove_strays(out_dir: str | Path, manifest: Manifest, run_id: str) -> list[Path]:
    """Delete this run's parts that no commit took (a shard that failed after writing some tables),
    before the run closes itself in the manifest: a finished run leaves nothing behind."""
    out, committed, removed = Path(out_dir), manifest.referenced(), []
    for name in TABLES:
        folder = table_dir(out, name)
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            if run_of(path.name) == run_id and relative(out, path) not in committed and path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def _upgraded(out: Path, legacy: Manifest) -> Manifest:
    """A format 1 manifest with each committed part's size and hash as found now (trusted on first use)."""
    tables = {
        name: tuple(Part(p.path, *file_digest(out / p.path)) for p in parts) for name, parts in legacy.tables.items()
    }
    return Manifest(legacy.version, tables, updated_at=legacy.updated_at)


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256) of a file's bytes."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
