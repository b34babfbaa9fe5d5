"""Choosing documents to recompute, and rewriting the parts that held their old rows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pyarrow.compute as pc

from schemas import DOCUMENT_TABLES
from tasks.documents import content_hash, doc_id_for
from tasks.inventory import OnRead, fs_path
from tasks.storage import Part, read_parts, relative, write_part
from tasks.tables import Snapshot, read_table


@dataclass(frozen=True)
class Selection:
    """Which documents to recompute; the filters combine (all of them must hold)."""

    stale: bool = False
    everything: bool = False
    since: date | None = None
    source: str | None = None
    doc_ids: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.stale or self.everything or self.since or self.source or self.doc_ids)

    def describe(self) -> str:
        parts = ["documents"]  # --all: no qualifier ("would reprocess 12 documents")
        if self.stale:
            parts.append("with a stale fingerprint")
        if self.since:
            parts.append(f"published since {self.since}")
        if self.source:
            parts.append(f"from source {self.source}")
        if self.doc_ids:
            parts.append(f"with doc_id in {list(self.doc_ids)}")
        return " ".join(parts)


@dataclass(frozen=True)
class Candidate:
    doc_id: str
    path: str
    fingerprint: str
    content_hash: str = ""  # known once the file is read back


def select_documents(out_dir: str | Path, snapshot: Snapshot, selection: Selection, current: str) -> list[Candidate]:
    """The documents a selection names, by path; `current` is the fingerprint rows should carry."""
    docs = read_table(
        out_dir, "documents", ["doc_id", "path", "source", "published_date", "fingerprint"], snapshot=snapshot
    )
    chosen = []
    wanted = set(selection.doc_ids)
    for row in docs.to_pylist():
        if selection.stale and row["fingerprint"] == current:
            continue
        if selection.since and (row["published_date"] is None or row["published_date"] < selection.since):
            continue
        if selection.source and row["source"] != selection.source:
            continue
        if wanted and row["doc_id"] not in wanted:
            continue
        chosen.append(Candidate(row["doc_id"], row["path"], row["fingerprint"]))
    return sorted(chosen, key=lambda c: c.path)


def unknown_doc_ids(out_dir: str | Path, snapshot: Snapshot, doc_ids: tuple[str, ...]) -> list[str]:
    known = set(read_table(out_dir, "documents", ["doc_id"], snapshot=snapshot).column("doc_id").to_pylist())
    return [d for d in doc_ids if d not in known]


def readable_sources(
    raw_dir: str | Path, candidates: list[Candidate], on_read: OnRead | None = None
) -> tuple[list[Candidate], list[Candidate]]:
    """(documents whose file still holds their content, documents whose file is gone or changed)."""
    ready: list[Candidate] = []
    missing: list[Candidate] = []
    for c in candidates:
        try:
            data = (Path(raw_dir) / fs_path(c.path)).read_bytes()
        except OSError:
            missing.append(c)
            continue
        digest = content_hash(data)
        if doc_id_for(digest) == c.doc_id:
            ready.append(replace(c, content_hash=digest))
            if on_read is not None:
                on_read(c.path, digest, data)
        else:
            missing.append(c)
    return ready, missing


class PlanError(ValueError):
    """A reprocess that cannot be planned (a doc_id that is not there); one sentence."""


def plan(
    raw_dir: str | Path, out_dir: str | Path, selection: Selection, current: str
) -> tuple[list[Candidate], list[Candidate]]:
    """The selected documents whose raw file is still there unchanged, and those that cannot be recomputed.

    current: the pipeline's fingerprint now (for --stale). Reads the tables of an existing output
    folder, writes nothing.
    """
    from tasks.tables import load_for_reading

    snapshot = load_for_reading(out_dir)
    unknown = unknown_doc_ids(out_dir, snapshot, selection.doc_ids)
    if unknown:
        raise PlanError(f"no document with doc_id {', '.join(unknown)}")
    return readable_sources(raw_dir, select_documents(out_dir, snapshot, selection, current))


def parts_without(
    out_dir: str | Path, snapshot: Snapshot, dropped: set[str], run_id: str
) -> tuple[dict[str, list[Part]], list[str]]:
    """Parts to add and parts to remove so that the dropped documents' rows disappear from every document table.

    Every committed part holding a dropped document is rewritten without it (or dropped when nothing
    else is left in it); parts are looked at one table at a time, as compaction merges them per table.
    Nothing becomes visible until the caller commits these changes, with any new rows, as one step.
    """
    add: dict[str, list[Part]] = {name: [] for name in DOCUMENT_TABLES}
    remove: list[str] = []
    wanted = _string_array(dropped)
    for table in DOCUMENT_TABLES:
        rewritten = 0
        for path in snapshot.files(table):
            ids = read_parts([path], table, ["doc_id"]).column("doc_id")
            if not pc.any(pc.is_in(ids, value_set=wanted)).as_py():
                continue
            remove.append(relative(out_dir, path))
            rows = read_parts([path], table)
            kept = rows.filter(pc.invert(pc.is_in(rows.column("doc_id"), value_set=wanted)))
            if kept.num_rows:
                add[table].append(write_part(out_dir, table, f"{run_id}-kept-{rewritten:05d}", kept))
                rewritten += 1
    return add, remove


def _string_array(values: set[str]):
    import pyarrow as pa

    return pa.array(sorted(values), pa.string())
