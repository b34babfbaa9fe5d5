"""Validate the output folder: every committed part readable and of its table's schema, and the tables consistent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import DOCUMENT_TABLES, TABLES
from tasks.manifest import ManifestError, load_manifest
from tasks.storage import relative


@dataclass(frozen=True)
class Problem:
    table: str
    path: str  # the part, or the table when the problem spans parts
    message: str


def check_tables(out_dir: str | Path) -> tuple[list[Problem], dict[str, int]]:
    """(problems, rows per table). An empty problem list means the folder is sound."""
    out = Path(out_dir)
    try:
        manifest = load_manifest(out)
    except ManifestError as exc:
        return [Problem("-", str(out / "_manifest.json"), str(exc))], {}
    problems: list[Problem] = []
    tables: dict[str, pa.Table] = {}
    for name, schema in TABLES.items():
        parts = []
        for path in manifest.parts(out, name):
            try:
                table = pq.read_table(path)
            except FileNotFoundError:
                problems.append(Problem(name, str(path), "listed in the manifest but missing"))
                continue
            except (pa.ArrowException, OSError) as exc:
                problems.append(Problem(name, str(path), f"unreadable Parquet: {exc}"))
                continue
            if not table.schema.equals(schema, check_metadata=False):
                problems.append(
                    Problem(name, str(path), f"schema differs from {name}'s: {_schema_diff(table, schema)}")
                )
                continue
            try:
                table.validate(full=True)
            except pa.ArrowInvalid as exc:
                problems.append(Problem(name, str(path), f"invalid data: {exc}"))
                continue
            nulls = [f.name for f in schema if not f.nullable and table.column(f.name).null_count]
            if nulls:
                problems.append(Problem(name, str(path), f"nulls in required columns: {', '.join(nulls)}"))
            parts.append(table)
        tables[name] = pa.concat_tables(parts) if parts else schema.empty_table()
    problems += _consistency(tables)
    return problems, {name: t.num_rows for name, t in tables.items()}


def unreferenced_files(out_dir: str | Path) -> list[str]:
    """Files in table folders that the manifest does not list: the next writer deletes them."""
    out = Path(out_dir)
    keep = load_manifest(out).referenced()
    return sorted(
        relative(out, p)
        for name in TABLES
        if (out / name).is_dir()
        for p in (out / name).iterdir()
        if p.is_file() and relative(out, p) not in keep
    )


def _consistency(t: dict[str, pa.Table]) -> list[Problem]:
    problems = []
    docs = t["documents"]
    doc_ids = docs.column("doc_id").to_pylist()
    repeated = [d for d, n in Counter(doc_ids).items() if n > 1]
    if repeated:
        problems.append(Problem("documents", "documents", f"{len(repeated)} doc_ids appear twice, e.g. {repeated[0]}"))
    known = set(doc_ids)
    for name in (*DOCUMENT_TABLES[:-1], "files"):
        ids = {d for d in t[name].column("doc_id").to_pylist() if d is not None}
        orphans = ids - known
        if orphans:
            problems.append(
                Problem(name, name, f"{len(orphans)} doc_ids without a document, e.g. {sorted(orphans)[0]}")
            )
    lengths = dict(zip(doc_ids, docs.column("n_chars").to_pylist(), strict=True))
    for name, child in (("sentences", "n_sentences"), ("tokens", "n_tokens"), ("entities", "n_entities")):
        counts = Counter(t[name].column("doc_id").to_pylist())
        wrong = [d for d, n in zip(doc_ids, docs.column(child).to_pylist(), strict=True) if counts.get(d, 0) != n]
        if wrong:
            problems.append(Problem(name, name, f"{len(wrong)} documents whose {child} differs from their rows"))
        ends = zip(t[name].column("doc_id").to_pylist(), t[name].column("char_end").to_pylist(), strict=True)
        beyond = sum(end > lengths.get(d, end) for d, end in ends)
        if beyond:
            problems.append(Problem(name, name, f"{beyond} rows end beyond their document's text"))
    for name, key in (("runs", "run_id"), ("files", "path")):
        repeated = [k for k, n in Counter(t[name].column(key).to_pylist()).items() if n > 1]
        if repeated:
            problems.append(Problem(name, name, f"{len(repeated)} {key}s appear twice, e.g. {repeated[0]}"))
    return problems


def _schema_diff(table: pa.Table, schema: pa.Schema) -> str:
    have = {f.name: f.type for f in table.schema}
    want = {f.name: f.type for f in schema}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    retyped = sorted(n for n in set(have) & set(want) if have[n] != want[n])
    return (
        "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra else "",
                f"other type for {', '.join(retyped)}" if retyped else "",
            )
            if part
        )
        or "field order or nullability"
    )
