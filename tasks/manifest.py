"""The manifest: the one file that says which Parquet parts make up each table, and what khabar may delete.

Writers add parts to a table folder first (invisible), then commit a new manifest in one atomic
rename; readers list parts from the manifest only. So a crash leaves at most uncommitted parts,
and a reprocess swaps old rows for new ones in one step: readers see the old parts or the new
ones, never both and never neither.

Each part is recorded with its size and sha256 as written, so a part replaced behind khabar's
back is found. The manifest also says which files khabar itself left behind and may delete: the
parts it retired (replaced by a reprocess or by a newer files snapshot) and the uncommitted parts
of runs it recorded as started and not finished. Nothing else in the folder is ever deleted.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas import TABLES
from tasks.faults import failpoint

MANIFEST_NAME = "_manifest.json"
FORMAT = 2
LEGACY_FORMAT = 1  # no sizes, hashes or run bookkeeping; upgraded by the next writer


class OutputFolderError(RuntimeError):
    """The output folder is not one khabar can safely read or write; the message says why, in one sentence."""


class ManifestError(OutputFolderError):
    pass


@dataclass(frozen=True)
class Part:
    """One committed Parquet file of a table."""

    path: str  # relative to the output folder, POSIX separators: <table>/<name>.parquet
    size: int  # bytes; -1 when a format 1 manifest listed it
    sha256: str  # of the file's bytes as written; "" when a format 1 manifest listed it


def _empty_tables() -> dict[str, tuple[Part, ...]]:
    return {name: () for name in TABLES}


@dataclass(frozen=True)
class Manifest:
    version: int = 0
    tables: Mapping[str, tuple[Part, ...]] = field(default_factory=_empty_tables)
    open_runs: tuple[str, ...] = ()  # runs that began writing and have not finished: their stray parts are garbage
    retired: tuple[str, ...] = ()  # parts taken out of the tables, deleted by the next writer
    updated_at: str = ""
    format: int = FORMAT

    def parts(self, out_dir: str | Path, table: str) -> list[Path]:
        """The committed files of a table, in order."""
        return [Path(out_dir) / part.path for part in self.tables.get(table, ())]

    def paths(self, table: str) -> tuple[str, ...]:
        return tuple(part.path for part in self.tables.get(table, ()))

    def referenced(self) -> dict[str, Part]:
        """Every committed part, by relative path."""
        return {part.path: part for parts in self.tables.values() for part in parts}

    def changed(self, add: Mapping[str, Iterable[Part]] | None = None, remove: Iterable[str] = ()) -> Manifest:
        """A new manifest with parts added (table -> parts) and parts removed (relative paths), which it retires."""
        gone = set(remove)
        tables = {name: tuple(p for p in parts if p.path not in gone) for name, parts in self.tables.items()}
        for name, parts in (add or {}).items():
            merged = {p.path: p for p in (*tables.get(name, ()), *parts)}
            tables[name] = tuple(merged[path] for path in sorted(merged))
        retired = tuple(sorted({*self.retired, *(gone & set(self.referenced()))}))
        return replace(self, tables=tables, retired=retired)

    def started(self, run_id: str) -> Manifest:
        """The manifest a run writes under: its own id open, earlier leftovers already deleted by the caller."""
        return replace(self, open_runs=(run_id,), retired=(), format=FORMAT)

    def finished(self, run_id: str) -> Manifest:
        return replace(self, open_runs=tuple(r for r in self.open_runs if r != run_id))


def manifest_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / MANIFEST_NAME


def load_manifest(out_dir: str | Path) -> Manifest:
    """The current manifest, checked for shape; an empty one (version 0) when the folder has none yet."""
    path = manifest_path(out_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Manifest()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path} is unreadable ({exc}); restore it or rebuild the output folder") from None
    try:
        return _parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(
            f"{path} is not a valid khabar manifest ({exc}); restore it or rebuild the folder"
        ) from None


def _parse(raw: Any) -> Manifest:
    if not isinstance(raw, dict):
        raise TypeError("not a JSON object")
    if raw.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise ValueError(f"format {raw.get('format')!r}, this khabar reads format {FORMAT}")
    version = raw["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version {version!r} is not a positive integer")
    tables_raw = raw["tables"]
    if not isinstance(tables_raw, dict):
        raise TypeError("tables is not an object")
    missing = [name for name in TABLES if name not in tables_raw]
    if missing:
        raise ValueError(f"it lists no {', '.join(missing)} table")
    tables = {name: tuple(_part(name, entry, raw["format"]) for entry in _list(tables_raw[name])) for name in TABLES}
    if raw["format"] == LEGACY_FORMAT:
        return Manifest(version, tables, updated_at=str(raw.get("updated_at", "")), format=LEGACY_FORMAT)
    return Manifest(
        version,
        tables,
        open_runs=tuple(_str(r) for r in _list(raw["open_runs"])),
        retired=tuple(_str(r) for r in _list(raw["retired"])),
        updated_at=_str(raw["updated_at"]),
    )


def _part(table: str, entry: Any, format_: int) -> Part:
    if format_ == LEGACY_FORMAT:
        path, size, digest = _str(entry), -1, ""
    else:
        if not isinstance(entry, dict):
            raise TypeError(f"a {table} part is not an object")
        path, size, digest = _str(entry["path"]), entry["size"], _str(entry["sha256"])
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"size of {path} is {size!r}")
    if not path.startswith(f"{table}/") or "/" in path.removeprefix(f"{table}/") or not path.endswith(".parquet"):
        raise ValueError(f"{path!r} is not a part of the {table} table")
    return Part(path, size, digest)


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise TypeError(f"{value!r} is not a list")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def commit_manifest(out_dir: str | Path, manifest: Manifest) -> Manifest:
    """Make a manifest current: temporary file, fsync, rename over the old one, fsync the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    missing = [rel for rel in manifest.referenced() if not (out / rel).is_file()]
    if missing:
        raise ManifestError(f"refusing to commit a manifest that references missing files: {sorted(missing)[:3]}")
    committed = replace(manifest, version=manifest.version + 1, updated_at=datetime.now(UTC).isoformat())
    body = {
        "format": FORMAT,
        "version": committed.version,
        "updated_at": committed.updated_at,
        "open_runs": list(committed.open_runs),
        "retired": list(committed.retired),
        "tables": {
            name: [{"path": p.path, "size": p.size, "sha256": p.sha256} for p in parts]
            for name, parts in committed.tables.items()
        },
    }
    tmp = out / f".tmp-{uuid.uuid4().hex}-{MANIFEST_NAME}"
    try:
        with open(tmp, "w", encoding="utf-8") as sink:
            json.dump(body, sink, indent=1)
            sink.flush()
            os.fsync(sink.fileno())
        failpoint("manifest.before_rename")
        os.replace(tmp, manifest_path(out))
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return committed
