"""The manifest: the one file that says which Parquet parts make up each table right now.

Writers add parts to a table folder first (invisible), then commit a new manifest in one atomic
rename; readers list parts from the manifest only. So a crash leaves at most unreferenced files
(collected by the next writer), and a reprocess swaps old rows for new ones in one step: readers
see the old parts or the new ones, never both and never neither.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from schemas import TABLES
from tasks.faults import failpoint

MANIFEST_NAME = "_manifest.json"
FORMAT = 1


class ManifestError(RuntimeError):
    pass


@dataclass(frozen=True)
class Manifest:
    version: int = 0
    tables: dict[str, tuple[str, ...]] = field(default_factory=lambda: {name: () for name in TABLES})
    updated_at: str = ""

    def parts(self, out_dir: str | Path, table: str) -> list[Path]:
        """The committed files of a table, in order."""
        return [Path(out_dir) / rel for rel in self.tables.get(table, ())]

    def changed(self, add: Mapping[str, Iterable[str]] | None = None, remove: Iterable[str] = ()) -> Manifest:
        """A new manifest with parts added (table -> relative paths) and parts removed (relative paths)."""
        gone = set(remove)
        tables = {name: tuple(p for p in parts if p not in gone) for name, parts in self.tables.items()}
        for name, parts in (add or {}).items():
            tables[name] = tuple(sorted({*tables.get(name, ()), *parts}))
        return replace(self, tables=tables)

    def referenced(self) -> set[str]:
        return {p for parts in self.tables.values() for p in parts}


def manifest_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / MANIFEST_NAME


def load_manifest(out_dir: str | Path) -> Manifest:
    """The current manifest; an empty one when the folder has none yet."""
    path = manifest_path(out_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _refuse_unmanaged_outputs(Path(out_dir))
        return Manifest()
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path} is unreadable ({exc}); restore it or rebuild the output folder") from None
    if raw.get("format") != FORMAT:
        raise ManifestError(f"{path} has format {raw.get('format')}, this khabar reads format {FORMAT}")
    tables = {name: tuple(raw["tables"].get(name, ())) for name in TABLES}
    return Manifest(int(raw["version"]), tables, raw.get("updated_at", ""))


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
        "tables": {name: list(parts) for name, parts in committed.tables.items()},
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


def open_for_writing(out_dir: str | Path) -> Manifest:
    """The manifest a writer starts from; a new folder gets an empty one committed before any part,
    so parts without a manifest can only come from elsewhere (an older khabar, a lost manifest)."""
    manifest = load_manifest(out_dir)
    return manifest if manifest.version else commit_manifest(out_dir, manifest)


def _refuse_unmanaged_outputs(out: Path) -> None:
    """Parquet parts without a manifest come from a khabar before manifests: say so instead of guessing."""
    if any((out / name).is_dir() and any((out / name).glob("*.parquet")) for name in TABLES):
        raise ManifestError(
            f"{out} holds tables written by an older khabar (no {MANIFEST_NAME}); move it away and run again"
        )
